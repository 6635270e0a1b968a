"""An out-of-tree plugin, built the way a plugin author builds one.

wsd is installed with `make install DESTDIR=<tmp>`; examples/hello/hello.c
is then compiled with nothing but the installed header, found through the
installed wsd-plugin.pc:

    cc $(pkg-config --cflags wsd-plugin) -shared -fPIC -o hello.so hello.c

and the built wsd runs it.  Its unit tests (examples/hello/test_hello.c,
`make check`) build against the installed plugin test kit
(wsd-plugin-test.pc) and pass, and fail for a broken hello.c.  Nothing here reads headers from the source
tree or writes outside temporary directories, so this works in a VPATH
build and under `make distcheck` (where the prefix is itself a temporary
directory: DESTDIR puts the staged copy below ours).
"""

import glob
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

HELLO_DIR = os.path.join(W.SRCDIR, "examples", "hello")
HELLO_C = os.path.join(HELLO_DIR, "hello.c")

# Variables a parent make (make check, make distcheck) exports that must
# not leak into the make and the compiler we run: jobserver descriptors we
# do not pass on, command-line overrides, include paths.
_SCRUB = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "DESTDIR",
          "CPATH", "C_INCLUDE_PATH", "PKG_CONFIG_LIBDIR")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(extra)
    return env


def run(argv, env=None, cwd=None, timeout=120):
    """Run argv; CompletedProcess, or AssertionError with its output."""
    r = subprocess.run(argv, env=env or clean_env(), cwd=cwd,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=W.T(timeout),
                       errors="replace")
    assert r.returncode == 0, "%s: exit %d\n%s" % (
        " ".join(shlex.quote(a) for a in argv), r.returncode, r.stdout)
    return r


