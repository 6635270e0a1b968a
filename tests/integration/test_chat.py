"""The bundled chat plugin (plugins/chat): handshake checks, the JSON
protocol, rooms on topics, limits.  Run with Debian's python3 (it has
python3-websockets).
"""

import asyncio
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

import websockets  # noqa: E402

ALLOWED = "ABCXYZabcxyz0189_.-"
KEYS = {"message": {"type", "room", "nick", "text", "ts"},
        "join": {"type", "room", "nick"},
        "leave": {"type", "room", "nick"}}


def chat_route(path="/chat", limits=None, **settings):
    return W.route(path, "chat", settings=settings, limits=limits)


def start(routes=None, **kw):
    return W.start(routes=routes or [chat_route()], **kw)


def url(room=None, nick=None, path="/chat"):
    q = []
    if room is not None:
        q.append("room=" + room)
    if nick is not None:
        q.append("nick=" + nick)
    return path + ("?" + "&".join(q) if q else "")


def check_event(ev):
    """Parse one server message; check its keys and their types."""
    assert isinstance(ev, str), "chat sent binary: %r" % (ev,)
    obj = json.loads(ev)
    assert isinstance(obj, dict), obj
    kind = obj.get("type")
    assert kind in KEYS, "unknown type in %r" % obj
    assert set(obj) == KEYS[kind], "keys of %r, wanted %s" % (
        obj, sorted(KEYS[kind]))
    for k in ("room", "nick") + (("text",) if kind == "message" else ()):
        assert isinstance(obj[k], str), "%s of %r is not a string" % (k, obj)
    if kind == "message":
        assert type(obj["ts"]) is int, "ts of %r is not an integer" % obj
    return obj


async def event(ws, timeout=10):
    return check_event(await W.recv(ws, timeout))


async def expect(ws, kind, room, nick, text=None, timeout=10):
    ev = await event(ws, timeout)
    want = {"type": kind, "room": room, "nick": nick}
    if kind == "message":
        want["text"] = text
        want["ts"] = ev.get("ts")
    assert ev == want, "got %r, wanted %r" % (ev, want)
    return ev


async def join(port, room, nick, path="/chat"):
    """Connect and read the member's own join: it is in the room then."""
    ws = await W.ws_connect(port, url(room, nick, path))
    await expect(ws, "join", room or "lobby", nick)
    return ws


async def nothing_more(ws, wait=0.3):
    """No message within `wait` seconds."""
    try:
        got = await asyncio.wait_for(ws.recv(), W.T(wait))
    except asyncio.TimeoutError:
        return
    raise AssertionError("unexpected message %r" % (got,))


async def closed_with(ws, code, timeout=10):
    """Read until the server closes; check its close code."""
    deadline = time.monotonic() + W.T(timeout)
    try:
        while time.monotonic() < deadline:
            await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
    except websockets.ConnectionClosed as e:
        assert e.rcvd is not None and e.rcvd.code == code, \
            "closed with %r, wanted %d" % (e.rcvd, code)
        return
    raise AssertionError("still open after %ss" % W.T(timeout))


def refused(d, path, status=400):
    """The handshake is refused by the plugin (not by wsd's own checks)."""
    mark = d.mark()
    with W.RawClient(d.port) as c:
        c.send(c.upgrade_request(path))
        W.expect_http_error(c, status)
    try:
        d.wait_log(r"refused by chat with %d" % status, start=mark)
    except AssertionError:
        raise AssertionError("%s: %d, but not from the plugin\n%s"
                             % (path, status, d.tail(5)))


# ------------------------------------------------------------ handshake

def test_nick_required_and_checked():
    d = start()
    try:
        for q in (url(), url(room="lobby"), url(nick=""), url(nick="a%20b"), url(nick="a+b"), url(nick="x" * 33),
                  url(nick="caf%C3%A9"), url(nick="a%2Fb"), url(nick="a:b"),
                  url(nick="%00"), url(nick="ab%00cd"), url(nick="%zz"),
                  url(nick="a*"), url(nick="%3Cb%3E"), "/chat?Nick=ann",
                  "/chat?nick"):
            refused(d, q)
        # the longest nick, every allowed character, is fine
        for nick in ("x" * 32, ALLOWED, "a", "..", "-"):
            async def go():
                ws = await join(d.port, None, nick)
                await ws.close()
            W.arun(go())
    finally:
        d.kill()


