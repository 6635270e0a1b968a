"""Failures inside wsd (out of memory where libevent allocates) fail one
connection cleanly: no half frame, no corrupt stream, exactly one close
for the plugin, and the daemon goes on.  The failures are made for real
by tests/.libs/faultinject.so (tests/faultinject.c), preloaded."""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

SHIM = os.path.join(W.BUILDDIR, "tests", ".libs", "faultinject.so")


def start_faulty(fault, routes=None, **kw):
    """wsd with WSD_FAULT=fault and the shim preloaded."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    # The shim comes before ASan's runtime in the library list.
    asan = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    wrapper = ["env", "LD_PRELOAD=" + SHIM, "WSD_FAULT=" + fault,
               "ASAN_OPTIONS=" + asan] + W.WRAPPER
    hooks = any(r["plugin"] == "hooks" for r in routes or [])
    conf = W.write_config(plugin_dir=W.TEST_PLUGIN_DIR if hooks
                          else W.PLUGIN_DIR, routes=routes, **kw)
    return W.start_daemon(conf, wrapper=wrapper)


def hooks_routes():
    return [W.route("/hooks", plugin="hooks")]


def test_no_memory_after_handshake_accepted():
    """No output buffer for the 101 after the plugin's handshake hook
    accepted: the client gets 503 (written without a buffer), the plugin
    hears close exactly once
    (1011), and the daemon lives on (it removed the connection from a
    route list it was never on)."""
    d = start_faulty("new", routes=hooks_routes())
    try:
        for _ in range(2):
            with W.RawClient(d.port) as c:
                c.send(c.upgrade_request("/hooks"))
                rest = c.read_until_eof(timeout=5)
                assert rest.startswith(b"HTTP/1.1 503 "), rest[:80]
        d.wait_log(r"hooks close code=1011", timeout=5)
        time.sleep(0.2)
        closes = re.findall(r"hooks close code=(\d+)", d.log_text())
        assert closes == ["1011", "1011"], closes
        assert d.alive(), "wsd died: %s" % d.state()
        assert "faultinject: evbuffer_new" in d.log_text()
    finally:
        d.kill()


def test_101_not_queued_answers_503():
    """The 101 cannot be queued: the client gets 503, never an open
    connection without a 101, and the plugin that accepted the handshake
    hears close once."""
    d = start_faulty("printf=101 Switching", routes=hooks_routes())
    try:
        with W.RawClient(d.port) as c:
            c.send(c.upgrade_request("/hooks"))
            W.expect_http_error(c, 503, timeout=5)
        d.wait_log(r"hooks close code=1011", timeout=5)
        assert "faultinject: evbuffer_add_printf" in d.log_text()
        assert len(re.findall(r"hooks close code=", d.log_text())) == 1
    finally:
        d.kill()


def test_payload_not_queued_no_half_frame():
    """A frame's payload cannot be queued after its header was: the
    connection is dropped with nothing of that frame on the wire (it used
    to send the header alone, and the next frame became its payload)."""
    d = start_faulty("add=5000", routes=[W.route("/echo")])
    try:
        with W.raw_ws(d.port) as c:
            c.send_frame(W.OP_BINARY, b"x" * 5000)
            c.send_text(b"next")
            rest = c.read_until_eof(timeout=5)
            assert rest == b"", "bytes of a broken stream: %r" % rest[:40]
        d.wait_log(r"faultinject: evbuffer_add", timeout=2)
        d.wait_log(r"access .* 101 .* close=1006", timeout=5)
        # Everyone else is served as before.
        with W.raw_ws(d.port) as c:
            c.send_text(b"hello")
            assert c.read_message(timeout=5) == (W.OP_TEXT, b"hello")
    finally:
        d.kill()


def test_broadcast_half_sent_drops_the_client():
    """A broadcast frame half taken by the kernel whose rest cannot be
    queued: the client is dropped at once, nothing follows the half frame
    (its own reply used to be written into the middle of it)."""
    payload = b"b" * 597        # + 4 bytes of header: a 601-byte frame
    d = start_faulty("send=601,add=301", routes=hooks_routes())
    try:
        with W.raw_ws(d.port, "/hooks") as c:
            c.read_message(timeout=5)       # the greeting
            c.send_text(b"bcast:" + payload)
            rest = c.read_until_eof(timeout=5)
            assert len(rest) == 300, "%d bytes after the half frame: %r" % (
                len(rest), rest[300:340])
        d.wait_log(r"hooks close code=1006", timeout=5)
        with W.raw_ws(d.port, "/hooks") as c:
            c.read_message(timeout=5)
            c.send_text(b"clients")
            assert c.read_message(timeout=5) == (W.OP_TEXT, b"1")
    finally:
        d.kill()


def test_shim_is_loaded():
    """The preload works at all (else every test above proves nothing)."""
    d = start_faulty("add=7777", routes=[W.route("/echo")])
    try:
        with W.raw_ws(d.port) as c:
            c.send_frame(W.OP_BINARY, b"y" * 7777)
            c.read_until_eof(timeout=5)
        d.wait_log(r"faultinject: evbuffer_add", timeout=2)
    finally:
        d.kill()


TESTS = [
    test_shim_is_loaded,
    test_no_memory_after_handshake_accepted,
    test_101_not_queued_answers_503,
    test_payload_not_queued_no_half_frame,
    test_broadcast_half_sent_drops_the_client,
]

if __name__ == "__main__":
    if not os.path.exists(SHIM):
        print("%s is missing: make check builds it" % SHIM)
        sys.exit(99)
    W.run(TESTS)
