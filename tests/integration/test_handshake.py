"""The HTTP/1.1 opening handshake, over a raw socket and websockets;
every case over ws and again over wss (W.both_schemes)."""

import base64
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

ROUTES = [W.route("/echo"),
          W.route("/noorig", origins=None),
          W.route("/good", origins=["http://good.example"])]


def start(limits=None):
    return W.start(routes=ROUTES, limits=limits)


def check_101(r):
    assert r.status == 101, r
    assert r.get("upgrade", "").lower() == "websocket", r
    assert "upgrade" in r.get("connection", "").lower(), r


def echo_raw(c, text="hi"):
    c.send_text(text)
    assert c.read_message() == (W.OP_TEXT, text.encode())


def test_rfc6455_sample_key():
    d = start()
    try:
        with W.RawClient(d.port) as c:
            r = c.handshake(key="dGhlIHNhbXBsZSBub25jZQ==")
            check_101(r)
            assert r.get("sec-websocket-accept") == \
                "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", r
            assert r.get("sec-websocket-extensions") is None, r
            assert r.get("sec-websocket-protocol") is None, r
            echo_raw(c)
    finally:
        d.kill()


def test_random_keys():
    d = start()
    try:
        for _ in range(5):
            with W.RawClient(d.port) as c:
                check_101(c.handshake())   # checks the accept value
                echo_raw(c)
    finally:
        d.kill()


def test_header_names_case_insensitive():
    d = start()
    try:
        with W.RawClient(d.port) as c:
            key = W.new_key()
            c.key = key
            c.send(c.request("GET", "/echo", [
                ("host", "127.0.0.1:%d" % d.port),
                ("UPGRADE", "WebSocket"),
                ("connection", "keep-alive, Upgrade"),
                ("sec-websocket-key", key),
                ("SEC-WEBSOCKET-VERSION", "13"),
                ("User-Agent", "wsd-itest")]))
            r = c.read_response()
            check_101(r)
            assert r.get("sec-websocket-accept") == W.accept_key(key), r
            echo_raw(c, "case")
    finally:
        d.kill()


def test_pipelined_first_frame():
    d = start()
    try:
        with W.RawClient(d.port) as c:
            frame = W.build_frame(W.OP_TEXT, "pipelined")
            c.send(c.upgrade_request("/echo") + frame)
            r = c.read_response()
            check_101(r)
            assert r.get("sec-websocket-accept") == W.accept_key(c.key)
            assert c.read_message() == (W.OP_TEXT, b"pipelined")
            # and two frames plus a ping in the same write as the head
            c2 = W.RawClient(d.port)
            try:
                c2.send(c2.upgrade_request("/echo")
                        + W.build_frame(W.OP_TEXT, "one")
                        + W.build_frame(W.OP_PING, "pp")
                        + W.build_frame(W.OP_BINARY, b"\x00two"))
                check_101(c2.read_response())
                assert c2.read_message() == (W.OP_TEXT, b"one")
                f = c2.read_message(skip_ping=False)
                assert f.opcode == W.OP_PONG and f.payload == b"pp", f
                assert c2.read_message() == (W.OP_BINARY, b"\x00two")
            finally:
                c2.close()
    finally:
        d.kill()


def send_expect(d, data, status, label):
    with W.RawClient(d.port) as c:
        c.send(data)
        try:
            return W.expect_http_error(c, status)
        except AssertionError as e:
            raise AssertionError("%s: sent %r: %s" % (label, data[:120], e))


def test_malformed_request_line_400():
    d = start()
    try:
        host = "Host: 127.0.0.1:%d\r\n" % d.port
        up = ("Upgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
              % W.new_key())
        for line in ("GARBAGE", "GET /echo", "GET echo HTTP/1.1",
                     "GET /echo HTTP/1.1 junk",
                     " GET /echo HTTP/1.1"):
            send_expect(d, (line + "\r\n" + host + up).encode(), 400, line)
        send_expect(d, b"GARBAGE\r\n\r\n", 400, "garbage only")
        assert d.alive()
        W.echo_ok(d.port)
    finally:
        d.kill()


def test_bad_key_400():
    d = start()
    try:
        keys = {
            "not base64": "!!!!not-base64-at-all!!!",
            "15 bytes": base64.b64encode(os.urandom(15)).decode(),
            "17 bytes": base64.b64encode(os.urandom(17)).decode(),
            "empty": "",
        }
        for label, key in keys.items():
            with W.RawClient(d.port) as c:
                c.send(c.upgrade_request(key=key))
                try:
                    W.expect_http_error(c, 400)
                except AssertionError as e:
                    raise AssertionError("key %s (%r): %s" % (label, key, e))
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(drop=["Sec-WebSocket-Key"]))
            try:
                W.expect_http_error(c, 400)
            except AssertionError as e:
                raise AssertionError("missing key: %s" % e)
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(
                extra=[("Sec-WebSocket-Key", W.new_key())]))
            try:
                W.expect_http_error(c, 400)
            except AssertionError as e:
                raise AssertionError("repeated key: %s" % e)
    finally:
        d.kill()


