"""Prometheus metrics: the `metrics` listener and GET /metrics, what the
figures count (connections, messages, close codes, refusals, back-
pressure, reloads, TLS, a plugin's own metrics), the sum over workers in
one scrape, promtool's check of the text, and a real Prometheus that
scrapes wsd and answers a query with the number of connections the test
holds open."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402
import tlstest  # noqa: E402
import test_backplane as B  # noqa: E402

METRICS_RE = r"metrics: GET /metrics on 127\.0\.0\.1:(\d+)"
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
KIB = 1024


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def config(workers=2, routes=None, metrics=None, limits=None, extra=None,
           **kw):
    ex = {"workers": workers, "worker_header": True}
    if metrics is not False:
        ex["metrics"] = metrics if metrics is not None else {"port": 0}
    ex.update(extra or {})
    return W.write_config(log_level="info", limits=limits, extra=ex,
                          routes=routes or [W.route()], **kw)


def metrics_port(d, start=0):
    return int(d.wait_log(METRICS_RE, start=start).group(1))


def scrape_raw(port, method="GET", path="/metrics", headers=()):
    return W.http_request(port, method, path, headers=headers)


def parse(text):
    """{(name, ((label, value), ...)): value} of an exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, "not a sample line: %r" % line
        labels = tuple(sorted(LABEL_RE.findall(m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def scrape(port):
    r, body = scrape_raw(port)
    assert r.status == 200, r
    assert r.get("content-type") == \
        "text/plain; version=0.0.4; charset=utf-8", r
    assert int(r.get("content-length")) == len(body), r
    return body.decode(), parse(body.decode())


def val(samples, name, **labels):
    """The sample's value; None when absent."""
    return samples.get((name, tuple(sorted(labels.items()))))


def wait_value(port, name, want, timeout=10, **labels):
    """Scrape until the sample equals want (figures of a closing
    connection arrive a moment after the client sees its end)."""
    deadline = time.monotonic() + W.T(timeout)
    while True:
        _, s = scrape(port)
        got = val(s, name, **labels)
        if got == want:
            return s
        if time.monotonic() > deadline:
            raise AssertionError("%s%r is %r, wanted %r" % (name, labels,
                                                             got, want))
        time.sleep(0.05)


def promtool_check(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       errors="replace", timeout=W.T(30))
    assert r.returncode == 0, "promtool check metrics: %s\n%s" % (
        r.stdout, text[:3000])


def hold(port, path, n, workers=2, tls=None):
    """n open WebSocket clients (RawClient), spread over every worker:
    opens more (up to 60) until each worker holds one, then closes the
    extra ones beyond n that it can spare.  Returns the clients."""
    conns = []
    seen = {}
    while len(conns) < 60 and (len(conns) < n or len(seen) < workers):
        c = W.RawClient(port, tls=tls)
        r = c.handshake(path)
        w = r.get("x-wsd-worker")
        seen.setdefault(w, []).append(c)
        conns.append(c)
    assert len(seen) >= workers, "connections on workers %r only" % (
        list(seen),)
    # Close the extra ones from the best-served worker.
    while len(conns) > n:
        w = max(seen, key=lambda k: len(seen[k]))
        c = seen[w].pop()
        conns.remove(c)
        c.send_close(1000)
        c.expect_close(1000, reply=False)
        c.close()
    return conns


# ------------------------------------------------------------ config

def test_config_errors_with_file_and_line():
    d = W.tmpdir()
    cases = [
        ({"address": "localhost"}, 'address = "localhost"',
         "'address' is not a valid"),
        ({"port": 70000}, "port = 70000", "'port' must be between 0 and "
         "65535"),
        ({"port": "9108"}, 'port = "9108"', "'port' must be an integer"),
        ({"adress": "127.0.0.1"}, "adress", "adress"),
    ]
    for group, needle, msg in cases:
        conf = config(metrics=group, directory=d)
        r = W.run_wsd(["-t", "-c", conf])
        assert r.returncode == 1, (group, r.stdout, r.stderr)
        line = W.line_of(conf, needle)
        assert re.search(r"%s:%d: .*%s" % (re.escape(conf), line,
                                           re.escape(msg)), r.stderr), \
            (group, line, r.stderr)
    # The group must be a group.
    conf = config(metrics=False, extra={"metrics": 9108}, directory=d)
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 1 and "'metrics' must be a group" in r.stderr, \
        r.stderr
    # Not on a port a `listen` entry has.
    conf = config(metrics={"port": 8888}, directory=d)
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 1 and "is also a 'listen' entry" in r.stderr, \
        r.stderr
    # Valid: loopback by default.
    conf = config(metrics={"port": 9108}, directory=d)
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 0, r.stderr


def test_off_unless_configured_and_loopback_by_default():
    d = W.start_daemon(config(metrics=False))
    try:
        W.echo_ok(d.port)
        assert d.find_log("metrics:") is None, d.tail()
    finally:
        d.stop()
    d = W.start_daemon(config(metrics={"port": 0}))
    try:
        port = metrics_port(d)
        scrape(port)
    finally:
        d.stop()


# ------------------------------------------------------------ HTTP

def test_http_rules():
    d = W.start_daemon(config(workers=1, limits={"max_connections": 1}))
    try:
        port = metrics_port(d)
        r, body = scrape_raw(port, path="/other")
        assert r.status == 404, r
        r, body = scrape_raw(port, method="POST")
        assert r.status == 405 and r.get("allow") == "GET, HEAD", r
        r, body = scrape_raw(port, method="HEAD")
        assert r.status == 200 and body == b"", (r, body)
        assert int(r.get("content-length")) > 1000, r
        # A query string is allowed (Prometheus params).
        r, body = scrape_raw(port, path="/metrics?x=1")
        assert r.status == 200, r
        # An oversized request head is refused.
        with W.RawClient(port) as c:
            c.send(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000)
            r = c.read_response()
            assert r.status == 431, r
        # A scraper that never finishes its request is closed (after 5 s).
        with W.RawClient(port) as c:
            c.send(b"GET /metrics HTTP/1.1\r\n")
            t0 = time.monotonic()
            c.read_until_eof(timeout=20)
            assert time.monotonic() - t0 >= 4, "closed before its time"
        # Scrapes do not count against max_connections: one client fills
        # the daemon, a second is refused, scrapes still answer.
        with W.raw_ws(d.port):
            with W.RawClient(d.port) as c2:
                c2.send(c2.upgrade_request("/echo"))
                W.expect_http_error(c2, 503)
            _, s = scrape(port)
            assert val(s, "wsd_connections", route="/echo") == 1, s
            assert val(s, "wsd_connections_refused_total",
                       reason="limit") == 1, s
    finally:
        d.stop()


# ------------------------------------------------------------ counters

def test_counters_move():
    routes = [W.route(),
              W.route("/strict", origins=["https://good.example"]),
              W.route("/tight", limits={"max_send_buffer": 64 * KIB})]
    d = W.start_daemon(config(routes=routes))
    try:
        port = metrics_port(d)
        _, s0 = scrape(port)
        assert val(s0, "wsd_connections_opened_total", route="/echo") == 0
        assert val(s0, "wsd_workers") == 2, s0
        # connect, three messages, close with 4001
        with W.raw_ws(d.port) as c:
            for m in ("a", "bb", "ccc"):
                c.send_text(m)
                assert c.read_message()[1] == m.encode()
            _, s = scrape(port)
            assert val(s, "wsd_connections", route="/echo") == 1, s
            assert val(s, "wsd_connections_opened_total",
                       route="/echo") == 1
            assert val(s, "wsd_messages_received_total", route="/echo") == 3
            assert val(s, "wsd_messages_sent_total", route="/echo") == 3
            assert val(s, "wsd_received_bytes_total", route="/echo") == 6
            assert val(s, "wsd_sent_bytes_total", route="/echo") == 6
            assert val(s, "wsd_plugin_callbacks_total", route="/echo",
                       callback="message") == 3, s
            assert val(s, "wsd_plugin_callback_seconds_total",
                       route="/echo", callback="message") > 0
            c.send_close(4001, b"bye")
            c.expect_close(4001, reply=False)
        s = wait_value(port, "wsd_connections_closed_total", 1,
                       route="/echo", code="4xxx")
        assert val(s, "wsd_connections", route="/echo") == 0
        # another close code, by number
        with W.raw_ws(d.port) as c:
            c.send_close(1000)
            c.expect_close(1000, reply=False)
        wait_value(port, "wsd_connections_closed_total", 1, route="/echo",
                   code="1000")

        # refused handshakes: no route (404), origin (403)
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request("/nope"))
            W.expect_http_error(c, 404)
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(
                "/strict", extra=[("Origin", "https://evil.example")]))
            W.expect_http_error(c, 403)
        s = wait_value(port, "wsd_handshakes_refused_total", 1,
                       route="/strict", status="403")
        wait_value(port, "wsd_http_responses_total", 1, status="404")
        s = wait_value(port, "wsd_http_responses_total", 1, status="403")
        assert val(s, "wsd_connections_opened_total", route="/strict") == 0

        # back-pressure: a client that sends and never reads its echoes
        c = W.RawClient(d.port, rcvbuf=4096)
        try:
            c.handshake("/tight")
            c.sock.setblocking(False)
            frame = W.build_frame(W.OP_BINARY, os.urandom(32 * KIB))
            pos, sent, checked = 0, 0, 0
            deadline = time.monotonic() + W.T(30)
            closed = False
            # Once wsd has closed, it discards what the client still sends
            # for a while (linger), so sends may never block again: look
            # at the figures when blocked and after every 1 MiB.
            while time.monotonic() < deadline and sent < 64 * 1024 * KIB:
                try:
                    k = c.sock.send(frame[pos:])
                except BlockingIOError:
                    k = None
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                if k is None or sent - checked >= 1024 * KIB:
                    checked = sent
                    _, s = scrape(port)
                    if val(s, "wsd_backpressure_closes_total",
                           route="/tight") == 1:
                        closed = True
                        break
                    if k is None:
                        time.sleep(0.01)
                        continue
                sent += k
                pos = (pos + k) % len(frame)
            assert closed, "never closed after %d bytes" % sent
        finally:
            c.close()
        s = wait_value(port, "wsd_backpressure_closes_total", 1,
                       route="/tight")
        s = wait_value(port, "wsd_connections_closed_total", 1,
                       route="/tight", code="1008")
        assert val(s, "wsd_sends_dropped_total", route="/tight") >= 1, s
        # /echo twice, the 404, the 403, /tight; scrapes are not counted
        assert val(s, "wsd_connections_accepted_total") == 5, s
    finally:
        d.stop()


def test_reload_ok_and_failed_and_series_continue():
    conf = config()
    d = W.start_daemon(conf)
    try:
        port = metrics_port(d)
        _, s = scrape(port)
        assert val(s, "wsd_config_reloads_total", result="ok") == 0, s
        assert val(s, "wsd_config_last_reload_successful") == 1, s
        assert val(s, "wsd_config_last_reload_timestamp_seconds") == 0, s
        assert val(s, "process_start_time_seconds") > 1e9, s
        W.echo_ok(d.port)
        wait_value(port, "wsd_connections_opened_total", 1, route="/echo")
        mark = d.mark()
        t0 = time.time()
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reloaded: ", start=mark)
        s = wait_value(port, "wsd_config_reloads_total", 1, result="ok")
        assert val(s, "wsd_config_last_reload_successful") == 1, s
        ts = val(s, "wsd_config_last_reload_timestamp_seconds")
        assert t0 - 1 <= ts <= time.time() + 1, (t0, ts)
        # The route's series goes on across the reload.
        assert val(s, "wsd_connections_opened_total", route="/echo") == 1, s
        W.echo_ok(d.port)
        wait_value(port, "wsd_connections_opened_total", 2, route="/echo")
        # A configuration that does not load.
        with open(conf, "a") as f:
            f.write("nonsense = ;\n")
        mark = d.mark()
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reload failed", start=mark)
        s = wait_value(port, "wsd_config_reloads_total", 1, result="failed")
        assert val(s, "wsd_config_reloads_total", result="ok") == 1, s
        assert val(s, "wsd_config_last_reload_successful") == 0, s
    finally:
        d.stop()


def test_reload_moves_and_removes_the_listener():
    p1, p2 = free_port(), free_port()
    directory = W.tmpdir()
    conf = config(metrics={"port": p1}, directory=directory)
    d = W.start_daemon(conf)
    try:
        assert metrics_port(d) == p1
        scrape(p1)
        config(metrics={"port": p2}, directory=directory)
        mark = d.mark()
        d.send_signal(signal.SIGHUP)
        assert metrics_port(d, start=mark) == p2
        d.wait_log(r"metrics: no longer listening on 127\.0\.0\.1:%d" % p1,
                   start=mark)
        d.wait_log(r"reloaded: ", start=mark)
        deadline = time.monotonic() + W.T(10)
        while True:
            try:
                _, s = scrape(p2)
                if val(s, "wsd_workers") == 2:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, d.tail()
            time.sleep(0.05)
        try:
            socket.create_connection(("127.0.0.1", p1), 1).close()
            raise AssertionError("the old metrics port still accepts")
        except ConnectionRefusedError:
            pass
        # Gone from the configuration: gone from the daemon.
        config(metrics=False, directory=directory)
        mark = d.mark()
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"metrics: no longer listening on 127\.0\.0\.1:%d" % p2,
                   start=mark)
        d.wait_log(r"reloaded: ", start=mark)
        try:
            socket.create_connection(("127.0.0.1", p2), 1).close()
            raise AssertionError("the metrics port still accepts")
        except ConnectionRefusedError:
            pass
        W.echo_ok(d.port)
    finally:
        d.stop()


