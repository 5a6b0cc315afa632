#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""cgroup names on the host kernel, as root, with real processes in real
cgroup v2 directories (under the cgroup2 mount, named after this test's pid):

- a burst of new cgroups, each made, entered and bound in at once, a few ms
  apart: every bind names its cgroup, whether its process is still there
  when the event is read (the name comes from /proc) or already gone (the
  name comes from a walk);
- a cgroup 45 levels deep, and one whose path is longer than PATH_MAX
  (45 levels of 100-byte names: /proc/PID/cgroup cannot show it): named;
- a cgroup removed before its event is read (the tracer stopped meanwhile),
  its process moved to another cgroup: null, not the other cgroup, and the
  tracer goes on.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.environ.get("V6TRACE", os.path.join(ROOT, "v6trace"))
OUT = os.path.join(ROOT, "tests", ".out", "cgroups")
BURST = 24


class Tracer:
    """v6trace --json ARGS, started and ready to see events."""

    def __init__(self, name, args=()):
        self.path = os.path.join(OUT, name + ".out")
        self.out = open(self.path, "w+b")
        self.err = open(os.path.join(OUT, name + ".err"), "w+b")
        self.proc = subprocess.Popen([V6TRACE, "--json"] + list(args), stdout=self.out,
                                     stderr=self.err)
        end = time.monotonic() + 30
        while b'"event":"start"' not in open(self.path, "rb").read():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"{name}: tracer did not start")
            time.sleep(0.02)

    def stop(self):
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)
        self.rc = self.proc.wait(timeout=30)
        self.out.seek(0)
        self.records = [json.loads(l) for l in self.out.read().splitlines()]
        return self

    def bind_of(self, pid, port):
        return next((r for r in self.records if r.get("event") == "bind" and r["pid"] == pid
                     and r["port"] == port), None)


def enter(cgroup_fd):
    """Moves this process into the cgroup open as cgroup_fd."""
    fd = os.open("cgroup.procs", os.O_WRONLY, dir_fd=cgroup_fd)
    try:
        os.write(fd, str(os.getpid()).encode())
    finally:
        os.close(fd)


def bind_in(cgroup_fd, stay):
    """Forks a process that enters the cgroup, binds [::]:0 and reports its
    port; with stay it then sleeps until killed, else exits. Returns
    (pid, port, release) where release() ends a staying process."""
    r_port, w_port = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r_port)
            enter(cgroup_fd)
            s = socket.socket(socket.AF_INET6)
            s.bind(("::", 0))
            os.write(w_port, str(s.getsockname()[1]).encode())
            os.close(w_port)
            while stay:
                time.sleep(60)
        finally:
            os._exit(0)
    os.close(w_port)
    port = int(os.read(r_port, 16) or b"0")
    os.close(r_port)
    if not stay:
        os.waitpid(pid, 0)

    def release():
        if stay:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return pid, port, release


def remove_tree(path):
    """rmdir a cgroup tree, deepest first, with paths of any length (dir_fd)."""
    def rm_below(fd):
        for name in subdirs(fd):
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            try:
                rm_below(sub)
            finally:
                os.close(sub)
            os.rmdir(name, dir_fd=fd)
    if not os.path.isdir(path):
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        rm_below(fd)
    finally:
        os.close(fd)
    os.rmdir(path)


def subdirs(fd):
    return [n for n in os.listdir(fd) if os.path.isdir(f"/proc/self/fd/{fd}/{n}")]


def top_of(mount, label):
    top = os.path.join(mount, f"v6trace-{label}.{os.getpid()}")
    os.mkdir(top)
    return top


def test_burst(res):
    """Each of BURST new cgroups made, entered and bound in within a few ms."""
    mount = check.cgroup2_mount()
    if not res.check("cgroup v2 is mounted", bool(mount), "no cgroup2 in /proc/self/mounts"):
        return
    for stay in (True, False):
        how = "its process still there" if stay else "its process gone before the event is read"
        top = top_of(mount, "burst")
        made = []
        t = Tracer(f"burst-{int(stay)}")
        try:
            top_fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
            for i in range(BURST):
                name = f"new{i}"
                os.mkdir(name, dir_fd=top_fd)
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=top_fd)
                pid, port, release = bind_in(fd, stay)
                os.close(fd)
                made.append((pid, port, top[len(mount):] + "/" + name, release))
                time.sleep(0.005)
            os.close(top_fd)
            t.stop()
        finally:
            for m in made:
                m[3]()
            if t.proc.poll() is None:
                t.proc.kill()
            remove_tree(top)
        got = [(m[2], (t.bind_of(m[0], m[1]) or {}).get("cgroup", "(no record)")) for m in made]
        wrong = [g for g in got if g[0] != g[1]]
        res.check(f"a burst of {BURST} new cgroups, 5 ms apart, {how}: every bind names its "
                  f"cgroup ({BURST - len(wrong)} of {BURST})", t.rc == 0 and not wrong,
                  f"rc {t.rc}, wrong {wrong[:4]}")


