"""pkg-config files a plugin author builds with, beyond the staged
install test_outoftree.py checks:

- wsd-plugin-uninstalled.pc: with PKG_CONFIG_PATH naming the build
  directory, `pkg-config --cflags wsd-plugin` points into the source
  tree (pkg-config prefers NAME-uninstalled.pc), not at a prefix where
  nothing is installed, and examples/hello builds and loads with it;
- `./configure --prefix=P && make install` writes a wsd-plugin.pc whose
  paths are under P and work: configure runs for real, in a copy of the
  source tree's build files (a source tree configured in place cannot
  host a second, VPATH, configuration), and only the header and the .pc
  files are installed.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402
import test_outoftree as O  # noqa: E402


def pkg(env, *args):
    return O.run(["pkg-config"] + list(args), env=env).stdout.strip()


def build_hello(cflags, env):
    plugins = O.private_dir(os.path.join(W.tmpdir(), "plugins"))
    so = os.path.join(plugins, "hello.so")
    O.run(["cc"] + shlex.split(cflags) + ["-shared", "-fPIC", "-o", so,
                                          O.HELLO_C], env=env)
    os.chmod(so, 0o755)
    return plugins


def check_loads(plugins):
    conf = W.write_config(plugin_dir=plugins,
                          routes=[W.route("/hello", "hello")])
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 0, r.stdout + r.stderr


def test_uninstalled_pc_points_into_the_tree():
    env = O.clean_env(PKG_CONFIG_PATH=W.BUILDDIR)
    cflags = pkg(env, "--cflags", "wsd-plugin")
    incs = [a[2:] for a in shlex.split(cflags) if a.startswith("-I")]
    assert incs, cflags
    for d in incs:
        assert os.path.isfile(os.path.join(d, "wsd", "plugin.h")), \
            "%s has no wsd/plugin.h (cflags %r)" % (d, cflags)
        assert os.path.realpath(d) == os.path.realpath(
            os.path.join(W.SRCDIR, "include")), (d, W.SRCDIR)
    assert pkg(env, "--variable=plugindir", "wsd-plugin") == \
        os.path.join(os.path.abspath(W.BUILDDIR), "plugins", ".libs")
    check_loads(build_hello(cflags, env))


# What configure and the install targets below read from the source tree.
_COPY = ("configure", "configure.ac", "aclocal.m4", "m4", "Makefile.am",
         "Makefile.in", "wsd-build.h.in", "build-aux",
         "include", "src/main.c")


def test_configure_prefix_install_pc_works():
    src = W.tmpdir()
    for name in _COPY + tuple(f for f in os.listdir(W.SRCDIR)
                              if f.endswith(".pc.in")):
        a, b = os.path.join(W.SRCDIR, name), os.path.join(src, name)
        os.makedirs(os.path.dirname(b), exist_ok=True)
        if os.path.isdir(a):
            shutil.copytree(a, b)
        else:
            shutil.copy2(a, b)      # keeps mtimes: make regenerates nothing
    prefix = os.path.join(W.tmpdir(), "prefix")
    env = O.clean_env()
    O.run(["sh", "./configure", "--prefix=" + prefix, "--quiet"], cwd=src,
          env=env, timeout=300)
    O.run(["make", "-s", "install-wsdincludeHEADERS",
           "install-pkgconfigDATA"], cwd=src, env=env)
    pcdir = os.path.join(prefix, "lib", "pkgconfig")
    assert os.path.isfile(os.path.join(pcdir, "wsd-plugin.pc")), \
        os.listdir(prefix)
    # the uninstalled one is for build trees only
    assert not os.path.exists(os.path.join(pcdir,
                                           "wsd-plugin-uninstalled.pc"))
    env = O.clean_env(PKG_CONFIG_PATH=pcdir)
    cflags = pkg(env, "--cflags", "wsd-plugin")
    assert "-I" + os.path.join(prefix, "include") in shlex.split(cflags), \
        cflags
    assert pkg(env, "--variable=plugindir", "wsd-plugin") == \
        os.path.join(prefix, "lib", "wsd", "plugins")
    check_loads(build_hello(cflags, env))


TESTS = [
    test_uninstalled_pc_points_into_the_tree,
    test_configure_prefix_install_pc_works,
]

if __name__ == "__main__":
    W.run(TESTS)
