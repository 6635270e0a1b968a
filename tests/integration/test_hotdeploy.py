"""Hot deploy and per-route retirement (tests/plugins/hotdeploy.c): a
plugin file replaced by a rename loads as a new copy on SIGHUP while open
connections finish on the old one, which is then unloaded; a broken new
version is refused; a reload retires each old route instance on its own
and keeps the instance of a route that did not change; wsd -t warns about
a plugin that cannot be unloaded."""

import asyncio
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402


def build(name):
    """The path of a build of the hotdeploy plugin (a, b, initfail...)."""
    return os.path.join(W.TEST_PLUGIN_DIR, "hotdeploy_%s.so" % name)


def install(plugdir, name, as_name="hot"):
    """Install build name as plugdir/as_name.so the way dpkg does: write a
    new file beside it and rename it over the old one (a new inode)."""
    dst = os.path.join(plugdir, as_name + ".so")
    tmp = dst + ".new"
    shutil.copyfile(build(name), tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dst)
    st = os.stat(dst)
    return (st.st_dev, st.st_ino)


def hd(path, what):
    """A regex for the hotdeploy plugin's line `what` on route path,
    logged by a worker (not by the configuration check)."""
    return r"worker \d+: %s: hotdeploy %s" % (path, what)


def hot_route(path="/hot", plugin="hot", **settings):
    return W.route(path, plugin=plugin, settings=settings)


def config(top, plugdir, routes, limits=None, extra=None):
    ex = {"workers": 1}
    ex.update(extra or {})
    return W.write_config(directory=top, plugin_dir=plugdir,
                          log_level="debug", routes=routes, limits=limits,
                          extra=ex)


def reload(d):
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    m = d.wait_log(r"reloaded: \d+ route|reload failed", 15, mark)
    return mark, m.group(0)


def mapping_of(pid, path):
    """The (device, inode) that /proc/pid/maps shows for the mapping of
    the file now at path (maps' own numbers: on overlayfs they are not
    what stat() says)."""
    path = os.path.realpath(path)
    found = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].rstrip("\n") == path:
                found.add((parts[3], parts[4]))
    assert len(found) == 1, (path, found)
    return found.pop()


def mapped(pid, ident):
    """Whether /proc/pid/maps still maps the mapping_of() ident."""
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and (parts[3], parts[4]) == ident:
                return True
    return False


def wait_unmapped(pid, ident, timeout=5):
    deadline = time.monotonic() + W.T(timeout)
    while mapped(pid, ident):
        if time.monotonic() > deadline:
            raise AssertionError("%r still mapped in %d" % (ident, pid))
        time.sleep(0.05)


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


async def cmd(ws, text, timeout=10):
    await ws.send(text)
    return await W.recv(ws, timeout)


def worker(d):
    pids = d.worker_pids(1)
    assert len(pids) == 1, d.tail()
    return pids[0]


