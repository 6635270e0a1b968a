"""The demo page www/index.html in a real browser.

Drives Debian's headless Chromium through python3-selenium (packages
chromium, chromium-driver, python3-selenium).  Without them the test
FAILS: the demo page is part of what wsd ships.

The page is served by wsd from $WSD_SRCDIR/www; /clock, /echo and /chat
have no `origins`, so the page's same-host Origin must pass the default
check.

Over https (test_demo_page_https) Chromium trusts the test's own CA,
made at run time with openssl (tlstest.py), the way a user adds a
private CA on Linux: in an NSS database (certutil, package
libnss3-tools) under $HOME/.pki/nssdb, HOME being a temporary directory
given to chromedriver and so to Chromium.  Certificate checks stay on: a
browser without that database gets the interstitial, not the page.
"""

import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402
import tlstest as tt  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CERTUTIL = "/usr/bin/certutil"
SCREENSHOT = "/tmp/wsd-demo.png"      # for people to look at
SCREENSHOT_CLOSED = "/tmp/wsd-demo-closed.png"

TICK_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
# What Chromium logs when a reconnect attempt finds nobody listening.
REFUSED_RE = re.compile(r"WebSocket connection to 'ws://127\.0\.0\.1:\d+/"
                        r"(clock|echo)' failed")
MESSAGE = "h\u00e9llo <b>wsd</b> & \u2603 \U0001F600"


def need_browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python3 module selenium")
    if missing:
        raise AssertionError(
            "browser test cannot run, missing: %s\n"
            "install the Debian packages chromium, chromium-driver and "
            "python3-selenium (and run with /usr/bin/python3)"
            % ", ".join(missing))


