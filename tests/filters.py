#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Deploy tracing and filters on the host kernel, as root, with real processes:
`-- COMMAND` and its descendants, -p --children, --comm, -u, -c (with a
container-named cgroup), --netns, -P, -4/-6, --stack, --mapped. Each test runs
processes the filter must keep and processes it must drop, and checks the
kernel side's own counters: what a filter drops is counted as filtered and
never takes room in the ring buffer.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.path.join(ROOT, "v6trace")
WORKLOAD = os.path.join(ROOT, ".output", "tests", "workload")
ACTOR = os.path.join(ROOT, "tests", "actor.py")
OUT = os.path.join(ROOT, "tests", ".out", "filters")
NOBODY = 65534
# the actors run as other users too: a python they can execute
PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


class Tracer:
    """v6trace --json with some arguments, started and ready to see events."""

    def __init__(self, args, name, stdout_file=True):
        self.name = name
        self.path = os.path.join(OUT, name + ".out")
        self.errpath = os.path.join(OUT, name + ".err")
        self.out = open(self.path, "w+b")
        self.err = open(self.errpath, "w+b")
        self.proc = subprocess.Popen([V6TRACE, "--json"] + args, stdout=self.out,
                                     stderr=self.err)
        end = time.monotonic() + 30
        while b'"event":"start"' not in open(self.path, "rb").read():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"{name}: tracer did not start: {self.stderr()}")
            time.sleep(0.02)

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        self.out.seek(0)
        self.records = [json.loads(l) for l in self.out.read().splitlines()]
        self.events = [r for r in self.records if r["event"] in ("bind", "accept")]
        self.summary = self.records[-1] if self.records else {}
        return self


def port_outside_ephemeral():
    """A free port below net.ipv4.ip_local_port_range: no bind to port 0 (the
    other processes' binds, a flood's) can be given it by chance."""
    import socket
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    for port in range(low - 1000, low):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port below the ephemeral range")


def actor(*args, env=None, prefix=()):
    return subprocess.Popen(list(prefix) + [PY, ACTOR] + list(args),
                            stdout=subprocess.PIPE, env=env)


def facts_of(proc):
    out = proc.communicate(timeout=60)[0]
    return [json.loads(l) for l in out.splitlines()]


def fresh(name):
    path = os.path.join(OUT, name)
    if os.path.exists(path):
        os.unlink(path)
    return path


def pids_of(events):
    return {e["pid"] for e in events}


def counters_ok(t, dropped):
    """The kernel side's counters: every event in the ring buffer arrived, and at
    least the `dropped` events this test made outside the filter were filtered."""
    s = t.summary
    return (s.get("event") == "summary" and s["events"] == len(t.events) and s["lost"] == 0
            and s["filtered"] >= dropped)


def counters_detail(t):
    return {k: t.summary.get(k) for k in ("events", "lost", "filtered")}


def run_pair(res, label, tracer_args, keep, drop, expect_keep=None):
    """Starts the tracer, releases the keep and drop actors together, and checks
    that exactly keep's binds arrived and drop's were filtered in the kernel."""
    go = fresh(label + ".go")
    keep_p = actor("--go", go, *keep["args"], **keep.get("kw", {}))
    drop_p = actor("--go", go, *drop["args"], **drop.get("kw", {}))
    t = Tracer(tracer_args, label)
    open(go, "w").close()
    kept, dropped = facts_of(keep_p), facts_of(drop_p)
    t.stop()
    mine = [e for e in t.events if e["pid"] in pids_of(kept) | pids_of(dropped)]
    want = expect_keep(kept) if expect_keep else kept
    got = sorted((e["pid"], e["event"], e.get("port", e.get("local_port"))) for e in mine)
    exp = sorted((f["pid"], f["event"], f["port"]) for f in want)
    res.check(f"{label}: only the matching process's events, filtered ones counted in the kernel",
              got == exp and kept and dropped and counters_ok(t, len(dropped))
              and t.proc.returncode == 0,
              f"got {got}, expected {exp}, counters {counters_detail(t)}, rc {t.proc.returncode},"
              f" stderr {t.stderr()!r}")
    return t, kept, dropped


