"""Misbehaving plugins (tests/plugins/misbehave.c): closing in open,
sending after close, closing twice, broadcasting and closing from inside
wsd_foreach, bad codes and opcodes, touching the message after a send
failed the connection; plugins that fail init, have the wrong ABI, no
symbol, or unsafe permissions, at start and at SIGHUP.

After each misbehaviour the daemon must still serve another client, and
the plugin's close callback must have run exactly once per opened
connection (misbehave logs "misbehave open conn=N" and "misbehave close
conn=N"; "misbehave BUG:" when an API call answered what it must not).
"""

import asyncio
import collections
import os
import re
import shutil
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

MB_SO = os.path.join(W.TEST_PLUGIN_DIR, "misbehave.so")


def mb_route(path="/mb", **kw):
    return W.route(path, plugin="misbehave", **kw)


def start_mb(routes=None, limits=None, wrapper=None, **kw):
    conf = W.write_config(plugin_dir=W.TEST_PLUGIN_DIR,
                          routes=routes or [mb_route()], limits=limits, **kw)
    return W.start_daemon(conf, wrapper=wrapper)


def echo_ok(d, path="/mb"):
    """Another client is served: an echo round trip through misbehave."""
    W.echo_ok(d.port, path, "still serving")


def bugs(d):
    return [l for l in d.lines if "misbehave BUG" in l]


def check_stopped(d, expect_opens=None):
    """Stop wsd; no BUG lines; close ran exactly once per open; fini saw
    no connection left open."""
    assert d.stop() == 0, "wsd exited with an error\n%s" % d.tail()
    text = d.log_text()
    opens = collections.Counter(re.findall(r"misbehave open conn=(\d+)",
                                           text))
    closes = collections.Counter(re.findall(r"misbehave close conn=(\d+)",
                                            text))
    b = bugs(d)
    assert not b, "the API misbehaved:\n" + "\n".join(b)
    dup = {k: v for k, v in opens.items() if v != 1}
    assert not dup, "open ran more than once: %r" % dup
    missing = sorted(set(opens) - set(closes), key=int)
    extra = sorted(set(closes) - set(opens), key=int)
    twice = {k: v for k, v in closes.items() if v != 1}
    assert not missing, "close never ran for conns %s" % missing
    assert not extra, "close ran for conns never opened: %s" % extra
    assert not twice, "close ran more than once: %r" % twice
    finis = re.findall(r"misbehave fini open=(\d+)", text)
    assert finis and all(n == "0" for n in finis), \
        "fini lines: %r" % finis
    if expect_opens is not None:
        assert len(opens) == expect_opens, "%d opens, wanted %d" % (
            len(opens), expect_opens)
    return opens


def read_until_close(c, timeout=10):
    """(messages before the close, close frame)."""
    msgs = []
    while True:
        m = c.read_message(timeout)
        if isinstance(m, W.Frame):
            assert m.opcode == W.OP_CLOSE, m
            return msgs, m
        msgs.append(m)


def finish_close(c, f):
    """Answer the server's close frame f and wait for EOF."""
    c.send_close(f.code)
    rest = c.read_until_eof(5)
    assert rest == b"", rest


# ------------------------------------------------------------ open

def test_close_inside_open():
    d = start_mb()
    try:
        with W.raw_ws(d.port, "/mb?do=close") as c:
            msgs, f = read_until_close(c)
            assert msgs == [], msgs
            assert (f.code, f.reason) == (4000, b"closed in open"), f
            finish_close(c, f)
        # and the client closing first, right after a close in open
        with W.raw_ws(d.port, "/mb?do=close") as c:
            c.send_close(1000)
            frames = []
            try:
                while True:
                    frames.append(c.read_frame(5))
            except W.EOF:
                pass
            assert [f.opcode for f in frames] == [W.OP_CLOSE], frames
        echo_ok(d)
        check_stopped(d, expect_opens=3)
    finally:
        d.kill()


