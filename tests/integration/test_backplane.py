"""The Redis backplane (src/backplane.c): topics across wsd nodes.

Each case starts its own redis-server (Debian's) on a free port of
127.0.0.1, with no persistence, and stops it by its PID; the wsd nodes
are Daemons with a `cluster` group, serving the test plugin
tests/plugins/topics.c on /t ("pub TOPIC TEXT" publishes, ?sub=TOPIC
subscribes; every command answers one line "<command> <result>").

Redis delivers the messages of one channel to one subscriber in the
order it received them, so a "fence" published with redis-cli after
wsd's own publishes proves, when a subscriber reads it, that nothing of
those publishes is still on its way: that is how these cases show that
something was not delivered (twice, or at all) without sleeping."""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


# ------------------------------------------------------------ Redis

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Redis:
    """A redis-server of our own; stop() ends it by its PID."""

    def __init__(self, port=None, password=None):
        if not os.access(REDIS_SERVER, os.X_OK):
            raise W.Skip("redis-server is not installed")
        self.port = port or free_port()
        self.password = password
        self.proc = None
        self.stopped = False
        self.start()

    def start(self):
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--dir", W.tmpdir(), "--loglevel", "warning"]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.stopped = False
        deadline = time.monotonic() + W.T(10)
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError("redis-server exited with %s"
                                         % self.proc.returncode)
                if time.monotonic() > deadline:
                    raise AssertionError("redis-server does not listen on "
                                         "port %d" % self.port)
                time.sleep(0.02)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.stopped:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.stopped = False
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(W.T(10))
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.stopped = False

    def cli(self, *args, stdin=None):
        """redis-cli -p PORT ARGS; with stdin (bytes), -x: stdin is the
        last argument, byte for byte."""
        argv = [REDIS_CLI, "-p", str(self.port)]
        if self.password is not None:
            argv += ["--no-auth-warning", "-a", self.password]
        if stdin is not None:
            argv.append("-x")
        r = subprocess.run(argv + list(args), input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=W.T(10))
        assert r.returncode == 0, "redis-cli %r: %r" % (args, r.stderr)
        return r.stdout.decode("utf-8", "replace").strip()

    def publish(self, channel, payload):
        """PUBLISH; returns how many subscriber connections got it."""
        if isinstance(payload, str):
            payload = payload.encode()
        return int(self.cli("PUBLISH", channel, stdin=payload))

    def numsub(self, channel):
        out = self.cli("PUBSUB", "NUMSUB", channel).split("\n")
        return int(out[1])

    def wait_numsub(self, channel, n, timeout=10):
        deadline = time.monotonic() + W.T(timeout)
        while True:
            got = self.numsub(channel)
            if got == n:
                return
            if time.monotonic() > deadline:
                raise AssertionError("%s has %d subscriber connection(s) in "
                                     "Redis, not %d, after %ss"
                                     % (channel, got, n, timeout))
            time.sleep(0.02)


_redis = []


def redis(**kw):
    r = Redis(**kw)
    _redis.append(r)
    return r


def cleanup():
    while _redis:
        _redis.pop().stop()


# ------------------------------------------------------------ wsd nodes

def node(r, limits=None, cluster=None, port=None):
    """A wsd node on /t whose cluster is Redis r (or port)."""
    cl = {"redis": "127.0.0.1:%d" % (port or r.port)}
    if r is not None and r.password is not None:
        cl["password"] = r.password
    cl.update(cluster or {})
    conf = W.write_config(plugin_dir=W.TEST_PLUGIN_DIR, log_level="info",
                          limits=limits, extra={"cluster": cl},
                          routes=[W.route("/t", plugin="topics")])
    return W.start_daemon(conf)


def text(c, timeout=10):
    m = c.read_message(W.T(timeout))
    assert not isinstance(m, W.Frame), "expected a message, got %r" % m
    op, data = m
    assert op == W.OP_TEXT, "expected text, got %r" % (m,)
    return data.decode()


