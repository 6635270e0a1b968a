"""Every allocation failure of a connection's life is survived.

wsd is built with a test-only hook (src/failalloc.[ch]) through which
every allocation of wsd, libevent, OpenSSL and zlib goes.  With
WSD_FAILALLOC naming a control file, writing N there makes the Nth
allocation after the next accepted connection fail, once; the worker
logs "failalloc: connection done after K allocations, ..." when that
connection is freed.

For each scenario (a handshake, echoes of each size, fragmentation, the
closing handshakes, broadcast, timers, permessage-deflate, topics, a
static file, X-Forwarded-For, a reload; some of them again over wss) the
victim connection runs it with N = 1, 2, ... until a run makes no
allocation fail: N - 1 is then the number of failure points of that
scenario, all of them exercised.  After every run: the worker is the one
we started with (no crash, no restart), a second connection opened
before any failure still echoes, and the victim either did all of its
scenario, or was refused with 503 before the upgrade, or closed with
1011 after it; over wss also, with nothing said, when its TLS handshake
failed or when the failure was inside OpenSSL.  The daemon stops at the end of each
scenario; in the sanitizer build LeakSanitizer then reports any leak,
which fails the case (wsdtest's runner)."""

import os
import re
import signal
import ssl
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402
import tlstest  # noqa: E402

# Bounds: failure points per scenario, and seconds per scenario.
MAX_POINTS = 2000
MAX_SECONDS = 600
# Runs in a row without a failure that end a scenario.
CLEAN_RUNS = 3

BIG = 1000000       # the "~1 MiB" echo (under max_message_size)
ECHO_SIZES = (0, 125, 126, 65535, 65536, BIG)
with open(os.path.join(W.WWW_DIR, "index.html"), "rb") as f:
    INDEX = f.read()


class Refused(Exception):
    """The victim was refused or closed as an injected failure allows:
    kind is "503", "1011", "tls_handshake" (the client's TLS handshake
    failed) or "tls" (the TLS connection ended later, nothing said)."""

    def __init__(self, kind, detail=""):
        Exception.__init__(self, "%s %s" % (kind, detail))
        self.kind = kind


class Victim:
    """A RawClient whose every read turns an allowed failure ending
    (503 before the upgrade, close 1011 after) into Refused, and any
    other ending into an AssertionError."""

    def __init__(self, port):
        try:
            self.c = W.RawClient(port, timeout=10)
        except (ssl.SSLError, OSError) as e:
            # Before its TLS session exists, wsd can say nothing to a
            # client (not even the 503): its handshake just fails.
            self.tls_broken(e, "tls_handshake")
            raise

    @staticmethod
    def tls_broken(e, kind="tls"):
        """Over TLS, an allocation that fails inside OpenSSL can leave no
        TLS session to answer on: the connection just ends (the runner
        checks that the failure was OpenSSL's)."""
        if W.TLS is not None:
            raise Refused(kind, repr(e))

    def close(self):
        self.c.close()

    def handshake(self, path="/echo", extra=()):
        c = self.c
        c.send(c.upgrade_request(path, extra=extra))
        # No response at all is a failure too: the 503 is a constant
        # written without allocating, so a plain client always gets it.
        try:
            r = c.read_response()
        except (AssertionError, ssl.SSLError, OSError) as e:
            if not isinstance(e, AssertionError) or "EOF before" in str(e):
                self.tls_broken(e)
            raise
        if r.status == 503:
            rest = c.read_until_eof(5)
            assert b"503" in rest, rest[:80]
            raise Refused("503")
        assert r.status == 101, "handshake answered %r" % r
        assert r.get("sec-websocket-accept") == W.accept_key(c.key), r
        return r

    def frame(self):
        """The next frame that is not a ping; Refused on a 1011."""
        while True:
            try:
                f = self.c.read_frame(W.T(10))
            except (W.EOF, ssl.SSLError, ConnectionResetError) as e:
                self.tls_broken(e)
                raise AssertionError("EOF after the upgrade without a "
                                     "close frame (reset=%s)" % self.c.reset)
            if f.opcode == W.OP_PING:
                continue
            if f.opcode == W.OP_CLOSE and f.code == 1011:
                self.c.send_close(1011)
                rest = self.c.read_until_eof(5)
                assert rest == b"", rest[:40]
                raise Refused("1011", f.reason)
            return f

    def message(self):
        parts, first = [], None
        while True:
            f = self.frame()
            if f.opcode == W.OP_CLOSE:
                raise AssertionError("close %s %r instead of a message"
                                     % (f.code, f.reason))
            if f.opcode >= 8:
                continue
            if first is None:
                assert f.opcode in (W.OP_TEXT, W.OP_BINARY), f
                first = f.opcode
            else:
                assert f.opcode == W.OP_CONT, f
            parts.append(f.payload)
            if f.fin:
                return first, b"".join(parts)

    def echo(self, op, payload):
        self.c.send_frame(op, payload)
        got = self.message()
        assert got == (op, payload), "echo of %d bytes: got %d bytes" % (
            len(payload), len(got[1]))

    def client_close(self, code=1000, reason=b"bye"):
        """Our close, the server's answer with the same code, EOF."""
        self.c.send_close(code, reason)
        while True:
            f = self.frame()
            if f.opcode == W.OP_CLOSE:
                break
            assert f.opcode == W.OP_PONG or f.opcode < 8, f
        assert f.code == code, "close answered with %s %r" % (f.code,
                                                              f.reason)
        rest = self.c.read_until_eof(5)
        assert rest == b"", rest[:40]

    def server_close(self, code):
        """The server closes with code: answer, then EOF."""
        f = self.frame()
        assert f.opcode == W.OP_CLOSE, "expected a close, got %r" % f
        assert f.code == code, "close %s %r, wanted %d" % (f.code, f.reason,
                                                           code)
        self.c.send_close(code)
        rest = self.c.read_until_eof(5)
        assert rest == b"", rest[:40]


