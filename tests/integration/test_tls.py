"""TLS listeners (wss): certificates chosen by SNI, client certificates
and what the plugin sees of them, certificate renewal on SIGHUP, wsd -t
on bad certificates, session tickets, plain and TLS listeners side by
side, and hostile clients (TLS slowloris, garbage, never-reading
clients, 2,000 concurrent handshakes).

Certificates are made at run time with the openssl tool (tlstest.py);
the route /info runs tests/plugins/tlsinfo.c, which says on open
"tls=0|1 subject=SUBJECT|- worker=N" and then echoes.
"""

import datetime
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402
import tlstest as tt  # noqa: E402

KIB = 1024
MIB = 1024 * 1024
INFO_RE = re.compile(r"^tls=([01]) subject=(.*) worker=(-?\d+)$")
NOW = datetime.datetime.now(datetime.timezone.utc)


def _raise_nofile():
    """Thousands of client sockets: raise our soft descriptor limit (the
    daemon, our child, inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass


_raise_nofile()


def _sanitized():
    try:
        with open(W.WSD, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# ASan's redzones and shadow inflate the RSS, and its checks slow wsd's
# own code (OpenSSL's is not instrumented) where a bound depends on how
# much of it runs: a well-behaved client queued behind 2,000 handshakes.
MEM_FACTOR = 4 if _sanitized() else 1
CPU_FACTOR = 3 if _sanitized() else 1


# ------------------------------------------------------------ set-up

_pki = None


def pki():
    """The server CA of this file (root + intermediate), made once."""
    global _pki
    if _pki is None:
        _pki = tt.PKI("wsd test")
    return _pki


def info_route(**kw):
    return W.route("/info", "tlsinfo", **kw)


def config(tls, limits=None, extra=None, listen=None, directory=None):
    return W.write_config(directory=directory, plugin_dir=W.TEST_PLUGIN_DIR,
                          routes=[info_route()], tls=tls, limits=limits,
                          extra=extra, listen=listen)


def start(tls, **kw):
    return W.start_daemon(config(tls, **kw))


class Info:
    """A RawClient on /info and what tlsinfo said on open."""

    def __init__(self, c, text):
        self.c = c
        m = INFO_RE.match(text)
        assert m, "tlsinfo said %r" % text
        self.tls = m.group(1) == "1"
        self.subject = None if m.group(2) == "-" else m.group(2)
        self.worker = int(m.group(3))

    def echo(self, text="ping"):
        self.c.send_text(text)
        got = self.c.read_message()
        assert got == (W.OP_TEXT, text.encode()), got

    def close(self):
        self.c.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def open_info(port, ctx=None, **kw):
    """Connect (TLS with ctx, plain with ctx=False), open /info, read
    tlsinfo's first message."""
    c = W.RawClient(port, tls=ctx if ctx is not None else False, **kw)
    try:
        c.handshake("/info")
        op, data = c.read_message()
        assert op == W.OP_TEXT, (op, data)
        return Info(c, data.decode())
    except BaseException:
        c.close()
        raise


def refused(port, ctx, what):
    """ctx's client does not get a WebSocket: its TLS handshake fails, or
    the connection ends before any HTTP response (in TLS 1.3 the server
    judges the client's certificate after the client has finished its
    side of the handshake).  A timeout is not a refusal.  Returns how it
    ended."""
    try:
        c = W.RawClient(port, tls=ctx)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
        return "TLS handshake failed: %s" % e
    try:
        c.send(c.upgrade_request("/info"))
        try:
            r = c.read_response(timeout=10)
        except AssertionError as e:
            assert "EOF" in str(e), "%s: %s" % (what, e)
            return "closed after the TLS handshake (%s)" % (
                c.tls_error or "no alert")
        raise AssertionError("%s: accepted, %r" % (what, r))
    finally:
        c.close()


def reload(d, ok=True, timeout=20):
    """SIGHUP and wait for the master to say it reloaded (or failed)."""
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    if ok:
        d.wait_log(r"notice: reloaded:", timeout, start=mark)
    else:
        d.wait_log(r"reload failed", timeout, start=mark)
    return mark


def install(cert, directory, name="server"):
    """Copy cert and key to directory/NAME.pem and NAME.key the way
    certbot renews: new files renamed over the old ones."""
    for src, suffix in ((cert.fullchain, ".pem"), (cert.key, ".key")):
        dst = os.path.join(directory, name + suffix)
        shutil.copyfile(src, dst + ".new")
        os.chmod(dst + ".new", 0o600)
        os.rename(dst + ".new", dst)
    return (os.path.join(directory, name + ".pem"),
            os.path.join(directory, name + ".key"))


def free_ports(n):
    """n ports free on 127.0.0.1 right now (all held at once while
    chosen, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def client_hello(server_hostname="localhost"):
    """The bytes of a real ClientHello (Python's), never sent by a
    client that finishes."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inc, out, server_hostname=server_hostname)
    try:
        o.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    assert hello[:1] == b"\x16" and len(hello) > 100, hello[:20]
    return hello


def upgrade_head(port, path="/info"):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (path, port, W.new_key())).encode()


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for pid %d" % pid)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def ms(x):
    return "%.0fms" % (x * 1000)


# ------------------------------------------------------------ the probe

PROBE_SRC = r'''
import asyncio, json, ssl, sys, time
import websockets

port, cafile = int(sys.argv[1]), sys.argv[2]


async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    t0 = time.monotonic()
    async with websockets.connect("wss://127.0.0.1:%d/info" % port, ssl=ctx,
                                  max_size=None, ping_interval=None,
                                  compression=None, open_timeout=60,
                                  close_timeout=5) as ws:
        res = {"open": time.monotonic() - t0}
        hello = await asyncio.wait_for(ws.recv(), 60)
        assert hello.startswith("tls=1 "), hello
        await ws.send("probe one")
        got = await asyncio.wait_for(ws.recv(), 60)
        res["echo"] = time.monotonic() - t0
        assert got == "probe one", got
    print(json.dumps(res), flush=True)

asyncio.run(main())
'''


