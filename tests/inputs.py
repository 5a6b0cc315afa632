#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Inputs that once went wrong quietly, as root on the host (issue 23's
smaller items). Each was measured wrong before its fix:

- `-- ""` and a COMMAND that is in no PATH directory: one line, exit 127,
  before anything is loaded (the programs used to load first);
- --netns of a namespace file that is not a network one, and of an inode no
  network namespace has: refused with one line (they used to trace nothing);
- -o on a FIFO with no reader: refused at once (it used to wait in open()
  forever); -o on a file another user put in a sticky directory: refused (root's
  records used to go into that user's file); a file of ours there still works;
- a memory cgroup too small to load in: one line and exit 1, not a SIGKILL
  from the OOM killer with nothing said;
- -p PID: a pid no process has is refused; the process exits and another one
  gets its number (ns_last_pid): the newcomer is not traced.
"""
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.environ.get("V6TRACE", os.path.join(ROOT, "v6trace"))
OUT = os.path.join(ROOT, "tests", ".out", "inputs")
PY = "/usr/bin/python3"
TAG = os.getpid()


def run(args, timeout=20, **kw):
    return subprocess.run(args, capture_output=True, timeout=timeout, **kw)


def lines_of(p):
    return p.stderr.decode("utf-8", "replace").splitlines()


def free_port():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::", 0))
        return s.getsockname()[1]


def test_command_not_found(res):
    for cmd, what in (("", "empty command name"),
                      (f"v6t-no-such-{TAG}", "No such file or directory (in no PATH directory)"),
                      (f"./v6t-no-such-{TAG}", "No such file or directory")):
        t0 = time.monotonic()
        p = run([V6TRACE, "--", cmd])
        took = time.monotonic() - t0
        lines = lines_of(p)
        res.check(f"-- {cmd!r}: exit 127, one line ({what!r}), nothing loaded or printed",
                  p.returncode == 127 and len(lines) == 1 and what in lines[0]
                  and not p.stdout and took < 5, f"rc {p.returncode}, stderr {lines}, "
                  f"stdout {p.stdout[:100]!r}, {took:.2f} s")


def test_netns_not_net(res):
    p = run([V6TRACE, "--netns", "/proc/self/ns/pid"])
    lines = lines_of(p)
    res.check("--netns /proc/self/ns/pid: exit 2, 'not a network namespace'",
              p.returncode == 2 and lines and "not a network namespace" in lines[0]
              and not p.stdout, f"rc {p.returncode}, {lines}")
    pidns = os.stat("/proc/self/ns/pid").st_ino  # a namespace inode, but no network one's
    p = run([V6TRACE, "--netns", str(pidns)])
    lines = lines_of(p)
    res.check("--netns INODE that no network namespace has: exit 1, one line",
              p.returncode == 1 and len(lines) == 1 and "no network namespace" in lines[0]
              and not p.stdout, f"rc {p.returncode}, {lines}")


def test_output_fifo(res):
    os.makedirs(OUT, exist_ok=True)
    fifo = os.path.join(OUT, f"fifo-{TAG}")
    if os.path.exists(fifo):
        os.unlink(fifo)
    os.mkfifo(fifo)
    try:
        p = run([V6TRACE, "-o", fifo], timeout=10)
        lines = lines_of(p)
        res.check("-o FIFO with no reader: refused at once, exit 1, one line",
                  p.returncode == 1 and len(lines) == 1 and "FIFO" in lines[0],
                  f"rc {p.returncode}, {lines}")
    except subprocess.TimeoutExpired:
        res.check("-o FIFO with no reader: refused at once, exit 1, one line", False,
                  "still waiting after 10 s")
    finally:
        os.unlink(fifo)


def as_nobody():
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def stop_after(argv, secs):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(secs)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    return p.returncode, out, err.decode("utf-8", "replace").splitlines()


def test_output_planted(res):
    planted = f"/tmp/v6t-planted-{TAG}.log"
    ours = f"/tmp/v6t-ours-{TAG}.log"
    for f in (planted, ours):
        if os.path.exists(f):
            os.unlink(f)
    subprocess.run(["touch", planted], preexec_fn=as_nobody, check=True)
    try:
        p = run([V6TRACE, "--json", "-o", planted])
        lines = lines_of(p)
        res.check("-o FILE another user made in sticky /tmp: refused, exit 1, one line, "
                  "the file untouched",
                  p.returncode == 1 and len(lines) == 1 and "refused" in lines[0]
                  and os.path.getsize(planted) == 0, f"rc {p.returncode}, {lines}")
        with open(ours, "w"):
            pass
        rc, _, err = stop_after([V6TRACE, "--json", "-o", ours], 1.5)
        with open(ours) as f:
            kinds = [json.loads(line)["event"] for line in f if line.strip()]
        res.check("-o FILE of our own in sticky /tmp: still written (start ... summary)",
                  rc == 0 and kinds[:1] == ["start"] and kinds[-1:] == ["summary"],
                  f"rc {rc}, {kinds[:3]}, {err[-2:]}")
    finally:
        for f in (planted, ours):
            if os.path.exists(f):
                os.unlink(f)


def memory_cgroup():
    """A v1 memory cgroup of our own (this host's layout), or None."""
    base = "/sys/fs/cgroup/memory"
    if not os.path.exists(os.path.join(base, "memory.limit_in_bytes")):
        return None
    path = os.path.join(base, f"v6t-inputs-{TAG}")
    os.makedirs(path, exist_ok=True)
    return path


def test_memory_limit(res):
    cg = memory_cgroup()
    if not cg:
        res.check("a memory cgroup v1 to test in", False, "no /sys/fs/cgroup/memory")
        return
    try:
        with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
            f.write(str(12 << 20))

        def enter():
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        p = subprocess.run([V6TRACE, "--json"], capture_output=True, timeout=30,
                           preexec_fn=enter)
        lines = lines_of(p)
        res.check("under a 12 MiB memory limit: one line saying so, exit 1 (not OOM-killed)",
                  p.returncode == 1 and len(lines) == 1 and "MiB" in lines[0]
                  and "memory" in lines[0] and not p.stdout, f"rc {p.returncode}, {lines}")
    finally:
        os.rmdir(cg)


# binds once told to (a line on stdin), then waits for the end of its stdin
BINDER = r"""
import socket, sys
sys.stdin.readline()
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.bind(("::", int(sys.argv[1])))
print("bound", flush=True)
sys.stdin.read()
"""


def bind_now(p):
    p.stdin.write("go\n")
    p.stdin.flush()
    p.stdout.readline()
    p.stdin.close()
    p.wait()


def spawn_with_pid(pid, argv):
    """A process that gets exactly this pid (ns_last_pid), or None."""
    for _ in range(50):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if p.pid == pid:
            return p
        p.stdin.close()
        p.wait()
    return None


def test_pid_reuse(res):
    p = run([V6TRACE, "-p", "4194303"])
    lines = lines_of(p)
    res.check("-p PID of no process: exit 1, one line", p.returncode == 1 and len(lines) == 1
              and "no such process" in lines[0], f"rc {p.returncode}, {lines}")
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "pid-reuse.json")
    port1, port2 = free_port(), free_port()
    first = subprocess.Popen([PY, "-c", BINDER, str(port1)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    with open(path, "wb") as out:
        tracer = subprocess.Popen([V6TRACE, "--json", "-p", str(first.pid)], stdout=out,
                                  stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b'"start"' not in open(path, "rb").read():
            time.sleep(0.05)
        bind_now(first)  # traced: it is the -p process; then it exits
        second = spawn_with_pid(first.pid, [PY, "-c", BINDER, str(port2)])
        if second:
            bind_now(second)
        time.sleep(0.3)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=20)
    recs = [json.loads(line) for line in open(path, "rb") if line.strip()]
    binds = [r for r in recs if r.get("event") == "bind"]
    res.check("-p PID: its own bind is reported",
              [r["pid"] for r in binds if r["port"] == port1] == [first.pid], binds)
    res.check("-p PID: another process got the same pid after it exited (ns_last_pid)",
              second is not None, "could not get the pid again")
    res.check("-p PID: the newcomer with the same pid is not traced (its bind is not "
              "reported)", second is not None and not [r for r in binds if r["port"] == port2],
              binds)


def main():
    return check.run_suite("input tests", "inputs: ",
                           [test_command_not_found, test_netns_not_net, test_output_fifo,
                            test_output_planted, test_memory_limit, test_pid_reuse])


if __name__ == "__main__":
    sys.exit(main())