# ------------------------------------------------------------ scenarios

def sc_handshake(v, ctx):
    v.handshake("/echo")
    v.client_close()


def sc_echo(size):
    def run(v, ctx):
        v.handshake("/echo")
        payload = os.urandom(size)
        v.echo(W.OP_BINARY, payload)
        v.echo(W.OP_TEXT, b"t" * min(size, 200))
        v.client_close()
    run.__name__ = "echo_%d" % size
    return run


def sc_fragments(v, ctx):
    v.handshake("/echo")
    c = v.c
    c.send_frame(W.OP_TEXT, b"frag-one ", fin=False)
    c.send_frame(W.OP_PING, b"in between")
    c.send_frame(W.OP_CONT, b"x" * 300, fin=False)
    c.send_frame(W.OP_CONT, b" end")
    f = v.frame()
    assert f.opcode == W.OP_PONG and f.payload == b"in between", f
    assert v.message() == (W.OP_TEXT, b"frag-one " + b"x" * 300 + b" end")
    v.client_close()


def sc_close(v, ctx):
    # The client's close with a reason, then the server's own close
    # (wsd_close() from the hooks plugin) on a second victim run.
    v.handshake("/hooks")
    assert v.message()[0] == W.OP_TEXT          # the greeting
    v.c.send_text(b"close:4000:going")
    v.server_close(4000)


def sc_broadcast(v, ctx):
    """The victim broadcasts to the route; the bystander there gets it
    once or, if the frame could not be made, not at all (the plugin
    hears so and closes the victim with 1011)."""
    v.handshake("/hooks")
    assert v.message()[0] == W.OP_TEXT          # the greeting
    v.c.send_text(b"bcast:news")
    got = v.message()
    assert got == (W.OP_TEXT, b"news"), got
    got = v.message()
    assert got == (W.OP_TEXT, b"sent:2"), got
    ctx["expect_bcast"] = True
    v.client_close()


def sc_timer(v, ctx):
    """A one-shot route timer (hooks' mytimer) that sends to the
    victim."""
    v.handshake("/hooks")
    assert v.message()[0] == W.OP_TEXT
    v.c.send_text(b"mytimer:5")
    got = v.message()
    assert got == (W.OP_TEXT, b"fired"), got
    ctx["expect_fired"] = True
    v.client_close()


