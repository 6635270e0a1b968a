"""Tornado parity (ABI 1.4), through the parity test plugin
(tests/plugins/parity.c) and real python3-websockets clients: ping/pong
callbacks with the round trip, broadcast_except, wsd_send_text, a
connection looked up by id after it closed, asynchronous handshakes
(accepted, refused, timed out, abandoned, decided by a thread), and host
calls from a plugin's own thread refused and logged, natively and under
helgrind."""

import asyncio
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402
import test_threads as TH  # noqa: E402


def config(handshake_timeout=10, workers=None):
    extra = {"workers": workers} if workers else None
    return W.write_config(
        plugin_dir=W.TEST_PLUGIN_DIR, log_level="debug",
        limits={"handshake_timeout": handshake_timeout},
        routes=[W.route("/p", plugin="parity")], extra=extra)


def opened_id(msg):
    m = re.match(r"open (\d+)$", msg)
    assert m, msg
    return int(m.group(1))


# ================================================================ ping/pong

def test_client_ping_reaches_on_ping():
    """A client's Ping is answered by wsd and reported to `ping`."""
    d = W.start_daemon(config())
    try:
        async def go():
            async with W.ws_connect(d.port, "/p") as ws:
                opened_id(await W.recv(ws))
                waiter = await ws.ping(b"hello")
                await asyncio.wait_for(waiter, W.T(10))
                assert await W.recv(ws) == "ping hello"
        W.arun(go())
    finally:
        d.kill()


def test_plugin_ping_and_pong_rtt():
    """wsd_ping() sends a Ping; the client's Pong reaches `pong` with the
    payload and a round-trip time; an unsolicited Pong has rtt -1."""
    d = W.start_daemon(config())
    try:
        with W.raw_ws(d.port, "/p") as c:
            assert opened_id(c.read_message()[1].decode())
            c.send_text("ping:abc")
            f = c.read_frame()
            assert f.opcode == 0x9 and f.payload == b"abc", f
            assert c.read_message()[1] == b"pinged"
            time.sleep(0.05)
            c.send_frame(0xA, b"abc")
            m = re.match(rb"pong abc rtt=(\d+)$", c.read_message()[1])
            assert m, m
            rtt = int(m.group(1))
            # the client waited 50 ms before answering
            assert rtt >= 50000, rtt
            c.send_frame(0xA, b"nobody asked")
            assert c.read_message()[1] == b"pong nobody asked rtt=-1"
            # a payload over 125 bytes is refused
            c.send_text("ping:" + "x" * 126)
            assert c.read_message()[1] == b"ping failed"
    finally:
        d.kill()


# ================================================================ sends

def test_broadcast_except_skips_the_sender():
    d = W.start_daemon(config())
    try:
        async def go():
            conns = [await W.ws_connect(d.port, "/p").__aenter__()
                     for _ in range(3)]
            try:
                for ws in conns:
                    opened_id(await W.recv(ws))
                await conns[0].send("bcx:hi all")
                assert await W.recv(conns[0]) == "bcx 2"
                for ws in conns[1:]:
                    assert await W.recv(ws) == "hi all"
                # the sender got nothing but its answer
                await conns[0].send("text:only me")
                assert await W.recv(conns[0]) == "only me"
            finally:
                for ws in conns:
                    await ws.close()
        W.arun(go())
    finally:
        d.kill()


def test_conn_find_after_close_is_null():
    """A timer looks a connection up by id after it closed: NULL (under
    ASan a kept pointer would be a use after free), and it still finds
    one that is open."""
    d = W.start_daemon(config())
    try:
        async def go():
            async with W.ws_connect(d.port, "/p") as a:
                ida = opened_id(await W.recv(a))
                b = await W.ws_connect(d.port, "/p").__aenter__()
                idb = opened_id(await W.recv(b))
                await a.send("later:%d:300" % idb)
                await a.send("later:%d:300" % ida)
                await b.close()
                got = {await W.recv(a), await W.recv(a)}
                assert got == {"later %d gone" % idb,
                               "later %d found" % ida}, got
        W.arun(go())
    finally:
        d.kill()


# ================================================================ async handshake

