"""Logging never stalls the event loop: with stderr a pipe nobody reads,
clients are still served; lines that do not fit are counted and the count
is logged once the output moves again; nothing is lost at a normal exit."""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

DROPPED_RE = re.compile(r"(\d+) log lines dropped")


class PipedDaemon:
    """wsd with stderr on a pipe, or a socket as the journal's is, that
    the test reads only when it says."""

    def __init__(self, conf, kind):
        if kind == "pipe":
            self.r, w = os.pipe()
        else:
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.r, w = a.detach(), b.detach()
        self.proc = subprocess.Popen(
            W.WRAPPER + [W.WSD, "-c", conf, "-p", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=w)
        os.close(w)
        self.text = b""
        self.eof = False

    def read_some(self, timeout):
        """Read what is there within timeout; False at end of file."""
        if self.eof:
            return False
        ready, _, _ = select.select([self.r], [], [], timeout)
        if ready:
            data = os.read(self.r, 65536)
            if not data:
                self.eof = True
                return False
            self.text += data
        return True

    def read_until(self, regex, timeout):
        deadline = time.monotonic() + W.T(timeout)
        pat = re.compile(regex)
        while time.monotonic() < deadline:
            m = pat.search(self.text.decode("utf-8", "replace"))
            if m:
                return m
            if not self.read_some(0.1):
                break
        m = pat.search(self.text.decode("utf-8", "replace"))
        assert m, "no %r in wsd's stderr:\n%s" % (
            regex, self.text[-3000:].decode("utf-8", "replace"))
        return m

    def read_to_eof(self, timeout):
        deadline = time.monotonic() + W.T(timeout)
        while time.monotonic() < deadline and self.read_some(0.1):
            pass
        assert self.eof, "stderr still open after %ss" % timeout

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        os.close(self.r)


def echo_conf(**settings):
    s = {"max_logged_bytes": 65536, "log_messages": True}
    s.update(settings)
    return W.write_config(routes=[W.route("/echo", settings=s)],
                          log_level="info")


def blocked_stderr_does_not_stall_clients(kind):
    d = PipedDaemon(echo_conf(), kind)
    try:
        port = int(d.read_until(W.LISTEN_RE.pattern, 10).group(2))
        # From here on nobody reads wsd's stderr.  Each message makes a
        # log line of about 1 KB: the pipe is full after some 60, wsd's
        # buffer (1 MiB) after some 1100.
        c = W.raw_ws(port, "/echo")
        payload = b"x" * 2000
        t0 = time.monotonic()
        for i in range(1500):
            msg = b"%05d" % i + payload
            c.send_text(msg)
            op, got = c.read_message(timeout=W.T(5))
            assert (op, got) == (W.OP_TEXT, msg), "echo %d wrong" % i
            if i == 199:
                dt = time.monotonic() - t0
                assert dt < W.T(3), \
                    "200 echoes took %.1fs with stderr full" % dt
        dt = time.monotonic() - t0
        assert dt < W.T(10), "1500 echoes took %.1fs with stderr full" % dt
        # another client gets in and is served too
        W.echo_ok(port, "/echo", "still here")
        # read again: the lines that fit, then the count of the rest
        m = d.read_until(DROPPED_RE.pattern, 10)
        assert int(m.group(1)) > 0, m.group(0)
        text = d.text.decode("utf-8", "replace")
        assert len(DROPPED_RE.findall(text)) == 1, \
            "more than one drop line:\n%s" % "\n".join(
                l for l in text.splitlines() if "dropped" in l)
        # the output flows again: a new message is logged, not dropped
        c.send_text(b"after the flood")
        assert c.read_message(timeout=W.T(5)) == (W.OP_TEXT,
                                                  b"after the flood")
        d.read_until(r"after the flood", 10)
        c.close()
        d.proc.send_signal(signal.SIGTERM)
        d.read_to_eof(10)
        assert d.proc.wait(W.T(10)) == 0
        assert b"stopped" in d.text.splitlines()[-1], d.text[-500:]
    finally:
        d.kill()


def nothing_lost_at_exit(kind):
    """Lines queued while stderr is full all come out at a normal exit."""
    d = PipedDaemon(echo_conf(), kind)
    try:
        port = int(d.read_until(W.LISTEN_RE.pattern, 10).group(2))
        c = W.raw_ws(port, "/echo")
        n = 300  # some 300 KB of log: more than the pipe, less than the buffer
        for i in range(n):
            msg = b"m%03d-" % i + b"y" * 2000
            c.send_text(msg)
            assert c.read_message(timeout=W.T(5)) == (W.OP_TEXT, msg)
        c.close()
        d.proc.send_signal(signal.SIGTERM)
        d.read_to_eof(15)
        assert d.proc.wait(W.T(10)) == 0
        text = d.text.decode("utf-8", "replace")
        for i in range(n):
            assert "m%03d-" % i in text, "message %d not logged" % i
        assert "dropped" not in text, text[-500:]
        assert text.splitlines()[-1].endswith("stopped"), text[-500:]
    finally:
        d.kill()


def test_exit_not_held_by_a_reader_that_reads_nothing():
    """stderr full and never read again: SIGTERM still ends wsd, after
    the 5 s log_detach() gives a reader that takes nothing (it waited
    for ever before)."""
    d = PipedDaemon(echo_conf(), "pipe")
    try:
        port = int(d.read_until(W.LISTEN_RE.pattern, 10).group(2))
        c = W.raw_ws(port, "/echo")
        for i in range(300):    # some 600 KB of log: the pipe holds 64 KB
            msg = b"s%03d-" % i + b"z" * 2000
            c.send_text(msg)
            assert c.read_message(timeout=W.T(5)) == (W.OP_TEXT, msg)
        c.close()
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        try:
            status = d.proc.wait(W.T(15))
        except subprocess.TimeoutExpired:
            raise AssertionError("wsd still running %.0fs after SIGTERM "
                                 "with its stderr unread"
                                 % (time.monotonic() - t0))
        dt = time.monotonic() - t0
        assert status == 0, status
        assert 4.5 < dt < W.T(12), "exited after %.1fs" % dt
    finally:
        d.kill()


def test_blocked_stderr_pipe_does_not_stall_clients():
    blocked_stderr_does_not_stall_clients("pipe")


def test_blocked_stderr_socket_does_not_stall_clients():
    blocked_stderr_does_not_stall_clients("socket")


def test_nothing_lost_at_exit_pipe():
    nothing_lost_at_exit("pipe")


def test_nothing_lost_at_exit_socket():
    nothing_lost_at_exit("socket")


def test_pipe_left_blocking():
    """wsd's non-blocking writes do not make stderr non-blocking for the
    others holding it (the shell that started it, on a terminal)."""
    r, w = os.pipe()
    try:
        proc = subprocess.Popen(
            W.WRAPPER + [W.WSD, "-c", echo_conf(), "-p", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=w)
        try:
            buf = b""
            while not W.LISTEN_RE.search(buf.decode("utf-8", "replace")):
                ready, _, _ = select.select([r], [], [], W.T(10))
                assert ready, "wsd did not start: %r" % buf
                buf += os.read(r, 65536)
            # the loop runs (and logs) by the time an echo comes back
            W.echo_ok(int(W.LISTEN_RE.search(buf.decode()).group(2)))
            assert os.get_blocking(w), "wsd made the shared pipe O_NONBLOCK"
        finally:
            proc.terminate()
            proc.wait(W.T(10))
    finally:
        os.close(r)
        os.close(w)


TESTS = [
    test_exit_not_held_by_a_reader_that_reads_nothing,
    test_blocked_stderr_pipe_does_not_stall_clients,
    test_blocked_stderr_socket_does_not_stall_clients,
    test_nothing_lost_at_exit_pipe,
    test_nothing_lost_at_exit_socket,
    test_pipe_left_blocking,
]

if __name__ == "__main__":
    W.run(TESTS)
