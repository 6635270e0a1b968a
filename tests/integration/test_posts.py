"""wsd_post() from a plugin's own thread (tests/plugins/poster.c),
natively: in every build, the sanitizer one (make distcheck) included.
test_threads.py runs the same scenarios under helgrind, which cannot run
an ASan build."""

import asyncio
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402


def poster_config(period_ms=2):
    return W.write_config(
        plugin_dir=W.TEST_PLUGIN_DIR, log_level="info",
        routes=[W.route("/poster", plugin="poster",
                        settings={"period_ms": period_ms})])


def post_from_thread(d, wait=10, min_ticks=10):
    """Three clients get the ticks the plugin's thread posts, in order."""
    async def client(k):
        async with W.ws_connect(d.port, "/poster", open_timeout=W.T(wait),
                                close_timeout=W.T(wait)) as ws:
            first = await W.recv(ws, wait)
            assert first == "poster", "client %d: first %r" % (k, first)
            seqs = []
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                try:
                    m = await asyncio.wait_for(
                        ws.recv(), deadline - time.monotonic())
                except asyncio.TimeoutError:
                    break
                mm = re.match(r"^tick (\d+)$", m)
                assert mm, "client %d: %r" % (k, m)
                seqs.append(int(mm.group(1)))
            return seqs

    async def go():
        return await asyncio.gather(*[client(k) for k in range(3)])
    res = W.arun(go(), timeout=3 * wait)
    for k, seqs in enumerate(res):
        assert len(seqs) >= min_ticks, "client %d: only %d ticks in 3 s" % (
            k, len(seqs))
        # posts run in order and every tick goes to every client
        for a, b in zip(seqs, seqs[1:]):
            assert b == a + 1, "client %d: tick %d after %d" % (k, b, a)
    print("    ticks per client: %s" % [len(s) for s in res])


def reload_retires_posting_routes(d, wait=10):
    """SIGHUP replaces the poster route: the old instance's fini stops
    and joins its thread while the loop runs (at once when it has no
    client, or when its last client leaves), with posts in flight."""
    async def ticks(ws, n, k):
        last = None
        for _ in range(n):
            m = await W.recv(ws, wait)
            mm = re.match(r"^tick (\d+)$", m)
            assert mm, "client %s: %r" % (k, m)
            v = int(mm.group(1))
            assert last is None or v == last + 1, \
                "client %s: tick %d after %d" % (k, v, last)
            last = v

    async def connect():
        ws = await W.ws_connect(d.port, "/poster", open_timeout=W.T(wait),
                                close_timeout=W.T(wait))
        assert await W.recv(ws, wait) == "poster"
        return ws

    def reload():
        mark = d.mark()
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reloaded: 1 route", wait, mark)

    async def go():
        loop = asyncio.get_running_loop()
        for cycle in range(3):
            # no client at the reload: the old route goes at once
            ws = await connect()
            await ticks(ws, 20, cycle)
            await ws.close()
            await loop.run_in_executor(None, reload)
        # a client across the reload keeps its (old) route's ticks;
        # the old route goes when it leaves
        old = await connect()
        await ticks(old, 20, "old")
        await loop.run_in_executor(None, reload)
        new = await connect()
        await ticks(new, 20, "new")
        await ticks(old, 20, "old after reload")
        await old.close()
        await ticks(new, 20, "new")
        await new.close()
    W.arun(go(), timeout=5 * wait)


def test_post_from_thread():
    d = W.start_daemon(poster_config())
    try:
        post_from_thread(d)
        assert d.stop() == 0
    finally:
        d.kill()


def test_reload_retires_posting_routes():
    d = W.start_daemon(poster_config())
    try:
        reload_retires_posting_routes(d)
        assert d.stop() == 0
    finally:
        d.kill()


def test_reload_retires_posting_routes_fast_posts():
    """The same with the thread posting every millisecond, so that posts
    are queued for the old route while it retires; many reloads."""
    d = W.start_daemon(poster_config(period_ms=1))
    try:
        for _ in range(3):
            reload_retires_posting_routes(d)
        assert d.stop() == 0
    finally:
        d.kill()


TESTS = [
    test_post_from_thread,
    test_reload_retires_posting_routes,
    test_reload_retires_posting_routes_fast_posts,
]

if __name__ == "__main__":
    W.run(TESTS)
