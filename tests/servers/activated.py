#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A socket-activated HTTP server: it binds nothing and serves the listening
socket its parent (systemd, or systemd-socket-activate) handed it as fd 3
(sd_listen_fds(3): LISTEN_PID, LISTEN_FDS). One thread per connection; each
request gets a tiny HTTP/1.0 answer."""
import os
import socket
import sys
import threading

SD_LISTEN_FDS_START = 3


def serve(conn):
    with conn:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nactivated\n")


def main():
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        sys.exit("activated.py: no socket handed over (LISTEN_PID/LISTEN_FDS)")
    srv = socket.socket(fileno=SD_LISTEN_FDS_START)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
