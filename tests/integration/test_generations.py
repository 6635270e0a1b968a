"""Route lifecycle: when an old generation's fini runs, and timer
handles (tests/plugins/lifecycle.c, the bundled clock)."""

import asyncio
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402


def life_route(tag, path="/life"):
    return W.route(path, plugin="lifecycle", settings={"tag": tag})


def life_config(directory, tag, log_level="info"):
    return W.write_config(directory=directory, plugin_dir=W.TEST_PLUGIN_DIR,
                          log_level=log_level, routes=[life_route(tag)])


async def cmd(ws, text, timeout=10):
    await ws.send(text)
    return await W.recv(ws, timeout)


def reload(d):
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"reloaded: \d+ route", 10, mark)


def test_fini_when_last_old_client_leaves():
    """A reload retires the old instance only once its last client has
    gone: fini has not run while the client stays, and runs when it
    leaves."""
    top = W.tmpdir()
    conf = life_config(top, "one")
    d = W.start_daemon(conf)
    try:
        async def go():
            loop = asyncio.get_running_loop()
            ws = await W.ws_connect(d.port, "/life")
            assert await cmd(ws, "hello") == "unknown"
            life_config(top, "two")
            await loop.run_in_executor(None, reload, d)
            assert d.find_log(r"worker \d+: /life: lifecycle init tag=two\b"), d.tail()
            # the old client still talks to the old instance
            await asyncio.sleep(W.T(0.3))
            assert await cmd(ws, "still?") == "unknown"
            assert not d.find_log(r"worker \d+: /life: lifecycle fini tag=one\b"), \
                "fini ran while a client of the old route was connected"
            mark = d.mark()
            await ws.close()
            await loop.run_in_executor(
                None, d.wait_log, r"worker \d+: /life: lifecycle fini tag=one\b", 10, mark)
            assert not d.find_log(r"worker \d+: /life: lifecycle fini tag=two\b")
        W.arun(go())
        assert d.stop() == 0
        assert d.find_log(r"worker \d+: /life: lifecycle fini tag=two\b")
    finally:
        d.kill()


def test_fini_at_once_without_clients():
    """With no client on the old route, fini runs during the reload."""
    top = W.tmpdir()
    conf = life_config(top, "one")
    d = W.start_daemon(conf)
    try:
        life_config(top, "two")
        reload(d)
        d.wait_log(r"worker \d+: /life: lifecycle fini tag=one\b", 5)
        assert d.stop() == 0
    finally:
        d.kill()


def test_cancel_after_one_shot_fired():
    """A one-shot timer's handle stays valid after it fired: cancelling
    it then is harmless (it was a use-after-free)."""
    d = W.start_daemon(life_config(W.tmpdir(), "t"))
    try:
        async def go():
            async with W.ws_connect(d.port, "/life") as ws:
                for _ in range(3):
                    assert await cmd(ws, "oneshot:5") == "armed"
                    assert await W.recv(ws) == "fired"
                    assert await cmd(ws, "cancel") == "cancelled"
                # and one cancelled before it fires never fires
                assert await cmd(ws, "oneshot:200") == "armed"
                assert await cmd(ws, "cancel") == "cancelled"
                try:
                    m = await asyncio.wait_for(ws.recv(), W.T(0.5))
                    raise AssertionError("got %r after cancel" % m)
                except asyncio.TimeoutError:
                    pass
                assert await cmd(ws, "hello") == "unknown"
        W.arun(go())
        assert d.stop() == 0
    finally:
        d.kill()


TIMERS_LEFT_RE = r"route %s: (\d+) timer\(s\) left at fini"


def timers_left(d, path):
    m = d.wait_log(TIMERS_LEFT_RE % re.escape(path), 10)
    return int(m.group(1))


def test_rearmed_one_shots_do_not_pile_up():
    """64 chains of 1 ms one-shot timers, each re-armed from its own
    callback for 2 s: a plugin that cancels the fired handle leaves no
    timer behind, whatever the number of fires."""
    d = W.start_daemon(life_config(W.tmpdir(), "t", log_level="debug"))
    try:
        async def go():
            async with W.ws_connect(d.port, "/life") as ws:
                assert await cmd(ws, "churn:64") == "churning"
                await asyncio.sleep(2)
                m = re.match(r"stopped (\d+)$", await cmd(ws, "stop"))
                assert m, m
                return int(m.group(1))
        fires = W.arun(go())
        assert fires > 1000, "only %d fires" % fires
        assert d.stop() == 0
        left = timers_left(d, "/life")
        print("    %d fires, %d timer(s) left at fini" % (fires, left))
        # at most the chains still in flight when "stop" arrived
        assert left <= 64, "%d timers kept after %d fires" % (left, fires)
    finally:
        d.kill()


def test_abi_10_plugin_one_shots_free_themselves():
    """A plugin of ABI 1.0 (when fired one-shot timers freed themselves)
    re-arms without cancelling: its timers still do not pile up."""
    conf = W.write_config(
        plugin_dir=W.TEST_PLUGIN_DIR, log_level="debug",
        routes=[W.route("/life", plugin="lifecycle10",
                        settings={"tag": "v10"})])
    d = W.start_daemon(conf)
    try:
        async def go():
            async with W.ws_connect(d.port, "/life") as ws:
                assert await cmd(ws, "churn:64") == "churning"
                await asyncio.sleep(1)
                m = re.match(r"stopped (\d+)$", await cmd(ws, "stop"))
                assert m, m
                return int(m.group(1))
        fires = W.arun(go())
        assert fires > 500, "only %d fires" % fires
        assert d.stop() == 0
        left = timers_left(d, "/life")
        assert left <= 64, "%d timers kept after %d fires" % (left, fires)
    finally:
        d.kill()


def test_clock_keeps_one_timer():
    """The clock re-arms a one-shot timer every tick; it lets the fired
    one go, so however long it runs it holds one timer."""
    conf = W.write_config(log_level="debug", routes=[
        W.route("/clock", plugin="clock", settings={"interval_ms": 10})])
    d = W.start_daemon(conf)
    try:
        async def go():
            async with W.ws_connect(d.port, "/clock") as ws:
                n = 0
                while n < 100:
                    await W.recv(ws)
                    n += 1
        W.arun(go())
        assert d.stop() == 0
        left = timers_left(d, "/clock")
        assert left <= 1, "the clock kept %d timers" % left
    finally:
        d.kill()


TESTS = [
    test_fini_when_last_old_client_leaves,
    test_fini_at_once_without_clients,
    test_cancel_after_one_shot_fired,
    test_rearmed_one_shots_do_not_pile_up,
    test_abi_10_plugin_one_shots_free_themselves,
    test_clock_keeps_one_timer,
]

if __name__ == "__main__":
    W.run(TESTS)
