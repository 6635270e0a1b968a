"""Command line, exit codes, wsd -t and configuration/plugin errors."""

import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402


def held_port():
    """A listening socket on 127.0.0.1 holding an ephemeral port."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


def out(r):
    return r.stdout + r.stderr


def assert_error_at(r, conf, line=None, also=()):
    """r failed with exit 1 and printed 'conf:LINE: ...' on stderr."""
    assert r.returncode == 1, "exit %s, wanted 1\n%s" % (r.returncode, out(r))
    pat = re.escape(conf) + ":" + (str(line) if line else r"\d+") + ":"
    lines = [l for l in r.stderr.splitlines() if re.search(pat, l)]
    assert lines, "no %r line on stderr:\n%s" % (pat, r.stderr)
    for word in also:
        assert any(word in l for l in lines), \
            "no %r in the error lines:\n%s" % (word, "\n".join(lines))
    return lines


def abi_version():
    with open(os.path.join(W.SRCDIR, "include", "wsd", "plugin.h")) as f:
        h = f.read()
    return tuple(int(re.search(r"#define\s+WSD_ABI_%s\s+(\d+)" % w, h)
                     .group(1)) for w in ("MAJOR", "MINOR"))


def test_version():
    r = W.run_wsd(["-V"])
    assert r.returncode == 0, r
    assert re.search(r"^wsd \d+\.\d+", r.stdout, re.M), \
        "no 'wsd VERSION' line on stdout: %r / %r" % (r.stdout, r.stderr)


def test_help():
    r = W.run_wsd(["-h"])
    assert r.returncode == 0, r
    assert "usage" in out(r).lower(), out(r)
    assert "-c" in out(r) and "-t" in out(r), out(r)


def test_bad_option_exit_2():
    for args in (["-Z"], ["--no-such-option"], ["-c"]):
        r = W.run_wsd(args)
        assert r.returncode == 2, "%r: exit %s\n%s" % (args, r.returncode,
                                                       out(r))
        assert "usage" in r.stderr.lower(), \
            "%r: no usage on stderr: %r" % (args, r.stderr)
    # a bad option value is a usage error too (a message, usage optional)
    r = W.run_wsd(["-c", "/x.conf", "-p", "notaport"])
    assert r.returncode == 2, "exit %s\n%s" % (r.returncode, out(r))
    assert r.stderr.strip(), "no message on stderr"


def test_check_ok():
    conf = W.write_config()
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 0, "exit %s\n%s" % (r.returncode, out(r))
    assert "configuration OK" in out(r), out(r)


def test_check_floats_and_ints_for_seconds():
    conf = W.write_config(limits={"handshake_timeout": 1.5, "idle_timeout": 3,
                                  "ping_interval": 0.5, "close_timeout": 2.0})
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 0, "exit %s\n%s" % (r.returncode, out(r))


def test_check_does_not_bind():
    s, port = held_port()
    try:
        conf = W.write_config(port=port)
        r = W.run_wsd(["-t", "-c", conf])
        assert r.returncode == 0, "exit %s\n%s" % (r.returncode, out(r))
        assert "configuration OK" in out(r), out(r)
    finally:
        s.close()


def test_check_syntax_error():
    d = W.tmpdir()
    conf = os.path.join(d, "wsd.conf")
    text = W.config_text(W.make_config())
    text = "# comment\n" + text + "oops = ( { ;\n"
    W.write_file(conf, text)
    bad = W.line_of(conf, "oops")
    r = W.run_wsd(["-t", "-c", conf])
    assert_error_at(r, conf, bad)
    assert "configuration OK" not in out(r)


def test_check_reports_every_error():
    d = W.tmpdir()
    conf = os.path.join(d, "wsd.conf")
    W.write_file(conf, "\n".join([
        'listen = ( { address = "127.0.0.1"; port = 8888; } );',
        'bogus_key = 1;',
        'log_level = "loud";',
        'plugin_dir = "%s";' % W.PLUGIN_DIR,
        'limits = { max_message_size = 1000; no_such_limit = 5; };',
        'routes = (',
        '  { path = "noslash"; plugin = "echo-logger"; },',
        '  { path = "/dup"; plugin = "echo-logger"; },',
        '  { path = "/dup"; plugin = "echo-logger"; },',
        '  { path = "/x"; plugin = "echo-logger"; unknown_route_key = 1; }',
        ');', '']))
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 1, "exit %s\n%s" % (r.returncode, out(r))
    reported = set(int(m) for m in re.findall(re.escape(conf) + r":(\d+):",
                                              r.stderr))
    # bogus_key, log_level, no_such_limit, noslash, the 2nd /dup (or 1st),
    # unknown_route_key
    for line in (2, 3, 5, 7, 10):
        assert line in reported, "line %d not reported; got %s:\n%s" % (
            line, sorted(reported), r.stderr)
    assert 8 in reported or 9 in reported, \
        "duplicate route not reported:\n%s" % r.stderr


def test_missing_config_file():
    r = W.run_wsd(["-t", "-c", os.path.join(W.tmpdir(), "none.conf")])
    assert r.returncode == 1, "exit %s\n%s" % (r.returncode, out(r))
    r = W.run_wsd(["-c", os.path.join(W.tmpdir(), "none.conf"), "-p", "0"])
    assert r.returncode == 1, "exit %s\n%s" % (r.returncode, out(r))


def test_run_with_invalid_config_exit_1():
    conf = W.write_config(text='listen = ( { address = "127.0.0.1"; '
                               'port = 1; } );\nbogus = 1;\n')
    r = W.run_wsd(["-c", conf, "-p", "0"])
    assert r.returncode == 1, "exit %s\n%s" % (r.returncode, out(r))
    assert_error_at(r, conf, 2)


def test_relative_plugin_dir():
    d = W.tmpdir()
    os.symlink(W.PLUGIN_DIR, os.path.join(d, "plugs"))
    conf = W.write_config(directory=d, plugin_dir="plugs")
    r = W.run_wsd(["-t", "-c", conf], cwd="/")
    assert r.returncode == 0, "exit %s\n%s" % (r.returncode, out(r))
    d2 = W.tmpdir()
    conf2 = W.write_config(directory=d2, plugin_dir="plugs")
    r = W.run_wsd(["-t", "-c", conf2], cwd=d)
    assert r.returncode == 1, \
        "plugin_dir must be relative to the config's dir, not the cwd:\n%s" \
        % out(r)


def test_missing_plugin():
    d = W.tmpdir()
    conf = os.path.join(d, "wsd.conf")
    W.write_file(conf, W.config_text(W.make_config(
        routes=[W.route("/echo"), W.route("/gone", plugin="no-such-plugin")])))
    r = W.run_wsd(["-t", "-c", conf])
    assert_error_at(r, conf, also=("no-such-plugin",))


def test_check_reports_every_plugin_error():
    """wsd -t reports every route's plugin error in one run: a missing
    .so no longer hides the others' load and init errors."""
    conf = W.write_config(plugin_dir=W.TEST_PLUGIN_DIR, routes=[
        W.route("/a", plugin="no-such-one"),
        W.route("/b", plugin="badabi"),
        W.route("/c", plugin="initfail"),
        W.route("/d", plugin="nosym"),
        W.route("/e", plugin="no-such-two"),
        W.route("/f", plugin="good")])
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 1, "exit %s\n%s" % (r.returncode, out(r))
    for path, what in (("/a", "no-such-one"), ("/b", "ABI"),
                       ("/c", "refused to start"), ("/d", "no symbol"),
                       ("/e", "no-such-two")):
        # at the route's group, its path or its plugin line
        line = W.line_of(conf, '"%s"' % path)
        m = re.search(r"^%s:(\d+): .*%s" % (re.escape(conf),
                                            re.escape(what)),
                      r.stderr, re.M)
        assert m and abs(int(m.group(1)) - line) <= 1, \
            "%s (%s) not reported near line %d:\n%s" % (path, what, line,
                                                        r.stderr)
    assert "configuration invalid (5 errors)" in r.stderr, r.stderr
    assert "configuration OK" not in out(r)


