#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The helper's answers are right or said unknown, as root on the host.

- stale namespaces: an unprivileged user's short-lived processes, each in a
  user+net namespace of its own (unshare), hold a port there, fail a bind on
  it and exit at once, while root fails binds on held ports of the host: no
  answer names a socket of another port or another namespace, the host's are
  all found, and a namespace gone before its lookup says "unknown" (not
  found, not none);
- holders of other uids: a listener run as nobody (setpriv), one that sets
  itself non-dumpable after setuid, and Debian's named (-u bind) if bind9 is
  installed: held_by names each (pid and comm as ss -ltnp does), and so do
  --snapshot and the deploy report;
- interface names: link-local binds in two namespaces made here, the helper
  stopped for 2 s: every scope is its own interface's name or null, never
  another's; with --ringbuf-kb 4, the ordinary binds made meanwhile are not
  lost (the loop never waits for the helper);
- the helper killed: one line on stderr, the tracer's CPU time small after,
  later EADDRINUSE "unavailable", later binds still traced; the helper
  stopped past the deadline: "unfinished", tracing goes on, SIGINT still ends
  v6trace at once;
- 200 hostile namespaces (nobody, each with a live holder and a failing bind)
  and a root EADDRINUSE at the same time: root's is found, and the 200 too;
  an unprivileged flood of failing binds on the host: root's lookups made
  in the middle of it are found, not skipped.

V6TRACE=PATH runs another build (to show a test fails on the old code).
CHURN_SECONDS=N makes the stale-namespace churn longer; ONLY=NAME[,NAME] runs those tests.
"""
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.environ.get("V6TRACE", os.path.join(ROOT, "v6trace"))
OUT = os.path.join(ROOT, "tests", ".out", "lookups")
PY = "/usr/bin/python3"
ME = os.getpid()
# ports inside the namespaces made here: any will do, derived from the pid
BASE = 20000 + (ME % 200) * 50


def free_ports(n):
    """n ports free on the host for TCP and UDP, as the kernel picks them."""
    held, ports = [], []
    while len(ports) < n:
        t = socket.socket()
        t.bind(("0.0.0.0", 0))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("0.0.0.0", t.getsockname()[1]))
            ports.append(t.getsockname()[1])
        except OSError:
            pass
        held += [t, u]
    for x in held:
        x.close()
    return ports
NOBODY = pwd.getpwnam("nobody")

# Forks children that each enter a user+net namespace of their own, hold a
# port there, fail a bind on it and exit at once (or stay, with "stay"):
# prints "pid port netns" per child.
NAMESPACED = r"""
import ctypes, os, socket, sys, time
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
base, count, until, stay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
i = 0
kids = []
while (count and i < count) or (not count and time.time() < until):
    port = base + i % 40
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET):
            os._exit(2)
        h = socket.socket()
        h.bind(("0.0.0.0", port))
        h.listen(1)
        s = socket.socket(socket.AF_INET6)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        ns = os.stat("/proc/self/ns/net").st_ino
        os.write(w, f"{os.getpid()} {port} {ns}\n".encode())
        try:
            s.bind(("::", port))
        except OSError:
            pass
        if stay == "stay":
            os.read(0, 1)  # until the parent's stdin closes
        os._exit(0)
    os.close(w)
    line = os.read(r, 100).decode()
    os.close(r)
    print(line.strip(), flush=True)
    if stay == "stay":
        kids.append(pid)
    else:
        os.waitpid(pid, 0)
        time.sleep(0.003 * (i % 4))
    i += 1
if stay == "stay":
    print("ready", flush=True)
    sys.stdin.read()
    for k in kids:
        os.waitpid(k, 0)
"""

# root: holds the ports, fails binds on them until the time is up; prints its pid first
HOST_LOSER = r"""
import os, socket, sys, time
ports, until = [int(p) for p in sys.argv[1].split(",")], float(sys.argv[3])
base, count = 0, len(ports)
held = []
for p in ports:
    h = socket.socket()
    h.bind(("0.0.0.0", p))
    h.listen(1)
    held.append(h)
