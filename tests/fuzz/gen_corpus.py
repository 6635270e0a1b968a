#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

The seeds are checked in; this script is how they were made, so they can
be reviewed and regenerated:

    python3 tests/fuzz/gen_corpus.py [OUTDIR]    # default: next to this file

It only writes files named here (it never deletes), and its output does
not depend on anything but this script.  Keep the seeds small: the whole
corpus is a few dozen KB.
"""

import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"
ZERO = b"\x00\x00\x00\x00"


# ------------------------------------------------------------ helpers

def frame(op, payload=b"", fin=True, mask=MASK, rsv=0, length=None,
          form=None):
    """One frame; masked unless mask is None.  form forces the length
    encoding (7, 16 or 64) even when it is not minimal."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    mbit = 0x80 if mask is not None else 0
    if form is None:
        form = 7 if n < 126 else 16 if n < 65536 else 64
    if form == 7:
        head = bytes([b0, mbit | n])
    elif form == 16:
        head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def close(code=None, reason=b"", **kw):
    p = b"" if code is None else struct.pack(">H", code) + reason
    return frame(0x8, p, **kw)


def request(path="/echo", method="GET", version="HTTP/1.1", headers=None,
            upgrade=True):
    h = [("Host", "localhost:8888")]
    if upgrade:
        h += [("Upgrade", "websocket"), ("Connection", "Upgrade"),
              ("Sec-WebSocket-Key", KEY.decode()),
              ("Sec-WebSocket-Version", "13")]
    if headers is not None:
        h = headers
    lines = "".join("%s: %s\r\n" % kv for kv in h)
    return ("%s %s %s\r\n%s\r\n" % (method, path, version, lines)).encode()


HS = request()

