#!/usr/bin/env python3
"""
wsd behind a proxy, with real proxies: Debian's HAProxy speaking the
PROXY protocol (v2 and v1) to a proxy_protocol listener, and Debian's
nginx proxying with X-Forwarded-For, -Proto and -Host to a listener whose
trusted_proxies has it.  Each proxy is started by the test on free
127.0.0.1 ports with its own configuration in a temporary directory,
and stopped by its PID afterwards (also when the case fails).

The clients connect from 127.0.0.2, an address no proxy uses towards
wsd, so the address the whoami plugin reports (wsd_remote_addr) can
only have come through the proxy.  Plus what a proxy_protocol listener
does with connections that do not start with a valid header, the
per-address pending limit behind a proxy, and forged X-Forwarded-For.
"""

import asyncio
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

HAPROXY = "/usr/sbin/haproxy"
NGINX = "/usr/sbin/nginx"
CLIENT_ADDR = "127.0.0.2"

V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what, timeout=10):
    deadline = time.monotonic() + W.T(timeout)
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise AssertionError("%s exited with %s" % (what,
                                                            proc.returncode))
            if time.monotonic() > deadline:
                raise AssertionError("%s does not listen on %d" % (what,
                                                                   port))
            time.sleep(0.02)


class Proxy:
    """A proxy process of ours; stop() ends it by its PID."""

    def __init__(self, argv, port, what, log=None):
        self.what = what
        self.port = port
        self.log = log
        self.out = os.path.join(W.tmpdir(), "out.txt")
        with open(self.out, "wb") as f:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=f, stderr=subprocess.STDOUT)
        try:
            wait_port(port, self.proc, what)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(W.T(10))
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def output(self):
        text = ""
        for p in (self.out, self.log):
            if p and os.path.exists(p):
                with open(p, errors="replace") as f:
                    text += f.read()
        return text


def haproxy(backend_port, send="send-proxy-v2"):
    """HAProxy in TCP mode on a free port, relaying to wsd with send."""
    if not os.access(HAPROXY, os.X_OK):
        raise W.Skip("haproxy is not installed")
    port = free_port()
    d = W.tmpdir()
    cfg = W.write_file(os.path.join(d, "haproxy.cfg"), """\
global
    maxconn 64

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe
    bind 127.0.0.1:%d
    default_backend be

backend be
    server wsd 127.0.0.1:%d %s
""" % (port, backend_port, send))
    return Proxy([HAPROXY, "-f", cfg, "-db"], port, "haproxy")