def test_missing_host_400():
    d = start()
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(drop=["Host"]))
            W.expect_http_error(c, 400)
    finally:
        d.kill()


def test_http10_upgrade_400():
    d = start()
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(version="HTTP/1.0"))
            W.expect_http_error(c, 400)
    finally:
        d.kill()


def test_origin_default_same_host():
    d = start()
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(
                "/noorig", extra=[("Origin", "http://evil.example")]))
            W.expect_http_error(c, 403)
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(
                "/noorig",
                extra=[("Origin", "http://127.0.0.1:%d" % (d.port + 1 if
                                                           d.port < 65535
                                                           else 1))]))
            W.expect_http_error(c, 403)
        # the page's own origin: http:// or https:// as it was served
        page = "%s://127.0.0.1:%d" % ("https" if W.TLS else "http", d.port)
        with W.RawClient(d.port) as c:
            r = c.handshake("/noorig", extra=[("Origin", page)])
            check_101(r)
            echo_raw(c)
        with W.RawClient(d.port) as c:
            check_101(c.handshake("/noorig"))   # no Origin: not a browser
            echo_raw(c)
        W.echo_ok(d.port, "/noorig")
        # "*" allows anything
        with W.RawClient(d.port) as c:
            check_101(c.handshake(
                "/echo", extra=[("Origin", "http://evil.example")]))
    finally:
        d.kill()


def test_origin_list():
    d = start()
    try:
        with W.RawClient(d.port) as c:
            check_101(c.handshake(
                "/good", extra=[("Origin", "http://good.example")]))
            echo_raw(c)
        with W.RawClient(d.port) as c:
            check_101(c.handshake(
                "/good", extra=[("Origin", "HTTP://GOOD.EXAMPLE")]))
        for bad in ("http://evil.example", "https://good.example",
                    "http://good.example.evil.example",
                    "http://127.0.0.1:%d" % d.port):
            with W.RawClient(d.port) as c:
                c.send(c.upgrade_request("/good", extra=[("Origin", bad)]))
                try:
                    W.expect_http_error(c, 403)
                except AssertionError as e:
                    raise AssertionError("Origin %s: %s" % (bad, e))
        with W.RawClient(d.port) as c:
            check_101(c.handshake("/good"))
    finally:
        d.kill()


def test_unknown_route_404():
    d = start()
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request("/nope"))
            W.expect_http_error(c, 404)
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request("/echo/more"))
            W.expect_http_error(c, 404)
    finally:
        d.kill()


def test_post_upgrade_405():
    d = start()
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request("/echo", method="POST"))
            W.expect_http_error(c, 405)
    finally:
        d.kill()


def test_version_426():
    d = start()
    try:
        for v in ("8", "14"):
            with W.RawClient(d.port) as c:
                c.send(c.upgrade_request(
                    drop=["Sec-WebSocket-Version"],
                    extra=[("Sec-WebSocket-Version", v)]))
                r = W.expect_http_error(c, 426)
                assert r.get("sec-websocket-version") == "13", r
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(drop=["Sec-WebSocket-Version"]))
            r = W.expect_http_error(c, 426)
            assert r.get("sec-websocket-version") == "13", r
    finally:
        d.kill()


def test_head_too_large_431():
    d = start(limits={"max_head_size": 1024})
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(extra=[("X-Big", "a" * 2000)]))
            W.expect_http_error(c, 431)
        # a head that never ends, sent in one go, is refused too
        with W.RawClient(d.port) as c:
            c.send(b"GET /echo HTTP/1.1\r\nX-Pad: " + b"b" * 4000)
            W.expect_http_error(c, 431)
        # just under the limit is fine
        with W.RawClient(d.port) as c:
            base = len(c.upgrade_request(extra=[("X-Pad", "")]))
            check_101(c.handshake(extra=[("X-Pad", "p" * (1000 - base))]))
            echo_raw(c)
    finally:
        d.kill()


def test_too_many_headers_431():
    d = start(limits={"max_headers": 10})
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request(
                extra=[("X-H%d" % i, "v") for i in range(20)]))
            W.expect_http_error(c, 431)
        with W.RawClient(d.port) as c:
            check_101(c.handshake(extra=[("X-H%d" % i, "v")
                                         for i in range(4)]))
    finally:
        d.kill()