# Handshakes in several styles.
HANDSHAKES = {
    "minimal": HS,
    "browser": request("/echo?id=browser-1&x=%41%2B+b", headers=[
        ("Host", "localhost:8888"),
        ("Connection", "keep-alive, Upgrade"),
        ("Pragma", "no-cache"),
        ("Cache-Control", "no-cache"),
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"),
        ("Upgrade", "websocket"),
        ("Origin", "http://localhost:8888"),
        ("Sec-WebSocket-Version", "13"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Cookie", "session=abc123; theme=dark;  id = 42"),
        ("Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw=="),
        ("Sec-WebSocket-Extensions",
         "permessage-deflate; client_max_window_bits"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
    ]),
    "lowercase": request(headers=[
        ("host", "[::1]:8888"), ("upgrade", "WebSocket"),
        ("connection", "upgrade"), ("sec-websocket-key", KEY.decode()),
        ("sec-websocket-version", "13"), ("origin", "https://[::1]:8888"),
    ]),
    "split-lists": request(headers=[
        ("Host", "example.com"), ("Upgrade", "h2c"),
        ("Upgrade", "websocket"), ("Connection", "keep-alive"),
        ("Connection", "  Upgrade  "), ("Sec-WebSocket-Key", KEY.decode()),
        ("Sec-WebSocket-Version", "13"),
        ("Origin", "http://example.com"),
    ]),
    "tabs": b"GET /echo HTTP/1.1\r\nHost:\tx\t\r\nUpgrade:\twebsocket\r\n"
            b"Connection:Upgrade\r\nSec-WebSocket-Key:  " + KEY +
            b"  \r\nSec-WebSocket-Version:13\r\n\r\n",
    "json-same-origin": request("/json", headers=[
        ("Host", "Example.COM:80"), ("Upgrade", "websocket"),
        ("Connection", "Upgrade"), ("Sec-WebSocket-Key", KEY.decode()),
        ("Sec-WebSocket-Version", "13"), ("Origin", "http://example.com"),
    ]),
    "quiet-origin": request("/quiet", headers=[
        ("Host", "x:8443"), ("Upgrade", "websocket"),
        ("Connection", "Upgrade"), ("Sec-WebSocket-Key", KEY.decode()),
        ("Sec-WebSocket-Version", "13"), ("Origin", "https://x:8443"),
    ]),
}

# Requests that are refused or served as plain HTTP.
REQUESTS = {
    "static-index": request("/", upgrade=False),
    "static-file": request("/a.txt?v=1", upgrade=False),
    "static-head": request("/sub/", method="HEAD", upgrade=False),
    "static-dir-redirect": request("/sub", upgrade=False),
    "static-empty": request("/empty.txt", upgrade=False),
    "static-encoded": request("/%73ub/b.js", upgrade=False),
    "static-dotdot": request("/sub/%2e%2e/%2E%2E/secret.txt", upgrade=False),
    "static-symlink": request("/escape.txt", upgrade=False),
    "static-404": request("/nope.html", upgrade=False),
    "post": request("/", method="POST", upgrade=False),
    "http10": request(version="HTTP/1.0"),
    "http20": request(version="HTTP/2.0"),
    "no-version-header": request(headers=[
        ("Host", "x"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY.decode())]),
    "version-8": request(headers=[
        ("Host", "x"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY.decode()),
        ("Sec-WebSocket-Version", "8")]),
    "bad-key": request(headers=[
        ("Host", "x"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "short=="), ("Sec-WebSocket-Version", "13")]),
    "two-hosts": request(headers=[
        ("Host", "x"), ("Host", "y"), ("Upgrade", "websocket"),
        ("Connection", "Upgrade"), ("Sec-WebSocket-Key", KEY.decode()),
        ("Sec-WebSocket-Version", "13")]),
    "foreign-origin": request("/json", headers=[
        ("Host", "x"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY.decode()), ("Sec-WebSocket-Version", "13"),
        ("Origin", "http://evil.example")]),
    "upgrade-404": request("/nowhere"),
    "upgrade-put": request(method="PUT"),
    "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nHost: x\n\n",
    "absolute-form": b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "nul-in-value": b"GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
    "many-headers": b"GET / HTTP/1.1\r\n" +
                    b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(40)) +
                    b"\r\n",
    "incomplete": b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgr",
}


# ------------------------------------------------------------ targets

def corpus_http():
    out = {}
    for k, v in HANDSHAKES.items():
        out["handshake-" + k] = v
    for k, v in REQUESTS.items():
        out["request-" + k] = v
    out["pipelined"] = HS + frame(0x1, b"after the head")
    out["query-escapes"] = (b"GET /echo?a=1&b=%zz&c=%00&d=%e2%82%ac&&e&=f"
                            b"&id=x+y HTTP/1.1\r\nHost: x\r\n\r\n")
    out["cookies"] = (b"GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1;b=2; "
                      b"c = 3 ;=4; d\r\nCookie: id=two\r\n\r\n")
    out["origin-ports"] = (b"GET /echo HTTP/1.1\r\nHost: h:443\r\nOrigin: "
                           b"https://H\r\nUpgrade: websocket\r\nConnection:"
                           b" upgrade\r\nSec-WebSocket-Key: " + KEY +
                           b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    out["obs-text"] = b"GET / HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9 \xff\r\n\r\n"
    return out


def corpus_frame():
    p = b"Hello, wsd!"
    out = {
        "text-masked": frame(0x1, p),
        "text-unmasked": frame(0x1, p, mask=None),
        "binary-16": frame(0x2, bytes(range(256)) * 2),
        "binary-16-unmasked": frame(0x2, bytes(300), mask=None),
        "binary-64-header": frame(0x2, b"", length=70000),
        "binary-64-unmasked": frame(0x2, b"", length=1 << 40, mask=None),
        "continuation": frame(0x0, p, fin=False),
        "fragment-start": frame(0x1, p, fin=False),
        "ping": frame(0x9, b"ping"),
        "pong-unmasked": frame(0xA, b"", mask=None),
        "close-empty": close(),
        "close-code": close(1000),
        "close-reason": close(1001, b"going away"),
        "close-unmasked": close(4000, b"app", mask=None),
        "err-rsv1": frame(0x1, p, rsv=4),
        "err-rsv3": frame(0x2, p, rsv=1, mask=None),
        "err-opcode-3": frame(0x3, p),
        "err-opcode-b": frame(0xB, p, mask=None),
        "err-control-fragmented": frame(0x9, b"x", fin=False),
        "err-control-long": frame(0x8, bytes(126)),
        "err-not-minimal-16": frame(0x1, b"abc", form=16),
        "err-not-minimal-64": frame(0x2, b"", length=200, form=64),
        "err-64-msb": b"\x82\xff\x80" + bytes(7) + MASK,
        "short-1": b"\x81",
        "short-ext": b"\x81\xfe\x01",
        "zero-mask-payload": frame(0x2, bytes(range(64)), mask=ZERO),
    }
    return out


def corpus_ws_rx():
    """A control byte (limits, read sizes), then what a client sends."""
    p = b"Hello, wsd!"
    frag = (frame(0x1, b"Hel", fin=False) + frame(0x9, b"p") +
            frame(0x0, b"lo ", fin=False) + frame(0x0, "w\u00f6rld".encode()))
    return {
        "text": b"\x0f" + frame(0x1, p),
        "binary-16": b"\x0f" + frame(0x2, bytes(range(256)) * 2),
        "fragments-ping": b"\x1f" + frag,
        "fragments-small-reads": b"\x8f" + frag + close(1000),
        "pipeline": b"\x2f" + frame(0x1, p) + frame(0xA, b"") +
                    frame(0x2, b"x" * 200) + close(1001, b"bye"),
        "too-big": b"\x01" + frame(0x2, b"y" * 100),
        "too-many-fragments": b"\x04" + frame(0x2, b"a", fin=False) +
                              frame(0x0, b"b", fin=False) +
                              frame(0x0, b"c"),
        "utf8-split-bad": b"\x9f" + frame(0x1, b"ok \xe2\x82", fin=False) +
                          frame(0x0, b"A"),
        "utf8-truncated": b"\x0f" + frame(0x1, b"ok \xe2\x82"),
        "continuation-alone": b"\x0f" + frame(0x0, p),
        "unmasked": b"\x0f" + frame(0x1, p, mask=None),
        "rsv": b"\x0f" + frame(0x1, p, rsv=4),
        "large-header-only": b"\x0f" + frame(0x2, b"", length=300000),
        # Bit 6: permessage-deflate on; a compressed message in
        # fragments with a ping between, whole reads and small ones.
        "deflate-fragments": b"\x4f" + zfrags(0x1, "w\u00f6rld ".encode()
                                               * 30, 3, ping=True),
        "deflate-fragments-small-reads": b"\xcf" + zfrags(
            0x2, bytes(range(256)), 4, ping=True),
        # Whole small frames (ws_rx_feed's fast path when a read starts
        # with one) at and around the 7-bit length and the limits: max
        # 64 bytes and 1 fragment, then a 1 MiB limit in reads of 1..7
        # bytes (the long way) with UTF-8 cut at word boundaries.
        "small-at-limits": b"\x01" + frame(0x2, b"") + frame(0x2, b"b" * 64) +
                           frame(0x1, b"t" * 63 + b"!") +
                           frame(0x2, b"c" * 65),
        "small-small-reads": b"\x8f" + frame(0x1, b"1234567\xc3\xa9") +
                             frame(0x1, b"x" * 125) + frame(0x2, b"y" * 126) +
                             frame(0x1, b"") + frame(0x9, b"p") +
                             frame(0x1, b"a" * 120 + b"\xff" + b"b" * 4),
        "small-max-zero": b"\x00" + frame(0x2, b"") + frame(0x1, b"") +
                          frame(0x2, b"z"),
    }


def peer_record(op, name, payload):
    """One record of the stream between workers (src/peers.c)."""
    if isinstance(name, str):
        name = name.encode()
    body = bytes([op, len(name)]) + name + payload
    return struct.pack("!I", len(body)) + body


def corpus_peers():
    """A control byte (payload limit, read sizes), then a peer stream."""
    rec = peer_record
    return {
        "one-text": b"\x04" + rec(1, "news", b"hello"),
        "binary-empty": b"\x14" + rec(2, "a", b""),
        "pipeline": b"\x74" + rec(1, "t", b"1") + rec(2, "room.2", b"\0\xff") +
                    rec(1, "x" * 128, b"y" * 300),
        "split-reads": b"\xf4" + rec(1, "chat:lobby", b"m" * 1000) * 3,
        "over-limit": b"\x02" + rec(1, "t", b"z" * 17),
        "bad-opcode": b"\x04" + rec(9, "t", b"p"),
        "bad-name": b"\x04" + rec(1, "a b", b"p"),
        "name-too-long": b"\x04" + rec(1, "n" * 129, b""),
        "length-short": b"\x04" + b"\0\0\0\x02\x01\x01",
        "length-huge": b"\x05" + b"\xff\xff\xff\xff\x01\x01a",
        "truncated": b"\x04" + rec(2, "t", b"q" * 50)[:20],
    }


def corpus_utf8():
    return {
        "ascii": b"The quick brown fox jumps over the lazy dog. " * 3,
        "mixed": "h\u00e9llo \u20ac \U0001d11e \u0000 end".encode(),
        "boundaries": "".join(map(chr, [0x7f, 0x80, 0x7ff, 0x800, 0xfff,
                                        0x1000, 0xd7ff, 0xe000, 0xffff,
                                        0x10000, 0x10ffff])).encode(),
        "cjk": "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8".encode(),
        "emoji-long": ("\U0001f600\U0001f680 ascii run of text " * 4).encode(),
        "overlong-2": b"\xc0\xaf",
        "overlong-3": b"\xe0\x80\xaf",
        "overlong-4": b"\xf0\x80\x80\xaf",
        "surrogate": b"\xed\xa0\x80",
        "surrogate-low": b"\xed\xbf\xbf",
        "above-max": b"\xf4\x90\x80\x80",
        "f5": b"abc\xf5\x80\x80\x80",
        "lone-continuation": b"abc\x80def",
        "truncated-3": b"abc\xe2\x82",
        "truncated-4": b"\xf0\x9f\x98",
        "autobahn-6.4.1": b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
                          b"\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64",
        "ascii-then-bad": b"A" * 17 + b"\xff" + b"B" * 9,
    }


def conf_from_repo():
    with open(os.path.join(REPO, "etc", "wsd.conf"), "rb") as f:
        text = f.read()
    # The harness's directory has plugins/ and www/ next to wsd.conf.
    return (text.replace(b'"../plugins/.libs"', b'"plugins"')
                .replace(b'"../www"', b'"www"'))


def corpus_config():
    out = {
        "etc-wsd.conf": conf_from_repo(),
        "empty": b"",
        "minimal": b'routes = ( { path = "/echo"; plugin = "echo-logger"; } );\n',
        "all-limits": b"""# every limit, in every number form
listen = ( { address = "::1"; port = 0; }, { address = "0.0.0.0"; port = 65535; } );
plugin_dir = "plugins/";
document_root = "www";
log_level = "DEBUG";
strict_permissions = false;
limits = {
  max_message_size = 5000000000L;
  max_fragments = 1;
  max_head_size = 256;
  max_headers = 10000;
  handshake_timeout = 0.0001;
  idle_timeout = 0;
  ping_interval = 2.5;
  close_timeout = 4294967L;
  max_send_buffer = 1024;
  send_high_water = 1;
  max_connections = 4294967295L;
};
routes = (
  { path = "/a"; plugin = "echo-logger"; origins = ( "*" );
    limits = { max_message_size = 1; idle_timeout = 1e3; };
    settings = { anything = [ 1, 2 ]; nested = { x = "y"; }; }; },
  { path = "/b"; plugin = "clock"; origins = [ "http://a", "https://b:1" ]; }
);
""",
        "includes": b'@include "inc.conf"\n@include "routes.conf"\n'
                    b'log_level = "warning";\n',
        "include-bad": b'@include "bad.conf"\n',
        "include-missing": b'@include "no-such.conf"\n',
        "errors": b"""listn = ();
listen = ( { address = "localhost"; port = 70000; }, { port = 1; },
           { address = "127.0.0.1"; port = 80; }, { address = "127.000.0.1"; port = 80; },
           { address = "::ffff:127.0.0.1"; port = 80; }, 5 );
plugin_dir = "";
document_root = "www/../nope";
log_level = "loud";
strict_permissions = "yes";
limits = { max_head_size = 100; idle_timeout = -1; ping_interval = "1";
           close_timeout = 0; handshake_timeout = 1e300; max_conections = 1; };
routes = (
  { path = "echo"; plugin = "echo-logger"; },
  { path = "/x"; plugin = "../evil"; origins = "*"; },
  { path = "/x"; plugin = "missing"; origins = [ "" ]; limits = { max_connections = 5; }; },
  { path = "/d"; plugin = "dir"; settings = 3; },
  { plugin = ".hidden"; },
  "not a group"
);
""",
        "routes-not-list": b'routes = { path = "/a"; };\n',
        "syntax-error": b'limits = { max_message_size = ; };\n',
        "unterminated": b'routes = ( { path = "/a',
        "control-chars": b'log_level = "\\x01\\x7f";\nplugin_dir = "a\\tb";\n'
                         b'routes = ( { path = "/\\n"; plugin = "e\\x02"; } );\n',
    }
    return out


def ctl(chunks=0, window=0, stalled=False, seed=0):
    """The trailing byte of a fuzz_conn input (see fuzz_conn.c)."""
    return bytes([chunks | window << 2 | (0x10 if stalled else 0) |
                  seed << 5])


def corpus_conn():
    hello = "h\u00e9llo \u20ac \U0001d11e".encode()
    frames_all = (frame(0x1, hello) +
                  frame(0x2, bytes(range(200))) +
                  frame(0x1, b"", mask=ZERO) +
                  frame(0x9, b"are you there?") +
                  frame(0xA, b"unsolicited pong") +
                  frame(0x1, b"frag", fin=False) +
                  frame(0x9, b"ping between fragments") +
                  frame(0x0, b"men", fin=False) +
                  frame(0x0, b"ted") +
                  frame(0x2, b"x" * 300, mask=ZERO) +
                  close(1000, b"bye"))
    out = {}
    for k, v in HANDSHAKES.items():
        out["handshake-" + k] = v + frame(0x1, b"hi") + close(1000) + ctl()
    for k, v in REQUESTS.items():
        out["request-" + k] = v + ctl(1)
    out["all-frames"] = HS + frames_all + ctl(0)
    out["all-frames-bytewise"] = HS + frames_all + ctl(1, seed=3)
    out["all-frames-chunks"] = HS + frames_all + ctl(2, window=2, seed=5)
    out["all-frames-stalled"] = HS + frames_all + ctl(3, window=1,
                                                      stalled=True)
    out["close-empty"] = HS + close() + ctl()
    out["close-code-only"] = HS + close(1001) + ctl()
    out["close-4999-reason"] = HS + close(4999, "r\u00e9ason".encode()) + ctl()
    out["close-bad-code"] = HS + close(1005) + ctl()
    out["close-one-byte"] = HS + frame(0x8, b"\x03") + ctl()
    out["close-bad-utf8"] = HS + close(1000, b"\xff") + ctl()
    out["after-close"] = HS + close(1000) + frame(0x1, b"too late") + ctl()
    out["len-16"] = HS + frame(0x2, bytes(1000)) + ctl(2)
    out["len-64-truncated"] = HS + frame(0x2, b"abc", length=65536) + ctl()
    out["len-64-too-big"] = HS + frame(0x2, b"", length=1 << 33) + ctl()
    out["unmasked"] = HS + frame(0x1, b"no mask", mask=None) + ctl()
    out["rsv"] = HS + frame(0x1, b"x", rsv=4) + ctl()
    out["opcode-3"] = HS + frame(0x3, b"x") + ctl()
    out["control-fragmented"] = HS + frame(0x9, b"x", fin=False) + ctl()
    out["control-long"] = HS + frame(0x9, bytes(126)) + ctl()
    out["not-minimal"] = HS + frame(0x1, b"x", form=16) + ctl()
    out["cont-without-start"] = HS + frame(0x0, b"x") + ctl()
    out["text-inside-fragments"] = (HS + frame(0x1, b"a", fin=False) +
                                    frame(0x1, b"b") + ctl())
    out["bad-utf8"] = HS + frame(0x1, b"ok \xed\xa0\x80") + ctl()
    out["bad-utf8-split"] = (HS + frame(0x1, b"\xf0\x9f", fin=False) +
                             frame(0x0, b"\x98", fin=False) +
                             frame(0x0, b"\x28") + frame(0x1, b"x") + ctl(1))
    out["utf8-split-across-frames"] = (HS + frame(0x1, b"\xe2\x82", fin=False)
                                       + frame(0x0, b"\xac") + ctl(1))
    json_hs = HANDSHAKES["json-same-origin"]
    out["json-too-big"] = json_hs + frame(0x2, bytes(1200)) + ctl(2)
    out["json-too-many-fragments"] = (json_hs + b"".join(
        frame(0x1 if i == 0 else 0x0, b"ab", fin=(i == 5))
        for i in range(6)) + ctl())
    out["json-send-buffer"] = (json_hs + frame(0x1, b"y" * 900) * 4 +
                               ctl(0, window=1, stalled=True))
    out["json-backpressure"] = (json_hs + frame(0x2, bytes(100)) * 8 +
                                ctl(2, window=1, seed=1))
    out["quiet"] = HANDSHAKES["quiet-origin"] + frame(0x1, b"shh") + ctl()
    out["frames-in-head-packet"] = (HS + frame(0x9, b"") + frame(0x1, b"a")
                                    + ctl(3, seed=7))
    out["head-then-garbage"] = request("/", upgrade=False) + b"junk" + ctl()
    out["head-too-long"] = (b"GET / HTTP/1.1\r\nX: " + b"a" * 4200 +
                            b"\r\n\r\n" + ctl(3))
    out["route-without-upgrade"] = request("/echo", upgrade=False) + ctl()
    # Small echoes gathered for one send at the end of the read, more
    # than the 16 KiB gather buffer holds, a frame too large to gather
    # between them, a Ping and a Close; whole, and with the output
    # stalled so that the send is short and the rest is queued.
    small = b"".join(frame(0x2, bytes([i]) * 125) for i in range(132))
    mixed = (frame(0x1, b"one") + frame(0x2, bytes(1500)) +
             frame(0x9, b"p") + frame(0x1, b"two") + close(1000))
    out["small-echoes-one-read"] = HS + small + mixed + ctl(0)
    out["small-echoes-stalled"] = (HS + frame(0x1, b"a" * 100) * 20 + mixed +
                                   ctl(0, window=1, stalled=True))

    # permessage-deflate: /z without context takeover, /zt with it.
    def zhs(path):
        return request(path, headers=[
            ("Host", "x"), ("Upgrade", "websocket"),
            ("Connection", "Upgrade"), ("Sec-WebSocket-Key", KEY.decode()),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Extensions", "permessage-deflate")])

    word = "w\u00f6rld ".encode()
    out["deflate-fragments"] = (zhs("/z") + zfrags(0x1, word * 40, 3,
                                                   ping=True) +
                                frame(0x1, deflate_raw(word * 9), rsv=4) +
                                close(1000) + ctl(2))
    kept = zlib.compressobj(6, zlib.DEFLATED, -15)
    out["deflate-fragments-takeover"] = (
        zhs("/zt") + zfrags(0x1, word * 40, 3, c=kept) +
        zfrags(0x1, word * 40, 2, ping=True, c=kept) + close(1000) + ctl(1))
    # The first fragment is not UTF-8 once inflated; no last fragment.
    bad = zlib.compressobj(6, zlib.DEFLATED, -15)
    out["deflate-bad-utf8-first-fragment"] = (
        zhs("/z") + frame(0x1, bad.compress(b"caf\xc3\xa9 \xff") +
                          bad.flush(zlib.Z_SYNC_FLUSH), fin=False, rsv=4) +
        ctl(0))
    out["deflate-bomb-fragments"] = (zhs("/zt") + zfrags(
        0x2, bytes(100000), 8, last=False) + ctl(2))

    # The fuzz plugin (fuzz_plugin.c): query arguments steer the
    # handshake, the first byte of each message is a command.
    def fz(query="", extra=()):
        h = [("Host", "x"), ("Upgrade", "websocket"),
             ("Connection", "Upgrade"), ("Sec-WebSocket-Key", KEY.decode()),
             ("Sec-WebSocket-Version", "13"),
             ("Sec-WebSocket-Protocol", "chat, superchat")] + list(extra)
        return request("/fuzz" + query, headers=h)

    def cmd(data, op=0x2):
        return frame(op, data, mask=ZERO)

    out["fuzz-refuse-403"] = fz("?status=403") + ctl()
    out["fuzz-refuse-200"] = fz("?status=200") + ctl()
    out["fuzz-subprotocol-headers"] = (fz("?proto=superchat&hdr=v&hname=X-Y",
                                          [("Cookie", "id=7"),
                                           ("Origin", "http://x")]) +
                                       cmd(b"q") + close(1000) + ctl())
    out["fuzz-bad-subprotocol"] = fz("?proto=nope&hname=Upgrade") + ctl()
    out["fuzz-open-close"] = fz("?open=close") + cmd(b"x") + close(4000) + ctl()
    out["fuzz-open-both"] = fz("?open=both") + ctl()
    out["fuzz-close-from-message"] = (fz() + cmd(b"c\x03\xe8done") +
                                      cmd(b"ignored") + close(1000) + ctl())
    out["fuzz-close-bad-code"] = fz() + cmd(b"c\x03\xedno") + close() + ctl()
    out["fuzz-broadcast"] = fz() + cmd(b"bhello all", 0x1) + ctl()
    out["fuzz-repeat-backpressure"] = (fz() + cmd(b"d" + b"D" * 100) +
                                       cmd(b"n\x0c" + b"R" * 200) +
                                       cmd(b"tback to text", 0x1) +
                                       ctl(2, window=1))
    out["fuzz-repeat-limit"] = (fz() + cmd(b"n\x40" + b"L" * 500) +
                                ctl(0, window=1, stalled=True))
    out["fuzz-text-invalid"] = fz() + cmd(b"t\xff\xfe") + cmd(b"tok") + ctl()
    out["fuzz-raw-opcode"] = fz() + cmd(b"o\x09ping?") + cmd(b"o\x02") + ctl()
    out["fuzz-foreach"] = fz() + cmd(b"feach") + ctl()
    out["fuzz-timer"] = fz() + cmd(b"Tlater") + ctl(1)
    out["fuzz-post"] = fz() + cmd(b"pposted") + ctl(1)
    out["fuzz-empty"] = fz() + cmd(b"") + cmd(b"", 0x2) + ctl()
    return out


def envelope(op, node, payload):
    """A payload as wsd publishes it on Redis (src/bpwire.h)."""
    return b"\xffWSD\x01" + bytes([op]) + struct.pack(">Q", node) + payload


def corpus_bpwire():
    # The first byte picks max_message_size (bits 0-1: 0, 1, 16,
    # unlimited) and whether the envelope's node id is ours (bit 2).
    big, own = b"\x03", b"\x07"
    return {
        "plain": big + b"hello",
        "plain-empty": big,
        "plain-utf8": big + "caf\u00e9 \u20ac \U0001f600".encode(),
        "plain-bad-utf8": big + b"abc\xc3(",
        "plain-too-big": b"\x02" + b"x" * 17,
        "env-text": big + envelope(1, 42, b"hi there"),
        "env-binary": big + envelope(2, 0, b"\x00\xff\x80\x01"),
        "env-own": own + envelope(1, 0x1122334455667788, b"mine"),
        "env-bad-utf8": big + envelope(1, 9, b"\xed\xa0\x80"),
        "env-too-big": b"\x01" + envelope(2, 9, b"ab"),
        "env-truncated": big + envelope(1, 9, b"")[:9],
        "env-version-2": big + b"\xffWSD\x02\x01" + b"\x00" * 8 + b"x",
        "env-opcode-8": big + envelope(8, 9, b""),
        "addr-v4": b"127.0.0.1:6379",
        "addr-v4-noport": b"10.0.0.1",
        "addr-localhost": b"localhost:6380",
        "addr-v6": b"[::1]:6379",
        "addr-v6-bare": b"::1:6379",
        "addr-unix": b"/run/redis/redis.sock",
        "addr-name": b"redis.internal:6379",
        "addr-port-big": b"127.0.0.1:65536",
    }


def zfrags(op, data, n, ping=False, last=True, c=None):
    """data compressed as a client does and cut into n fragments, the
    first with RSV1, a ping after the first if ping, the last fragment
    left off unless last.  c: a compressobj kept (context takeover)."""
    z = deflate_raw(data, c=c)
    step = len(z) // n + 1
    parts = [z[i:i + step] for i in range(0, len(z), step)]
    out = b""
    for i, p in enumerate(parts):
        if i == len(parts) - 1 and not last:
            break
        out += frame(op if i == 0 else 0x0, p, fin=i == len(parts) - 1,
                     rsv=4 if i == 0 else 0)
        if i == 0 and ping:
            out += frame(0x9, b"p")
    return out


def deflate_raw(data, level=6, wbits=15, finish=False, c=None):
    """A permessage-deflate payload: raw deflate, sync flush, tail cut."""
    if c is None:
        c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
    out = c.compress(data)
    if finish:
        return out + c.flush(zlib.Z_FINISH)
    out += c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def corpus_pmd():
    # The first byte: bits 0-1 the inflate limit (0, 100, 64 KiB,
    # 1 MiB), bit 2 text, bits 3-7 deflate level and window bits.
    big_text, big_bin, small = b"\x07", b"\x03", b"\x05"
    return {
        "offer-plain": big_text + b"permessage-deflate",
        "offer-chromium": big_text +
        b"permessage-deflate; client_max_window_bits",
        "offer-all": big_text + b"permessage-deflate; "
        b"server_no_context_takeover; client_no_context_takeover; "
        b"server_max_window_bits=10; client_max_window_bits=12",
        "offer-several": big_text + b"permessage-deflate; foo, "
        b"permessage-deflate; server_max_window_bits=8\n"
        b"x-webkit-deflate-frame, permessage-deflate; "
        b"server_max_window_bits=\"11\"",
        "offer-repeated": big_text + b"permessage-deflate; "
        b"server_no_context_takeover; server_no_context_takeover",
        "offer-quoted-comma": big_text +
        b"foo; a=\"x, y\", permessage-deflate",
        "inflate-text": big_text + deflate_raw("h\u00e9llo \u2603 ".encode()
                                               * 20),
        "inflate-binary": big_bin + deflate_raw(bytes(range(256)) * 4),
        "inflate-bomb": small + deflate_raw(b"\x00" * 200000, 9),
        "inflate-bad-utf8": big_text + deflate_raw(b"abc" * 50 +
                                                   b"\xff" + b"x" * 50),
        "inflate-final": big_text + deflate_raw(b"the end", finish=True),
        "inflate-stored": big_bin + deflate_raw(b"stored", 0),
        "inflate-empty": big_bin + b"\x00",
        "inflate-corrupt": big_bin + b"\xff\xff\xff\x07",
    }


# ------------------------------------------------------------ TLS

def tls_ext(typ, body):
    return struct.pack(">HH", typ, len(body)) + body


def u16list(vals):
    return b"".join(struct.pack(">H", v) for v in vals)


def record(typ, body, version=0x0303):
    return struct.pack(">BHH", typ, version, len(body)) + body


def client_hello(versions=(0x0304, 0x0303),
                 ciphers=(0x1301, 0x1302, 0x1303, 0xc02b, 0xc02c, 0xcca9,
                          0xc009, 0xc00a),
                 sni=None, alpn=None, groups=(0x001d, 0x0017),
                 sigalgs=(0x0807, 0x0403, 0x0804), key_share=True,
                 ticket=b"", extra=b"", record_version=0x0301):
    """A ClientHello record with fixed random and key share, so the seed
    is the same every time (the server answers; the raw client cannot go
    on, which is the point: everything after is the fuzzer's)."""
    exts = b""
    if sni is not None:
        name = sni.encode()
        exts += tls_ext(0, struct.pack(">HBH", len(name) + 3, 0, len(name))
                        + name)
    exts += tls_ext(10, struct.pack(">H", 2 * len(groups)) + u16list(groups))
    exts += tls_ext(11, b"\x01\x00")
    exts += tls_ext(13, struct.pack(">H", 2 * len(sigalgs)) +
                    u16list(sigalgs))
    if alpn is not None:
        lst = b"".join(bytes([len(p)]) + p for p in alpn)
        exts += tls_ext(16, struct.pack(">H", len(lst)) + lst)
    exts += tls_ext(23, b"")
    exts += tls_ext(35, ticket)
    if 0x0304 in versions:
        exts += tls_ext(43, bytes([2 * len(versions)]) + u16list(versions))
        exts += tls_ext(45, b"\x01\x01")
        if key_share:
            ks = struct.pack(">HH", 0x001d, 32) + bytes(range(1, 33))
            exts += tls_ext(51, struct.pack(">H", len(ks)) + ks)
    exts += extra
    body = (b"\x03\x03" + bytes(range(32)) + b"\x20" + bytes(32) +
            struct.pack(">H", 2 * len(ciphers)) + u16list(ciphers) +
            b"\x01\x00" + struct.pack(">H", len(exts)) + exts)
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return record(0x16, hs, record_version)


def tls_mode(kind, hello=0, cert=False, resume=False, ending=0):
    """The leading byte of a fuzz_conn_tls input (see fuzz_conn_tls.c)."""
    return bytes([kind | hello << 2 | (0x10 if cert else 0) |
                  (0x20 if resume else 0) | ending << 6])


def corpus_conn_tls():
    out = {}
    raw = tls_mode(0)
    ch13 = client_hello(sni="b.test", alpn=[b"h2", b"http/1.1"])
    ch12 = client_hello(versions=(0x0303,), ciphers=(0xc02b, 0xc009, 0xcca9),
                        sni="a.test", alpn=[b"http/1.1"])
    ccs = record(0x14, b"\x01")
    out["raw-hello-13"] = raw + ch13 + ctl()
    out["raw-hello-13-bytewise"] = raw + ch13 + ctl(1, seed=2)
    # b.test's flight does not fit the socket: the handshake must wait.
    out["raw-hello-13-unread"] = raw + ch13 + ctl(0, window=1, stalled=True)
    out["raw-hello-13-then-junk"] = (raw + ch13 + ccs +
                                     record(0x17, bytes(range(40))) + ctl(2))
    out["raw-hello-12"] = raw + ch12 + ctl()
    out["raw-hello-12-then-kex"] = (raw + ch12 + record(0x16, b"\x10\x00\x00"
                                    b"\x21\x20" + bytes(range(32))) + ccs +
                                    record(0x16, bytes(40)) + ctl(3))
    out["raw-hello-no-sni-no-alpn"] = raw + client_hello() + ctl()
    out["raw-hello-wildcard-h2"] = (raw + client_hello(sni="x.w.test",
                                                       alpn=[b"h2"]) + ctl())
    out["raw-hello-no-key-share"] = (raw + client_hello(key_share=False) +
                                     ctl())
    out["raw-hello-no-common-cipher"] = (raw + client_hello(
        ciphers=(0x0005, 0x000a)) + ctl())
    out["raw-hello-psk"] = raw + client_hello(extra=tls_ext(
        41, struct.pack(">H", 14) + struct.pack(">H", 8) + b"ticket!!" +
        b"\x00\x00\x00\x00" + struct.pack(">H", 33) + b"\x20" + bytes(32))
        + tls_ext(42, b"")) + ctl()
    out["raw-hello-ticket-12"] = raw + client_hello(
        versions=(0x0303,), ticket=bytes(range(100))) + ctl()
    hs = ch13[5:]
    out["raw-hello-fragmented"] = (raw + record(0x16, hs[:7], 0x0301) +
                                   record(0x16, hs[7:], 0x0301) + ctl())
    out["raw-hello-truncated"] = raw + ch13[:60] + ctl()
    out["raw-sslv2-hello"] = (raw + b"\x80\x2e\x01\x03\x01\x00\x15\x00\x00"
                              b"\x00\x10" + bytes(range(21)) +
                              bytes(range(16)) + ctl())
    out["raw-alert-first"] = raw + record(0x15, b"\x02\x28") + ctl()
    out["raw-appdata-first"] = raw + record(0x17, b"GET / HTTP/1.1") + ctl()
    out["raw-heartbeat"] = raw + record(0x18, b"\x01\x40\x00") + ctl()
    out["raw-huge-length"] = raw + b"\x16\x03\x01\xff\xff" + bytes(64) + ctl()
    out["raw-empty"] = raw + ctl()
    out["raw-garbage"] = raw + bytes(range(256)) + ctl(2)
    out["raw-http-get"] = raw + request("/echo") + ctl()
    out["raw-http-get-bytewise"] = raw + request("/", upgrade=False) + ctl(1)
    out["raw-http-post"] = (raw + b"POST /x HTTP/1.1\r\nContent-Length: 3"
                            b"\r\n\r\nabc" + ctl())
    out["raw-http-head"] = raw + request("/", method="HEAD") + ctl()
    out["raw-http-put"] = raw + request("/", method="PUT") + ctl()
    out["raw-http-connect"] = (raw + b"CONNECT x:443 HTTP/1.1\r\n\r\n" +
                               ctl())
    out["raw-http-options"] = raw + request("*", method="OPTIONS") + ctl()

    # A real TLS client carries fuzz_conn's seeds: every one of them,
    # with client variants taken in turn so that each appears often.
    conn = corpus_conn()
    for i, name in enumerate(sorted(conn)):
        mode = tls_mode(1 + i % 3, hello=(i // 3) % 4, cert=(i // 12) % 2 == 1,
                        resume=(i % 7 == 3), ending=(i // 5) % 4)
        out["tls-" + name] = mode + conn[name]
    # And a few where the variant is the point.
    frames = frame(0x1, b"hello") + frame(0x2, bytes(300)) + close(1000)
    for kind, kname in ((1, "13"), (2, "12"), (3, "12-cbc")):
        for ending, ename in enumerate(("eof", "notify", "cut", "rekey")):
            out["v-%s-%s" % (kname, ename)] = (
                tls_mode(kind, hello=2, ending=ending) + HS + frames +
                ctl(2, seed=kind))
        out["v-%s-resume-cert" % kname] = (
            tls_mode(kind, hello=3, cert=True, resume=True) + HS + frames +
            ctl())
        out["v-%s-stalled" % kname] = (
            tls_mode(kind, hello=1) + HS + frame(0x2, bytes(1000)) *
            (12 if kind == 1 else 3) + close(1000) +
            ctl(3, window=1, stalled=True))
    # KeyUpdates to answer while the client does not read: the server's
    # reads wait for writability.
    out["v-13-rekey-unread"] = (tls_mode(1, ending=3) + HS[:100] +
                                ctl(1, window=2, stalled=True))
    out["v-13-cut-close"] = (tls_mode(1, hello=2, ending=2) + HS +
                             frame(0x2, bytes(3000)) * 4 +
                             ctl(2, window=1, stalled=True))
    out["v-13-static-file"] = (tls_mode(1) + request("/index.html",
                                                      upgrade=False) + ctl())
    out["v-13-fuzz-repeat"] = (tls_mode(1, hello=2) +
                               request("/fuzz", headers=[
                                   ("Host", "x"), ("Upgrade", "websocket"),
                                   ("Connection", "Upgrade"),
                                   ("Sec-WebSocket-Key", KEY.decode()),
                                   ("Sec-WebSocket-Version", "13")]) +
                               frame(0x2, b"n\x40" + b"R" * 3000, mask=ZERO) +
                               ctl(0, window=1, stalled=True))
    return out


def corpus_cookie():
    """fuzz_cookie: a control byte (bit 0: sign the body; bits 1-3: max
    age; bit 4: the name "session" rather than "s"), then a cookie value,
    a signed cookie's body, a query string or a list."""
    sig = b"d130bfd5bce11256fe0af3c33fcce9b6488623885ba371041c9602bef856977b"
    body = b"2|1:0|10:1700000000|7:session|8:YWxpY2U=|"
    plain, signed = b"\x10", b"\x11"
    return {
        # Made by Tornado 6.2 (secret "wsd-test-secret"): not ours, refused.
        "tornado-v2": plain + body + sig,
        "tornado-v1": plain + b"YWxpY2U=|1700000000|"
                      b"4da90933afcf3dde0910abb4b2cda33ee10d37f2",
        "quoted-v2": plain + b'"' + body + sig + b'"',
        "signed-alice": signed + body,
        "signed-empty": signed + b"2|1:0|10:1700000000|7:session|0:|",
        "signed-keyversion": signed + b"2|1:7|10:1700000000|7:session|4:YQ==|",
        "signed-future": signed + b"2|1:0|11:99999999999|7:session|4:YWI=|",
        "signed-expired": b"\x01" + b"2|1:0|1:0|1:s|4:YWJj|",
        "signed-nul": signed + b"2|1:0|10:1700000000|7:session|4:AA==|",
        "signed-badb64": signed + b"2|1:0|10:1700000000|7:session|3:YQ=|",
        "quoted-escapes": plain + b'"x y\\"\\\\ \\351\\012\\073"',
        "percent": plain + b"h%C3%A9llo%20w%C3%B6rld%zz%",
        "query-repeated": plain + b"a=1&a=2&a=%20x&b&a",
        "list": plain + b" chat, superchat ,,\tv2.json ,",
    }


def corpus_route():
    """Route lines, then a request path (fuzz_route)."""
    table = (b"/rooms/lobby\n/rooms/:room\n/rooms/:room/log\n/rooms/*\n"
             b"/:a/:b\n/*\n/echo\n/w/:x/*\n/w/*\n/a/:x/b/:y\n"
             b"/a/:x/:y/c\n")
    out = {
        "exact": table + b"/echo",
        "room": table + b"/rooms/blue%20sky",
        "room-log": table + b"/rooms/blue/log",
        "rest": table + b"/rooms/a/b/c",
        "slash-encoded": table + b"/rooms/a%2Fb",
        "dotdot": table + b"/rooms/..",
        "dotdot-encoded": table + b"/rooms/%2e%2E",
        "nul": table + b"/rooms/a%00b",
        "ctl": table + b"/rooms/%0d%0a",
        "bad-escape": table + b"/rooms/%zz",
        "rest-dotdot": table + b"/w/a%2F..%2Fb",
        "rest-empty": table + b"/w/",
        "overlong": table + b"/rooms/" + b"%41" * 1025,
        "leftmost": table + b"/a/1/b/c",
        "root": table + b"/",
        "ties": b"/t/:x\n/t/:y\n/t/v\n/t/v\n/t/1",
        "bad-patterns": b"/r/:\n/r/:a/:a\n/r/*/x\n/r//:a\n/r/:9\n/r/x",
        "no-slash": table + b"rooms/x",
    }
    return out


def corpus_metrics():
    """Workers' exposition texts: two texts split at a NUL byte."""
    return {
        "two-workers": b'# HELP x_total X.\n# TYPE x_total counter\n'
                       b'x_total{route="/a"} 1\nx_total{route="/b c"} 2\n'
                       b'# TYPE g gauge\ng 0.25\n\0'
                       b'# TYPE x_total counter\nx_total{route="/a"} 10\n'
                       b'g 1e300\ng{x="y"} +Inf\n# comment\nbad\n',
        "families": b'a 1\nb{le="0.5"} NaN\n# TYPE h histogram\n'
                    b'h_bucket{le="+Inf"} 3\nh_sum 1.5\nh_count 3\n',
    }


TARGETS = {
    "http": corpus_http,
    "frame": corpus_frame,
    "utf8": corpus_utf8,
    "config": corpus_config,
    "conn": corpus_conn,
    "ws_rx": corpus_ws_rx,
    "peers": corpus_peers,
    "bpwire": corpus_bpwire,
    "pmd": corpus_pmd,
    "conn_tls": corpus_conn_tls,
    "cookie": corpus_cookie,
    "route": corpus_route,
    "metrics": corpus_metrics,
}


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    total = 0
    for target, fn in TARGETS.items():
        d = os.path.join(outdir, target)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(fn().items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            total += len(data)
        print("%s: %d seeds" % (target, len(fn())))
    print("%d bytes" % total)


if __name__ == "__main__":
    main()
