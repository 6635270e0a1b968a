"""
wsdtest: the shared harness of wsd's integration tests.

Each tests/integration/test_*.py imports this module, defines test
functions and calls run(TESTS).  Run with Debian's Python (it has
python3-websockets):

    WSD_BUILDDIR=/abs/build WSD_SRCDIR=/abs/src /usr/bin/python3 test_X.py

Environment:
    WSD_BUILDDIR   build directory: wsd, plugins/.libs, tests/plugins/.libs
    WSD_SRCDIR     source directory: www/index.html
    WSD_TEST_WRAPPER        optional command prefix for wsd ("valgrind -q")
    WSD_TEST_TIMEOUT_SCALE  multiply every timeout (default 1)
    WSD_TEST_NO_SKIP        1: a skipped case fails (CI, see .ci/run)

Over TLS: with use_tls(setup) (tlstest.py) in force, make_config() puts
a `tls` group on its listener and RawClient, ws_connect() and the
helpers built on them speak wss; both_schemes(TESTS) runs every case
of a suite twice, NAME[ws] and NAME[wss].

A file exits 0 when every case passed, 1 when one failed and 77 (what
automake counts as SKIP) when none failed but one was skipped.

Only temporary directories from tempfile.mkdtemp() are written, so the
tests work in a read-only VPATH source tree (make distcheck).
"""

import asyncio
import base64
import hashlib
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

_HERE = os.path.dirname(os.path.abspath(__file__))
_TOP = os.path.dirname(os.path.dirname(_HERE))

BUILDDIR = os.path.abspath(os.environ.get("WSD_BUILDDIR") or _TOP)
SRCDIR = os.path.abspath(os.environ.get("WSD_SRCDIR") or _TOP)
WSD = os.path.join(BUILDDIR, "wsd")
PLUGIN_DIR = os.path.join(BUILDDIR, "plugins", ".libs")
TEST_PLUGIN_DIR = os.path.join(BUILDDIR, "tests", "plugins", ".libs")
WWW_DIR = os.path.join(SRCDIR, "www")
WRAPPER = shlex.split(os.environ.get("WSD_TEST_WRAPPER", ""))
SCALE = float(os.environ.get("WSD_TEST_TIMEOUT_SCALE", "1") or 1)

LISTEN_RE = re.compile(r"listening on (127\.0\.0\.1|\[::1\]):(\d+)")
READY_RE = re.compile(r"notice: \d+ worker\(s\) ready")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


def T(seconds):
    """A timeout, scaled for slow runs (valgrind, sanitizers)."""
    return seconds * SCALE


# ------------------------------------------------------------ ws or wss

# The tlstest.Setup the current case runs over (wss), or None (ws).
TLS = None


def use_tls(setup):
    """Run what follows over wss with setup (a tlstest.Setup: .group()
    for the listener, .context() for clients), or over ws with None."""
    global TLS
    TLS = setup


def scheme():
    return "wss" if TLS is not None else "ws"


def both_schemes(tests):
    """Every test twice: NAME[ws] over plain TCP, then NAME[wss] over TLS
    with tlstest's default certificates."""
    def variant(t, wss):
        def run_it():
            if wss:
                import tlstest
                use_tls(tlstest.default_setup())
            try:
                t()
            finally:
                use_tls(None)
        run_it.__name__ = "%s[%s]" % (t.__name__, "wss" if wss else "ws")
        return run_it
    return [variant(t, False) for t in tests] + \
        [variant(t, True) for t in tests]


# ------------------------------------------------------------ temp files

_tmpdirs = []


def tmpdir():
    """A fresh temporary directory, removed when the test file ends."""
    d = tempfile.mkdtemp(prefix="wsd-itest-")
    _tmpdirs.append(d)
    return d


def write_file(path, data):
    mode = "wb" if isinstance(data, (bytes, bytearray)) else "w"
    with open(path, mode) as f:
        f.write(data)
    return path


# ------------------------------------------------------------ config

class Raw(str):
    """A value written into the libconfig file verbatim."""