def new_driver(home=None):
    """A headless Chromium; home: its HOME (where it finds the NSS
    database of trusted certificates)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--no-first-run",
              "--no-default-browser-check", "--disable-background-networking",
              "--disable-component-update", "--disable-sync",
              "--disable-quic", "--disable-extensions",
              "--window-size=900,900",
              "--user-data-dir=" + os.path.join(W.tmpdir(), "profile")):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    log = os.path.join(W.tmpdir(), "chromedriver.log")
    env = None
    if home is not None:
        env = dict(os.environ, HOME=home)
    service = Service(CHROMEDRIVER, log_path=log, env=env)
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(W.T(30))
    driver.set_script_timeout(W.T(30))
    return driver


def wait_for(driver, what, fn, timeout=30):
    """Poll fn(driver) until it returns a true value (returned)."""
    from selenium.webdriver.support.ui import WebDriverWait
    from selenium.common.exceptions import TimeoutException
    try:
        return WebDriverWait(driver, W.T(timeout), poll_frequency=0.1) \
            .until(fn)
    except TimeoutException:
        raise AssertionError("timed out after %ss waiting for %s; page:\n%s"
                             % (W.T(timeout), what, page_summary(driver)))


def text(driver, id_):
    return driver.execute_script(
        "var e = document.getElementById(arguments[0]);"
        "return e ? e.textContent : null;", id_)


def page_summary(driver):
    try:
        return "\n".join("    #%s: %r" % (i, text(driver, i)) for i in (
            "support", "clock", "clock-state", "echo-state", "echo-log",
            "chat-state", "chat-log"))
    except Exception as e:  # noqa: B902 - best effort diagnostics
        return "    (page not readable: %s)" % e


def js_errors(entries, allow=None):
    """Browser log entries that are errors, minus those matching allow."""
    bad = []
    for e in entries:
        if e.get("level") not in ("SEVERE", "ERROR"):
            continue
        if allow is not None and allow.search(e.get("message", "")):
            continue
        bad.append(e)
    return bad


def screenshot(driver, name, copy_to):
    """Save a screenshot in a temp dir and copy it to copy_to."""
    path = os.path.join(W.tmpdir(), name)
    assert driver.save_screenshot(path), "screenshot failed"
    try:
        shutil.copyfile(path, copy_to)
    except OSError as e:
        print("    (could not write %s: %s)" % (copy_to, e))
    return path


def config(port=8888):
    return dict(document_root=W.WWW_DIR, port=port, routes=[
        W.route("/clock", "clock", origins=None,
                settings={"interval_ms": 1000}),
        W.route("/echo", "echo-logger", origins=None),
        W.route("/chat", "chat", origins=None),
    ])


def test_demo_page():
    need_browser()
    from selenium.webdriver.common.by import By

    d = W.start(**config())
    d2 = None
    driver = None
    try:
        driver = new_driver()
        url = "http://127.0.0.1:%d/" % d.port
        driver.get(url)
        assert driver.title == "wsd demo", driver.title
        assert text(driver, "support") == "", page_summary(driver)

        # -- clock: two distinct ticks after the placeholder
        wait_for(driver, "the clock socket to open",
                 lambda dr: text(dr, "clock-state").startswith("open"))
        seen = [text(driver, "clock-time")]
        for _ in range(2):
            prev = seen[-1]
            seen.append(wait_for(
                driver, "a clock tick after %r" % prev,
                lambda dr: (lambda t: t if t != prev else None)(
                    text(dr, "clock-time"))))
        ticks = seen[-2:]
        for t in ticks:
            assert TICK_RE.match(t), "clock shows %r, not a time" % t
        assert ticks[0] < ticks[1], "clock went backwards: %r" % ticks
        m = re.search(r"(\d+) ticks? received", text(driver, "clock"))
        assert m and int(m.group(1)) >= 2, text(driver, "clock")

        # -- echo: literal text, no markup made from it
        wait_for(driver, "the echo socket to open",
                 lambda dr: text(dr, "echo-state").startswith("open"))
        send = driver.find_element(By.ID, "send")
        wait_for(driver, "the Send button to be enabled",
                 lambda dr: send.is_enabled())
        box = driver.find_element(By.ID, "msg")
        box.send_keys(MESSAGE)
        assert box.get_attribute("value") == MESSAGE, box.get_attribute("value")
        send.click()
        items = wait_for(driver, "the echo reply in #echo-log",
                         lambda dr: dr.find_elements(By.CSS_SELECTOR,
                                                     "#echo-log li"))
        assert len(items) == 1, [i.text for i in items]
        got = text(driver, "echo-log")
        assert got == MESSAGE, "echo-log shows %r, sent %r" % (got, MESSAGE)
        assert not driver.find_elements(By.CSS_SELECTOR, "#echo-log b"), \
            "server data was parsed as HTML"
        html = driver.execute_script(
            "return document.getElementById('echo-log').innerHTML")
        assert "&lt;b&gt;wsd&lt;/b&gt;" in html, html
        assert box.get_attribute("value") == "", "input not cleared"
        # a second message lands below the first (newest last)
        box.send_keys("second")
        box.submit()
        wait_for(driver, "the second reply",
                 lambda dr: len(dr.find_elements(By.CSS_SELECTOR,
                                                 "#echo-log li")) == 2)
        last = driver.find_elements(By.CSS_SELECTOR, "#echo-log li")[-1]
        assert last.text == "second", last.text
        # the page's own Origin passed the default same-host check
        d.wait_log(r"/echo: conn \d+ open from", timeout=5)
        assert not d.find_log(r"origin .* not allowed"), d.tail()

        screenshot(driver, "wsd-demo.png", SCREENSHOT)
        errors = js_errors(driver.get_log("browser"))
        assert not errors, "browser console errors: %r" % errors

        # -- the daemon goes away: 1001 shown, reconnecting
        rc = d.stop(signal.SIGTERM)
        assert rc == 0, "wsd exited with %s on SIGTERM" % rc
        for sid in ("clock-state", "echo-state"):
            wait_for(driver, "#%s to show close code 1001 and a reconnect"
                     % sid, lambda dr: re.search(
                         r"1001.*reconnect|reconnect.*1001",
                         text(dr, sid), re.S))
        st = text(driver, "echo-state")
        assert "server shutting down" in st, st
        assert not send.is_enabled(), "Send enabled while disconnected"
        # it keeps trying (and failing) while nobody listens
        wait_for(driver, "a failed reconnect attempt", lambda dr: re.search(
            r"connection failed \(1006", text(dr, "echo-state")))
        screenshot(driver, "wsd-demo-closed.png", SCREENSHOT_CLOSED)
        errors = js_errors(driver.get_log("browser"), allow=REFUSED_RE)
        assert not errors, "browser console errors: %r" % errors

        # -- a new daemon on the same port: the page gets back by itself
        d2 = W.Daemon(W.write_config(**config(d.port)), port_override=False)
        assert d2.wait_listening() == d.port
        for sid in ("clock-state", "echo-state"):
            wait_for(driver, "#%s to reconnect" % sid,
                     lambda dr: text(dr, sid).startswith("open"))
        before = text(driver, "clock-time")
        wait_for(driver, "the clock to tick again",
                 lambda dr: text(dr, "clock-time") != before)
        wait_for(driver, "Send to be enabled again",
                 lambda dr: send.is_enabled())
        box.send_keys("back")
        send.click()
        wait_for(driver, "the echo after reconnecting",
                 lambda dr: len(dr.find_elements(By.CSS_SELECTOR,
                                                 "#echo-log li")) == 3)
        assert text(driver, "echo-log").endswith("back"), \
            text(driver, "echo-log")
        errors = js_errors(driver.get_log("browser"), allow=REFUSED_RE)
        assert not errors, "browser console errors: %r" % errors
        rc = d2.stop(signal.SIGTERM)
        assert rc == 0, "second wsd exited with %s on SIGTERM" % rc
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception as e:  # noqa: B902 - keep cleaning up
                print("    driver.quit failed: %s" % e)
        d.kill()
        if d2 is not None:
            d2.kill()


def nss_home(ca_file):
    """A HOME whose NSS database trusts ca_file to identify web sites."""
    if not os.access(CERTUTIL, os.X_OK):
        raise AssertionError("https browser test cannot run: %s missing "
                             "(install libnss3-tools)" % CERTUTIL)
    home = W.tmpdir()
    db = os.path.join(home, ".pki", "nssdb")
    os.makedirs(db)
    for args in (["-N", "--empty-password"],
                 ["-A", "-n", "wsd test root", "-t", "C,,", "-i", ca_file]):
        r = subprocess.run([CERTUTIL, "-d", "sql:" + db] + args,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, errors="replace",
                           timeout=W.T(30))
        assert r.returncode == 0, "certutil %s: %s" % (args[0], r.stdout)
    return home


def test_demo_page_https():
    """The demo page over https from a TLS listener: Chromium, trusting
    the test CA, loads it; the page opens wss:// (its own scheme's
    WebSocket) to /clock and /echo and both work.  A Chromium that does
    not trust the CA is stopped at the certificate."""
    need_browser()
    from selenium.webdriver.common.by import By

    pki = tt.PKI("wsd browser test")
    leaf = pki.leaf("server", dns=["localhost"], ips=["127.0.0.1"])
    home = nss_home(pki.root)
    d = W.start(tls=tt.tls_group(leaf), **config())
    driver = stranger = None
    try:
        driver = new_driver(home)
        url = "https://127.0.0.1:%d/" % d.port
        driver.get(url)
        assert driver.title == "wsd demo", \
            "title %r: the page did not load over https" % driver.title
        assert driver.execute_script("return location.protocol") == "https:"
        assert text(driver, "support") == "", page_summary(driver)
        wait_for(driver, "the clock socket to open",
                 lambda dr: text(dr, "clock-state").startswith("open"))
        first = text(driver, "clock-time")
        tick = wait_for(driver, "a clock tick over wss", lambda dr: (
            lambda t: t if t != first and TICK_RE.match(t) else None)(
                text(dr, "clock-time")))
        assert TICK_RE.match(tick), tick
        wait_for(driver, "the echo socket to open",
                 lambda dr: text(dr, "echo-state").startswith("open"))
        send = driver.find_element(By.ID, "send")
        wait_for(driver, "the Send button to be enabled",
                 lambda dr: send.is_enabled())
        box = driver.find_element(By.ID, "msg")
        box.send_keys(MESSAGE)
        send.click()
        wait_for(driver, "the echo reply over wss", lambda dr: dr.
                 find_elements(By.CSS_SELECTOR, "#echo-log li"))
        assert text(driver, "echo-log") == MESSAGE, text(driver, "echo-log")
        # The page asked for wss: (ws: from an https page is blocked
        # as mixed content, and this port speaks only TLS anyway).
        urls = driver.execute_script(
            "return performance.getEntriesByType('resource')"
            ".map(function (e) { return e.name; })"
            ".filter(function (n) { return /^wss?:/.test(n); })")
        assert all(u.startswith("wss://") for u in urls), urls
        d.wait_log(r"/echo: conn \d+ open from", timeout=5)
        assert not d.find_log(r"origin .* not allowed"), d.tail()
        screenshot(driver, "wsd-demo-https.png", "/tmp/wsd-demo-https.png")
        errors = js_errors(driver.get_log("browser"))
        assert not errors, "browser console errors: %r" % errors

        # Checks are on: without the CA, Chromium refuses the site.
        mark = d.mark()
        stranger = new_driver(W.tmpdir())
        stranger.get(url)
        assert stranger.title != "wsd demo", \
            "a browser that does not trust the test CA loaded the page"
        assert text(stranger, "clock-state") is None
        assert not d.find_log(r'"GET /', start=mark), d.tail()
    finally:
        for dr in (driver, stranger):
            if dr is not None:
                try:
                    dr.quit()
                except Exception as e:  # noqa: B902 - keep cleaning up
                    print("    driver.quit failed: %s" % e)
        d.kill()


def chat_items(driver):
    """The chat list as (class, nick, text) tuples, oldest first."""
    return [tuple(x) for x in driver.execute_script(
        "return Array.prototype.map.call("
        "document.querySelectorAll('#chat-log li'), function (li) {"
        "  var n = li.querySelector('.nick'), t = li.querySelector('.text');"
        "  return [li.className, n ? n.textContent : null,"
        "          t ? t.textContent : null]; });")]


def chat_join(driver, nick, room):
    from selenium.webdriver.common.by import By

    wait_for(driver, "the chat Join button", lambda dr: text(
        dr, "chat-join") == "Join")
    for id_, value in (("chat-nick", nick), ("chat-room", room)):
        box = driver.find_element(By.ID, id_)
        box.clear()
        box.send_keys(value)
    mine = ("join", nick, " joined " + room)
    before = chat_items(driver).count(mine)
    driver.find_element(By.ID, "chat-join").click()
    wait_for(driver, "%s to be in %s" % (nick, room), lambda dr: text(
        dr, "chat-state") == "in %s as %s" % (room, nick))
    wait_for(driver, "%s's own join line" % nick, lambda dr:
             chat_items(dr).count(mine) > before)


def chat_worker(d, nick, room, start=0):
    """The worker that served nick's latest join (the plugin's debug
    line, which the worker's log prefix names)."""
    m = d.wait_log(r"worker (\d+): /chat: chat: conn \d+: %s joined %s$"
                   % (re.escape(nick), re.escape(room)), start=start)
    return int(m.group(1))