def test_reload_adds_the_listener_and_old_workers_still_count():
    """Metrics turned on by a reload: new workers serve the listener, and
    the retiring ones, which hold the clients of before, are summed (not
    reported missing) until their last client leaves."""
    directory = W.tmpdir()
    conf = config(metrics=False, directory=directory)
    d = W.start_daemon(conf)
    try:
        old = hold(d.port, "/echo", 3)
        config(metrics={"port": 0}, directory=directory)
        mark = d.mark()
        d.send_signal(signal.SIGHUP)
        port = metrics_port(d, start=mark)
        d.wait_log(r"reloaded: ", start=mark)
        new = W.raw_ws(d.port)
        s = wait_value(port, "wsd_connections", 4, route="/echo")
        assert val(s, "wsd_scrape_workers_missing") == 0, s
        assert val(s, "wsd_workers") == 2, s
        for c in old:
            c.close()
        wait_value(port, "wsd_connections", 1, route="/echo")
        new.close()
    finally:
        d.stop()


def test_a_stuck_worker_is_reported_missing():
    d = W.start_daemon(config(extra={"worker_timeout": 60}))
    try:
        port = metrics_port(d)
        conns = hold(d.port, "/echo", 4)
        wait_value(port, "wsd_connections", 4, route="/echo")
        pids = d.worker_pids(2)
        assert len(pids) == 2, pids
        os.kill(pids[0], signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            _, s = scrape(port)
            dt = time.monotonic() - t0
            assert val(s, "wsd_scrape_workers_missing") == 1, s
            # Only the answering worker's clients are left.
            assert 1 <= val(s, "wsd_connections", route="/echo") <= 3, s
            print("    scrape with a stopped worker took %.2fs" % dt)
        finally:
            os.kill(pids[0], signal.SIGCONT)
        s = wait_value(port, "wsd_scrape_workers_missing", 0)
        assert val(s, "wsd_connections", route="/echo") == 4, s
        for c in conns:
            c.close()
    finally:
        d.stop()


def test_backplane_up_reconnects_not_relayed():
    """The Redis backplane, per worker: up while connected, 0 while Redis
    is gone, publishes then not relayed, one reconnect per worker once
    Redis is back."""
    try:
        r = B.redis()
        conf = config(routes=[W.route("/chat", plugin="chat")],
                      extra={"cluster": {"redis": "127.0.0.1:%d" % r.port}})
        d = W.start_daemon(conf)
        port = metrics_port(d)
        for w in ("0", "1"):
            wait_value(port, "wsd_backplane_up", 1, worker=w)
        c = W.RawClient(d.port, tls=False)
        c.handshake("/chat?nick=ann")
        c.read_message()        # the join
        s = wait_value(port, "wsd_backplane_published_total", 1)
        assert val(s, "wsd_backplane_reconnects_total") == 0, s
        assert val(s, "wsd_backplane_not_relayed_total") == 0, s
        r.stop(signal.SIGKILL)
        for w in ("0", "1"):
            wait_value(port, "wsd_backplane_up", 0, worker=w, timeout=15)
        c.send_text("while Redis is away")
        c.read_message()        # local delivery goes on
        wait_value(port, "wsd_backplane_not_relayed_total", 1)
        r.start()
        for w in ("0", "1"):
            wait_value(port, "wsd_backplane_up", 1, worker=w, timeout=30)
        s = wait_value(port, "wsd_backplane_reconnects_total", 2)
        text, _ = scrape(port)
        promtool_check(text)
        c.close()
        d.stop()
    finally:
        B.cleanup()


# ------------------------------------------------------------ Prometheus

class Prometheus:
    """A real Prometheus server scraping wsd every second, in a temporary
    directory, on a free loopback port; stopped by PID."""

    def __init__(self, target_port):
        self.dir = W.tmpdir()
        self.port = free_port()
        cfg = os.path.join(self.dir, "prometheus.yml")
        W.write_file(cfg, (
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: wsd\n"
            "    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n" % target_port))
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + cfg,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)

    def get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (
                self.port, path), timeout=W.T(5)) as r:
            return r.status, r.read()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + W.T(timeout)
        while True:
            assert self.proc.poll() is None, "prometheus exited:\n" + \
                self.log_text()
            try:
                if self.get("/-/ready")[0] == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, "prometheus not ready\n" + \
                self.log_text()
            time.sleep(0.2)

    def query(self, q):
        _, body = self.get("/api/v1/query?" +
                           urllib.parse.urlencode({"query": q}))
        r = json.loads(body)
        assert r["status"] == "success", r
        return r["data"]["result"]

    def wait_query(self, q, want, timeout=60):
        """Query until the (single) result's value is want."""
        deadline = time.monotonic() + W.T(timeout)
        last = None
        while True:
            res = self.query(q)
            if len(res) == 1:
                last = float(res[0]["value"][1])
                if last == want:
                    return res
            assert time.monotonic() < deadline, \
                "%s: %r (last %r), wanted %r\n%s" % (
                    q, res, last, want, self.log_text())
            time.sleep(0.5)

    def log_text(self):
        self.log.flush()
        with open(os.path.join(self.dir, "prometheus.log"), "rb") as f:
            return f.read()[-3000:].decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(W.T(20))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_promtool_and_a_real_prometheus():
    setup = tlstest.default_setup()
    listen = [{"address": "127.0.0.1", "port": 8888},
              {"address": "127.0.0.1", "port": 8889, "tls": setup.group()}]
    routes = [W.route(), W.route("/chat", plugin="chat")]
    d = W.start_daemon(config(routes=routes, listen=listen, tls=False))
    prom = None
    conns = []
    try:
        plain, secure = d.listen_ports(2)
        port = metrics_port(d)
        # Connections held on both workers, one of them over TLS.
        conns = hold(plain, "/echo", 6)
        tc = W.RawClient(secure, tls=setup.context())
        tc.handshake("/echo")
        conns.append(tc)
        n = len(conns)
        # The chat plugin's own metrics.
        chat = W.RawClient(plain, tls=False)
        chat.handshake("/chat?nick=ann")
        conns.append(chat)
        chat.send_text("hello")
        chat.read_message()     # the join
        chat.read_message()     # the line
        # A plain HTTP request on the TLS port: a failed handshake.
        with W.RawClient(secure, tls=False) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            c.read_until_eof()
        wait_value(port, "wsd_tls_handshakes_total", 1, result="failed",
                   version="none")
        s = wait_value(port, "wsd_connections", n, route="/echo")
        assert val(s, "wsd_plugin_chat_lines_total", route="/chat") == 1, s
        assert val(s, "wsd_plugin_chat_members", route="/chat") == 1, s
        # The join and the line, published and delivered where they were.
        assert val(s, "wsd_topic_publishes_total") == 2, s
        assert val(s, "wsd_topic_deliveries_total", source="local") == 2, s
        assert val(s, "wsd_topic_recipients_total") == 2, s
        assert val(s, "wsd_tls_handshakes_total", result="ok",
                   version="TLSv1.3") >= 1, s
        assert val(s, "wsd_workers") == 2, s
        assert val(s, "wsd_scrape_workers_missing") == 0, s
        assert val(s, "process_open_fds") > n, s
        assert val(s, "process_resident_memory_bytes") > 1e6, s
        text, _ = scrape(port)
        assert re.search(r'^wsd_build_info\{version="[^"]+",abi="1\.5"\} 1$',
                         text, re.M), text
        promtool_check(text)

        prom = Prometheus(port)
        prom.wait_ready()
        prom.wait_query('sum(wsd_connections{route="/echo"})', n)
        prom.wait_query('wsd_plugin_chat_members{route="/chat"}', 1)
        prom.wait_query('up{job="wsd"}', 1)
        # One client leaves: Prometheus sees it.
        c = conns.pop(0)
        c.send_close(1000)
        c.expect_close(1000, reply=False)
        c.close()
        prom.wait_query('sum(wsd_connections{route="/echo"})', n - 1)
        print("    Prometheus saw %d, then %d open connections on /echo "
              "over 2 workers" % (n, n - 1))
    finally:
        if prom is not None:
            prom.stop()
        for c in conns:
            c.close()
        d.stop()


