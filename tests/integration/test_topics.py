"""Topics: wsd_subscribe(), wsd_unsubscribe(), wsd_publish() through the
test plugin tests/plugins/topics.c (see its header for the commands).

Every command of the plugin answers with one line "<command> <result>"
on the connection that sent it.  Output to one connection keeps its
order, so a reply read after a publish's reply proves what the
connection got before it: that is how these tests show that something
was not delivered, without waiting for a timeout."""

import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402


def topics_config(limits=None, settings=None, route_limits=None, extra=None,
                  log_level="info"):
    return W.write_config(
        plugin_dir=W.TEST_PLUGIN_DIR, log_level=log_level, limits=limits,
        extra=extra,
        routes=[W.route("/t", plugin="topics", settings=settings or {},
                        limits=route_limits)])


def start(**kw):
    return W.start_daemon(topics_config(**kw))


def text(c, timeout=None):
    m = c.read_message(timeout)
    assert not isinstance(m, W.Frame), "expected a message, got %r" % m
    op, data = m
    assert op == W.OP_TEXT, "expected text, got %r" % (m,)
    return data.decode()


def client(port, subs=(), sock=None):
    """A connection to /t subscribed (in open) to subs; returns it after
    its "open W N" line, with c.worker and c.nsubs set."""
    path = "/t" + ("?sub=" + ",".join(subs) if subs else "")
    c = W.RawClient(port) if sock is None else sock
    c.handshake(path)
    m = re.match(r"^open (-?\d+) (\d+)$", text(c))
    assert m, "no open line"
    c.worker, c.nsubs = int(m.group(1)), int(m.group(2))
    return c


def call(c, line):
    """Send a command; return (its result, the messages before it)."""
    c.send_text(line)
    cmd = line.split(" ", 1)[0]
    before = []
    while True:
        t = text(c)
        m = re.match(r"^%s (-?\d+)$" % re.escape(cmd), t)
        if m:
            return int(m.group(1)), before
        before.append(t)


def ok(c, line):
    rc, before = call(c, line)
    assert rc == 0, "%r answered %d" % (line, rc)
    assert before == [], "%r: unexpected messages first: %r" % (line, before)


def quiet(c):
    """Nothing is waiting for c: a command's reply comes next."""
    rc, before = call(c, "unsub never-subscribed")
    assert rc == -1 and before == [], "c had messages waiting: %r" % before


def test_subscribe_publish_unsubscribe():
    d = start()
    a = client(d.port, ["news"])
    b = client(d.port, ["news", "other"])
    p = client(d.port)
    assert (a.nsubs, b.nsubs, p.nsubs) == (1, 2, 0)
    ok(p, "pub news hello")
    assert text(a) == "hello" and text(b) == "hello"
    ok(p, "pub other just-b")
    assert text(b) == "just-b"
    quiet(a)
    ok(a, "unsub news")
    rc, _ = call(a, "unsub news")
    assert rc == -1, "a second unsubscribe answered %d" % rc
    rc, _ = call(a, "unsub never-subscribed")
    assert rc == -1
    ok(p, "pub news third")
    assert text(b) == "third"
    quiet(a)
    # Nobody subscribed: still 0, delivered nowhere.
    ok(p, "pub nobody-here x")
    quiet(a)
    quiet(b)
    # Subscribing in a command, and again: one delivery.
    ok(a, "sub news")
    ok(a, "sub news")
    ok(p, "pub news fourth")
    assert text(a) == "fourth" and text(b) == "fourth"
    quiet(a)
    quiet(b)
    for c in (a, b, p):
        c.close()


def test_publisher_subscribed_gets_its_own():
    d = start()
    a = client(d.port, ["self"])
    rc, before = call(a, "pub self mine")
    assert rc == 0 and before == ["mine"], (rc, before)
    a.close()


def test_order_and_once():
    """500 messages in one burst and 20 bursts of 20: every subscriber
    gets each once, in publish order."""
    d = start()
    subs = [client(d.port, ["seq"]) for _ in range(4)]
    p = client(d.port)
    rc, _ = call(p, "pubn seq 500 40")
    assert rc == 500
    for k in range(20):
        rc, _ = call(p, "pubn seq 20 3000")
        assert rc == 20
    for i, c in enumerate(subs):
        got = [int(text(c).split(" ", 1)[0]) for _ in range(900)]
        assert got[:500] == list(range(500)), "subscriber %d: %r" % (
            i, got[:20])
        assert got[500:] == list(range(20)) * 20, "subscriber %d" % i
        quiet(c)
        c.close()
    p.close()