def test_room_checked():
    d = start()
    try:
        for room in ("", "a%20b", "a+b", "r" * 33, "%C3%A9",
                     "a%2Fb", "%00", "%zz", "a*b", "a:b"):
            refused(d, url(room=room, nick="ann"))
        refused(d, "/chat?room&nick=ann")

        async def go():
            ws = await join(d.port, "r" * 32, "ann")
            await ws.close()
            ws = await join(d.port, ALLOWED, "ann")
            await ws.close()
        W.arun(go())
    finally:
        d.kill()


def test_room_defaults_to_lobby():
    d = start()
    try:
        async def go():
            a = await join(d.port, None, "ann")          # no room=
            b = await join(d.port, "lobby", "bob")       # explicit lobby
            await expect(a, "join", "lobby", "bob")
            await a.send("hello")
            await expect(b, "message", "lobby", "ann", "hello")
            await expect(a, "message", "lobby", "ann", "hello")
            await a.close()
            await b.close()
        W.arun(go())
    finally:
        d.kill()


# ------------------------------------------------------------ protocol

def test_join_and_leave_seen_by_members():
    d = start()
    try:
        async def go():
            a = await join(d.port, "r1", "ann")
            b = await join(d.port, "r1", "bob")
            await expect(a, "join", "r1", "bob")
            c = await join(d.port, "r1", "cat")
            await expect(a, "join", "r1", "cat")
            await expect(b, "join", "r1", "cat")
            await b.close()                               # a clean close
            await expect(a, "leave", "r1", "bob")
            await expect(c, "leave", "r1", "bob")
            c.transport.abort()                           # TCP just ends
            await expect(a, "leave", "r1", "cat")
            await nothing_more(a)
            await a.close()
        W.arun(go())
    finally:
        d.kill()


def test_message_fields_and_own_line():
    d = start()
    try:
        async def go():
            a = await join(d.port, "room.1", "ann")
            b = await join(d.port, "room.1", "bob")
            await expect(a, "join", "room.1", "bob")
            before = int(time.time() * 1000)
            await b.send("hi there")
            for ws in (b, a):       # the sender gets its own line back
                raw = await W.recv(ws)
                ev = check_event(raw)
                assert ev["type"] == "message", ev
                assert ev["room"] == "room.1" and ev["nick"] == "bob", ev
                assert ev["text"] == "hi there", ev
                after = int(time.time() * 1000)
                assert before - 5 <= ev["ts"] <= after + 5, \
                    "ts %d not within [%d, %d]: not epoch ms" % (
                        ev["ts"], before, after)
                # compact JSON, keys in the documented order
                assert raw.startswith('{"type":"message","room":"room.1",'
                                      '"nick":"bob","text":"hi there",'
                                      '"ts":'), raw
            await nothing_more(a)
            await nothing_more(b)
            await a.close()
            await b.close()
        W.arun(go())
    finally:
        d.kill()


def test_rooms_isolated():
    d = start(routes=[chat_route(), chat_route("/chat2"),
                      chat_route("/other", topic_prefix="other:")])
    try:
        async def go():
            a = await join(d.port, "r1", "ann")
            b = await join(d.port, "r2", "bob")
            up = await join(d.port, "R1", "upper")      # names are exact
            # same prefix on another route: the same room
            c = await join(d.port, "r1", "cat", "/chat2")
            await expect(a, "join", "r1", "cat")
            # another prefix: another room of the same name
            o = await join(d.port, "r1", "oli", "/other")
            await b.send("in r2")
            await expect(b, "message", "r2", "bob", "in r2")
            await up.send("in R1")
            await expect(up, "message", "R1", "upper", "in R1")
            await o.send("in other r1")
            await expect(o, "message", "r1", "oli", "in other r1")
            await c.send("in r1")
            # the next thing ann sees is r1's own line, nothing of r2
            await expect(a, "message", "r1", "cat", "in r1")
            await expect(c, "message", "r1", "cat", "in r1")
            for ws in (a, b, c, up, o):
                await nothing_more(ws, 0.2)
            for ws in (a, b, c, up, o):
                await ws.close()
        W.arun(go())
    finally:
        d.kill()


