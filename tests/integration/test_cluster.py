"""Topics and chat across wsd nodes of several workers each, sharing one
Redis (the backplane, src/backplane.c, with the workers' mesh,
src/peers.c): every case runs two nodes of `workers = 2` with
`worker_header = true`, so that the 101's X-Wsd-Worker header tells which
worker serves a connection and the cases can prove delivery to every
worker of every node instead of hoping for it.

The Redis helpers (a redis-server of the test's own, on a free port, no
persistence, stopped by its PID) come from test_backplane.py.  Run with
Debian's python3 (the chat cases use python3-websockets).

Proving that nothing came twice, or late: Redis hands the messages of
one channel to one subscriber connection in the order it got them, and a
worker delivers what one peer or Redis connection gave it in that order.
So once a message has been seen on node B (it went through Redis), a
"fence" published with redis-cli reaches every worker of both nodes
after anything Redis still had for them: a subscriber that reads the
fence next got nothing extra."""

import asyncio
import json
import os
import re
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402
from test_backplane import cleanup, redis, text  # noqa: E402

NODE_WORKERS = 2


# ------------------------------------------------------------ nodes

def node(r, routes, plugin_dir, limits=None, port=None):
    """A wsd node of NODE_WORKERS workers whose cluster is Redis r;
    started when every worker is connected to it (unless port: a Redis
    that is not there yet)."""
    conf = W.write_config(
        plugin_dir=plugin_dir, log_level="info", limits=limits,
        routes=routes,
        extra={"workers": NODE_WORKERS, "worker_header": True,
               "cluster": {"redis": "127.0.0.1:%d" % (port or r.port)}})
    d = W.start_daemon(conf)
    if port is None:
        connected_all(d)
    return d


def topics_node(r, limits=None):
    return node(r, [W.route("/t", plugin="topics")], W.TEST_PLUGIN_DIR,
                limits)


def chat_node(r):
    return node(r, [W.route("/chat", "chat")], W.PLUGIN_DIR)


def per_worker_log(d, what, start=0, timeout=10):
    """Wait until every worker of d has logged a line matching `what`
    (with the "worker N: " prefix a worker's lines carry)."""
    for w in range(NODE_WORKERS):
        d.wait_log(r"worker %d: %s" % (w, what), timeout, start)


def count_worker_log(d, w, what, start=0):
    r = re.compile(r"worker %d: %s" % (w, what))
    with d.cond:
        return sum(1 for l in d.lines[start:] if r.search(l))


def connected_all(d, start=0, timeout=10):
    per_worker_log(d, r"Redis at 127\.0\.0\.1:\d+: connected", start,
                   timeout)


# ------------------------------------------------------------ topics

def sub_client(port, subs):
    """A /t connection subscribed to subs; c.worker from X-Wsd-Worker,
    checked against the plugin's "open W N" line."""
    c = W.RawClient(port)
    r = c.handshake("/t" + ("?sub=" + ",".join(subs) if subs else ""))
    m = re.match(r"^open (\d+) (\d+)$", text(c))
    assert m, "no open line"
    c.worker = int(r.get("x-wsd-worker"))
    assert c.worker == int(m.group(1)), (r, m.group(0))
    assert int(m.group(2)) == len(subs)
    return c


def spread(d, subs, per_worker=2, tries=200):
    """Subscribers of d until every worker has per_worker of them (the
    others opened on the way are closed); c.node = d."""
    got = {w: [] for w in range(NODE_WORKERS)}
    for _ in range(tries):
        if all(len(v) >= per_worker for v in got.values()):
            break
        c = sub_client(d.port, subs)
        assert c.worker in got, "X-Wsd-Worker %d" % c.worker
        if len(got[c.worker]) < per_worker:
            c.node = d
            got[c.worker].append(c)
        else:
            c.close()
    assert all(len(v) >= per_worker for v in got.values()), \
        "connections did not reach every worker of node %d: %r" % (
            d.port, {w: len(v) for w, v in got.items()})
    return [c for v in got.values() for c in v]


def on_worker(d, want, tries=200):
    """A /t connection of d, subscribed to nothing, served by worker
    `want`."""
    for _ in range(tries):
        c = sub_client(d.port, ())
        if c.worker == want:
            return c
        c.close()
    raise AssertionError("no connection reached worker %d in %d tries"
                         % (want, tries))


def reply(c, cmd, timeout=10):
    """The next message of c, which must be the reply to cmd."""
    t = text(c, timeout)
    m = re.match(r"^%s (-?\d+)$" % re.escape(cmd), t)
    assert m, "expected the reply to %s, got %r" % (cmd, t[:40])
    return int(m.group(1))