def private_dir(path):
    """mkdir path as 0755 whatever the umask: wsd refuses plugins in a
    directory its group or others may write."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    return path


# ------------------------------------------------------------ the staged wsd

_stage = {}


def stage():
    """Install wsd once under a temporary DESTDIR; return a dict with
    destdir, pc (path of wsd-plugin.pc) and env (for pkg-config)."""
    if "error" in _stage:
        raise AssertionError("staging failed earlier:\n" + _stage["error"])
    if "env" in _stage:
        return _stage
    try:
        destdir = W.tmpdir()
        run(["make", "-s", "-C", W.BUILDDIR, "install",
             "DESTDIR=" + destdir], timeout=300)
        pcs = glob.glob(os.path.join(destdir, "**", "pkgconfig",
                                     "wsd-plugin.pc"), recursive=True)
        assert len(pcs) == 1, "wsd-plugin.pc under %s: %r" % (destdir, pcs)
        pc = pcs[0]
        # With --prefix=/usr (Debian's build) the header is in
        # <destdir>/usr/include: keep pkg-config from dropping that -I as
        # a "system" directory.
        _stage.update(destdir=destdir, pc=pc, env=clean_env(
            PKG_CONFIG_PATH=os.path.dirname(pc),
            PKG_CONFIG_SYSROOT_DIR=destdir,
            PKG_CONFIG_ALLOW_SYSTEM_CFLAGS="1"))
    except BaseException as e:
        _stage["error"] = str(e)
        raise
    return _stage


def pkg_config(*args):
    return run(["pkg-config"] + list(args) + ["wsd-plugin"],
               env=stage()["env"]).stdout.strip()


_built = {}


def hello_so():
    """Build hello.so as the README says, into a private plugin directory;
    return that directory."""
    if "dir" in _built:
        return _built["dir"]
    plugins = private_dir(os.path.join(W.tmpdir(), "plugins"))
    so = os.path.join(plugins, "hello.so")
    cflags = shlex.split(pkg_config("--cflags"))
    run(["cc"] + cflags + ["-shared", "-fPIC", "-o", so, HELLO_C],
        env=stage()["env"], cwd=W.tmpdir())
    os.chmod(so, 0o755)
    _built["dir"] = plugins
    return plugins


def hello_config(**settings):
    return W.write_config(plugin_dir=hello_so(), routes=[
        W.route("/hello", "hello", settings=settings or None)])


# ------------------------------------------------------------ tests

def test_install_stages_header_and_pc():
    s = stage()
    with open(s["pc"]) as f:
        text = f.read()
    assert re.search(r"^Cflags:.*-I", text, re.M), text
    assert re.search(r"^plugindir=", text, re.M), text


def test_pkg_config_cflags_point_at_installed_header():
    destdir = stage()["destdir"]
    cflags = shlex.split(pkg_config("--cflags"))
    incs = [a[2:] for a in cflags if a.startswith("-I")]
    assert incs, "no -I in %r" % cflags
    for d in incs:
        assert os.path.realpath(d).startswith(os.path.realpath(destdir)
                                              + os.sep), \
            "-I%s is outside the staged install %s" % (d, destdir)
    assert any(os.path.isfile(os.path.join(d, "wsd", "plugin.h"))
               for d in incs), "no wsd/plugin.h under %r" % incs


def test_pkg_config_plugindir():
    d = pkg_config("--variable=plugindir")
    assert d, "plugindir is empty"
    assert os.path.isabs(d), "plugindir %r is not absolute" % d


def test_hello_builds_with_pkg_config_only():
    plugins = hello_so()
    so = os.path.join(plugins, "hello.so")
    assert os.path.isfile(so), so
    # The one symbol wsd looks for (wsd itself checks it again below).
    if shutil.which("nm"):
        nm = run(["nm", "-D", "--defined-only", so]).stdout
        assert re.search(r"\bwsd_plugin\b", nm), nm


def test_hello_builds_warning_free():
    cflags = shlex.split(pkg_config("--cflags"))
    run(["cc"] + cflags + ["-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                           HELLO_C], env=stage()["env"], cwd=W.tmpdir())


def test_example_makefile_installs_into_plugindir():
    # A copy: the source tree is read-only under make distcheck.
    work = W.tmpdir()
    for name in ("hello.c", "Makefile"):
        with open(os.path.join(HELLO_DIR, name), "rb") as f:
            W.write_file(os.path.join(work, name), f.read())
    dest = W.tmpdir()
    env = stage()["env"]
    run(["make", "-s", "-C", work, "install", "DESTDIR=" + dest], env=env)
    plugindir = pkg_config("--variable=plugindir")
    so = dest + plugindir + "/hello.so"
    assert os.path.isfile(so), "make install put no %s; have %r" % (
        so, [os.path.join(p, f) for p, _, fs in os.walk(dest) for f in fs])
    mode = stat.S_IMODE(os.stat(so).st_mode)
    assert not mode & 0o022, "hello.so is group/other writable: %o" % mode


def hello_copy(mutate=None):
    """A copy of examples/hello (the source tree is read-only under make
    distcheck); mutate(text) may change hello.c on the way."""
    work = W.tmpdir()
    for name in ("hello.c", "test_hello.c", "Makefile"):
        with open(os.path.join(HELLO_DIR, name), "rb") as f:
            data = f.read()
        if name == "hello.c" and mutate is not None:
            data = mutate(data)
        W.write_file(os.path.join(work, name), data)
    return work


def make_check(work):
    """`make check` in work against the staged install; CompletedProcess."""
    return subprocess.run(["make", "-C", work, "check"], env=stage()["env"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=W.T(120),
                          errors="replace")


def test_example_unit_tests_pass_with_the_installed_kit():
    # The plugin test kit as a plugin author gets it: the staged
    # wsd-plugin-test.pc, header and static library, and cmocka.
    kit = run(["pkg-config", "--libs", "wsd-plugin-test"],
              env=stage()["env"]).stdout
    assert "-lwsd-plugin-test" in kit, kit
    libs = glob.glob(os.path.join(stage()["destdir"], "**",
                                  "libwsd-plugin-test.a"), recursive=True)
    assert len(libs) == 1, libs
    r = make_check(hello_copy())
    assert r.returncode == 0, "make check: exit %d\n%s" % (r.returncode,
                                                           r.stdout)
    assert re.search(r"\[  PASSED  \] 6 test\(s\)", r.stdout), r.stdout
    assert "FAILED" not in r.stdout, r.stdout


def test_example_unit_tests_catch_a_broken_plugin():
    # The same tests against a hello.c that greets wrongly must fail: the
    # kit really runs the plugin.
    def break_it(data):
        assert b'"%s, %.64s!"' in data
        return data.replace(b'"%s, %.64s!"', b'"%s %.64s!"')
    r = make_check(hello_copy(break_it))
    assert r.returncode != 0, r.stdout
    assert "[  FAILED  ] test_greets_by_name" in r.stdout, r.stdout
    assert "[       OK ] test_upper_cases_text_echoes_binary" in r.stdout, \
        r.stdout


def test_example_unit_tests_against_the_build_tree():
    # No install: PKG_CONFIG_PATH names the build directory, and
    # pkg-config takes wsd-plugin-test-uninstalled.pc (and through it
    # wsd-plugin-uninstalled.pc): the kit built here, the tree's headers.
    env = clean_env(PKG_CONFIG_PATH=W.BUILDDIR)
    libs = run(["pkg-config", "--libs", "wsd-plugin-test"], env=env).stdout
    assert os.path.join(os.path.realpath(W.BUILDDIR),
                        "libwsd-plugin-test.a") in libs or \
        os.path.join(W.BUILDDIR, "libwsd-plugin-test.a") in libs, libs
    work = hello_copy()
    r = subprocess.run(["make", "-C", work, "check"], env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=W.T(120),
                       errors="replace")
    assert r.returncode == 0, "make check: exit %d\n%s" % (r.returncode,
                                                           r.stdout)
    assert re.search(r"\[  PASSED  \] 6 test\(s\)", r.stdout), r.stdout


def test_docs_testing_example_builds_and_passes():
    # The complete example of "Testing your plugin" in docs/plugin-api.md,
    # built as the text says, against hello.so.
    with open(os.path.join(W.SRCDIR, "docs", "plugin-api.md")) as f:
        doc = f.read()
    sec = doc[doc.index("## Testing your plugin"):]
    m = re.search(r"```c\n(.*?)```", sec, re.S)
    assert m, "no C example in Testing your plugin"
    work = hello_copy()
    W.write_file(os.path.join(work, "doc_test.c"), m.group(1).encode())
    run(["make", "-C", work, "hello.so"], env=stage()["env"])
    env = stage()["env"]
    cflags = shlex.split(run(["pkg-config", "--cflags", "wsd-plugin-test",
                              "cmocka"], env=env).stdout)
    libs = shlex.split(run(["pkg-config", "--libs", "wsd-plugin-test",
                            "cmocka"], env=env).stdout)
    run(["cc"] + cflags + ["-Wall", "-Wextra", "-Werror", "-o", "doc_test",
                           "doc_test.c"] + libs, env=env, cwd=work)
    r = run(["./doc_test"], env=env, cwd=work)
    assert "[  PASSED  ] 1 test(s)" in r.stdout, r.stdout


def test_wsd_t_accepts_hello():
    conf = hello_config(greeting="Hi")
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 0, "exit %s\n%s%s" % (r.returncode, r.stdout,
                                                 r.stderr)
    assert "configuration OK" in r.stdout + r.stderr, r.stdout + r.stderr


def test_wsd_t_reports_bad_greeting():
    conf = hello_config(greeting="")
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 1, "exit %s\n%s" % (r.returncode, r.stderr)
    line = W.line_of(conf, "greeting")
    assert re.search(re.escape(conf) + ":%d:.*greeting" % line, r.stderr), \
        r.stderr


def test_hello_greets_echoes_and_logs_count():
    d = W.start_daemon(hello_config())

    async def go():
        async with W.ws_connect(d.port, "/hello?name=ann") as ws:
            got = await W.recv(ws)
            assert got == "Hello, ann!", "greeting %r" % got
            await ws.send("hello, wörld 1")
            got = await W.recv(ws)
            assert got == "HELLO, WöRLD 1", "echo %r" % got
            await ws.send(b"\x00raw\xff")
            got = await W.recv(ws)
            assert got == b"\x00raw\xff", "binary echo %r" % got
            await ws.send("")
            got = await W.recv(ws)
            assert got == "", "empty echo %r" % got
    W.arun(go())
    d.wait_log(r"/hello: hello: conn \d+ closed with code 1000 after "
               r"3 messages")


def test_hello_without_name_and_with_setting():
    d = W.start_daemon(hello_config(greeting="Hi"))

    async def go():
        async with W.ws_connect(d.port, "/hello") as ws:
            got = await W.recv(ws)
            assert got == "Hi, stranger!", "greeting %r" % got
        # Not UTF-8 once decoded: wsd will not send it, hello falls back.
        async with W.ws_connect(d.port, "/hello?name=%FF") as ws:
            got = await W.recv(ws)
            assert got == "Hi, stranger!", "greeting %r" % got
            await ws.close(4000, "done")
    W.arun(go())
    d.wait_log(r"/hello: hello: conn \d+ closed with code 1000 after "
               r"0 messages")
    d.wait_log(r"/hello: hello: conn \d+ closed with code 4000 after "
               r"0 messages")


TESTS = [
    test_install_stages_header_and_pc,
    test_pkg_config_cflags_point_at_installed_header,
    test_pkg_config_plugindir,
    test_hello_builds_with_pkg_config_only,
    test_hello_builds_warning_free,
    test_example_makefile_installs_into_plugindir,
    test_example_unit_tests_pass_with_the_installed_kit,
    test_example_unit_tests_catch_a_broken_plugin,
    test_docs_testing_example_builds_and_passes,
    test_example_unit_tests_against_the_build_tree,
    test_wsd_t_accepts_hello,
    test_wsd_t_reports_bad_greeting,
    test_hello_greets_echoes_and_logs_count,
    test_hello_without_name_and_with_setting,
]

if __name__ == "__main__":
    W.run(TESTS)