print(os.getpid(), flush=True)
i = 0
while time.time() < until:
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        s.bind(("::", ports[i % count]))
    except OSError:
        pass
    s.close()
    i += 1
    time.sleep(0.01)
print(i, flush=True)
sys.stdin.read()  # the holders stay until the tracer has stopped
"""

# a listener on port argv[1]; argv[2] "nondumpable": prctl(PR_SET_DUMPABLE, 0)
# after setuid; argv[3] the uid to become (or -1)
LISTENER = r"""
import ctypes, os, socket, sys
port, mode, uid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(4)
if uid >= 0:
    os.setgid(uid)
    os.setuid(uid)
if mode == "nondumpable":
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
print(os.getpid(), flush=True)
if len(sys.argv) > 4:
    import time
    time.sleep(float(sys.argv[4]))
else:
    sys.stdin.read()
"""

FAIL_BIND = ("import socket,sys\n"
             "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
             "try: s.bind(('127.0.0.1', int(sys.argv[1])))\n"
             "except OSError as e: print(e.errno)\n")


def start_tracer(path, args=(), stderr=subprocess.PIPE):
    out = open(path, "wb")
    p = subprocess.Popen([V6TRACE, "--json", *args], stdout=out, stderr=stderr)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open(path, "rb") as f:
            if b'"event":"start"' in f.read():
                break
        if p.poll() is not None:
            break
        time.sleep(0.05)
    return p, out


def stop_tracer(p, out, timeout=30):
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=timeout)
    finally:
        out.close()


def records(path):
    recs = []
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                try:
                    recs.append(json.loads(line))
                except ValueError:
                    pass
    return recs


def helper_of(tracer_pid):
    """The tracer's helper: its child that is not COMMAND (none given here)."""
    kids = []
    for task in os.listdir(f"/proc/{tracer_pid}/task"):
        with open(f"/proc/{tracer_pid}/task/{task}/children") as f:
            kids += [int(k) for k in f.read().split()]
    return kids[0] if len(kids) == 1 else None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def as_nobody():
    os.setgid(NOBODY.pw_gid)
    os.setuid(NOBODY.pw_uid)


def failed_binds(recs, pid=None):
    return [r for r in recs if r.get("event") == "bind" and r.get("error") == "EADDRINUSE"
            and (pid is None or r["pid"] == pid)]


# ---- 1. stale namespaces ----------------------------------------------------