def test_close_ends_subscriptions():
    """A closed subscriber is no longer delivered to (ASan would see a
    freed one), also when close itself publishes to a topic the closing
    connection is subscribed to."""
    d = start(settings={"close_topic": "bye"})
    a = client(d.port, ["bye", "room"])
    b = client(d.port, ["bye", "room"])
    c = client(d.port, ["room"])
    p = client(d.port)
    # A clean close.
    rc, _ = call(b, "sub x")
    b.send_close(1000)
    f = b.read_message()
    assert isinstance(f, W.Frame) and f.code == 1000, f
    b.close()
    m = re.match(r"^bye (\d+)$", text(a))
    assert m, "no bye line"
    # An abrupt one (reset).
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    c.close()
    assert re.match(r"^bye \d+$", text(a))
    ok(p, "pub room after")
    assert text(a) == "after"
    quiet(a)
    a.close()
    p.close()
    # Many subscribers go while publishes are in flight.
    d2 = start(settings={"close_topic": "bye"})
    p = client(d2.port)
    many = [client(d2.port, ["busy", "bye"]) for _ in range(30)]
    for i, c in enumerate(many):
        rc, _ = call(p, "pubn busy 5 2000")
        assert rc == 5
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        c.close()
    ok(p, "sub busy")
    rc, before = call(p, "pub busy last")
    assert rc == 0 and before == ["last"], before
    p.close()


def test_bad_names():
    d = start()
    c = client(d.port)
    longest = "n" * 128
    for name in ["", "a b", "caf\u00e9", "tab\there", "n" * 129, "del\x7f"]:
        rc, _ = call(c, "sub " + name)
        assert rc == -1, "sub %r answered %d" % (name, rc)
        rc, _ = call(c, "pub %s x" % name if " " not in name else
                     "pub " + name)
        assert rc == -1 or " " in name, "pub %r answered %d" % (name, rc)
        rc, _ = call(c, "unsub " + name)
        assert rc == -1
    ok(c, "sub " + longest)
    rc, before = call(c, "pub %s longest" % longest)
    assert rc == 0 and before == ["longest"], (rc, before)
    # Punctuation is allowed: 0x21..0x7e.
    ok(c, "sub !~:/#{}")
    rc, before = call(c, "pub !~:/#{} p")
    assert rc == 0 and before == ["p"]
    c.close()


def test_binary_and_opcodes():
    d = start()
    a = client(d.port, ["bin"])
    p = client(d.port)
    payload = bytes(range(256)) + b"\xff\xfe"
    p.send_frame(W.OP_BINARY, b"bin " + payload)
    assert text(p) == "pubbin 0"
    m = a.read_message()
    assert m == (W.OP_BINARY, payload), m
    # Empty binary.
    p.send_frame(W.OP_BINARY, b"bin")
    assert text(p) == "pubbin 0"
    assert a.read_message() == (W.OP_BINARY, b"")
    # Text that is not UTF-8, and opcodes other than text or binary.
    for line in ["pubbad bin", "pubop bin 0", "pubop bin 9",
                 "pubop bin 8", "pubop bin 10", "pubop bin 3"]:
        rc, _ = call(p, line)
        assert rc == -1, "%r answered %d" % (line, rc)
    ok(p, "pubop bin 2")
    assert a.read_message() == (W.OP_BINARY, b"x")
    ok(p, "pubop bin 1")
    assert text(a) == "x"
    quiet(a)
    a.close()
    p.close()


def test_max_message_size():
    d = start(route_limits={"max_message_size": 2000})
    a = client(d.port, ["big"])
    p = client(d.port)
    ok(p, "pubsize big 2000")
    assert text(a) == "x" * 2000
    rc, _ = call(p, "pubsize big 2001")
    assert rc == -1, "over max_message_size answered %d" % rc
    quiet(a)
    a.close()
    p.close()


def test_subscription_limit_and_many_topics():
    """1024 subscriptions per connection; thousands of topics."""
    d = start()
    a = client(d.port)
    rc, _ = call(a, "subs 1024 s")
    assert rc == 1024
    rc, _ = call(a, "sub one-more")
    assert rc == -1, "subscription 1025 answered %d" % rc
    # Already subscribed: still 0, and no new subscription.
    rc, _ = call(a, "subs 10 s")
    assert rc == 10
    ok(a, "unsub s7")
    ok(a, "sub one-more")
    assert d.find_log(r"subscriptions limit \(1024\) reached")
    b = client(d.port)
    rc, _ = call(b, "subs 1000 s")
    assert rc == 1000
    c = client(d.port)
    rc, _ = call(c, "subs 1000 other")
    assert rc == 1000
    p = client(d.port)
    ok(p, "pub s999 both")
    assert text(a) == "both" and text(b) == "both"
    ok(p, "pub s7 only-b")
    assert text(b) == "only-b"
    ok(p, "pub other500 only-c")
    assert text(c) == "only-c"
    quiet(a)
    a.close()
    b.close()
    ok(p, "pub s1 nobody")
    ok(p, "pub other1 c")
    assert text(c) == "c"
    quiet(c)
    c.close()
    p.close()