class Probe:
    """A well-behaved wss client in a process of its own (so that this
    one's busy loop does not slow it down): connect to /info, verify the
    server's certificate against the test CA, echo one message."""

    def __init__(self, port):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROBE_SRC, str(port), pki().root],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, universal_newlines=True)

    def done(self):
        return self.proc.poll() is not None

    def check(self, bound, timeout=60):
        """Its result, asserting it echoed within T(bound) of starting."""
        try:
            out, err = self.proc.communicate(timeout=W.T(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError("well-behaved client not done after %ss"
                                 "\n%s%s" % (W.T(timeout), out, err))
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if self.proc.returncode != 0 or not lines:
            raise AssertionError("well-behaved client failed (exit %s):\n%s"
                                 "%s" % (self.proc.returncode, out,
                                         err[-3000:]))
        r = json.loads(lines[-1])
        assert r["echo"] <= W.T(bound), \
            "well-behaved client: connect + echo took %.3fs (bound %.1fs)" \
            % (r["echo"], W.T(bound))
        return r

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def probe_now(port, bound=1.0):
    p = Probe(port)
    try:
        return p.check(bound)
    finally:
        p.kill()


# ------------------------------------------------------------ SNI

def test_sni_picks_certificate():
    """Three certificates on one listener: the client's server name picks
    the one whose DNS names match (wildcards too); no name, or a name
    none matches, gets the first."""
    p = pki()
    default = p.leaf("default", dns=["localhost"], ips=["127.0.0.1"],
                     serial=0xA001)
    b = p.leaf("b", dns=["b.test", "*.wild.test"], ips=[], serial=0xB002)
    c = p.leaf("c", dns=["c.test"], ips=[], serial=0xC003)
    d = start(tt.tls_group(default, sni=[
        {"certificate": b.fullchain, "key": b.key},
        {"certificate": c.fullchain, "key": c.key}]))
    try:
        strict = p.context()
        for name, want in (("b.test", b), ("x.wild.test", b),
                           ("c.test", c), ("localhost", default),
                           ("127.0.0.1", default)):
            with open_info(d.port, strict, server_hostname=name) as i:
                got = tt.serial_of(i.c.sock)
                assert got == want.serial, \
                    "server name %s: certificate serial %#x, wanted %#x " \
                    "(%s)" % (name, got, want.serial, want.name)
                assert i.tls and i.subject is None, vars(i)
                i.echo("over " + name)
        # Names no certificate has: the default one (which then does not
        # match the name; this client does not check it).
        loose = p.context(check_hostname=False)
        for name in ("other.test", "b.test.evil", "wild.test"):
            with open_info(d.port, loose, server_hostname=name) as i:
                got = tt.serial_of(i.c.sock)
                assert got == default.serial, \
                    "server name %s: serial %#x, wanted the default %#x" % (
                        name, got, default.serial)
        # and a checking client refuses it, as it should
        try:
            W.RawClient(d.port, tls=strict, server_hostname="other.test")
            raise AssertionError("a certificate for other.test was sent")
        except ssl.SSLCertVerificationError:
            pass
    finally:
        d.kill()


# ------------------------------------------------------------ client certs

_clients = None


def client_pkis():
    """A client CA with alice and bob, and a rogue CA with mallory."""
    global _clients
    if _clients is None:
        ca = tt.PKI("wsd clients", intermediate=False)
        rogue = tt.PKI("rogue", intermediate=False)
        _clients = {
            "ca": ca,
            "alice": ca.leaf("alice", client=True, dns=(), ips=()),
            "bob": ca.leaf("bob", client=True, dns=(), ips=(),
                           org="wsd, clients"),
            "mallory": rogue.leaf("mallory", client=True, dns=(), ips=()),
            # signed by the right CA's name but not its key: the server
            # CA's intermediate, which is not the client CA
            "server-ca-client": pki().leaf("eve", client=True, dns=(),
                                           ips=()),
        }
    return _clients


def client_cert_config(mode):
    cl = client_pkis()
    server = pki().leaf("server", dns=["localhost"], ips=["127.0.0.1"])
    return tt.tls_group(server, client_ca=cl["ca"].root, verify_client=mode)


def test_client_cert_optional():
    """verify_client optional: a certificate signed by client_ca is
    verified and its subject (RFC 2253) reaches the plugin; no
    certificate is fine (no subject); one from another CA never yields a
    subject."""
    cl = client_pkis()
    d = start(client_cert_config("optional"))
    try:
        with open_info(d.port, pki().context(cert=cl["alice"])) as i:
            assert i.tls, vars(i)
            assert i.subject == "CN=alice,O=wsd clients", i.subject
            i.echo("from alice")
        with open_info(d.port, pki().context(cert=cl["bob"])) as i:
            # a comma in a value is escaped the RFC 2253 way
            assert i.subject == "CN=bob,O=wsd\\, clients", i.subject
        with open_info(d.port, pki().context()) as i:
            assert i.tls and i.subject is None, vars(i)
            i.echo("anonymous")
        for who in ("mallory", "server-ca-client"):
            ctx = pki().context(cert=cl[who])
            try:
                i = open_info(d.port, ctx)
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError,
                    AssertionError) as e:
                print("    %s refused: %s" % (who, str(e).splitlines()[0]))
                continue
            with i:
                assert i.subject is None, \
                    "%s's certificate from another CA gave subject %r" % (
                        who, i.subject)
        assert d.alive()
    finally:
        d.kill()


def test_client_cert_required():
    """verify_client required: no certificate, or one from another CA,
    is refused; the right one is accepted; the daemon keeps serving."""
    cl = client_pkis()
    d = start(client_cert_config("required"))
    try:
        for what, ctx in (
                ("no certificate", pki().context()),
                ("mallory (rogue CA)", pki().context(cert=cl["mallory"])),
                ("eve (server CA)",
                 pki().context(cert=cl["server-ca-client"])),
                ("no certificate, TLS 1.2",
                 pki().context(max_version=ssl.TLSVersion.TLSv1_2)),
                ("mallory, TLS 1.2",
                 pki().context(cert=cl["mallory"],
                               max_version=ssl.TLSVersion.TLSv1_2))):
            how = refused(d.port, ctx, what)
            print("    %s: %s" % (what, how))
        for ver in (None, ssl.TLSVersion.TLSv1_2):
            ctx = pki().context(cert=cl["alice"], max_version=ver)
            with open_info(d.port, ctx) as i:
                assert i.subject == "CN=alice,O=wsd clients", i.subject
                i.echo()
        assert d.alive()
    finally:
        d.kill()


def test_plain_listener_has_no_tls():
    d = W.start_daemon(W.write_config(plugin_dir=W.TEST_PLUGIN_DIR,
                                      routes=[info_route()], tls=False))
    try:
        with open_info(d.port, False) as i:
            assert not i.tls and i.subject is None, vars(i)
    finally:
        d.kill()


# ------------------------------------------------------------ plain + TLS

def test_plain_and_tls_listeners_side_by_side():
    """:P plain and :Q TLS in one daemon: each speaks what it should,
    the wrong protocol on either is refused, both keep serving."""
    p = pki()
    server = p.leaf("server", dns=["localhost"], ips=["127.0.0.1"])
    for attempt in range(5):
        plain, tls = free_ports(2)
        conf = config(None, listen=[
            {"address": "127.0.0.1", "port": plain},
            {"address": "127.0.0.1", "port": tls,
             "tls": tt.tls_group(server)}])
        d = W.Daemon(conf, port_override=False)
        try:
            d.wait_listening()
            break
        except AssertionError:
            d.kill()
            if not d.find_log(r"[Aa]ddress already in use"):
                raise
    else:
        raise AssertionError("no two free ports in 5 tries")
    try:
        assert d.listen_ports(2) == [plain, tls], d.tail()
        with open_info(plain, False) as a, open_info(tls, p.context()) as b:
            assert not a.tls and a.subject is None, vars(a)
            assert b.tls and b.subject is None, vars(b)
            a.echo("plain")
            b.echo("tls")
        # a TLS client on the plain port: no TLS server answers it
        try:
            W.RawClient(plain, tls=p.context())
            raise AssertionError("TLS handshake succeeded on the plain "
                                 "port")
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            pass
        # plain HTTP on the TLS port: a plain-text 400, then the close
        with W.RawClient(tls, tls=False) as c:
            c.send(c.upgrade_request("/info"))
            W.expect_http_error(c, 400)
        with open_info(plain, False) as a, open_info(tls, p.context()) as b:
            a.echo()
            b.echo()
        # the websockets library, both schemes
        async def go():
            import websockets
            async with websockets.connect(
                    "ws://127.0.0.1:%d/info" % plain) as ws:
                assert (await W.recv(ws)).startswith("tls=0 ")
            async with websockets.connect(
                    "wss://127.0.0.1:%d/info" % tls, ssl=p.context()) as ws:
                assert (await W.recv(ws)).startswith("tls=1 ")
                await W.echo(ws, "wss via websockets")
        W.arun(go())
    finally:
        d.kill()


def test_plain_http_on_tls_port_gets_400():
    """Plain HTTP on a TLS port: an HTTP/1.1 400 in plain text, then the
    server closes; a request line that never ends is closed too."""
    d = start(tt.tls_group(pki().leaf("server")),
              limits={"handshake_timeout": 2})
    try:
        for req in (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n",
                    b"POST /x HTTP/1.0\r\n\r\n"):
            with W.RawClient(d.port, tls=False) as c:
                c.send(req)
                data = c.read_until_eof(timeout=5)
                assert data.startswith(b"HTTP/1.1 400"), \
                    "sent %r, got %r" % (req[:30], data[:200])
                head = data.split(b"\r\n\r\n", 1)[0].lower()
                assert b"connection: close" in head, data[:300]
        with W.RawClient(d.port, tls=False) as c:
            c.send(b"GET / HT")
            c.read_until_eof(timeout=8)
        assert d.alive()
        with open_info(d.port, pki().context()) as i:
            i.echo()
    finally:
        d.kill()


# ------------------------------------------------------------ reload

def test_reload_renewed_certificate():
    """Certificate and key renewed in place, then SIGHUP: new connections
    get the new certificate (serial), a connection opened before keeps
    echoing on the old one."""
    p = pki()
    top = W.tmpdir()
    old = p.leaf("server", serial=0x0111)
    cert, key = install(old, top)
    d = start(tt.tls_group(old, certificate="server.pem", key="server.key"),
              directory=top)
    ctx = p.context()
    try:
        before = open_info(d.port, ctx)
        try:
            assert tt.serial_of(before.c.sock) == 0x0111
            new = p.leaf("server", serial=0x0222)     # a new key as well
            install(new, top)
            reload(d)
            for _ in range(4):      # whichever worker serves it
                with open_info(d.port, ctx) as i:
                    got = tt.serial_of(i.c.sock)
                    assert got == 0x0222, "serial %#x after the reload" % got
                    i.echo("new certificate")
            for k in range(3):
                before.echo("still here %d" % k)
            assert tt.serial_of(before.c.sock) == 0x0111
            before.c.send_close(1000)
            before.c.expect_close(1000, reply=False)
        finally:
            before.close()
        # a renewal that keeps its key (certbot --reuse-key)
        install(p.leaf("server", serial=0x0333, key=_copy(key)), top)
        reload(d)
        with open_info(d.port, ctx) as i:
            assert tt.serial_of(i.c.sock) == 0x0333
    finally:
        d.kill()


def _copy(path):
    dst = path + ".copy"
    shutil.copyfile(path, dst)
    return dst


def test_reload_with_mismatched_key_keeps_old_certificate():
    """A renewal half done (the new certificate, the old key): the reload
    fails as a whole, the log says why, the old certificate stays; once
    the key is there too, the next reload takes both."""
    p = pki()
    top = W.tmpdir()
    old = p.leaf("server", serial=0x0AAA)
    install(old, top)
    d = start(tt.tls_group(old, certificate="server.pem", key="server.key"),
              directory=top)
    ctx = p.context()
    try:
        before = open_info(d.port, ctx)
        try:
            new = p.leaf("server", serial=0x0BBB)
            shutil.copyfile(new.fullchain, os.path.join(top, "server.pem"))
            mark = reload(d, ok=False)
            m = d.find_log(r"server\.key.*(does not match|mismatch)|"
                           r"(does not match|mismatch).*server\.pem",
                           start=mark)
            assert m, "the log does not say the key does not match:\n%s" \
                % d.tail(20)
            assert d.alive()
            for _ in range(4):
                with open_info(d.port, ctx) as i:
                    got = tt.serial_of(i.c.sock)
                    assert got == 0x0AAA, \
                        "serial %#x after a failed reload" % got
                    i.echo()
            before.echo("still here")
            # the key arrives: now it works
            shutil.copyfile(new.key, os.path.join(top, "server.key"))
            reload(d)
            with open_info(d.port, ctx) as i:
                assert tt.serial_of(i.c.sock) == 0x0BBB
            before.echo("and still here")
        finally:
            before.close()
        # a certificate that expired meanwhile is refused the same way
        install(p.leaf("server", not_before=NOW - datetime.timedelta(days=9),
                       not_after=NOW - datetime.timedelta(days=1)), top)
        mark = reload(d, ok=False)
        assert d.find_log(r"expired", start=mark), d.tail(20)
        with open_info(d.port, ctx) as i:
            assert tt.serial_of(i.c.sock) == 0x0BBB
    finally:
        d.kill()


# ------------------------------------------------------------ wsd -t

def check_config(top, certs):
    """A config whose one TLS listener has certs[0] and the others under
    sni; the config's path, and each certificate line's number."""
    g = {"certificate": certs[0][0], "key": certs[0][1]}
    if len(certs) > 1:
        g["sni"] = [{"certificate": c, "key": k} for c, k in certs[1:]]
    conf = config(g, directory=top)
    with open(conf) as f:
        lines = [i for i, l in enumerate(f, 1)
                 if re.match(r"\s*certificate = ", l)]
    assert len(lines) == len(certs), lines
    return conf, lines


def lines_at(r, conf, line):
    """stderr lines about conf at `line`, the certificate's, or the
    next one, its key's."""
    pat = re.escape(conf) + ":(%d|%d):" % (line, line + 1)
    return [l for l in r.stderr.splitlines() if re.search(pat, l)]


def test_ephemeral_ports_keep_each_listener_its_own_tls():
    """With -p 0 every listener gets an ephemeral port, so address and
    port cannot tell a plain entry from a TLS one on the same address:
    each socket keeps the entry it was opened for (the plain one once
    took the TLS entry's certificate), also across a reload."""
    p = pki()
    server = p.leaf("server", dns=["localhost"], ips=["127.0.0.1"])
    conf = config(None, listen=[
        {"address": "127.0.0.1", "port": 8888},
        {"address": "127.0.0.1", "port": 8443,
         "tls": tt.tls_group(server)}])
    d = W.start_daemon(conf)      # with -p 0
    try:
        plain, tls = d.listen_ports(2)
        for _ in range(2):
            with open_info(plain, False) as a, \
                    open_info(tls, p.context()) as b:
                assert not a.tls, vars(a)
                assert b.tls, vars(b)
                a.echo("plain")
                b.echo("tls")
            mark = d.mark()
            d.send_signal(signal.SIGHUP)
            d.wait_log(r"notice: reloaded: ", 20, mark)
    finally:
        d.kill()


def test_check_reports_bad_certificates():
    """wsd -t: an unreadable file, a key that does not match, an expired
    certificate are errors (exit 1) at FILE:LINE of the entry; each of
    several is reported."""
    p = pki()
    top = W.tmpdir()
    good = p.leaf("good")
    other = p.leaf("other")
    expired = p.leaf("expired", not_before=NOW - datetime.timedelta(days=30),
                     not_after=NOW - datetime.timedelta(days=2))
    missing = os.path.join(top, "missing.pem")
    cases = [
        ("unreadable certificate", (missing, good.key),
         ("cannot read", "No such file")),
        ("unreadable key", (good.fullchain, os.path.join(top, "nokey.pem")),
         ("cannot read",)),
        ("a directory", (top, good.key), ()),
        ("mismatched key", (good.fullchain, other.key),
         ("does not match",)),
        ("expired", (expired.fullchain, expired.key), ("expired",)),
        # OpenSSL's first error, not its last ("PEM lib")
        ("not PEM", (W.write_file(os.path.join(top, "junk.pem"),
                                  "not a certificate\n"), good.key),
         ("no start line",)),
    ]
    if os.geteuid() != 0:   # root reads a mode 000 file all the same
        locked = os.path.join(top, "locked.key")
        shutil.copyfile(good.key, locked)
        os.chmod(locked, 0)
        cases.append(("mode 000 key", (good.fullchain, locked),
                      ("cannot read", "Permission denied")))
    # one at a time, as the top-level certificate
    for label, pair, words in cases:
        conf, lines = check_config(W.tmpdir(), [pair])
        r = W.run_wsd(["-t", "-c", conf])
        out = r.stdout + r.stderr
        assert r.returncode == 1, "%s: exit %s\n%s" % (label, r.returncode,
                                                        out)
        got = lines_at(r, conf, lines[0])
        assert got, "%s: nothing reported at %s:%d\n%s" % (
            label, conf, lines[0], out)
        for w in words:
            assert any(w in l for l in got), "%s: no %r in %r" % (
                label, w, got)
        assert "configuration OK" not in out, out
    # all at once, as sni entries after a good one: each one reported
    conf, lines = check_config(top, [(good.fullchain, good.key)] +
                               [pair for _, pair, _ in cases])
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 1, r.stdout + r.stderr
    # the good one gets a warning at most (its CA is not the system's)
    assert all(re.search(r"warn", l, re.I) for l in
               lines_at(r, conf, lines[0])), \
        "the good certificate was reported:\n%s" % r.stderr
    for (label, _, _), line in zip(cases, lines[1:]):
        assert lines_at(r, conf, line), \
            "sni entry %s (line %d) not reported:\n%s" % (label, line,
                                                          r.stderr)


def test_check_warns_self_signed_and_expiring():
    """wsd -t: a self-signed certificate and one expiring within 14 days
    are warnings at FILE:LINE (exit 0); one good for 30 days is not
    said to expire."""
    p = pki()
    top = W.tmpdir()
    selfsigned = tt.self_signed(top)
    soon = p.leaf("soon", not_after=NOW + datetime.timedelta(days=5,
                                                              hours=2))
    fine = p.leaf("fine", days=30)
    conf, lines = check_config(top, [(selfsigned.cert, selfsigned.key),
                                     (soon.fullchain, soon.key),
                                     (fine.fullchain, fine.key)])
    r = W.run_wsd(["-t", "-c", conf])
    out = r.stdout + r.stderr
    assert r.returncode == 0, "exit %s\n%s" % (r.returncode, out)
    ss = lines_at(r, conf, lines[0])
    assert any("self-signed" in l for l in ss), \
        "no self-signed warning at line %d:\n%s" % (lines[0], out)
    assert all(re.search(r"warn", l, re.I) for l in ss), ss
    exp = lines_at(r, conf, lines[1])
    assert any(re.search(r"expires.*\b5 day", l) for l in exp), \
        "no 'expires ... 5 days' warning at line %d:\n%s" % (lines[1], out)
    assert all(re.search(r"warn", l, re.I) for l in exp), exp
    assert not any("expire" in l for l in lines_at(r, conf, lines[2])), out
    # and the daemon starts with them
    d = W.start_daemon(conf)
    try:
        ctx = tt.client_context(selfsigned.cert, check_hostname=True)
        with open_info(d.port, ctx) as i:
            assert tt.serial_of(i.c.sock) == selfsigned.serial
    finally:
        d.kill()


def test_check_bad_tls_settings():
    """wsd -t: verify_client without client_ca, an unknown min_protocol
    and a cipher list OpenSSL rejects are errors at their lines."""
    p = pki()
    good = p.leaf("good")
    for label, extra, word in (
            ("verify_client without client_ca", {"verify_client":
                                                "required"},
             "verify_client"),
            ("min_protocol", {"min_protocol": "SSLv3"}, "min_protocol"),
            ("ciphers", {"ciphers": "NO-SUCH-CIPHER"}, "NO-SUCH-CIPHER"),
            ("ciphersuites", {"ciphersuites": "TLS_NOPE"}, "TLS_NOPE")):
        conf = config(tt.tls_group(good, **extra))
        key = list(extra)[0]
        line = W.line_of(conf, key + " =")
        r = W.run_wsd(["-t", "-c", conf])
        out = r.stdout + r.stderr
        assert r.returncode == 1, "%s: exit %s\n%s" % (label, r.returncode,
                                                        out)
        got = lines_at(r, conf, line)
        assert got and any(word in l for l in got), \
            "%s: not reported at line %d:\n%s" % (label, line, out)


def test_min_protocol_tls13():
    """min_protocol TLSv1.3: a TLS 1.2-only client is refused, a 1.3 one
    served; the default takes TLS 1.2."""
    p = pki()
    server = p.leaf("server")
    d = start(tt.tls_group(server, min_protocol="TLSv1.3"))
    try:
        refused(d.port, p.context(max_version=ssl.TLSVersion.TLSv1_2),
                "a TLS 1.2 client")
        with open_info(d.port, p.context()) as i:
            assert i.c.sock.version() == "TLSv1.3", i.c.sock.version()
    finally:
        d.kill()
    d = start(tt.tls_group(server))
    try:
        with open_info(d.port,
                       p.context(max_version=ssl.TLSVersion.TLSv1_2)) as i:
            assert i.c.sock.version() == "TLSv1.2", i.c.sock.version()
            i.echo()
        # ALPN: http/1.1 is chosen when offered
        ctx = p.context()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with open_info(d.port, ctx) as i:
            assert i.c.sock.selected_alpn_protocol() == "http/1.1", \
                i.c.sock.selected_alpn_protocol()
    finally:
        d.kill()


# ------------------------------------------------------------ tickets

def test_session_tickets_resume_and_rotate_on_reload():
    """A session ticket resumes a session (on either worker: the ticket
    keys are shared); after SIGHUP an old ticket no longer resumes (a
    full handshake, still served) and a new one does."""
    p = pki()
    d = start(tt.tls_group(p.leaf("server")), extra={"workers": 2})
    try:
        for ver in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = p.context(min_version=ver, max_version=ver)
            with open_info(d.port, ctx) as i:
                i.echo()        # TLS 1.3 tickets come after the handshake
                sess = i.c.sock.session
                assert not i.c.sock.session_reused
            assert sess is not None and sess.has_ticket, \
                "%s: no session ticket" % ver
            workers = set()
            for _ in range(40):
                with open_info(d.port, ctx, session=sess) as i:
                    assert i.c.sock.session_reused, \
                        "%s: ticket not accepted by worker %d" % (
                            ver, i.worker)
                    workers.add(i.worker)
                    i.echo("resumed")
                if len(workers) == 2:
                    break
            assert len(workers) == 2, \
                "%s: 40 connections all served by worker(s) %s" % (
                    ver, workers)
        ctx = p.context()
        with open_info(d.port, ctx) as i:
            i.echo()
            old = i.c.sock.session
        reload(d)
        for _ in range(4):
            with open_info(d.port, ctx, session=old) as i:
                assert not i.c.sock.session_reused, \
                    "a ticket from before the reload was accepted"
                i.echo("full handshake")
                new = i.c.sock.session
        with open_info(d.port, ctx, session=new) as i:
            assert i.c.sock.session_reused, "a new ticket was not accepted"
    finally:
        d.kill()


# ------------------------------------------------------------ hostile

def test_tls_slowloris_dropped_at_handshake_timeout():
    """Clients that never finish their ClientHello (half of it, the
    record header alone, a byte every 0.25 s, nothing), or finish TLS
    but send no request, are all dropped at handshake_timeout, counted
    from the connect; a well-behaved client is served meanwhile."""
    hs = 2
    d = start(tt.tls_group(pki().leaf("server")),
              limits={"handshake_timeout": hs,
                      "max_pending_per_address": 0})
    hello = client_hello()
    kinds = (["half"] * 10 + ["header"] * 5 + ["trickle"] * 10 +
             ["silent"] * 3 + ["tls-only"] * 5)
    conns = []
    sel = selectors.DefaultSelector()
    probe = None
    try:
        for k in kinds:
            s = socket.create_connection(("127.0.0.1", d.port), W.T(5))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = time.monotonic()
            c = {"kind": k, "sock": s, "t0": t0, "end": None, "pos": 0,
                 "next": t0, "data": b""}
            if k == "half":
                s.sendall(hello[:len(hello) // 2])
            elif k == "header":
                s.sendall(hello[:5])
            elif k == "tls-only":
                ctx = pki().context()
                c["sock"] = s = ctx.wrap_socket(s,
                                                server_hostname="127.0.0.1")
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, c)
            conns.append(c)
        probe = Probe(d.port)
        deadline = time.monotonic() + hs + W.T(8)
        while any(c["end"] is None for c in conns) and \
                time.monotonic() < deadline:
            now = time.monotonic()
            for c in conns:
                if c["kind"] == "trickle" and c["end"] is None and \
                        now >= c["next"] and c["pos"] < len(hello):
                    try:
                        c["sock"].send(hello[c["pos"]:c["pos"] + 1])
                        c["pos"] += 1
                    except OSError:
                        pass
                    c["next"] = now + 0.25
            for key, _ in sel.select(0.05):
                c = key.data
                try:
                    data = c["sock"].recv(4096)
                except (BlockingIOError, ssl.SSLWantReadError):
                    continue
                except (OSError, ssl.SSLError):
                    data = b""
                if data:
                    c["data"] += data
                    continue
                c["end"] = time.monotonic()
                sel.unregister(c["sock"])
        r = probe.check(1.0 * CPU_FACTOR)
        still = [c["kind"] for c in conns if c["end"] is None]
        assert not still, "still open after %.1fs: %s" % (hs + W.T(8),
                                                           still)
        for c in conns:
            life = c["end"] - c["t0"]
            # the kernel holds a silent connection back (TCP_DEFER_ACCEPT)
            slack = W.T(4) if c["kind"] == "silent" else W.T(1.5)
            assert hs - 0.3 <= life <= hs + slack, \
                "%s client dropped after %s (handshake_timeout %ds)" % (
                    c["kind"], ms(life), hs)
            if c["kind"] in ("half", "header", "trickle", "silent"):
                # at most an alert, never an HTTP answer
                assert not c["data"].startswith(b"HTTP"), c["data"][:100]
        print("    %d clients dropped after %s..%s; well-behaved client "
              "echoed after %.3fs" % (
                  len(conns), ms(min(c["end"] - c["t0"] for c in conns)),
                  ms(max(c["end"] - c["t0"] for c in conns)), r["echo"]))
        assert d.alive()
    finally:
        if probe is not None:
            probe.kill()
        for c in conns:
            c["sock"].close()
        sel.close()
        d.kill()


def test_handshake_timeout_spans_tls_and_http():
    """handshake_timeout runs from the connect over the TLS handshake and
    the request head together: a client that takes 1.5 s for its TLS
    handshake and then dribbles a head is dropped at 3 s, not 1.5 s +
    3 s."""
    hs, tls_time = 3, 1.5
    d = start(tt.tls_group(pki().leaf("server")),
              limits={"handshake_timeout": hs})
    s = socket.create_connection(("127.0.0.1", d.port), W.T(10))
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.monotonic()
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        o = pki().context().wrap_bio(inc, out, server_hostname="127.0.0.1")
        try:
            o.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = out.read()
        step = max(1, len(hello) // 10)
        for k in range(0, len(hello), step):
            s.sendall(hello[k:k + step])
            time.sleep(tls_time / 10)
        while True:
            try:
                o.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            finally:
                if out.pending:
                    s.sendall(out.read())
            data = s.recv(65536)
            assert data, "EOF during the TLS handshake after %s" % ms(
                time.monotonic() - t0)
            inc.write(data)
        t_tls = time.monotonic() - t0
        assert t_tls >= tls_time, t_tls
        head = upgrade_head(d.port)[:-4]
        end = None
        s.settimeout(0.2)
        for k in range(len(head)):
            o.write(head[k:k + 1])
            try:
                s.sendall(out.read())
            except OSError:
                end = time.monotonic()
                break
            try:
                if not s.recv(4096):
                    end = time.monotonic()
                    break
            except socket.timeout:
                pass
            except OSError:
                end = time.monotonic()
                break
            if time.monotonic() - t0 > hs + tls_time + W.T(3):
                break
        assert end is not None, "still open after %s" % ms(
            time.monotonic() - t0)
        life = end - t0
        print("    TLS handshake took %s, dropped after %s" % (
            ms(t_tls), ms(life)))
        # A timer started after the TLS handshake fires at t_tls + hs at
        # the earliest.
        assert hs - 0.3 <= life < t_tls + hs - 0.3, \
            "dropped after %s (TLS done at %s, handshake_timeout %ds)" % (
                ms(life), ms(t_tls), hs)
    finally:
        s.close()
        d.kill()


def test_sigterm_with_tls_connections_in_every_state():
    """SIGTERM while TLS connections are open, mid-handshake (half a
    ClientHello), past TLS but before the request: the open ones get a
    Close 1001 and close_notify, the others are dropped, wsd exits 0
    (and, under ASan, frees every SSL: LeakSanitizer runs at exit)."""
    d = start(tt.tls_group(pki().leaf("server")),
              limits={"handshake_timeout": 30})
    hello = client_hello()
    opened, raw = [], []
    try:
        for _ in range(3):
            i = open_info(d.port, pki().context())
            i.echo()
            opened.append(i)
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", d.port), W.T(5))
            s.sendall(hello[:len(hello) // 2])
            raw.append(s)
        tls_only = W.RawClient(d.port, tls=pki().context())
        # a message the server is still sending when it stops
        big = open_info(d.port, pki().context(), rcvbuf=4096)
        big.c.send_frame(W.OP_BINARY, os.urandom(512 * KIB))
        time.sleep(0.2)
        d.send_signal(signal.SIGTERM)
        for i in opened:
            i.c.expect_close(1001, reply=True)
        got = tls_only.read_until_eof(timeout=10)
        assert got == b"", got[:100]
        for s in raw:
            s.settimeout(W.T(10))
            while True:
                try:
                    if not s.recv(65536):
                        break
                except ConnectionResetError:
                    break
        # the reader of the large echo gets it whole, then the Close
        op, data = big.c.read_message(timeout=20)
        assert op == W.OP_BINARY and len(data) == 512 * KIB, (op, len(data))
        big.c.expect_close(1001)
        assert d.wait_exit(20) == 0, d.tail()
    finally:
        for i in opened:
            i.close()
        for s in raw:
            s.close()
        d.kill()


def test_idle_tls_connection_memory():
    """Idle TLS connections hold no record buffers (SSL_MODE_RELEASE_
    BUFFERS or better): 500 of them, each having echoed once, cost the
    worker well under the two 16 KiB record buffers a connection would
    otherwise keep.  Prints the figure next to plain connections'."""
    n = 500
    per = {}
    for tls in (False, True):
        group = tt.tls_group(pki().leaf("server")) if tls else False
        d = start(group, extra={"workers": 1},
                  limits={"idle_timeout": 0, "ping_interval": 0,
                          "max_pending_per_address": 0})
        ctx = pki().context() if tls else False
        conns = []
        try:
            wpid = d.worker_pids(1)[0]
            for _ in range(20):         # warm up the allocator
                conns.append(open_info(d.port, ctx))
                conns[-1].echo("x" * 1000)
            time.sleep(0.3)
            base = rss_mb(wpid)
            for _ in range(n):
                conns.append(open_info(d.port, ctx))
                conns[-1].echo("y" * 1000)
            time.sleep(0.5)
            per[tls] = (rss_mb(wpid) - base) * 1024 / n
        finally:
            for i in conns:
                i.close()
            d.kill()
    print("    worker RSS per idle connection: plain %.1f KiB, TLS %.1f "
          "KiB" % (per[False], per[True]))
    assert per[True] < 24 * MEM_FACTOR, \
        "%.1f KiB per idle TLS connection" % per[True]


def garbage_cases():
    hello = client_hello()
    mid = len(hello) // 2
    rnd = os.urandom
    return [
        ("a handshake record of 2043 random bytes",
         b"\x16\x03\x01\x07\xfb" + rnd(2043)),
        # (a third byte of 1 after a high first byte would make it an
        # SSLv2 ClientHello header announcing 32 KiB: a wait, not noise)
        ("random bytes", b"\xfe\x42\x00" + rnd(2045)),
        ("a handshake record of noise", b"\x16\x03\x01\x40\x00" +
         rnd(16384)),
        ("a record longer than TLS allows", b"\x16\x03\x01\xff\xff" +
         rnd(64)),
        ("an SSLv2 ClientHello", b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00"
         b"\x00\x10" + rnd(21) + rnd(16)),
        ("an alert first", b"\x15\x03\x03\x00\x02\x02\x28"),
        ("application data first", b"\x17\x03\x03\x00\x20" + rnd(32)),
        ("a change cipher spec first", b"\x14\x03\x03\x00\x01\x01"),
        ("a corrupted ClientHello", hello[:mid] +
         bytes([hello[mid] ^ 0xff]) + hello[mid + 1:]),
        ("a ClientHello, then noise", hello + rnd(1024)),
        ("zeros", b"\x00" * 1024),
    ]


def test_garbage_instead_of_client_hello():
    """Malformed TLS: the connection is closed at once (long before
    handshake_timeout), the daemon keeps serving, sanitizers stay
    quiet.  An empty handshake record is allowed: that handshake waits
    for the next record, until the handshake timeout."""
    hs = 4
    d = start(tt.tls_group(pki().leaf("server")),
              limits={"handshake_timeout": hs})
    empty = None
    try:
        empty = W.RawClient(d.port, tls=False)
        t_empty = time.monotonic()
        empty.send(b"\x16\x03\x01\x00\x00")
        for label, data in garbage_cases():
            with W.RawClient(d.port, tls=False) as c:
                t0 = time.monotonic()
                c.send(data)
                try:
                    c.read_until_eof(timeout=hs + 4)
                except AssertionError as e:
                    raise AssertionError("%s: %s" % (label, e))
                dt = time.monotonic() - t0
                assert dt < hs * 0.75, \
                    "%s: closed after %.1fs, by the handshake timeout, " \
                    "not by the error" % (label, dt)
            assert d.alive(), label
        got = empty.read_until_eof(timeout=hs + 4)
        dt = time.monotonic() - t_empty
        assert hs - 0.3 <= dt, "empty record: closed after %.1fs" % dt
        assert got == b"" or got[:1] == b"\x15", got[:100]
        with open_info(d.port, pki().context()) as i:
            i.echo("after the garbage")
    finally:
        if empty is not None:
            empty.close()
        d.kill()


def test_never_reading_tls_clients_closed_memory_bounded():
    """TLS clients that send large messages and never read: the server's
    TLS writes stop mid-record on a full socket; once past max_send_buffer
    (256 KiB) each is closed (1008); the worker's memory stays bounded;
    others are served meanwhile."""
    limit = 256 * KIB
    nslow = 4
    d = start(tt.tls_group(pki().leaf("server")),
              limits={"max_send_buffer": limit, "handshake_timeout": 5,
                      "close_timeout": 1},
              extra={"workers": 1})
    probe = None
    slow = []
    try:
        wpid = d.worker_pids(1)[0]
        with open_info(d.port, pki().context()) as i:
            i.echo()
        rss0 = rss_mb(wpid)
        peak = rss0
        frame = W.build_frame(W.OP_BINARY, os.urandom(64 * KIB))
        for _ in range(nslow):
            i = open_info(d.port, pki().context(), rcvbuf=4096)
            i.c.sock.setblocking(False)
            slow.append({"i": i, "pos": 0, "sent": 0, "end": None,
                         "port": i.c.local_port})
        probe = Probe(d.port)
        t0 = time.monotonic()
        deadline = t0 + W.T(30)
        while time.monotonic() < deadline:
            active = [s for s in slow if s["end"] is None]
            if not active:
                break
            progress = False
            for s in active:
                chunk = frame[s["pos"]:s["pos"] + 16 * KIB]
                try:
                    k = s["i"].c.sock.send(chunk)
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError,
                        BlockingIOError):
                    continue
                except (OSError, ssl.SSLError):
                    s["end"] = time.monotonic()
                    continue
                progress = True
                s["sent"] += k
                s["pos"] = (s["pos"] + k) % len(frame)
            peak = max(peak, rss_mb(wpid))
            if not progress:
                time.sleep(0.005)
        still = [s for s in slow if s["end"] is None]
        assert not still, "%d never-reading clients still connected after " \
            "%.0fs (sent %r bytes)" % (len(still), W.T(30),
                                       [s["sent"] for s in still])
        r = probe.check(2.0 * CPU_FACTOR)
        for s in slow:
            d.wait_log(r"access 127\.0\.0\.1:%d \".*close=1008\b" % s["port"],
                       timeout=5)
        n_limit = len([l for l in d.lines
                       if "send buffer limit (%d bytes) passed" % limit in l])
        assert n_limit == nslow, "%d 'send buffer limit' lines for %d " \
            "clients" % (n_limit, nslow)
        print("    %d clients cut off after sending %.1f..%.1f MB; worker "
              "RSS %.1f -> peak %.1f MB; probe echo %.3fs" % (
                  nslow, min(s["sent"] for s in slow) / MIB,
                  max(s["sent"] for s in slow) / MIB, rss0, peak,
                  r["echo"]))
        assert peak < rss0 + 32 * MEM_FACTOR, \
            "worker RSS grew from %.1f to %.1f MB" % (rss0, peak)
        with open_info(d.port, pki().context()) as i:
            i.echo()
    finally:
        if probe is not None:
            probe.kill()
        for s in slow:
            s["i"].close()
        d.kill()


def parse_frames(buf):
    """Whole unmasked frames at the start of buf: [(opcode, payload)],
    and the bytes left over."""
    out = []
    while len(buf) >= 2:
        n = buf[1] & 0x7F
        i = 2
        if n == 126:
            if len(buf) < 4:
                break
            n, i = struct.unpack("!H", bytes(buf[2:4]))[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, i = struct.unpack("!Q", bytes(buf[2:10]))[0], 10
        if len(buf) < i + n:
            break
        out.append((buf[0] & 0x0F, bytes(buf[i:i + n])))
        buf = buf[i + n:]
    return out, buf


def test_slow_reader_gets_every_byte():
    """A client with a tiny receive window sends 4 MiB of 64 KiB echoes
    and reads nothing for a while, then slowly: every TLS write the
    server had to stop (want-write, part of a record sent) resumes where
    it stopped; every echo comes back whole and in order."""
    d = start(tt.tls_group(pki().leaf("server")),
              limits={"max_send_buffer": 16 * MIB,
                      "max_message_size": MIB})
    try:
        msgs = [os.urandom(64 * KIB) for _ in range(64)]
        wire = b"".join(W.build_frame(W.OP_BINARY, m) for m in msgs)
        with open_info(d.port, pki().context(), rcvbuf=4096) as i:
            s = i.c.sock
            s.setblocking(False)
            pos, got = 0, bytearray(i.c.buf)
            frames = []
            t0 = time.monotonic()
            deadline = t0 + W.T(60)
            while len(frames) < len(msgs):
                assert time.monotonic() < deadline, \
                    "%d of %d echoes after %.0fs (sent %d of %d bytes)" % (
                        len(frames), len(msgs), W.T(60), pos, len(wire))
                busy = False
                if pos < len(wire):
                    try:
                        pos += s.send(wire[pos:pos + 16 * KIB])
                        busy = True
                    except (ssl.SSLWantWriteError, ssl.SSLWantReadError,
                            BlockingIOError):
                        pass
                # read nothing for the first second, then 4 KiB a turn
                if time.monotonic() - t0 > 1.0:
                    try:
                        data = s.recv(4096)
                        assert data, "EOF after %d echoes" % len(frames)
                        got += data
                        busy = True
                    except (ssl.SSLWantReadError, BlockingIOError):
                        pass
                    fs, rest = parse_frames(got)
                    frames += fs
                    got = bytearray(rest)
                if not busy:
                    time.sleep(0.002)
            for k, (op, payload) in enumerate(frames):
                assert op == W.OP_BINARY, (k, op)
                assert payload == msgs[k], \
                    "echo %d differs (%d bytes, wanted %d)" % (
                        k, len(payload), len(msgs[k]))
    finally:
        d.kill()


def swarm_size(want):
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= want + 200:
        return want
    raise W.Skip("descriptor limit %d cannot hold %d connections"
                 % (soft, want))


def test_2000_concurrent_tls_handshakes():
    """2,000 clients start their TLS handshakes at once and then ask for
    a WebSocket: every one is served within the time limit, a
    well-behaved client (verifying the certificate) is served meanwhile,
    and closing them all gives every descriptor back."""
    n = swarm_size(2000)
    d = start(tt.tls_group(pki().leaf("server")),
              limits={"handshake_timeout": 30, "max_pending_per_address": 0,
                      "idle_timeout": 0})
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sel = selectors.DefaultSelector()
    peers = []
    probe = None
    t_probe = None
    try:
        fds0 = sum(fd_count(p) for p in d.worker_pids())
        t0 = time.monotonic()
        deadline = t0 + W.T(90)
        next_batch = t0
        done = failed = 0
        while done + failed < n:
            now = time.monotonic()
            assert now < deadline, \
                "after %.0fs: %d served, %d failed, %d in flight" % (
                    W.T(90), done, failed, len(peers) - done - failed)
            if len(peers) < n and now >= next_batch:
                for _ in range(min(200, n - len(peers))):
                    s = socket.socket()
                    s.setblocking(False)
                    s.connect_ex(("127.0.0.1", d.port))
                    p = {"raw": s, "sock": None, "state": "connect",
                         "buf": b"", "err": None}
                    peers.append(p)
                    sel.register(s, selectors.EVENT_WRITE, p)
                next_batch = now + 0.02
            if probe is None and len(peers) == n:
                probe = Probe(d.port)
                t_probe = now
                inflight = len(peers) - done - failed
            for key, _ in sel.select(0.02):
                p = key.data
                try:
                    if p["state"] == "connect":
                        err = p["raw"].getsockopt(socket.SOL_SOCKET,
                                                  socket.SO_ERROR)
                        if err:
                            raise OSError(err, os.strerror(err))
                        sel.unregister(p["raw"])
                        p["sock"] = ctx.wrap_socket(
                            p["raw"], do_handshake_on_connect=False)
                        sel.register(p["sock"], selectors.EVENT_WRITE, p)
                        p["state"] = "tls"
                    if p["state"] == "tls":
                        try:
                            p["sock"].do_handshake()
                        except ssl.SSLWantReadError:
                            sel.modify(p["sock"], selectors.EVENT_READ, p)
                            continue
                        except ssl.SSLWantWriteError:
                            sel.modify(p["sock"], selectors.EVENT_WRITE, p)
                            continue
                        p["sock"].send(upgrade_head(d.port))
                        p["state"] = "http"
                        sel.modify(p["sock"], selectors.EVENT_READ, p)
                        continue
                    if p["state"] == "http":
                        try:
                            data = p["sock"].recv(4096)
                        except ssl.SSLWantReadError:
                            continue
                        if not data:
                            raise OSError("EOF after %r" % p["buf"][:80])
                        p["buf"] += data
                        if b"\r\n\r\n" in p["buf"]:
                            assert p["buf"].startswith(
                                b"HTTP/1.1 101"), p["buf"][:200]
                            p["state"] = "open"
                            sel.unregister(p["sock"])
                            done += 1
                except (OSError, ssl.SSLError) as e:
                    p["err"] = str(e)
                    p["state"] = "failed"
                    failed += 1
                    try:
                        sel.unregister(key.fileobj)
                    except (KeyError, ValueError):
                        pass
        t_all = time.monotonic() - t0
        assert probe is not None
        # Served, not dropped: before the 30 s handshake_timeout that
        # would cut it off.  How long it waited behind the swarm is
        # printed, not bounded: on a loaded machine (CI runs the suite
        # two at a time, distcheck under ASan) it took 21 s once.
        r = probe.check(30)
        errs = [p["err"] for p in peers if p["err"]]
        assert failed == 0, "%d of %d failed: %r" % (failed, n, errs[:5])
        fds = sum(fd_count(p) for p in d.worker_pids())
        print("    %d TLS handshakes + upgrades in %.1fs (%d in flight "
              "when the well-behaved client started %.1fs in; it echoed "
              "after %.3fs); worker fds %d -> %d" % (
                  n, t_all, inflight, t_probe - t0, r["echo"], fds0, fds))
        assert fds >= fds0 + n, (fds0, fds)
        for p in peers:
            (p["sock"] or p["raw"]).close()
        peers = []
        for _ in range(100):
            fds = sum(fd_count(p) for p in d.worker_pids())
            if fds <= fds0:
                break
            time.sleep(0.1)
        assert fds <= fds0, "descriptors not given back: %d -> %d" % (
            fds0, fds)
        assert d.alive()
        probe_now(d.port)
    finally:
        if probe is not None:
            probe.kill()
        for p in peers:
            (p["sock"] or p["raw"]).close()
        sel.close()
        d.kill()


TESTS = [
    test_sni_picks_certificate,
    test_client_cert_optional,
    test_client_cert_required,
    test_plain_listener_has_no_tls,
    test_plain_and_tls_listeners_side_by_side,
    test_ephemeral_ports_keep_each_listener_its_own_tls,
    test_plain_http_on_tls_port_gets_400,
    test_reload_renewed_certificate,
    test_reload_with_mismatched_key_keeps_old_certificate,
    test_check_reports_bad_certificates,
    test_check_warns_self_signed_and_expiring,
    test_check_bad_tls_settings,
    test_min_protocol_tls13,
    test_session_tickets_resume_and_rotate_on_reload,
    test_tls_slowloris_dropped_at_handshake_timeout,
    test_handshake_timeout_spans_tls_and_http,
    test_garbage_instead_of_client_hello,
    test_sigterm_with_tls_connections_in_every_state,
    test_idle_tls_connection_memory,
    test_never_reading_tls_clients_closed_memory_bounded,
    test_slow_reader_gets_every_byte,
    test_2000_concurrent_tls_handshakes,
]

if __name__ == "__main__":
    W.run(TESTS)
