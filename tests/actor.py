#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A process that makes real sockets for the filter tests, after setting up
whatever the test needs (its name, cgroup, network namespace, a fork).

    actor.py [--comm NAME] [--cgroup DIR] [--netns] [--ready FILE] [--go FILE]
             [--fork] [--accept] [--repeat N] BIND...

BIND is FAMILY/ADDR/PORT[/v6only] (FAMILY 4 or 6, PORT 0 for any). With
--accept, each BIND is a listener that accepts one connection made to it from
the address after '>' (BIND>CLIENT_ADDR). Prints one JSON line per bind or
accept, with the pid that made it and what the kernel answered.
"""
import argparse
import ctypes
import json
import os
import socket
import sys
import time

CLONE_NEWNET = 0x40000000


def wait_file(path, timeout=60):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end:
            sys.exit(f"actor: timed out waiting for {path}")
        time.sleep(0.02)


def family_of(v):
    return socket.AF_INET if v == "4" else socket.AF_INET6


def do_bind(spec):
    parts = spec.split("/")
    fam, addr, port = parts[:3]
    v6only = parts[3:] == ["v6only"]
    s = socket.socket(family_of(fam), socket.SOCK_STREAM)
    if fam == "6":
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, int(port)))
        ret, port = 0, s.getsockname()[1]
    except OSError as e:
        ret = -e.errno
    return s, {"event": "bind", "pid": os.getpid(), "family": "inet" if fam == "4" else "inet6",
               "addr": addr, "port": int(port), "ret": ret}


def do_accept(spec):
    server, client_addr = spec.split(">")
    s, fact = do_bind(server)
    s.listen(1)
    c = socket.socket(socket.AF_INET6 if ":" in client_addr else socket.AF_INET)
    c.connect((client_addr, fact["port"]))
    conn, peer = s.accept()
    out = {"event": "accept", "pid": os.getpid(), "port": fact["port"], "peer": peer[0],
           "peer_port": peer[1]}
    conn.close()
    c.close()
    return s, [fact, out]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--comm")
    ap.add_argument("--cgroup")
    ap.add_argument("--netns", action="store_true")
    ap.add_argument("--ready")
    ap.add_argument("--go")
    ap.add_argument("--fork", action="store_true")
    ap.add_argument("--accept", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("binds", nargs="*")
    a = ap.parse_args()

    if a.comm:
        with open("/proc/self/comm", "w") as f:
            f.write(a.comm)
    if a.cgroup:
        with open(os.path.join(a.cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    if a.netns:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET):
            sys.exit(f"actor: unshare: {os.strerror(ctypes.get_errno())}")
        os.system("ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null")
    if a.ready:
        with open(a.ready + ".tmp", "w") as f:
            json.dump({"pid": os.getpid(),
                       "netns": os.stat(f"/proc/{os.getpid()}/ns/net").st_ino}, f)
        os.rename(a.ready + ".tmp", a.ready)
    if a.go:
        wait_file(a.go)
    if a.fork:
        child = os.fork()
        if child:
            _, status = os.waitpid(child, 0)
            sys.exit(os.waitstatus_to_exitcode(status))
    keep, facts = [], []
    for _ in range(a.repeat):
        for spec in a.binds:
            if a.accept:
                s, f = do_accept(spec)
                facts += f
            else:
                s, f = do_bind(spec)
                facts.append(f)
            keep.append(s)
    for f in facts:
        print(json.dumps(f), flush=True)


if __name__ == "__main__":
    main()
