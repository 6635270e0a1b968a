"""Tornado parity, the request side: signed cookies made by Debian's
python3-tornado verify in wsd_signed_cookie() (tampered, expired, future,
version-1 and foreign ones do not), cookie values decoded as Python's
http.cookies quotes them and browsers percent-encode them
(wsd_cookie_value()), every value of a repeated argument (wsd_arg_at()),
and the offered subprotocols over two headers in the client's order
(wsd_offered_subprotocol()).  Through the tests/plugins/reqinfo.c test
plugin, with a real python3-websockets client."""

import http.cookies
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

import websockets  # noqa: E402,F401  (Debian's python3-websockets)
from tornado.web import create_signed_value, decode_signed_value  # noqa: E402

SECRET = "wsd tornado test secret"
DAY = 86400


def reqinfo_route(path="/info", **settings):
    s = {"secret": SECRET}
    s.update(settings)
    return W.route(path, plugin="reqinfo", settings=s)


def start(*routes):
    return W.start(routes=list(routes), plugin_dir=W.TEST_PLUGIN_DIR)


def quoted(name, value):
    """name=value as Tornado's set_cookie() writes it (through Python's
    http.cookies, which quotes and escapes) and a browser sends it back."""
    c = http.cookies.SimpleCookie()
    c[name] = value
    return c[name].OutputString()


def signed(name, value, version=2, clock=None, secret=SECRET):
    kw = {"version": version}
    if clock is not None:
        kw["clock"] = clock
    return create_signed_value(secret, name, value, **kw).decode("ascii")


def tornado_reads(name, cookie_value, max_age_days=31):
    """What Tornado's get_secure_cookie() (version 2 only) makes of it."""
    return decode_signed_value(SECRET, name, cookie_value,
                               max_age_days=max_age_days, min_version=2)


async def info(ws, timeout=10):
    """The reqinfo lines up to "end": {(phase, kind, name, i): value},
    value None for a NULL."""
    got = {}
    while True:
        m = await W.recv(ws, timeout)
        if m == "end":
            return got
        assert isinstance(m, bytes), "expected a binary line, got %r" % m
        phase, kind, name, i, rest = m.split(b" ", 4)
        key = (phase.decode(), kind.decode(), name.decode(), int(i))
        assert key not in got, "twice: %r" % (key,)
        if rest == b"-":
            got[key] = None
        else:
            assert rest.startswith(b"="), m
            got[key] = rest[1:]


def fetch(port, path="/info", headers=(), subprotocols=None, after=False):
    """Connect, read the open lines (and the "after" ones), return them
    with the negotiated subprotocol."""
    async def go():
        kw = {"extra_headers": list(headers)}
        if subprotocols is not None:
            kw["subprotocols"] = subprotocols
        async with W.ws_connect(port, path, **kw) as ws:
            lines = await info(ws)
            if after:
                await ws.send("after")
                lines.update(await info(ws))
            return lines, ws.subprotocol
    return W.arun(go())


def both(lines, kind, name, i=0):
    """The value seen in handshake, checked equal to the one in open."""
    hs = lines[("hs", kind, name, i)]
    op = lines[("open", kind, name, i)]
    assert hs == op, "handshake %r, open %r for %s %s %d" % (
        hs, op, kind, name, i)
    return hs


# ================================================================ signed

def test_signed_cookies_made_by_tornado():
    now = time.time()
    # 19 bytes: its base64 ends in "=", so set_cookie quotes it.
    value = "alice \u2603 / ?=&;\"\\!"
    cookies = {
        "session": signed("session", value),
        "empty": signed("empty", ""),
        # 40 days old, max age 31; and 40 days ahead.
        "old": signed("old", "x", clock=lambda: now - 40 * DAY),
        "fut": signed("fut", "x", clock=lambda: now + 40 * DAY),
        "v1": signed("v1", "x", version=1),
        "foreign": signed("foreign", "x", secret="another secret"),
        # Valid for "session", sent under another name.
        "other": signed("session", "x"),
    }
    # One byte of the base64 value changed; and one of the signature.
    s = signed("tamp", "abcdef")
    cut = s.index("|8:") + 3
    cookies["tamp"] = s[:cut] + ("B" if s[cut] != "B" else "C") + s[cut + 1:]
    s = signed("tsig", "abcdef")
    cookies["tsig"] = s[:-1] + ("0" if s[-1] != "0" else "1")

    # Tornado itself agrees on all but the future one (see cookie.h).
    assert tornado_reads("session", cookies["session"]) == \
        value.encode("utf-8")
    assert tornado_reads("empty", cookies["empty"]) == b""
    for n in ("old", "v1", "foreign", "other", "tamp", "tsig"):
        assert tornado_reads(n, cookies[n]) is None, n
    assert tornado_reads("fut", cookies["fut"]) == b"x"

    header = "; ".join(quoted(n, v) for n, v in cookies.items())
    # Tornado's set_cookie quotes a value whose base64 has '/', '+' or
    # '=': both kinds must verify.
    assert quoted("session", cookies["session"]).startswith('session="2|')
    assert quoted("empty", cookies["empty"]).startswith("empty=2|")
    names = list(cookies) + ["absent"]
    d = start(reqinfo_route(signed=names))
    try:
        lines, _ = fetch(d.port, headers=[("Cookie", header)], after=True)
        assert both(lines, "signed", "session") == value.encode("utf-8")
        assert both(lines, "signed", "empty") == b""
        for n in ("old", "fut", "v1", "foreign", "other", "tamp", "tsig",
                  "absent"):
            assert both(lines, "signed", n) is None, \
                "%s verified: %r" % (n, cookies.get(n))
        # After open the request is gone: NULL, not a stale pointer.
        for n in names:
            assert lines[("msg", "signed", n, 0)] is None, n
        # Why each was refused is logged at debug level.
        for n, why in (("old", "expired"), ("fut", "time stamp in the "
                       "future"), ("v1", "not format version 2"),
                       ("foreign", "bad signature"),
                       ("other", "signed for another name"),
                       ("tamp", "bad signature"), ("tsig", "bad signature")):
            d.wait_log(r'signed cookie "%s" refused: %s' % (n, why))
    finally:
        d.kill()


