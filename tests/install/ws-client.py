#!/usr/bin/python3
"""WebSocket and HTTP checks against an installed wsd (python3-websockets).

    ws-client.py clock URL      one time stamp arrives within 5 s
    ws-client.py echo URL       a text and a binary message come back
    ws-client.py chat URL       two members of a room (URL without a
                                query) see each other join, talk, leave
    ws-client.py http URL       GET answers 200 with the demo page
    ws-client.py session URL    a connection driven from stdin, one command
                                a line, one answer a line on stdout:
                                  echo TEXT   -> "echo ok" | "echo bad ..."
                                  wait-close  -> "closed CODE" when the
                                                 server closes
                                  quit        -> closes normally
                                "open" is printed once connected.

Exit status 0 when the check passed, 1 otherwise (with a reason on stderr).
"""
import asyncio
import json
import os
import re
import sys
import urllib.request

import websockets

TIMEOUT = 5


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


async def clock(url):
    async with websockets.connect(url) as ws:
        msg = await asyncio.wait_for(ws.recv(), TIMEOUT)
    if not isinstance(msg, str) or not re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", msg):
        fail("clock: unexpected message %r" % (msg,))
    print("clock: %s" % msg)


async def echo(url):
    async with websockets.connect(url) as ws:
        for msg in ("hello from the install test", b"\x00\x01binary\xff"):
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), TIMEOUT)
            if got != msg:
                fail("echo: sent %r, got %r" % (msg, got))
    print("echo: text and binary came back")


async def chat(url):
    room = "installtest%d" % os.getpid()

    async def expect(ws, want):
        got = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if not isinstance(got.get("ts", 0), int):
            fail("chat: ts of %r is not an integer" % (got,))
        got.pop("ts", None)
        if got != want:
            fail("chat: expected %r, got %r" % (want, got))

    def ev(kind, nick, **kw):
        return dict(type=kind, room=room, nick=nick, **kw)

    async with websockets.connect("%s?room=%s&nick=ann" % (url, room)) as a:
        await expect(a, ev("join", "ann"))
        async with websockets.connect("%s?room=%s&nick=bob" % (url, room)) \
                as b:
            await expect(b, ev("join", "bob"))
            await expect(a, ev("join", "bob"))
            await b.send("hi ann")
            for ws in (a, b):
                await expect(ws, ev("message", "bob", text="hi ann"))
        await expect(a, ev("leave", "bob"))
    print("chat: two members joined, talked and left")


def http(url):
    with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
        body = r.read().decode("utf-8", "replace")
        if r.status != 200 or "<html" not in body.lower():
            fail("http: status %d, %d bytes" % (r.status, len(body)))
        print("http: %d, %d bytes, %s" % (r.status, len(body),
                                          r.headers.get("Content-Type")))


async def session(url):
    loop = asyncio.get_running_loop()
    async with websockets.connect(url) as ws:
        print("open", flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            cmd, _, arg = line.rstrip("\n").partition(" ")
            try:
                if cmd == "echo":
                    await ws.send(arg)
                    got = await asyncio.wait_for(ws.recv(), TIMEOUT)
                    print("echo ok" if got == arg else "echo bad %r" % (got,),
                          flush=True)
                elif cmd == "wait-close":
                    try:
                        while True:
                            await asyncio.wait_for(ws.recv(), 30)
                    except websockets.ConnectionClosed as e:
                        code = e.rcvd.code if e.rcvd is not None else "none"
                        print("closed %s" % code, flush=True)
                        return
                elif cmd == "quit":
                    return
                else:
                    print("unknown command %r" % cmd, flush=True)
            except Exception as e:  # report, keep the session going
                print("error %s: %s" % (type(e).__name__, e), flush=True)


def main():
    if len(sys.argv) != 3:
        fail(__doc__)
    what, url = sys.argv[1], sys.argv[2]
    try:
        if what == "http":
            http(url)
        elif what in ("clock", "echo", "chat", "session"):
            asyncio.run(globals()[what](url))
        else:
            fail(__doc__)
    except SystemExit:
        raise
    except Exception as e:
        fail("%s: %s: %s" % (what, type(e).__name__, e))


if __name__ == "__main__":
    main()