def test_close_twice_and_send_after_close():
    d = start_mb()
    try:
        with W.raw_ws(d.port, "/mb?do=close_twice") as c:
            msgs, f = read_until_close(c)
            assert (f.code, f.reason, msgs) == (1000, b"one", []), (f, msgs)
            finish_close(c, f)
        with W.raw_ws(d.port, "/mb") as c:
            c.send_text("before")
            assert c.read_message() == (W.OP_TEXT, b"before")
            c.send_text("!close")
            c.send_text("after the close command")   # not delivered
            msgs, f = read_until_close(c)
            assert (f.code, f.reason) == (4000, b"closed in message"), f
            assert msgs == [], msgs
            finish_close(c, f)
        assert d.find_log("misbehave BUG") is None, bugs(d)
        echo_ok(d)
        check_stopped(d, expect_opens=3)
    finally:
        d.kill()


def test_invalid_close_codes_and_sends_refused():
    d = start_mb()
    try:
        with W.raw_ws(d.port, "/mb?do=bad_close") as c:
            assert c.read_message() == (W.OP_TEXT, b"still open")
            c.send_text("echo after bad closes")
            assert c.read_message() == (W.OP_TEXT, b"echo after bad closes")
        with W.raw_ws(d.port, "/mb?do=bad_send") as c:
            # only the valid empty binary message got through
            assert c.read_message() == (W.OP_BINARY, b"")
            assert c.read_message() == (W.OP_TEXT, b"bad_send done")
            c.send_text("echo after bad sends")
            assert c.read_message() == (W.OP_TEXT, b"echo after bad sends")
        echo_ok(d)
        check_stopped(d, expect_opens=3)
    finally:
        d.kill()


def test_prefix_of_a_text_message_is_still_checked():
    """A text message is known to be UTF-8 when it came, so an echo of it
    is not checked again; the same buffer less its last byte (half of
    an e-acute) is, and is refused by send, broadcast and publish alike,
    while the whole message and a prefix that is UTF-8 go through."""
    d = start_mb()
    try:
        with W.raw_ws(d.port, "/mb") as c:
            c.send_text("!cut:caf\u00e9")
            assert c.read_message() == (W.OP_TEXT, b"cut:-1:0:-1")
            c.send_text("!cut:cafe!")
            # wsd_send's echo, then the broadcast's copy to this client
            assert c.read_message() == (W.OP_TEXT, b"!cut:cafe")
            assert c.read_message() == (W.OP_TEXT, b"!cut:cafe")
            assert c.read_message() == (W.OP_TEXT, b"cut:0:1:0")
            c.send_text("\u00e9t\u00e9")
            assert c.read_message() == (W.OP_TEXT,
                                        "\u00e9t\u00e9".encode())
        echo_ok(d)
        check_stopped(d)
    finally:
        d.kill()


def test_flood_in_open_closed_1008():
    """open queues 64 KiB messages until wsd refuses (send buffer limit):
    the client then gets what was queued and a 1008 close."""
    d = start_mb(limits={"max_send_buffer": 512 * 1024})
    try:
        with W.raw_ws(d.port, "/mb?do=flood") as c:
            msgs, f = read_until_close(c, timeout=20)
            assert f.code == 1008, f
            assert 1 <= len(msgs) <= 10, "%d messages" % len(msgs)
            assert all(m == (W.OP_BINARY, bytes(65536)) for m in msgs)
            finish_close(c, f)
        m = d.wait_log(r"misbehave flood sends=(\d+) last=(-?\d+)")
        assert m.group(2) == "-1", m.group(0)
        echo_ok(d)
        check_stopped(d, expect_opens=2)
    finally:
        d.kill()