def client(port, subs=()):
    path = "/t" + ("?sub=" + ",".join(subs) if subs else "")
    c = W.RawClient(port)
    c.handshake(path)
    t = text(c)
    assert re.match(r"^open \d+ %d$" % len(subs), t), t
    return c


def call(c, line, timeout=10):
    """Send a command; return (its result, the messages before it)."""
    c.send_text(line)
    cmd = line.split(" ", 1)[0]
    before = []
    while True:
        t = text(c, timeout)
        m = re.match(r"^%s (-?\d+)$" % re.escape(cmd), t)
        if m:
            return int(m.group(1)), before
        before.append(t)


def until(c, last, timeout=10):
    """The messages c gets up to and including `last`."""
    got = []
    deadline = time.monotonic() + W.T(timeout)
    while not got or got[-1] != last:
        left = deadline - time.monotonic()
        assert left > 0, "no %r within %ss; got %r" % (last, timeout,
                                                       got[-5:])
        got.append(text(c, left))
    return got


def count_log(d, regex, start=0):
    r = re.compile(regex)
    with d.cond:
        return sum(1 for l in d.lines[start:] if r.search(l))


def connected(d, start=0, timeout=10):
    d.wait_log(r"Redis at 127\.0\.0\.1:\d+: connected", timeout, start)


# ------------------------------------------------------------ cases

def test_redis_cli_reaches_two_nodes():
    """(a) redis-cli PUBLISH wsd:news reaches subscribers of news on two
    nodes, as text; a backend's binary envelope arrives as binary."""
    try:
        r = redis()
        a, b = node(r), node(r)
        connected(a)
        connected(b)
        ca, cb = client(a.port, ["news"]), client(b.port, ["news"])
        other = client(b.port, ["sport"])
        r.wait_numsub("wsd:news", 2)
        assert r.publish("wsd:news", "hello") == 2
        assert text(ca) == "hello" and text(cb) == "hello"
        env = b"\xffWSD\x01\x02" + struct.pack(">Q", 0) + b"\x00\xffbin"
        assert r.publish("wsd:news", env) == 2
        for c in (ca, cb):
            m = c.read_message(W.T(10))
            assert m == (W.OP_BINARY, b"\x00\xffbin"), m
        # The subscriber of another topic got nothing of it.
        assert r.publish("wsd:sport", "goal") == 1
        assert text(other) == "goal"
        # Only topics with subscribers are channels in Redis.
        chans = set(r.cli("PUBSUB", "CHANNELS", "wsd:*").split("\n"))
        assert chans == {"wsd:news", "wsd:sport"}, chans
        ca.close()
        r.wait_numsub("wsd:news", 1)
    finally:
        cleanup()


def test_node_to_node_in_order_once():
    """(b) 300 publishes on node A reach B's subscribers in order,
    complete, once; A's own subscriber gets each once, not twice."""
    try:
        r = redis()
        a, b = node(r), node(r)
        connected(a)
        connected(b)
        sa = client(a.port, ["seq"])
        sb1, sb2 = client(b.port, ["seq"]), client(b.port, ["seq"])
        p = client(a.port)
        r.wait_numsub("wsd:seq", 2)     # one subscription per node
        n = 300
        rc, _ = call(p, "pubn seq %d 200" % n)
        assert rc == n, rc
        want = ["%d " % i + "x" * (200 - len("%d " % i)) for i in range(n)]
        # The fence follows A's publishes on every Redis connection.
        r.publish("wsd:seq", "fence")
        for c in (sa, sb1, sb2):
            got = until(c, "fence")
            assert got == want + ["fence"], (
                "%d messages, first differences: %r" % (
                    len(got), [(i, x[:8]) for i, x in enumerate(got)
                               if i >= len(want) or x != want[i]][:3]))
        # And back from B to A.
        q = client(b.port)
        rc, _ = call(q, "pub seq from-b")
        assert rc == 0
        r.publish("wsd:seq", "fence2")
        for c in (sa, sb1, sb2):
            assert until(c, "fence2") == ["from-b", "fence2"]
    finally:
        cleanup()