def churn(seconds, tag):
    """Short-lived namespaced losers (nobody) against root losers on the host:
    (records, the namespaced children by pid, the root loser's pid)."""
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"churn-{tag}-{ME}.json")
    host_ports = free_ports(10)
    ports = [a for p in list(range(BASE, BASE + 40)) + host_ports for a in ("-P", str(p))]
    tracer, out = start_tracer(path, ports)
    try:
        until = time.time() + seconds
        host = subprocess.Popen([PY, "-c", HOST_LOSER, ",".join(map(str, host_ports)), "10",
                                 str(until)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        host_pid = int(host.stdout.readline())
        ns = subprocess.Popen([PY, "-c", NAMESPACED, str(BASE), "0", str(until), "exit"],
                              stdout=subprocess.PIPE, text=True, preexec_fn=as_nobody)
        kids = {}
        for line in ns.stdout:
            pid, port, netns = map(int, line.split())
            kids[pid] = (port, netns)
        ns.wait(timeout=60)
        host.stdout.readline()
        time.sleep(0.5)
    finally:  # never a tracer left behind
        stop_tracer(tracer, out)
    host.stdin.close()
    host.wait(timeout=60)
    return records(path), kids, host_pid


def judge_churn(recs, kids, host_pid):
    wrong, unknown, found_ns, other, host_ok, host_bad = [], 0, 0, [], 0, []
    none_ns = 0
    for r in failed_binds(recs):
        h = r.get("held_by")
        if r["pid"] == host_pid:
            if (r.get("holder_lookup") == "found" and h and h["pid"] == host_pid
                    and h["port"] == r["port"]):
                host_ok += 1
            else:
                host_bad.append(r)
            continue
        if r["pid"] not in kids:
            continue
        port, netns = kids[r["pid"]]
        if h and (h["port"] != r["port"] or r["netns"] != netns
                  or h["pid"] not in (None, r["pid"])):
            wrong.append(r)
        elif r.get("holder_lookup") == "unknown" and not h:
            unknown += 1
        elif r.get("holder_lookup") == "found" and h:
            found_ns += 1
        elif r.get("holder_lookup") == "none" and not h:
            none_ns += 1  # entered while its process exited: its sockets were closed
        else:
            other.append(r)
    return wrong, unknown, found_ns, none_ns, other, host_ok, host_bad


def test_stale_namespaces(res):
    seconds = float(os.environ.get("CHURN_SECONDS", "8"))
    recs, kids, host_pid = churn(seconds, "stale")
    wrong, unknown, found_ns, none_ns, other, host_ok, host_bad = judge_churn(recs, kids,
                                                                             host_pid)
    answered = sum(1 for r in failed_binds(recs) if r["pid"] in kids)
    print(f"       churn {seconds:.0f} s: {len(kids)} short-lived namespaces, {answered} "
          f"events: {found_ns} found (their own holder), {unknown} unknown, {none_ns} none, "
          f"{len(wrong)} wrong, {len(other)} other; host {host_ok} found right, {len(host_bad)} not")
    res.check("stale namespaces: no answer names a socket of another port or namespace",
              answered > 0 and not wrong, f"{len(wrong)} wrong of {answered}, e.g. {wrong[:2]}")
    # "none" is true of a namespace entered while its process was exiting (its
    # files closed, its namespace not yet): rare; a namespace gone is unknown
    res.check("stale namespaces: a namespace gone before its lookup says unknown (most of "
              "them), never unfinished or skipped",
              unknown > 0 and unknown >= 0.9 * answered and not other,
              f"{unknown} unknown, other {[(r.get('holder_lookup'), r.get('held_by')) for r in other[:3]]}")
    res.check("stale namespaces: the host's EADDRINUSE interleaved with them are all found, "
              "named right", host_ok > 0 and not host_bad,
              f"{host_ok} right, {len(host_bad)} not, e.g. {host_bad[:2]}")


# ---- 2. holders of other uids -----------------------------------------------

def ss_owner(port):
    """(pid, comm) of the listener on 127.0.0.1:port, as ss -ltnpH says."""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    m = re.search(r'users:\(\("([^"]*)",pid=(\d+)', out)
    return (int(m.group(2)), m.group(1)) if m else (None, None)


NAMED_CONF = """options {{
    directory "{dir}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    pid-file "{dir}/named.pid";
    recursion no;
    dnssec-validation no;
}};
"""


def start_named(tmp, port):
    """Debian's named, dropping to user bind, on 127.0.0.1:port; None if bind9 is not here."""
    if not os.path.exists("/usr/sbin/named"):
        return None
    d = os.path.join(tmp, "named")
    os.makedirs(d)
    bind = pwd.getpwnam("bind")
    os.chown(d, bind.pw_uid, bind.pw_gid)
    conf = os.path.join(d, "named.conf")
    with open(conf, "w") as f:
        f.write(NAMED_CONF.format(dir=d, port=port))
    p = subprocess.Popen(["/usr/sbin/named", "-u", "bind", "-g", "-4", "-n", "1", "-c", conf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if ss_owner(port)[0]:
            break
        time.sleep(0.1)
    return p


def test_other_uids(res):
    os.makedirs(OUT, exist_ok=True)
    free = free_ports(6)
    ports = {"nobody": free[0], "nondumpable": free[1], "named": free[2]}
    procs = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        for name, mode in (("nobody", "plain"), ("nondumpable", "nondumpable")):
            if name == "nobody":  # setpriv, as an administrator would
                cmd = ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}",
                       "--clear-groups", PY, "-c", LISTENER, str(ports[name]), mode, "-1"]
            else:
                cmd = [PY, "-c", LISTENER, str(ports[name]), mode, str(NOBODY.pw_uid)]
            procs[name] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           text=True)
            procs[name].stdout.readline()
        named = start_named(tmp, ports["named"])
        if named:
            procs["named"] = named
        else:
            print("       bind9 is not installed: named is not tried (apt-get install bind9)")
        owners = {n: ss_owner(ports[n]) for n in procs}
        path = os.path.join(OUT, "uids.json")
        tracer, out = start_tracer(path)
        for n in procs:
            subprocess.run([PY, "-c", FAIL_BIND, str(ports[n])], timeout=30)
        time.sleep(0.5)
        stop_tracer(tracer, out)
        recs = records(path)
        snap = subprocess.run([V6TRACE, "--snapshot", "--json"], capture_output=True,
                              text=True, timeout=60).stdout
        # the deploy report: COMMAND starts the same servers on other ports; the
        # report's "after" (listed by the helper) names who serves each
        rports = {"nobody": free[3], "nondumpable": free[4], "named": free[5]}
        script = (f"setpriv --reuid={NOBODY.pw_uid} --regid={NOBODY.pw_gid} --clear-groups "
                  f"{PY} -c '{LISTENER}' {rports['nobody']} plain -1 20 >/dev/null &\n"
                  f"{PY} -c '{LISTENER}' {rports['nondumpable']} nondumpable "
                  f"{NOBODY.pw_uid} 20 >/dev/null &\n")
        if "named" in procs:
            d2 = os.path.join(tmp, "named2")
            os.makedirs(d2)
            bind = pwd.getpwnam("bind")
            os.chown(d2, bind.pw_uid, bind.pw_gid)
            with open(os.path.join(d2, "named.conf"), "w") as f:
                f.write(NAMED_CONF.format(dir=d2, port=rports["named"]))
            script += f"/usr/sbin/named -u bind -4 -n 1 -c {d2}/named.conf\n"
        script += "sleep 2\n"
        report_path = os.path.join(OUT, "uids-report.json")
        with open(report_path, "wb") as f:
            subprocess.run([V6TRACE, "--json", "--report", "--linger", "0", "--", "sh", "-c",
                            script], stdout=f, stderr=subprocess.DEVNULL, timeout=60)
        report = [json.loads(line) for line in open(report_path) if line.strip()]
        report_owners = {n: ss_owner(rports[n]) for n in procs}
        for n in procs:
            if report_owners[n][0]:
                os.kill(report_owners[n][0], signal.SIGTERM)
        if "named" in procs:  # and by its pid file, should ss not have named it
            try:
                os.kill(int(open(os.path.join(d2, "named.pid")).read()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        for n, p in procs.items():
            if n == "named":
                p.terminate()
            else:
                p.stdin.close()
            p.wait(timeout=30)
    snap_recs = [json.loads(line) for line in snap.splitlines() if line.strip()]
    for n in procs:
        pid, comm = owners[n]
        ev = [r for r in failed_binds(recs) if r["port"] == ports[n]]
        h = ev[0].get("held_by") if len(ev) == 1 else None
        res.check(f"holder run as {n} (pid {pid} {comm} per ss): held_by names it",
                  pid and h and h["pid"] == pid and h["comm"] == comm
                  and ev[0]["holder_lookup"] == "found", f"ss {owners[n]}, events {ev}")
        rows = [r for r in snap_recs if r.get("port") == ports[n] or r.get("local_port") ==
                ports[n]]
        res.check(f"holder run as {n}: --snapshot names its owner",
                  rows and all(r.get("pid") == pid for r in rows), rows)
        rpid, rcomm = report_owners[n]
        changes = [c for c in report if c.get("event") == "change"
                   and c.get("port") == rports[n]]
        named_right = [c for c in changes if c.get("after") and c["after"].get("pid") == rpid
                       and c["after"].get("comm") == rcomm]
        res.check(f"server run as {n} started by COMMAND: the deploy report names its owner "
                  f"(pid {rpid} {rcomm} per ss)", rpid and changes and named_right,
                  changes)


# ---- 3. interface names -----------------------------------------------------

# binds a UDP socket to fe80::1%IFNAME every 10 ms until argv[2] (a time)
SCOPED = r"""
import socket, sys, time
name, until = sys.argv[1], float(sys.argv[2])
idx = socket.if_nametoindex(name)
print(idx, flush=True)
n = 0
while time.time() < until:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("fe80::1", int(sys.argv[3]), 0, idx))
    s.close()
    n += 1
    time.sleep(0.01)
print(n, flush=True)
"""

# ordinary binds on the ports argv[2] in turn, every 2 ms until argv[1]; its pid, then the count
BYSTANDER = r"""
import os, socket, sys, time
until, ports = float(sys.argv[1]), [int(p) for p in sys.argv[2].split(",")]
print(os.getpid(), flush=True)
n = 0
while time.time() < until:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", ports[n % len(ports)]))
    s.close()
    n += 1
    time.sleep(0.002)
print(n, flush=True)
"""


def make_netns(name, ifnames):
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    for ifname in ifnames:
        # veth: this host's kernel has no dummy module
        peer = "p" + ifname[1:]
        subprocess.run(["ip", "-n", name, "link", "add", ifname, "type", "veth", "peer", "name",
                        peer], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", peer, "up"], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", ifname, "up"], check=True)
        subprocess.run(["ip", "-n", name, "addr", "add", "fe80::1/64", "dev", ifname, "nodad"],
                       check=True)


def test_ifnames(res):
    os.makedirs(OUT, exist_ok=True)
    tag = ME % 100000
    nsa, nsb = f"v6tA{tag}", f"v6tB{tag}"
    # ns A: two interfaces (the second is used), ns B: one, so that their
    # indexes differ and a name given to the wrong question shows
    names = {nsa: [f"relA{tag}", f"dumA{tag}"], nsb: [f"dumB{tag}"]}
    path = os.path.join(OUT, "ifnames.json")
    try:
        for ns, ifs in names.items():
            make_netns(ns, ifs)
        ns_inodes = {ns: os.stat(f"/run/netns/{ns}").st_ino for ns in names}
        # only this test's ports: another test's flood on this machine fills
        # a 4 KiB ring buffer by itself
        by_ports = free_ports(10)
        scoped_port = BASE + 45
        tracer, out = start_tracer(path, ["--ringbuf-kb", "4", "-P", str(scoped_port)]
                                   + [a for p in by_ports for a in ("-P", str(p))])
        helper = helper_of(tracer.pid)
        until = time.time() + 7
        binders = {}
        for ns, ifs in names.items():
            for ifname in ifs:
                p = subprocess.Popen(["ip", "netns", "exec", ns, PY, "-c", SCOPED, ifname,
                                      str(until), str(scoped_port)], stdout=subprocess.PIPE,
                                     text=True)
                binders[(ns, ifname)] = (p, int(p.stdout.readline()))
        by = subprocess.Popen([PY, "-c", BYSTANDER, str(until), ",".join(map(str, by_ports))],
                              stdout=subprocess.PIPE, text=True)
        by_pid = int(by.stdout.readline())
        time.sleep(2)
        os.kill(helper, signal.SIGSTOP)
        time.sleep(2)
        os.kill(helper, signal.SIGCONT)
        for p, _ in binders.values():
            p.wait(timeout=30)
        by_count = int(by.stdout.readline())
        by.wait(timeout=30)
        time.sleep(0.5)
        stop_tracer(tracer, out)
    finally:
        for ns in names:
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    recs = records(path)
    # (netns inode, ifindex) -> the interface's name, as made here
    expected = {(ns_inodes[ns], idx): ifname for (ns, ifname), (_, idx) in binders.items()}
    right = wrong = unknown = 0
    examples = []
    for r in recs:
        if r.get("event") != "bind" or (r.get("netns"), r.get("ifindex")) not in expected:
            continue
        if r.get("scope") is None:
            unknown += 1
        elif r["scope"] == expected[(r["netns"], r["ifindex"])]:
            right += 1
        else:
            wrong += 1
            examples.append((r["netns"], r["ifindex"], r["scope"]))
    summary = recs[-1] if recs and recs[-1].get("event") == "summary" else {}
    by_seen = sum(1 for r in recs if r.get("event") == "bind" and r.get("pid") == by_pid)
    print(f"       interface names: {right} right, {unknown} unknown, {wrong} wrong; "
          f"bystander {by_seen} of {by_count} binds, lost {summary.get('lost')} "
          f"(ring buffer 4 KiB, helper stopped 2 s)")
    res.check("interface names, helper stopped 2 s: every scope is its own interface's "
              "name or null, never another's", right > 0 and wrong == 0,
              f"{wrong} wrong, e.g. {examples[:5]}")
    res.check("interface names, helper stopped 2 s, 4 KiB ring buffer: the ordinary binds "
              "made meanwhile are not lost (the loop never waits for the helper)",
              by_count > 0 and by_seen >= 0.9 * by_count
              and summary.get("lost", by_count) <= 0.1 * by_count,
              f"bystander {by_seen} of {by_count}, lost {summary.get('lost')}")


# ---- 4. the helper killed, the helper stopped --------------------------------

def held_port():
    h = socket.socket()
    h.bind(("127.0.0.1", 0))
    h.listen(1)
    return h, h.getsockname()[1]


def fail_and_bind(port):
    """A process that fails a bind on port and makes an ordinary bind: its pid."""
    code = (FAIL_BIND + "import os\n"
            "t=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t.bind(('127.0.0.1',0))\n"
            "print(os.getpid())\n")
    out = subprocess.run([PY, "-c", code, str(port)], capture_output=True, text=True,
                         timeout=30).stdout.split()
    return int(out[-1])


def test_helper_killed(res):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "killed.json")
    h, port = held_port()
    errpath = os.path.join(OUT, "killed.stderr")
    with open(errpath, "wb") as err:
        tracer, out = start_tracer(path, (), stderr=err)
        before = fail_and_bind(port)
        time.sleep(0.5)
        helper = helper_of(tracer.pid)
        os.kill(helper, signal.SIGKILL)
        time.sleep(0.5)
        cpu0 = cpu_seconds(tracer.pid)
        time.sleep(3)
        cpu = cpu_seconds(tracer.pid) - cpu0
        after = fail_and_bind(port)
        time.sleep(0.5)
        alive = tracer.poll() is None
        stop_tracer(tracer, out)
    h.close()
    recs = records(path)
    errors = [line for line in open(errpath, errors="replace") if "helper" in line]
    ev_before = failed_binds(recs, before)
    ev_after = failed_binds(recs, after)
    ok_bind_after = [r for r in recs if r.get("event") == "bind" and r["pid"] == after
                     and r.get("ret") == 0]
    summary = recs[-1] if recs else {}
    print(f"       helper killed: tracer CPU {cpu:.2f} s over 3 s; stderr {errors}; "
          f"before {[r.get('holder_lookup') for r in ev_before]}, after "
          f"{[r.get('holder_lookup') for r in ev_after]}; lookups {summary.get('lookups')}")
    res.check("helper killed: said once on stderr", len(errors) == 1, errors)
    res.check("helper killed: the tracer does not spin (CPU < 0.3 s over the next 3 s)",
              alive and cpu < 0.3, f"{cpu:.2f} s, alive {alive}")
    res.check("helper killed: a later EADDRINUSE says unavailable, counted in the summary",
              len(ev_after) == 1 and ev_after[0].get("holder_lookup") == "unavailable"
              and ev_after[0].get("held_by") is None
              and summary.get("lookups", {}).get("unavailable", 0) >= 1  # others may fail too
              and len(ev_before) == 1 and ev_before[0].get("holder_lookup") == "found",
              (ev_before, ev_after, summary.get("lookups")))
    res.check("helper killed: later ordinary binds are still traced", len(ok_bind_after) == 1,
              ok_bind_after)


def test_helper_stopped(res):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "stopped.json")
    h, port = held_port()
    errpath = os.path.join(OUT, "stopped.stderr")
    with open(errpath, "wb") as err:
        tracer, out = start_tracer(path, (), stderr=err)
        helper = helper_of(tracer.pid)
        os.kill(helper, signal.SIGSTOP)
        stopped = fail_and_bind(port)
        time.sleep(2.5)  # past the 2 s deadline
        seen_while_stopped = records(path)
        os.kill(helper, signal.SIGCONT)
        time.sleep(0.3)
        resumed = fail_and_bind(port)
        time.sleep(0.5)
        os.kill(helper, signal.SIGSTOP)  # and SIGINT with the helper stopped,
        pending = fail_and_bind(port)    # a lookup still waiting for it
        time.sleep(0.2)
        t0 = time.monotonic()
        tracer.send_signal(signal.SIGINT)
        try:
            tracer.wait(timeout=10)
        except subprocess.TimeoutExpired:
            tracer.kill()
            tracer.wait()
        took = time.monotonic() - t0
        out.close()
    try:
        os.kill(helper, signal.SIGKILL)
    except ProcessLookupError:
        pass
    h.close()
    recs = records(path)
    ev_stopped = failed_binds(seen_while_stopped, stopped)
    ok_stopped = [r for r in seen_while_stopped if r.get("event") == "bind"
                  and r["pid"] == stopped and r.get("ret") == 0]
    ev_resumed = failed_binds(recs, resumed)
    ev_pending = failed_binds(recs, pending)
    errors = [line for line in open(errpath, errors="replace") if "helper" in line]
    print(f"       helper stopped: {[r.get('holder_lookup') for r in ev_stopped]} while "
          f"stopped, {[r.get('holder_lookup') for r in ev_resumed]} resumed; SIGINT with the "
          f"helper stopped ended v6trace in {took:.2f} s; stderr {errors}")
    res.check("helper stopped past the deadline: the lookup says unfinished, the ordinary "
              "bind is traced meanwhile",
              len(ev_stopped) == 1 and ev_stopped[0].get("holder_lookup") == "unfinished"
              and len(ok_stopped) == 1, (ev_stopped, ok_stopped))
    res.check("helper resumed: lookups are found again",
              len(ev_resumed) == 1 and ev_resumed[0].get("holder_lookup") == "found",
              ev_resumed)
    res.check("helper stopped: said once on stderr; SIGINT with a lookup waiting for it "
              "still ends v6trace within a second, the lookup unfinished, the summary last",
              len(errors) == 1 and took < 1
              and [r.get("holder_lookup") for r in ev_pending] == ["unfinished"]
              and recs and recs[-1].get("event") == "summary",
              (errors, f"{took:.2f} s", ev_pending))


