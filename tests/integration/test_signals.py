"""SIGTERM/SIGINT shutdown and SIGHUP reload."""

import asyncio
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402


def shutdown_with(sig):
    d = W.start()
    try:
        async def go():
            clients = [await W.ws_connect(d.port) for _ in range(3)]
            try:
                for i, ws in enumerate(clients):
                    await W.echo(ws, "before %d" % i)
                d.send_signal(sig)
                for ws in clients:
                    await asyncio.wait_for(ws.wait_closed(), W.T(10))
                return [ws.close_code for ws in clients]
            finally:
                for ws in clients:
                    await ws.close()
        codes = W.arun(go())
        assert codes == [1001] * 3, "close codes %r" % codes
        rc = d.wait_exit(10)
        assert rc == 0, "exit code %s" % rc
    finally:
        d.kill()


def test_sigterm_closes_clients_1001():
    shutdown_with(signal.SIGTERM)


def test_sigint_closes_clients_1001():
    shutdown_with(signal.SIGINT)


def test_sigterm_idle_exit_0():
    d = W.start()
    try:
        assert d.stop(signal.SIGTERM) == 0
    finally:
        d.kill()


def test_sigterm_with_unresponsive_client():
    """A raw client that never answers the close: wsd still exits, after
    about close_timeout."""
    d = W.start(limits={"close_timeout": 1})
    try:
        with W.raw_ws(d.port) as c:
            c.send_text("hi")
            assert c.read_message() == (W.OP_TEXT, b"hi")
            t0 = time.monotonic()
            d.send_signal(signal.SIGTERM)
            f = c.read_frame(W.T(10))
            assert f.opcode == W.OP_CLOSE and f.code == 1001, f
            rc = d.wait_exit(10)
            assert rc == 0, rc
            print("    exited %.2fs after SIGTERM" % (time.monotonic() - t0))
            c.read_until_eof(5)
    finally:
        d.kill()


def wait_route(port, path, timeout=10):
    """Poll until a handshake on path succeeds (a reload took effect)."""
    deadline = time.monotonic() + W.T(timeout)
    last = None
    while time.monotonic() < deadline:
        with W.RawClient(port) as c:
            r = c.handshake(path, expect=None)
            if r.status == 101:
                return
            last = r.status
        time.sleep(0.1)
    raise AssertionError("%s not served after reload (last status %s)"
                         % (path, last))


def wait_gone(port, path, timeout=10):
    deadline = time.monotonic() + W.T(timeout)
    while time.monotonic() < deadline:
        with W.RawClient(port) as c:
            r = c.handshake(path, expect=None)
            if r.status == 404:
                return
        time.sleep(0.1)
    raise AssertionError("%s still served after reload" % path)


def test_sighup_adds_route():
    conf = W.write_config()
    d = W.start_daemon(conf)
    try:
        async def go():
            async with W.ws_connect(d.port) as old:
                await W.echo(old, "before reload")
                W.write_config(directory=os.path.dirname(conf), routes=[
                    W.route("/echo"), W.route("/echo2")])
                d.send_signal(signal.SIGHUP)
                await asyncio.get_running_loop().run_in_executor(
                    None, wait_route, d.port, "/echo2")
                await W.echo(old, "after reload")
                async with W.ws_connect(d.port, "/echo2") as new2:
                    await W.echo(new2, "on echo2")
                async with W.ws_connect(d.port, "/echo") as new1:
                    await W.echo(new1, "on echo")
                await W.echo(old, "old still fine")
                await old.close(1000)
                assert old.close_code == 1000
        W.arun(go())
        assert d.alive()
        assert d.stop() == 0
    finally:
        d.kill()


def test_sighup_invalid_config_keeps_running():
    conf = W.write_config()
    d = W.start_daemon(conf)
    try:
        async def go():
            async with W.ws_connect(d.port) as old:
                await W.echo(old, "before")
                good = open(conf).read()
                W.write_file(conf, good + "\n\nbroken = ( { ;\n")
                bad_line = W.line_of(conf, "broken")
                mark = d.mark()
                d.send_signal(signal.SIGHUP)
                m = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: d.wait_log(
                        re.escape(conf) + r":%d\b" % bad_line, 10, mark))
                assert m
                assert d.alive()
                await W.echo(old, "after failed reload")
                async with W.ws_connect(d.port) as new:
                    await W.echo(new, "new after failed reload")
                # a later good reload still works
                W.write_config(directory=os.path.dirname(conf), routes=[
                    W.route("/echo"), W.route("/echo3")])
                d.send_signal(signal.SIGHUP)
                await asyncio.get_running_loop().run_in_executor(
                    None, wait_route, d.port, "/echo3")
                await W.echo(old, "after good reload")
        W.arun(go())
        assert d.stop() == 0
    finally:
        d.kill()