def sc_deflate(path):
    """permessage-deflate (zlib's own allocations included): compressed
    echoes as negotiated, one that inflates past 64 KiB (the worker's
    scratch buffers), one in three fragments (inflated as they come), a
    plain one in between.  wsd may also turn the extension down when it
    cannot set it up: then all is plain."""
    def run(v, ctx):
        r = v.handshake(path, extra=[("Sec-WebSocket-Extensions",
                                      "permessage-deflate")])
        ext = r.get("sec-websocket-extensions")
        if ext is None:
            v.echo(W.OP_TEXT, b"declined")
            v.client_close()
            return
        params = [x.strip() for x in ext.split(";")]
        assert params[0] == "permessage-deflate", ext
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        dec = zlib.decompressobj(-15)
        unit = b'{"id":12345,"user":"alice","text":"hello, world"},'
        for op, msg, pieces in ((W.OP_TEXT, unit * 20, 1),
                                (W.OP_BINARY, b"plain", 0),
                                (W.OP_TEXT, (unit * 2000)[:100000], 1),
                                (W.OP_TEXT, unit * 200, 3),
                                (W.OP_BINARY, os.urandom(3000), 1)):
            if pieces == 0:
                v.c.send_frame(op, msg)
            else:
                if "client_no_context_takeover" in params:
                    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
                z = comp.compress(msg) + comp.flush(zlib.Z_SYNC_FLUSH)
                z = z[:-4]
                step = len(z) // pieces + 1
                for k in range(pieces):
                    v.c.send_frame(op if k == 0 else W.OP_CONT,
                                   z[k * step:(k + 1) * step],
                                   fin=k == pieces - 1,
                                   rsv=4 if k == 0 else 0)
            parts, first, rsv1 = [], None, False
            while True:
                f = v.frame()
                assert f.opcode != W.OP_CLOSE, \
                    "close %s %r instead of a message" % (f.code, f.reason)
                if f.opcode >= 8:
                    continue
                if first is None:
                    first, rsv1 = f.opcode, bool(f.rsv & 4)
                parts.append(f.payload)
                if f.fin:
                    break
            got = b"".join(parts)
            if rsv1:
                if "server_no_context_takeover" in params:
                    dec = zlib.decompressobj(-15)
                got = dec.decompress(got + b"\x00\x00\xff\xff")
            assert (first, got) == (op, msg), \
                "echo of %d bytes: got %d" % (len(msg), len(got))
        v.client_close()
    run.__name__ = "deflate" + path.replace("/", "_")
    return run


def sc_topics(v, ctx):
    """Subscribed at open, a publish the victim gets itself, an
    unsubscribe (the topics test plugin).  A subscription or a publish
    may fail as such (the plugin hears -1); what succeeds is delivered."""
    v.handshake("/t?sub=news")
    op, data = v.message()
    m = re.match(rb"^open -?\d+ (\d+)$", data)
    assert op == W.OP_TEXT and m, data
    nsubs = int(m.group(1))
    v.c.send_text(b"pub news hello")
    before = []
    while True:
        op, data = v.message()
        if data.startswith(b"pub "):
            break
        before.append(data)
    if data == b"pub 0":
        assert before == [b"hello"] * nsubs, (nsubs, before)
    else:
        assert data == b"pub -1" and before == [], (data, before)
    v.c.send_text(b"unsub news")
    op, data = v.message()
    assert data == (b"unsub 0" if nsubs else b"unsub -1"), (nsubs, data)
    v.client_close()


def sc_static(v, ctx):
    """A static file from document_root: served whole, or refused with
    an error status and nothing else."""
    c = v.c
    c.send(c.request("GET", "/index.html", [
        ("Host", "127.0.0.1:%d" % c.port), ("Connection", "close")]))
    r = c.read_response()
    body = c.read_until_eof(5)
    if r.status == 503:
        raise Refused("503")
    assert r.status == 200, r
    assert body == ctx["index"], "a body of %d bytes, not %d" % (
        len(body), len(ctx["index"]))