def test_bad_payloads_dropped_and_counted():
    """(c) Oversized, non-UTF-8 and bad-envelope payloads from Redis are
    dropped (the subscriber gets none), logged once with the count; the
    valid ones around them arrive."""
    try:
        r = redis()
        d = node(r, limits={"max_message_size": 1000})
        connected(d)
        c = client(d.port, ["news"])
        r.wait_numsub("wsd:news", 1)
        mark = d.mark()
        r.publish("wsd:news", b"x" * 1001)
        r.publish("wsd:news", b"caf\xc3(")
        r.publish("wsd:news", b"\xed\xa0\x80")
        r.publish("wsd:news", b"\xffWSD\x02\x01" + b"\x00" * 8 + b"v2")
        r.publish("wsd:news", b"y" * 1000)       # at the limit: delivered
        r.publish("wsd:news", b"\xffWSD\x01\x02" + b"\x00" * 8 + b"z" * 1001)
        r.publish("wsd:news", "ok")
        got = until(c, "ok")
        assert got == ["y" * 1000, "ok"], [g[:10] for g in got]
        m = d.wait_log(r"Redis at \S+: dropped (\d+) message\(s\): (.*)",
                       5, mark)
        assert m.group(1) == "5", m.group(0)
        assert "2 from Redis over max_message_size" in m.group(2), m.group(0)
        assert "2 from Redis that were not UTF-8" in m.group(2), m.group(0)
        assert "1 from Redis with a bad envelope" in m.group(2), m.group(0)
        # Once per episode: nothing more while nothing more is dropped.
        time.sleep(W.T(1.5))
        assert count_log(d, r"dropped \d+ message", mark) == 1
        # A new episode is a new line.
        r.publish("wsd:news", b"\xff")
        r.publish("wsd:news", "ok2")
        assert until(c, "ok2") == ["ok2"]
        m = d.wait_log(r"dropped 1 message\(s\): 1 from Redis with a bad "
                       r"envelope", 5, mark)
        assert count_log(d, r"dropped \d+ message", mark) == 2
    finally:
        cleanup()


def test_redis_down_at_start():
    """(d) Without Redis wsd starts and serves, says so once, and
    subscribes when Redis comes up."""
    try:
        port = free_port()
        d = node(None, port=port)
        d.wait_log(r"Redis at 127\.0\.0\.1:%d unreachable: .*; retrying"
                   % port, 5)
        c = client(d.port, ["news"])
        p = client(d.port)
        rc, before = call(p, "pub news local")
        assert rc == 0 and before == []
        assert text(c) == "local"
        time.sleep(W.T(1.5))             # several attempts: 100, 200, 400 ms
        assert count_log(d, r"unreachable: ") == 1, d.tail()
        r = redis(port=port)
        connected(d, timeout=10)         # backoff at most 5 s
        r.wait_numsub("wsd:news", 1, timeout=5)
        assert r.publish("wsd:news", "from redis") == 1
        assert text(c) == "from redis"
        assert count_log(d, r"unreachable: ") == 1
    finally:
        cleanup()


def test_redis_restart_under_traffic():
    """(e) Redis killed and started again while A publishes: A's own
    subscriber gets every message throughout, B's delivery resumes by
    itself (in order, none twice)."""
    try:
        r = redis()
        a, b = node(r), node(r)
        connected(a)
        connected(b)
        sa, sb = client(a.port, ["live"]), client(b.port, ["live"])
        p = client(a.port)
        r.wait_numsub("wsd:live", 2)
        ma, mb = a.mark(), b.mark()
        seq = 0

        def publish_one():
            nonlocal seq
            rc, before = call(p, "pub live m%d" % seq)
            assert rc == 0 and before == []
            assert text(sa, 5) == "m%d" % seq     # local: never stops
            seq += 1

        for _ in range(20):
            publish_one()
        assert until(sb, "m19") == ["m%d" % i for i in range(20)]
        r.stop(signal.SIGKILL)
        t_end = time.monotonic() + W.T(1)
        while time.monotonic() < t_end:
            publish_one()
            time.sleep(0.01)
        a.wait_log(r"unreachable: .*; retrying", 5, ma)
        r.start()
        connected(a, ma, 10)
        connected(b, mb, 10)
        r.wait_numsub("wsd:live", 2, 5)
        first_after = seq
        for _ in range(20):
            publish_one()
        got = until(sb, "m%d" % (seq - 1), 10)
        nums = [int(x[1:]) for x in got]
        assert nums == sorted(set(nums)), "out of order or twice: %r" % nums
        assert set(range(first_after, seq)) <= set(nums), nums
        for d, m in ((a, ma), (b, mb)):
            assert count_log(d, r"unreachable: ", m) == 1, d.tail()
    finally:
        cleanup()


