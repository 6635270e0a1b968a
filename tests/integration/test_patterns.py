"""Routes with patterns (/rooms/:room, /files/*): the parameters a plugin
gets through wsd_param(), percent-decoding, hostile segments, precedence
end to end, static files beside them, and wsd -t on routes that can never
be told apart.  The params test plugin (tests/plugins/params.c) reports
what it sees."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402


def proute(path, names=("room", "*")):
    return W.route(path, plugin="params", settings={"names": list(names)})


def start(routes, **kw):
    return W.start(routes=routes, plugin_dir=W.TEST_PLUGIN_DIR, **kw)


def facts(d, path):
    """Connect to path; the params plugin's open message as a dict
    (name -> bytes, or None for a NULL parameter)."""
    with W.raw_ws(d.port, path) as c:
        op, data = c.read_message(timeout=5)
        assert op == W.OP_BINARY, (op, data)
        out = parse(data)
        # After open: every parameter is gone.
        c.send_text(b"late?")
        op, late = c.read_message(timeout=5)
        for k, v in parse(late).items():
            assert k.startswith("late:") and v is None, (path, late)
        c.send_close(1000)
    return out


def parse(data):
    out = {}
    for line in data.split(b"\n"):
        if not line:
            continue
        k, eq, v = line.partition(b"=")
        if eq:
            out[k.decode()] = v
        else:
            assert line.endswith(b"!"), line
            out[line[:-1].decode()] = None
    return out


def refused(d, path, status=404):
    with W.RawClient(d.port) as c:
        c.send(c.upgrade_request(path))
        W.expect_http_error(c, status)


def test_room_parameter():
    """/rooms/:room hands the segment to the plugin, in the handshake hook
    and in open; wsd_path() is still the whole path; a name the pattern
    lacks is NULL; after open every parameter is NULL."""
    d = start([proute("/rooms/:room", ("room", "*", "nope", "")),
               W.route("/echo", plugin="params")])
    try:
        f = facts(d, "/rooms/blue")
        assert f["route"] == b"/rooms/:room", f
        assert f["path"] == b"/rooms/blue", f
        for when in ("hs:", "open:"):
            assert f[when + "room"] == b"blue", f
            assert f[when + "*"] is None, f
            assert f[when + "nope"] is None, f
            assert f[when] is None, f
        # The query is not part of the path or of a parameter.
        f = facts(d, "/rooms/red?room=green")
        assert f["open:room"] == b"red" and f["path"] == b"/rooms/red", f
        # An exact route has no parameters.
        f = facts(d, "/echo")
        assert f["route"] == b"/echo" and f["path"] == b"/echo", f
        refused(d, "/rooms/")
        refused(d, "/rooms")
        refused(d, "/rooms/blue/more")
    finally:
        d.stop()


def test_parameters_while_handshake_pending():
    """While a handshake is pending (WSD_HANDSHAKE_PENDING), the plugin
    reaches the connection by id from a timer and its parameters are
    still there; open then has them too."""
    d = start([W.route("/rooms/:room", plugin="params",
                       settings={"names": ["room"], "pending": True})])
    try:
        f = facts(d, "/rooms/late%20comer")
        assert f["hook"] == b"ran", f
        for when in ("hs:", "pend:", "open:"):
            assert f[when + "room"] == b"late comer", (when, f)
    finally:
        d.stop()


def test_percent_decoding():
    """Parameters are percent-decoded ('+' stays '+'); the path and the
    route's literal segments are matched raw; '%2F' never splits a
    segment, and a wildcard's rest may hold '/' however it was sent."""
    d = start([proute("/rooms/:room"), proute("/files/:user/*",
                                               ("user", "*"))])
    try:
        f = facts(d, "/rooms/blue%20sky%C3%A9+1")
        assert f["open:room"] == "blue sky\u00e9+1".encode(), f
        assert f["path"] == b"/rooms/blue%20sky%C3%A9+1", f
        f = facts(d, "/rooms/%41%62c")
        assert f["open:room"] == b"Abc", f
        f = facts(d, "/files/bo%62/a%2Fb/c%20d/")
        assert f["open:user"] == b"bob", f
        assert f["open:*"] == b"a/b/c d/", f
        f = facts(d, "/files/bob/")
        assert f["open:*"] == b"", f
        f = facts(d, "/files/bob/.../a..b/.x")
        assert f["open:*"] == b".../a..b/.x", f
        # Literal segments are raw: an encoded "rooms" is another path.
        refused(d, "/r%6Foms/blue")
    finally:
        d.stop()


