"""access_log: JSON lines that parse for every way a connection ends
(normal close, protocol error, timeout, shutdown, refused handshake), the
access log in a file of its own that SIGUSR1 reopens after a rotation,
and repeated warnings logged at most once a second with their count."""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

PY = "/usr/bin/python3"


def json_lines(path):
    """Every line of the file, each checked by python3 -m json.tool."""
    with open(path) as f:
        lines = [l for l in f.read().split("\n") if l]
    out = []
    for l in lines:
        r = subprocess.run([PY, "-m", "json.tool"], input=l.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert r.returncode == 0, "not JSON: %r (%s)" % (l, r.stderr)
        out.append(json.loads(l))
    return out


def wait_lines(path, n, timeout=10):
    deadline = time.monotonic() + W.T(timeout)
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                got = [l for l in f.read().split("\n") if l]
            if len(got) >= n:
                return
        time.sleep(0.05)
    raise AssertionError("fewer than %d lines in %s" % (n, path))


def by_id(lines):
    return {l["id"]: l for l in lines}


def test_json_lines_for_every_close_path():
    d_dir = W.tmpdir()
    log = os.path.join(d_dir, "access.log")
    conf = W.write_config(
        directory=d_dir,
        limits={"ping_interval": 1, "pong_timeout": 1, "idle_timeout": 60,
                "close_timeout": 1},
        extra={"access_log": {"format": "json", "file": "access.log"}})
    d = W.start_daemon(conf)
    try:
        # 1. A normal close, with a reason.
        with W.raw_ws(d.port) as c:
            c.send_text(b"hello")
            assert c.read_frame().payload == b"hello"
            c.send_close(1000, b"bye")
            f = c.read_frame()
            assert f.opcode == W.OP_CLOSE and f.code == 1000, f
        # 2. A protocol error: an unmasked frame.
        with W.raw_ws(d.port) as c:
            c.send_frame(W.OP_TEXT, b"x", mask=False)
            f = c.read_frame()
            assert f.opcode == W.OP_CLOSE and f.code == 1002, f
        # 3. A timeout: no pong.
        with W.raw_ws(d.port) as c:
            assert c.read_frame(timeout=5).opcode == W.OP_PING
            f = c.read_frame(timeout=5)
            assert f.opcode == W.OP_CLOSE and f.code == 1001, f
        # 4. A refused handshake (no such route) and a static 404.
        with W.RawClient(d.port) as c:
            c.handshake(path="/nowhere", expect=404)
        wait_lines(log, 4)
        # 5. Shutdown with a client connected.
        c = W.raw_ws(d.port)
        c.send_text(b"still here")
        assert c.read_frame().payload == b"still here"
        d.stop()
        c.close()
    finally:
        d.kill()
    lines = json_lines(log)
    assert len(lines) == 5, lines
    normal, proto, timeout, refused, shutdown = lines
    for l in lines:
        assert l["remote"].startswith("127.0.0.1:"), l
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
                        l["time"]), l
        assert isinstance(l["duration_ms"], int) and l["duration_ms"] >= 0
        assert l["worker"] == 0, l
        assert l["tls"] is None if W.TLS is None else l["tls"], l
    assert normal["status"] == 101 and normal["route"] == "/echo", normal
    assert normal["request"] == "GET /echo", normal
    assert (normal["close_code"], normal["close_reason"]) == (1000, "bye")
    assert (normal["messages_in"], normal["messages_out"]) == (1, 1), normal
    assert normal["bytes_in"] == 5 and normal["bytes_out"] == 5, normal
    assert proto["close_code"] == 1002, proto
    assert timeout["close_code"] == 1001, timeout
    assert timeout["close_reason"] == "no pong", timeout
    assert timeout["duration_ms"] >= 1500, timeout
    assert refused["status"] == 404 and refused["route"] is None, refused
    assert "close_code" not in refused, refused
    assert shutdown["status"] == 101 and shutdown["close_code"] == 1001, \
        shutdown
    assert len({l["id"] for l in lines}) == 5, lines


def test_json_on_stderr_is_one_object_a_line():
    d = W.start(extra={"access_log": {"format": "json"}})
    try:
        with W.raw_ws(d.port) as c:
            c.send_close(1000, b"\xc3\xa9t\xc3\xa9")
            assert c.read_frame().code == 1000
        m = d.wait_log(r"\{\"time\".*\"close_code\":1000.*\}")
        line = m.group(0)
        rec = json.loads(line)
        assert rec["close_reason"] == "\u00e9t\u00e9", rec
        # No time stamp or level before it: the line is the object.
        whole = [l for l in d.log_text().split("\n") if line in l]
        assert whole == [line], whole
    finally:
        d.kill()