def nginx_temp_paths(d):
    """The temp path directives of the modules this nginx has, in d."""
    r = subprocess.run([NGINX, "-V"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, errors="replace")
    out = []
    for kind in ("client-body", "proxy", "fastcgi", "uwsgi", "scgi"):
        if "--http-%s-temp-path" % kind in r.stdout:
            out.append("    %s_temp_path %s;" % (kind.replace("-", "_"),
                                                 os.path.join(d, kind)))
    return "\n".join(out)


def nginx(locations):
    """nginx on a free port; locations: {path: (backend port, uri, xfp)}
    each proxied with the WebSocket upgrade headers, a Host rewritten to
    "backend.internal", X-Forwarded-For, -Host and -Proto (xfp)."""
    if not os.access(NGINX, os.X_OK):
        raise W.Skip("nginx is not installed")
    port = free_port()
    d = W.tmpdir()
    blocks = []
    for path, (bport, uri, xfp) in locations.items():
        blocks.append("""\
        location = %s {
            proxy_pass http://127.0.0.1:%d%s;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host backend.internal;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Proto %s;
            proxy_read_timeout 30s;
        }""" % (path, bport, uri, xfp))
    log = os.path.join(d, "error.log")
    cfg = W.write_file(os.path.join(d, "nginx.conf"), """\
user root;
worker_processes 1;
error_log %s info;
events { worker_connections 64; }
http {
    access_log off;
%s
    server {
        listen 127.0.0.1:%d;
%s
    }
}
""" % (log, nginx_temp_paths(d), port, "\n".join(blocks)))
    return Proxy([NGINX, "-p", d, "-c", cfg, "-g",
                  "daemon off; pid %s;" % os.path.join(d, "nginx.pid")],
                 port, "nginx", log=log)


def start_wsd(listen, limits=None, extra=None):
    """wsd with the whoami route at /who (and /same, same-host origins
    only), the test plugins' directory, and these listeners; their
    ports in order."""
    routes = [W.route("/who", "whoami"),
              W.route("/same", "whoami", origins=None)]
    conf = W.write_config(W.make_config(
        routes=routes, plugin_dir=W.TEST_PLUGIN_DIR, listen=listen,
        limits=limits, extra=extra))
    d = W.Daemon(conf)
    try:
        ports = d.listen_ports(len(listen))
        d.wait_log(W.READY_RE.pattern)
    except BaseException:
        d.kill()
        raise
    return d, ports


async def who(port, path="/who", local=CLIENT_ADDR, **kw):
    """Connect (from local), read whoami's line, echo once, close; the
    line's fields and the client's own (address, port)."""
    import websockets
    opts = dict(max_size=None, ping_interval=None, compression=None,
                open_timeout=W.T(10), close_timeout=W.T(10))
    if local is not None:
        opts["local_addr"] = (local, 0)
    opts.update(kw)
    scheme = "wss" if "ssl" in kw else "ws"
    uri = "%s://127.0.0.1:%d%s" % (scheme, port, path)
    async with websockets.connect(uri, **opts) as ws:
        line = await W.recv(ws)
        me = ws.local_address
        await W.echo(ws, "hello")
    fields = dict(f.split("=", 1) for f in line.split(" "))
    return fields, me


# ------------------------------------------------------------ HAProxy

def _haproxy_case(send):
    d, (plain, pp) = start_wsd([
        {"address": "127.0.0.1", "port": 0},
        {"address": "127.0.0.1", "port": 0, "proxy_protocol": True}])
    hp = haproxy(pp, send)
    try:
        fields, me = W.arun(who(hp.port))
        assert me[0] == CLIENT_ADDR, me
        # The client's own address and port, from the PROXY header.
        assert fields["remote"] == "%s:%d" % me, (fields, me)
        assert fields["tls"] == "0", fields
        m = d.wait_log(r'access %s:%d via (127\.0\.0\.1:\d+) "GET /who" '
                       r'101 ' % (re.escape(me[0]), me[1]))
        # The peer is HAProxy's side of its connection to wsd.
        assert m.group(1) != "%s:%d" % me
        # The plain listener of the same daemon: no header, no "via".
        fields, me = W.arun(who(plain))
        assert fields["remote"] == "%s:%d" % me, (fields, me)
        d.wait_log(r'access %s:%d "GET /who" 101 '
                   % (re.escape(me[0]), me[1]))
    except BaseException:
        print("haproxy said:\n" + hp.output())
        raise
    finally:
        hp.stop()


def test_haproxy_proxy_v2():
    """HAProxy with send-proxy-v2: wsd_remote_addr() and the access log
    name the client (address and port), the log shows HAProxy too."""
    _haproxy_case("send-proxy-v2")


def test_haproxy_proxy_v1():
    """The same with the text header (send-proxy)."""
    _haproxy_case("send-proxy")


def test_haproxy_v2_tls_passthrough():
    """HAProxy relays TLS untouched with a PROXY v2 header in front:
    the header is read before the TLS handshake, which then works."""
    import tlstest
    setup = tlstest.default_setup()
    d, (pp,) = start_wsd([{"address": "127.0.0.1", "port": 0,
                           "proxy_protocol": True, "tls": setup.group()}])
    hp = haproxy(pp, "send-proxy-v2")
    try:
        fields, me = W.arun(who(hp.port, ssl=setup.context()))
        assert fields["remote"] == "%s:%d" % me, (fields, me)
        assert fields["tls"] == "1", fields
        d.wait_log(r'access %s:%d via 127\.0\.0\.1:\d+ "GET /who" '
                   % (re.escape(me[0]), me[1]))
    except BaseException:
        print("haproxy said:\n" + hp.output())
        raise
    finally:
        hp.stop()


# ------------------------------------------------------------ headers by hand

def v2_header(src, sport, dst="127.0.0.1", dport=80, cmd=0x21, fam=0x11,
              tlvs=b""):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!HH", sport, dport) + tlvs
    if cmd == 0x20:
        body = b""
        fam = 0
    return V2SIG + bytes([cmd, fam]) + struct.pack("!H", len(body)) + body


def test_header_forms():
    """Headers made here: v1 TCP4 and TCP6, v2 with TLVs (an SSL TLV
    makes wsd_conn_tls() 1), v2 LOCAL and v1 UNKNOWN (the TCP peer is
    the client); bytes of the request in the same segment as the
    header are not lost."""
    d, (pp,) = start_wsd([{"address": "127.0.0.1", "port": 0,
                           "proxy_protocol": True}])
    cases = [
        (b"PROXY TCP4 203.0.113.7 127.0.0.1 4711 80\r\n",
         "203.0.113.7:4711", "0"),
        (b"PROXY TCP6 2001:db8::7 ::1 4712 80\r\n",
         "[2001:db8::7]:4712", "0"),
        (v2_header("198.51.100.3", 4713, tlvs=b"\x04\x00\x02xy" +
                   b"\x20\x00\x05\x01\x00\x00\x00\x00"),
         "198.51.100.3:4713", "1"),
        (v2_header("0.0.0.0", 0, cmd=0x20), None, "0"),
        (b"PROXY UNKNOWN\r\n", None, "0"),
    ]
    for header, remote, tls in cases:
        with W.RawClient(pp, tls=False) as c:
            c.key = W.new_key()
            # The header and the request in one send.
            c.send(header + c.upgrade_request("/who"))
            r = c.read_response()
            assert r.status == 101, (header, r)
            f = c.read_frame()
            fields = dict(x.split("=", 1) for x in
                          f.payload.decode().split(" "))
            want = remote or "127.0.0.1:%d" % c.local_port
            assert fields["remote"] == want, (header, fields)
            assert fields["tls"] == tls, (header, fields)
    assert d.alive()


def test_json_access_line():
    """With access_log format json, the line of a proxied connection has
    the client as "remote" and the proxy as "peer", and "tls" is
    "proxy" when the proxy says the client used TLS; without a proxy
    there is no "peer"."""
    import json
    d, (pp, plain) = start_wsd([
        {"address": "127.0.0.1", "port": 0, "proxy_protocol": True},
        {"address": "127.0.0.1", "port": 0}],
        extra={"access_log": {"format": "json"}})
    with W.RawClient(pp, tls=False) as c:
        c.send(b"PROXY TCP4 203.0.113.7 127.0.0.1 4711 80\r\n")
        c.handshake("/who")
        c.read_frame()
        me = c.local_port
    m = d.wait_log(r'\{"time".*"remote":"203\.0\.113\.7:4711".*\}')
    rec = json.loads(m.group(0))
    assert rec["peer"] == "127.0.0.1:%d" % me, rec
    assert rec["status"] == 101, rec
    assert rec["tls"] is None, rec
    # The proxy says the client came over TLS (v2, an SSL TLV).
    with W.RawClient(pp, tls=False) as c:
        c.send(v2_header("198.51.100.3", 4713,
                         tlvs=b"\x20\x00\x05\x01\x00\x00\x00\x00"))
        c.handshake("/who")
        c.read_frame()
    m = d.wait_log(r'\{"time".*"remote":"198\.51\.100\.3:4713".*\}')
    rec = json.loads(m.group(0))
    assert rec["tls"] == "proxy", rec
    with W.RawClient(plain, tls=False) as c:
        c.handshake("/who")
        c.read_frame()
        me = c.local_port
    m = d.wait_log(r'\{"time".*"remote":"127\.0\.0\.1:%d".*\}' % me)
    rec = json.loads(m.group(0))
    assert "peer" not in rec, rec


def test_refused_without_header():
    """On a proxy_protocol listener: a plain HTTP request, a garbage
    header, a header split across writes but never finished (the
    handshake timeout), and a TLS ClientHello are closed without an
    HTTP answer, while a valid one that comes slowly, byte by byte, and
    the plain listener of the same daemon are served.  The refusals
    are counted and logged, at most once a second."""
    d, (plain, pp) = start_wsd([
        {"address": "127.0.0.1", "port": 0},
        {"address": "127.0.0.1", "port": 0, "proxy_protocol": True}],
        limits={"handshake_timeout": 1.5}, extra={"metrics": {"port": 0}})
    mport = int(d.wait_log(r"metrics: GET /metrics on 127\.0\.0\.1:(\d+)")
                .group(1))
    mark = d.mark()
    t0 = time.monotonic()
    # A slow header that never ends.
    slow = W.RawClient(pp, tls=False)
    slow.send(b"PROXY TCP4 192.0.2")
    # A valid header, one byte at a time, while the slow one waits.
    hdr = b"PROXY TCP4 192.0.2.77 127.0.0.1 5000 80\r\n"
    with W.RawClient(pp, tls=False) as c:
        for b in hdr:
            c.send(bytes([b]))
            time.sleep(0.005)
        r = c.handshake("/who")
        assert r.status == 101
        assert b"remote=192.0.2.77:5000 " in c.read_frame().payload
    fields, me = W.arun(who(plain))
    assert fields["remote"] == "%s:%d" % me, fields
    refused = 0
    for junk in [None,
                 b"PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n",
                 b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
                 b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
                 V2SIG + b"\x21\x11\xff\xff"]:
        with W.RawClient(pp, tls=False) as c:
            c.key = W.new_key()
            c.send((junk or b"") + c.upgrade_request("/who"))
            data = c.read_until_eof(5)
            assert data == b"", (junk, data)
        refused += 1
    # The slow one goes at the handshake timeout, without an answer.
    assert slow.read_until_eof(10) == b""
    slow.close()
    refused += 1
    elapsed = time.monotonic() - t0
    d.wait_log(r"refused \d+ connection\(s\) on a proxy_protocol listener",
               start=mark)
    # Wait until the last refusal is counted (it is the timed-out one).
    d.wait_log(r"conn \d+ 127\.0\.0\.1:\d+: refused: no complete PROXY",
               start=mark)
    notes = [int(m.group(1)) for m in
             (re.search(r"refused (\d+) connection\(s\) on a proxy_protocol",
                        l) for l in d.lines[mark:]) if m]
    # Said at most once a second, never more refusals than there were.
    assert 1 <= len(notes) <= 1 + int(elapsed), (notes, elapsed)
    assert sum(notes) <= refused, (notes, refused)
    # And counted for Prometheus.
    r, body = W.http_request(mport, "GET", "/metrics")
    assert r.status == 200, r
    m = re.search(r'^wsd_connections_refused_total\{reason="proxy_header"\} '
                  r'(\d+)$', body.decode(), re.M)
    assert m and int(m.group(1)) == refused, (m, refused)
    # None of them got an access line: there was no HTTP.  (The valid
    # ones did, with 101.)
    assert not [l for l in d.lines[mark:] if " access " in l and
                '" 101 ' not in l], d.tail()
    W.arun(who(plain))
    assert d.alive()


def test_pending_limit_counts_the_client():
    """max_pending_per_address counts the client a PROXY header names,
    not the proxy: with a limit of 1, a second pending connection of
    192.0.2.9 is refused with 503 while one of 192.0.2.10 is served,
    though all three come from 127.0.0.1."""
    d, (pp,) = start_wsd([{"address": "127.0.0.1", "port": 0,
                           "proxy_protocol": True}],
                         limits={"max_pending_per_address": 1})
    held = W.RawClient(pp, tls=False)
    try:
        held.send(b"PROXY TCP4 192.0.2.9 127.0.0.1 1000 80\r\nGET /wh")
        d.wait_log(r"the client is 192\.0\.2\.9:1000")
        with W.RawClient(pp, tls=False) as c:
            c.key = W.new_key()
            c.send(b"PROXY TCP4 192.0.2.9 127.0.0.1 1001 80\r\n" +
                   c.upgrade_request("/who"))
            r = c.read_response()
            assert r.status == 503, r
        d.wait_log(r"max_pending_per_address 1\), last 192\.0\.2\.9:1001")
        with W.RawClient(pp, tls=False) as c:
            c.send(b"PROXY TCP4 192.0.2.10 127.0.0.1 1002 80\r\n")
            r = c.handshake("/who")
            assert b"remote=192.0.2.10:1002 " in c.read_frame().payload
    finally:
        held.close()


def test_trusted_proxy_is_not_limited():
    """A trusted proxy's own connections do not count against its
    address: with max_pending_per_address 1, two connections from
    127.0.0.1 in their HTTP phase at once are both served on a listener
    that trusts it, while an untrusting listener refuses the second."""
    d, (plain, trusting) = start_wsd([
        {"address": "127.0.0.1", "port": 0},
        {"address": "127.0.0.1", "port": 0,
         "trusted_proxies": ["127.0.0.1"]}],
        limits={"max_pending_per_address": 1})
    for port, expect in ((trusting, 101), (plain, 503)):
        held = W.RawClient(port, tls=False)
        try:
            held.send(b"GET /who HTTP/1.1\r\n")
            time.sleep(0.2)
            with W.RawClient(port, tls=False) as c:
                r = c.handshake("/who", expect=None)
                assert r.status == expect, (port, r)
        finally:
            held.close()


# ------------------------------------------------------------ nginx

def test_nginx_forwarded_for():
    """nginx with X-Forwarded-For, -Proto and -Host in front of a
    listener that trusts 127.0.0.1: the client (127.0.0.2) is seen, the
    access log shows nginx too; X-Forwarded-Proto https makes
    wsd_conn_tls() 1; a forged X-Forwarded-For the client sent through
    nginx is not believed (the rightmost untrusted address wins); and
    the same-host origin check passes on the Host the client asked
    nginx for, though nginx rewrote Host."""
    d, (trusting, plain) = start_wsd([
        {"address": "127.0.0.1", "port": 0,
         "trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]},
        {"address": "127.0.0.1", "port": 0}])
    ng = nginx({"/who": (trusting, "/who", "$scheme"),
                "/secure": (trusting, "/who", "https"),
                "/same": (trusting, "/same", "$scheme"),
                "/untrusted": (plain, "/who", "$scheme"),
                "/untrusted-same": (plain, "/same", "$scheme")})
    try:
        fields, me = W.arun(who(ng.port))
        assert me[0] == CLIENT_ADDR, me
        # X-Forwarded-For carries no port: wsd says 0.
        assert fields["remote"] == "%s:0" % CLIENT_ADDR, fields
        assert fields["tls"] == "0", fields
        # wsd leaves the Host header as nginx sent it.
        assert fields["host"] == "backend.internal", fields
        d.wait_log(r'access %s:0 via 127\.0\.0\.1:\d+ "GET /who" 101 '
                   % re.escape(CLIENT_ADDR))

        fields, _ = W.arun(who(ng.port, "/secure"))
        assert fields["remote"] == "%s:0" % CLIENT_ADDR, fields
        assert fields["tls"] == "1", fields

        # The client forges X-Forwarded-For; nginx appends the truth.
        fields, _ = W.arun(who(ng.port, extra_headers=[
            ("X-Forwarded-For", "198.51.100.66, 10.1.1.1")]))
        assert fields["remote"] == "%s:0" % CLIENT_ADDR, fields

        # Same-host origin: the Origin matches the Host the client asked
        # nginx for (X-Forwarded-Host), not nginx's rewritten one.
        origin = "http://127.0.0.1:%d" % ng.port
        fields, _ = W.arun(who(ng.port, "/same", origin=origin))
        assert fields["remote"] == "%s:0" % CLIENT_ADDR, fields
        # Another origin is still refused.
        _expect_refused(ng.port, "/same", "http://evil.example", 403)

        # A listener that does not trust nginx: none of it is believed,
        # so the rewritten Host fails the same-host check.
        fields, _ = W.arun(who(ng.port, "/untrusted"))
        assert re.fullmatch(r"127\.0\.0\.1:\d+", fields["remote"]), fields
        _expect_refused(ng.port, "/untrusted-same", origin, 403)
    except BaseException:
        print("nginx said:\n" + ng.output())
        raise
    finally:
        ng.stop()


def _expect_refused(port, path, origin, status):
    import websockets

    async def go():
        try:
            async with websockets.connect(
                    "ws://127.0.0.1:%d%s" % (port, path), origin=origin,
                    open_timeout=W.T(10), local_addr=(CLIENT_ADDR, 0)):
                pass
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code
        return 101
    got = W.arun(go())
    assert got == status, "%s with Origin %s: %s" % (path, origin, got)


def test_forged_forwarded_for_direct():
    """A client that talks to wsd directly and sends X-Forwarded-For,
    -Proto and -Host: believed by nobody that does not trust its
    address.  From 127.0.0.2 to a listener trusting only 127.0.0.1 the
    headers change nothing (and the same-host check uses Host); from
    127.0.0.1 they are believed."""
    d, (trusting,) = start_wsd([{"address": "127.0.0.1", "port": 0,
                                 "trusted_proxies": ["127.0.0.1"]}])
    forged = [("X-Forwarded-For", "198.51.100.66"),
              ("X-Forwarded-Proto", "https"),
              ("X-Forwarded-Host", "evil.example")]
    fields, me = W.arun(who(trusting, extra_headers=forged))
    assert fields["remote"] == "%s:%d" % me, fields
    assert fields["tls"] == "0", fields
    assert not d.find_log(r"access 198\.51\.100\.66")
    # Same-host: the forged X-Forwarded-Host is not used.
    fields, me = W.arun(who(trusting, "/same", extra_headers=forged[2:],
                            origin="http://127.0.0.1:%d" % trusting))
    assert fields["remote"] == "%s:%d" % me, fields
    # From the trusted address the same headers are believed.
    fields, me = W.arun(who(trusting, local="127.0.0.1",
                            extra_headers=forged))
    assert fields["remote"] == "198.51.100.66:0", fields
    assert fields["tls"] == "1", fields
    d.wait_log(r'access 198\.51\.100\.66:0 via 127\.0\.0\.1:%d "GET /who'
               % me[1])


def wait_accepted(lport, cport, timeout=10):
    """Wait until wsd has accept()ed the connection from 127.0.0.1:cport
    to its port lport: /proc/net/tcp shows the server side of a
    connection still in the accept queue with inode 0."""
    want_l = "0100007F:%04X" % lport
    want_r = "0100007F:%04X" % cport
    deadline = time.monotonic() + W.T(timeout)
    while True:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                x = line.split()
                if x[1] == want_l and x[2] == want_r and x[9] != "0":
                    return
        if time.monotonic() > deadline:
            raise AssertionError("connection from port %d not accepted"
                                 % cport)
        time.sleep(0.01)


def test_reload():
    """A reload changes whom a listener trusts for new connections; a
    connection accepted before it, whose request head comes after, is
    judged by the configuration it was accepted under (which it keeps
    alive until then: a sanitizer build would see it used after free
    otherwise)."""
    def settings(trusted):
        return W.make_config(
            routes=[W.route("/who", "whoami")],
            plugin_dir=W.TEST_PLUGIN_DIR,
            listen=[{"address": "127.0.0.1", "port": 0,
                     "trusted_proxies": trusted}])
    conf = W.write_config(settings(["127.0.0.1"]))
    d = W.Daemon(conf)
    port = d.listen_ports(1)[0]
    d.wait_log(W.READY_RE.pattern)
    early = W.RawClient(port, tls=False)
    try:
        early.send(b"GET /who HTTP/1.1\r\n")
        wait_accepted(port, early.local_port)
        W.write_file(conf, W.config_text(settings([])))
        mark = d.mark()
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reloaded: \d+ route", 10, mark)
        early.key = W.new_key()
        rest = early.upgrade_request("/who", extra=[
            ("X-Forwarded-For", "198.51.100.1")])
        early.send(rest.split(b"\r\n", 1)[1])
        r = early.read_response()
        assert r.status == 101, r
        assert b"remote=198.51.100.1:0 " in early.read_frame().payload
    finally:
        early.close()
    fields, me = W.arun(who(port, local="127.0.0.1", extra_headers=[
        ("X-Forwarded-For", "198.51.100.2")]))
    assert fields["remote"] == "127.0.0.1:%d" % me[1], fields


def test_config_errors():
    """wsd -t names the file and line of a bad trusted_proxies entry or
    proxy_protocol value, with the likely meaning of a CIDR typo."""
    conf = W.write_config(text="""\
plugin_dir = "%s";
trusted_proxies = [ "10.0.0.1/8" ];
listen = ( { address = "127.0.0.1"; port = 0;
             proxy_protocol = "yes";
             trusted_proxies = ( "127.0.0.1", "not-an-address", 5 ); } );
routes = ( { path = "/who"; plugin = "whoami"; } );
""" % W.TEST_PLUGIN_DIR)
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 1, r
    err = r.stderr
    assert re.search(r"wsd\.conf:2: trusted_proxies: '10\.0\.0\.1/8' has "
                     r"bits set past its prefix \(did you mean "
                     r"'10\.0\.0\.0/8'\?\)", err), err
    assert re.search(r"wsd\.conf:4: 'proxy_protocol' must be true or false",
                     err), err
    assert re.search(r"wsd\.conf:5: trusted_proxies: 'not-an-address' is "
                     r"not an IPv4 or IPv6 address", err), err
    assert re.search(r"wsd\.conf:5: 'trusted_proxies' entries must be "
                     r"strings", err), err
    good = W.write_config(text="""\
plugin_dir = "%s";
trusted_proxies = [ "10.0.0.0/8", "::1" ];
listen = ( { address = "127.0.0.1"; port = 0; proxy_protocol = true; },
           { address = "127.0.0.1"; port = 1; trusted_proxies = [ ]; } );
routes = ( { path = "/who"; plugin = "whoami"; } );
""" % W.TEST_PLUGIN_DIR)
    r = W.run_wsd(["-t", "-c", good])
    assert r.returncode == 0, r


TESTS = [
    test_config_errors,
    test_header_forms,
    test_json_access_line,
    test_refused_without_header,
    test_pending_limit_counts_the_client,
    test_trusted_proxy_is_not_limited,
    test_forged_forwarded_for_direct,
    test_reload,
    test_haproxy_proxy_v2,
    test_haproxy_proxy_v1,
    test_haproxy_v2_tls_passthrough,
    test_nginx_forwarded_for,
]

if __name__ == "__main__":
    W.run(TESTS)