def sc_forwarded(v, ctx):
    """Behind a trusted proxy (127.0.0.1 here): the client is the one
    X-Forwarded-For names, over TLS as X-Forwarded-Proto says, or the
    request is refused; never taken for the proxy itself."""
    v.handshake("/who", extra=[("X-Forwarded-For", "203.0.113.7"),
                               ("X-Forwarded-Proto", "https")])
    op, data = v.message()
    assert data.startswith(b"remote=203.0.113.7:0 tls=1 "), data
    v.echo(W.OP_TEXT, b"forwarded")
    v.client_close()


def sc_clock(v, ctx):
    v.handshake("/clock")
    for _ in range(3):
        op, data = v.message()
        assert op == W.OP_TEXT and data[:2] == b"20", data
    v.client_close()


def sc_reload(v, ctx):
    """A reload while the victim is open: it keeps being served (by the
    old or the new configuration, whichever the failure left)."""
    d = ctx["daemon"]
    v.handshake("/echo")
    v.echo(W.OP_TEXT, b"before")
    start = len(d.lines)
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"reload done|reload failed", timeout=10, start=start)
    v.echo(W.OP_TEXT, b"after")
    v.client_close()


# ------------------------------------------------------------ the runner

def plugin_dir():
    """echo-logger and clock (plugins/) with hooks (tests/plugins/) in
    one plugin directory."""
    d = W.tmpdir()
    for src, name in ((W.PLUGIN_DIR, "echo-logger"), (W.PLUGIN_DIR, "clock"),
                      (W.TEST_PLUGIN_DIR, "hooks"),
                      (W.TEST_PLUGIN_DIR, "topics"),
                      (W.TEST_PLUGIN_DIR, "whoami")):
        os.symlink(os.path.join(src, name + ".so"),
                   os.path.join(d, name + ".so"))
    return d


def start(ctl, clock_ms, trusted=False):
    routes = [W.route("/echo"),
              W.route("/z", compression={"enabled": True}),
              W.route("/zt", compression={
                  "enabled": True, "server_no_context_takeover": False,
                  "client_no_context_takeover": False}),
              W.route("/hooks", plugin="hooks"),
              W.route("/t", plugin="topics"),
              W.route("/who", plugin="whoami"),
              W.route("/clock", plugin="clock",
                      settings={"interval_ms": clock_ms})]
    # Only where the scenario needs it: a trusted peer costs every
    # request its X-Forwarded-* lookups.
    extra = {"trusted_proxies": ["127.0.0.1"]} if trusted else None
    conf = W.write_config(plugin_dir=plugin_dir(), routes=routes,
                          log_level="info", document_root=W.WWW_DIR,
                          limits={"max_message_size": 2 * BIG},
                          extra=extra)
    wrapper = ["env", "WSD_FAILALLOC=" + ctl] + W.WRAPPER
    d = W.start_daemon(conf, wrapper=wrapper)
    d.wait_log(r"failalloc: enabled", timeout=5)
    return d


def bystander_echo(b, i):
    msg = ("still here %d" % i).encode()
    b.send_text(msg)
    got = b.read_message(timeout=10)
    assert got == (W.OP_TEXT, msg), "the bystander got %r" % (got,)