def test_handshake_timeout():
    d = start(limits={"handshake_timeout": 1})
    try:
        partial = W.RawClient(d.port)
        silent = W.RawClient(d.port)
        try:
            t0 = time.monotonic()
            partial.send(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for c, label in ((partial, "partial head"),
                             (silent, "nothing sent")):
                try:
                    c.read_until_eof(timeout=5)
                except AssertionError as e:
                    raise AssertionError("%s: %s" % (label, e))
            dt = time.monotonic() - t0
            assert dt >= 0.5, "closed after %.2fs, before the timeout" % dt
        finally:
            partial.close()
            silent.close()
        W.echo_ok(d.port)
    finally:
        d.kill()


def test_error_response_then_close():
    """An error response is followed by the server closing, even if the
    client keeps sending."""
    d = start()
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request("/nope"))
            r = c.read_response()
            assert r.status == 404, r
            assert "close" in r.get("connection", "").lower(), r
            n = r.get("content-length")
            c.send(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            rest = c.read_until_eof(timeout=5)
            if n is not None:
                assert len(rest) == int(n), (n, rest)
    finally:
        d.kill()


def test_deflate_offer_not_accepted_raw():
    d = start()
    try:
        with W.RawClient(d.port) as c:
            r = c.handshake(extra=[
                ("Sec-WebSocket-Extensions",
                 "permessage-deflate; client_max_window_bits")])
            check_101(r)
            assert r.get("sec-websocket-extensions") is None, r
            echo_raw(c, "x" * 300)
    finally:
        d.kill()


def test_websockets_with_and_without_compression():
    d = start()
    try:
        async def go():
            async with W.ws_connect(d.port, compression="deflate") as ws:
                assert ws.extensions == [], ws.extensions
                await W.echo(ws, "deflate offered " * 50)
                await W.echo(ws, b"\x00\x01" * 500)
            async with W.ws_connect(d.port) as ws:
                assert ws.extensions == []
                await W.echo(ws, "plain")
        W.arun(go())
    finally:
        d.kill()


def test_concurrent_handshakes():
    d = start()
    try:
        clients = [W.RawClient(d.port) for _ in range(20)]
        try:
            for c in clients:
                c.send(c.upgrade_request())
            for i, c in enumerate(clients):
                check_101(c.read_response())
                echo_raw(c, "client %d" % i)
        finally:
            for c in clients:
                c.close()
    finally:
        d.kill()


def test_half_closed_client_does_not_hang_server():
    """A client that sends half a head and shuts down its side: the server
    closes the connection and keeps serving."""
    d = start()
    try:
        with W.RawClient(d.port) as c:
            c.send(b"GET /echo HTTP/1.1\r\nHo")
            c.sock.shutdown(socket.SHUT_WR)
            c.read_until_eof(timeout=6)
        W.echo_ok(d.port)
    finally:
        d.kill()


def send_trickled(c, data):
    """Send data a byte per send(), with Nagle off so that each byte
    leaves on its own; False once the server has gone."""
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(data)):
        if not c.send(data[i:i + 1]):
            return False
    return True


def test_trickled_head():
    """A 7 KiB head sent a byte at a time is parsed as if sent whole (the
    parser resumes where each read stopped), and limits still hold."""
    d = start(limits={"handshake_timeout": 30})
    try:
        with W.RawClient(d.port) as c:
            # The key last, so that its bytes are among the last read.
            extra = [("X-Pad-%02d" % i, "%02d" % i + "v" * 112)
                     for i in range(55)]
            req = c.upgrade_request(extra=extra, drop=["Sec-WebSocket-Key"])
            key = W.new_key()
            c.key = key
            req = req[:-2] + b"Sec-WebSocket-Key: " + key.encode() + \
                b"\r\n\r\n"
            assert 7000 <= len(req) <= 7400, len(req)
            t0 = time.monotonic()
            assert send_trickled(c, req)
            r = c.read_response(timeout=20)
            check_101(r)
            assert r.get("sec-websocket-accept") == W.accept_key(key), r
            assert time.monotonic() - t0 < W.T(25)
            echo_raw(c, "after a trickled head")
        # Trickled past max_head_size (8192) without an end: 431.
        with W.RawClient(d.port) as c:
            send_trickled(c, b"GET /echo HTTP/1.1\r\nX-Pad: " + b"p" * 8300)
            W.expect_http_error(c, 431)
        # A bad byte late in a trickled head: 400 as soon as it arrives.
        with W.RawClient(d.port) as c:
            req = c.upgrade_request(extra=[("X-Pad", "q" * 3000)])
            send_trickled(c, req[:3000] + b"\x01")
            W.expect_http_error(c, 400)
        W.echo_ok(d.port)
    finally:
        d.kill()


TESTS = [
    test_rfc6455_sample_key,
    test_random_keys,
    test_header_names_case_insensitive,
    test_pipelined_first_frame,
    test_malformed_request_line_400,
    test_bad_key_400,
    test_missing_host_400,
    test_http10_upgrade_400,
    test_origin_default_same_host,
    test_origin_list,
    test_unknown_route_404,
    test_post_upgrade_405,
    test_version_426,
    test_head_too_large_431,
    test_too_many_headers_431,
    test_handshake_timeout,
    test_error_response_then_close,
    test_deflate_offer_not_accepted_raw,
    test_websockets_with_and_without_compression,
    test_concurrent_handshakes,
    test_half_closed_client_does_not_hang_server,
    test_trickled_head,
]

if __name__ == "__main__":
    W.run(W.both_schemes(TESTS))
