"""The bundled exec plugin (plugins/exec): a child process per connection,
text and binary modes, exits and close codes, back-pressure both ways,
stopping children, max_processes, the environment, stderr logging,
descriptors and signals the child inherits, the settings wsd -t checks.
Run with Debian's python3 (it has python3-websockets).
"""

import asyncio
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

import websockets  # noqa: E402

SH = "/bin/sh"
EXAMPLES = os.path.join(W.SRCDIR, "examples", "exec")


def exec_route(path="/x", limits=None, **settings):
    return W.route(path, "exec", settings=settings, limits=limits)


def start(*routes, **kw):
    """wsd with one worker (the children are its children)."""
    extra = kw.pop("extra", {})
    extra.setdefault("workers", 1)
    return W.start(routes=list(routes), extra=extra, **kw)


def sh(script, path="/x", **settings):
    return exec_route(path, command=[SH, "-c", script], **settings)


async def until_close(ws, timeout=10):
    """Every message up to the close; (messages, code, reason)."""
    msgs = []
    try:
        while True:
            msgs.append(await W.recv(ws, timeout))
    except websockets.ConnectionClosed:
        pass
    return msgs, ws.close_code, ws.close_reason


def gone(pid):
    """True once pid is neither running nor a zombie (reaped)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return False if f.read() else True
    except (FileNotFoundError, ProcessLookupError):
        return True


def wait_gone(pid, timeout=10, what="child"):
    deadline = time.monotonic() + W.T(timeout)
    while not gone(pid):
        if time.monotonic() > deadline:
            with open("/proc/%d/stat" % pid) as f:
                raise AssertionError("%s %d still there: %s"
                                     % (what, pid, f.read().strip()))
        time.sleep(0.02)


def state_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


# ------------------------------------------------------------ data


def test_echo_through_cat():
    """Text: each message is a line to cat, each line back a message;
    several connections each have their own cat."""
    d = start(exec_route(command=["/bin/cat"]))

    async def go():
        async with W.ws_connect(d.port, "/x") as a, \
                W.ws_connect(d.port, "/x") as b:
            for i in range(20):
                await W.echo(a, "a%d caf\u00e9 \u20ac" % i)
                await W.echo(b, "b%d" % i)
            await W.echo(a, "")
            await W.echo(a, "x" * 50000)
            # Binary messages are written as they are, plus a newline.
            await a.send(b"bin\n")
            assert await W.recv(a) == "bin"
            assert await W.recv(a) == ""
    W.arun(go())
    assert len(re.findall(r"/x: pid \d+ started", d.log_text())) == 2


def test_binary_mode_chunks():
    """Binary: bytes as they come, in messages of at most `chunk`."""
    d = start(exec_route(command=["/bin/cat"], mode="binary", chunk=4096))
    data = os.urandom(300000)

    async def go():
        async with W.ws_connect(d.port, "/x") as ws:
            await ws.send(data[:150000])
            await ws.send(data[150000:])
            got = bytearray()
            while len(got) < len(data):
                m = await W.recv(ws)
                assert isinstance(m, bytes), "text in binary mode: %r" % m
                assert 0 < len(m) <= 4096, len(m)
                got += m
            assert bytes(got) == data
    W.arun(go())


def test_lines_across_reads():
    """A line written in pieces with pauses is one message; lines longer
    than max_line are cut; a line that is not UTF-8 goes as binary; the
    rest after the last newline is sent when the child ends."""
    script = ('printf "hel"; sleep 0.3; printf "lo\\nwor"; sleep 0.3; '
              'printf "ld\\n"; printf "%040d\\n" 0; printf "\\377\\n"; '
              'printf "\\303\\251t\\303\\251\\n"; printf "no newline"')
    d = start(sh(script, max_line=16))

    async def go():
        async with W.ws_connect(d.port, "/x") as ws:
            msgs, code, reason = await until_close(ws)
        assert msgs == ["hello", "world", "0" * 16, "0" * 16, "0" * 8,
                        b"\xff", "\u00e9t\u00e9", "no newline"], msgs
        assert code == 1000, (code, reason)
    W.arun(go())


# ------------------------------------------------------------ exits


def test_child_exit_closes():
    """Exit status 0: 1000; another status or a signal: 1011, with the
    status in the reason; the output written before the exit arrives
    first."""
    d = start(sh("echo bye; exit 0", "/ok"), sh("echo bad; exit 3", "/bad"),
              sh("echo sig; kill -9 $$", "/sig"))

    async def go(path):
        async with W.ws_connect(d.port, path) as ws:
            return await until_close(ws)
    assert W.arun(go("/ok")) == (["bye"], 1000, "exit status 0")
    assert W.arun(go("/bad")) == (["bad"], 1011, "exit status 3")
    assert W.arun(go("/sig")) == (["sig"], 1011, "killed by signal 9")
    d.wait_log(r"/bad: pid \d+ exited with status 3")
    d.wait_log(r"/sig: pid \d+ was killed by signal 9")


def test_exit_sends_all_output():
    """Everything a child wrote before it exited reaches the client, even
    more than the pipe holds at once, and a grandchild that keeps stdout
    open does not hold the connection."""
    script = ('i=0; while [ $i -lt 3000 ]; do echo "line $i"; '
              'i=$((i+1)); done; sleep 30 & exit 0')
    d = start(sh(script))

    async def go():
        async with W.ws_connect(d.port, "/x") as ws:
            return await until_close(ws, timeout=20)
    msgs, code, _ = W.arun(go())
    assert code == 1000
    assert msgs == ["line %d" % i for i in range(3000)], \
        (len(msgs), msgs[-3:])


def test_spawn_failure_closes_1011():
    """A command that wsd -t accepted but that cannot run now (removed):
    the connection closes with 1011 and the reason is logged."""
    dirn = W.tmpdir()
    prog = W.write_file(os.path.join(dirn, "prog"), "#!/bin/sh\necho hi\n")
    os.chmod(prog, 0o755)
    d = start(exec_route(command=[prog]))
    os.unlink(prog)

    async def go():
        async with W.ws_connect(d.port, "/x") as ws:
            return await until_close(ws)
    msgs, code, reason = W.arun(go())
    assert msgs == [] and code == 1011, (msgs, code, reason)
    d.wait_log(r"/x: pid \d+: wsd exec: cannot execute .*prog: errno 2")
    d.wait_log(r"/x: pid \d+ exited with status 127")


# ------------------------------------------------------------ back-pressure


def test_child_never_reads():
    """A child that never reads its stdin: input waits in a bounded
    buffer, then the connection is closed with 1008; the worker's memory
    stays bounded and the child is stopped."""
    limit = 64 * 1024
    d = start(exec_route(command=["/bin/sleep", "60"],
                         max_stdin_buffer=limit))
    [wpid] = d.worker_pids(1)
    before = rss_kib(wpid)
    c = W.raw_ws(d.port, "/x")
    try:
        chunk = "y" * 1023
        sent = 0
        closed = None
        deadline = time.monotonic() + W.T(20)
        # Until wsd says it is over: the pipe (64 KiB) and the limit.
        while sent < 64 * 1024 * 1024 and time.monotonic() < deadline:
            if not c.send_text(chunk):
                break
            sent += 1024
            if sent % (64 * 1024) == 0:
                c.sock.settimeout(0.01)
                try:
                    data = c.sock.recv(65536)
                except (socket.timeout, BlockingIOError):
                    data = None
                if data is not None:
                    c.buf += data
                    break
        closed = c.expect_close(1008)
        assert closed.reason == b"the command does not read its input"
        assert sent < 8 * 1024 * 1024, sent
    finally:
        c.close()
    grew = rss_kib(wpid) - before
    print("    sent %d KiB before the 1008; worker RSS grew %d KiB"
          % (sent // 1024, grew))
    assert grew < 32 * 1024, grew
    m = d.wait_log(r"/x: pid (\d+): \d+ bytes of input not read")
    d.wait_log(r"/x: pid %s was killed by signal 15" % m.group(1))
    wait_gone(int(m.group(1)))


FLOOD = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
line = b"x" * 1000 + b"\n"
n = 0
while True:
    os.write(1, line)
    n += 1
    os.pwrite(fd, b"%20d" % n, 0)
"""