def test_command(res):
    """-- COMMAND: a shell that forks binders (one of them forking again after
    the start), traced with its whole tree; a sibling outside it is not."""
    go = fresh("cmd.sibling.go")
    sibling = actor("--go", go, "4/127.0.0.1/0")
    facts = fresh("cmd.facts")
    script = (f"{PY} {ACTOR} 4/0.0.0.0/0 >> {facts} & "
              f"{PY} {ACTOR} --fork 6/::/0 >> {facts}; "
              f"wait; touch {go}; sleep 0.3; exit 7")
    out, err = fresh("cmd.out"), fresh("cmd.err")
    with open(out, "wb") as o, open(err, "wb") as e:
        p = subprocess.run([V6TRACE, "--json", "--", "sh", "-c", script], stdout=o, stderr=e,
                           timeout=60)
    sib = facts_of(sibling)
    records = [json.loads(l) for l in open(out, "rb").read().splitlines()]
    events = [r for r in records if r["event"] == "bind"]
    tree = [json.loads(l) for l in open(facts).read().splitlines()]
    got = sorted((e["pid"], e["port"]) for e in events if e["comm"] == "python3")
    exp = sorted((f["pid"], f["port"]) for f in tree)
    res.check("-- COMMAND: every bind of the shell's children and grandchild, none of the sibling",
              len(tree) == 2 and got == exp and not pids_of(events) & pids_of(sib),
              f"got {got}, expected {exp}, sibling {sib}")
    res.check("-- COMMAND: exits with COMMAND's status (7) after the summary",
              p.returncode == 7 and records[-1]["event"] == "summary",
              f"rc {p.returncode}, last {records[-1] if records else None}")
    res.check("-- COMMAND: the sibling's bind counted as filtered in the kernel",
              records[-1].get("filtered", 0) >= 1 and records[-1]["lost"] == 0,
              records[-1])

    # exit status of a command killed by a signal, and of one that cannot run
    p = subprocess.run([V6TRACE, "--", "sh", "-c", "kill -TERM $$"], capture_output=True,
                       timeout=30)
    res.check("-- COMMAND killed by SIGTERM: exit 143", p.returncode == 143, p.returncode)
    p = subprocess.run([V6TRACE, "--", "/nonexistent/cmd"], capture_output=True, timeout=30)
    lines = p.stderr.decode().splitlines()
    res.check("-- COMMAND not found: exit 127, one line naming it",
              p.returncode == 127 and any("cannot run /nonexistent/cmd" in l for l in lines),
              f"rc {p.returncode}, {lines}")
    for args, what in ((["--"], "missing COMMAND"), (["-p", "1", "--", "true"], "exclude"),
                       (["--children"], "needs -p")):
        p = subprocess.run([V6TRACE] + args, capture_output=True, timeout=30)
        res.check(f"usage error {' '.join(args)!r}: exit 2, says {what!r}",
                  p.returncode == 2 and what in p.stderr.decode(), p.stderr)


def test_command_user(res):
    """Under sudo, COMMAND runs as the invoking user unless --as-root."""
    env = dict(os.environ, SUDO_UID=str(NOBODY), SUDO_GID=str(NOBODY), SUDO_USER="nobody")
    for extra, uid in (([], NOBODY), (["--as-root"], 0)):
        out = fresh("sudo.out")
        with open(out, "wb") as o:
            p = subprocess.run([V6TRACE, "--json"] + extra + ["--", PY, ACTOR,
                                                              "4/127.0.0.1/0"],
                               stdout=o, stderr=subprocess.PIPE, env=env, timeout=60)
        # COMMAND shares v6trace's stdout: the actor's own lines have no "v"
        binds = [r for r in map(json.loads, open(out, "rb").read().splitlines())
                 if r["event"] == "bind" and "v" in r]
        res.check(f"sudo -- COMMAND {' '.join(extra)}: the bind is made as uid {uid}",
                  p.returncode == 0 and len(binds) == 1 and binds[0]["uid"] == uid
                  and binds[0]["ret"] == 0,
                  f"rc {p.returncode}, {binds}, {p.stderr!r}")


def test_children(res):
    """-p PARENT --children: the child PARENT forks after the start is traced."""
    go = fresh("children.go")
    parent = actor("--go", go, "--fork", "4/127.0.0.1/0")
    other = actor("--go", go, "4/127.0.0.1/0")
    t = Tracer(["-p", str(parent.pid), "--children"], "children")
    t_plain = Tracer(["-p", str(parent.pid)], "children-plain")
    open(go, "w").close()
    kids, others = facts_of(parent), facts_of(other)
    t.stop()
    t_plain.stop()
    got = sorted((e["pid"], e["port"]) for e in t.events)
    exp = sorted((f["pid"], f["port"]) for f in kids)
    res.check("-p PARENT --children: exactly the bind of the child forked after the start",
              len(kids) == 1 and kids[0]["pid"] != parent.pid and got == exp
              and counters_ok(t, len(others)),
              f"got {got}, expected {exp}, counters {counters_detail(t)}")
    res.check("-p PARENT without --children: the child's bind is filtered",
              t_plain.events == [] and counters_ok(t_plain, len(kids) + len(others)),
              f"{t_plain.events}, counters {counters_detail(t_plain)}")