def quiet(c):
    """Nothing is waiting for c: a command's reply comes next."""
    c.send_text("unsub never-subscribed")
    assert reply(c, "unsub") == -1


def where(c):
    return "subscriber on node %d worker %d" % (c.node.port, c.worker)


def sequence(n):
    """(opcode, payload) of message i: numbered text of a few dozen
    bytes, binary (every tenth, the number in its first 4 bytes), and
    large text of about 100 KiB (five of them)."""
    seq = []
    for i in range(n):
        if i % 60 == 30:
            head = b"%d " % i
            seq.append((W.OP_TEXT, head + b"L" * (100 * 1024 - len(head))))
        elif i % 10 == 5:
            seq.append((W.OP_BINARY, struct.pack(">I", i) +
                        os.urandom(500 + i)))
        else:
            seq.append((W.OP_TEXT, b"%d " % i + b"x" * (10 + i % 50)))
    return seq


def show(m):
    op, data = m if not isinstance(m, W.Frame) else (m.opcode, m.payload)
    return (op, len(data), data[:12])


def test_sequence_from_one_worker_reaches_every_worker_of_two_nodes():
    """300 messages (text, binary, some of 100 KiB) published on node A
    by worker 1 reach the subscribers on both workers of nodes A and B:
    complete, in order, once (a late duplicate would show before the
    redis-cli fence)."""
    try:
        r = redis()
        # The subscribers are read one after another: what waits for the
        # last ones (about 600 KiB each) is not a slow consumer.
        lim = {"max_send_buffer": 8 * 1024 * 1024}
        a, b = topics_node(r, lim), topics_node(r, lim)
        subs = spread(a, ["seq"]) + spread(b, ["seq"])
        # One Redis subscription per worker: both of each node.
        r.wait_numsub("wsd:seq", 2 * NODE_WORKERS)
        p = on_worker(a, 1)
        n = 300
        seq = sequence(n)
        t0 = time.monotonic()
        # All of it in one go, the replies read after.
        for op, data in seq:
            if op == W.OP_BINARY:
                p.send_frame(W.OP_BINARY, b"seq " + data)
            else:
                p.send_text("pub seq " + data.decode())
        for op, _ in seq:
            assert reply(p, "pubbin" if op == W.OP_BINARY else "pub") == 0
        p.send_text("pub seq end")
        assert reply(p, "pub") == 0
        want = seq + [(W.OP_TEXT, b"end")]
        # Node B's first: once they have the end, Redis has handed on
        # everything of A's, so the fence comes after it on every
        # Redis connection (node A's workers', which must ignore A's own
        # messages, included).
        order = [c for c in subs if c.node is b] + \
            [c for c in subs if c.node is a]
        for k, c in enumerate(order):
            for i, w in enumerate(want):
                m = c.read_message(W.T(10))
                assert m == w, "%s: message %d is %r, wanted %r" % (
                    where(c), i, show(m), show(w))
            if k == sum(1 for x in subs if x.node is b) - 1:
                assert r.publish("wsd:seq", "fence") == 2 * NODE_WORKERS
        for c in subs:
            m = c.read_message(W.T(10))
            assert m == (W.OP_TEXT, b"fence"), \
                "%s: %r after the end, before the fence" % (where(c),
                                                            show(m))
            quiet(c)
        took = time.monotonic() - t0
        assert took < W.T(30), "the sequence took %.1fs" % took
        assert {(c.node.port, c.worker) for c in subs} == \
            {(d.port, w) for d in (a, b) for w in range(NODE_WORKERS)}
        for c in subs + [p]:
            c.close()
        assert a.stop() == 0 and b.stop() == 0
    finally:
        cleanup()