def test_hot_upgrade():
    """A serves a connection; B is renamed over it and wsd reloaded: the
    old connection still answers as A, a new one as B; A's fini runs when
    its last connection closes and A's mapping leaves the worker.  Broken
    versions (init fails; a missing symbol) are refused and B serves
    on."""
    top = W.tmpdir()
    plugdir = os.path.join(top, "plugins")
    os.mkdir(plugdir)
    id_a = install(plugdir, "a")
    conf = config(top, plugdir, [hot_route(tag="t")])
    d = W.start_daemon(conf)
    try:
        pid = worker(d)

        async def go():
            loop = asyncio.get_running_loop()
            ws_a = await W.ws_connect(d.port, "/hot")
            assert await cmd(ws_a, "version") == "A"
            assert await cmd(ws_a, "count") == "count 1"
            hot = os.path.join(plugdir, "hot.so")
            map_a = mapping_of(pid, hot)

            id_b = install(plugdir, "b")
            assert id_b != id_a
            mark, what = await loop.run_in_executor(None, reload, d)
            assert what.startswith("reloaded"), d.tail()
            assert d.find_log(hd("/hot", r"init version=B tag=t"),
                              mark), d.tail()
            assert d.find_log(r"route /hot: plugin hot \(.*hot\.so\) "
                              r"changed on disk", mark), d.tail()
            # open connections finish on the old copy, new ones get B
            assert await cmd(ws_a, "version") == "A"
            assert await cmd(ws_a, "count") == "count 2"
            ws_b = await W.ws_connect(d.port, "/hot")
            assert await cmd(ws_b, "version") == "B"
            assert await cmd(ws_b, "count") == "count 1"
            map_b = mapping_of(pid, hot)
            assert map_b != map_a
            assert mapped(pid, map_a) and mapped(pid, map_b)
            assert not d.find_log(hd("/hot", r"fini version=A"), mark), \
                "A retired while its client was connected"

            mark = d.mark()
            await ws_a.close()
            await loop.run_in_executor(
                None, d.wait_log,
                hd("/hot", r"fini version=A tag=t count=2"),
                10, mark)
            await loop.run_in_executor(None, wait_unmapped, pid, map_a)
            assert mapped(pid, map_b)
            assert not d.find_log(r"cannot be unloaded", mark)

            # broken new versions are refused, B keeps serving
            for bad, why in (("initfail", r"refused to start"),
                             ("undef", r"cannot load plugin: .*"
                                       r"hotdeploy_missing_symbol")):
                install(plugdir, bad)
                mark, what = await loop.run_in_executor(None, reload, d)
                assert what == "reload failed", d.tail()
                assert d.find_log(r"route /hot: plugin hot[ :].*%s" % why,
                                  mark), d.tail()
                ws = await W.ws_connect(d.port, "/hot")
                assert await cmd(ws, "version") == "B"
                await ws.close()
                assert await cmd(ws_b, "version") == "B"
            assert not d.find_log(hd("/hot", r"fini version=B"), mark)
            assert not d.find_log(hd("/hot", r"init version=C"))
            await ws_b.close()
        W.arun(go())
        assert d.stop() == 0
        assert d.find_log(hd("/hot", r"fini version=B tag=t"))
        assert d.sanitizer_report() is None, d.sanitizer_report()
    finally:
        d.kill()