def test_plugin_bad_abi():
    conf = W.write_config(plugin_dir=W.TEST_PLUGIN_DIR,
                          routes=[W.route("/x", plugin="badabi")])
    so = os.path.join(W.TEST_PLUGIN_DIR, "badabi.so")
    assert os.path.exists(so), so
    r = W.run_wsd(["-t", "-c", conf])
    lines = assert_error_at(r, conf)
    text = "\n".join(lines)
    assert so in r.stderr, "the .so path %s is not named:\n%s" % (so, r.stderr)
    # both versions: wsd's and the plugin's (badabi.c: WSD_ABI_MAJOR + 1, 0)
    major, minor = abi_version()
    for v in ("%d.0" % (major + 1), "%d.%d" % (major, minor)):
        assert re.search(r"\b%s\b" % re.escape(v), text), \
            "ABI version %s not in:\n%s" % (v, text)


def test_plugin_no_symbol():
    conf = W.write_config(plugin_dir=W.TEST_PLUGIN_DIR,
                          routes=[W.route("/x", plugin="nosym")])
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 1, "exit %s\n%s" % (r.returncode, out(r))
    assert "nosym" in r.stderr, r.stderr
    assert "configuration OK" not in out(r)


def test_plugin_init_fails():
    conf = W.write_config(plugin_dir=W.TEST_PLUGIN_DIR,
                          routes=[W.route("/x", plugin="initfail")])
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 1, "exit %s\n%s" % (r.returncode, out(r))
    assert "initfail" in r.stderr, r.stderr
    assert "configuration OK" not in out(r)