def _lc_value(v, indent):
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return "%dL" % v if not -2**31 <= v < 2**31 else str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        s = v.replace("\\", "\\\\").replace('"', '\\"')
        return '"%s"' % s
    if isinstance(v, dict):
        if not v:
            return "{ }"
        pad = "  " * (indent + 1)
        inner = "".join("%s%s = %s;\n" % (pad, k, _lc_value(x, indent + 1))
                        for k, x in v.items())
        return "{\n%s%s}" % (inner, "  " * indent)
    if isinstance(v, (list, tuple)):
        if any(isinstance(x, dict) for x in v):
            pad = "  " * (indent + 1)
            items = (",\n").join(pad + _lc_value(x, indent + 1) for x in v)
            return "(\n%s\n%s)" % (items, "  " * indent)
        return "[ %s ]" % ", ".join(_lc_value(x, indent) for x in v)
    raise TypeError("cannot write %r" % (v,))


def config_text(settings):
    """libconfig text of an ordered dict of top-level settings."""
    return "".join("%s = %s;\n" % (k, _lc_value(v, 0))
                   for k, v in settings.items())


def route(path="/echo", plugin="echo-logger", origins=("*",), settings=None,
          limits=None, **extra):
    r = {"path": path, "plugin": plugin}
    if origins is not None:
        r["origins"] = list(origins)
    r["settings"] = settings if settings is not None else {}
    if limits:
        r["limits"] = limits
    r.update(extra)
    return r


def make_config(routes=None, limits=None, document_root=None,
                plugin_dir=PLUGIN_DIR, log_level="debug", port=8888,
                address="127.0.0.1", extra=None, tls=None, listen=None):
    """Settings dict of a config; routes default to /echo on echo-logger.
    tls: the listener's `tls` group (by default the one of use_tls(), if
    any; False: none); listen: the whole `listen` list instead."""
    if routes is None:
        routes = [route()]
    lim = {"close_timeout": 2}
    lim.update(limits or {})
    if listen is None:
        listen = [{"address": address, "port": port}]
        if tls is None and TLS is not None:
            tls = TLS.group()
        if tls:
            listen[0]["tls"] = tls
    s = {"listen": listen}
    if plugin_dir is not None:
        s["plugin_dir"] = plugin_dir
    if document_root is not None:
        s["document_root"] = document_root
    s["log_level"] = log_level
    s["limits"] = lim
    s["routes"] = routes
    if extra:
        s.update(extra)
    return s


def write_config(settings=None, directory=None, name="wsd.conf", text=None,
                 **kw):
    """Write a config (from settings, make_config(**kw) or raw text) and
    return its path."""
    directory = directory or tmpdir()
    path = os.path.join(directory, name)
    if text is None:
        text = config_text(settings if settings is not None
                           else make_config(**kw))
    write_file(path, text)
    return path


def line_of(path, needle):
    """1-based number of the first line of file `path` containing needle."""
    with open(path) as f:
        for i, l in enumerate(f, 1):
            if needle in l:
                return i
    raise AssertionError("%r not in %s" % (needle, path))


# ------------------------------------------------------------ processes

# What AddressSanitizer, LeakSanitizer and UBSan print when they find
# something; any of it fails the test, whatever else it checked.
SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|"
                          r"runtime error: |SUMMARY: UndefinedBehavior")


def sanitizer_report(text):
    m = SANITIZER_RE.search(text)
    if m is None:
        return None
    return text[max(0, m.start() - 200):m.start() + 3000]


def run_wsd(args, timeout=10, cwd=None):
    """Run wsd to completion; CompletedProcess with str stdout/stderr."""
    r = subprocess.run(WRAPPER + [WSD] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=T(timeout), cwd=cwd,
                       errors="surrogateescape")
    report = sanitizer_report(r.stderr)
    if report is not None:
        _run_reports.append(report)
    return r


_daemons = []
_run_reports = []