def test_nick_not_unique():
    d = start()
    try:
        async def go():
            a = await join(d.port, "r", "ann")
            a2 = await join(d.port, "r", "ann")
            await expect(a, "join", "r", "ann")
            await a2.send("me too")
            await expect(a, "message", "r", "ann", "me too")
            await expect(a2, "message", "r", "ann", "me too")
            await a.close()
            await a2.close()
        W.arun(go())
    finally:
        d.kill()


def test_binary_closes_1003():
    d = start()
    try:
        async def go():
            a = await join(d.port, "r", "ann")
            b = await join(d.port, "r", "bob")
            await expect(a, "join", "r", "bob")
            await b.send(b"\x00\x01binary")
            await closed_with(b, 1003)
            await expect(a, "leave", "r", "bob")
            await nothing_more(a)       # the binary never reached a member
            await a.close()
        W.arun(go())
    finally:
        d.kill()


def test_max_line():
    d = start(routes=[chat_route(), chat_route("/small", max_line=10)])
    try:
        async def go():
            # the default, 4096 bytes: counted in bytes, not characters
            a = await join(d.port, "r", "ann")
            line = "\u00e9" * 2048                      # 4096 bytes
            await a.send(line)
            await expect(a, "message", "r", "ann", line)
            await a.send(line + "x")                    # 4097 bytes
            await closed_with(a, 1009)

            s = await join(d.port, "r", "sam", "/small")
            await s.send("0123456789")
            await expect(s, "message", "r", "sam", "0123456789")
            await s.send("")                            # empty is a line
            await expect(s, "message", "r", "sam", "")
            await s.send("0123456789a")
            await closed_with(s, 1009)
        W.arun(go())
    finally:
        d.kill()


def test_line_whose_json_is_too_big():
    """A line under max_line whose JSON is over the route's
    max_message_size cannot be published: the sender is told by a close
    (1011), the room hears nothing of it, only the leave."""
    d = start(routes=[chat_route(limits={"max_message_size": 200})])
    try:
        async def go():
            a = await join(d.port, "r", "ann")
            b = await join(d.port, "r", "bob")
            await expect(a, "join", "r", "bob")
            fits = "\x01" * 20                  # 120 bytes escaped: fits
            await b.send(fits)
            await expect(a, "message", "r", "bob", fits)
            await expect(b, "message", "r", "bob", fits)
            big = "\x01" * 100                  # 100 bytes, 600 as JSON
            await b.send(big)
            await closed_with(b, 1011)
            await expect(a, "leave", "r", "bob")
            d.wait_log(r"/chat: chat: conn \d+: line of 100 bytes not "
                       r"published")
            await a.close()
        W.arun(go())
    finally:
        d.kill()


def test_order_of_many_lines():
    d = start()
    n = 1000
    try:
        async def go():
            a = await join(d.port, "r", "ann")
            b = await join(d.port, "r", "bob")
            c = await join(d.port, "r", "cat")
            await expect(a, "join", "r", "bob")
            await expect(a, "join", "r", "cat")
            await expect(b, "join", "r", "cat")

            async def send(ws, who):
                for i in range(n):
                    await ws.send("%s %d" % (who, i))

            async def read(ws):
                got = {"ann": [], "bob": []}
                while len(got["ann"]) + len(got["bob"]) < 2 * n:
                    ev = await event(ws)
                    assert ev["type"] == "message", ev
                    who, i = ev["text"].split()
                    assert who == ev["nick"], ev
                    got[who].append(int(i))
                return got
            results = await asyncio.gather(send(a, "ann"), send(b, "bob"),
                                           read(a), read(b), read(c))
            for got in results[2:]:
                for who in ("ann", "bob"):
                    assert got[who] == list(range(n)), \
                        "%s's lines out of order or missing: %r..." % (
                            who, got[who][:20])
            for ws in (a, b, c):
                await nothing_more(ws, 0.2)
            for ws in (a, b, c):
                await ws.close()
        W.arun(go(), timeout=60)
    finally:
        d.kill()