def test_hostile_segments_refused():
    """A parameter never holds '/', NUL or another control byte, is never
    '.' or '..', and is at most 1024 bytes decoded; a wildcard's rest
    has no NUL and no '.' or '..' part.  Such a path matches no pattern:
    the upgrade gets 404 and the plugin never hears of it."""
    d = start([proute("/rooms/:room"), proute("/files/*", ("*",))],
              limits={"max_head_size": 16384})
    try:
        for path in ("/rooms/a%2Fb", "/rooms/a%2fb", "/rooms/..",
                     "/rooms/.", "/rooms/%2e%2E", "/rooms/.%2e",
                     "/rooms/a%00b", "/rooms/%00", "/rooms/a%0Ab",
                     "/rooms/%7f", "/rooms/%zz", "/rooms/%4",
                     "/files/..", "/files/a/../b", "/files/a/./b",
                     "/files/a/%2e%2e/b", "/files/a%2F..%2Fb",
                     "/files/a%00", "/files/%0d%0aX-Evil:%201"):
            refused(d, path)
        # The bound: 1024 decoded bytes, however they were sent.
        f = facts(d, "/rooms/" + "a" * 1024)
        assert f["open:room"] == b"a" * 1024, len(f["open:room"])
        f = facts(d, "/rooms/" + "%41" * 1024)
        assert f["open:room"] == b"A" * 1024
        refused(d, "/rooms/" + "a" * 1025)
        refused(d, "/rooms/" + "%41" * 1025)
        # The daemon is fine and logged no plugin call for any of them.
        f = facts(d, "/rooms/ok")
        assert f["open:room"] == b"ok", f
        assert not d.find_log(r"params: dropped"), d.tail()
    finally:
        d.stop()


def test_precedence():
    """Exact first, then the longest literal prefix, then no wildcard
    before a wildcard, then fewer parameters; a segment one pattern
    refuses goes to the next (here a wildcard, which may hold '/')."""
    routes = [proute("/*", ("*",)),
              proute("/:a/:b", ("a", "b")),
              proute("/rooms/*", ("*",)),
              proute("/rooms/:room"),
              proute("/rooms/:room/log"),
              proute("/rooms/lobby"),
              proute("/w/:x/*", ("x", "*")),
              proute("/w/*", ("*",)),
              proute("/a/:x/:y/:z", ("x", "y", "z")),
              proute("/a/:x/b/:y", ("x", "y"))]
    d = start(routes)
    try:
        for path, route, param in (
                ("/rooms/lobby", "/rooms/lobby", None),
                ("/rooms/blue", "/rooms/:room", ("room", b"blue")),
                ("/rooms/blue/log", "/rooms/:room/log", ("room", b"blue")),
                ("/rooms/blue/x/y", "/rooms/*", ("*", b"blue/x/y")),
                ("/rooms/a%2Fb", "/rooms/*", ("*", b"a/b")),
                ("/x/y", "/:a/:b", ("b", b"y")),
                ("/x", "/*", ("*", b"x")),
                ("/", "/*", ("*", b"")),
                ("/w/1", "/w/*", ("*", b"1")),
                ("/w/1/2/3", "/w/:x/*", ("*", b"2/3")),
                ("/a/1/b/2", "/a/:x/b/:y", ("y", b"2")),
                ("/a/1/c/2", "/a/:x/:y/:z", ("z", b"2"))):
            f = facts(d, path)
            assert f["route"] == route.encode(), (path, f)
            if param is not None:
                assert f["open:" + param[0]] == param[1], (path, f)
        refused(d, "/rooms/..")
        refused(d, "/x/%2e%2e")
    finally:
        d.stop()


def test_static_files_beside_patterns():
    """A request that matches no route still gets static files; a plain
    GET on a route's path is refused as on an exact route (400)."""
    root = W.tmpdir()
    W.write_file(os.path.join(root, "index.html"), "<p>hello</p>\n")
    os.mkdir(os.path.join(root, "docs"))
    W.write_file(os.path.join(root, "docs", "a.txt"), "doc a\n")
    d = start([proute("/rooms/:room")], document_root=root)
    try:
        r, body = W.http_request(d.port, "GET", "/index.html")
        assert r.status == 200 and body == b"<p>hello</p>\n", (r, body)
        r, body = W.http_request(d.port, "GET", "/docs/a.txt")
        assert r.status == 200 and body == b"doc a\n", (r, body)
        r, body = W.http_request(d.port, "GET", "/rooms/blue")
        assert r.status == 400, r
        r, body = W.http_request(d.port, "GET", "/rooms/")
        assert r.status == 404, r
        refused(d, "/docs/a.txt")
        f = facts(d, "/rooms/blue")
        assert f["open:room"] == b"blue", f
    finally:
        d.stop()