def test_flood_backpressure():
    """A child that writes as fast as it can to a client that does not
    read: wsd stops reading its stdout (the child blocks in write), the
    worker's memory stays bounded, and once the client reads the child
    goes on."""
    dirn = W.tmpdir()
    script = W.write_file(os.path.join(dirn, "flood.py"), FLOOD)
    counter = os.path.join(dirn, "count")
    d = start(exec_route(command=["/usr/bin/python3", script, counter]),
              limits={"max_send_buffer": 4 * 1024 * 1024,
                      "send_high_water": 64 * 1024})
    [wpid] = d.worker_pids(1)

    def count():
        try:
            with open(counter, "rb") as f:
                return int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    before = rss_kib(wpid)
    c = W.RawClient(d.port, rcvbuf=16384)
    try:
        c.handshake("/x")
        # Wait until the count stops growing: the child is blocked.
        deadline = time.monotonic() + W.T(20)
        last, still = -1, 0
        while time.monotonic() < deadline:
            time.sleep(0.25)
            n = count()
            still = still + 1 if n == last and n > 0 else 0
            last = n
            if still >= 4:
                break
        assert still >= 4, "the child never blocked (%d lines)" % last
        kids = children_of(wpid)
        assert len(kids) == 1, kids
        assert state_of(kids[0]) == "S", state_of(kids[0])
        grew = rss_kib(wpid) - before
        print("    child blocked after %d lines (%d KiB); worker RSS grew "
              "%d KiB" % (last, last * 1001 // 1024, grew))
        # wsd holds at most its high-water mark plus one read; the rest
        # sits in the kernel's socket and pipe buffers.
        assert last * 1001 < 16 * 1024 * 1024, last
        assert grew < 24 * 1024, grew
        # The client reads: the child goes on.
        got = 0
        while got < last + 2000:
            op, payload = c.read_message()
            assert op == W.OP_TEXT and payload == b"x" * 1000, payload[:20]
            got += 1
        assert count() > last, (count(), last)
        c.send_close(1000)
    finally:
        c.close()
    # Its stdout closed: EPIPE (Python exits 1) or SIGTERM, whichever first.
    d.wait_log(r"/x: pid %d (was killed by signal|exited with status)"
               % kids[0])
    wait_gone(kids[0])


# ------------------------------------------------------------ stopping


def test_client_leaving_stops_child():
    """A client that leaves (closing handshake, or TCP gone) gets its
    child SIGTERMed and reaped: no zombie."""
    d = start(sh("echo $$; exec sleep 1000"))

    async def one():
        async with W.ws_connect(d.port, "/x") as ws:
            return int(await W.recv(ws))
    pid = W.arun(one())
    wait_gone(pid)
    d.wait_log(r"/x: pid %d was killed by signal 15" % pid)
    # Without a closing handshake.
    c = W.raw_ws(d.port, "/x")
    op, payload = c.read_message()
    pid = int(payload)
    assert not gone(pid)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    wait_gone(pid)
    d.wait_log(r"/x: pid %d was killed by signal 15" % pid)


def test_sigkill_after_grace():
    """A child that ignores SIGTERM gets SIGKILL kill_grace_ms later, and
    so does what it started (its process group)."""
    d = start(sh('trap "" TERM; sleep 1000 & echo $$ $!; wait',
                 kill_grace_ms=300))

    async def one():
        async with W.ws_connect(d.port, "/x") as ws:
            return [int(p) for p in (await W.recv(ws)).split()]
    pid, sleeper = W.arun(one())
    wait_gone(pid)
    wait_gone(sleeper, what="grandchild")
    killed = d.wait_log(r"^(\S+) .*/x: pid %d: still running 300 ms after "
                        r"SIGTERM: SIGKILL" % pid)
    d.wait_log(r"/x: pid %d was killed by signal 9" % pid)
    # Not before the grace was over: by wsd's own clock, from the end of
    # the connection (its access line) to the SIGKILL.
    closed = d.wait_log(r"^(\S+) .*access .*\"GET /x\" 101")

    def ms(m):
        t = time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")
        return int(time.mktime(t)) * 1000 + int(m.group(1)[20:23])
    # (Stamps are whole milliseconds, the access line a little after the
    # timer was armed.)
    assert ms(killed) - ms(closed) >= 298, (closed.group(1), killed.group(1))


def test_shutdown_stops_children():
    """wsd stopping with a child in its grace (it ignores SIGTERM): fini
    kills it, nothing is left, wsd exits 0."""
    d = start(sh('trap "" TERM; echo $$; while :; do sleep 0.1; done',
                 kill_grace_ms=60000))

    async def one():
        async with W.ws_connect(d.port, "/x") as ws:
            return int(await W.recv(ws))
    pid = W.arun(one())
    assert not gone(pid)
    assert d.stop() == 0
    wait_gone(pid)


def test_max_processes():
    """max_processes children at once; the next upgrade gets 503 until one
    is reaped."""
    d = start(exec_route(command=["/bin/cat"], max_processes=2))

    async def go():
        a = await W.ws_connect(d.port, "/x")
        b = await W.ws_connect(d.port, "/x")
        await W.echo(a, "a")
        await W.echo(b, "b")
        try:
            async with W.ws_connect(d.port, "/x"):
                raise AssertionError("a third connection was accepted")
        except websockets.InvalidStatusCode as e:
            assert e.status_code == 503, e
        await a.close()
        # cat ends (EOF, SIGTERM) and is reaped: a slot is free again.
        deadline = time.monotonic() + W.T(10)
        while True:
            try:
                async with W.ws_connect(d.port, "/x") as c:
                    await W.echo(c, "c")
                break
            except websockets.InvalidStatusCode as e:
                assert e.status_code == 503
                assert time.monotonic() < deadline, "no slot came free"
                await asyncio.sleep(0.05)
        await b.close()
    W.arun(go())
    d.wait_log(r"/x: max_processes \(2\) reached: 503")


# ------------------------------------------------------------ environment


def test_environment():
    """The child's environment is the CGI-style list, HTTP_* of the
    request headers (skipping names with other bytes than letters, digits
    and '-', and Proxy), pass_env and env; nothing else of wsd's."""
    os.environ["WSD_EXEC_SECRET"] = "do-not-leak"
    os.environ["WSD_EXEC_PASSED"] = "passed on"
    try:
        d = start(exec_route(command=["/usr/bin/env"],
                             pass_env=["WSD_EXEC_PASSED", "WSD_EXEC_UNSET"],
                             env=["GREETING=hello world", "EMPTY="]))
    finally:
        del os.environ["WSD_EXEC_SECRET"]
        del os.environ["WSD_EXEC_PASSED"]
    c = W.RawClient(d.port)
    try:
        c.handshake("/x?a=1&b=%20", host="Example.org:8443",
                    extra=[("X-Custom-Thing", "v1"), ("x-custom-thing", "v2"),
                           ("Cookie", "a=1"), ("Cookie", "b=2"),
                           ("X_Sneaky", "no"), ("Proxy", "evil:1")])
        lines = []
        while True:
            f = c.read_message()
            if isinstance(f, W.Frame):
                assert f.opcode == W.OP_CLOSE and f.code == 1000, f
                break
            lines.append(f[1].decode())
        local_port = c.local_port
    finally:
        c.close()
    env = dict(l.split("=", 1) for l in lines)
    assert len(env) == len(lines), lines
    want = {
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": str(local_port),
        "SERVER_NAME": "Example.org",
        "SERVER_PORT": str(d.port),
        "QUERY_STRING": "a=1&b=%20",
        "PATH_INFO": "/x",
        "REQUEST_URI": "/x?a=1&b=%20",
        "HTTP_HOST": "Example.org:8443",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": c.key,
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        "HTTP_X_CUSTOM_THING": "v1, v2",
        "HTTP_COOKIE": "a=1; b=2",
        "WSD_EXEC_PASSED": "passed on",
        "GREETING": "hello world",
        "EMPTY": "",
    }
    assert env == want, "\n  got  %r\n  want %r" % (sorted(env.items()),
                                                  sorted(want.items()))


def test_environment_route_parameters():
    """A route pattern's parameters: PARAM_<name> for each :name,
    PATH_REST for the trailing '*', decoded; PATH_INFO stays the path as
    sent."""
    d = start(exec_route("/p/:room/*", command=["/usr/bin/env"]))

    async def go(path):
        async with W.ws_connect(d.port, path) as ws:
            return await until_close(ws)
    msgs, code, _ = W.arun(go("/p/blue%20sky/a/b%C3%A9"))
    assert code == 1000
    env = dict(m.split("=", 1) for m in msgs)
    assert env["PARAM_room"] == "blue sky", env
    assert env["PATH_REST"] == "a/b\u00e9", env
    assert env["PATH_INFO"] == "/p/blue%20sky/a/b%C3%A9", env
    assert not [k for k in env if k.startswith("PARAM_") and
                k != "PARAM_room"], env
    # Nothing after the prefix: PATH_REST is there, empty.
    msgs, code, _ = W.arun(go("/p/red/"))
    env = dict(m.split("=", 1) for m in msgs)
    assert env["PARAM_room"] == "red" and env["PATH_REST"] == "", env


def test_environment_tls():
    """Over wss, HTTPS=on."""
    import tlstest
    W.use_tls(tlstest.default_setup())
    try:
        d = start(exec_route(command=["/usr/bin/env"]))

        async def go():
            async with W.ws_connect(d.port, "/x") as ws:
                return await until_close(ws)
        msgs, code, _ = W.arun(go())
    finally:
        W.use_tls(None)
    assert code == 1000
    assert "HTTPS=on" in msgs, msgs


def test_example_counter():
    """The shipped counter.sh, as the man page's example runs it: no PATH
    in its environment, ?to=3."""
    d = start(exec_route("/counter",
                         command=[SH, os.path.join(EXAMPLES, "counter.sh")]))

    async def go():
        async with W.ws_connect(d.port, "/counter?to=3") as ws:
            return await until_close(ws)
    assert W.arun(go()) == (["1", "2", "3"], 1000, "exit status 0")
    d.wait_log(r"/counter: pid \d+: counting to 3 for 127\.0\.0\.1")


def test_example_upper():
    d = start(exec_route("/upper",
                         command=[SH, os.path.join(EXAMPLES, "upper.sh")]))

    async def go():
        async with W.ws_connect(d.port, "/upper") as ws:
            assert await W.recv(ws) == "hello 127.0.0.1, say something"
            await ws.send("make me loud")
            assert await W.recv(ws) == "MAKE ME LOUD"
    W.arun(go())


# ------------------------------------------------------------ stderr


def test_stderr_logged_rate_limited():
    """stderr lines reach wsd's log with the route and the child's pid, at
    most stderr_rate a second; the rest are counted."""
    script = ('echo $$; i=0; while [ $i -lt 100 ]; do echo "oops $i" >&2; '
              'i=$((i+1)); done; exit 0')
    d = start(sh(script, stderr_rate=5))

    async def go():
        async with W.ws_connect(d.port, "/x") as ws:
            return await until_close(ws)
    msgs, code, _ = W.arun(go())
    pid = int(msgs[0])
    d.wait_log(r"/x: pid %d exited" % pid)
    text = d.log_text()
    logged = re.findall(r"warning: .*/x: pid %d: oops (\d+)$" % pid, text,
                        re.M)
    dropped = sum(int(n) for n in re.findall(
        r"/x: pid %d: (\d+) more stderr line\(s\) not logged" % pid, text))
    assert logged[:5] == ["0", "1", "2", "3", "4"], logged
    assert 5 <= len(logged) <= 10, logged
    assert len(logged) + dropped == 100, (len(logged), dropped)


# ------------------------------------------------------------ the child's lot


def test_no_leaked_descriptors_or_signals():
    """The child has 0, 1 and 2 only (ls adds its own 3 for the
    directory), no blocked signal, and no ignored one (wsd ignores
    SIGPIPE)."""
    d = start(exec_route("/fd", command=["/bin/ls", "/proc/self/fd"]),
              exec_route("/sig", command=["/bin/grep", "-E",
                                          "^Sig(Blk|Ign)",
                                          "/proc/self/status"]))

    async def go(path):
        async with W.ws_connect(d.port, path) as ws:
            return await until_close(ws)
    # A few connections open meanwhile: their sockets must not leak.
    async def both():
        async with W.ws_connect(d.port, "/fd"), W.ws_connect(d.port, "/fd"):
            return await go("/fd")
    msgs, code, _ = W.arun(both())
    assert code == 1000 and sorted(msgs) == ["0", "1", "2", "3"], msgs
    msgs, code, _ = W.arun(go("/sig"))
    assert code == 1000
    assert sorted(msgs) == ["SigBlk:\t0000000000000000",
                            "SigIgn:\t0000000000000000"], msgs


def test_children_have_own_group():
    """The child leads a session and process group of its own."""
    d = start(sh("echo $$; exec sleep 1000"))

    async def go():
        async with W.ws_connect(d.port, "/x") as ws:
            pid = int(await W.recv(ws))
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return pid, int(fields[2]), int(fields[3])
    pid, pgrp, sid = W.arun(go())
    assert pgrp == pid and sid == pid, (pid, pgrp, sid)
    wait_gone(pid)


# ------------------------------------------------------------ watches


def test_watches_direct():
    """wsd_watch_add/set/cancel through tests/plugins/watcher: a paused
    watch stays quiet, resumes, pauses again; cancelled from inside its
    callback it runs no more; WSD_WATCH_WRITE; bad arguments refused;
    under wsd -t watches never run; one left at fini is freed."""
    routes = [W.route("/w", "watcher")]
    conf = W.write_config(routes=routes, plugin_dir=W.TEST_PLUGIN_DIR)
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 0, r.stderr
    assert "fired" not in r.stderr + r.stdout, r.stderr
    d = W.start_daemon(W.write_config(routes=routes,
                                      plugin_dir=W.TEST_PLUGIN_DIR,
                                      extra={"workers": 1}))
    d.wait_log(r"worker 0: /w: watcher: init watch fired \(events 1\)")

    async def quiet(ws, t=0.3):
        try:
            m = await asyncio.wait_for(ws.recv(), t)
        except asyncio.TimeoutError:
            return
        raise AssertionError("unexpected message %r" % m)

    async def go():
        async with W.ws_connect(d.port, "/w") as ws:
            await ws.send("write:abc")          # created paused
            await quiet(ws)
            await ws.send("resume")
            assert await W.recv(ws) == "resumed"
            assert await W.recv(ws) == "got:abc"
            await ws.send("write:def")
            assert await W.recv(ws) == "got:def"
            await ws.send("pause")
            assert await W.recv(ws) == "paused"
            await ws.send("write:ghi")
            await quiet(ws)
            await ws.send("resume")
            assert await W.recv(ws) == "resumed"
            assert await W.recv(ws) == "got:ghi"
            await ws.send("write-watch")
            assert await W.recv(ws) == "writable"
            await ws.send("bad")
            assert await W.recv(ws) == "refused"
            await ws.send("cancel-in-cb")
            assert await W.recv(ws) == "armed"
            await ws.send("write:jkl")
            assert await W.recv(ws) == "got:jkl"
            assert await W.recv(ws) == "cancelled"
            await ws.send("write:mno")
            await quiet(ws)
    W.arun(go())
    assert d.stop() == 0
    assert len(re.findall(r"init watch fired", d.log_text())) == 1
    d.wait_log(r"worker 0: route /w: 1 watch\(es\) left at fini")


# ------------------------------------------------------------ systemd


def syscall_group(name, memo={}):
    """The system calls of a systemd group, nested groups expanded."""
    if name not in memo:
        import subprocess
        out = subprocess.run(["systemd-analyze", "syscall-filter", name],
                             stdout=subprocess.PIPE, check=True,
                             universal_newlines=True).stdout
        calls = set()
        for line in out.splitlines()[1:]:
            w = line.strip()
            if not w or w.startswith("#"):
                continue
            calls |= syscall_group(w) if w.startswith("@") else {w}
        memo[name] = calls
    return memo[name]


def test_unit_filter_allows_exec():
    """The packaged unit's SystemCallFilter= (inherited by the programs
    too) lets the plugin start, watch, signal and reap children."""
    import shutil
    if shutil.which("systemd-analyze") is None:
        raise W.Skip("no systemd-analyze")
    allow, deny = set(), set()
    with open(os.path.join(W.SRCDIR, "systemd", "wsd.service")) as f:
        for line in f:
            if not line.startswith("SystemCallFilter="):
                continue
            v = line.split("=", 1)[1].strip()
            neg = v.startswith("~")
            for w in v.lstrip("~").split():
                calls = syscall_group(w) if w.startswith("@") else {w}
                (deny if neg else allow).update(calls)
    assert allow, "no SystemCallFilter= in wsd.service"
    allowed = allow - deny
    needed = {"clone", "execve", "pidfd_open", "close_range", "setsid",
              "prctl", "pipe2", "wait4", "kill", "rt_sigaction",
              "rt_sigprocmask", "dup2", "fcntl", "ioctl", "getppid"}
    assert needed <= allowed, sorted(needed - allowed)


# ------------------------------------------------------------ settings


def test_settings_checked():
    """wsd -t reports a missing, relative or non-executable command and
    bad settings, with the file and line."""
    dirn = W.tmpdir()
    noexec = W.write_file(os.path.join(dirn, "noexec"), "#!/bin/sh\n")
    os.chmod(noexec, 0o644)
    cases = [
        ({}, r"setting 'command': required"),
        ({"command": []}, r"setting 'command': required"),
        ({"command": ["cat"]}, r"setting 'command': the program must be an "
                               r"absolute path"),
        ({"command": ["/nonexistent/prog"]},
         r"setting 'command': /nonexistent/prog: No such file"),
        ({"command": [noexec]}, r"setting 'command': .*noexec: Permission "
                                r"denied"),
        ({"command": [dirn]}, r"setting 'command': .*: not a file"),
        ({"command": ["/bin/cat"], "mode": "lines"},
         r"setting 'mode': must be \"text\" or \"binary\""),
        ({"command": ["/bin/cat"], "env": ["NOEQUALS"]},
         r"setting 'env': 'NOEQUALS' is not NAME=value"),
        ({"command": ["/bin/cat"], "env": ["1X=y"]},
         r"setting 'env': '1X=y' is not NAME=value"),
        ({"command": ["/bin/cat"], "pass_env": ["A-B"]},
         r"setting 'pass_env': 'A-B' is no variable name"),
        ({"command": ["/bin/cat"], "max_processes": 0},
         r"setting 'max_processes': must be from 1 to 65536"),
        ({"command": ["/bin/cat"], "chunk": 1 << 30},
         r"setting 'chunk': must be from 512 to 1048576"),
        ({"command": ["/bin/cat"], "cmd": ["/bin/cat"]},
         r"'cmd'"),
    ]
    for settings, err in cases:
        conf = W.write_config(routes=[exec_route(**settings)])
        r = W.run_wsd(["-t", "-c", conf])
        assert r.returncode == 1, (settings, r.returncode, r.stderr)
        assert re.search(r"%s:\d+: .*%s" % (re.escape(conf), err),
                         r.stderr), (settings, r.stderr)
    conf = W.write_config(routes=[exec_route(command=["/bin/cat", "-u"],
                                             mode="binary")])
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 0, r.stderr


W.run([
    test_echo_through_cat,
    test_binary_mode_chunks,
    test_lines_across_reads,
    test_child_exit_closes,
    test_exit_sends_all_output,
    test_spawn_failure_closes_1011,
    test_child_never_reads,
    test_flood_backpressure,
    test_client_leaving_stops_child,
    test_sigkill_after_grace,
    test_shutdown_stops_children,
    test_max_processes,
    test_environment,
    test_environment_route_parameters,
    test_environment_tls,
    test_example_counter,
    test_example_upper,
    test_stderr_logged_rate_limited,
    test_no_leaked_descriptors_or_signals,
    test_children_have_own_group,
    test_settings_checked,
    test_watches_direct,
    test_unit_filter_allows_exec,
])
