#!/usr/bin/python3
"""How long a Prometheus scrape of wsd takes while it holds many open
WebSocket connections (a measurement, not a test).

    bench/metrics_scrape.py --wsd-build DIR [--conns 10000] [--workers 2]
        [--procs 4] [--scrapes 20]

Starts DIR/wsd with a metrics listener and `workers` workers, opens
`conns` idle WebSocket connections to /echo from `procs` client
processes (each process stays under its descriptor limit), then times
`scrapes` GET /metrics (each a new TCP connection, as Prometheus makes)
and prints min, median and max, next to the same with no connections
held.  Everything runs on 127.0.0.1; wsd and the clients are stopped by
PID at the end.
"""

import argparse
import base64
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def hold(port, n):
    """Client process: open n connections, say so, wait for stdin EOF."""
    socks = []
    req = ("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: %s\r\n\r\n")
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), 30)
        s.sendall((req % base64.b64encode(os.urandom(16)).decode()).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("connection closed during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise SystemExit("refused: %r" % head[:80])
        socks.append(s)
    print("ready %d" % len(socks), flush=True)
    sys.stdin.read()
    for s in socks:
        s.close()


def scrape(port):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), 30)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Connection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    dt = time.monotonic() - t0
    assert data.startswith(b"HTTP/1.1 200"), data[:100]
    return dt, data


def series(data, name):
    m = re.search(rb"^" + name.encode() + rb"\{route=\"/echo\"\} (\S+)$",
                  data, re.M)
    return float(m.group(1)) if m else None


def measure(port, n):
    times = []
    for _ in range(n):
        dt, data = scrape(port)
        times.append(dt)
    return times, data


def fmt(times):
    return "min %.1f ms, median %.1f ms, max %.1f ms (%d scrapes)" % (
        min(times) * 1e3, statistics.median(times) * 1e3, max(times) * 1e3,
        len(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wsd-build", default=os.path.dirname(HERE))
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--hold", nargs=2, type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.hold:
        hold(*a.hold)
        return
    build = os.path.abspath(a.wsd_build)
    tmp = tempfile.mkdtemp(prefix="wsd-metrics-bench-")
    conf = os.path.join(tmp, "wsd.conf")
    with open(conf, "w") as f:
        f.write('listen = ( { address = "127.0.0.1"; port = 0; } );\n'
                'plugin_dir = "%s/plugins/.libs";\n'
                'log_level = "warning";\n'
                'workers = %d;\n'
                'metrics = { port = 0; };\n'
                'limits = { idle_timeout = 3600; ping_interval = 3600; '
                'handshake_timeout = 60; };\n'
                'routes = ( { path = "/echo"; plugin = "echo-logger"; '
                'origins = [ "*" ]; settings = { log = "/dev/null"; }; } );\n'
                % (build, a.workers))
    log = open(os.path.join(tmp, "wsd.log"), "w+")
    wsd = subprocess.Popen([os.path.join(build, "wsd"), "-c", conf],
                           stdin=subprocess.DEVNULL, stdout=log,
                           stderr=subprocess.STDOUT)
    clients = []
    try:
        # -p is not given: the log says nothing at "warning"; find the
        # ports from the master's sockets instead.
        port = mport = None
        deadline = time.monotonic() + 30
        while (port is None or mport is None) and time.monotonic() < deadline:
            time.sleep(0.2)
            out = subprocess.run(["ss", "-Hltnp"], stdout=subprocess.PIPE,
                                 errors="replace").stdout
            ports = sorted(int(m.group(1)) for m in re.finditer(
                r"127\.0\.0\.1:(\d+) .*pid=%d," % wsd.pid, out))
            if len(ports) == 2:
                # Which is which: the metrics one answers /metrics.
                for p in ports:
                    try:
                        scrape(p)
                        mport = p
                    except (AssertionError, OSError):
                        port = p
        assert port and mport, "wsd did not come up"
        time.sleep(1)
        base, _ = measure(mport, a.scrapes)
        per = a.conns // a.procs
        t0 = time.monotonic()
        for i in range(a.procs):
            n = per if i < a.procs - 1 else a.conns - per * (a.procs - 1)
            clients.append(subprocess.Popen(
                [sys.executable, __file__, "--hold", str(port), str(n)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE))
        for c in clients:
            line = c.stdout.readline().decode()
            assert line.startswith("ready"), line
        opened = time.monotonic() - t0
        times, data = measure(mport, a.scrapes)
        held = series(data, "wsd_connections")
        print("wsd %d workers, %d connections held (metrics say %s), "
              "opened in %.1f s" % (a.workers, a.conns, held, opened))
        print("  scrape, no connections:      %s" % fmt(base))
        print("  scrape, %5d connections:   %s; %d bytes"
              % (a.conns, fmt(times), len(data)))
        m = re.search(rb"^process_open_fds (\S+)$", data, re.M)
        print("  process_open_fds %s" % (m.group(1).decode() if m else "?"))
    finally:
        for c in clients:
            try:
                c.stdin.close()
            except OSError:
                pass
            c.wait(60)
        wsd.terminate()
        try:
            wsd.wait(30)
        except subprocess.TimeoutExpired:
            wsd.kill()
            wsd.wait()
        log.close()


if __name__ == "__main__":
    main()