def make_chain(top_fd, depth, name_of):
    """depth nested directories below top_fd; returns the deepest, open."""
    fd = os.dup(top_fd)
    for i in range(depth):
        os.mkdir(name_of(i), dir_fd=fd)
        sub = os.open(name_of(i), os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = sub
    return fd


def test_deep(res):
    """45 levels; and 45 levels of 100-byte names, past PATH_MAX."""
    mount = check.cgroup2_mount()
    if not mount:
        return
    for label, name_of in (("45 levels deep", lambda i: f"l{i}"),
                           ("45 levels of 100-byte names (a path past PATH_MAX)",
                            lambda i: f"{i:02d}" + "d" * 98)):
        top = top_of(mount, "deep")
        t = Tracer("deep")
        release = None
        try:
            top_fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
            fd = make_chain(top_fd, 45, name_of)
            os.close(top_fd)
            pid, port, release = bind_in(fd, True)
            os.close(fd)
            t.stop()
        finally:
            if release:
                release()
            if t.proc.poll() is None:
                t.proc.kill()
            remove_tree(top)
        want = top[len(mount):] + "".join("/" + name_of(i) for i in range(45))
        got = (t.bind_of(pid, port) or {}).get("cgroup", "(no record)")
        res.check(f"a cgroup {label} ({len(want)} bytes): named", t.rc == 0 and got == want,
                  f"rc {t.rc}, got {str(got)[:120]}... ({len(got or '')} bytes)")


def test_removed(res):
    """Made, entered, bound in, left for another cgroup and removed, all while
    the tracer is stopped: null (it is gone), not the cgroup its process is in
    now; then the tracer reads on."""
    mount = check.cgroup2_mount()
    if not mount:
        return
    top = top_of(mount, "removed")
    t = Tracer("removed")
    after = None
    try:
        os.mkdir(os.path.join(top, "gone"))
        os.mkdir(os.path.join(top, "stays"))
        r, w = os.pipe()
        r_go, w_go = os.pipe()
        t.proc.send_signal(signal.SIGSTOP)
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.close(w_go)
                gone = os.open(os.path.join(top, "gone"), os.O_RDONLY | os.O_DIRECTORY)
                stays = os.open(os.path.join(top, "stays"), os.O_RDONLY | os.O_DIRECTORY)
                enter(gone)
                s = socket.socket(socket.AF_INET6)
                s.bind(("::", 0))
                enter(stays)
                os.write(w, str(s.getsockname()[1]).encode())
                os.read(r_go, 1)
                s2 = socket.socket(socket.AF_INET6)
                s2.bind(("::", 0))
                os.write(w, b" " + str(s2.getsockname()[1]).encode())
                os.read(r_go, 1)
            finally:
                os._exit(0)
        os.close(w)
        os.close(r_go)
        port = int(os.read(r, 16))
        os.rmdir(os.path.join(top, "gone"))
        t.proc.send_signal(signal.SIGCONT)
        os.write(w_go, b"x")  # a second bind, in "stays", once the tracer runs again
        after = int(os.read(r, 16))
        os.close(w_go)
        os.waitpid(pid, 0)
        os.close(r)
        t.stop()
    finally:
        if t.proc.poll() is None:
            t.proc.send_signal(signal.SIGCONT)
            t.proc.kill()
        remove_tree(top)
    first = t.bind_of(pid, port)
    second = t.bind_of(pid, after) if after else None
    res.check("a cgroup removed before its event was read: cgroup null (its process is in "
              "another cgroup now, which is not named instead)",
              t.rc == 0 and first is not None and first["cgroup"] is None
              and first["cgroup_id"] != (second or {}).get("cgroup_id"),
              f"rc {t.rc}, {first}")
    res.check("then the same process's bind in the cgroup it moved to: named",
              second is not None and second["cgroup"] == top[len(mount):] + "/stays",
              second)


def main():
    return check.run_suite("cgroups", "", (test_burst, test_deep, test_removed), OUT)


if __name__ == "__main__":
    sys.exit(main())