# ---- 5. 200 hostile namespaces ------------------------------------------------

def test_many_namespaces(res):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "namespaces.json")
    h, port = held_port()
    ports = [a for p in list(range(BASE, BASE + 40)) + [port] for a in ("-P", str(p))]
    tracer, out = start_tracer(path, ports)
    t0 = time.monotonic()
    ns = subprocess.Popen([PY, "-c", NAMESPACED, str(BASE), "200", "0", "stay"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          preexec_fn=as_nobody)
    kids = {}
    root = None
    for line in ns.stdout:
        if line.strip() == "ready":
            break
        pid, p, netns = map(int, line.split())
        kids[pid] = (p, netns)
        if len(kids) == 100:  # root's EADDRINUSE in the middle of the storm
            root = fail_and_bind(port)
    made = time.monotonic() - t0
    deadline = time.monotonic() + 30
    answered = []
    while time.monotonic() < deadline:
        answered = [r for r in failed_binds(records(path)) if r["pid"] in kids]
        if len(answered) >= len(kids):
            break
        time.sleep(0.2)
    took = time.monotonic() - t0
    stop_tracer(tracer, out)
    ns.stdin.close()
    ns.wait(timeout=60)
    h.close()
    recs = records(path)
    ev_root = failed_binds(recs, root)
    found = [r for r in failed_binds(recs) if r["pid"] in kids
             and r.get("holder_lookup") == "found" and r["held_by"]["pid"] == r["pid"]
             and r["held_by"]["port"] == r["port"] and r["netns"] == kids[r["pid"]][1]]
    wrong = [r for r in failed_binds(recs) if r["pid"] in kids and r.get("held_by")
             and (r["held_by"]["port"] != r["port"] or r["held_by"]["pid"] != r["pid"])]
    lookups = recs[-1].get("lookups") if recs else None
    print(f"       200 namespaces: made in {made:.1f} s, {len(found)} of {len(kids)} found "
          f"right, {len(wrong)} wrong, all answered {took:.1f} s after the first; root's "
          f"{[(r.get('holder_lookup'), (r.get('held_by') or {}).get('pid')) for r in ev_root]};"
          f" lookups {lookups}")
    res.check("200 hostile namespaces: root's EADDRINUSE at the same time is found, named "
              "right", len(ev_root) == 1 and ev_root[0].get("holder_lookup") == "found"
              and ev_root[0]["held_by"]["pid"] == ME and ev_root[0]["held_by"]["port"] == port,
              ev_root)
    res.check("200 hostile namespaces: at least 190 of the 200 found (their own holder), "
              "none wrong", len(kids) == 200 and len(found) >= 190 and not wrong,
              f"{len(found)} found, {len(wrong)} wrong, lookups {lookups}")


def test_flood_fairness(res):
    """An unprivileged flood of failing binds fills the waiting queue; root's
    EADDRINUSE made in the middle of it are still asked and found."""
    import holders  # its flood: 2000 held ports, nobody cycling failing binds over them
    path = os.path.join(OUT, "flood.json")
    h, port = held_port()
    with tempfile.TemporaryDirectory() as tmp:
        holder, tracer, out, hostile, _ = holders.hostile_flood(tmp, path, 3000000,
                                                                subprocess.DEVNULL)
        time.sleep(1.5)
        roots = [fail_and_bind(port) for _ in range(5)]
        flooding = hostile.poll() is None
        time.sleep(2.5)
        stop_tracer(tracer, out)
        hostile.kill()
        holder.kill()
        hostile.wait()
        holder.wait()
    h.close()
    recs = records(path)
    ev = [r for pid in roots for r in failed_binds(recs, pid)]
    found = [r for r in ev if r.get("holder_lookup") == "found" and r["held_by"]["pid"] == ME
             and r["held_by"]["port"] == port]
    lookups = recs[-1].get("lookups") if recs else None
    print(f"       flood: root's {len(found)} of {len(roots)} found during nobody's flood "
          f"(still flooding: {flooding}); root's answers {[r.get('holder_lookup') for r in ev]}"
          f"; lookups {lookups}")
    res.check("one user's flood of EADDRINUSE does not starve root's lookups: all 5 found",
              flooding and len(ev) == 5 and len(found) == 5, [r.get("holder_lookup") for r in ev])


def main():
    tests = [test_stale_namespaces, test_other_uids, test_ifnames, test_helper_killed,
             test_helper_stopped, test_many_namespaces, test_flood_fairness]
    only = os.environ.get("ONLY")  # e.g. ONLY=test_stale_namespaces
    return check.run_suite("lookup tests", "lookups: ",
                           [t for t in tests if not only or t.__name__ in only.split(",")])


if __name__ == "__main__":
    sys.exit(main())
