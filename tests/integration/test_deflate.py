"""permessage-deflate (RFC 7692): negotiation, RSV1, limits and interop.

Raw clients (wsdtest.RawClient with Python's zlib) check each
negotiation rule and each RSV1 rule on its own, corrupt data, bombs and
UTF-8 found only after inflation; python3-websockets (compression on),
Node's ws (perMessageDeflate, with and without context takeover) and
headless Chromium check interop at 0, 1, 125, 126, 65535, 65536 and
1 MiB, fragmented, many messages with context takeover, and compressed
and plain messages interleaved.

Node needs the Debian packages nodejs and node-ws; Chromium needs
chromium, chromium-driver and python3-selenium (see test_browser.py).
"""

import asyncio
import json
import os
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

EXT = "Sec-WebSocket-Extensions"
TAIL = b"\x00\x00\xff\xff"
SIZES = (0, 1, 125, 126, 65535, 65536, 1 << 20)
NODE_WS = "/usr/share/nodejs"


def conf(compression=None, routes=None, limits=None, **kw):
    """A config with compression at the top level (on by default)."""
    c = {"enabled": True}
    c.update(compression or {})
    extra = {"compression": c, "workers": 1}
    extra.update(kw.pop("extra", {}))
    return W.write_config(routes=routes, limits=limits, extra=extra, **kw)


def start(compression=None, **kw):
    return W.start_daemon(conf(compression, **kw))


def deflate(data, c=None):
    """A message's payload as a client compresses it: raw deflate, sync
    flush, the 00 00 FF FF tail removed.  c: a compressobj kept across
    messages (context takeover)."""
    if c is None:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(payload, d=None):
    if d is None:
        d = zlib.decompressobj(-15)
    return d.decompress(payload + TAIL)


