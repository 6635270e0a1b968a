"""RFC 6455 framing against the echo-logger plugin: echoes, control
frames, protocol errors, limits, closing, idle pings and logging; every
case over ws and again over wss (W.both_schemes)."""

import asyncio
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

MIB = 1024 * 1024
SIZES = [0, 125, 126, 65535, 65536, MIB]

ROUTES = [W.route("/echo", limits={"max_message_size": 2 * MIB}),
          W.route("/small", limits={"max_message_size": 1000})]


def start(limits=None):
    return W.start(routes=ROUTES, limits=limits)


def text_of(n):
    """n bytes of ASCII text that is not just one repeated byte."""
    s = "".join(chr(0x20 + (i * 7) % 95) for i in range(min(n, 997)))
    return (s * (n // 997 + 1))[:n]


# ------------------------------------------------------------ echoes

def test_echo_text_sizes():
    d = start()
    try:
        async def go():
            async with W.ws_connect(d.port) as ws:
                for n in SIZES:
                    await W.echo(ws, text_of(n), timeout=20)
                await W.echo(ws, "h\u00e9llo \u20ac \U0001d11e \u0000 end")
        W.arun(go(), timeout=60)
    finally:
        d.kill()


def test_echo_binary_sizes():
    d = start()
    try:
        async def go():
            async with W.ws_connect(d.port) as ws:
                for n in SIZES:
                    await W.echo(ws, os.urandom(n), timeout=20)
        W.arun(go(), timeout=60)
    finally:
        d.kill()


def test_echo_raw_length_encodings():
    """Every length form, sent and echoed, on the raw wire."""
    d = start()
    try:
        with W.raw_ws(d.port) as c:
            for n in (0, 1, 125, 126, 127, 65535, 65536, 70000):
                data = os.urandom(n)
                c.send_frame(W.OP_BINARY, data)
                f = c.read_frame()
                assert (f.opcode, f.fin, f.rsv, f.masked) == \
                    (W.OP_BINARY, True, 0, False), f
                assert f.payload == data, "size %d: %r" % (n, f)
            c.send_text("\u20ac" * 100)
            assert c.read_message() == (W.OP_TEXT, ("\u20ac" * 100).encode())
    finally:
        d.kill()


def test_fragmented_message_with_ping_between():
    d = start()
    try:
        with W.raw_ws(d.port) as c:
            c.send_frame(W.OP_TEXT, "Hello, ", fin=False)
            c.send_frame(W.OP_PING, "between")
            f = c.read_frame()
            assert f.opcode == W.OP_PONG and f.payload == b"between", f
            c.send_frame(W.OP_CONT, "fragmented ", fin=False)
            c.send_frame(W.OP_CONT, "world")
            assert c.read_message() == (W.OP_TEXT,
                                        b"Hello, fragmented world")
            # binary, and an empty final fragment
            c.send_frame(W.OP_BINARY, b"\x00\x01", fin=False)
            c.send_frame(W.OP_CONT, b"\x02", fin=False)
            c.send_frame(W.OP_CONT, b"")
            assert c.read_message() == (W.OP_BINARY, b"\x00\x01\x02")
            # the connection is still in a sane state
            c.send_text("after")
            assert c.read_message() == (W.OP_TEXT, b"after")
    finally:
        d.kill()


def test_fragmented_many_frames():
    d = start()
    try:
        with W.raw_ws(d.port) as c:
            parts = [os.urandom(1000) for _ in range(100)]
            data = W.build_frame(W.OP_BINARY, parts[0], fin=False)
            for p in parts[1:-1]:
                data += W.build_frame(W.OP_CONT, p, fin=False)
            data += W.build_frame(W.OP_CONT, parts[-1])
            c.send(data)
            assert c.read_message() == (W.OP_BINARY, b"".join(parts))
        async def go():
            async with W.ws_connect(d.port) as ws:
                await ws.send(iter(["frag", "mented ", "via ", "websockets"]))
                assert await W.recv(ws) == "fragmented via websockets"
        W.arun(go())
    finally:
        d.kill()


def test_split_utf8_sequence_across_fragments_is_valid():
    d = start()
    try:
        with W.raw_ws(d.port) as c:
            c.send_frame(W.OP_TEXT, b"\xe2\x82", fin=False)
            c.send_frame(W.OP_CONT, b"\xac!")
            assert c.read_message() == (W.OP_TEXT, "\u20ac!".encode())
            # and split across TCP writes inside one frame
            frame = W.build_frame(W.OP_TEXT, "\U0001d11e".encode())
            for i in range(len(frame)):
                c.send(frame[i:i + 1])
                time.sleep(0.01)
            assert c.read_message() == (W.OP_TEXT, "\U0001d11e".encode())
    finally:
        d.kill()


def test_many_messages_in_order():
    d = start()
    try:
        async def go():
            async with W.ws_connect(d.port) as ws:
                msgs = ["m%d" % i for i in range(300)]
                for m in msgs:
                    await ws.send(m)
                for m in msgs:
                    assert await W.recv(ws) == m
        W.arun(go())
    finally:
        d.kill()


def test_concurrent_clients():
    d = start()
    try:
        async def client(i):
            async with W.ws_connect(d.port) as ws:
                for j in range(20):
                    await W.echo(ws, "c%d-%d" % (i, j))
                    await W.echo(ws, os.urandom(j * 100))
        async def go():
            await asyncio.gather(*(client(i) for i in range(10)))
        W.arun(go(), timeout=60)
    finally:
        d.kill()


# ------------------------------------------------------------ control

def test_ping_pong_websockets():
    d = start()
    try:
        async def go():
            async with W.ws_connect(d.port) as ws:
                for payload in (b"data", b"", os.urandom(125)):
                    waiter = await ws.ping(payload)
                    await asyncio.wait_for(waiter, W.T(5))
                await W.echo(ws, "still here")
        W.arun(go())
    finally:
        d.kill()


def test_ping_pong_raw():
    d = start()
    try:
        with W.raw_ws(d.port) as c:
            for payload in (b"abc", b"", b"\xff" * 125):
                c.send_frame(W.OP_PING, payload)
                f = c.read_frame()
                assert (f.opcode, f.payload, f.fin, f.masked) == \
                    (W.OP_PONG, payload, True, False), f
    finally:
        d.kill()


def test_unsolicited_pong_ignored():
    d = start()
    try:
        with W.raw_ws(d.port) as c:
            c.send_frame(W.OP_PONG, "unasked")
            c.send_frame(W.OP_PONG, "")
            c.send_text("after pong")
            assert c.read_message() == (W.OP_TEXT, b"after pong")
        async def go():
            async with W.ws_connect(d.port) as ws:
                await ws.pong(b"x")
                await W.echo(ws, "after pong")
        W.arun(go())
    finally:
        d.kill()


# ------------------------------------------------------------ errors

def F(*a, **kw):
    return W.build_frame(*a, **kw)


def close_frame(code, reason=b""):
    return F(W.OP_CLOSE, W.close_payload(code, reason))


PROTOCOL_ERRORS = [
    ("unmasked_client_frame", F(W.OP_TEXT, "hi", mask=False)),
    ("rsv1_set", F(W.OP_TEXT, "hi", rsv=4)),
    ("rsv2_set", F(W.OP_BINARY, "hi", rsv=2)),
    ("rsv3_set", F(W.OP_BINARY, "hi", rsv=1)),
    ("opcode_3", F(3, "x")),
    ("opcode_0xB", F(0xB, "")),
    ("fragmented_ping", F(W.OP_PING, "p", fin=False)),
    ("ping_126_bytes", F(W.OP_PING, b"p" * 126)),
    ("close_126_bytes", F(W.OP_CLOSE, W.close_payload(1000, b"r" * 124))),
    ("continuation_without_start", F(W.OP_CONT, "x")),
    ("text_during_fragmented_message",
     F(W.OP_TEXT, "a", fin=False) + F(W.OP_TEXT, "b")),
    ("binary_during_fragmented_message",
     F(W.OP_BINARY, "a", fin=False) + F(W.OP_BINARY, "b", fin=False)),
    ("close_1_byte_payload", F(W.OP_CLOSE, b"\x03")),
    ("length64_msb_set", F(W.OP_BINARY, b"", length=1 << 63)),
] + [("close_code_%d" % code, close_frame(code))
     for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000)]


def make_error_test(name, data, code, path="/echo", before=b""):
    def t():
        d = start()
        try:
            with W.raw_ws(d.port, path) as c:
                if before:
                    c.send(before)
                c.send(data)
                try:
                    c.expect_close(code)
                except AssertionError as e:
                    raise AssertionError("sent %r: %s" % (data[:40], e))
            assert d.alive()
            W.echo_ok(d.port)
        finally:
            d.kill()
    t.__name__ = "test_%d_%s" % (code if isinstance(code, int) else 0, name)
    return t


ERROR_TESTS = [make_error_test(n, data, 1002) for n, data in PROTOCOL_ERRORS]


def test_valid_close_codes_echoed():
    d = start()
    try:
        for code in (1000, 1001, 3000, 4999):
            with W.raw_ws(d.port) as c:
                c.send(close_frame(code, b"reason"))
                try:
                    c.expect_close(code, reply=False)
                except AssertionError as e:
                    raise AssertionError("close %d: %s" % (code, e))
    finally:
        d.kill()


# ------------------------------------------------------------ UTF-8

BAD_UTF8 = [("byte_ff", b"abc\xff"), ("overlong", b"\xc0\xaf"),
            ("surrogate", b"\xed\xa0\x80"), ("above_10ffff", b"\xf4\x90\x80\x80"),
            ("truncated_at_end", b"abc\xe2\x82")]

UTF8_TESTS = [make_error_test("invalid_utf8_" + n, F(W.OP_TEXT, b), 1007)
              for n, b in BAD_UTF8]


def test_invalid_utf8_in_second_fragment_fails_fast():
    d = start()
    try:
        with W.raw_ws(d.port) as c:
            c.send_frame(W.OP_TEXT, "hello ", fin=False)
            c.send_frame(W.OP_CONT, b"wor\xffld", fin=False)
            # no final fragment: the close must come anyway
            c.expect_close(1007)
        with W.raw_ws(d.port) as c:
            c.send_frame(W.OP_TEXT, b"ok \xe2", fin=False)
            c.send_frame(W.OP_CONT, b"\x28", fin=False)
            c.expect_close(1007)
        W.echo_ok(d.port)
    finally:
        d.kill()


def test_invalid_utf8_inside_a_trickled_frame_fails_fast():
    """A 10 KiB text frame whose 4th byte cannot be UTF-8, sent as its
    header and first bytes only: 1007 comes without the rest, also when
    the bad byte arrives in a later read than the header."""
    d = start()
    try:
        for cut in (None, 3):
            payload = b"abc\xff" + b"x" * (10240 - 4)
            frame = W.build_frame(W.OP_TEXT, payload)
            head = len(frame) - len(payload)
            with W.raw_ws(d.port) as c:
                if cut is None:
                    c.send(frame[:head + 4])
                else:
                    c.send(frame[:head + cut])
                    time.sleep(0.2)
                    c.send(frame[head + cut:head + 4])
                c.expect_close(1007)
        W.echo_ok(d.port)
    finally:
        d.kill()


def test_invalid_utf8_close_reason():
    d = start()
    try:
        with W.raw_ws(d.port) as c:
            c.send(close_frame(1000, b"bad \xff\xfe"))
            c.expect_close(1007)
    finally:
        d.kill()


# ------------------------------------------------------------ sizes

def test_message_size_limit_single_frame():
    d = start()
    try:
        with W.raw_ws(d.port, "/small") as c:
            c.send_frame(W.OP_BINARY, b"x" * 1000)
            assert c.read_message() == (W.OP_BINARY, b"x" * 1000)
            c.send_text("y" * 1000)
            assert c.read_message() == (W.OP_TEXT, b"y" * 1000)
            c.send_frame(W.OP_BINARY, b"z" * 1001)
            c.expect_close(1009)
    finally:
        d.kill()


def test_message_size_limit_fragmented():
    d = start()
    try:
        with W.raw_ws(d.port, "/small") as c:
            # 1200 bytes > 1000, and the message is never finished
            c.send_frame(W.OP_TEXT, "a" * 400, fin=False)
            c.send_frame(W.OP_CONT, "a" * 400, fin=False)
            c.send_frame(W.OP_CONT, "a" * 400, fin=False)
            c.expect_close(1009)
    finally:
        d.kill()


def test_message_size_limit_header_only():
    """A frame header announcing too much is refused before the payload."""
    d = start()
    try:
        with W.raw_ws(d.port, "/small") as c:
            c.send(F(W.OP_BINARY, b"", length=10 * MIB))
            c.expect_close(1009)
        with W.raw_ws(d.port, "/echo") as c:   # 2 MiB route
            c.send(F(W.OP_BINARY, b"", length=3 * MIB))
            c.expect_close(1009)
    finally:
        d.kill()


def test_route_limit_allows_2mib_websockets():
    # a 2 MiB echo needs a send buffer above 2 MiB as well
    d = start(limits={"max_send_buffer": 4 * MIB})
    try:
        async def go():
            async with W.ws_connect(d.port) as ws:
                await W.echo(ws, os.urandom(2 * MIB - 10), timeout=30)
            async with W.ws_connect(d.port, "/small") as ws:
                await ws.send("q" * 1001)
                try:
                    await W.recv(ws)
                except Exception:
                    pass
                await asyncio.wait_for(ws.wait_closed(), W.T(10))
                assert ws.close_code == 1009, ws.close_code
        W.arun(go(), timeout=60)
    finally:
        d.kill()


# ------------------------------------------------------------ closing

def test_close_without_payload():
    d = start()
    try:
        with W.raw_ws(d.port) as c:
            c.send_close()
            f = c.expect_close(None, reply=False)
            assert f.payload == b"", f
    finally:
        d.kill()


def test_data_after_close_ignored():
    d = start()
    try:
        with W.raw_ws(d.port) as c:
            c.send(close_frame(1000, b"bye") + F(W.OP_TEXT, "ignored")
                   + F(W.OP_PING, "ignored too"))
            frames = []
            try:
                while True:
                    frames.append(c.read_frame())
            except W.EOF:
                pass
            assert [f.opcode for f in frames] == [W.OP_CLOSE], frames
            assert frames[0].code == 1000, frames
    finally:
        d.kill()


def test_client_close_websockets():
    d = start()
    try:
        async def go():
            async with W.ws_connect(d.port) as ws:
                await W.echo(ws, "x")
                await ws.close(1000, "bye")
                assert ws.close_code == 1000, ws.close_code
            async with W.ws_connect(d.port) as ws:
                await ws.close(4321, "custom")
                assert ws.close_code == 4321, ws.close_code
        W.arun(go())
    finally:
        d.kill()


# ------------------------------------------------------------ idle

IDLE = {"ping_interval": 1.0, "idle_timeout": 3.0, "close_timeout": 1.5}


def test_idle_client_pinged_then_closed():
    d = start(limits=IDLE)
    try:
        with W.raw_ws(d.port) as c:
            t0 = time.monotonic()
            pings = []
            while True:
                left = t0 + W.T(8) - time.monotonic()
                assert left > 0, "not closed within %ss (pings %r)" % (
                    W.T(8), pings)
                try:
                    f = c.read_frame(left)
                except W.EOF:
                    raise AssertionError("EOF without a close frame after "
                                         "%d pings" % len(pings))
                if f.opcode == W.OP_PING:
                    pings.append(round(time.monotonic() - t0, 2))
                    continue
                assert f.opcode == W.OP_CLOSE, f
                break
            dt = time.monotonic() - t0
            print("    idle close after %.2fs, code %s reason %r, pings at %s"
                  % (dt, f.code, f.reason, pings))
            # wsd.conf(5): idle_timeout closes with 1001
            assert f.code == 1001, "idle close code %s (reason %r)" % (
                f.code, f.reason)
            assert pings, "no ping before the idle close"
            assert dt >= 2, "closed after %.2fs, before idle_timeout" % dt
            rest = c.read_until_eof(timeout=6)
            assert rest == b"", rest
    finally:
        d.kill()


def test_idle_websockets_client_kept_alive():
    d = start(limits=IDLE)
    try:
        async def go():
            async with W.ws_connect(d.port) as ws:
                await W.echo(ws, "start")
                await asyncio.sleep(5)
                await W.echo(ws, "still alive after 5s")
        W.arun(go())
    finally:
        d.kill()


# ------------------------------------------------------------ logging

def access_re(port, code):
    return r"access.*127\.0\.0\.1:%d\b.*/echo\b.*\b%d\b" % (port, code)


def test_access_log_lines():
    d = start()
    try:
        ports = []

        async def go():
            async with W.ws_connect(d.port) as ws:
                ports.append(ws.local_address[1])
                await W.echo(ws, "log me")
                await ws.close(1000)
        W.arun(go())
        d.wait_log(access_re(ports[0], 1000))
        with W.raw_ws(d.port) as c:
            p2 = c.local_port
            c.send_frame(W.OP_TEXT, "x", mask=False)
            c.expect_close(1002)
        d.wait_log(access_re(p2, 1002))
        assert d.stop() == 0
        for p in (ports[0], p2):
            n = [l for l in d.lines
                 if "access" in l and "127.0.0.1:%d" % p in l]
            assert len(n) == 1, "%d access lines for port %d: %r" % (
                len(n), p, n)
    finally:
        d.kill()


def test_log_injection():
    d = start()
    try:
        async def go():
            async with W.ws_connect(d.port) as ws:
                await W.echo(ws, "hello-marker\nINJECTED fake log line")
                await W.echo(ws, "esc-marker\x1b[31mRED\x1b[0m\rINJECTED2")
                await W.echo(ws, "crlf-marker\r\nINJECTED3 x")
        W.arun(go())
        d.wait_log("hello-marker")
        d.wait_log("esc-marker")
        d.wait_log("crlf-marker")
        assert d.stop() == 0
        for l in d.lines:
            assert not re.match(r"\s*INJECTED", l), \
                "injected line in the log: %r" % l
            assert "\x1b" not in l and "\r" not in l, "raw control in %r" % l
        assert b"\x1b" not in d.raw, "ESC byte in stderr"
    finally:
        d.kill()


TESTS = [
    test_echo_text_sizes,
    test_echo_binary_sizes,
    test_echo_raw_length_encodings,
    test_fragmented_message_with_ping_between,
    test_fragmented_many_frames,
    test_split_utf8_sequence_across_fragments_is_valid,
    test_many_messages_in_order,
    test_concurrent_clients,
    test_ping_pong_websockets,
    test_ping_pong_raw,
    test_unsolicited_pong_ignored,
] + ERROR_TESTS + [
    test_valid_close_codes_echoed,
] + UTF8_TESTS + [
    test_invalid_utf8_in_second_fragment_fails_fast,
    test_invalid_utf8_inside_a_trickled_frame_fails_fast,
    test_invalid_utf8_close_reason,
    test_message_size_limit_single_frame,
    test_message_size_limit_fragmented,
    test_message_size_limit_header_only,
    test_route_limit_allows_2mib_websockets,
    test_close_without_payload,
    test_data_after_close_ignored,
    test_client_close_websockets,
    test_idle_client_pinged_then_closed,
    test_idle_websockets_client_kept_alive,
    test_access_log_lines,
    test_log_injection,
]

if __name__ == "__main__":
    W.run(W.both_schemes(TESTS))