def test_publish_from_timer():
    d = start()
    a = client(d.port, ["tick"])
    p = client(d.port)
    ok(p, "pubtimer tick from-a-timer")
    assert text(a) == "from-a-timer"
    a.close()
    p.close()


def slow_socket(port, rcvbuf=4096):
    """A RawClient whose receive buffer is small, so that the server's
    queue for it fills soon once it stops reading."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(W.T(10))
    s.connect(("127.0.0.1", port))
    c = W.RawClient.__new__(W.RawClient)
    c.port, c.host, c.timeout = port, "127.0.0.1", W.T(10)
    c.sock, c.buf, c.eof, c.reset = s, bytearray(), False, False
    return c


def test_slow_subscriber_closed_others_served():
    """A subscriber that stops reading is closed with 1008 once its queue
    passes max_send_buffer; the others get every message, in order."""
    d = start(route_limits={"max_send_buffer": 256 * 1024})
    fast = client(d.port, ["flow"])
    slow = client(d.port, ["flow"], sock=slow_socket(d.port))
    p = client(d.port)
    slow_port = slow.local_port
    n = 0
    deadline = time.monotonic() + W.T(60)
    closed = None
    for rnd in range(200):
        assert time.monotonic() < deadline, "too slow"
        rc, _ = call(p, "pubn flow 8 16384")
        assert rc == 8
        for i in range(8):
            t = fast.read_message()
            assert t[0] == W.OP_TEXT and len(t[1]) == 16384
            assert int(t[1].split(b" ", 1)[0]) == i
            n += 1
        closed = d.find_log(r"conn \d+ 127\.0\.0\.1:%d: closing with "
                            r"1008: send buffer full" % slow_port)
        if closed and rnd >= 10:
            break
    assert closed, "the slow subscriber was never closed"
    # The fast one carries on.
    ok(p, "pub flow after")
    assert text(fast) == "after"
    quiet(fast)
    assert not d.find_log(r"127\.0\.0\.1:%d: closing with 1008"
                          % fast.local_port)
    for c in (fast, slow, p):
        c.close()


# ------------------------------------------------------------ workers

def workers_config(n=2, **kw):
    extra = {"workers": n, "worker_header": True}
    extra.update(kw.pop("extra", None) or {})
    return topics_config(extra=extra, **kw)


def on_worker(port, want, subs=(), tries=200):
    """A connection served by worker `want` (others opened on the way
    are closed).  Its X-Wsd-Worker header and its open line agree."""
    for _ in range(tries):
        c = W.RawClient(port)
        path = "/t" + ("?sub=" + ",".join(subs) if subs else "")
        r = c.handshake(path)
        m = re.match(r"^open (-?\d+) (\d+)$", text(c))
        assert m, "no open line"
        c.worker, c.nsubs = int(m.group(1)), int(m.group(2))
        assert r.get("x-wsd-worker") == str(c.worker), (r, c.worker)
        if c.worker == want:
            return c
        c.close()
    raise AssertionError("no connection reached worker %d in %d tries"
                         % (want, tries))


def spread(port, subs, per_worker=2, nworkers=2, tries=200):
    """Subscribers until every worker has per_worker of them."""
    got = {w: [] for w in range(nworkers)}
    extra = []
    for _ in range(tries):
        if all(len(v) >= per_worker for v in got.values()):
            break
        c = client(port, subs)
        if len(got[c.worker]) < per_worker:
            got[c.worker].append(c)
        else:
            extra.append(c)
    for c in extra:
        c.close()
    assert all(len(v) >= per_worker for v in got.values()), \
        "connections did not reach every worker: %r" % {
            w: len(v) for w, v in got.items()}
    return [c for v in got.values() for c in v]


def expect_sequence(subs, burst=300, rounds=10, per_round=20):
    """What publish_sequence() sent: every subscriber gets it all, in
    order, once (a duplicate would show before the end marker)."""
    for c in subs:
        got = [int(text(c).split(" ", 1)[0])
               for _ in range(burst + rounds * per_round)]
        assert got[:burst] == list(range(burst)), \
            "worker %d subscriber: %r..." % (c.worker, got[:10])
        assert got[burst:] == list(range(per_round)) * rounds, \
            "worker %d subscriber, rounds" % c.worker
        end = text(c)
        assert end == "end", "worker %d subscriber: %r before the end " \
            "marker" % (c.worker, end)
        quiet(c)


def publish_sequence(p, topic, burst=300, rounds=10, per_round=20):
    rc, _ = call(p, "pubn %s %d 40" % (topic, burst))
    assert rc == burst
    for _ in range(rounds):
        rc, _ = call(p, "pubn %s %d 3000" % (topic, per_round))
        assert rc == per_round
    ok(p, "pub %s end" % topic)


def test_workers_publish_reaches_every_worker():
    """workers = 2: a sequence published on worker 0 reaches subscribers
    on both workers, complete, in order, once; then from worker 1."""
    d = W.start_daemon(workers_config())
    subs = spread(d.port, ["seq"], per_worker=3)
    for w in (0, 1):
        p = on_worker(d.port, w)
        publish_sequence(p, "seq")
        expect_sequence(subs)
        p.close()
    # Binary, and large, across workers.
    payload = os.urandom(300 * 1000)
    p = on_worker(d.port, 1)
    p.send_frame(W.OP_BINARY, b"seq " + payload)
    assert text(p) == "pubbin 0"
    for c in subs:
        assert c.read_message() == (W.OP_BINARY, payload)
    # Unsubscribed on the other worker: not delivered there.
    for c in subs:
        ok(c, "unsub seq")
    p0 = on_worker(d.port, 0)
    fence = on_worker(d.port, 1, subs=["fence"])
    ok(p0, "pub seq nobody")
    # A publish reaches the other worker a moment after its publisher
    # hears back: wait until worker 1 has had it (what worker 0 relays
    # arrives in order) before anyone there subscribes again.
    ok(p0, "pub fence passed")
    assert text(fence) == "passed"
    for c in subs:
        ok(c, "sub seq")
    ok(p0, "pub seq again")
    for c in subs:
        assert text(c) == "again", "worker %d" % c.worker
        quiet(c)
    for c in subs + [p, p0, fence]:
        c.close()
    assert d.stop() == 0


def test_workers_two_publishers_each_in_order():
    """Publishers on both workers at once: each one's messages reach
    every subscriber in that publisher's order, all of them, once."""
    d = W.start_daemon(workers_config())
    subs = spread(d.port, ["mix"], per_worker=2)
    pubs = [on_worker(d.port, 0), on_worker(d.port, 1)]
    n = 400
    # The publishers' messages differ in size: 64 and 65 bytes.
    for k, p in enumerate(pubs):
        p.send_text("pubn mix %d %d" % (n, 64 + k))
    for p in pubs:
        rc, _ = call_reply_only(p, "pubn")
        assert rc == n
    for c in subs:
        runs = {64: [], 65: []}
        for _ in range(2 * n):
            t = text(c)
            runs[len(t)].append(int(t.split(" ", 1)[0]))
        for size, seqs in runs.items():
            assert seqs == list(range(n)), \
                "worker %d subscriber, publisher of %d-byte messages: " \
                "%d messages, first %r" % (c.worker, size, len(seqs),
                                           seqs[:10])
        quiet(c)
    for c in subs + pubs:
        c.close()