def test_plugin_errors_with_daemon():
    """Not only -t: starting with a broken plugin fails with 1 too."""
    conf = W.write_config(plugin_dir=W.TEST_PLUGIN_DIR,
                          routes=[W.route("/x", plugin="initfail")])
    r = W.run_wsd(["-c", conf, "-p", "0"])
    assert r.returncode == 1, "exit %s\n%s" % (r.returncode, out(r))


def test_bind_failure_exit_3():
    s, port = held_port()
    try:
        conf = W.write_config(port=port)
        r = W.run_wsd(["-c", conf])
        assert r.returncode == 3, "exit %s\n%s" % (r.returncode, out(r))
    finally:
        s.close()


def test_port_override_long_option():
    s, port = held_port()
    try:
        conf = W.write_config(port=port)
        d = W.Daemon(conf, port_override=False, args=["--port", "0"])
        try:
            p = d.wait_listening()
            assert p != port
            W.echo_ok(p)
            assert d.stop() == 0
        finally:
            d.kill()
    finally:
        s.close()


def test_port_option_fixed():
    s, port = held_port()
    s.close()   # a port that was just free
    conf = W.write_config(port=8888)
    d = W.Daemon(conf, port_override=False, args=["-p", str(port)])
    try:
        assert d.wait_listening() == port
        W.echo_ok(port)
        assert d.stop() == 0
    finally:
        d.kill()


TESTS = [
    test_version,
    test_help,
    test_bad_option_exit_2,
    test_check_ok,
    test_check_reports_every_plugin_error,
    test_check_floats_and_ints_for_seconds,
    test_check_does_not_bind,
    test_check_syntax_error,
    test_check_reports_every_error,
    test_missing_config_file,
    test_run_with_invalid_config_exit_1,
    test_relative_plugin_dir,
    test_missing_plugin,
    test_plugin_bad_abi,
    test_plugin_no_symbol,
    test_plugin_init_fails,
    test_plugin_errors_with_daemon,
    test_bind_failure_exit_3,
    test_port_override_long_option,
    test_port_option_fixed,
]

if __name__ == "__main__":
    W.run(TESTS)