def test_comm_uid(res):
    run_pair(res, "--comm", ["--comm", "v6t-alpha"],
             {"args": ["--comm", "v6t-alpha", "4/127.0.0.1/0", "6/::/0"]},
             {"args": ["--comm", "v6t-beta", "4/127.0.0.1/0"]})
    setpriv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    run_pair(res, "-u", ["-u", str(NOBODY)],
             {"args": ["4/127.0.0.1/0"], "kw": {"prefix": setpriv}},
             {"args": ["4/127.0.0.1/0"]})
    run_pair(res, "-u NAME", ["-u", "nobody"],
             {"args": ["4/127.0.0.1/0"], "kw": {"prefix": setpriv}},
             {"args": ["4/127.0.0.1/0"]})


def test_cgroup(res):
    """-c DIR keeps processes in DIR and below it; events name the cgroup path
    and the container id it holds."""
    mount = check.cgroup2_mount()
    if not mount:
        res.check("cgroup v2 is mounted", False, "no cgroup2 in /proc/self/mounts")
        return
    cid = "0123456789abcdef" * 4
    top = os.path.join(mount, f"v6trace-test.{os.getpid()}")
    leaf = os.path.join(top, f"docker-{cid}.scope")
    os.makedirs(leaf, exist_ok=True)
    try:
        t, kept, _ = run_pair(res, "-c", ["-c", top],
                              {"args": ["--cgroup", leaf, "4/127.0.0.1/0"]},
                              {"args": ["4/127.0.0.1/0"]})
        mine = [e for e in t.events if e["pid"] in pids_of(kept)]
        rel = leaf[len(mount):]
        res.check("-c: JSON names the cgroup path and the container id in it",
                  mine and all(e["cgroup"] == rel and e["container"] == cid for e in mine),
                  [(e.get("cgroup"), e.get("container")) for e in mine])
        # relative to the cgroup2 mount, and text output with the short id
        go = fresh("cgroup-text.go")
        a = actor("--go", go, "--cgroup", leaf, "4/127.0.0.1/0")
        out = fresh("cgroup-text.out")
        with open(out, "wb") as o:
            tp = subprocess.Popen([V6TRACE, "-c", top[len(mount):]], stdout=o,
                                  stderr=subprocess.PIPE)
            while b"PID" not in open(out, "rb").read() and tp.poll() is None:
                time.sleep(0.02)
            open(go, "w").close()
            facts = facts_of(a)
            time.sleep(0.3)
            tp.send_signal(signal.SIGINT)
            tp.wait(timeout=30)
        lines = [l for l in open(out).read().splitlines() if l.startswith(f"{facts[0]['pid']} ")]
        res.check("-c relative to the cgroup2 mount; text ends with container=<12 hex>",
                  len(lines) == 1 and lines[0].endswith(f" container={cid[:12]}"), lines)
    finally:
        for d in (leaf, top):
            try:
                os.rmdir(d)
            except OSError:
                pass
    p = subprocess.run([V6TRACE, "-c", "/tmp"], capture_output=True, timeout=30)
    res.check("-c on a directory that is not a cgroup: exit 2, one clear line",
              p.returncode == 2 and "not a cgroup v2 directory" in p.stderr.decode(), p.stderr)