def test_timers_and_posts_are_timed():
    """A plugin's timers (clock ticks) and posts (poster's thread) count
    as callbacks of their route, as its connection callbacks do."""
    plugins = W.tmpdir()
    for name in ("clock.so",):
        os.symlink(os.path.join(W.PLUGIN_DIR, name),
                   os.path.join(plugins, name))
    os.symlink(os.path.join(W.TEST_PLUGIN_DIR, "poster.so"),
               os.path.join(plugins, "poster.so"))
    d = W.start_daemon(config(workers=1, plugin_dir=plugins, routes=[
        W.route("/clock", plugin="clock"),
        W.route("/poster", plugin="poster", settings={"period_ms": 20})]))
    try:
        port = metrics_port(d)
        deadline = time.monotonic() + W.T(10)
        while True:
            _, s = scrape(port)
            timers = val(s, "wsd_plugin_callbacks_total", route="/clock",
                         callback="timer") or 0
            posts = val(s, "wsd_plugin_callbacks_total", route="/poster",
                        callback="post") or 0
            if timers >= 2 and posts >= 10:
                break
            assert time.monotonic() < deadline, (timers, posts)
            time.sleep(0.2)
        assert val(s, "wsd_plugin_callback_seconds_total", route="/poster",
                   callback="post") > 0, s
        assert val(s, "wsd_plugin_callbacks_total", route="/poster",
                   callback="timer") in (None, 0), s
    finally:
        d.kill()


TESTS = [
    test_config_errors_with_file_and_line,
    test_off_unless_configured_and_loopback_by_default,
    test_http_rules,
    test_counters_move,
    test_reload_ok_and_failed_and_series_continue,
    test_reload_moves_and_removes_the_listener,
    test_reload_adds_the_listener_and_old_workers_still_count,
    test_a_stuck_worker_is_reported_missing,
    test_backplane_up_reconnects_not_relayed,
    test_promtool_and_a_real_prometheus,
    test_timers_and_posts_are_timed,
]

if __name__ == "__main__":
    W.run(TESTS)