def test_text_access_file_reopened_on_sigusr1():
    d_dir = W.tmpdir()
    log = os.path.join(d_dir, "access.log")
    conf = W.write_config(directory=d_dir,
                          extra={"access_log": {"file": log}})
    d = W.start_daemon(conf)
    try:
        with W.RawClient(d.port) as c:
            c.handshake(path="/nowhere", expect=404)
        wait_lines(log, 1)
        os.rename(log, log + ".1")
        d.send_signal(signal.SIGUSR1)
        d.wait_log(r"SIGUSR1: reopening the access log")
        with W.raw_ws(d.port) as c:
            c.send_close(1000)
            c.read_frame()
        wait_lines(log, 1)
        with open(log + ".1") as f:
            old = f.read()
        with open(log) as f:
            new = f.read()
        assert re.search(r'Z info: worker 0: access 127\.0\.0\.1:\d+ '
                         r'"GET /nowhere" 404 ', old), old
        assert re.search(r'access 127\.0\.0\.1:\d+ "GET /echo" 101 .* '
                         r'close=1000', new), new
        assert "/nowhere" not in new
        # The access lines went to the file only.
        assert not d.find_log(r"access 127\.0\.0\.1"), d.tail()
    finally:
        d.kill()


def test_bad_access_log_settings_named_with_their_line():
    d_dir = W.tmpdir()
    conf = W.write_config(directory=d_dir, extra={"access_log": {
        "format": "xml", "file": "no/such/dir/access.log", "rotate": 1}})
    r = W.run_wsd(["-t", "-c", conf])
    assert r.returncode == 1, r
    fl = W.line_of(conf, "format")
    assert re.search(r"%s:%d: 'format' must be \"text\" or \"json\"" % (
        re.escape(conf), fl), r.stderr), r.stderr
    assert re.search(r"%s:%d: access_log file: directory \S+no/such/dir: "
                     r"No such file or directory" % (
                         re.escape(conf), W.line_of(conf, "file")),
                     r.stderr), r.stderr
    assert "rotate" in r.stderr, r.stderr


def test_repeated_warnings_logged_once_a_second_with_a_count():
    n = 200
    d = W.start(routes=[W.route("/echo", plugin="good",
                                settings={"warn": True})],
                plugin_dir=W.TEST_PLUGIN_DIR)
    try:
        with W.raw_ws(d.port) as c:
            t0 = time.monotonic()
            for i in range(n):
                c.send_text(b"same warning")
            for i in range(n):
                assert c.read_frame().payload == b"same warning"
            c.send_text(b"another warning")
            assert c.read_frame().payload == b"another warning"
            elapsed = time.monotonic() - t0
        d.wait_log(r"good: another warning")
        d.wait_log(r"repeated \d+ more times? \(a message is logged at most "
                   r"once a second\): .*good: same warning", timeout=5)
        text = d.log_text()
        direct = len(re.findall(r"warning: .*good: same warning\n", text))
        repeated = sum(int(x) for x in re.findall(
            r"repeated (\d+) more times?.*good: same warning", text))
        assert direct + repeated == n, (direct, repeated)
        # At most one a second got through (and one per interval start).
        assert 1 <= direct <= int(elapsed) + 2, (direct, elapsed)
        assert repeated >= n - direct, text[-2000:]
    finally:
        d.kill()


def test_failed_access_write_is_said():
    """A full disk loses the line but says so, and serving goes on."""
    d = W.start(extra={"access_log": {"format": "json",
                                      "file": "/dev/full"}})
    try:
        for _ in range(3):
            with W.raw_ws(d.port) as c:
                c.send_text(b"x")
                assert c.read_frame().payload == b"x"
                c.send_close(1000)
                assert c.read_frame().code == 1000
        d.wait_log(r"warning: .*access log /dev/full: No space left on "
                   r"device")
    finally:
        d.kill()


if __name__ == "__main__":
    W.run([
        test_json_lines_for_every_close_path,
        test_json_on_stderr_is_one_object_a_line,
        test_text_access_file_reopened_on_sigusr1,
        test_bad_access_log_settings_named_with_their_line,
        test_repeated_warnings_logged_once_a_second_with_a_count,
        test_failed_access_write_is_said,
    ])