def call_reply_only(c, cmd):
    while True:
        t = text(c)
        m = re.match(r"^%s (-?\d+)$" % re.escape(cmd), t)
        if m:
            return int(m.group(1)), None


def test_workers_restarted_worker_rejoins():
    """kill -9 a worker: its replacement (a new serial) gets topic
    messages from the other worker, and the survivor's subscribers keep
    getting them."""
    d = W.start_daemon(workers_config())
    d.worker_pids(2)
    survivor = on_worker(d.port, 0, ["news"])
    victim = on_worker(d.port, 1, ["news"])
    p = on_worker(d.port, 0)
    ok(p, "pub news before")
    assert text(survivor) == "before" and text(victim) == "before"
    mark = d.mark()
    old = d.worker_pids(2)
    os.kill(old[1], 9)
    d.wait_log(r"worker 1 started \(pid (\d+)\)", 10, mark)
    victim.read_until_eof(10)
    victim.close()
    newcomer = on_worker(d.port, 1, ["news"])
    # The stream to the old worker 1 died with it; publish until the
    # new one is reached (a message to a peer that is just being
    # replaced may be dropped: at most once).
    ok(p, "pub news after")
    assert text(survivor) == "after"
    assert text(newcomer) == "after"
    # And from the new worker to the old one.
    p1 = on_worker(d.port, 1)
    ok(p1, "pub news back")
    assert text(survivor) == "back" and text(newcomer) == "back"
    for c in (survivor, newcomer, p, p1):
        c.close()


TESTS = [
    test_subscribe_publish_unsubscribe,
    test_publisher_subscribed_gets_its_own,
    test_order_and_once,
    test_close_ends_subscriptions,
    test_bad_names,
    test_binary_and_opcodes,
    test_max_message_size,
    test_subscription_limit_and_many_topics,
    test_publish_from_timer,
    test_slow_subscriber_closed_others_served,
    test_workers_publish_reaches_every_worker,
    test_workers_two_publishers_each_in_order,
    test_workers_restarted_worker_rejoins,
]

if __name__ == "__main__":
    W.run(TESTS)
