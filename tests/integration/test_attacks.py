"""Hostile clients: slowloris, silent and never-reading clients, huge and
endless frames, ping storms, oversized heads, the connection cap, fd
exhaustion, header injection, path traversal and log injection.

Every attack runs while a well-behaved client proves that the daemon keeps
serving: a separate process (so that this one's busy loop does not slow
it down) opens a websockets connection to /echo, echoes one message and
must be done within T(1) seconds (Probe).
"""

import collections
import heapq
import json
import os
import random
import re
import resource
import selectors
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

KIB = 1024
MIB = 1024 * 1024

# Small timeouts, so that the tests are quick.
# The swarms below come from one address: max_pending_per_address, which
# would refuse most of them at once, has its own test.
FAST = {"handshake_timeout": 2, "idle_timeout": 3, "ping_interval": 1,
        "close_timeout": 1, "max_pending_per_address": 0}


def _raise_nofile():
    """Thousands of client sockets: raise our soft descriptor limit."""
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
    """Is wsd built with AddressSanitizer?  (Its RSS is then much larger.)"""
    try:
        with open(W.WSD, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SANITIZED = _sanitized()
# Memory allowances: ASan's redzones inflate the RSS.
MEM_FACTOR = 4 if SANITIZED else 1
if SANITIZED:
    # ASan keeps up to 256 MB of freed memory in quarantine, which would
    # swamp every RSS figure here; keep it small for our daemons, and let
    # the allocator give memory back.
    os.environ["ASAN_OPTIONS"] = ":".join(
        x for x in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=4",
                    "allocator_release_to_os_interval_ms=50") if x)


def swarm_size(want):
    """want, if our descriptor limit (the daemon's is the same hard
    limit) can hold that many connections; else the case is skipped
    (a failure in CI): a smaller swarm would not test what it claims."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= want + 200:
        return want
    raise W.Skip("descriptor limit %d cannot hold %d connections"
                 % (soft, want))


# ------------------------------------------------------------ /proc

def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for pid %d" % pid)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_seconds(pid):
    """utime + stime of the process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Rss:
    """RSS samples of a daemon: baseline, peak, last."""

    def __init__(self, pid):
        self.pid = pid
        self.base = rss_mb(pid)
        self.peak = self.base
        self.last = self.base
        self._t = 0.0

    def sample(self, every=0.05):
        now = time.monotonic()
        if now - self._t >= every:
            self._t = now
            self.last = rss_mb(self.pid)
            self.peak = max(self.peak, self.last)
        return self.last

    def __str__(self):
        return "RSS base %.1f MB, peak %.1f MB, now %.1f MB" % (
            self.base, self.peak, self.last)


# ------------------------------------------------------------ the probe

PROBE_SRC = r'''
import asyncio, json, sys, time
import websockets

port, path, hold = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])


async def main():
    uri = "ws://127.0.0.1:%d%s" % (port, path)
    t0 = time.monotonic()
    async with websockets.connect(uri, max_size=None, ping_interval=None,
                                  compression=None, open_timeout=60,
                                  close_timeout=5) as ws:
        res = {"open": time.monotonic() - t0}
        await ws.send("probe one")
        got = await asyncio.wait_for(ws.recv(), 60)
        res["echo"] = time.monotonic() - t0
        assert got == "probe one", got
        if hold > 0:
            print("OPEN", flush=True)
            # websockets answers the server's pings meanwhile
            await asyncio.sleep(hold)
            t1 = time.monotonic()
            await ws.send("probe two")
            got = await asyncio.wait_for(ws.recv(), 60)
            res["echo2"] = time.monotonic() - t1
            assert got == "probe two", got
    print(json.dumps(res), flush=True)

asyncio.run(main())
'''