class Daemon:
    """A running wsd; stderr (and stdout) lines collected by threads."""

    def __init__(self, conf, args=None, port_override=True, wrapper=None,
                 new_session=False):
        """wrapper: a command prefix instead of WSD_TEST_WRAPPER's;
        new_session: wsd leads a process group of its own (a terminal's
        Ctrl-C can then be sent to that group)."""
        self.conf = conf
        argv = (WRAPPER if wrapper is None else list(wrapper)) + \
            [WSD, "-c", conf]
        if port_override:
            argv += ["-p", "0"]
        argv += list(args or [])
        self.argv = argv
        self.lines = []          # str, stderr then stdout interleaved
        self.raw = bytearray()   # all stderr bytes
        self.cond = threading.Condition()
        self.expected_exit = False
        self.crashed = None
        self.port = None
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     start_new_session=new_session)
        self.pid = self.proc.pid
        _daemons.append(self)
        self._eof = 0
        self.threads = [
            threading.Thread(target=self._reader, args=(self.proc.stderr, True),
                             daemon=True),
            threading.Thread(target=self._reader, args=(self.proc.stdout, False),
                             daemon=True)]
        for t in self.threads:
            t.start()

    def _reader(self, f, is_err):
        for line in iter(f.readline, b""):
            with self.cond:
                if is_err:
                    self.raw += line
                self.lines.append(line.decode("utf-8", "replace")
                                  .rstrip("\r\n"))
                self.cond.notify_all()
        with self.cond:
            self._eof += 1
            self.cond.notify_all()

    # -- logs

    def mark(self):
        """Index of the next log line, for wait_log(start=...)."""
        with self.cond:
            return len(self.lines)

    def find_log(self, regex, start=0):
        r = re.compile(regex)
        with self.cond:
            for l in self.lines[start:]:
                m = r.search(l)
                if m:
                    return m
        return None

    def wait_log(self, regex, timeout=10, start=0):
        """Wait for a log line matching regex (from line `start` on);
        return the match or raise AssertionError."""
        r = re.compile(regex)
        deadline = time.monotonic() + T(timeout)
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = r.search(self.lines[i])
                    i += 1
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self._eof == 2:
                    raise AssertionError(
                        "no log line matching %r within %ss (process %s)\n%s"
                        % (regex, T(timeout), self.state(), self.tail()))
                self.cond.wait(left)

    def log_text(self):
        with self.cond:
            return "\n".join(self.lines)

    def tail(self, n=40):
        with self.cond:
            return "\n".join("    | " + l for l in self.lines[-n:])

    def state(self):
        rc = self.proc.poll()
        return "running" if rc is None else "exited %s" % rc

    # -- life cycle

    def wait_listening(self, timeout=10):
        """Wait until the master listens and every worker serves (what
        systemd hears as READY=1); the port."""
        m = self.wait_log(LISTEN_RE.pattern, timeout)
        self.port = int(m.group(2))
        self.wait_log(READY_RE.pattern, timeout)
        return self.port

    def listen_ports(self, n, timeout=10):
        """Wait for n "listening on" lines; their ports, in the order
        logged (the order of the `listen` list)."""
        deadline = time.monotonic() + T(timeout)
        while True:
            with self.cond:
                ports = [int(m.group(2)) for m in
                         (LISTEN_RE.search(l) for l in self.lines) if m]
            if len(ports) >= n:
                return ports[:n]
            if time.monotonic() > deadline or not self.alive():
                raise AssertionError("%d of %d listeners logged\n%s"
                                     % (len(ports), n, self.tail()))
            time.sleep(0.05)

    def alive(self):
        return self.proc.poll() is None

    def children(self):
        """PIDs of the master's children: its workers (and a
        configuration check while one runs)."""
        try:
            with open("/proc/%d/task/%d/children" % (self.pid, self.pid)) \
                    as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def worker_pids(self, n=None, timeout=10):
        """The workers' PIDs, from the "worker N started (pid P)" lines
        of the workers still alive; with n, wait until there are n."""
        deadline = time.monotonic() + T(timeout)
        while True:
            kids = set(self.children())
            pids = {}
            for line in self.lines:
                m = re.search(r"worker (\d+) started \(pid (\d+)\)", line)
                if m and int(m.group(2)) in kids:
                    pids[int(m.group(1))] = int(m.group(2))
            if n is None or len(pids) >= n or time.monotonic() > deadline:
                return [pids[k] for k in sorted(pids)]
            time.sleep(0.05)

    def send_signal(self, sig):
        os.kill(self.pid, sig)

    def wait_exit(self, timeout=10):
        """Wait for the process to end by itself; its exit code."""
        self.expected_exit = True
        try:
            rc = self.proc.wait(T(timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError("wsd (pid %d) still running after %ss\n%s"
                                 % (self.pid, T(timeout), self.tail()))
        self._join()
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Send sig (SIGTERM) and return the exit code."""
        self.expected_exit = True
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
        return self.wait_exit(timeout)

    def kill(self):
        """For finally blocks: make sure the process is gone.  It is asked
        to stop first (SIGTERM), so that a sanitizer build gets to check
        for leaks at exit; SIGKILL only if it does not."""
        if self.proc.poll() is not None:
            if not self.expected_exit:
                self.crashed = self.proc.returncode
        else:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.proc.wait(T(8))
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
            self.proc.wait()
        self.expected_exit = True
        self._join()

    def sanitizer_report(self):
        """What ASan, LSan or UBSan printed, or None."""
        return sanitizer_report(self.raw.decode("utf-8", "replace"))

    def _join(self):
        for t in self.threads:
            t.join(T(5))


def start_daemon(conf, args=None, timeout=10, wrapper=None):
    """Start wsd -c conf -p 0 and wait until it listens (d.port)."""
    d = Daemon(conf, args, wrapper=wrapper)
    try:
        d.wait_listening(timeout)
    except BaseException:
        d.kill()
        raise
    return d


def start(**kw):
    """write_config(**kw) and start_daemon() in one go."""
    return start_daemon(write_config(**kw))


# ------------------------------------------------------------ raw client

def accept_key(key):
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=True,
                mask_key=None, length=None, length_form=None):
    """Encode a frame.  length overrides the length field (payload is then
    sent as is); length_form forces 7, 16 or 64 bit encoding."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    form = length_form or (7 if n < 126 else 16 if n < 65536 else 64)
    if form == 7:
        head = struct.pack("!BB", b0, mbit | n)
    elif form == 16:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        mk = mask_key if mask_key is not None else os.urandom(4)
        return head + mk + _xor(payload, mk)
    return head + payload


def _xor(data, mk):
    if not data:
        return b""
    n = len(data)
    full = (mk * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(full, "big")) \
        .to_bytes(n, "big")


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode = fin, rsv, opcode
        self.masked, self.payload = masked, payload

    @property
    def code(self):
        """Close code (None if the close frame has no payload)."""
        if len(self.payload) >= 2:
            return struct.unpack("!H", self.payload[:2])[0]
        return None

    @property
    def reason(self):
        return self.payload[2:]

    def __repr__(self):
        p = self.payload
        return "Frame(op=%#x fin=%s rsv=%d masked=%s len=%d %r%s)" % (
            self.opcode, self.fin, self.rsv, self.masked, len(p), p[:40],
            "..." if len(p) > 40 else "")


class Response:
    def __init__(self, status, reason, headers, head):
        self.status, self.reason = status, reason
        self.headers = headers    # list of (lower-case name, value)
        self.head = head

    def get(self, name, default=None):
        for k, v in self.headers:
            if k == name.lower():
                return v
        return default

    def get_all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def __repr__(self):
        return "Response(%d %s)\n%s" % (self.status, self.reason,
                                        self.head.decode("latin-1"))


class EOF(Exception):
    pass


class RawClient:
    """A WebSocket client over a plain socket, for exact wire control.
    tls: an ssl.SSLContext to speak TLS with (handshake done here),
    False for plain TCP, None for what use_tls() says; server_hostname
    and session go to its wrap_socket().  rcvbuf: SO_RCVBUF, set before
    connecting (a client that reads slowly)."""

    def __init__(self, port, host="127.0.0.1", timeout=10, tls=None,
                 server_hostname=None, session=None, rcvbuf=None):
        self.port = port
        self.host = host
        self.timeout = T(timeout)
        if rcvbuf is None:
            self.sock = socket.create_connection((host, port), self.timeout)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(self.timeout)
            try:
                self.sock.connect((host, port))
            except BaseException:
                self.sock.close()
                raise
        self.sock.settimeout(self.timeout)
        if tls is None and TLS is not None:
            tls = TLS.context()
        if tls:
            try:
                # Ragged EOFs raise, so that _fill() can tell an end
                # with close_notify from one without.
                self.sock = tls.wrap_socket(
                    self.sock, server_hostname=server_hostname or host,
                    session=session, suppress_ragged_eofs=False)
            except BaseException:
                self.sock.close()
                raise
        self.tls = bool(tls)
        self.buf = bytearray()
        self.eof = False
        self.reset = False     # the peer reset instead of closing cleanly
        self.tls_error = None  # the ssl.SSLError that ended the stream
        self.close_notify = False  # TLS: the server ended with close_notify

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # -- bytes

    def send(self, data):
        """sendall, ignoring a peer that has already gone (EPIPE/RST):
        the test then reads what the server said before going."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False
        except ssl.SSLError as e:
            self.tls_error = e
            return False

    def _fill(self, timeout=None):
        """Read more bytes into buf; False at EOF. socket.timeout on
        timeout."""
        if self.eof:
            return False
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            self.reset = True
            data = b""
        except ssl.SSLZeroReturnError:
            data = b""          # close_notify
            self.close_notify = True
        except ssl.SSLEOFError:
            data = b""          # EOF without close_notify
        except ssl.SSLError as e:
            if getattr(e, "reason", None) == "UNEXPECTED_EOF_WHILE_READING":
                # OpenSSL 3's word for an EOF without close_notify
                self.eof = True
                return False
            # An alert or a bad record: not a clean end of stream.
            self.tls_error = e
            self.reset = True
            data = b""
        else:
            if not data and self.tls:
                self.close_notify = True
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out waiting for %d bytes "
                                     "(have %d)" % (n, len(self.buf)))
            if not self._fill(left):
                raise EOF("EOF after %d of %d bytes" % (len(self.buf), n))
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_until_eof(self, timeout=None):
        """All bytes up to EOF; AssertionError if the server keeps the
        connection open longer than timeout."""
        t = self.timeout if timeout is None else T(timeout)
        deadline = time.monotonic() + t
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("connection still open after %.1fs "
                                     "(read %d bytes)" % (t, len(self.buf)))
            try:
                if not self._fill(left):
                    break
            except socket.timeout:
                continue
        data = bytes(self.buf)
        self.buf.clear()
        return data

    # -- HTTP

    def request(self, method="GET", path="/echo", headers=None,
                version="HTTP/1.1"):
        """Build a request head.  headers: list of (name, value); None
        values drop a default header."""
        lines = ["%s %s %s" % (method, path, version)]
        for k, v in headers or []:
            if v is not None:
                lines.append("%s: %s" % (k, v))
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def upgrade_request(self, path="/echo", key=None, extra=(), drop=(),
                        method="GET", version="HTTP/1.1", host=None):
        """A WebSocket upgrade request; drop names default headers to
        leave out."""
        self.key = key if key is not None else new_key()
        hdrs = [("Host", host or "127.0.0.1:%d" % self.port),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", self.key),
                ("Sec-WebSocket-Version", "13")]
        hdrs = [(k, v) for k, v in hdrs if k.lower() not in
                [d.lower() for d in drop]]
        hdrs += list(extra)
        return self.request(method, path, hdrs, version)

    def read_response(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else T(timeout))
        while b"\r\n\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no complete HTTP response; got %r"
                                     % bytes(self.buf[:300]))
            if not self._fill(left):
                raise AssertionError("EOF before a complete HTTP response; "
                                     "got %r" % bytes(self.buf[:300]))
        i = self.buf.index(b"\r\n\r\n") + 4
        head = bytes(self.buf[:i])
        del self.buf[:i]
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)$", lines[0])
        assert m, "bad status line %r" % lines[0]
        headers = []
        for l in lines[1:]:
            if not l:
                continue
            k, _, v = l.partition(":")
            headers.append((k.strip().lower(), v.strip()))
        return Response(int(m.group(1)), m.group(2), headers, head)

    def handshake(self, path="/echo", expect=101, **kw):
        """Send an upgrade request and read the response; with
        expect=101 check Sec-WebSocket-Accept too."""
        self.send(self.upgrade_request(path, **kw))
        r = self.read_response()
        if expect is not None:
            assert r.status == expect, "expected %s, got %r" % (expect, r)
        if r.status == 101:
            assert r.get("sec-websocket-accept") == accept_key(self.key), r
        return r

    # -- frames

    def send_frame(self, opcode, payload=b"", **kw):
        return self.send(build_frame(opcode, payload, **kw))

    def send_text(self, s, **kw):
        return self.send_frame(OP_TEXT, s, **kw)

    def send_close(self, code=None, reason=b"", **kw):
        return self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    def read_frame(self, timeout=None):
        """The next server frame; EOF at a clean end of stream."""
        h = self.read_exact(2, timeout)
        fin = bool(h[0] & 0x80)
        rsv = (h[0] >> 4) & 7
        op = h[0] & 0x0F
        masked = bool(h[1] & 0x80)
        n = h[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.read_exact(2, timeout))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.read_exact(8, timeout))[0]
        mk = self.read_exact(4, timeout) if masked else None
        payload = self.read_exact(n, timeout) if n else b""
        if masked:
            payload = _xor(payload, mk)
        return Frame(fin, rsv, op, masked, payload)

    def read_message(self, timeout=None, skip_ping=True):
        """(opcode, payload) of the next whole data message; control
        frames other than pings are returned as Frame."""
        parts, first = [], None
        while True:
            f = self.read_frame(timeout)
            assert not f.masked, "server frame is masked: %r" % f
            assert f.rsv == 0, "server frame has RSV bits: %r" % f
            if f.opcode == OP_PING and skip_ping:
                continue
            if f.opcode >= 8:
                return f
            if first is None:
                assert f.opcode in (OP_TEXT, OP_BINARY), \
                    "unexpected continuation %r" % f
                first = f.opcode
            else:
                assert f.opcode == OP_CONT, "expected continuation %r" % f
            parts.append(f.payload)
            if f.fin:
                return first, b"".join(parts)

    def expect_close(self, code, timeout=10, reply=True, allow_reset=True):
        """Read until the server's close frame (data frames and pings
        before it are allowed), check its code (None: no payload;
        a tuple: any of them), optionally answer it, then require EOF.
        Returns the close frame."""
        deadline = time.monotonic() + T(timeout)
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no close frame within %ss; frames %r"
                                     % (T(timeout), seen))
            try:
                f = self.read_frame(left)
            except EOF:
                raise AssertionError("EOF (reset=%s) without a close frame;"
                                     " frames before: %r" % (self.reset, seen))
            except socket.timeout:
                continue
            if f.opcode == OP_CLOSE:
                break
            seen.append(f)
        assert not f.masked, "close frame is masked"
        assert f.fin, "close frame without FIN"
        codes = code if isinstance(code, tuple) else (code,)
        if code is not None:
            assert f.code in codes, "close code %s (reason %r), wanted %s" % (
                f.code, f.reason, code)
        else:
            assert f.payload == b"", "expected an empty close, got %r" % f
        if len(f.payload) > 2:
            f.reason.decode("utf-8")   # a valid UTF-8 reason
        if reply:
            self.send_close(f.code if f.code is not None else None)
        rest = self.read_until_eof(timeout)
        assert rest == b"", "bytes after the close frame: %r" % rest[:100]
        if not allow_reset:
            assert not self.reset, "connection reset instead of closed"
        if self.tls and not self.reset:
            # RFC 8446 6.1: close_notify before closing the write side.
            assert self.close_notify, \
                "TLS ended without close_notify after the close frame"
        return f


def raw_ws(port, path="/echo", **kw):
    """A RawClient that has completed the handshake."""
    c = RawClient(port)
    try:
        c.handshake(path, **kw)
    except BaseException:
        c.close()
        raise
    return c


def http_request(port, method, path, headers=(), body=b"", timeout=10):
    """One HTTP request with Connection: close.  (Response, body) where
    body is everything up to EOF."""
    with RawClient(port, timeout=timeout) as c:
        hdrs = [("Host", "127.0.0.1:%d" % port), ("Connection", "close")]
        hdrs += list(headers)
        if body:
            hdrs.append(("Content-Length", str(len(body))))
        c.send(c.request(method, path, hdrs) + body)
        r = c.read_response()
        data = c.read_until_eof(timeout)
        return r, data


def expect_http_error(c, status, timeout=10):
    """Read an error response on RawClient c: status, Connection: close,
    then the server closes.  Returns the Response."""
    r = c.read_response(timeout)
    assert r.status == status, "expected %d, got %r" % (status, r)
    conn = (r.get("connection") or "").lower()
    assert "close" in conn, "no Connection: close in %r" % r
    c.read_until_eof(timeout)
    return r


# ------------------------------------------------------------ websockets

def ws_uri(port, path="/echo"):
    return "%s://127.0.0.1:%d%s" % (scheme(), port, path)


def ws_connect(port, path="/echo", **kw):
    """websockets.connect() with test defaults; use as
    `async with ws_connect(port) as ws:`.  Over wss (use_tls()) with the
    setup's client context unless ssl= is given."""
    import websockets
    opts = dict(max_size=None, ping_interval=None, compression=None,
                open_timeout=T(10), close_timeout=T(10))
    if TLS is not None:
        opts["ssl"] = TLS.context()
    opts.update(kw)
    return websockets.connect(ws_uri(port, path), **opts)


def arun(coro, timeout=30):
    """Run a coroutine to completion with an overall time limit."""
    async def main():
        return await asyncio.wait_for(coro, T(timeout))
    return asyncio.run(main())


async def recv(ws, timeout=10):
    return await asyncio.wait_for(ws.recv(), T(timeout))


async def echo(ws, msg, timeout=10):
    await ws.send(msg)
    got = await recv(ws, timeout)
    assert got == msg, "echo mismatch: sent %r..., got %r..." % (
        msg[:40], got[:40])
    return got


def echo_ok(port, path="/echo", msg="ping?"):
    """Open a websockets connection, echo one message, close."""
    async def go():
        async with ws_connect(port, path) as ws:
            await echo(ws, msg)
    arun(go())


# ------------------------------------------------------------ runner

class Skip(Exception):
    """Raised by a test that cannot run here; counted apart, never passed
    (and a failure under WSD_TEST_NO_SKIP=1)."""


# automake's exit status for a test that was skipped.
EXIT_SKIP = 77


def run(tests):
    """Run test functions; print NAME: PASS/FAIL/SKIP and 'N passed, N
    failed[, N skipped]'; exit 0 if all passed, 1 if one failed, else
    EXIT_SKIP if one was skipped."""
    if not os.access(WSD, os.X_OK):
        print("wsd binary not found at %s (set WSD_BUILDDIR)" % WSD)
    no_skip = os.environ.get("WSD_TEST_NO_SKIP") == "1"
    passed = failed = skipped = 0
    only = sys.argv[1:]
    try:
        for t in tests:
            name = t.__name__
            if only and not any(o in name for o in only):
                continue
            del _daemons[:]
            t0 = time.monotonic()
            err = None
            skip = None
            try:
                t()
            except Skip as e:
                skip = str(e)
                if no_skip:
                    skip = None
                    err = "skipped (%s), and WSD_TEST_NO_SKIP=1 says " \
                        "every case must run here" % e
            except BaseException as e:  # noqa: B902 - report everything
                if isinstance(e, KeyboardInterrupt):
                    raise
                err = traceback.format_exc()
            finally:
                for d in _daemons:
                    d.kill()
            for d in _daemons:
                if d.crashed is not None and err is None:
                    err = "wsd (pid %d) exited unexpectedly with %s\n" % (
                        d.pid, d.crashed)
                report = d.sanitizer_report()
                if report is not None and err is None:
                    err = "sanitizer report from wsd (pid %d):\n%s" % (
                        d.pid, report)
            if _run_reports and err is None:
                err = "sanitizer report from wsd -t:\n%s" % _run_reports[0]
            del _run_reports[:]
            dt = time.monotonic() - t0
            if err is None and skip is not None:
                skipped += 1
                print("%s: SKIP (%s)" % (name, skip), flush=True)
            elif err is None:
                passed += 1
                print("%s: PASS (%.1fs)" % (name, dt), flush=True)
            else:
                failed += 1
                print("%s: FAIL (%.1fs)" % (name, dt))
                print("    " + err.rstrip().replace("\n", "\n    "))
                for d in _daemons:
                    print("    wsd pid %d (%s), %s, last log lines:"
                          % (d.pid, " ".join(d.argv), d.state()))
                    print(d.tail(25))
                sys.stdout.flush()
    finally:
        for d in _tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
    if skipped:
        print("%d passed, %d failed, %d skipped" % (passed, failed, skipped),
              flush=True)
    else:
        print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else EXIT_SKIP if skipped else 0)