def test_sighup_removes_route():
    """A reload that drops a route: no new connections to it, but the
    open ones keep working until they close."""
    d0 = W.tmpdir()
    conf = W.write_config(directory=d0, routes=[W.route("/echo"),
                                                W.route("/echo2")])
    d = W.start_daemon(conf)
    try:
        async def go():
            async with W.ws_connect(d.port, "/echo2") as old:
                await W.echo(old, "before")
                W.write_config(directory=d0, routes=[W.route("/echo")])
                d.send_signal(signal.SIGHUP)
                await asyncio.get_running_loop().run_in_executor(
                    None, wait_gone, d.port, "/echo2")
                await W.echo(old, "route dropped, connection kept")
        W.arun(go())
        W.echo_ok(d.port, "/echo")
        assert d.stop() == 0
    finally:
        d.kill()


def test_sigusr1_reopens_logs_of_old_generations():
    """SIGUSR1 reaches every live configuration: a client still on the
    routes of the configuration before a reload logs into the new file
    after logrotate renamed the old one."""
    top = W.tmpdir()
    log = os.path.join(top, "echo.log")
    conf = W.write_config(directory=top, routes=[
        W.route("/echo", settings={"log": log})])
    d = W.start_daemon(conf)
    try:
        async def go():
            loop = asyncio.get_running_loop()
            async with W.ws_connect(d.port) as old:
                await W.echo(old, "gen1-before")
                # generation 2: same log file, one more route
                W.write_config(directory=top, routes=[
                    W.route("/echo", settings={"log": log}),
                    W.route("/echo2", settings={"log": log})])
                mark = d.mark()
                d.send_signal(signal.SIGHUP)
                await loop.run_in_executor(
                    None, d.wait_log, r"reloaded: 2 route", 10, mark)
                os.rename(log, log + ".1")
                mark = d.mark()
                d.send_signal(signal.SIGUSR1)
                # every reopen runs in the one signal callback
                await loop.run_in_executor(
                    None, d.wait_log, r"echo-logger: reopened", 10, mark)
                await W.echo(old, "gen1-after-rotate")
        W.arun(go())
        with open(log) as f:
            fresh = f.read()
        with open(log + ".1") as f:
            rotated = f.read()
        assert "gen1-before" in rotated, rotated
        assert "gen1-after-rotate" in fresh, \
            "old generation still logs into the rotated file:\n%s" % rotated
        assert d.stop() == 0
    finally:
        d.kill()


def reload_and_wait(d, conf, **kw):
    """Rewrite conf from make_config(**kw), SIGHUP, wait for 'reloaded'."""
    W.write_config(directory=os.path.dirname(conf), **kw)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"reloaded: ", 10, mark)


def fill_to_503(port, n):
    """Open n WebSocket connections, each accepted; the next gets 503.
    Returns the n open clients."""
    clients = []
    try:
        for i in range(n):
            clients.append(W.raw_ws(port))
        with W.RawClient(port) as c:
            c.send(c.upgrade_request())
            W.expect_http_error(c, 503, timeout=5)
    except BaseException:
        for c in clients:
            c.close()
        raise
    return clients


def test_sighup_applies_max_connections():
    """max_connections is re-read on reload, lowered and raised: with 10
    at start and 3 after SIGHUP, the 4th connection gets 503; after a
    reload to 5, two more fit and the 6th gets 503."""
    conf = W.write_config(limits={"max_connections": 10})
    d = W.start_daemon(conf)
    clients = []
    try:
        reload_and_wait(d, conf, limits={"max_connections": 3})
        clients += fill_to_503(d.port, 3)
        reload_and_wait(d, conf, limits={"max_connections": 5})
        clients += fill_to_503(d.port, 2)
        for i, c in enumerate(clients):
            c.send_text("still %d" % i)
            assert c.read_message() == (W.OP_TEXT, b"still %d" % i)
        for c in clients:
            c.close()
        assert d.stop() == 0
    finally:
        for c in clients:
            c.close()
        d.kill()


TESTS = [
    test_sigterm_closes_clients_1001,
    test_sigint_closes_clients_1001,
    test_sigterm_idle_exit_0,
    test_sigterm_with_unresponsive_client,
    test_sighup_adds_route,
    test_sighup_invalid_config_keeps_running,
    test_sighup_removes_route,
    test_sigusr1_reopens_logs_of_old_generations,
    test_sighup_applies_max_connections,
]

if __name__ == "__main__":
    W.run(TESTS)