def test_json_special_characters_round_trip():
    d = start()
    lines = [
        'quote " backslash \\ slash / </script>',
        "controls \x01\x02\x1f tab\tnewline\nreturn\r",
        "nul \x00 inside \x00",
        "\x00",
        "del \x7f",
        "unicode h\u00e9llo \u2603 \u20ac \U0001F600 \U0010FFFF",
        "line and paragraph separators \u2028 \u2029",
        "bom \ufeff and replacement \ufffd",
        '{"type":"join","room":"x","nick":"y"}',
        "\\u0000 is not a NUL",
    ]
    try:
        async def go():
            a = await join(d.port, "r", "ann")
            b = await join(d.port, "r", "bob")
            await expect(a, "join", "r", "bob")
            for line in lines:
                await a.send(line)
                for ws in (a, b):
                    raw = await W.recv(ws)
                    ev = check_event(raw)
                    assert ev["text"] == line, "sent %r, got %r in %r" % (
                        line, ev["text"], raw)
                    assert ev["nick"] == "ann" and ev["type"] == "message"
            await a.close()
            await b.close()
        W.arun(go())
    finally:
        d.kill()


def test_rooms_survive_a_reload():
    """Topics belong to the daemon, not to a configuration: a member who
    joined before a SIGHUP (the old route instance, max_line 4096) and
    one who joined after (the new one, max_line 20) are in one room."""
    conf = W.write_config(routes=[chat_route()])
    d = W.start_daemon(conf)
    long_line = "a line longer than twenty bytes"
    try:
        async def go():
            a = await join(d.port, "r", "ann")
            mark = d.mark()
            W.write_config(routes=[chat_route(max_line=20)],
                           directory=os.path.dirname(conf))
            d.send_signal(signal.SIGHUP)
            d.wait_log(r"reloaded: 1 route", start=mark)
            b = await join(d.port, "r", "bob")
            await expect(a, "join", "r", "bob")
            await a.send(long_line)                     # old instance
            await expect(b, "message", "r", "ann", long_line)
            await expect(a, "message", "r", "ann", long_line)
            await b.send("from after")
            await expect(a, "message", "r", "bob", "from after")
            await expect(b, "message", "r", "bob", "from after")
            await b.send(long_line)                     # new instance
            await closed_with(b, 1009)
            await expect(a, "leave", "r", "bob")
            await a.close()
        W.arun(go())
    finally:
        d.kill()