def test_changed_in_place_refused():
    """A plugin file changed in place (same inode, here only a new
    mtime, which is safe to do to a mapped file) cannot load as a second
    copy: the worker refuses the reload, says how to install instead,
    and the loaded copy serves on; renamed, the same bytes load."""
    top = W.tmpdir()
    plugdir = os.path.join(top, "plugins")
    os.mkdir(plugdir)
    id_a = install(plugdir, "a")
    conf = config(top, plugdir, [hot_route(tag="t")])
    d = W.start_daemon(conf)
    try:
        async def go():
            loop = asyncio.get_running_loop()
            ws = await W.ws_connect(d.port, "/hot")
            assert await cmd(ws, "count") == "count 1"
            path = os.path.join(plugdir, "hot.so")
            st = os.stat(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
            assert os.stat(path).st_ino == id_a[1]
            mark, what = await loop.run_in_executor(None, reload, d)
            await loop.run_in_executor(
                None, d.wait_log, r"reload failed in 1 worker", 10, mark)
            assert d.find_log(r"worker \d+: .*route /hot: plugin hot: "
                              r".*hot\.so: cannot load the new version: "
                              r"the file changed in place.*renaming a new "
                              r"file over the old one", mark), d.tail()
            assert await cmd(ws, "count") == "count 2"
            ws2 = await W.ws_connect(d.port, "/hot")
            assert await cmd(ws2, "count") == "count 3"
            # the cure: a rename (the same build, a new inode)
            install(plugdir, "a")
            mark, what = await loop.run_in_executor(None, reload, d)
            assert what.startswith("reloaded"), d.tail()
            ws3 = await W.ws_connect(d.port, "/hot")
            assert await cmd(ws3, "count") == "count 1"
            assert await cmd(ws, "count") == "count 4"
            for w in (ws, ws2, ws3):
                await w.close()
        W.arun(go())
        assert d.stop() == 0
        assert d.sanitizer_report() is None, d.sanitizer_report()
    finally:
        d.kill()


def test_retire_per_route():
    """After a reload that changes both routes, old /x (no client) runs
    fini at once while old /y still has a client; old /y's fini waits for
    that client."""
    top = W.tmpdir()
    plugdir = os.path.join(top, "plugins")
    os.mkdir(plugdir)
    install(plugdir, "a")
    config(top, plugdir, [hot_route("/x", tag="x1"),
                          hot_route("/y", tag="y1")])
    d = W.start_daemon(os.path.join(top, "wsd.conf"))
    try:
        async def go():
            loop = asyncio.get_running_loop()
            wy = await W.ws_connect(d.port, "/y")
            assert await cmd(wy, "count") == "count 1"
            config(top, plugdir, [hot_route("/x", tag="x2"),
                                  hot_route("/y", tag="y2")])
            mark, what = await loop.run_in_executor(None, reload, d)
            assert what.startswith("reloaded"), d.tail()
            await loop.run_in_executor(
                None, d.wait_log, hd("/x", r"fini version=A tag=x1"),
                10, mark)
            assert await cmd(wy, "count") == "count 2"
            assert not d.find_log(hd("/y", r"fini version=A tag=y1"), mark)
            mark = d.mark()
            await wy.close()
            await loop.run_in_executor(
                None, d.wait_log,
                hd("/y", r"fini version=A tag=y1 count=2"), 10, mark)
        W.arun(go())
        assert d.stop() == 0
        assert d.sanitizer_report() is None, d.sanitizer_report()
    finally:
        d.kill()


def test_refused_request_outlives_its_route():
    """A request refused by /x's origin check lingers while a reload
    retires /x at once (a refused request is no client); when it ends,
    its JSON access line still names the route (it read the retired
    instance: a use-after-free under ASan)."""
    top = W.tmpdir()
    plugdir = os.path.join(top, "plugins")
    os.mkdir(plugdir)
    install(plugdir, "a")

    def write(tag):
        r = hot_route("/x", tag=tag)
        r["origins"] = ["https://ok.example"]
        config(top, plugdir, [r], limits={"close_timeout": 30},
               extra={"access_log": {"format": "json"}})
    write("x1")
    d = W.start_daemon(os.path.join(top, "wsd.conf"))
    try:
        c = W.RawClient(d.port)
        try:
            c.send(c.upgrade_request("/x", extra=[("Origin",
                                                   "https://bad.example")]))
            assert c.read_response().status == 403
            write("x2")
            mark, what = reload(d)
            assert what.startswith("reloaded"), d.tail()
            d.wait_log(hd("/x", r"fini version=A tag=x1"),
                       10, mark)
        finally:
            c.close()
        m = d.wait_log(r'\{"time".*"status":403.*\}', 10, mark)
        assert '"route":"/x"' in m.group(0), m.group(0)
        assert d.stop() == 0
        assert d.sanitizer_report() is None, d.sanitizer_report()
    finally:
        d.kill()


def test_unchanged_reload_keeps_instances():
    """A reload that changes nothing of a route (even with the file's
    lines moved and another route changed) keeps its instance: no fini,
    no init, the counter goes on, for old and new clients; wsd_conn_find(),
    broadcast, topics, the instance's timer, its thread and wsd_post()
    work for clients from before and after the reload."""
    top = W.tmpdir()
    plugdir = os.path.join(top, "plugins")
    os.mkdir(plugdir)
    install(plugdir, "a")
    keep = hot_route("/keep", tag="k", thread=True, tick_ms=10)
    config(top, plugdir, [keep, hot_route("/other", tag="o1")])
    d = W.start_daemon(os.path.join(top, "wsd.conf"))
    try:
        pid = worker(d)

        async def ticks(ws):
            return int((await cmd(ws, "ticks")).split()[1])

        async def go():
            loop = asyncio.get_running_loop()
            w1 = await W.ws_connect(d.port, "/keep")
            assert await cmd(w1, "count") == "count 1"
            assert await cmd(w1, "count") == "count 2"
            assert await cmd(w1, "sub:room") == "subscribed"
            id1 = await cmd(w1, "id")
            n = threads(pid)
            for i in range(2):
                # the other route first this time, /keep second
                config(top, plugdir, [hot_route("/other", tag="o%d" % i),
                                      keep])
                mark, what = await loop.run_in_executor(None, reload, d)
                assert what.startswith("reloaded"), d.tail()
                await loop.run_in_executor(
                    None, d.wait_log, r"1 of 2 route\(s\) kept their "
                    r"instance", 10, mark)
                assert not d.find_log(hd("/keep", r"(init|fini)"),
                                      mark), d.tail()
            t1 = await ticks(w1)
            w2 = await W.ws_connect(d.port, "/keep")
            assert await cmd(w2, "count") == "count 3"
            assert await cmd(w1, "count") == "count 4"
            assert await cmd(w2, "find:%s" % id1) == "found"
            assert await cmd(w2, "sub:room") == "subscribed"
            await w2.send("pub:room:hi")
            assert await W.recv(w1) == "hi"
            assert await W.recv(w2) == "hi"
            await w2.send("bcast:hello")
            assert await W.recv(w1) == "hello"
            assert await W.recv(w2) == "hello"
            await w1.send("post")
            assert await W.recv(w1) == "posted"
            assert await W.recv(w2) == "posted"
            deadline = time.monotonic() + W.T(5)
            while await ticks(w2) <= t1:
                assert time.monotonic() < deadline, "the timer stopped"
                await asyncio.sleep(0.02)
            assert threads(pid) == n
            await w1.close()
            await w2.close()
        W.arun(go())
        assert d.stop() == 0
        assert len(re.findall(hd("/keep", r"init"), d.log_text())) == 1
        assert len(re.findall(hd("/keep", r"fini version=A tag=k count=4"),
                              d.log_text())) == 1
        assert d.sanitizer_report() is None, d.sanitizer_report()
    finally:
        d.kill()


def test_worker_refuses_reload():
    """A new instance whose init fails only in the worker (the master's
    check passed): the worker logs the route, the plugin and the reason,
    refuses the reload, and the old instances serve on, their state
    kept; the instance it made for a changed route is retired again."""
    top = W.tmpdir()
    plugdir = os.path.join(top, "plugins")
    os.mkdir(plugdir)
    install(plugdir, "a")
    config(top, plugdir, [hot_route("/hot", tag="h1"),
                          hot_route("/other", tag="o1")])
    d = W.start_daemon(os.path.join(top, "wsd.conf"))
    try:
        async def go():
            loop = asyncio.get_running_loop()
            ws = await W.ws_connect(d.port, "/hot")
            assert await cmd(ws, "count") == "count 1"
            config(top, plugdir, [hot_route("/hot", tag="h2",
                                            fail_in_worker=True),
                                  hot_route("/other", tag="o2")])
            mark, what = await loop.run_in_executor(None, reload, d)
            await loop.run_in_executor(
                None, d.wait_log, r"reload failed in 1 worker", 10, mark)
            assert d.find_log(r"worker \d+: .*wsd\.conf:\d+: route /hot: "
                              r"plugin hot \(.*hot\.so\) refused to start",
                              mark), d.tail()
            assert d.find_log(r"worker \d+: reload failed: still running "
                              r"the previous configuration", mark), d.tail()
            # /other's new instance came and went; the old ones serve on
            assert d.find_log(hd("/other", r"fini version=A tag=o2"),
                              mark), d.tail()
            assert not d.find_log(hd("/(hot|other)",
                                     r"fini version=A tag=[ho]1"), mark)
            assert await cmd(ws, "count") == "count 2"
            ws2 = await W.ws_connect(d.port, "/hot")
            assert await cmd(ws2, "count") == "count 3"
            await ws.close()
            await ws2.close()
        W.arun(go())
        assert d.stop() == 0
        assert d.sanitizer_report() is None, d.sanitizer_report()
    finally:
        d.kill()


def test_reloads_leave_no_threads():
    """Four reloads that change /chg while clients stay on /keep (kept)
    and on the first /chg: once that client has gone, the worker has the
    threads it had before."""
    top = W.tmpdir()
    plugdir = os.path.join(top, "plugins")
    os.mkdir(plugdir)
    install(plugdir, "a")
    keep = hot_route("/keep", tag="k", thread=True)

    def write(i):
        config(top, plugdir, [keep, hot_route("/chg", tag="c%d" % i,
                                              thread=True)])
    write(0)
    d = W.start_daemon(os.path.join(top, "wsd.conf"))
    try:
        pid = worker(d)

        async def go():
            loop = asyncio.get_running_loop()
            keepers = [await W.ws_connect(d.port, "/keep") for _ in range(3)]
            chg = await W.ws_connect(d.port, "/chg")
            assert await cmd(chg, "count") == "count 1"
            before = threads(pid)
            for i in range(1, 5):
                write(i)
                mark, what = await loop.run_in_executor(None, reload, d)
                assert what.startswith("reloaded"), d.tail()
                await loop.run_in_executor(
                    None, d.wait_log,
                    hd("/chg", r"init version=A tag=c%d") % i, 10, mark)
                for k in keepers:
                    assert await cmd(k, "version") == "A"
            # c0 still has its client: its thread stays, c1..c3 are
            # gone, /keep's was kept; c4's is the one new thread
            assert await cmd(chg, "count") == "count 2"
            assert not d.find_log(hd("/chg", r"fini version=A tag=c0"))
            for i in range(1, 4):
                assert d.find_log(hd("/chg", r"fini version=A tag=c%d") % i)
            assert threads(pid) == before + 1
            mark = d.mark()
            await chg.close()
            await loop.run_in_executor(
                None, d.wait_log, hd("/chg", r"fini version=A tag=c0"), 10,
                mark)
            deadline = time.monotonic() + W.T(5)
            while threads(pid) != before and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert threads(pid) == before
            for k in keepers:
                await k.close()
        W.arun(go())
        assert d.stop() == 0
        assert len(re.findall(hd("/keep", r"init"), d.log_text())) == 1
        assert len(re.findall(hd("/keep", r"fini"), d.log_text())) == 1
        assert d.sanitizer_report() is None, d.sanitizer_report()
    finally:
        d.kill()


def test_check_warns_nodelete():
    """wsd -t warns about a plugin that stays mapped after dlclose (here
    linked -z nodelete), and not about one that unloads."""
    top = W.tmpdir()
    plugdir = os.path.join(top, "plugins")
    os.mkdir(plugdir)
    install(plugdir, "nodelete", "stuck")
    install(plugdir, "a", "fine")
    conf = config(top, plugdir, [hot_route("/s", plugin="stuck"),
                                 hot_route("/f", plugin="fine")])
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 0, r.stderr
    assert re.search(r"plugin hotdeploy \(.*/stuck\.so\) cannot be unloaded"
                     r".*a hot deploy loads a new copy", r.stderr), r.stderr
    assert "fine.so) cannot be unloaded" not in r.stderr, r.stderr
    assert "configuration OK" in r.stdout, r.stdout


TESTS = [
    test_hot_upgrade,
    test_changed_in_place_refused,
    test_retire_per_route,
    test_refused_request_outlives_its_route,
    test_unchanged_reload_keeps_instances,
    test_worker_refuses_reload,
    test_reloads_leave_no_threads,
    test_check_warns_nodelete,
]

if __name__ == "__main__":
    W.run(TESTS)