def test_redis_cli_reaches_every_worker_of_two_nodes():
    """redis-cli PUBLISH wsd:news reaches the subscribers of news on
    both workers of both nodes (text; a backend's binary envelope as
    binary), each once; other topics' subscribers get none of it."""
    try:
        r = redis()
        a, b = topics_node(r), topics_node(r)
        subs = spread(a, ["news"]) + spread(b, ["news"])
        others = spread(a, ["sport"], 1) + spread(b, ["sport"], 1)
        r.wait_numsub("wsd:news", 2 * NODE_WORKERS)
        r.wait_numsub("wsd:sport", 2 * NODE_WORKERS)
        assert r.publish("wsd:news", "hello") == 2 * NODE_WORKERS
        env = b"\xffWSD\x01\x02" + struct.pack(">Q", 0) + b"\x00\xffbin"
        assert r.publish("wsd:news", env) == 2 * NODE_WORKERS
        assert r.publish("wsd:news", "fence") == 2 * NODE_WORKERS
        for c in subs:
            for w in [(W.OP_TEXT, b"hello"), (W.OP_BINARY, b"\x00\xffbin"),
                      (W.OP_TEXT, b"fence")]:
                m = c.read_message(W.T(10))
                assert m == w, "%s: %r, wanted %r" % (where(c), m, w)
            quiet(c)
        assert r.publish("wsd:sport", "goal") == 2 * NODE_WORKERS
        for c in others:
            assert text(c) == "goal", where(c)
            quiet(c)
        for c in subs + others:
            c.close()
        r.wait_numsub("wsd:news", 0)
    finally:
        cleanup()


# ------------------------------------------------------------ chat

KEYS = {"message": {"type", "room", "nick", "text", "ts"},
        "join": {"type", "room", "nick"},
        "leave": {"type", "room", "nick"}}


class Member:
    """A chat connection, the node and worker serving it, and the joins
    it has seen.  A join published just before this member's worker
    subscribed may or may not reach it (and one published on a node
    whose Redis subscription was not made yet is not delivered there):
    joins of the members in `early` are taken whenever they come, at
    most once each; what a case waits for, it asks for by name."""

    def __init__(self, ws, nick, d):
        self.ws, self.nick, self.node = ws, nick, d
        self.worker = int(ws.response_headers["X-Wsd-Worker"])
        self.joins = {nick}
        self.early = set()
        self.skip = None        # skip(member, ev): True to pass ev over

    def __repr__(self):
        return "%s (node %d worker %d)" % (self.nick, self.node.port,
                                           self.worker)

    async def event(self, timeout=10):
        """The next event that is not an early member's join."""
        deadline = time.monotonic() + W.T(timeout)
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "%r: no event within %ss" % (self, timeout)
            raw = await asyncio.wait_for(self.ws.recv(), left)
            assert isinstance(raw, str), "%r: binary %r" % (self, raw)
            ev = json.loads(raw)
            assert set(ev) == KEYS.get(ev.get("type")), \
                "%r: bad event %r" % (self, raw)
            ev["raw"] = raw
            if ev["type"] == "join" and ev["nick"] in self.early:
                assert ev["nick"] not in self.joins, \
                    "%r: %s joined twice" % (self, ev["nick"])
                self.joins.add(ev["nick"])
                continue
            if self.skip is not None and self.skip(self, ev):
                continue
            return ev

    async def expect_joins(self, nicks, timeout=10):
        """Read until the joins of nicks have all come (each once)."""
        deadline = time.monotonic() + W.T(timeout)
        missing = set(nicks) - self.joins
        while missing:
            ev = await self.event(deadline - time.monotonic())
            assert ev["type"] == "join" and ev["nick"] in missing, \
                "%r: %r while waiting for the joins of %s" % (
                    self, ev["raw"], sorted(missing))
            self.joins.add(ev["nick"])
            missing.discard(ev["nick"])

    async def expect(self, kind, nick, room="lobby", line=None,
                     timeout=10):
        ev = await self.event(timeout)
        want = {"type": kind, "room": room, "nick": nick}
        if kind == "message":
            want["text"], want["ts"] = line, ev.get("ts")
        got = dict(ev)
        del got["raw"]
        assert got == want, "%r: got %r, wanted %r" % (self, got, want)
        return ev


async def join(d, nick, room="lobby"):
    # No cap on what waits unread: a case reads only the members it
    # needs to, and the others must still close cleanly at the end.
    ws = await W.ws_connect(d.port, "/chat?room=%s&nick=%s" % (room, nick),
                            max_queue=None)
    m = Member(ws, nick, d)
    assert m.worker in range(NODE_WORKERS), m
    ev = json.loads(await W.recv(ws))
    assert ev == {"type": "join", "room": room, "nick": nick}, \
        "%r: first event %r, not its own join" % (m, ev)
    return m