class Probe:
    """A well-behaved client in its own process: connect to path, echo a
    message (and with hold > 0 stay connected that many seconds, answering
    pings, and echo again).  result() checks it did all that in time."""

    def __init__(self, port, path="/echo", hold=0.0):
        self.hold = hold
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROBE_SRC, str(port), path, str(hold)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, universal_newlines=True)
        _probes.append(self)

    def done(self):
        return self.proc.poll() is not None

    def wait_open(self, timeout=10):
        """With hold > 0: wait until it is connected and has echoed."""
        import select
        deadline = time.monotonic() + W.T(timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("well-behaved client not connected "
                                     "within %ss" % W.T(timeout))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                line = self.proc.stdout.readline()
                if line.startswith("OPEN"):
                    return
                if not line:
                    raise AssertionError("well-behaved client failed: %s"
                                         % self.proc.stderr.read()[-2000:])

    def result(self, timeout=30):
        try:
            out, err = self.proc.communicate(timeout=W.T(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError("well-behaved client still not done after "
                                 "%ss:\n%s%s" % (W.T(timeout), out, err))
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if self.proc.returncode != 0 or not lines:
            raise AssertionError("well-behaved client failed (exit %s):\n%s%s"
                                 % (self.proc.returncode, out, err[-3000:]))
        return json.loads(lines[-1])

    def check(self, bound=1.0, timeout=30):
        """The result, asserting the echo was done within T(bound)."""
        r = self.result(timeout)
        assert r["echo"] <= W.T(bound), \
            "well-behaved client: connect + echo took %.3fs (bound %.1fs)" \
            % (r["echo"], W.T(bound))
        if "echo2" in r:
            assert r["echo2"] <= W.T(bound), \
                "well-behaved client: second echo took %.3fs" % r["echo2"]
        return r

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


_probes = []


def probe_now(port, bound=1.0):
    """Run a probe to completion and check it."""
    r = Probe(port).check(bound)
    print("    well-behaved client: open %.3fs, echo %.3fs"
          % (r["open"], r["echo"]))
    return r


def cleanup_probes():
    for p in _probes:
        p.kill()
    del _probes[:]


def attack_test(fn):
    """Kill leftover probes whatever happened."""
    def t():
        try:
            fn()
        finally:
            cleanup_probes()
    t.__name__ = fn.__name__
    return t


# ------------------------------------------------------------ raw sockets

def nb_socket(rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.setblocking(False)
    return s


def upgrade_head(port, path="/echo", extra=()):
    hdrs = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port,
            "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Key: %s" % W.new_key(),
            "Sec-WebSocket-Version: 13"]
    hdrs += ["%s: %s" % kv for kv in extra]
    return ("\r\n".join(hdrs) + "\r\n\r\n").encode()


class Peer:
    """One raw non-blocking client in a selectors loop."""

    __slots__ = ("sock", "state", "t_start", "t_first", "t_open",
                 "t_closed", "reset", "rbuf", "out", "pos", "pings",
                 "close_code", "frames", "err", "seq")

    def __init__(self, sock, seq):
        self.sock = sock
        self.seq = seq
        self.state = "connecting"
        self.t_start = time.monotonic()
        self.t_first = self.t_open = self.t_closed = None
        self.reset = False
        self.rbuf = bytearray()
        self.out = b""
        self.pos = 0
        self.pings = 0
        self.close_code = None
        self.frames = 0
        self.err = None

    def __lt__(self, other):
        return self.seq < other.seq


def parse_server_frames(p):
    """Consume whole unmasked server frames from p.rbuf; count pings, note
    the close code."""
    buf = p.rbuf
    while len(buf) >= 2:
        op = buf[0] & 0x0F
        n = buf[1] & 0x7F
        i = 2
        if n == 126:
            if len(buf) < 4:
                return
            n = struct.unpack("!H", bytes(buf[2:4]))[0]
            i = 4
        elif n == 127:
            if len(buf) < 10:
                return
            n = struct.unpack("!Q", bytes(buf[2:10]))[0]
            i = 10
        if len(buf) < i + n:
            return
        payload = bytes(buf[i:i + n])
        del buf[:i + n]
        p.frames += 1
        if op == W.OP_PING:
            p.pings += 1
        elif op == W.OP_CLOSE:
            p.close_code = (struct.unpack("!H", payload[:2])[0]
                            if len(payload) >= 2 else 0)


def ms(x):
    return "%.0fms" % (x * 1000)


# ------------------------------------------------------------ slowloris

@attack_test
def test_slowloris_2000_dropped_at_handshake_timeout():
    """2,000 clients sending their request head one byte every 0.5-1 s
    are dropped at handshake_timeout; a well-behaved client is served
    meanwhile."""
    n = swarm_size(2000)
    hs = FAST["handshake_timeout"]
    d = W.start(limits=FAST)
    try:
        head = upgrade_head(d.port)[:-2]       # never complete
        sel = selectors.DefaultSelector()
        peers, heap = [], []
        rnd = random.Random(1)
        t0 = time.monotonic()
        deadline = t0 + W.T(40)
        next_batch = t0
        probe = None
        alive_at_probe = None
        last_first = None
        failed = 0

        def drop(p, now, reset=False):
            if p.state == "closed":
                return
            p.state = "closed"
            p.t_closed = now
            p.reset = reset
            try:
                sel.unregister(p.sock)
            except (KeyError, ValueError):
                pass
            p.sock.close()

        try:
            while True:
                now = time.monotonic()
                if now > deadline:
                    break
                if len(peers) < n and now >= next_batch:
                    for _ in range(min(100, n - len(peers))):
                        s = nb_socket()
                        s.connect_ex(("127.0.0.1", d.port))
                        p = Peer(s, len(peers))
                        peers.append(p)
                        sel.register(s, selectors.EVENT_WRITE, p)
                    next_batch = now + 0.03
                wait = 0.02
                if heap:
                    wait = max(0.0, min(wait, heap[0][0] - now))
                for key, _ in sel.select(wait):
                    p = key.data
                    now = time.monotonic()
                    if p.state == "connecting":
                        err = p.sock.getsockopt(socket.SOL_SOCKET,
                                                socket.SO_ERROR)
                        if err:
                            p.err = os.strerror(err)
                            failed += 1
                            drop(p, now)
                            continue
                        try:
                            p.sock.send(head[:1])
                        except OSError as e:
                            p.err = str(e)
                            drop(p, now, True)
                            continue
                        p.pos = 1
                        p.t_first = last_first = now
                        p.state = "dribble"
                        sel.modify(p.sock, selectors.EVENT_READ, p)
                        heapq.heappush(heap, (now + rnd.uniform(0.5, 1.0), p))
                        continue
                    try:
                        data = p.sock.recv(4096)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        drop(p, now, True)
                        continue
                    if data:
                        p.rbuf += data
                    else:
                        drop(p, now)
                now = time.monotonic()
                while heap and heap[0][0] <= now:
                    _, p = heapq.heappop(heap)
                    if p.state != "dribble":
                        continue
                    if p.pos < len(head):
                        try:
                            p.sock.send(head[p.pos:p.pos + 1])
                            p.pos += 1
                        except BlockingIOError:
                            pass
                        except OSError:
                            drop(p, now, True)
                            continue
                    heapq.heappush(heap, (now + rnd.uniform(0.5, 1.0), p))
                started = sum(1 for p in peers if p.t_first is not None)
                if probe is None and started == n and \
                        now - last_first > 0.3:
                    alive_at_probe = sum(1 for p in peers
                                         if p.state == "dribble")
                    fds_at_probe = fd_count(d.pid)
                    probe = Probe(d.port)
                if probe is not None and probe.done() and \
                        all(p.state == "closed" for p in peers):
                    break
        finally:
            for p in peers:
                if p.state != "closed":
                    p.sock.close()
            sel.close()

        assert probe is not None, \
            "the attack never got going: %d of %d connections started " \
            "(%d failed: %r)" % (sum(1 for p in peers if p.t_first),
                                 n, failed,
                                 [p.err for p in peers if p.err][:3])
        r = probe.check(1.0)
        print("    %d slowloris connections, %d alive and %d fds in wsd "
              "when the well-behaved client ran (open %.3fs, echo %.3fs)"
              % (n, alive_at_probe, fds_at_probe, r["open"], r["echo"]))
        assert alive_at_probe >= n * 0.95, \
            "only %d of %d slowloris connections alive at the peak" % (
                alive_at_probe, n)
        started = [p for p in peers if p.t_first is not None]
        assert failed == 0 and len(started) == n, \
            "%d connects failed: %r" % (failed, [p.err for p in peers
                                                  if p.err][:5])
        still = [p for p in started if p.t_closed is None]
        assert not still, "%d connections still open after %.0fs" % (
            len(still), W.T(40))
        life = sorted(p.t_closed - p.t_first for p in started)
        late = [x for x in life if x > hs + W.T(1.5)]
        early = [x for x in life if x < hs - 0.3]
        talked = [p for p in started if p.rbuf]
        print("    dropped after %s (min) %s (median) %s (max); %d reset"
              % (ms(life[0]), ms(life[len(life) // 2]), ms(life[-1]),
                 sum(1 for p in started if p.reset)))
        assert len(late) <= n * 0.01, \
            "%d connections dropped later than handshake_timeout + %.1fs " \
            "(worst %s)" % (len(late), W.T(1.5), ms(life[-1]))
        assert not early, "%d connections dropped before the handshake " \
            "timeout (first after %s)" % (len(early), ms(life[0]))
        assert not talked, "the server answered a slowloris client: %r" % (
            bytes(talked[0].rbuf[:200]),)
        assert d.alive()
        probe_now(d.port)
    finally:
        d.kill()


# ------------------------------------------------------------ silent clients

@attack_test
def test_2000_silent_clients_closed_at_idle_timeout():
    """2,000 clients that complete the handshake and then never answer
    anything (not even pings) are closed at the idle timeout (Close 1001,
    then EOF); a websockets client that answers pings stays connected
    across the same span and still echoes."""
    n = swarm_size(2000)
    idle, close_t = FAST["idle_timeout"], FAST["close_timeout"]
    d = W.start(limits=FAST)
    try:
        # connected before the attack, still there after it
        keeper = Probe(d.port, hold=idle + close_t + 3.0)
        keeper.wait_open()
        sel = selectors.DefaultSelector()
        peers = []
        t0 = time.monotonic()
        deadline = t0 + W.T(45)
        next_batch = t0
        probe = None
        open_at_probe = None
        failed = 0

        def finish(p, now, reset=False):
            if p.state == "closed":
                return
            p.state = "closed"
            p.t_closed = now
            p.reset = reset
            try:
                sel.unregister(p.sock)
            except (KeyError, ValueError):
                pass
            p.sock.close()

        try:
            while True:
                now = time.monotonic()
                if now > deadline:
                    break
                if len(peers) < n and now >= next_batch:
                    for _ in range(min(100, n - len(peers))):
                        s = nb_socket()
                        s.connect_ex(("127.0.0.1", d.port))
                        p = Peer(s, len(peers))
                        p.out = upgrade_head(d.port)
                        peers.append(p)
                        sel.register(s, selectors.EVENT_WRITE, p)
                    next_batch = now + 0.05
                for key, _ in sel.select(0.05):
                    p = key.data
                    now = time.monotonic()
                    if p.state == "connecting":
                        err = p.sock.getsockopt(socket.SOL_SOCKET,
                                                socket.SO_ERROR)
                        if err:
                            p.err = os.strerror(err)
                            failed += 1
                            finish(p, now)
                            continue
                        try:
                            p.sock.send(p.out)   # < 300 bytes: whole
                        except OSError as e:
                            p.err = str(e)
                            finish(p, now, True)
                            continue
                        p.state = "head"
                        sel.modify(p.sock, selectors.EVENT_READ, p)
                        continue
                    try:
                        data = p.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        finish(p, now, True)
                        continue
                    if not data:
                        finish(p, now)
                        continue
                    p.rbuf += data
                    if p.state == "head":
                        i = p.rbuf.find(b"\r\n\r\n")
                        if i < 0:
                            continue
                        status = bytes(p.rbuf[:12])
                        if status != b"HTTP/1.1 101":
                            p.err = "status %r" % status
                            finish(p, now)
                            continue
                        del p.rbuf[:i + 4]
                        p.state = "open"
                        p.t_open = now
                    parse_server_frames(p)
                now = time.monotonic()
                opened = [p for p in peers if p.t_open is not None]
                if probe is None and len(opened) == n and \
                        now - max(p.t_open for p in opened) > 1.2:
                    # every one of them silent for more than a ping
                    # interval: the server is pinging them all
                    open_at_probe = sum(1 for p in peers
                                        if p.state == "open")
                    fds_at_probe = fd_count(d.pid)
                    probe = Probe(d.port)
                if probe is not None and probe.done() and \
                        all(p.state == "closed" for p in peers):
                    break
                if len(peers) == n and probe is None and \
                        all(p.state == "closed" for p in peers):
                    break
        finally:
            for p in peers:
                if p.state != "closed":
                    p.sock.close()
            sel.close()

        errs = [p.err for p in peers if p.err]
        assert not errs, "%d connections failed: %r" % (len(errs), errs[:5])
        assert probe is not None, "the handshakes never all completed"
        r = probe.check(1.0)
        print("    %d silent clients, %d open and %d fds in wsd when the "
              "well-behaved client ran (open %.3fs, echo %.3fs)"
              % (n, open_at_probe, fds_at_probe, r["open"], r["echo"]))
        assert open_at_probe >= n * 0.99, open_at_probe
        kr = keeper.check(1.0, timeout=20)
        print("    websockets client kept across %.0fs: echoes %.3fs, %.3fs"
              % (keeper.hold, kr["echo"], kr["echo2"]))
        still = [p for p in peers if p.t_closed is None]
        assert not still, "%d still open" % len(still)
        codes = collections.Counter(p.close_code for p in peers)
        assert codes == {1001: n}, "close codes %r (None: no close frame)" \
            % dict(codes)
        nopings = sum(1 for p in peers if p.pings == 0)
        assert nopings == 0, "%d clients were never pinged" % nopings
        life = sorted(p.t_closed - p.t_open for p in peers)
        print("    EOF after %s (min) %s (median) %s (max); pings per "
              "client %d..%d" % (ms(life[0]), ms(life[len(life) // 2]),
                                 ms(life[-1]), min(p.pings for p in peers),
                                 max(p.pings for p in peers)))
        hi = idle + close_t + FAST["ping_interval"] + W.T(1.5)
        assert life[0] >= idle - 0.2, "closed after %s, before " \
            "idle_timeout" % ms(life[0])
        late = [x for x in life if x > hi]
        assert len(late) <= n * 0.01, "%d closed after more than %.1fs " \
            "(worst %s)" % (len(late), hi, ms(life[-1]))
        assert d.alive()
    finally:
        d.kill()


# ------------------------------------------------------------ never reading

@attack_test
def test_never_reading_echo_clients_closed_memory_bounded():
    """Clients that send large messages to /echo and never read are
    closed once their send buffer passes max_send_buffer (256 KiB); the
    daemon's RSS stays bounded and comes back down."""
    nslow = 8
    limit = 256 * KIB
    d = W.start(limits=dict(FAST, max_send_buffer=limit))
    try:
        W.echo_ok(d.port)
        time.sleep(0.2)
        rss = Rss(d.pid)
        fds0 = fd_count(d.pid)
        frame = W.build_frame(W.OP_BINARY, os.urandom(64 * KIB))
        slow = []
        for i in range(nslow):
            c = W.RawClient(d.port)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.handshake()
            c.sock.setblocking(False)
            slow.append({"c": c, "sent": 0, "pos": 0, "end": None,
                         "port": c.local_port})
        t0 = time.monotonic()
        deadline = t0 + W.T(30)
        probe = None
        try:
            while time.monotonic() < deadline:
                active = [s for s in slow if s["end"] is None]
                if not active:
                    break
                progress = False
                for s in active:
                    try:
                        k = s["c"].sock.send(frame[s["pos"]:])
                    except BlockingIOError:
                        continue
                    except (BrokenPipeError, ConnectionResetError):
                        s["end"] = time.monotonic()
                        continue
                    progress = True
                    s["sent"] += k
                    s["pos"] = (s["pos"] + k) % len(frame)
                rss.sample()
                if probe is None and time.monotonic() - t0 > 0.5:
                    probe = Probe(d.port)
                if not progress:
                    time.sleep(0.005)
        finally:
            for s in slow:
                s["c"].close()
        still = [s for s in slow if s["end"] is None]
        assert not still, "%d never-reading clients still connected after " \
            "%.0fs (sent %r bytes)" % (len(still), W.T(30),
                                       [s["sent"] for s in still])
        r = probe.check(1.0)
        during = rss.peak
        time.sleep(W.T(1.5))
        for _ in range(20):
            rss.sample(0)
            if fd_count(d.pid) <= fds0:
                break
            time.sleep(0.1)
        print("    %d clients cut off after %s..%s, having sent %.1f..%.1f "
              "MB; %s; fds %d -> %d; probe echo %.3fs"
              % (nslow, ms(min(s["end"] for s in slow) - t0),
                 ms(max(s["end"] for s in slow) - t0),
                 min(s["sent"] for s in slow) / MIB,
                 max(s["sent"] for s in slow) / MIB, rss, fds0,
                 fd_count(d.pid), r["echo"]))
        for s in slow:
            d.wait_log(r"access 127\.0\.0\.1:%d \".*close=1008\b" % s["port"],
                       timeout=5)
        n_limit = len([l for l in d.lines
                       if "send buffer limit (%d bytes) passed" % limit in l])
        assert n_limit == nslow, "%d 'send buffer limit' lines for %d " \
            "clients" % (n_limit, nslow)
        assert during < rss.base + 64 * MEM_FACTOR, \
            "RSS grew from %.1f to %.1f MB" % (rss.base, during)
        assert rss.last < rss.base + 16 * MEM_FACTOR, \
            "RSS did not come back down: %s" % rss
        assert fd_count(d.pid) <= fds0, "descriptors leaked: %d -> %d" % (
            fds0, fd_count(d.pid))
        probe_now(d.port)
    finally:
        d.kill()


CLOCK_FORMAT = "%H:%M:%S.%L " + "tick " * 90    # ~460 bytes a tick


@attack_test
def test_never_reading_broadcast_client_closed_others_tick():
    """A clock route ticking every 10 ms; a client with a tiny receive
    buffer never reads: it is closed (1008) once past its send buffer
    limit, while the others keep getting every tick."""
    d = W.start(routes=[
        W.route("/echo"),
        W.route("/clock", plugin="clock",
                settings={"interval_ms": 10, "format": CLOCK_FORMAT},
                limits={"max_send_buffer": 64 * KIB, "idle_timeout": 0,
                        "ping_interval": 0})], limits=FAST)
    try:
        # A tiny receive buffer, and a tiny MSS: the kernel then keeps the
        # server's socket send buffer small too (it autotunes it from the
        # MSS), so the backlog reaches wsd's own buffer within seconds.
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        try:
            stuck.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        except OSError:
            pass
        stuck.settimeout(W.T(5))
        stuck.connect(("127.0.0.1", d.port))
        stuck.sendall(upgrade_head(d.port, "/clock"))
        resp = b""
        while b"\r\n\r\n" not in resp:
            data = stuck.recv(1)       # the head only; never more
            assert data, "EOF during the handshake: %r" % resp
            resp += data
        assert resp.startswith(b"HTTP/1.1 101 "), resp
        stuck_port = stuck.getsockname()[1]
        good = [W.raw_ws(d.port, "/clock") for _ in range(2)]
        ticks = [[] for _ in good]
        for c in good:
            c.sock.setblocking(False)
        sel = selectors.DefaultSelector()
        for i, c in enumerate(good):
            sel.register(c.sock, selectors.EVENT_READ, i)
        t0 = time.monotonic()
        closed_at = None
        probe = None
        mark = d.mark()
        pat = re.compile(r"access 127\.0\.0\.1:%d \".*close=(\d+)"
                         % stuck_port)
        try:
            while time.monotonic() - t0 < W.T(30):
                for key, _ in sel.select(0.02):
                    i = key.data
                    c = good[i]
                    try:
                        data = c.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    assert data, "good clock client %d lost its " \
                        "connection" % i
                    c.buf += data
                    while True:
                        n0 = len(c.buf)
                        if n0 < 4:
                            break
                        n = c.buf[1] & 0x7F
                        hl = 2
                        if n == 126:
                            n = struct.unpack("!H", bytes(c.buf[2:4]))[0]
                            hl = 4
                        if n0 < hl + n:
                            break
                        op = c.buf[0] & 0x0F
                        del c.buf[:hl + n]
                        if op == W.OP_TEXT:
                            ticks[i].append(time.monotonic())
                now = time.monotonic()
                if probe is None and now - t0 > 0.5:
                    probe = Probe(d.port)
                if closed_at is None and d.find_log(pat.pattern, mark):
                    closed_at = now
                if closed_at is not None and now - closed_at > 1.0 and \
                        probe.done():
                    break
        finally:
            sel.close()
        m = d.find_log(pat.pattern, mark)
        assert m, "the never-reading clock client was not closed within " \
            "%.0fs" % W.T(30)
        assert m.group(1) == "1008", "closed with %s, wanted 1008" % (
            m.group(1))
        r = probe.check(1.0)
        for i, ts in enumerate(ticks):
            gaps = [b - a for a, b in zip(ts, ts[1:])]
            span = ts[-1] - ts[0]
            print("    good client %d: %d ticks in %.1fs, longest gap %s"
                  % (i, len(ts), span, ms(max(gaps))))
            assert len(ts) >= span / 0.010 * 0.5, \
                "good client %d got %d ticks in %.1fs" % (i, len(ts), span)
            assert max(gaps) < W.T(0.5), \
                "good client %d: no tick for %s" % (i, ms(max(gaps)))
            # and it still ticks after the stuck client is gone
            assert ts[-1] > closed_at + 0.5, "good client %d stopped " \
                "ticking" % i
        print("    stuck client closed after %s; probe echo %.3fs"
              % (ms(closed_at - t0), r["echo"]))
        stuck.close()
        for c in good:
            c.close()
    finally:
        d.kill()


# ------------------------------------------------------------ frames

def read_close_code(c, timeout=10):
    """Read frames until a close frame: its code, or 'EOF'."""
    deadline = time.monotonic() + W.T(timeout)
    while time.monotonic() < deadline:
        try:
            f = c.read_frame(deadline - time.monotonic())
        except W.EOF:
            return "EOF"
        except socket.timeout:
            break
        if f.opcode == W.OP_CLOSE:
            return f.code
    raise AssertionError("no close frame within %ss" % W.T(timeout))


@attack_test
def test_huge_frame_lengths():
    """A 2^63 length (MSB set) is a protocol error (1002); 2^62 and
    2^64 - 1... bytes announced are refused at once (1009 or 1002)."""
    d = W.start(limits=FAST)
    try:
        cases = [(1 << 63, 1002), ((1 << 64) - 1, 1002), (1 << 62, 1009),
                 ((1 << 63) - 1, 1009), (1 << 40, 1009)]
        for length, code in cases:
            with W.raw_ws(d.port) as c:
                t0 = time.monotonic()
                c.send(W.build_frame(W.OP_BINARY, b"", length=length,
                                     length_form=64))
                try:
                    c.expect_close(code, timeout=5)
                except AssertionError as e:
                    raise AssertionError("length %#x: %s" % (length, e))
                dt = time.monotonic() - t0
                assert dt < W.T(0.5), "length %#x: closed only after %.2fs" \
                    % (length, dt)
        # the same, for a continuation frame of a fragmented message
        with W.raw_ws(d.port) as c:
            c.send(W.build_frame(W.OP_TEXT, "a", fin=False) +
                   W.build_frame(W.OP_CONT, b"", length=1 << 62,
                                 length_form=64))
            c.expect_close(1009, timeout=5)
        probe_now(d.port)
    finally:
        d.kill()


def fragment_flood(d, frame, label, total_frames, sock_rcvbuf=None):
    """Send `frame` (a masked non-final continuation) over and over after
    a first non-final text fragment, without reading, until the server's
    close arrives.  Returns (close code, frames sent, seconds, Rss)."""
    c = W.raw_ws(d.port)
    rss = Rss(d.pid)
    try:
        chunk = frame * max(1, 65536 // len(frame))
        per_chunk = len(chunk) // len(frame)
        c.send(W.build_frame(W.OP_TEXT, "x", fin=False))
        c.sock.setblocking(False)
        sent = 0
        t0 = time.monotonic()
        code = None
        got = bytearray()
        probe = Probe(d.port)
        while sent < total_frames and time.monotonic() - t0 < W.T(20):
            try:
                k = c.sock.send(chunk)
                sent += k // len(frame)
            except BlockingIOError:
                time.sleep(0.002)
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                data = c.sock.recv(65536)
                if not data:
                    break
                got += data
                if got[:1] == b"\x88":
                    break
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            rss.sample()
        dt = time.monotonic() - t0
        c.sock.setblocking(True)
        c.sock.settimeout(W.T(5))
        try:
            while len(got) < 4:
                data = c.sock.recv(65536)
                if not data:
                    break
                got += data
        except (socket.timeout, ConnectionResetError):
            pass
        if got[:1] == b"\x88" and len(got) >= 4:
            code = struct.unpack("!H", bytes(got[2:4]))[0]
        r = probe.check(1.0)
        print("    %s: close %s after %d frames sent (%.1f MB) in %.2fs; "
              "%s; probe echo %.3fs" % (label, code, sent,
                                        sent * len(frame) / MIB, dt, rss,
                                        r["echo"]))
        del per_chunk
        return code, sent, dt, rss
    finally:
        c.close()


@attack_test
def test_fragment_floods_capped_by_max_fragments():
    """A 1 GiB message in 1-byte fragments, and a million empty
    fragments: closed with 1009 as soon as max_fragments (1000) is
    passed, long before the end; 1000 fragments are still fine."""
    d = W.start(limits=dict(FAST, max_fragments=1000))
    try:
        # exactly 1000 fragments: delivered
        with W.raw_ws(d.port) as c:
            data = W.build_frame(W.OP_TEXT, "a", fin=False)
            data += W.build_frame(W.OP_CONT, "b", fin=False) * 998
            data += W.build_frame(W.OP_CONT, "c")
            c.send(data)
            assert c.read_message() == (W.OP_TEXT, b"a" + b"b" * 998 + b"c")
        one = W.build_frame(W.OP_CONT, b"z", fin=False, mask_key=b"\1\2\3\4")
        code, sent, dt, rss = fragment_flood(d, one, "1 GiB in 1-byte "
                                             "fragments", 1 << 30)
        assert code == 1009, "close code %s, wanted 1009" % code
        assert sent * len(one) < 64 * MIB, "sent %d MB before the close" % (
            sent * len(one) // MIB)
        assert rss.peak < rss.base + 32 * MEM_FACTOR, str(rss)
        empty = W.build_frame(W.OP_CONT, b"", fin=False,
                              mask_key=b"\1\2\3\4")
        code, sent, dt, rss = fragment_flood(d, empty, "a million empty "
                                             "fragments", 1000000)
        assert code == 1009, "close code %s, wanted 1009" % code
        assert rss.peak < rss.base + 32 * MEM_FACTOR, str(rss)
        assert d.alive()
        probe_now(d.port)
    finally:
        d.kill()


@attack_test
def test_ping_storm_memory_bounded():
    """100,000 pings (125-byte payloads) as fast as possible, reading no
    pong until the sending stalls or ends, then reading: the daemon must
    not queue pongs without bound.  It may answer them all (TCP
    back-pressure) or close the connection once its send buffer passes
    max_send_buffer (256 KiB); either way its RSS must not grow by much
    more than that limit."""
    limit = 256 * KIB
    npings = 100000
    d = W.start(limits=dict(FAST, max_send_buffer=limit))
    try:
        W.echo_ok(d.port)
        c = W.raw_ws(d.port)
        rss = Rss(d.pid)
        try:
            ping = W.build_frame(W.OP_PING, b"p" * 125, mask_key=b"abcd")
            total = npings * len(ping)
            block = ping * 512
            c.sock.setblocking(False)
            sent = 0
            t0 = time.monotonic()
            last = t0
            probe = Probe(d.port)
            # phase 1: send, do not read
            while sent < total and time.monotonic() - last < 1.0:
                off = sent % len(block)
                try:
                    sent += c.sock.send(block[off:off + total - sent])
                    last = time.monotonic()
                except BlockingIOError:
                    time.sleep(0.005)
                except (BrokenPipeError, ConnectionResetError):
                    break
                rss.sample()
            for _ in range(10):
                time.sleep(0.05)
                rss.sample(0)
            phase1 = sent // len(ping)
            # phase 2: read everything, sending the rest
            pongs = 0
            code = None
            buf = bytearray()
            eof = False
            deadline = time.monotonic() + W.T(20)
            while time.monotonic() < deadline and pongs < npings and \
                    code is None and not eof:
                if sent < total:
                    off = sent % len(block)
                    try:
                        sent += c.sock.send(block[off:off + total - sent])
                    except BlockingIOError:
                        pass
                    except (BrokenPipeError, ConnectionResetError):
                        sent = total
                try:
                    data = c.sock.recv(1 << 20)
                    if not data:
                        eof = True
                    buf += data
                except BlockingIOError:
                    time.sleep(0.001)
                except ConnectionResetError:
                    eof = True
                while len(buf) >= 2:
                    n = buf[1] & 0x7F
                    if n >= 126 or len(buf) < 2 + n:
                        break
                    op = buf[0] & 0x0F
                    payload = bytes(buf[2:2 + n])
                    del buf[:2 + n]
                    if op == W.OP_PONG:
                        pongs += 1
                    elif op == W.OP_CLOSE:
                        code = struct.unpack("!H", payload[:2])[0] \
                            if len(payload) >= 2 else 0
                        break
                rss.sample()
            r = probe.check(1.0)
        finally:
            c.close()
        if pongs == npings:
            outcome = "ANSWERED all %d pings" % npings
        elif code is not None:
            outcome = "CLOSED with %d after %d pongs" % (code, pongs)
        else:
            outcome = "got %d pongs, then %s" % (pongs, "EOF" if eof else
                                                 "nothing")
        growth = rss.peak - rss.base
        print("    ping storm: %d pings sent before reading, %d in all; %s; "
              "%s (growth %.1f MB); probe echo %.3fs"
              % (phase1, sent // len(ping), outcome, rss, growth, r["echo"]))
        assert pongs == npings or code in (1008, 1009), outcome
        bound = (limit / MIB + 4) * MEM_FACTOR
        assert growth < bound, \
            "%s, and the daemon grew by %.1f MB meanwhile (max_send_buffer " \
            "%d KiB): pongs are queued without bound" % (outcome, growth,
                                                        limit // KIB)
        assert d.alive()
        probe_now(d.port)
    finally:
        d.kill()


# ------------------------------------------------------------ heads

@attack_test
def test_header_count_and_head_size_limits():
    """65 headers -> 431, a 9 KiB head -> 431, exactly 64 headers -> 101
    (defaults: max_headers 64, max_head_size 8192)."""
    d = W.start(limits=FAST)
    try:
        base = 5        # Host, Upgrade, Connection, Key, Version
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(extra=[("X-H%d" % i, "v")
                                            for i in range(65 - base)]))
            W.expect_http_error(c, 431)
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(extra=[("X-H%d" % i, "v")
                                            for i in range(200)]))
            W.expect_http_error(c, 431)
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(extra=[("X-Pad", "p" * (9 * KIB))]))
            W.expect_http_error(c, 431)
        with W.RawClient(d.port) as c:
            # 9 KiB spread over many short headers, still under 64 of them
            c.send(c.upgrade_request(extra=[("X-P%d" % i, "q" * 300)
                                            for i in range(31)]))
            W.expect_http_error(c, 431)
        with W.RawClient(d.port) as c:
            r = c.handshake(extra=[("X-H%d" % i, "v")
                                   for i in range(64 - base)])
            assert r.status == 101, r
            c.send_text("64 headers")
            assert c.read_message() == (W.OP_TEXT, b"64 headers")
        with W.RawClient(d.port) as c:
            # a head just under 8192 bytes
            n = len(c.upgrade_request(extra=[("X-Pad", "")]))
            r = c.handshake(extra=[("X-Pad", "p" * (8192 - n))])
            assert r.status == 101, r
        probe_now(d.port)
    finally:
        d.kill()


# ------------------------------------------------------------ max_connections

@attack_test
def test_max_connections_503_then_recovers():
    """max_connections = 50: the 51st connection gets 503 at once and is
    closed; the 50 keep working; after 10 of them close, new connections
    are accepted again."""
    d = W.start(limits=dict(FAST, max_connections=50, idle_timeout=60))
    try:
        clients = [W.raw_ws(d.port) for _ in range(50)]
        try:
            for extra in range(3):
                with W.RawClient(d.port) as c:
                    t0 = time.monotonic()
                    c.send(c.upgrade_request())
                    r = W.expect_http_error(c, 503, timeout=5)
                    dt = time.monotonic() - t0
                    assert dt < W.T(0.5), "503 after %.2fs" % dt
                    assert r.get("retry-after") is not None, r
            # a plain HTTP request, and a connection that sends nothing
            # yet, are refused just the same
            r, _ = W.http_request(d.port, "GET", "/")
            assert r.status == 503, r
            for i, c in enumerate(clients):
                c.send_text("still %d" % i)
            for i, c in enumerate(clients):
                assert c.read_message() == (W.OP_TEXT, b"still %d" % i)
            for c in clients[:10]:
                c.send_close(1000)
                c.expect_close(1000, reply=False)
                c.close()
            del clients[:10]
            # the server has freed them: 10 new ones fit, the 11th not
            deadline = time.monotonic() + W.T(5)
            fresh = []
            while len(fresh) < 10:
                assert time.monotonic() < deadline, \
                    "only %d new connections accepted" % len(fresh)
                c = W.RawClient(d.port)
                c.send(c.upgrade_request())
                r = c.read_response()
                if r.status == 101:
                    fresh.append(c)
                else:
                    assert r.status == 503, r
                    c.close()
                    time.sleep(0.05)
            clients += fresh
            for c in fresh:
                c.send_text("fresh")
                assert c.read_message() == (W.OP_TEXT, b"fresh")
            with W.RawClient(d.port) as c:
                c.send(c.upgrade_request())
                W.expect_http_error(c, 503, timeout=5)
        finally:
            for c in clients:
                c.close()
        # after all of them are gone, the well-behaved client is served
        deadline = time.monotonic() + W.T(5)
        while True:
            try:
                probe_now(d.port)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        d.kill()


# ------------------------------------------------------------ fd exhaustion

def limited(nofile):
    """A wrapper command that starts wsd with RLIMIT_NOFILE soft = hard =
    nofile (so that wsd cannot raise it), keeping the same PID."""
    return [sys.executable, "-c",
            "import os, resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (%d, %d))\n"
            "os.execv(sys.argv[1], sys.argv[1:])" % (nofile, nofile)] + \
        W.WRAPPER


def cpu_share(pid, seconds=2.0):
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


@attack_test
def test_fd_limit_64_no_spin_then_recovers():
    """wsd started with RLIMIT_NOFILE 64 (soft = hard): 40 static
    downloads that hold a second descriptor each (never read) and 100
    connections that send half a request head: no crash, no busy loop
    (< 50% of a core over 2 s while the backlog is full); a file that
    exists is never answered 404 for want of a descriptor (503 or 500);
    once the clients are gone it accepts and echoes again."""
    if W.WRAPPER:
        raise W.Skip("a wrapper (%s) needs descriptors of its own"
                     % " ".join(W.WRAPPER))
    root = W.tmpdir()
    W.write_file(os.path.join(root, "big.bin"), os.urandom(4 * MIB))
    conf = W.write_config(document_root=root,
                          limits=dict(FAST, handshake_timeout=30,
                                      close_timeout=30))
    d = W.start_daemon(conf, wrapper=limited(64))
    socks = []
    statuses = collections.Counter()
    try:
        with open("/proc/%d/limits" % d.pid) as f:
            lim = [l for l in f if l.startswith("Max open files")][0]
        assert lim.split()[3:5] == ["64", "64"], lim
        fds0 = fd_count(d.pid)
        # static downloads first (socket + file each), never read
        for i in range(40):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", d.port))
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        for i in range(100):
            s = socket.socket()
            s.connect(("127.0.0.1", d.port))
            s.sendall(b"GET /echo HTTP/1.1\r\nHo")
            socks.append(s)
        time.sleep(0.5)
        fds = fd_count(d.pid)
        share = cpu_share(d.pid, 2.0)
        for s in socks[:40]:
            s.settimeout(W.T(2))
            try:
                head = s.recv(12)
                statuses[head[9:12].decode("latin-1") or "EOF"] += 1
            except OSError as e:
                statuses[type(e).__name__] += 1
        print("    fds %d -> %d (limit 64); CPU %.0f%% of a core; %d "
              "'pausing accept' lines; static downloads: %s" % (
                  fds0, fds, share * 100,
                  len([l for l in d.lines if "pausing accept" in l]),
                  dict(statuses)))
        assert d.alive()
        assert share < 0.5, "wsd used %.0f%% of a core at its fd limit" % (
            share * 100)
    finally:
        for s in socks:
            s.close()
    # accept is paused for a second at a time at most
    deadline = time.monotonic() + W.T(10)
    while True:
        try:
            W.echo_ok(d.port)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    probe_now(d.port)
    r, body = W.http_request(d.port, "GET", "/big.bin")
    assert r.status == 200 and len(body) == 4 * MIB, r
    assert d.stop() == 0
    assert "404" not in statuses, \
        "an existing file was answered 404 when wsd was out of " \
        "descriptors (open() failing with EMFILE): %s" % dict(statuses)


@attack_test
def test_emfile_pauses_accept_without_spinning():
    """The descriptor limit lowered under a running wsd (prlimit), so that
    accept() itself fails with EMFILE: wsd pauses accepting instead of
    spinning (< 50% of a core while the backlog is full), logs it, and
    accepts again once descriptors are free."""
    if W.WRAPPER:
        raise W.Skip("under a wrapper (%s)" % " ".join(W.WRAPPER))
    d = W.start(limits=dict(FAST, handshake_timeout=30))
    socks = []
    try:
        W.echo_ok(d.port)
        # the one worker accepts; the master only holds the sockets
        [wpid] = d.worker_pids(1)
        fds0 = fd_count(wpid)
        soft, hard = resource.prlimit(wpid, resource.RLIMIT_NOFILE)
        try:
            # the soft limit only, so that it can be raised back
            resource.prlimit(wpid, resource.RLIMIT_NOFILE, (64, hard))
        except (PermissionError, OSError, ValueError) as e:
            raise W.Skip("cannot lower wsd's fd limit: %s" % e)
        mark = d.mark()
        try:
            for i in range(100):
                s = socket.socket()
                s.connect(("127.0.0.1", d.port))
                # deferred accept: only a connection with data is accepted
                s.sendall(b"GET /echo HTTP/1.1\r\nHo")
                socks.append(s)
            d.wait_log("pausing accept", timeout=5, start=mark)
            fds = fd_count(wpid)
            share = cpu_share(wpid, 2.0)
            npause = len([l for l in d.lines[mark:]
                          if "pausing accept" in l])
            print("    fds %d -> %d (limit 64); CPU %.0f%% of a core; %d "
                  "'pausing accept' lines in ~2.5s" % (fds0, fds,
                                                      share * 100, npause))
            assert fds <= 64, fds
            assert share < 0.5, "wsd used %.0f%% of a core" % (share * 100)
            assert npause <= 10, "%d pause lines: not paused long enough" \
                % npause
            assert d.alive()
        finally:
            for s in socks:
                s.close()
        resource.prlimit(wpid, resource.RLIMIT_NOFILE, (soft, hard))
        deadline = time.monotonic() + W.T(5)
        while True:
            try:
                W.echo_ok(d.port)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        probe_now(d.port)
    finally:
        for s in socks:
            s.close()
        d.kill()


# ------------------------------------------------------------ injection

def raw_exchange(port, data, timeout=5):
    """Send data on a fresh connection; everything up to EOF."""
    with W.RawClient(port, timeout=timeout) as c:
        c.send(data)
        return c.read_until_eof(timeout)


def status_of(resp):
    m = re.match(br"HTTP/1\.1 (\d{3}) ", resp)
    return int(m.group(1)) if m else None


@attack_test
def test_header_injection_nul_overlong_duplicates():
    """Bare CR or LF, NUL and other control bytes, obs-fold, spaces in
    names, overlong lines and duplicated WebSocket headers are refused
    (400, or 431 for overlong) and never upgraded."""
    d = W.start(limits=FAST)
    try:
        host = "127.0.0.1:%d" % d.port
        key = W.new_key()

        def head(*lines, path="/echo", first=None):
            std = ["Host: " + host, "Upgrade: websocket",
                   "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
                   "Sec-WebSocket-Version: 13"]
            out = (first or "GET %s HTTP/1.1" % path).encode() + b"\r\n"
            for l in list(lines) + std:
                out += (l.encode("latin-1") if isinstance(l, str) else l) \
                    + b"\r\n"
            return out + b"\r\n"

        cases = [
            ("bare LF in a value", head(b"X-A: a\nX-Injected: 1"), 400),
            ("bare CR in a value", head(b"X-A: a\rX-Injected: 1"), 400),
            ("bare LF line ends", head().replace(b"\r\n", b"\n"), 400),
            ("NUL in a value", head(b"X-A: a\x00b"), 400),
            ("NUL in a name", head(b"X-\x00A: a"), 400),
            ("NUL in the path", head(first="GET /ec\x00ho HTTP/1.1"), 400),
            ("ESC in a value", head(b"X-A: \x1b[31mred"), 400),
            ("DEL in a value", head(b"X-A: a\x7fb"), 400),
            ("obs-fold", head(b"X-A: a", b" folded"), 400),
            ("tab-fold", head(b"X-A: a", b"\tfolded"), 400),
            ("space before colon", head(b"X-A : a"), 400),
            ("space in a name", head(b"X A: a"), 400),
            ("empty name", head(b": a"), 400),
            ("no colon", head(b"X-A a"), 400),
            ("CR LF in the target",
             head(first="GET /echo\r\nX-Injected: 1 HTTP/1.1"), 400),
            ("space in the target", head(first="GET /e cho HTTP/1.1"), 400),
            ("absolute-form target",
             head(first="GET http://%s/echo HTTP/1.1" % host), 400),
            ("two spaces", head(first="GET  /echo HTTP/1.1"), 400),
            ("HTTP/1.1 lowercase", head(first="GET /echo http/1.1"), 400),
            ("8-bit method", head(first="G\xc9T /echo HTTP/1.1"), 400),
            ("duplicate key, same value",
             head("Sec-WebSocket-Key: " + key), 400),
            ("duplicate key, two values",
             head("Sec-WebSocket-Key: " + W.new_key()), 400),
            ("two keys in one header",
             head(first=None).replace(
                 ("Sec-WebSocket-Key: " + key).encode(),
                 ("Sec-WebSocket-Key: %s, %s" % (key, W.new_key()))
                 .encode()), 400),
            ("duplicate version", head("Sec-WebSocket-Version: 13"), 400),
            ("duplicate host", head("Host: evil.example"), 400),
            ("duplicate origin",
             head("Origin: http://a.example", "Origin: http://b.example"),
             400),
            ("overlong header line",
             head("X-Long: " + "a" * (9 * KIB)), 431),
            ("overlong request line",
             head(first="GET /echo?" + "q" * (9 * KIB) + " HTTP/1.1"), 431),
            ("overlong header name", head("X-" + "N" * (9 * KIB) + ": v"),
             431),
        ]
        fails = []
        for label, data, want in cases:
            try:
                resp = raw_exchange(d.port, data)
            except AssertionError as e:
                fails.append("%s: %s" % (label, e))
                continue
            got = status_of(resp)
            if got != want:
                fails.append("%s: status %s (wanted %d): %r" % (
                    label, got, want, resp[:80]))
            if b"X-Injected" in resp or b"Sec-WebSocket-Accept" in resp:
                fails.append("%s: answered %r" % (label, resp[:200]))
        assert not fails, "\n".join(fails)
        probe_now(d.port)
        assert d.alive()
    finally:
        d.kill()


def make_traversal_root():
    """base/root is the document root; base/secret and base/outside/ are
    outside it, reached through several symlinks."""
    base = W.tmpdir()
    root = os.path.join(base, "root")
    os.makedirs(os.path.join(root, "sub", "deeper"))
    os.makedirs(os.path.join(base, "outside"))
    secret = ("TOPSECRET-" + os.urandom(8).hex()).encode()
    W.write_file(os.path.join(base, "secret"), secret + b"\n")
    W.write_file(os.path.join(base, "secret.html"), secret + b"\n")
    W.write_file(os.path.join(base, "outside", "index.html"), secret + b"\n")
    W.write_file(os.path.join(root, "index.html"), b"<p>inside</p>\n")
    W.write_file(os.path.join(root, "sub", "ok.txt"), b"inside ok\n")
    # a chain of links ending outside, a relative link, a link to a
    # directory outside (with an index.html), a link inside a subdir
    os.symlink(os.path.join(base, "secret"), os.path.join(root, "hop2"))
    os.symlink("hop2", os.path.join(root, "hop1"))
    os.symlink("../../secret.html", os.path.join(root, "sub", "rel.html"))
    os.symlink(os.path.join(base, "outside"), os.path.join(root, "out"))
    os.symlink("../..", os.path.join(root, "sub", "deeper", "up"))
    # a name that starts like the root: base/rootX
    os.makedirs(os.path.join(base, "rootX"))
    W.write_file(os.path.join(base, "rootX", "f.txt"), secret + b"\n")
    os.symlink(os.path.join(base, "rootX", "f.txt"),
               os.path.join(root, "prefix.txt"))
    return base, root, secret


@attack_test
def test_path_traversal_more():
    """More traversal attempts than test_static.py: mixed and double
    encodings, backslashes, overlong UTF-8 dots, NUL, link chains,
    relative links, links to directories and to a sibling whose name
    starts like the root.  The outside file is never served."""
    base, root, secret = make_traversal_root()
    d = W.start(document_root=root, limits=FAST)
    try:
        paths = [
            "/.%2e/secret", "/%2e./secret", "/.%2E/secret",
            "/%2e%2e%2f%2e%2e%2fsecret", "/sub/..%2f..%2fsecret",
            "/sub%2f..%2f..%2fsecret", "/..%5csecret", "/..\\secret",
            "/sub/..\\..\\secret", "/%5c..%5csecret",
            "/%252e%252e/secret", "/%c0%ae%c0%ae/secret",
            "/%c0%2e%c0%2e/secret", "/%e0%80%ae%e0%80%ae/secret",
            "/..%00/secret", "/secret%00.html", "/%00../secret",
            "/./../secret", "/sub/./../../secret", "//../secret",
            "/sub//../../secret", "/.../secret", "/..;/secret",
            "/hop1", "/hop2", "/sub/rel.html", "/out/", "/out/index.html",
            "/out", "/sub/deeper/up/secret", "/sub/deeper/up/../secret",
            "/prefix.txt", "/../rootX/f.txt", "/%2e%2e/rootX/f.txt",
            "/sub/deeper/up/", "/..", "/%2e%2e", "/../",
        ]
        fails = []
        for path in paths:
            for method in ("GET", "HEAD"):
                req = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Connection: close\r\n\r\n" % (method, path)).encode()
                try:
                    resp = raw_exchange(d.port, req)
                except AssertionError as e:
                    fails.append("%s %s: %s" % (method, path, e))
                    continue
                st = status_of(resp)
                if secret in resp:
                    fails.append("%s %s LEAKED: %r" % (method, path,
                                                       resp[:200]))
                elif st not in (200, 301, 400, 404):
                    fails.append("%s %s: status %s: %r" % (method, path, st,
                                                           resp[:120]))
        assert not fails, "\n".join(fails)
        # inside files still served
        r, body = W.http_request(d.port, "GET", "/sub/ok.txt")
        assert r.status == 200 and body == b"inside ok\n", (r, body)
        r, body = W.http_request(d.port, "GET", "/")
        assert r.status == 200 and body == b"<p>inside</p>\n", (r, body)
        probe_now(d.port)
    finally:
        d.kill()


@attack_test
def test_document_root_through_symlink_and_swapped_link():
    """document_root given as a symlink works; a link inside the root
    that is later switched to point outside is not followed out."""
    base, root, secret = make_traversal_root()
    link_root = os.path.join(base, "www-link")
    os.symlink(root, link_root)
    d = W.start(document_root=link_root, limits=FAST)
    try:
        r, body = W.http_request(d.port, "GET", "/sub/ok.txt")
        assert r.status == 200 and body == b"inside ok\n", (r, body)
        swap = os.path.join(root, "swap.txt")
        os.symlink(os.path.join(root, "sub", "ok.txt"), swap)
        r, body = W.http_request(d.port, "GET", "/swap.txt")
        assert r.status == 200 and body == b"inside ok\n", (r, body)
        os.unlink(swap)
        os.symlink(os.path.join(base, "secret"), swap)
        r, body = W.http_request(d.port, "GET", "/swap.txt")
        assert secret not in body and r.status == 404, (r, body)
        probe_now(d.port)
    finally:
        d.kill()


# ------------------------------------------------------------ log hygiene

def bad_log_bytes(raw):
    """Offsets and bytes of raw control bytes in a log (not \\n)."""
    return [(i, b) for i, b in enumerate(raw)
            if (b < 0x20 and b != 0x0A) or b == 0x7F]


@attack_test
def test_logs_carry_no_raw_control_bytes():
    """Paths, headers, query ids, origins, messages and close reasons
    with ESC, CR, NUL, DEL and other control bytes: nothing of them
    reaches wsd's stderr raw (text and JSON echo-logger routes, debug
    logging)."""
    d = W.start(routes=[
        W.route("/echo"),
        W.route("/json", settings={"format": "json"}),
        W.route("/strict", origins=["http://ok.example"])],
        log_level="debug", limits=FAST)
    try:
        port = d.port
        nasty = "\x1b[31mRED\x1b[0m\r\x07\x08\x7f\x00\x01\x1f\t\v\f"
        enc = "".join("%%%02x" % ord(ch) for ch in nasty)

        async def go():
            for path in ("/echo", "/json"):
                async with W.ws_connect(port, path + "?id=" + enc +
                                        "&x=" + enc) as ws:
                    await W.echo(ws, "msg " + nasty + " end")
                    await W.echo(ws, nasty.encode() + b"\xff\xfe\x80")
                    await ws.close(4000, "bye \x1b[2J\r\x07\x7f")
        W.arun(go())
        reqs = [
            # refused heads with control bytes (never logged raw)
            b"GET /echo\x1b[31m HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /e\x00cho HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: \x1b]0;pwned\x07\r\n\r\n",
            b"GET /echo HTTP/1.1\r\nHost: x\x7f\r\n\r\n",
            b"G\x1bT /echo HTTP/1.1\r\nHost: x\r\n\r\n",
            b"\x1b[2J\x1b[H\r\n\r\n",
            b"\x00\x00\x00\x00\r\n\r\n",
            # percent-encoded control bytes reach the access log
            ("GET /%1b%5b31m%0d%0a%00%7f?q=%1b%0d%00 HTTP/1.1\r\n"
             "Host: x\r\n\r\n").encode(),
            # 8-bit bytes in an Origin (obs-text is allowed in values)
            b"GET /strict HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket"
            b"\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
            + W.new_key().encode() + b"\r\nSec-WebSocket-Version: 13\r\n"
            b"Origin: http://\x9b31m\xc2\x9b.example\r\n\r\n",
        ]
        for data in reqs:
            try:
                raw_exchange(port, data)
            except AssertionError:
                pass
        # a raw client: close reason with control bytes, invalid UTF-8
        with W.raw_ws(port, "/echo?id=%1b%07") as c:
            c.send_text("ctl \x1b\x00\x7f")
            c.read_message()
            c.send_close(1000, b"\x1b[2J\r\n")
            c.expect_close(1000, reply=False)
        with W.raw_ws(port, "/echo") as c:
            c.send_close(1000, b"bad \xff\x1b")
            c.expect_close(1007)
        probe_now(port)
        # echo-logger's own escape, its backslash doubled by wsd_log.
        d.wait_log(r"msg \\\\x1b\[31mRED")
        assert d.stop() == 0
        bad = bad_log_bytes(bytes(d.raw))
        if bad:
            i = bad[0][0]
            ctx = bytes(d.raw[max(0, i - 120):i + 60])
            raise AssertionError("%d raw control bytes in stderr, first "
                                 "%#04x at %d:\n%r" % (len(bad), bad[0][1],
                                                       i, ctx))
        text = d.log_text()
        assert "x1b" in text, "the escaped ESC is not in the log at all"
    finally:
        d.kill()


@attack_test
def test_slowloris_from_one_address_capped():
    """One address may hold at most max_pending_per_address connections
    in their HTTP phase: the rest are refused with 503 at once, other
    addresses are served meanwhile, and the address is served again once
    its pending connections are gone."""
    d = W.start(limits={"handshake_timeout": 5, "close_timeout": 1,
                        "max_pending_per_address": 50})
    socks = []
    try:
        head = upgrade_head(d.port)[:-2]       # never complete
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", d.port), W.T(5))
            s.sendall(head[:20])
            socks.append(s)
        # The refusals come at once; then look at every socket together.
        time.sleep(W.T(1))
        refused = held = 0
        for s in socks:
            s.setblocking(False)
            try:
                data = s.recv(200)
            except BlockingIOError:
                held += 1
                continue
            assert data.startswith(b"HTTP/1.1 503 "), data[:60]
            refused += 1
        assert (held, refused) == (50, 150), (held, refused)
        d.wait_log(r"refused \d+ connection\(s\) with 503: too many in "
                   r"their handshake from one address "
                   r"\(max_pending_per_address 50\)", timeout=2)
        # Another address is not affected.
        with socket.create_connection(("127.0.0.1", d.port), W.T(5),
                                      ("127.0.0.2", 0)) as s:
            s.sendall(upgrade_head(d.port))
            assert s.recv(100).startswith(b"HTTP/1.1 101 "), "not served"
        for s in socks:
            s.close()
        socks = []
        time.sleep(0.5)
        W.echo_ok(d.port)
    finally:
        for s in socks:
            s.close()
        d.kill()


@attack_test
def test_output_budget_closes_the_largest_queues():
    """Clients that send big messages and never read their echoes: once
    the output queued for all of them passes max_output_total, the ones
    with the most queued are closed with 1008 (their queue dropped) until
    the total is within it; a reading client is served throughout, and
    one line tells the episode."""
    mib = 1 << 20
    d = W.start(limits={"max_output_total": 10 * mib,
                        "max_message_size": 8 * mib,
                        "max_send_buffer": 16 * mib})
    hogs = []
    try:
        for _ in range(4):
            # A small window from the start, so the echo stays in wsd.
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", d.port))
            c = W.RawClient(d.port)
            c.close()
            c.sock = s
            s.settimeout(W.T(10))
            c.handshake()
            c.send_frame(W.OP_BINARY, os.urandom(6 * mib))
            hogs.append(c)
            W.echo_ok(d.port)
        # How much of each echo the kernel holds varies; wsd holds the
        # rest, and 4 of them pass 10 MiB whatever the kernel took.
        lines = re.findall(
            r"output budget: the output queued for all clients reached "
            r"(\d+) bytes, over max_output_total \(10485760\): closed "
            r"(\d+) client", d.log_text())
        closed = sum(int(n) for _, n in lines)
        assert 1 <= closed <= 3, lines
        assert all(int(t) > 10 * mib for t, _ in lines), lines
        # The dropped ones lose the rest of their echo (a Close cannot
        # follow half a frame); the plugin hears 1008; the others get
        # their whole echo.
        got = []
        for c in hogs:
            try:
                op, data = c.read_message(timeout=10)
                got.append(len(data))
            except W.EOF:
                got.append("dropped")
        assert got.count("dropped") == closed, (got, lines)
        assert got.count(6 * mib) == 4 - closed, got
        d.wait_log(r'closed: 1008 "output budget"', timeout=2)
        assert len(re.findall(r'closed: 1008 "output budget"',
                              d.log_text())) == closed
        W.echo_ok(d.port)
    finally:
        for c in hogs:
            c.close()
        d.kill()


TESTS = [
    test_slowloris_2000_dropped_at_handshake_timeout,
    test_slowloris_from_one_address_capped,
    test_output_budget_closes_the_largest_queues,
    test_2000_silent_clients_closed_at_idle_timeout,
    test_never_reading_echo_clients_closed_memory_bounded,
    test_never_reading_broadcast_client_closed_others_tick,
    test_huge_frame_lengths,
    test_fragment_floods_capped_by_max_fragments,
    test_ping_storm_memory_bounded,
    test_header_count_and_head_size_limits,
    test_max_connections_503_then_recovers,
    test_fd_limit_64_no_spin_then_recovers,
    test_emfile_pauses_accept_without_spinning,
    test_header_injection_nul_overlong_duplicates,
    test_path_traversal_more,
    test_document_root_through_symlink_and_swapped_link,
    test_logs_carry_no_raw_control_bytes,
]

if __name__ == "__main__":
    W.run(TESTS)