def test_redis_stalled():
    """(f) Redis stopped (SIGSTOP) under a burst bigger than max_pending:
    the loop answers at once, local delivery is whole, the drops are
    counted and logged once, and delivery resumes after SIGCONT."""
    try:
        r = redis()
        a = node(r, cluster={"max_pending": 65536})
        b = node(r)
        connected(a)
        connected(b)
        sa, sb = client(a.port, ["burst"]), client(b.port, ["burst"])
        p = client(a.port)
        r.wait_numsub("wsd:burst", 2)
        rc, _ = call(p, "pub burst warm")
        assert rc == 0 and text(sa) == "warm" and text(sb) == "warm"
        mark = a.mark()
        r.pause()
        n, size = 100, 4096
        t0 = time.monotonic()
        rc, _ = call(p, "pubn burst %d %d" % (n, size), timeout=5)
        assert rc == n, rc
        for i in range(n):
            assert text(sa, 5).startswith("%d x" % i)
        # The loop is not waiting for Redis: round trips stay fast.
        for _ in range(20):
            t1 = time.monotonic()
            rc, before = call(p, "unsub never", timeout=2)
            assert rc == -1 and before == []
            assert time.monotonic() - t1 < W.T(0.25), \
                "a round trip took %.3fs" % (time.monotonic() - t1)
        assert time.monotonic() - t0 < W.T(5)
        m = a.wait_log(r"dropped (\d+) message\(s\): (\d+) published while "
                       r"over max_pending", 5, mark)
        dropped = int(m.group(1))
        # 64 KiB hold 15 of the 4 KiB publishes (with their headers).
        assert n - 16 <= dropped <= n - 14, m.group(0)
        r.resume()
        rc, _ = call(p, "pub burst after")
        got = until(sb, "after", 10)
        nums = [int(x.split(" ")[0]) for x in got[:-1]]
        assert nums == list(range(n - dropped)), nums
        time.sleep(W.T(1.5))
        assert count_log(a, r"dropped \d+ message", mark) == 1
        assert count_log(a, r"unreachable: ", mark) == 0
    finally:
        cleanup()


def test_auth():
    """(g) AUTH with a password and with an ACL user works; a wrong
    password is logged clearly, once."""
    try:
        r = redis(password="s3cret")
        good = node(r)
        connected(good)
        r.cli("ACL", "SETUSER", "alice", "on", ">alicepw", "~*", "&*",
              "+@all")
        acl = node(r, cluster={"user": "alice", "password": "alicepw"})
        connected(acl)
        bad = node(r, cluster={"password": "wrong"})
        m = bad.wait_log(r"Redis at \S+ unreachable: (.*); retrying", 5)
        assert m.group(1).startswith("AUTH refused: WRONGPASS"), m.group(0)
        c1, c2 = client(good.port, ["news"]), client(acl.port, ["news"])
        cb = client(bad.port, ["news"])
        r.wait_numsub("wsd:news", 2)
        assert r.publish("wsd:news", "authed") == 2
        assert text(c1) == "authed" and text(c2) == "authed"
        time.sleep(W.T(1))
        assert count_log(bad, r"unreachable: ") == 1
        assert count_log(bad, r": connected") == 0
        # The bad node still serves its own subscribers.
        rc, before = call(cb, "pub news local")
        assert rc == 0 and before == ["local"], (rc, before)
    finally:
        cleanup()


