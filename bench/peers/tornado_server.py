#!/usr/bin/python3
"""Tornado peer for the wsd benchmark: /echo echoes every message with
its type, /clock pushes the local time to every client every 100 ms.

usage: tornado_server.py PORT   (listens on 127.0.0.1; Debian's
python3-tornado, run with /usr/bin/python3)
"""
import datetime
import sys

import tornado.ioloop
import tornado.web
import tornado.websocket

clock_clients = set()


class Echo(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True

    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


class Clock(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True

    def open(self):
        clock_clients.add(self)

    def on_close(self):
        clock_clients.discard(self)


def tick():
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    for c in list(clock_clients):
        try:
            c.write_message(now)
        except tornado.websocket.WebSocketClosedError:
            clock_clients.discard(c)


def main():
    port = int(sys.argv[1])
    app = tornado.web.Application([(r"/echo", Echo), (r"/clock", Clock)],
                                  websocket_max_message_size=16 << 20)
    app.listen(port, address="127.0.0.1", backlog=4096)
    tornado.ioloop.PeriodicCallback(tick, 100).start()
    print("tornado: listening on 127.0.0.1:%d" % port, file=sys.stderr)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