def test_members_on_two_workers():
    """workers = 2: members served by different workers (as the 101's
    X-Wsd-Worker header tells) are in one room: joins, lines from both
    workers at once (each sender's in order, each once) and a leave reach
    every member."""
    d = W.start(routes=[chat_route()],
                extra={"workers": 2, "worker_header": True})
    n = 100
    try:
        async def go():
            members = []            # (nick, ws, worker)
            for i in range(40):
                nick = "m%d" % i
                ws = await join(d.port, "w", nick)
                worker = ws.response_headers.get("X-Wsd-Worker")
                assert worker in ("0", "1"), \
                    "X-Wsd-Worker %r" % (worker,)
                members.append((nick, ws, int(worker)))
                if len({m[2] for m in members}) == 2 and len(members) >= 4:
                    break
            workers = [m[2] for m in members]
            assert set(workers) == {0, 1}, \
                "%d members, all on worker %d" % (len(members), workers[0])
            # Each member hears the join of everyone who came after it.
            # It may hear one of an earlier member too: a join published
            # on the other worker just before this member subscribed can
            # still be on its way there.  Never twice, never its own.
            nicks = [m[0] for m in members]
            joins = {m[0]: {m[0]} for m in members}

            def a_join(ev, nick):
                if ev["type"] != "join":
                    return False
                assert ev["room"] == "w" and ev["nick"] in nicks and \
                    ev["nick"] not in joins[nick], (nick, ev)
                joins[nick].add(ev["nick"])
                return True
            for i, (nick, ws, _) in enumerate(members):
                while not set(nicks[i:]) <= joins[nick]:
                    ev = await event(ws)
                    assert a_join(ev, nick), ev
            a = next(m for m in members if m[2] == 0)
            b = next(m for m in members if m[2] == 1)

            async def send(ws, nick):
                for i in range(n):
                    await ws.send("%s %d" % (nick, i))

            async def read(ws, nick):
                got = {a[0]: [], b[0]: []}
                while sum(len(v) for v in got.values()) < 2 * n:
                    ev = await event(ws)
                    if a_join(ev, nick):
                        continue
                    assert ev["type"] == "message", ev
                    who, i = ev["text"].split()
                    assert who == ev["nick"], ev
                    got[who].append(int(i))
                return got
            results = await asyncio.gather(
                send(a[1], a[0]), send(b[1], b[0]),
                *[read(m[1], m[0]) for m in members])
            for m, got in zip(members, results[2:]):
                for who in (a[0], b[0]):
                    assert got[who] == list(range(n)), \
                        "%s (worker %d) got %s's lines as %r..." % (
                            m[0], m[2], who, got[who][:20])
            await b[1].close()
            for m in members:
                if m is not b:
                    await expect(m[1], "leave", "w", b[0])
            others = [m for m in members if m is not b]
            for m in others:
                await nothing_more(m[1], 0.2)
            for m in others:
                await m[1].close()
        W.arun(go(), timeout=60)
    finally:
        d.kill()


def test_bad_settings():
    for settings, key in (({"max_line": 0}, "max_line"),
                          ({"max_line": 1048577}, "max_line"),
                          ({"max_line": "big"}, "max_line"),
                          ({"topic_prefix": "a b"}, "topic_prefix"),
                          ({"topic_prefix": "p" * 97}, "topic_prefix"),
                          ({"topic_prefix": "caf\u00e9"}, "topic_prefix"),
                          ({"nick_max": 3}, "nick_max")):
        conf = W.write_config(routes=[chat_route(**settings)])
        r = W.run_wsd(["-t", "-c", conf])
        assert r.returncode != 0, "accepted %r:\n%s" % (settings, r.stderr)
        assert "'%s'" % key in r.stderr, r.stderr
    for settings in ({"max_line": 1}, {"max_line": 1048576},
                     {"topic_prefix": ""}, {"topic_prefix": "p" * 96}):
        conf = W.write_config(routes=[chat_route(**settings)])
        r = W.run_wsd(["-t", "-c", conf])
        assert r.returncode == 0, "refused %r:\n%s" % (settings, r.stderr)


def test_bundled_config_has_chat():
    """etc/wsd.conf, as the README's first command runs it, serves /chat
    to a page with an Origin (any: it allows "*")."""
    src = os.path.join(W.SRCDIR, "etc", "wsd.conf")
    with open(src) as f:
        text = f.read()
    text = text.replace('"../plugins/.libs"', '"%s"' % W.PLUGIN_DIR) \
        .replace('"../www"', '"%s"' % W.WWW_DIR)
    d = W.start_daemon(W.write_config(text=text))
    try:
        async def go():
            ws = await W.ws_connect(d.port, url("lobby", "ann"),
                                    origin="http://example.test")
            await expect(ws, "join", "lobby", "ann")
            await ws.send("hello")
            await expect(ws, "message", "lobby", "ann", "hello")
            await ws.close()
        W.arun(go())
    finally:
        d.kill()


TESTS = [
    test_nick_required_and_checked,
    test_room_checked,
    test_room_defaults_to_lobby,
    test_join_and_leave_seen_by_members,
    test_message_fields_and_own_line,
    test_rooms_isolated,
    test_nick_not_unique,
    test_binary_closes_1003,
    test_max_line,
    test_line_whose_json_is_too_big,
    test_order_of_many_lines,
    test_json_special_characters_round_trip,
    test_rooms_survive_a_reload,
    test_members_on_two_workers,
    test_bad_settings,
    test_bundled_config_has_chat,
]

if __name__ == "__main__":
    W.run(TESTS)