async def members_on_every_worker(nodes, prefix, limit=40):
    """Members joined to the lobby of every node until every worker of
    every node serves one; all of them stay (a member that left would
    be a leave event for the others).  Returns (all members, one per
    (node, worker))."""
    members, by = [], {}
    for i in range(limit):
        d = nodes[i % len(nodes)]
        m = await join(d, "%s%d" % (prefix, i))
        members.append(m)
        by.setdefault((d.port, m.worker), m)
        if len(by) == len(nodes) * NODE_WORKERS:
            return members, [by[(d.port, w)] for d in nodes
                             for w in range(NODE_WORKERS)]
    raise AssertionError("%d members, only on %s" % (limit, sorted(by)))


async def close_all(members):
    for m in members:
        await m.ws.close()


async def settle_joins(members, subscribed):
    """Each member has seen the join of every member that came after it
    on its own node (the mesh reaches every worker of a node) and, when
    `subscribed` (Redis had a subscription of every worker before the
    first of them joined), on the other node too.  The others may come
    later or not at all (Member.early): the node of an earlier member may
    not have had its Redis subscription yet when a later one joined
    elsewhere."""
    for i, m in enumerate(members):
        later = [x for x in members[i + 1:]
                 if subscribed or x.node is m.node]
        m.early |= {x.nick for x in members[:i + 1]} | \
            {x.nick for x in members[i + 1:] if x not in later}
        await m.expect_joins([x.nick for x in later])


def test_chat_across_two_nodes_of_two_workers():
    """Members of the lobby on both workers of two nodes: the joins of
    later members, the lines of one sender per worker (each sender's in
    order, each once) and a leave reach every member; a backend's
    redis-cli PUBLISH wsd:chat.lobby reaches every member as it was
    published."""
    try:
        r = redis()
        a, b = chat_node(r), chat_node(r)
        n = 50

        async def go():
            # Observers on every worker; once Redis counts a
            # subscription per worker, every event of the room reaches
            # every worker.
            obs, four = await members_on_every_worker([a, b], "o")
            r.wait_numsub("wsd:chat.lobby", 2 * NODE_WORKERS)
            await settle_joins(obs, False)
            # Newcomers, again on every worker: every observer sees each
            # newcomer's join, exactly once.
            new, four_new = await members_on_every_worker([b, a], "n")
            for m in obs:
                m.early = {x.nick for x in obs}
                await m.expect_joins([x.nick for x in new])
            for m in new:
                m.early = {x.nick for x in obs}
            await settle_joins(new, True)
            everyone = obs + new

            # One sender per worker, all at once.
            senders = four_new

            async def send(m):
                for i in range(n):
                    await m.ws.send("%s %d" % (m.nick, i))

            async def read(m):
                got = {s.nick: [] for s in senders}
                while sum(len(v) for v in got.values()) < n * len(senders):
                    ev = await m.event(20)
                    assert ev["type"] == "message" and \
                        ev["nick"] in got, "%r: %r" % (m, ev["raw"])
                    who, i = ev["text"].split()
                    assert who == ev["nick"] and ev["room"] == "lobby", ev
                    got[who].append(int(i))
                return got
            results = await asyncio.gather(
                *[send(s) for s in senders], *[read(m) for m in everyone])
            for m, got in zip(everyone, results[len(senders):]):
                for s in senders:
                    assert got[s.nick] == list(range(n)), \
                        "%r got the lines of %r as %r..." % (
                            m, s, got[s.nick][:20])

            # A leave, from node B worker 1, seen on every worker.
            gone = next(m for m in four_new
                        if m.node is b and m.worker == 1)
            await gone.ws.close()
            rest = [m for m in everyone if m is not gone]
            for m in rest:
                await m.expect("leave", gone.nick)

            # A backend speaks in the room, with any Redis client.
            def backend(text):
                return json.dumps({"type": "message", "room": "lobby",
                                   "nick": "ops", "text": text, "ts": 0},
                                  separators=(",", ":"), ensure_ascii=False)
            line = backend("hi \u00e9")
            assert r.publish("wsd:chat.lobby", line) == 2 * NODE_WORKERS
            for m in rest:
                ev = await m.expect("message", "ops", line="hi \u00e9")
                assert ev["raw"] == line and ev["ts"] == 0, ev["raw"]
            # Nothing more: neither a line twice nor a late join.
            fence = backend("fence")
            assert r.publish("wsd:chat.lobby", fence) == 2 * NODE_WORKERS
            for m in rest:
                await m.expect("message", "ops", line="fence")
            await close_all(rest)
        W.arun(go(), timeout=90)
        assert a.stop() == 0 and b.stop() == 0
    finally:
        cleanup()


