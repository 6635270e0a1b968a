"""A connection's end: what wsd owes a client is delivered, dead peers are
noticed, and failures inside the server fail one connection cleanly."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402


def slow_reader(port, path, rate, rcvbuf=16384, limit_s=30):
    """GET path and read the response at about rate bytes/s through a
    small receive buffer.  Returns (status line, body bytes, seconds)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
               % path).encode())
    data = bytearray()
    t0 = time.monotonic()
    chunk = max(1, rate // 20)
    s.settimeout(W.T(10))
    while time.monotonic() - t0 < W.T(limit_s):
        try:
            b = s.recv(chunk)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        data += b
        # Keep to the rate: sleep off what was read ahead of it.
        ahead = len(data) / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    s.close()
    i = data.find(b"\r\n\r\n")
    assert i > 0, "no response head: %r" % bytes(data[:200])
    return (bytes(data[:data.find(b"\r\n")]), bytes(data[i + 4:]),
            time.monotonic() - t0)


def test_slow_static_download_is_complete():
    """A download that takes longer than close_timeout, from a client that
    keeps reading, arrives whole (it was cut off at close_timeout)."""
    root = W.tmpdir()
    # Larger than what the kernel buffers on loopback (4 MiB at most).
    size = 24 * 1024 * 1024
    blob = os.urandom(size)
    W.write_file(os.path.join(root, "big.bin"), blob)
    d = W.start(document_root=root, limits={"close_timeout": 1})
    try:
        status, body, secs = slow_reader(d.port, "/big.bin", 8 << 20)
        assert status.startswith(b"HTTP/1.1 200"), status
        assert len(body) == size, "got %d of %d bytes in %.1fs" % (
            len(body), size, secs)
        assert body == blob
        assert secs > 2, "the download was not slow (%.1fs)" % secs
    finally:
        d.kill()


def test_stalled_static_download_is_dropped():
    """A client that stops reading is dropped after close_timeout with no
    progress, not kept for ever."""
    root = W.tmpdir()
    W.write_file(os.path.join(root, "big.bin"), os.urandom(8 << 20))
    d = W.start(document_root=root, limits={"close_timeout": 1})
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", d.port))
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        mark = d.mark()
        d.wait_log(r'access \S+ "GET /big.bin" 200', timeout=6, start=mark)
        s.close()
    finally:
        d.kill()


def test_request_then_shutdown_gets_whole_response():
    """A client may send its request and shut down its write side: the
    response is still owed in full (EOF used to free the connection with
    the file still queued)."""
    root = W.tmpdir()
    size = 16 * 1024 * 1024
    blob = os.urandom(size)
    W.write_file(os.path.join(root, "big.bin"), blob)
    d = W.start(document_root=root)
    try:
        with W.RawClient(d.port) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            c.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            c.sock.shutdown(socket.SHUT_WR)
            time.sleep(0.3)     # let wsd see the EOF with the file queued
            r = c.read_response()
            assert r.status == 200, r
            body = c.read_until_eof(timeout=20)
            assert len(body) == size, "got %d of %d bytes" % (len(body),
                                                              size)
            assert body == blob
    finally:
        d.kill()


def test_close_then_shutdown_gets_echo_and_close():
    """A client sends a large message and its Close, then shuts down its
    write side: it still gets the echo and the Close reply."""
    d = W.start(limits={"max_message_size": 16 << 20,
                        "max_send_buffer": 32 << 20})
    try:
        with W.raw_ws(d.port) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            payload = os.urandom(12 << 20)
            c.send_frame(W.OP_BINARY, payload)
            c.send_close(1000)
            c.sock.shutdown(socket.SHUT_WR)
            time.sleep(0.3)
            op, data = c.read_message(timeout=20)
            assert op == W.OP_BINARY and data == payload, (op, len(data))
            f = c.read_frame(timeout=10)
            assert f.opcode == W.OP_CLOSE and f.code == 1000, f
            assert c.read_until_eof(timeout=10) == b""
    finally:
        d.kill()


def test_dead_peer_closed_after_pong_timeout():
    """A client that never answers pings is closed 1001 ("no pong") about
    ping_interval + pong_timeout after it went silent, long before the
    idle timeout."""
    d = W.start(limits={"ping_interval": 1, "pong_timeout": 1,
                        "idle_timeout": 60, "close_timeout": 1})
    try:
        with W.raw_ws(d.port) as c:
            t0 = time.monotonic()
            f = c.read_frame(timeout=5)
            assert f.opcode == W.OP_PING, f
            # Say nothing: no pong, no data.
            f = c.read_frame(timeout=5)
            dt = time.monotonic() - t0
            assert f.opcode == W.OP_CLOSE, f
            assert f.code == 1001 and f.reason == b"no pong", (f.code,
                                                                f.reason)
            assert 1.5 < dt < W.T(4), "closed after %.1fs" % dt
        d.wait_log(r"no pong within 1000 ms", timeout=2)
    finally:
        d.kill()


def test_live_peer_kept_by_pongs():
    """A client that answers pings (python3-websockets does) stays open
    well past ping_interval + pong_timeout."""
    d = W.start(limits={"ping_interval": 1, "pong_timeout": 1,
                        "idle_timeout": 60})

    async def go():
        import asyncio
        async with W.ws_connect(d.port) as ws:
            await asyncio.sleep(4)
            await W.echo(ws, "still here")
    try:
        W.arun(go())
        assert d.find_log(r"no pong") is None
    finally:
        d.kill()


def test_pong_timeout_zero_keeps_silent_peer():
    """pong_timeout = 0: pings need no answer (the idle timeout still
    applies)."""
    d = W.start(limits={"ping_interval": 1, "pong_timeout": 0,
                        "idle_timeout": 60})
    try:
        with W.raw_ws(d.port) as c:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 3.5:
                f = c.read_frame(timeout=5)
                assert f.opcode == W.OP_PING, f
            c.send_text(b"hi")
            op, data = c.read_message(timeout=5)
            assert data == b"hi"
    finally:
        d.kill()


TESTS = [
    test_slow_static_download_is_complete,
    test_stalled_static_download_is_dropped,
    test_request_then_shutdown_gets_whole_response,
    test_close_then_shutdown_gets_echo_and_close,
    test_dead_peer_closed_after_pong_timeout,
    test_live_peer_kept_by_pongs,
    test_pong_timeout_zero_keeps_silent_peer,
]

if __name__ == "__main__":
    W.run(TESTS)