def text_of(n):
    """n bytes of JSON-like ASCII text."""
    unit = b'{"id":12345,"user":"alice","text":"hello, world"},'
    return (unit * (n // len(unit) + 1))[:n]


def offer(port, value, path="/echo", expect=101):
    """A raw handshake offering value (None: no header); returns the
    client and the response."""
    c = W.RawClient(port)
    extra = [(EXT, value)] if value is not None else []
    r = c.handshake(path, extra=extra, expect=expect)
    return c, r


def only_ext(r):
    """The one Sec-WebSocket-Extensions value of a response, or None."""
    vals = r.get_all(EXT.lower())
    assert len(vals) <= 1, "several %s headers: %r" % (EXT, vals)
    return vals[0] if vals else None


def read_data(c, timeout=10):
    """The next data message from the server as (opcode, rsv1, payload),
    fragments joined; pings skipped."""
    parts, first, rsv1 = [], None, False
    while True:
        f = c.read_frame(timeout)
        assert not f.masked
        if f.opcode in (W.OP_PING, W.OP_PONG):
            continue
        assert f.opcode < 8, "control frame %r" % f
        if first is None:
            first, rsv1 = f.opcode, bool(f.rsv & 4)
            assert f.rsv & 3 == 0, f
        else:
            assert f.opcode == W.OP_CONT and f.rsv == 0, f
        parts.append(f.payload)
        if f.fin:
            return first, rsv1, b"".join(parts)


def plain_echo(c, msg=b"plain"):
    c.send_frame(W.OP_TEXT, msg)
    op, rsv1, p = read_data(c)
    assert (op, rsv1, p) == (W.OP_TEXT, False, msg), (op, rsv1, p)


# ------------------------------------------------------------ negotiation

def test_off_by_default():
    d = W.start()
    c, r = offer(d.port, "permessage-deflate")
    assert only_ext(r) is None, r
    plain_echo(c)
    # RSV1 without the extension: 1002.
    c.send_frame(W.OP_TEXT, deflate(b"hello"), rsv=4)
    c.expect_close(1002)
    d.stop()


def test_route_override():
    routes = [W.route("/echo"),
              W.route("/z", compression={"enabled": True}),
              W.route("/off", compression={"enabled": False})]
    d = W.start_daemon(W.write_config(routes=routes, extra={"workers": 1}))
    c, r = offer(d.port, "permessage-deflate", "/echo")
    assert only_ext(r) is None, r
    c, r = offer(d.port, "permessage-deflate", "/z")
    assert only_ext(r) == ("permessage-deflate; server_no_context_takeover;"
                           " client_no_context_takeover"), r
    d.stop()
    d = start(routes=routes)
    c, r = offer(d.port, "permessage-deflate", "/echo")
    assert only_ext(r) is not None, r
    c, r = offer(d.port, "permessage-deflate", "/off")
    assert only_ext(r) is None, r
    d.stop()


def declined(value):
    d = start()
    c, r = offer(d.port, value)
    assert only_ext(r) is None, "%r accepted: %r" % (value, r)
    # The connection works, uncompressed.
    plain_echo(c)
    d.stop()


def test_unknown_parameter_declined():
    declined("permessage-deflate; foo")


def test_repeated_parameter_declined():
    declined("permessage-deflate; server_no_context_takeover; "
             "server_no_context_takeover")


def test_invalid_value_declined():
    declined("permessage-deflate; server_max_window_bits=16")
    declined("permessage-deflate; client_max_window_bits=08")
    declined("permessage-deflate; server_no_context_takeover=1")


def test_window_bits_8_declined():
    declined("permessage-deflate; server_max_window_bits=8")


def test_first_acceptable_offer_wins():
    d = start()
    c, r = offer(d.port, "permessage-deflate; bogus, "
                 "permessage-deflate; server_max_window_bits=11, "
                 "permessage-deflate; server_max_window_bits=12")
    assert only_ext(r) == ("permessage-deflate; server_no_context_takeover;"
                           " client_no_context_takeover; "
                           "server_max_window_bits=11"), r
    d.stop()


def test_offers_over_several_headers():
    d = start()
    c = W.RawClient(d.port)
    r = c.handshake(extra=[(EXT, "x-webkit-deflate-frame"),
                           (EXT, "permessage-deflate; client_max_window_bits")])
    assert only_ext(r).startswith("permessage-deflate"), r
    d.stop()


def test_response_carries_no_forbidden_parameter():
    # client_max_window_bits is configured, but not offered: the response
    # must not carry it (RFC 7692 7.1.2.2); one element, one header.
    d = start({"client_max_window_bits": 10})
    c, r = offer(d.port, "permessage-deflate, permessage-deflate")
    v = only_ext(r)
    assert v is not None and "," not in v, r
    assert "client_max_window_bits" not in v, r
    d.stop()
    # With client context takeover that offer is declined (the window
    # could not be limited); one that can be limited is accepted.
    d = start({"client_max_window_bits": 10,
               "client_no_context_takeover": False})
    c, r = offer(d.port, "permessage-deflate")
    assert only_ext(r) is None, r
    c, r = offer(d.port, "permessage-deflate; client_max_window_bits")
    assert only_ext(r) == ("permessage-deflate; server_no_context_takeover;"
                           " client_max_window_bits=10"), r
    d.stop()


def test_server_no_context_takeover_accepted():
    d = start({"server_no_context_takeover": False,
               "client_no_context_takeover": False})
    c, r = offer(d.port, "permessage-deflate")
    assert only_ext(r) == "permessage-deflate", r
    c, r = offer(d.port, "permessage-deflate; server_no_context_takeover")
    assert only_ext(r) == ("permessage-deflate; "
                           "server_no_context_takeover"), r
    d.stop()


def test_config_errors():
    path = conf({"level": 10, "server_max_window_bits": 8, "bogus": 1,
                 "enabled": "yes"})
    p = W.run_wsd(["-t", "-c", path])
    assert p.returncode == 1, p
    for needle, msg in (("level = 10", "'level' must be between 1 and 9"),
                        ("server_max_window_bits = 8",
                         "'server_max_window_bits' must be between 9 and 15"),
                        ("bogus", "unknown key 'bogus'"),
                        ('enabled = "yes"', "'enabled' must be true or "
                         "false")):
        line = W.line_of(path, needle)
        want = "%s:%d: %s" % (path, line, msg)
        assert want in p.stderr, "%r not in %r" % (want, p.stderr)


# ------------------------------------------------------------ RSV1 rules

def negotiated(compression=None, value="permessage-deflate", **kw):
    d = start(compression, **kw)
    c, r = offer(d.port, value)
    assert only_ext(r) is not None, r
    return d, c


def test_rsv1_on_control_frame():
    d, c = negotiated()
    c.send_frame(W.OP_PING, b"x", rsv=4)
    c.expect_close(1002)
    d.stop()


def test_rsv1_on_continuation_frame():
    d, c = negotiated()
    z = deflate(b"hello hello")
    c.send_frame(W.OP_TEXT, z[:3], fin=False, rsv=4)
    c.send_frame(W.OP_CONT, z[3:], rsv=4)
    c.expect_close(1002)
    d.stop()


def test_rsv2_still_refused():
    d, c = negotiated()
    c.send_frame(W.OP_TEXT, b"x", rsv=2)
    c.expect_close(1002)
    d.stop()


def test_corrupt_deflate_data():
    d, c = negotiated()
    c.send_frame(W.OP_BINARY, b"\xff\xff\xff\xff\x07", rsv=4)
    c.expect_close(1007)
    d.stop()


def test_invalid_utf8_only_after_inflation():
    d, c = negotiated()
    bad = b"valid text " * 100 + b"\xc3\x28" + b" more" * 100
    z = deflate(bad)
    c.send_frame(W.OP_TEXT, z, rsv=4)
    c.expect_close(1007)
    # The same bytes as binary are fine.
    c, r = offer(d.port, "permessage-deflate")
    c.send_frame(W.OP_BINARY, z, rsv=4)
    op, rsv1, p = read_data(c)
    assert op == W.OP_BINARY
    assert (inflate(p) if rsv1 else p) == bad
    # Compressed bytes that are not UTF-8 themselves are no reason.
    good = "h\u00e9llo \u2603 ".encode() * 50
    z = deflate(good)
    try:
        z.decode("utf-8")
        raise AssertionError("the compressed form is UTF-8: no test")
    except UnicodeDecodeError:
        pass
    c.send_frame(W.OP_TEXT, z, rsv=4)
    op, rsv1, p = read_data(c)
    assert (inflate(p) if rsv1 else p) == good
    d.stop()


def test_invalid_utf8_in_first_fragment_closes_at_once():
    """The first fragment of a compressed text message inflates to a byte
    that is not UTF-8: 1007 comes for that fragment, though the message's
    last fragment never does (with and without client context
    takeover: the connection's own stream or a borrowed one)."""
    for cnct in (True, False):
        d, c = negotiated({"client_no_context_takeover": cnct})
        co = zlib.compressobj(6, zlib.DEFLATED, -15)
        # Mid-message a client's sync flush keeps its 00 00 FF FF.
        first = co.compress(b"caf\xc3\xa9 \xff" + b" valid" * 50) + \
            co.flush(zlib.Z_SYNC_FLUSH)
        c.send_frame(W.OP_TEXT, first, fin=False, rsv=4)
        c.expect_close(1007)
        # A valid first fragment alone gets no close: a ping is answered.
        c, r = offer(d.port, "permessage-deflate")
        co = zlib.compressobj(6, zlib.DEFLATED, -15)
        c.send_frame(W.OP_TEXT, co.compress(b"caf\xc3") +
                     co.flush(zlib.Z_SYNC_FLUSH), fin=False, rsv=4)
        c.send_frame(W.OP_PING, b"between")
        f = c.read_frame(10)
        assert (f.opcode, f.payload) == (W.OP_PONG, b"between"), f
        # The sequence cut at the fragment's end goes on in the next.
        c.send_frame(W.OP_CONT, co.compress(b"\xa9!") +
                     co.flush(zlib.Z_SYNC_FLUSH)[:-4])
        op, rsv1, p = read_data(c)
        assert (inflate(p) if rsv1 else p) == "caf\u00e9!".encode(), p
        d.stop()


def test_invalid_utf8_inside_a_trickled_compressed_frame_fails_fast():
    """One compressed text frame of about 8 KiB (noise letters, so it
    stays large) whose inflated text turns bad at its 5th byte, sent as
    its header and first 1 KiB only: 1007 comes without the rest.  The
    same frame whole, and a good one trickled, are judged as before."""
    import random
    rnd = random.Random(16)
    noise = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 ")
                  for _ in range(10000))
    d, c = negotiated()
    try:
        z = deflate(b"abcd\xff" + noise)
        assert len(z) > 4096, len(z)
        frame = W.build_frame(W.OP_TEXT, z, rsv=4)
        head = len(frame) - len(z)
        c.send(frame[:head + 1024])
        c.expect_close(1007)
        # Whole, the same frame gets the same 1007.
        c, r = offer(d.port, "permessage-deflate")
        c.send(frame)
        c.expect_close(1007)
        # A good frame trickled in four reads is delivered whole.
        c, r = offer(d.port, "permessage-deflate")
        z = deflate(noise)
        frame = W.build_frame(W.OP_TEXT, z, rsv=4)
        step = len(frame) // 4 + 1
        for i in range(0, len(frame), step):
            c.send(frame[i:i + step])
            time.sleep(0.05)
        op, rsv1, p = read_data(c)
        assert op == W.OP_TEXT
        assert (inflate(p) if rsv1 else p) == noise
    finally:
        d.stop()


def test_inflated_message_stays_valid_while_the_plugin_sends_it():
    """A compressed message that inflates past the worker's kept scratch
    size (64 KiB), sent on by the plugin three times from its own data
    (misbehave's !cut: wsd_send, wsd_broadcast, wsd_publish): compressing
    the first send must not free the buffer the message lies in (it did:
    the broadcast then read freed memory, which ASan reports)."""
    d = W.start_daemon(conf(routes=[W.route("/mb", plugin="misbehave")],
                            plugin_dir=W.TEST_PLUGIN_DIR))
    try:
        c, r = offer(d.port, "permessage-deflate; server_no_context_takeover",
                     path="/mb")
        assert only_ext(r) is not None, r
        msg = b"!cut:" + text_of(100000) + b"!"
        c.send_frame(W.OP_TEXT, deflate(msg), rsv=4)
        got = []
        for _ in range(3):
            op, rsv1, p = read_data(c)
            got.append(inflate(p) if rsv1 else p)
        assert got[0] == msg[:-1] and got[1] == msg[:-1], \
            [len(g) for g in got]
        # send: queued (0) or queued past send_high_water (1)
        assert got[2] in (b"cut:0:1:0", b"cut:1:1:0"), got[2][:100]
        assert d.alive()
    finally:
        d.stop()


def test_fragmented_messages_of_two_connections_at_once():
    """Without context takeover two clients each in the middle of a
    fragmented compressed message: neither borrows the other's stream."""
    d = start({"min_size": 0})
    cs = [offer(d.port, "permessage-deflate")[0] for _ in range(2)]
    msgs = [text_of(3000) + b"first", b"second!" * 400]
    zs = [deflate(m) for m in msgs]
    for i, c in enumerate(cs):
        c.send_frame(W.OP_TEXT, zs[i][:len(zs[i]) // 2], fin=False, rsv=4)
        c.send_frame(W.OP_PING, b"p")
        f = c.read_frame(10)
        assert f.opcode == W.OP_PONG, f
    for i, c in enumerate(cs):
        c.send_frame(W.OP_CONT, zs[i][len(zs[i]) // 2:])
        op, rsv1, p = read_data(c)
        assert (inflate(p) if rsv1 else p) == msgs[i], i
    d.stop()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def bomb(fragments):
    z = deflate(b"\x00" * (16 << 20), zlib.compressobj(9, zlib.DEFLATED,
                                                         -15))
    assert len(z) < 20 * 1024, len(z)
    d, c = negotiated(limits={"max_message_size": 1 << 20,
                              "max_fragments": 4096})
    [wpid] = d.worker_pids(1)
    plain_echo(c)
    before = rss_kib(wpid)
    peak = before
    for i in range(3):
        if i > 0:
            c, r = offer(d.port, "permessage-deflate")
        if fragments == 1:
            c.send_frame(W.OP_BINARY, z, rsv=4)
        else:
            # All fragments but the last, which never comes: the bomb
            # is stopped while its fragments arrive.
            step = len(z) // fragments + 1
            parts = [z[j:j + step] for j in range(0, len(z), step)]
            c.send(b"".join(
                W.build_frame(W.OP_BINARY if j == 0 else W.OP_CONT, p,
                              fin=False, rsv=4 if j == 0 else 0)
                for j, p in enumerate(parts[:-1])))
        c.expect_close(1009)
        peak = max(peak, rss_kib(wpid))
    # 16 MiB inflated three times would show; the 1 MiB limit (and the
    # allocator's and sanitizer's slack) may.
    grown = peak - before
    assert grown < 12 * 1024, "RSS grew by %d KiB" % grown
    # The worker still serves.
    c, r = offer(d.port, "permessage-deflate")
    plain_echo(c)
    d.stop()


def test_bomb_16mib_closed_1009():
    bomb(1)


def test_bomb_split_over_fragments():
    bomb(1000)


# ------------------------------------------------------------ raw data

def test_raw_compressed_both_ways():
    d, c = negotiated({"min_size": 100})
    for n in (0, 1, 99, 100, 125, 126, 5000):
        msg = text_of(n)
        c.send_frame(W.OP_TEXT, deflate(msg), rsv=4)
        op, rsv1, p = read_data(c)
        got = inflate(p) if rsv1 else p
        assert op == W.OP_TEXT and got == msg, (n, rsv1, got[:40])
        # Below min_size plain; above it compressed, when that pays.
        assert rsv1 == (n >= 100), (n, rsv1)
    # Data that does not shrink goes plain (no context takeover).
    rnd = os.urandom(4000)
    c.send_frame(W.OP_BINARY, rnd)
    op, rsv1, p = read_data(c)
    assert (op, rsv1, p) == (W.OP_BINARY, False, rnd)
    d.stop()


def test_context_takeover_keeps_window():
    """Many messages on one connection with context takeover both ways:
    the client refers back into earlier messages, and the server's
    frames shrink to back-references, so both windows are kept."""
    d, c = negotiated({"server_no_context_takeover": False,
                       "client_no_context_takeover": False,
                       "min_size": 0})
    cz = zlib.compressobj(6, zlib.DEFLATED, -15)
    dz = zlib.decompressobj(-15)
    # Text that compresses little on its own, much against the window.
    msg = json.dumps({"token": os.urandom(400).hex()}).encode()
    sizes = []
    for i in range(200):
        m = msg + str(i).encode()
        z = deflate(m, cz)
        if i > 0:
            assert len(z) < 50, len(z)      # a back-reference
        c.send_frame(W.OP_TEXT, z, rsv=4)
        op, rsv1, p = read_data(c)
        assert rsv1, "frame %d not compressed" % i
        assert inflate(p, dz) == m, i
        sizes.append(len(p))
    assert max(sizes[1:]) < sizes[0] // 4, sizes[:5]
    d.stop()


def test_interleaved_compressed_and_plain():
    d, c = negotiated({"server_no_context_takeover": False,
                       "client_no_context_takeover": False,
                       "min_size": 64})
    cz = zlib.compressobj(6, zlib.DEFLATED, -15)
    dz = zlib.decompressobj(-15)
    for i in range(100):
        small = ("s%d" % i).encode()
        big = text_of(500) + small
        if i % 2:
            c.send_frame(W.OP_TEXT, small)
            c.send_frame(W.OP_TEXT, deflate(big, cz), rsv=4)
        else:
            c.send_frame(W.OP_TEXT, deflate(big, cz), rsv=4)
            c.send_frame(W.OP_TEXT, small)
        got = []
        for _ in range(2):
            op, rsv1, p = read_data(c)
            got.append((rsv1, inflate(p, dz) if rsv1 else p))
        want = [(False, small), (True, big)] if i % 2 else \
            [(True, big), (False, small)]
        assert got == want, (i, got)
    d.stop()


def test_fragmented_compressed_raw():
    d, c = negotiated()
    msg = text_of(70000)
    z = deflate(msg)
    parts = [z[i:i + 100] for i in range(0, len(z), 100)]
    for j, p in enumerate(parts):
        c.send_frame(W.OP_TEXT if j == 0 else W.OP_CONT, p,
                     fin=j == len(parts) - 1, rsv=4 if j == 0 else 0)
        if j == 1:
            c.send_frame(W.OP_PING, b"between")
    op, rsv1, p = read_data(c)
    assert (inflate(p) if rsv1 else p) == msg
    d.stop()


def test_broadcast_compressed_once_and_plain_for_others():
    routes = [W.route("/hooks", plugin="hooks")]
    d = start({"min_size": 100}, routes=routes,
              plugin_dir=W.TEST_PLUGIN_DIR)
    zs = [offer(d.port, "permessage-deflate", "/hooks")[0] for _ in range(3)]
    ps = [offer(d.port, None, "/hooks")[0] for _ in range(2)]
    tk = offer(d.port, "permessage-deflate; server_max_window_bits=10",
               "/hooks")[0]
    for c in zs + ps + [tk]:
        read_data(c)        # the greeting
    msg = text_of(2000)
    zs[0].send_frame(W.OP_TEXT, b"bcast:" + msg)
    frames = []
    for c in zs + ps + [tk]:
        op, rsv1, p = read_data(c)
        if c is zs[0]:
            while p.startswith(b"sent:") or (rsv1 and inflate(p).startswith(
                    b"sent:")):
                op, rsv1, p = read_data(c)
        frames.append((rsv1, p))
        assert (inflate(p) if rsv1 else p) == msg
    for rsv1, p in frames[:3]:
        assert rsv1 and p == frames[0][1]
    for rsv1, p in frames[3:5]:
        assert not rsv1
    # Another window size: compressed too, separately.
    assert frames[5][0]
    d.stop()


def test_publish_compressed():
    routes = [W.route("/t", plugin="topics")]
    d = start({"min_size": 10}, routes=routes, plugin_dir=W.TEST_PLUGIN_DIR)
    z, _ = offer(d.port, "permessage-deflate", "/t?sub=news")
    p, _ = offer(d.port, None, "/t?sub=news")
    for c in (z, p):
        read_data(c)        # "open W N"
    body = text_of(300)
    p.send_frame(W.OP_TEXT, b"pub news " + body)
    for c, want_z in ((z, True), (p, False)):
        while True:
            op, rsv1, pl = read_data(c)
            m = inflate(pl) if rsv1 else pl
            if m == body:
                break
            assert m.startswith(b"pub "), m[:50]
        assert rsv1 == want_z
    d.stop()


# ------------------------------------------------------------ interop

def test_python_websockets_sizes_and_fragments():
    d = start(limits={"max_message_size": 2 << 20})

    async def go():
        async with W.ws_connect(d.port, compression="deflate") as ws:
            ext = ws.response_headers.get(EXT)
            assert ext and ext.startswith("permessage-deflate"), ext
            for n in SIZES:
                await W.echo(ws, text_of(n).decode())
                await W.echo(ws, os.urandom(n) if n < 70000 else
                             text_of(n))
            # Fragmented compressed messages.
            parts = [text_of(3000).decode() for _ in range(10)]
            await ws.send(iter(parts))
            assert await W.recv(ws) == "".join(parts)
            bparts = [os.urandom(500) + text_of(3000) for _ in range(5)]
            await ws.send(iter(bparts))
            assert await W.recv(ws) == b"".join(bparts)
    W.arun(go(), timeout=60)
    d.stop()


def test_python_websockets_context_takeover():
    d = start({"server_no_context_takeover": False,
               "client_no_context_takeover": False, "min_size": 0})

    async def go():
        async with W.ws_connect(d.port, compression="deflate") as ws:
            ext = ws.response_headers.get(EXT)
            assert ext == "permessage-deflate", ext
            for i in range(500):
                await W.echo(ws, '{"seq":%d,"text":"hello again"}' % i)
            await W.echo(ws, text_of(1 << 20).decode())
    W.arun(go(), timeout=60)
    d.stop()


NODE_CLIENT = r"""
const WebSocket = require('ws');
const [port, mode] = [process.argv[2], process.argv[3]];
const takeover = mode === 'takeover';
const sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20];
const unit = '{"id":12345,"user":"alice","text":"hello, world"},';
const text = (n) => unit.repeat(Math.ceil(n / unit.length) + 1).slice(0, n);
const ws = new WebSocket('ws://127.0.0.1:' + port + '/echo', {
  perMessageDeflate: takeover ? { threshold: 0 } :
    { threshold: 0, clientNoContextTakeover: true,
      serverNoContextTakeover: true },
  maxPayload: 4 << 20,
});
const want = [];
for (const n of sizes) {
  want.push(text(n));
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7919) & 0xff;
  want.push(b);
}
for (let i = 0; i < 300; i++) want.push('{"seq":' + i + ',"again":true}');
want.push('fragment-one,fragment-two,fragment-three');
let got = 0;
const fail = (m) => { console.log('FAIL ' + m); process.exit(1); };
ws.on('open', () => {
  for (const m of want.slice(0, -1)) ws.send(m, { compress: true });
  ws.send('fragment-one,', { fin: false, compress: true });
  ws.send('fragment-two,', { fin: false, compress: true });
  ws.send('fragment-three', { fin: true, compress: true });
});
ws.on('message', (data, isBinary) => {
  const w = want[got++];
  const same = typeof w === 'string' ? (!isBinary && data.toString() === w)
    : (isBinary && Buffer.compare(data, w) === 0);
  if (!same) fail('message ' + (got - 1) + ' differs');
  if (got === want.length) {
    console.log('OK ' + ws.extensions + ' ' + got);
    ws.close(1000);
  }
});
ws.on('close', (code) => {
  if (got !== want.length) fail('closed ' + code);
  process.exit(0);
});
ws.on('error', (e) => fail(String(e)));
setTimeout(() => fail('timeout'), 60000);
"""


def node_client(mode, compression):
    if not os.path.isdir(os.path.join(NODE_WS, "ws")):
        raise AssertionError("node-ws is not installed (Debian packages "
                             "nodejs and node-ws)")
    # The client sends everything before it reads: on a loaded machine
    # more than the default 1 MiB of echoes may wait for it.
    d = start(compression, limits={"max_message_size": 2 << 20,
                                   "max_send_buffer": 16 << 20})
    script = os.path.join(W.tmpdir(), "client.js")
    W.write_file(script, NODE_CLIENT)
    env = dict(os.environ, NODE_PATH=NODE_WS)
    p = subprocess.run(["node", script, str(d.port), mode], env=env,
                       capture_output=True, text=True, timeout=W.T(90))
    assert p.returncode == 0 and p.stdout.startswith("OK "), (p.stdout,
                                                              p.stderr)
    d.stop()
    return p.stdout


def test_node_ws_no_context_takeover():
    out = node_client("nct", None)
    assert "permessage-deflate" in out, out


def test_node_ws_context_takeover():
    out = node_client("takeover", {"server_no_context_takeover": False,
                                   "client_no_context_takeover": False,
                                   "min_size": 0})
    assert "permessage-deflate" in out, out


CHROMIUM_PAGE = r"""<!doctype html><meta charset="utf-8"><title>pmd</title>
<script>
window.runDeflate = function (done) {
  var sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20];
  var unit = '{"id":12345,"user":"alice","text":"h\u00e9llo \u2603"},';
  var want = [];
  sizes.forEach(function (n) {
    want.push(unit.repeat(Math.ceil(n / unit.length) + 1).slice(0, n));
    var b = new Uint8Array(n);
    for (var i = 0; i < n; i++) b[i] = (i * 7919) & 0xff;
    want.push(b);
  });
  for (var i = 0; i < 200; i++) want.push('{"seq":' + i + '}');
  var ws = new WebSocket('ws://' + location.host + '/echo');
  ws.binaryType = 'arraybuffer';
  var got = 0;
  ws.onopen = function () { want.forEach(function (m) { ws.send(m); }); };
  ws.onmessage = function (e) {
    var w = want[got++], ok;
    if (typeof w === 'string') ok = e.data === w;
    else {
      var a = new Uint8Array(e.data);
      ok = a.length === w.length;
      for (var i = 0; ok && i < a.length; i++) ok = a[i] === w[i];
    }
    if (!ok) { done('FAIL message ' + (got - 1)); ws.close(); return; }
    if (got === want.length) { done('OK ' + ws.extensions); ws.close(); }
  };
  ws.onclose = function (e) {
    if (got !== want.length) done('FAIL closed ' + e.code);
  };
};
</script>
"""


def test_chromium():
    import test_browser as B
    B.need_browser()
    root = W.tmpdir()
    W.write_file(os.path.join(root, "pmd.html"), CHROMIUM_PAGE)
    for comp in (None, {"server_no_context_takeover": False,
                        "client_no_context_takeover": False}):
        # The page sends everything before it reads (as the Node
        # client does): room for the echoes on a loaded machine.
        d = start(comp, document_root=root,
                  limits={"max_message_size": 4 << 20,
                          "max_send_buffer": 16 << 20})
        driver = B.new_driver()
        try:
            driver.get("http://127.0.0.1:%d/pmd.html" % d.port)
            res = driver.execute_async_script(
                "window.runDeflate(arguments[arguments.length - 1]);")
        finally:
            driver.quit()
        assert res.startswith("OK permessage-deflate"), res
        if comp is None:
            assert "server_no_context_takeover" in res, res
        else:
            # Chromium offers client_max_window_bits; nothing is added.
            assert res == "OK permessage-deflate", res
        d.stop()


if __name__ == "__main__":
    W.run([
        test_off_by_default,
        test_route_override,
        test_unknown_parameter_declined,
        test_repeated_parameter_declined,
        test_invalid_value_declined,
        test_window_bits_8_declined,
        test_first_acceptable_offer_wins,
        test_offers_over_several_headers,
        test_response_carries_no_forbidden_parameter,
        test_server_no_context_takeover_accepted,
        test_config_errors,
        test_rsv1_on_control_frame,
        test_rsv1_on_continuation_frame,
        test_rsv2_still_refused,
        test_corrupt_deflate_data,
        test_invalid_utf8_only_after_inflation,
        test_invalid_utf8_in_first_fragment_closes_at_once,
        test_invalid_utf8_inside_a_trickled_compressed_frame_fails_fast,
        test_inflated_message_stays_valid_while_the_plugin_sends_it,
        test_fragmented_messages_of_two_connections_at_once,
        test_bomb_16mib_closed_1009,
        test_bomb_split_over_fragments,
        test_raw_compressed_both_ways,
        test_context_takeover_keeps_window,
        test_interleaved_compressed_and_plain,
        test_fragmented_compressed_raw,
        test_broadcast_compressed_once_and_plain_for_others,
        test_publish_compressed,
        test_python_websockets_sizes_and_fragments,
        test_python_websockets_context_takeover,
        test_node_ws_no_context_takeover,
        test_node_ws_context_takeover,
        test_chromium,
    ])