def test_foreach_and_broadcast_inside_open():
    d = start_mb()
    try:
        a = W.raw_ws(d.port, "/mb")
        b = W.raw_ws(d.port, "/mb")
        try:
            with W.raw_ws(d.port, "/mb?do=foreach") as c:
                m = c.read_message()
                assert m[0] == W.OP_TEXT and m[1].startswith(b"joined "), m
                assert a.read_message() == m
                assert b.read_message() == m
            for x in (a, b):
                x.send_text("ok")
                assert x.read_message() == (W.OP_TEXT, b"ok")
        finally:
            a.close()
            b.close()
        echo_ok(d)
        check_stopped(d, expect_opens=4)
    finally:
        d.kill()


# ------------------------------------------------------------ handshake

def test_handshake_status_1_from_an_older_plugin():
    """1 is WSD_HANDSHAKE_PENDING since ABI 1.4; from a plugin built for
    1.3 it is still just a bad status, refused with 500 at once."""
    d = start_mb(routes=[W.route("/mb13", plugin="misbehave13")])
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request("/mb13?do=hs_status_1"))
            W.expect_http_error(c, 500)
        W.echo_ok(d.port, "/mb13", "still serving")
    finally:
        d.kill()


def test_handshake_hook_misuse():
    d = start_mb()
    try:
        mark = d.mark()
        with W.raw_ws(d.port, "/mb?do=hs_send&do=x") as c:
            c.send_text("after hs_send")
            assert c.read_message() == (W.OP_TEXT, b"after hs_send")
        d.wait_log("misbehave hs_send done", start=mark)
        statuses = {"hs_refuse": 403, "hs_status_404": 404,
                    "hs_status_599": 599, "hs_status_200": 500,
                    "hs_status_101": 500, "hs_status_399": 500,
                    "hs_status_600": 500, "hs_status_2": 500,
                    "hs_status_2147483647": 500}
        for what, want in statuses.items():
            with W.RawClient(d.port) as c:
                c.send(c.upgrade_request("/mb?do=" + what))
                try:
                    W.expect_http_error(c, want)
                except AssertionError as e:
                    raise AssertionError("do=%s: %s" % (what, e))
        echo_ok(d)
        # refused in handshake: open and close never ran for those
        check_stopped(d, expect_opens=2)
    finally:
        d.kill()


# ------------------------------------------------------------ foreach

def connect_many(d, n, path="/mb"):
    cs = []
    for _ in range(n):
        cs.append(W.raw_ws(d.port, path))
    # in route order, which is connection order: the ids the plugin sees
    return cs


def test_broadcast_and_close_inside_foreach():
    """In message: wsd_foreach over the route; the callback broadcasts to
    the route and closes the connection it visits.  The k-th client gets
    the broadcasts of visits 1..k, then its close (4001)."""
    n = 6
    d = start_mb()
    try:
        cs = connect_many(d, n)
        try:
            cs[2].send_text("!bcast_foreach")
            got = []
            for i, c in enumerate(cs):
                msgs, f = read_until_close(c)
                assert (f.code, f.reason) == (4001, b"closed in foreach"), \
                    (i, f)
                got.append([m[1] for m in msgs])
                finish_close(c, f)
        finally:
            for c in cs:
                c.close()
        ids = [int(g[-1].split()[1]) for g in got]
        assert ids == sorted(ids) and len(set(ids)) == n, got
        for k, g in enumerate(got):
            want = [b"bf %d" % i for i in ids[:k + 1]]
            assert g == want, "client %d got %r, wanted %r" % (k, g, want)
        d.wait_log(r"misbehave bcast_foreach visited=%d clients=0" % n)
        echo_ok(d)
        check_stopped(d, expect_opens=n + 1)
    finally:
        d.kill()