def test_async_handshake_accepted_later():
    """The hook answers pending; a timer accepts 200 ms later, picking
    the subprotocol the client offered."""
    d = W.start_daemon(config())
    try:
        async def go():
            t0 = time.monotonic()
            async with W.ws_connect(d.port, "/p?hs=accept:200",
                                    subprotocols=["chat"]) as ws:
                assert time.monotonic() - t0 >= 0.2
                assert ws.subprotocol == "chat"
                opened_id(await W.recv(ws))
                await ws.send("text:works")
                assert await W.recv(ws) == "works"
        W.arun(go())
        d.wait_log(r"parity: close \d+ 1000")
    finally:
        d.kill()


def test_async_handshake_refused_later():
    d = W.start_daemon(config())
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request("/p?hs=refuse:100"))
            r = c.read_response()
            assert r.status == 403, r
        d.wait_log(r"refused by parity with 403")
        # refused: the plugin frees its data itself, close does not run
        assert not d.find_log(r"parity: close")
    finally:
        d.kill()


def test_async_handshake_decided_by_a_thread():
    """A thread of the plugin decides, through wsd_post()."""
    d = W.start_daemon(config())
    try:
        async def go():
            async with W.ws_connect(d.port, "/p?hs=thread:100") as ws:
                opened_id(await W.recv(ws))
        W.arun(go())
    finally:
        d.kill()


def test_async_handshake_times_out():
    """Never decided: the handshake timeout answers 503 and the plugin
    hears close (1006), so it frees what it attached."""
    d = W.start_daemon(config(handshake_timeout=1))
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request("/p?hs=never"))
            r = c.read_response(timeout=W.T(10))
            assert r.status == 503, r
        d.wait_log(r"did not decide on the handshake within")
        d.wait_log(r"parity: close \d+ 1006")
    finally:
        d.kill()


def test_async_handshake_abandoned_by_client():
    """The client leaves while the plugin decides: close (1006) runs at
    once, and the later decision finds the connection gone."""
    d = W.start_daemon(config())
    try:
        s = socket.create_connection(("127.0.0.1", d.port))
        key = W.new_key()
        s.sendall(("GET /p?hs=accept:500 HTTP/1.1\r\nHost: x\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
        time.sleep(0.1)
        s.close()
        d.wait_log(r"left while its handshake waited")
        d.wait_log(r"parity: close \d+ 1006")
        d.wait_log(r"parity: decide \d+: gone")
        # and the daemon still serves
        W.arun(_open_once(d.port))
    finally:
        d.kill()


async def _open_once(port):
    async with W.ws_connect(port, "/p") as ws:
        opened_id(await W.recv(ws))


# ================================================================ threads

def thread_refused(d, wait=10):
    async def go():
        async with W.ws_connect(d.port, "/p", open_timeout=W.T(wait),
                                close_timeout=W.T(wait)) as ws:
            opened_id(await W.recv(ws, wait))
            await ws.send("thread")
            return await W.recv(ws, wait)
    got = W.arun(go(), timeout=3 * wait)
    # both calls refused: nothing broadcast, the send dropped
    assert got == "thread bcast=0 send=-1", got
    d.wait_log(r"plugin parity \(\S+/parity\.so\) called wsd_\w+\(\) from "
               r"its own thread, not wsd's event loop: refused",
               timeout=wait)
    # the thread's own log line reached the log through the loop
    d.wait_log(r"/p: parity: thread \d+ says hello", timeout=wait)


def test_host_call_from_thread_refused():
    d = W.start_daemon(config())
    try:
        thread_refused(d)
        assert d.stop() == 0
    finally:
        d.kill()


def test_host_call_from_thread_refused_under_helgrind():
    d = TH.run_under_helgrind(config())
    try:
        thread_refused(d, wait=60)
        TH.check_helgrind(d)
    finally:
        d.kill()


TESTS = [
    test_client_ping_reaches_on_ping,
    test_plugin_ping_and_pong_rtt,
    test_broadcast_except_skips_the_sender,
    test_conn_find_after_close_is_null,
    test_async_handshake_accepted_later,
    test_async_handshake_refused_later,
    test_async_handshake_decided_by_a_thread,
    test_async_handshake_times_out,
    test_async_handshake_abandoned_by_client,
    test_host_call_from_thread_refused,
]


def _sanitized():
    with open(W.WSD, "rb") as f:
        return b"__asan_init" in f.read()


# valgrind cannot run an ASan build: there (make distcheck) the native
# case above is the check, as for test_threads.py.
if not _sanitized():
    TESTS.append(test_host_call_from_thread_refused_under_helgrind)

if __name__ == "__main__":
    W.run(TESTS)