def test_chat_through_a_redis_restart():
    """Redis stopped and started again under live chat on 2 nodes x 2
    workers: every worker logs the outage once; members on one node,
    served by different workers, keep getting each other's lines at
    once; lines published meanwhile are not replayed to the other node;
    once Redis is back every worker reconnects and resubscribes by
    itself and lines cross the nodes again, within bounded times, from
    the same wsd processes."""
    try:
        r = redis()
        a, b = chat_node(r), chat_node(r)
        pids = {d.port: d.worker_pids(NODE_WORKERS) for d in (a, b)}
        assert all(len(p) == NODE_WORKERS for p in pids.values()), pids

        async def go():
            everyone, four = await members_on_every_worker([a, b], "m")
            r.wait_numsub("wsd:chat.lobby", 2 * NODE_WORKERS)
            await settle_joins(everyone, False)
            for m in everyone:
                m.early = {x.nick for x in everyone}
            a0, a1, b0, b1 = four

            async def line(sender, text, readers, timeout=5):
                await sender.ws.send(text)
                for m in readers:
                    await m.expect("message", sender.nick, line=text,
                                   timeout=timeout)

            await line(a0, "before", four)
            await line(b1, "before too", four)
            marks = {d.port: d.mark() for d in (a, b)}
            t_stop = time.monotonic()
            r.stop()
            for d in (a, b):
                per_worker_log(d, r"Redis at 127\.0\.0\.1:%d unreachable: "
                               r".*; retrying" % r.port, marks[d.port], 10)
            # The outage, some seconds of it: each node's own members
            # talk across its two workers, every line there within 2 s.
            k = 0
            while time.monotonic() - t_stop < W.T(2):
                for s, peer in ((a0, a1), (a1, a0), (b0, b1), (b1, b0)):
                    await line(s, "local %d" % k, (s, peer), 2)
                    k += 1
                await asyncio.sleep(0.02)
            # Redis back.  Node A's members talk on while the workers
            # reconnect; node B's members may get those lines once
            # their own worker and a0's are both back: in order, once,
            # and only lines sent after Redis was started (nothing of the
            # outage is replayed).
            first = k
            window = []

            def late(m, ev):
                if m.node is not b or ev["type"] != "message" or \
                        ev["nick"] != a0.nick or \
                        not ev["text"].startswith("local "):
                    return False
                j = int(ev["text"].split()[1])
                assert j >= first, "%r got %r, sent while Redis was " \
                    "down" % (m, ev["text"])
                seen = [x for x in window if x[0] is m]
                assert not seen or seen[-1][1] < j, \
                    "%r: %r out of order or twice" % (m, ev["text"])
                window.append((m, j))
                return True
            for m in (b0, b1):
                m.skip = late
            t_start = time.monotonic()
            r.start()
            # Local delivery goes on while the workers reconnect.
            back = False
            while not back:
                assert time.monotonic() - t_start < W.T(15), \
                    "Redis subscriptions not back within 15 s:\n%s\n%s" % (
                        a.tail(8), b.tail(8))
                await line(a0, "local %d" % k, (a0, a1), 2)
                k += 1
                back = r.numsub("wsd:chat.lobby") == 2 * NODE_WORKERS
                await asyncio.sleep(0.05)
            for d in (a, b):
                connected_all(d, marks[d.port], 5)
            # Across the nodes again, both ways.
            await line(a1, "after", four)
            await line(b0, "after too", four)
            await line(a0, "after three", four)
            took = time.monotonic() - t_start
            assert took < W.T(15), "remote delivery resumed after %.1fs" \
                % took
            for d in (a, b):
                for w in range(NODE_WORKERS):
                    for what in (r"Redis at \S+ unreachable: ",
                                 r"Redis at \S+: connected"):
                        got = count_worker_log(d, w, what, marks[d.port])
                        assert got == 1, "node %d worker %d logged %r " \
                            "%d times:\n%s" % (d.port, w, what, got,
                                               d.tail(20))
            await close_all(everyone)
        W.arun(go(), timeout=90)
        # wsd was not restarted: the same master and workers.
        for d in (a, b):
            assert d.alive()
            assert d.worker_pids(NODE_WORKERS) == pids[d.port], \
                (pids[d.port], d.worker_pids())
            assert d.stop() == 0
    finally:
        cleanup()


TESTS = [
    test_sequence_from_one_worker_reaches_every_worker_of_two_nodes,
    test_redis_cli_reaches_every_worker_of_two_nodes,
    test_chat_across_two_nodes_of_two_workers,
    test_chat_through_a_redis_restart,
]

if __name__ == "__main__":
    W.run(TESTS)