def test_check_reports_ambiguous_routes():
    """wsd -t names both places of two routes that can never be told
    apart (the same pattern but for parameter names, or the same exact
    path), and the line of each malformed pattern."""
    conf = W.write_config(text="\n".join([
        'listen = ( { address = "127.0.0.1"; port = 8888; } );',
        'plugin_dir = "%s";' % W.TEST_PLUGIN_DIR,
        'routes = (',
        '  { path = "/rooms/:room"; plugin = "params"; },',      # 4
        '  { path = "/rooms/lobby"; plugin = "params"; },',      # 5
        '  { path = "/rooms/:name"; plugin = "params"; },',      # 6
        '  { path = "/f/:u/*"; plugin = "params"; },',           # 7
        '  { path = "/f/:v/*"; plugin = "params"; },',           # 8
        '  { path = "/e"; plugin = "params"; },',                # 9
        '  { path = "/e"; plugin = "params"; },',                # 10
        '  { path = "/bad/:x/:x"; plugin = "params"; },',        # 11
        '  { path = "/bad/*/x"; plugin = "params"; },',          # 12
        '  { path = "/bad/:9"; plugin = "params"; },',           # 13
        '  { path = "/bad//:x"; plugin = "params"; }',           # 14
        ');', '']))
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 1, "exit %s\n%s" % (r.returncode, r.stderr)
    lines = r.stderr.splitlines()

    def at(line, *words):
        pre = "%s:%d: " % (conf, line)
        got = [l for l in lines if l.startswith(pre)]
        assert got, "nothing at line %d:\n%s" % (line, r.stderr)
        for w in words:
            assert any(w in l for l in got), \
                "no %r at line %d:\n%s" % (w, line, r.stderr)

    at(6, "/rooms/:name", "/rooms/:room", "%s:4" % conf, "never")
    at(8, "/f/:v/*", "/f/:u/*", "%s:7" % conf)
    at(10, "duplicate route /e", "%s:9" % conf)
    at(11, "appears twice")
    at(12, "'*' must be the whole last segment")
    at(13, "bad parameter name ':9'")
    at(14, "empty segment")
    for line in (4, 5, 7, 9):
        assert not any(l.startswith("%s:%d:" % (conf, line)) for l in lines), \
            "line %d reported:\n%s" % (line, r.stderr)

    # Overlapping shapes that precedence orders are fine.
    conf = W.write_config(routes=[proute("/rooms/:room"),
                                  proute("/rooms/lobby"),
                                  proute("/rooms/*"), proute("/:a/*"),
                                  proute("/*")],
                          plugin_dir=W.TEST_PLUGIN_DIR)
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 0, "exit %s\n%s" % (r.returncode, r.stderr)


def test_reload_keeps_parameters_apart():
    """After a reload the new routes' patterns apply; a client that
    connected before keeps working."""
    conf = W.write_config(routes=[proute("/rooms/:room")],
                          plugin_dir=W.TEST_PLUGIN_DIR)
    d = W.start_daemon(conf)
    try:
        old = W.raw_ws(d.port, "/rooms/one")
        try:
            op, data = old.read_message(timeout=5)
            assert parse(data)["open:room"] == b"one"
            W.write_config(routes=[proute("/halls/:hall", ("hall",))],
                           plugin_dir=W.TEST_PLUGIN_DIR,
                           directory=os.path.dirname(conf))
            mark = d.mark()
            d.send_signal(signal.SIGHUP)
            d.wait_log(r"reloaded: \d+ route", 10, mark)
            f = facts(d, "/halls/two")
            assert f["open:hall"] == b"two", f
            refused(d, "/rooms/three")
            old.send_text(b"still there?")
            op, late = old.read_message(timeout=5)
            assert parse(late) == {"late:room": None, "late:*": None}, late
        finally:
            old.close()
    finally:
        d.stop()


TESTS = [
    test_room_parameter,
    test_parameters_while_handshake_pending,
    test_percent_decoding,
    test_hostile_segments_refused,
    test_precedence,
    test_static_files_beside_patterns,
    test_check_reports_ambiguous_routes,
    test_reload_keeps_parameters_apart,
]

if __name__ == "__main__":
    W.run(TESTS)