def chat_say(driver, line):
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "chat-msg")
    box.send_keys(line)
    driver.find_element(By.ID, "chat-send").click()
    wait_for(driver, "the chat input to clear",
             lambda dr: box.get_attribute("value") == "")


def test_chat_two_pages():
    """Two browsers join one room on the demo page, each served by
    another of wsd's two workers, and talk."""
    need_browser()
    from selenium.webdriver.common.by import By

    d = W.start(extra={"workers": 2, "worker_header": True}, **config())
    ann = bob = None
    room = "browser-test"
    try:
        ann, bob = new_driver(), new_driver()
        for dr in (ann, bob):
            dr.get("http://127.0.0.1:%d/" % d.port)
            assert dr.title == "wsd demo", dr.title
            assert text(dr, "chat-state") == "not joined", page_summary(dr)
            assert not dr.find_element(By.ID, "chat-send").is_enabled()
        # nobody joins a chat by loading the page
        assert not d.find_log(r'"GET /chat'), d.tail()

        mark = d.mark()
        chat_join(ann, "ann", room)
        ann_worker = chat_worker(d, "ann", room, mark)
        # bob leaves and joins again until another worker serves him
        bob_join = ("join", "bob", " joined " + room)
        bob_leave = ("leave", "bob", " left " + room)
        for attempt in range(20):
            mark = d.mark()
            seen = chat_items(ann).count(bob_join)
            chat_join(bob, "bob", room)
            wait_for(ann, "bob's join on ann's page", lambda dr:
                     chat_items(dr).count(bob_join) > seen)
            if chat_worker(d, "bob", room, mark) != ann_worker:
                break
            left = chat_items(ann).count(bob_leave)
            bob.find_element(By.ID, "chat-join").click()
            wait_for(ann, "bob's leave on ann's page", lambda dr:
                     chat_items(dr).count(bob_leave) > left)
        else:
            raise AssertionError("bob was served by ann's worker %d in 20 "
                                 "joins" % ann_worker)

        chat_say(bob, MESSAGE)
        for dr in (bob, ann):
            wait_for(dr, "bob's line", lambda dr: (
                "message", "bob", MESSAGE) in chat_items(dr))
            assert not dr.find_elements(By.CSS_SELECTOR, "#chat-log b"), \
                "chat text was parsed as HTML"
        chat_say(ann, "hi bob")
        wait_for(bob, "ann's line on bob's page", lambda dr: (
            "message", "ann", "hi bob") in chat_items(dr))
        # both saw the same room, in the same order
        want = [("join", "bob", " joined " + room),
                ("message", "bob", MESSAGE), ("message", "ann", "hi bob")]
        for dr in (ann, bob):
            items = chat_items(dr)
            assert items[-3:] == want, items
        assert chat_items(ann)[0] == ("join", "ann", " joined " + room)

        # bob leaves: ann sees it, bob's page is out of the room
        left = chat_items(ann).count(bob_leave)
        bob.find_element(By.ID, "chat-join").click()
        wait_for(bob, "bob to be out", lambda dr: text(
            dr, "chat-state") == "not joined")
        assert not bob.find_element(By.ID, "chat-send").is_enabled()
        wait_for(ann, "bob's leave on ann's page", lambda dr:
                 chat_items(dr).count(bob_leave) > left)

        # a nick the server would refuse is not even sent
        mark = d.mark()
        nick = bob.find_element(By.ID, "chat-nick")
        nick.clear()
        nick.send_keys("bad nick!")
        bob.find_element(By.ID, "chat-join").click()
        assert bob.execute_script(
            "return document.getElementById('chat-nick').validity.valid") \
            is False
        chat_join(bob, "bob2", room)        # a good one still joins
        assert not d.find_log(r'"GET /chat\?room=[^"]*nick=bad', start=mark), \
            d.tail()
        wait_for(ann, "bob2's join on ann's page", lambda dr: (
            "join", "bob2", " joined " + room) in chat_items(dr))
        screenshot(ann, "wsd-chat.png", "/tmp/wsd-chat.png")
        for dr in (ann, bob):
            errors = js_errors(dr.get_log("browser"))
            assert not errors, "browser console errors: %r" % errors
    finally:
        for dr in (ann, bob):
            if dr is not None:
                try:
                    dr.quit()
                except Exception as e:  # noqa: B902 - keep cleaning up
                    print("    driver.quit failed: %s" % e)
        d.kill()


TESTS = [
    test_demo_page,
    test_demo_page_https,
    test_chat_two_pages,
]

if __name__ == "__main__":
    W.run(TESTS)