def test_resubscribe_in_one_breath():
    """A topic's last subscriber leaves and a new one comes before Redis
    has confirmed the UNSUBSCRIBE: the channel keeps delivering.  (Older
    hiredis forgot a channel's callback on that late confirmation, and
    asserted when a SUBSCRIBE was in flight as the count fell to zero;
    0.14 counts pending subscriptions.  This keeps it so.)"""
    try:
        r = redis()
        d = node(r)
        connected(d)
        c = client(d.port, ["news"])
        r.wait_numsub("wsd:news", 1)
        # Three commands in one write: unsubscribe, subscribe, and one
        # more round trip, all handled in one pass of the loop.
        c.send(W.build_frame(W.OP_TEXT, b"unsub news") +
               W.build_frame(W.OP_TEXT, b"sub news") +
               W.build_frame(W.OP_TEXT, b"unsub never"))
        assert [text(c), text(c), text(c)] == ["unsub 0", "sub 0",
                                               "unsub -1"]
        for i in range(3):
            r.wait_numsub("wsd:news", 1)
            assert r.publish("wsd:news", "still %d" % i) == 1
            assert text(c) == "still %d" % i
        # Every topic gone and another at once: Redis counts zero
        # channels in between.
        c.send(W.build_frame(W.OP_TEXT, b"unsub news") +
               W.build_frame(W.OP_TEXT, b"sub other"))
        assert [text(c), text(c)] == ["unsub 0", "sub 0"]
        r.wait_numsub("wsd:other", 1)
        assert r.publish("wsd:other", "other") == 1
        assert text(c) == "other"
        assert d.alive()
    finally:
        cleanup()


def test_stalled_at_start_and_stop_mid_connect():
    """A Redis that accepts connections but never answers: the handshake
    deadline says so once, and wsd stops cleanly (exit 0, nothing leaked
    under the sanitizers) with a connection attempt in flight."""
    try:
        r = redis()
        r.pause()
        d = node(r)
        d.wait_log(r"unreachable: no answer within 3000 ms; retrying", 6)
        c = client(d.port, ["news"])
        rc, before = call(c, "pub news local")
        assert rc == 0 and before == ["local"], (rc, before)
        # The next attempt connects at once (the kernel completes the
        # TCP handshake) and waits for its PING: stop now.
        time.sleep(W.T(0.3))
        assert d.stop() == 0
        assert count_log(d, r"unreachable: ") == 1
    finally:
        cleanup()


def test_reload_changes_and_removes_cluster():
    """A reload that changes the prefix resubscribes under the new one;
    one that removes `cluster` disconnects."""
    try:
        r = redis()
        conf_dir = W.tmpdir()

        def conf(cluster):
            extra = {"cluster": cluster} if cluster else None
            return W.write_config(plugin_dir=W.TEST_PLUGIN_DIR,
                                  log_level="info", extra=extra,
                                  directory=conf_dir,
                                  routes=[W.route("/t", plugin="topics")])

        path = conf({"redis": "127.0.0.1:%d" % r.port})
        d = W.start_daemon(path)
        connected(d)
        c = client(d.port, ["news"])
        r.wait_numsub("wsd:news", 1)
        mark = d.mark()
        conf({"redis": "127.0.0.1:%d" % r.port, "prefix": "app2/"})
        d.send_signal(signal.SIGHUP)
        connected(d, mark)
        r.wait_numsub("app2/news", 1)
        r.wait_numsub("wsd:news", 0)
        assert r.publish("app2/news", "renamed") == 1
        assert text(c) == "renamed"
        conf(None)
        d.send_signal(signal.SIGHUP)
        r.wait_numsub("app2/news", 0)
        d.wait_log(r"no longer used", 5, mark)
    finally:
        cleanup()


TESTS = [
    test_redis_cli_reaches_two_nodes,
    test_node_to_node_in_order_once,
    test_bad_payloads_dropped_and_counted,
    test_redis_down_at_start,
    test_redis_restart_under_traffic,
    test_redis_stalled,
    test_auth,
    test_resubscribe_in_one_breath,
    test_stalled_at_start_and_stop_mid_connect,
    test_reload_changes_and_removes_cluster,
]

if __name__ == "__main__":
    W.run(TESTS)