def test_signed_cookie_max_age_fractional():
    now = time.time()
    young = signed("s", "young", clock=lambda: now - 11 * 3600)
    aged = signed("s", "aged", clock=lambda: now - 13 * 3600)
    # Tornado, with the same max age, says the same.
    assert tornado_reads("s", young, 0.5) == b"young"
    assert tornado_reads("s", aged, 0.5) is None
    d = start(reqinfo_route("/half", signed=["s"], max_age_days=0.5),
              reqinfo_route("/any", signed=["s"], max_age_days=0))
    try:
        lines, _ = fetch(d.port, "/half", headers=[("Cookie", quoted(
            "s", young))])
        assert both(lines, "signed", "s") == b"young"
        lines, _ = fetch(d.port, "/half", headers=[("Cookie", quoted(
            "s", aged))])
        assert both(lines, "signed", "s") is None
        # max_age_days <= 0: any age.
        ancient = signed("s", "ancient", clock=lambda: now - 3650 * DAY)
        lines, _ = fetch(d.port, "/any", headers=[("Cookie", quoted(
            "s", ancient))])
        assert both(lines, "signed", "s") == b"ancient"
    finally:
        d.kill()


def test_signed_cookie_wrong_secret_route():
    d = start(reqinfo_route(signed=["session"], secret="not the secret"))
    try:
        lines, _ = fetch(d.port, headers=[("Cookie", quoted(
            "session", signed("session", "v")))])
        assert both(lines, "signed", "session") is None
    finally:
        d.kill()


# ================================================================ decoded

def test_cookie_values_decoded():
    pyq = 'a "b" \\ \u00e9;x'
    enc = urllib.parse.quote("h\u00e9llo w\u00f6rld;=", safe="!~*'()")
    header = "; ".join([
        quoted("q", pyq),               # "a \"b\" \\ \351\073x"
        "p=" + enc,                     # h%C3%A9llo%20w%C3%B6rld%3B%3D
        "raw=plain+text",
        'both="%41\\"%42"',
        "pct=100%",
        "nul=a%00b",
        'qnul="a\\000b"',
        "empty=",
    ])
    assert "\\351" in header and "\\073" in header, header
    names = ["q", "p", "raw", "both", "pct", "nul", "qnul", "empty",
             "absent"]
    d = start(reqinfo_route(cookies=names))
    try:
        lines, _ = fetch(d.port, headers=[("Cookie", header)], after=True)
        assert both(lines, "cookie", "q") == pyq.encode("utf-8")
        assert both(lines, "cookie", "p") == \
            "h\u00e9llo w\u00f6rld;=".encode("utf-8")
        assert both(lines, "cookie", "raw") == b"plain+text"
        assert both(lines, "cookie", "both") == b'A"B'
        assert both(lines, "cookie", "pct") == b"100%"
        assert both(lines, "cookie", "empty") == b""
        for n in ("nul", "qnul", "absent"):
            assert both(lines, "cookie", n) is None, n
        for n in names:
            assert lines[("msg", "cookie", n, 0)] is None, n
    finally:
        d.kill()


# ================================================================ args

def test_repeated_arguments():
    d = start(reqinfo_route(args=["a", "b", "c", "x"]))
    try:
        lines, _ = fetch(d.port, "/info?a=1&a=2&b=+y&a=%20x&c&x=%00&a",
                         after=True)
        assert [both(lines, "arg", "a", i) for i in range(5)] == \
            [b"1", b"2", b" x", b"", None]
        assert ("hs", "arg", "a", 5) not in lines
        assert [both(lines, "arg", "b", i) for i in range(2)] == \
            [b" y", None]
        assert [both(lines, "arg", "c", i) for i in range(2)] == \
            [b"", None]
        # A value that does not decode is NULL, and ends the list here.
        assert both(lines, "arg", "x", 0) is None
        assert lines[("msg", "arg", "a", 0)] is None
        lines, _ = fetch(d.port, "/info")
        assert both(lines, "arg", "a", 0) is None
    finally:
        d.kill()


# ================================================================ subprotocols

def test_offered_subprotocols_over_two_headers():
    d = start(reqinfo_route(accept=["mqtt", "superchat"]))
    try:
        lines, sub = fetch(
            d.port, subprotocols=["chat", "superchat"],
            headers=[("Sec-WebSocket-Protocol", " v2.json ,, mqtt ")],
            after=True)
        got = [both(lines, "proto", "-", i) for i in range(5)]
        assert got == [b"chat", b"superchat", b"v2.json", b"mqtt", None], \
            got
        # The plugin took the first the client offered that it knows.
        assert sub == "superchat", sub
        assert lines[("msg", "proto", "-", 0)] is None
        lines, sub = fetch(d.port)
        assert both(lines, "proto", "-", 0) is None
        assert sub is None
    finally:
        d.kill()


TESTS = [
    test_signed_cookies_made_by_tornado,
    test_signed_cookie_max_age_fractional,
    test_signed_cookie_wrong_secret_route,
    test_cookie_values_decoded,
    test_repeated_arguments,
    test_offered_subprotocols_over_two_headers,
]

if __name__ == "__main__":
    W.run(TESTS)