def run_scenario(name, scenario):
    ctl = os.path.join(W.tmpdir(), "failalloc")
    W.write_file(ctl, "")
    # The clock ticks (and re-arms its timer) only in its own scenario,
    # so that the others count their own allocations.
    d = start(ctl, 20 if scenario is sc_clock else 3600000,
              trusted=scenario is sc_forwarded)
    t0 = time.monotonic()
    outcomes = {"ok": 0, "tls_handshake": 0, "tls": 0, "503": 0,
                "1011": 0}
    sites = {}
    try:
        workers = d.worker_pids(1)
        assert len(workers) == 1, workers
        by = W.raw_ws(d.port, "/echo")             # the bystander
        hb = W.raw_ws(d.port, "/hooks")            # one on the hooks route
        assert hb.read_message(timeout=10)[0] == W.OP_TEXT
        n = points = clean = 0
        while True:
            n += 1
            assert n <= MAX_POINTS, "%s: more than %d failure points" % (
                name, MAX_POINTS)
            assert time.monotonic() - t0 < W.T(MAX_SECONDS), \
                "%s: still at N=%d after %ds" % (name, n, MAX_SECONDS)
            start_line = len(d.lines)
            W.write_file(ctl, "%d\n" % n)
            ctx = {"daemon": d, "index": INDEX}
            v = None
            kind = "ok"
            try:
                v = Victim(d.port)
                scenario(v, ctx)
            except Refused as e:
                kind = e.kind
            except BaseException as e:
                time.sleep(W.T(0.2))
                raise AssertionError("%s, N=%d: %s: %s\nlog since armed:\n%s"
                                     % (name, n, type(e).__name__, e,
                                        "\n".join(d.lines[start_line:][:60])))
            finally:
                if v is not None:
                    v.close()
            m = d.wait_log(r"failalloc: connection done after (\d+) "
                           r"allocations, (none failed|allocation (\d+) "
                           r"failed)", timeout=10, start=start_line)
            failed = m.group(3) is not None
            if failed:
                site = d.wait_log(r"failalloc: allocation %d fails at "
                                  r"(\S+)" % n, timeout=1,
                                  start=start_line).group(1)
                site = site.split(":")[0] if site.startswith("libevent") \
                    or site.startswith("openssl") else site
                site = os.path.basename(site)
                sites[site] = sites.get(site, 0) + 1
                assert kind != "tls" or site == "openssl", \
                    "%s, N=%d: the TLS connection just ended after a " \
                    "failure outside OpenSSL (%s)\n%s" % (
                        name, n, site, "\n".join(d.lines[start_line:][:40]))
            # Whatever happened to the victim, everyone else is served.
            assert d.alive(), "wsd died at N=%d" % n
            assert d.worker_pids(1) == workers, \
                "%s, N=%d: the worker was replaced\n%s" % (name, n,
                                                           d.tail(20))
            bystander_echo(by, n)
            hb.send_text(b"clients")
            got = hb.read_message(timeout=10)
            while got == (W.OP_TEXT, b"news") or got == (W.OP_TEXT,
                                                         b"fired"):
                got = hb.read_message(timeout=10)
            assert got == (W.OP_TEXT, b"1"), \
                "%s, N=%d: the hooks bystander got %r" % (name, n, got)
            if not failed:
                assert kind == "ok", "%s, N=%d: %s without a failure" % (
                    name, n, kind)
                assert int(m.group(1)) < n, m.group(0)
                # A life's allocations vary a little (buffers reused
                # from a pool, reads split differently): go on until
                # several runs in a row make none fail.
                clean += 1
                if clean == CLEAN_RUNS:
                    break
                continue
            clean = 0
            points += 1
            outcomes[kind] += 1
        by.close()
        hb.close()
        print("%s: %d failure points (victim: %s; sites: %s)" % (
            name, points, ", ".join("%s %d" % kv for kv in outcomes.items()),
            ", ".join("%s %d" % kv for kv in sorted(sites.items()))),
            flush=True)
        assert points > 0, "%s: no allocation at all?" % name
        return points
    finally:
        d.kill()


def case(name, scenario):
    def t():
        run_scenario(name, scenario)
    t.__name__ = "test_" + name
    return t


def tls_case(name, scenario):
    """The scenario over wss: OpenSSL's allocations for the handshake and
    the records come into it too."""
    def t():
        W.use_tls(tlstest.default_setup())
        try:
            run_scenario(name, scenario)
        finally:
            W.use_tls(None)
    t.__name__ = "test_" + name
    return t


TESTS = [case("handshake", sc_handshake)] + \
    [case("echo_%d" % s, sc_echo(s)) for s in ECHO_SIZES] + [
    case("fragments", sc_fragments),
    case("close", sc_close),
    case("broadcast", sc_broadcast),
    case("timer", sc_timer),
    case("deflate_shared", sc_deflate("/z")),
    case("deflate_takeover", sc_deflate("/zt")),
    case("topics", sc_topics),
    case("static", sc_static),
    case("forwarded", sc_forwarded),
    case("clock", sc_clock),
    case("reload", sc_reload),
    tls_case("tls_handshake", sc_handshake),
    tls_case("tls_echo_65536", sc_echo(65536)),
]

if __name__ == "__main__":
    W.run(TESTS)