def test_close_every_other_inside_foreach():
    n = 7
    d = start_mb()
    try:
        cs = connect_many(d, n)
        try:
            cs[0].send_text("!every_other")
            assert cs[0].read_message() == (
                W.OP_TEXT, b"every_other visited=%d closed=%d" % (n, n // 2))
            for i, c in enumerate(cs):
                if i % 2 == 1:
                    msgs, f = read_until_close(c)
                    assert (f.code, f.reason, msgs) == (
                        4002, b"every other", []), (i, f, msgs)
                    finish_close(c, f)
                else:
                    c.send_text("alive %d" % i)
                    assert c.read_message() == (W.OP_TEXT,
                                                b"alive %d" % i), i
            # the survivors see each other: 4 clients left
            cs[2].send_text("!clients")
            assert cs[2].read_message() == (W.OP_TEXT,
                                            b"clients %d" % (n - n // 2))
            cs[4].send_text("!bcast:to the rest")
            assert cs[4].read_message() == (W.OP_TEXT, b"to the rest")
            assert cs[4].read_message() == (W.OP_TEXT,
                                            b"sent:%d" % (n - n // 2))
            for i in (0, 2, 6):
                assert cs[i].read_message() == (W.OP_TEXT, b"to the rest")
        finally:
            for c in cs:
                c.close()
        echo_ok(d)
        check_stopped(d, expect_opens=n + 1)
    finally:
        d.kill()


def test_close_all_inside_foreach_then_broadcast():
    n = 5
    d = start_mb()
    try:
        cs = connect_many(d, n)
        try:
            cs[n - 1].send_text("!close_all_bcast")
            for i, c in enumerate(cs):
                msgs, f = read_until_close(c)
                assert (f.code, msgs) == (4003, []), (i, f, msgs)
                finish_close(c, f)
        finally:
            for c in cs:
                c.close()
        d.wait_log(r"misbehave close_all_bcast sent=0")
        echo_ok(d)
        check_stopped(d, expect_opens=n + 1)
    finally:
        d.kill()


def test_foreach_while_clients_vanish():
    """Clients reset their connections while others ask for foreach
    closes and broadcasts: no crash, close once per connection."""
    d = start_mb()
    try:
        async def go():
            async def member(i):
                async with W.ws_connect(d.port, "/mb") as ws:
                    for j in range(5):
                        await W.echo(ws, "m%d-%d" % (i, j))
            await asyncio.gather(*(member(i) for i in range(10)))
        for rnd in range(3):
            cs = connect_many(d, 12)
            for c in cs[::3]:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.close()          # RST
            cs[1].send_text("!every_other")
            cs[2].send_text("!bcast:x" * 50)
            cs[4].send_text("!bcast_foreach")
            # once cs[4] is closed (by one or the other), its command has
            # been handled: the members below are not caught by it
            try:
                read_until_close(cs[4])
            except W.EOF:
                pass
            W.arun(go())
            for c in cs:
                c.close()
        time.sleep(0.3)
        echo_ok(d)
        check_stopped(d)
    finally:
        d.kill()


# ------------------------------------------------------------ message data

def _sanitized():
    try:
        with open(W.WSD, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def test_message_data_valid_after_send_fails_connection():
    """plugin.h: what wsd passes to a callback is valid until it returns.
    misbehave's 'D' message sends the data back until a send is DROPPED
    (the send buffer limit fails the connection), then reads the data
    again.  Under valgrind (or ASan) that read must be clean."""
    if _sanitized() or W.WRAPPER:
        wrapper = None          # ASan, or the wrapper given, checks it
    elif shutil.which("valgrind"):
        wrapper = ["valgrind", "-q", "--error-exitcode=99",
                   "--trace-children=no"]
    else:
        wrapper = None
        print("    no valgrind: only a crash would show")
    d = start_mb(routes=[mb_route(limits={"max_send_buffer": 64 * 1024})],
                 wrapper=wrapper)
    try:
        for size in (100, 3000):
            with W.raw_ws(d.port, "/mb") as c:
                # small enough to arrive in one read: wsd then hands the
                # plugin a pointer into its input buffer
                c.send_frame(W.OP_BINARY, b"D" + os.urandom(size))
                try:
                    msgs, f = read_until_close(c, timeout=30)
                except (W.EOF, AssertionError):
                    time.sleep(0.5)
                    if not d.alive():
                        raise AssertionError(
                            "wsd died (exit %s) on a %d-byte 'D' message:\n%s"
                            % (d.proc.returncode, size,
                               d.sanitizer_report() or d.tail(60)))
                    raise
                assert f.code == 1008, f
                finish_close(c, f)
        d.wait_log(r"misbehave dup sends=\d+ last=-1 checksum", timeout=10)
        echo_ok(d)
        vg = [l for l in d.lines if re.match(r"==\d+==", l)]
        first = [i for i, l in enumerate(vg) if re.match(r"==\d+== \S", l)]
        assert not first, "valgrind found %d errors; the first:\n%s" % (
            len(first), "\n".join(vg[first[0]:first[0] + 40]))
        check_stopped(d, expect_opens=3)
    finally:
        d.kill()


# ------------------------------------------------------------ loading

def start_fails(conf, timeout=10):
    """Start wsd; it must exit by itself (not listen).  (rc, stderr)"""
    d = W.Daemon(conf)
    try:
        rc = d.wait_exit(timeout)
    finally:
        d.kill()
    assert W.LISTEN_RE.search(d.log_text()) is None, \
        "it listened:\n%s" % d.tail()
    return rc, d.log_text()


def test_init_fails_at_start_names_plugin_and_route():
    conf = W.write_config(plugin_dir=W.TEST_PLUGIN_DIR, routes=[
        mb_route(), W.route("/bad", plugin="initfail")])
    rc, log = start_fails(conf)
    assert rc == 1, "exit %s\n%s" % (rc, log)
    so = os.path.join(W.TEST_PLUGIN_DIR, "initfail.so")
    lines = [l for l in log.splitlines() if "refused to start" in l]
    assert lines, log
    l = lines[0]
    for word in ("route /bad", "initfail", so, "%s:" % conf):
        assert word in l, "%r not in %r" % (word, l)
    assert re.search(r"%s:\d+: " % re.escape(conf), l), l
    assert "initfail: refusing on purpose" in log, log
    # misbehave was set up, then torn down again
    assert "misbehave init" in log and "misbehave fini" in log, log


def test_bad_abi_and_no_symbol_at_start_name_the_path():
    for name, words in (("badabi", ("ABI",)), ("nosym", ("wsd_plugin",))):
        conf = W.write_config(plugin_dir=W.TEST_PLUGIN_DIR, routes=[
            mb_route(), W.route("/" + name, plugin=name)])
        rc, log = start_fails(conf)
        assert rc == 1, "%s: exit %s\n%s" % (name, rc, log)
        so = os.path.join(W.TEST_PLUGIN_DIR, name + ".so")
        lines = [l for l in log.splitlines() if so in l]
        assert lines, "%s: path %s not named:\n%s" % (name, so, log)
        for w in words + ("route /" + name,):
            assert any(w in l for l in lines), "%s: %r not in %r" % (
                name, w, lines)


def test_sighup_into_bad_plugins_keeps_old_config():
    """A reload into a config that adds a route whose plugin fails init,
    has the wrong ABI, no symbol, or unsafe permissions: refused, the log
    says why (naming route and plugin), the old config keeps serving."""
    pdir = W.tmpdir()
    os.chmod(pdir, 0o755)
    for name in ("misbehave", "initfail", "badabi", "nosym"):
        shutil.copy(os.path.join(W.TEST_PLUGIN_DIR, name + ".so"), pdir)
    shutil.copy(MB_SO, os.path.join(pdir, "writable.so"))
    os.chmod(os.path.join(pdir, "writable.so"), 0o666)
    conf = W.write_config(plugin_dir=pdir, routes=[mb_route()])
    d = W.start_daemon(conf)
    try:
        old = W.raw_ws(d.port, "/mb")
        try:
            for name, why in (("initfail", r"refused to start"),
                              ("badabi", r"ABI"),
                              ("nosym", r"no symbol"),
                              ("writable", r"writable by everyone")):
                W.write_config(directory=os.path.dirname(conf),
                               plugin_dir=pdir, routes=[
                                   mb_route(), W.route("/new", plugin=name)])
                mark = d.mark()
                d.send_signal(signal.SIGHUP)
                m = d.wait_log(r"route /new: plugin %s.*%s" % (name, why),
                               start=mark)
                assert os.path.join(pdir, name + ".so") in m.string or \
                    name == "initfail", m.string
                d.wait_log("reload failed: still running the previous",
                           start=mark)
                assert d.alive()
                old.send_text("old after %s" % name)
                assert old.read_message() == (W.OP_TEXT,
                                              b"old after %s" % name.encode())
                echo_ok(d)
                with W.RawClient(d.port) as c:
                    c.send(c.upgrade_request("/new"))
                    W.expect_http_error(c, 404)
            # a good reload afterwards works
            W.write_config(directory=os.path.dirname(conf), plugin_dir=pdir,
                           routes=[mb_route(), mb_route("/mb2")])
            mark = d.mark()
            d.send_signal(signal.SIGHUP)
            d.wait_log(r"reloaded: 2 route\(s\)", start=mark)
            echo_ok(d, "/mb2")
            old.send_text("old at the end")
            assert old.read_message() == (W.OP_TEXT, b"old at the end")
        finally:
            old.close()
        time.sleep(0.2)
        check_stopped(d)
    finally:
        d.kill()


# ------------------------------------------------------------ permissions

def perm_setup():
    """A private plugin dir (0755) holding a copy of misbehave.so (0644)."""
    base = W.tmpdir()
    pdir = os.path.join(base, "plugins")
    os.mkdir(pdir)
    os.chmod(pdir, 0o755)
    so = os.path.join(pdir, "misbehave.so")
    shutil.copy(MB_SO, so)
    os.chmod(so, 0o644)
    return base, pdir, so


def perm_conf(pdir, strict=None):
    extra = {} if strict is None else {"strict_permissions": strict}
    return W.write_config(plugin_dir=pdir, routes=[mb_route()], extra=extra)


def assert_refused(pdir, so, words, label):
    conf = perm_conf(pdir)
    rc, log = start_fails(conf)
    assert rc == 1, "%s: exit %s\n%s" % (label, rc, log)
    lines = [l for l in log.splitlines() if "refusing plugin" in l]
    assert lines, "%s: no 'refusing plugin' line:\n%s" % (label, log)
    for w in (so, "route /mb", "strict_permissions") + tuple(words):
        assert w in lines[0], "%s: %r not in %r" % (label, w, lines[0])
    # the same with strict_permissions = false: it starts and serves
    d = W.start_daemon(perm_conf(pdir, strict=False))
    try:
        echo_ok(d)
        check_stopped(d)
    finally:
        d.kill()


def test_strict_permissions_writable_file_or_dir_refused():
    base, pdir, so = perm_setup()
    # the safe layout starts, with the default and with strict = true
    for strict in (None, True):
        d = W.start_daemon(perm_conf(pdir, strict))
        try:
            echo_ok(d)
            check_stopped(d)
        finally:
            d.kill()
    os.chmod(so, 0o664)
    assert_refused(pdir, so, ("file", "writable by its group"),
                   "group-writable file")
    os.chmod(so, 0o646)
    assert_refused(pdir, so, ("file", "writable by everyone"),
                   "world-writable file")
    os.chmod(so, 0o644)
    os.chmod(pdir, 0o775)
    assert_refused(pdir, so, ("directory", pdir, "writable by its group"),
                   "group-writable directory")
    os.chmod(pdir, 0o1777)
    assert_refused(pdir, so, ("directory", pdir, "writable by everyone"),
                   "world-writable sticky directory")
    os.chmod(pdir, 0o755)
    # a symlink is judged by what it points to
    outside = os.path.join(base, "outside")
    os.mkdir(outside)
    os.chmod(outside, 0o777)
    target = os.path.join(outside, "real.so")
    shutil.move(so, target)
    os.chmod(target, 0o644)
    os.symlink(target, so)
    assert_refused(pdir, so, ("directory", outside, "writable by everyone"),
                   "symlink into a world-writable directory")


def test_strict_permissions_foreign_owner_refused():
    if os.geteuid() != 0:
        raise W.Skip("needs root to give files away")
    base, pdir, so = perm_setup()
    os.chown(so, 4242, 4242)
    assert_refused(pdir, so, ("file", "owned by uid 4242"),
                   "file owned by another user")
    os.chown(so, 0, 0)
    os.chown(pdir, 4242, 4242)
    assert_refused(pdir, so, ("directory", "owned by uid 4242"),
                   "directory owned by another user")
    os.chown(pdir, 0, 0)
    # root's group may be anything; only the uid matters
    os.chown(so, 0, 4242)
    d = W.start_daemon(perm_conf(pdir))
    try:
        echo_ok(d)
        check_stopped(d)
    finally:
        d.kill()


def test_shutdown_runs_close_once_for_every_client():
    """SIGTERM with clients in every state: open, closing (the plugin
    closed them, they never answer), flooded.  close runs once each."""
    d = start_mb(limits={"close_timeout": 1, "max_send_buffer": 256 * 1024})
    try:
        cs = connect_many(d, 5)
        closing = [W.raw_ws(d.port, "/mb?do=close") for _ in range(3)]
        flooded = []
        for _ in range(2):
            c = W.RawClient(d.port)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.handshake("/mb?do=flood")
            flooded.append(c)
        time.sleep(0.2)
        d.send_signal(signal.SIGTERM)
        for c in cs:
            msgs, f = read_until_close(c)
            assert f.code == 1001, f
            finish_close(c, f)
        for c in cs + closing + flooded:
            c.close()
        d.wait_exit(10)
        check_stopped(d, expect_opens=10)
    finally:
        d.kill()


def test_sigpipe_in_init_under_t():
    """A plugin's init that writes to a closed pipe or socket gets EPIPE,
    under wsd -t too: SIGPIPE is ignored before any plugin code runs."""
    conf = W.write_config(plugin_dir=W.TEST_PLUGIN_DIR, routes=[
        W.route("/sp", plugin="sigpipe")])
    for args in (["-t", "-c", conf], ["-t", "-q", "-c", conf]):
        r = W.run_wsd(args)
        assert r.returncode != -signal.SIGPIPE, \
            "%s: killed by SIGPIPE\n%s" % (args, r.stderr)
        assert r.returncode == 0, "%s: exit %s\n%s" % (
            args, r.returncode, r.stderr)
    r = W.run_wsd(["-t", "-c", conf])
    for what in ("pipe", "socket"):
        assert "sigpipe: %s: EPIPE, still alive" % what in r.stderr, r.stderr
    # and the daemon itself starts and serves
    d = W.start_daemon(conf)
    try:
        d.wait_log(r"sigpipe: socket: EPIPE")
        assert d.stop() == 0, d.tail()
    finally:
        d.kill()


TESTS = [
    test_close_inside_open,
    test_close_twice_and_send_after_close,
    test_invalid_close_codes_and_sends_refused,
    test_prefix_of_a_text_message_is_still_checked,
    test_flood_in_open_closed_1008,
    test_foreach_and_broadcast_inside_open,
    test_handshake_hook_misuse,
    test_handshake_status_1_from_an_older_plugin,
    test_broadcast_and_close_inside_foreach,
    test_close_every_other_inside_foreach,
    test_close_all_inside_foreach_then_broadcast,
    test_foreach_while_clients_vanish,
    test_message_data_valid_after_send_fails_connection,
    test_init_fails_at_start_names_plugin_and_route,
    test_bad_abi_and_no_symbol_at_start_name_the_path,
    test_sighup_into_bad_plugins_keeps_old_config,
    test_strict_permissions_writable_file_or_dir_refused,
    test_strict_permissions_foreign_owner_refused,
    test_shutdown_runs_close_once_for_every_client,
    test_sigpipe_in_init_under_t,
]

if __name__ == "__main__":
    W.run(TESTS)
