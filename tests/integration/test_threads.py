"""Threads: wsd_post() from a plugin's own thread, under valgrind's
helgrind, with the poster test plugin (tests/plugins/poster.c); and a
negative control, a deliberately racy plugin built here, that proves
helgrind does report a race in this setup."""

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402
import test_posts as P  # noqa: E402

VALGRIND = shutil.which("valgrind") or "valgrind"
SUPP = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    "helgrind.supp")


def helgrind():
    # --fair-sched: valgrind runs one thread at a time; round-robin
    # hand-overs give helgrind many more interleavings to see (a race
    # in a narrow window was caught ~1 run in 5 without it, ~4 in 5
    # with it).
    cmd = [VALGRIND, "--tool=helgrind", "--error-exitcode=99", "-q",
           "--fair-sched=try"]
    # Only narrowly scoped third-party suppressions live there, if any.
    if os.path.exists(SUPP):
        cmd.append("--suppressions=" + SUPP)
    return cmd


# helgrind may start slowly on a loaded machine, and runs wsd many times
# slower than natively.
START = 90
STOP = 90

# helgrind's error kinds (its exit status 99 counts them all anyway).
ERROR_RE = re.compile(r"Possible data race|lock order|not-locked lock|"
                      r"still holds \d+ lock|Thread #\d+: pthread_")


def helgrind_report(d):
    """helgrind's own lines (==PID== ...) from wsd's stderr: the master's,
    its workers' and its configuration checks'."""
    with d.cond:
        return "\n".join(l for l in d.lines if re.match(r"==\d+==", l))


def run_under_helgrind(conf):
    return W.start_daemon(conf, timeout=START, wrapper=helgrind())


# ================================================================ poster

def test_post_from_thread_under_helgrind():
    """Three clients get the ticks the plugin's thread posts, in order;
    helgrind finds no race and wsd exits 0 on SIGTERM (fini joins)."""
    d = run_under_helgrind(P.poster_config())
    try:
        # generous: helgrind slows everything down a lot
        P.post_from_thread(d, wait=60, min_ticks=10)
        check_helgrind(d)
    finally:
        d.kill()


def test_reload_retires_posting_routes_under_helgrind():
    """SIGHUP replaces the poster route with posts in flight (see
    test_posts.py, which runs it natively)."""
    d = run_under_helgrind(P.poster_config())
    try:
        P.reload_retires_posting_routes(d, wait=60)
        check_helgrind(d)
    finally:
        d.kill()


def check_helgrind(d):
    rc = d.stop(signal.SIGTERM, timeout=STOP)
    report = helgrind_report(d)
    errors = ERROR_RE.findall(report)
    assert not errors and rc == 0, \
        "helgrind (exit %s) reported %d error(s):\n%s" % (
            rc, len(errors), report)


# ====================================================== negative control

RACY_C = r"""
/* Deliberately racy: a thread writes `counter` with no lock while the
 * loop thread reads it in `message`.  helgrind must report it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <wsd/plugin.h>

static long counter;			/* the race */
static atomic_int stop;
static pthread_t thread;

static void *
racy_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		counter++;
		usleep(1000);
	}
	return NULL;
}

static int
racy_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	(void)host;
	(void)r;
	*state = NULL;
	atomic_store(&stop, 0);
	return pthread_create(&thread, NULL, racy_thread, NULL) == 0 ? 0 : -1;
}

static void
racy_fini(void *state)
{
	(void)state;
	atomic_store(&stop, 1);
	pthread_join(thread, NULL);
}

static void
racy_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	char buf[32];

	(void)state;
	(void)opcode;
	(void)data;
	(void)len;
	snprintf(buf, sizeof(buf), "%ld", counter);
	if (wsd_send(c, WSD_TEXT, buf, strlen(buf)) == WSD_SEND_DROPPED)
		return;
}

WSD_PLUGIN(.name = "racy", .init = racy_init, .fini = racy_fini,
    .message = racy_message);
"""


def build_racy():
    d = W.tmpdir()
    src = W.write_file(os.path.join(d, "racy.c"), RACY_C)
    so = os.path.join(d, "racy.so")
    cc = os.environ.get("CC") or "cc"
    r = subprocess.run([cc, "-std=gnu11", "-g", "-O0", "-shared", "-fPIC",
                        "-pthread", "-I" + os.path.join(W.SRCDIR, "include"),
                        "-o", so, src], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, errors="replace", timeout=120)
    assert r.returncode == 0, "cannot build racy.so:\n%s" % r.stdout
    return d


def test_helgrind_catches_a_racy_plugin():
    """Negative control: the same setup reports a planted race."""
    plugdir = build_racy()
    conf = W.write_config(plugin_dir=plugdir, log_level="info",
                          routes=[W.route("/racy", plugin="racy")])
    d = run_under_helgrind(conf)
    try:
        async def go():
            async with W.ws_connect(d.port, "/racy", open_timeout=W.T(60),
                                    close_timeout=W.T(60)) as ws:
                vals = []
                for i in range(5):
                    await ws.send("n?")
                    vals.append(int(await W.recv(ws, 60)))
                    await asyncio.sleep(0.2)
                return vals
        vals = W.arun(go(), timeout=180)
        assert vals[-1] > vals[0], "the racy thread did not run: %r" % vals
        rc = d.stop(signal.SIGTERM, timeout=STOP)
        report = helgrind_report(d)
        assert rc == 99, "helgrind exit %s, wanted 99\n%s" % (rc, report)
        assert "Possible data race" in report, report
        # ...and it is the planted one
        assert re.search(r"racy_message \(racy\.c:\d+\)", report) and \
            re.search(r"racy_thread \(racy\.c:\d+\)", report), report
    finally:
        d.kill()


TESTS = [
    test_helgrind_catches_a_racy_plugin,
    test_post_from_thread_under_helgrind,
    test_reload_retires_posting_routes_under_helgrind,
]

if __name__ == "__main__":
    W.run(TESTS)
