#!/usr/bin/python3
"""Stand in for systemd's notification socket (sd_notify(3)).

    notify-listen.py SOCKET LOG

Binds an AF_UNIX datagram socket at SOCKET (mode 0666, so a daemon running
as another user can send to it), prints "listening" on stdout once bound,
then appends each datagram to LOG as one line, its newline-separated
assignments joined by spaces ("READY=1 STATUS=..."), until killed.
"""
import os
import socket
import sys


def main():
    path, log = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    print("listening", flush=True)
    with open(log, "a", buffering=1) as out:
        while True:
            data = s.recv(4096)
            out.write(" ".join(data.decode("utf-8", "replace").split("\n")) + "\n")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