def test_netns(res):
    """--netns by /proc/PID/ns/net, by inode, and by /run/netns/NAME."""
    for how in ("path", "inode"):
        go, ready = fresh(f"netns-{how}.go"), fresh(f"netns-{how}.ready")
        inside = actor("--netns", "--ready", ready, "--go", go, "4/127.0.0.1/0", "6/::/0")
        outside = actor("--go", go, "4/127.0.0.1/0")
        end = time.monotonic() + 30
        while not os.path.exists(ready) and time.monotonic() < end:
            time.sleep(0.02)
        info = json.load(open(ready))
        arg = f"/proc/{info['pid']}/ns/net" if how == "path" else str(info["netns"])
        t = Tracer(["--netns", arg], f"netns-{how}")
        open(go, "w").close()
        kept, dropped = facts_of(inside), facts_of(outside)
        t.stop()
        got = sorted((e["pid"], e["port"], e["netns"]) for e in t.events)
        exp = sorted((f["pid"], f["port"], info["netns"]) for f in kept)
        res.check(f"--netns {how}: only the binds in that namespace",
                  got == exp and counters_ok(t, len(dropped)),
                  f"got {got}, expected {exp}, counters {counters_detail(t)}")
    if not shutil.which("ip"):
        res.check("ip(8) is installed for the /run/netns test", False, "no ip")
        return
    name = f"v6trace-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        go = fresh("netns-named.go")
        inside = actor("--go", go, "4/127.0.0.1/0", prefix=["ip", "netns", "exec", name])
        outside = actor("--go", go, "4/127.0.0.1/0")
        t = Tracer(["--netns", f"/run/netns/{name}"], "netns-named")
        open(go, "w").close()
        kept, dropped = facts_of(inside), facts_of(outside)
        t.stop()
        want = os.stat(f"/run/netns/{name}").st_ino
        res.check("--netns /run/netns/NAME: only the bind made in it",
                  [(e["pid"], e["netns"]) for e in t.events] == [(kept[0]["pid"], want)]
                  and counters_ok(t, len(dropped)),
                  f"{t.events}, counters {counters_detail(t)}")
    finally:
        subprocess.run(["ip", "netns", "del", name])


def test_socket_filters(res):
    p1 = port_outside_ephemeral()
    run_pair(res, "-P", ["-P", f"{p1},1"],
             {"args": [f"4/127.0.0.1/{p1}"]}, {"args": ["4/127.0.0.1/0", "6/::/0"]})
    run_pair(res, "-6", ["-6"], {"args": ["6/::1/0", "6/::/0/v6only"]},
             {"args": ["4/127.0.0.1/0", "4/0.0.0.0/0"]})
    run_pair(res, "-4", ["-4"], {"args": ["4/127.0.0.1/0"]}, {"args": ["6/::/0"]})
    run_pair(res, "--stack dual", ["--stack", "dual"], {"args": ["6/::/0"]},
             {"args": ["6/::/0/v6only", "4/0.0.0.0/0", "6/::ffff:127.0.0.1/0"]})
    run_pair(res, "--stack v4,v6", ["--stack", "v4,v6"],
             {"args": ["6/::/0/v6only", "4/0.0.0.0/0", "6/::ffff:127.0.0.1/0"]},
             {"args": ["6/::/0"]})
    # --mapped: an IPv4 client of a dual-stack listener, and an IPv6 one
    t, kept, dropped = run_pair(
        res, "--mapped", ["--mapped"], {"args": ["--accept", "6/::/0>127.0.0.1"]},
        {"args": ["--accept", "6/::/0>::1", "4/127.0.0.1/0>127.0.0.1"]},
        expect_keep=lambda facts: [f for f in facts if f["event"] == "accept"])
    mine = [e for e in t.events if e["pid"] in pids_of(kept)]
    res.check("--mapped: the accept says mapped, peer ::ffff:127.0.0.1, peer_v4 127.0.0.1",
              len(mine) == 1 and mine[0]["mapped"] and mine[0]["peer"] == "::ffff:127.0.0.1"
              and mine[0]["peer_v4"] == "127.0.0.1", mine)
    for args, what in ((["-P", "0"], "invalid port"), (["-P", "70000"], "invalid port"),
                       (["-4", "-6"], "exclude each other"), (["--stack", "v5"], "invalid --stack"),
                       (["-u", "no-such-user-v6t"], "no such user"),
                       (["--netns", "/etc/passwd"], "not a namespace file"),
                       (["--netns", "/nonexistent"], "invalid --netns")):
        p = subprocess.run([V6TRACE] + args, capture_output=True, timeout=30)
        lines = p.stderr.decode().splitlines()
        res.check(f"usage error {' '.join(args)!r}: exit 2, says {what!r}",
                  p.returncode == 2 and lines and what in lines[0], lines)


def test_filtered_never_in_ring_buffer(res):
    """A stalled reader and a 4 KiB ring buffer (room for about 40 events):
    3000 binds a filter drops lose nothing, so they never took room in it; the
    one bind that matches still arrives."""
    n = 3000
    go = fresh("flood.go")
    flood = subprocess.Popen([WORKLOAD, "flood", str(n), go], stdout=subprocess.PIPE)
    port = port_outside_ephemeral()
    errf = open(os.path.join(OUT, "flood.err"), "w+b")
    tracer = subprocess.Popen([V6TRACE, "--json", "--ringbuf-kb", "4", "-P", str(port)],
                              stdout=subprocess.PIPE, stderr=errf)
    json.loads(tracer.stdout.readline())  # started; from now on nobody reads
    open(go, "w").close()
    done = json.loads(flood.communicate(timeout=120)[0])
    match = facts_of(actor(f"4/127.0.0.1/{port}"))
    tracer.send_signal(signal.SIGINT)
    out = tracer.stdout.read()  # with what readline() buffered
    tracer.wait(timeout=60)
    records = [json.loads(l) for l in out.splitlines()]
    s = records[-1]
    binds = [r for r in records if r["event"] == "bind"]
    res.check(f"-P with a stalled reader: {n} filtered binds, 0 lost, the matching one arrives",
              done["binds"] == n and s["event"] == "summary" and s["lost"] == 0
              and s["filtered"] >= n and [(b["pid"], b["port"]) for b in binds]
              == [(match[0]["pid"], port)] and s["events"] == 1,
              f"summary {s}, binds {binds}")


# binds in the main thread, then in a thread that renamed itself (its comm)
RENAMED_THREAD = r'''
import ctypes, socket, threading
PR_SET_NAME = 15
keep = [socket.socket()]
keep[0].bind(("127.0.0.1", 0))
def acceptor():
    ctypes.CDLL(None).prctl(PR_SET_NAME, b"acceptor", 0, 0, 0)
    s = socket.socket(socket.AF_INET6)
    s.bind(("::1", 0))
    keep.append(s)
t = threading.Thread(target=acceptor)
t.start()
t.join()
'''

# a socket-activated server: systemd-socket-activate binds and listens, and
# on the first connection execs python3 in place, which accepts it
ACTIVATED = r'''
import socket
conn, _ = socket.socket(fileno=3).accept()
'''


def run_with_client(args, port):
    """Runs v6trace ARGS, connecting to [::1]:port until something listens there."""
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    import socket
    end = time.monotonic() + 30
    while time.monotonic() < end and p.poll() is None:
        try:
            with socket.create_connection(("::1", port), timeout=5):
                break
        except OSError:
            time.sleep(0.05)
    out, err = p.communicate(timeout=60)
    return subprocess.CompletedProcess(args, p.returncode, out, err)


def summary_of(records, pid):
    procs = records[-1].get("processes", []) if records else []
    return next((p for p in procs if p["pid"] == pid), None)


def test_summary_names(res):
    """The summary names a process by its first event's name and lists the
    others: a thread renamed with prctl(PR_SET_NAME), and an exec."""
    port = port_outside_ephemeral()
    for label, argv, names in (
            ("a thread renamed with PR_SET_NAME", [PY, "-c", RENAMED_THREAD],
             ["python3", "acceptor"]),
            ("systemd-socket-activate then exec python3",
             [shutil.which("systemd-socket-activate") or "systemd-socket-activate", "-l",
              f"[::1]:{port}", PY, "-c", ACTIVATED],
             ["systemd-socket-", "python3"])):
        pj = run_with_client([V6TRACE, "--json", "--"] + argv, port)
        records = [json.loads(l) for l in pj.stdout.splitlines()]
        events = [r for r in records if r["event"] in ("bind", "listen", "accept")]
        pid = events[0]["pid"] if events else None
        seen = list(dict.fromkeys(e["comm"] for e in events))
        proc = summary_of(records, pid)
        res.check(f"summary names {label}: comm {names[0]!r}, comms {names}",
                  pj.returncode == 0 and seen == names and {e["pid"] for e in events} == {pid}
                  and proc and proc["comm"] == names[0] and proc["comms"] == names
                  and not check.schema_errors(records[-1]),
                  f"rc {pj.returncode}, events {[(e['pid'], e['comm']) for e in events]}, "
                  f"summary {proc}, {check.schema_errors(records[-1]) if records else None}")
        pt = run_with_client([V6TRACE, "--"] + argv, port)
        rows = [l.split() for l in pt.stderr.decode().splitlines() if l[:1].isdigit()]
        res.check(f"text summary of {label}: COMM {names[0]!r}, then also={names[1]}",
                  pt.returncode == 0 and len(rows) == 1 and rows[0][1] == names[0]
                  and rows[0][-1] == f"also={names[1]}", pt.stderr.decode()[-400:])


def main():
    tests = (
        test_command, test_command_user, test_children, test_comm_uid, test_cgroup, test_netns,
        test_socket_filters, test_filtered_never_in_ring_buffer, test_summary_names)
    return check.run_suite("filter tests", "host filters: ", tests, outdir=OUT)


if __name__ == "__main__":
    sys.exit(main())
