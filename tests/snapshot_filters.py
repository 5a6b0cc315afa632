#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""--snapshot and --with-snapshot honour every filter, as root on the host:
-P (local or peer port), -4, -6, --stack, --mapped, --all-connects (native
tcp6 connections too), -p (with and without --children), --comm, -u (the
owner's real uid), -c (the owner's cgroup), --netns (that namespace's
sockets, by /run/netns/NAME and by inode). Each filter runs against holders
with sockets it must keep and sockets it must drop; what it must keep is
worked out from ss(8)'s listing of the same sockets, and every record it
prints, of any process, must pass the filter. Options that cannot apply to a
snapshot are refused.
"""
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.path.join(ROOT, "v6trace")
PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
NOBODY = 65534

# Holds, until its stdin closes: tcp listeners on 0.0.0.0, dual [::] and
# v6-only [::], a bound UDP socket, a mapped connection (both ends) and a
# native ::1 one; with an argument, names itself so; "fork" also forks a child
# holding a listener of its own. Prints its pid (and the child's).
HOLDER = r'''
import json, os, socket, sys
keep = []
def tcp(fam, addr, v6only=None):
    s = socket.socket(fam, socket.SOCK_STREAM)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, 0)); s.listen(8); keep.append(s)
    return s
if len(sys.argv) > 1 and sys.argv[1] != "-":
    open("/proc/self/comm", "w").write(sys.argv[1])
tcp(socket.AF_INET, "0.0.0.0")
dual = tcp(socket.AF_INET6, "::", 0)
tcp(socket.AF_INET6, "::", 1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); keep.append(u)
for peer in ("::ffff:127.0.0.1", "::1"):
    c = socket.socket(socket.AF_INET6); c.connect((peer, dual.getsockname()[1]))
    keep += [c, dual.accept()[0]]
out = {"pid": os.getpid()}
if sys.argv[2:] == ["fork"]:
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        tcp(socket.AF_INET, "127.0.0.1"); os.write(w, b"x"); sys.stdin.read(); os._exit(0)
    os.read(r, 1)
    out["child"] = child
print(json.dumps(out), flush=True)
sys.stdin.read()
'''


class Holder:
    def __init__(self, comm="-", fork=False, prefix=()):
        self.proc = subprocess.Popen(list(prefix) + [PY, "-c", HOLDER, comm]
                                     + (["fork"] if fork else []),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        info = json.loads(self.proc.stdout.readline())
        self.pid, self.child = info["pid"], info.get("child")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def ss_sockets(netns=None):
    """What ss lists of listening and established TCP and bound UDP sockets:
    {inode: {"pids", "proto", "state", "local", "peer", "v6only"}}."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    rows = {}
    for proto, args in (("tcp", "-Htanpe"), ("udp", "-Huanpe")):
        out = subprocess.run(prefix + ["ss", args], capture_output=True, text=True).stdout
        for line in out.splitlines():
            f = line.split()
            ino = re.search(r"\bino:(\d+)", line)
            if not ino or ino.group(1) == "0" or f[0] not in ("LISTEN", "ESTAB", "UNCONN"):
                continue
            v6 = re.search(r"\bv6only:(\d)", line)
            rows[int(ino.group(1))] = {
                "pids": {int(p) for p in re.findall(r"pid=(\d+)", line)}, "proto": proto,
                "state": f[0], "local": f[3], "peer": f[4],
                "v6only": int(v6.group(1)) if v6 else None}
    return rows


def split_endpoint(ep):
    """ss's 0.0.0.0:80, [::1]:80, *:80 -> (addr, port)."""
    addr, _, port = ep.rpartition(":")
    return addr.strip("[]"), int(port) if port.isdigit() else 0


def ss_facts(row):
    """What a filter looks at, from ss's row: family, ports, stack, mapped."""
    laddr, lport = split_endpoint(row["local"])
    paddr, pport = split_endpoint(row["peer"])
    family = "inet6" if ":" in laddr or laddr == "*" else "inet"
    established = row["state"] == "ESTAB"
    mapped = established and family == "inet6" and paddr.startswith("::ffff:")
    if family == "inet" or mapped or (not established and laddr.startswith("::ffff:")):
        stack = "v4"
    elif laddr == "*" and not established:
        stack = "dual"  # ss writes a dual-stack wildcard as *:P
    else:
        stack = "v6"
    return {"family": family, "lport": lport, "pport": pport if established else 0,
            "stack": stack, "mapped": mapped, "established": established}


def listed_by_default(facts):
    """The snapshot lists listening, bound and mapped established sockets."""
    return not facts["established"] or facts["mapped"]


def snapshot(args):
    p = subprocess.run([V6TRACE, "--snapshot", "--json"] + args, capture_output=True,
                       timeout=60)
    recs = [json.loads(l) for l in p.stdout.splitlines()]
    return p, recs


def rec_facts(r):
    est = r["state"] == "established"
    return {"family": r["family"], "lport": r.get("port", r.get("local_port")),
            "pport": r.get("peer_port", 0), "stack": r["stack"], "mapped": r.get("mapped", False),
            "established": est}


def judge(res, label, args, ours, keep_pid, keep_sock, rec_ok, netns=None):
    """Runs the snapshot with args; among the sockets of the pids in `ours`
    (from ss, of the namespace netns), exactly those keep_pid(pid) and
    keep_sock(ss facts) select must be listed, at least one must be left out
    (in another namespace, for --netns), and every record must pass rec_ok."""
    rows = ss_sockets(netns)
    p, recs = snapshot(args)
    by_inode = {r["inode"]: r for r in recs}
    expect, present = set(), set()
    for ino, row in rows.items():
        pids = row["pids"] & ours
        if not pids:
            continue
        facts = ss_facts(row)
        if not listed_by_default(facts) and "--all-connects" not in args:
            continue
        present.add(ino)
        if any(keep_pid(pid) for pid in pids) and keep_sock(facts):
            expect.add(ino)
    got = {i for i in by_inode if i in present}
    stray = {i for i in by_inode if i not in present and i in rows
             and rows[i]["pids"] & ours}
    bad = [r for r in recs if not rec_ok(r)]
    invalid = [e for r in recs for e in check.schema_errors(r)]
    res.check(f"--snapshot {' '.join(args)}: keeps {len(expect)} of our {len(present)} sockets "
              f"as ss says, and nothing the filter drops",
              p.returncode == 0 and expect and (netns or present - expect) and got == expect
              and not stray and not bad and not invalid,
              f"rc {p.returncode} {p.stderr!r}, missing {expect - got}, extra {got - expect}, "
              f"stray {stray}, bad {bad[:2]}, invalid {invalid[:2]}")
    return recs


def real_uid(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        return None


def cgroup_of(pid):
    try:
        for line in open(f"/proc/{pid}/cgroup"):
            if line.startswith("0::"):
                return line[3:].strip()
    except OSError:
        return None


def test_socket_filters(res):
    a = Holder()
    try:
        ours = {a.pid}
        rows = ss_sockets()
        ports = sorted({ss_facts(r)["lport"] for r in rows.values()
                        if a.pid in r["pids"] and r["state"] == "LISTEN"})
        dual = [ss_facts(r)["lport"] for r in rows.values()
                if a.pid in r["pids"] and r["local"].startswith("*:")][0]
        everyone = (lambda pid: True)
        judge(res, "-P", ["-P", str(dual)], ours, everyone,
              lambda f: dual in (f["lport"], f["pport"]),
              lambda r: dual in (rec_facts(r)["lport"], rec_facts(r)["pport"]))
        judge(res, "-P two", ["-P", f"{ports[0]},{ports[-1]}"], ours, everyone,
              lambda f: {f["lport"], f["pport"]} & {ports[0], ports[-1]},
              lambda r: {rec_facts(r)["lport"], rec_facts(r)["pport"]} & {ports[0], ports[-1]})
        for fam, opt in (("inet", "-4"), ("inet6", "-6")):
            judge(res, opt, [opt], ours, everyone, lambda f, fam=fam: f["family"] == fam,
                  lambda r, fam=fam: r["family"] == fam)
        for stacks in ("dual", "v4", "v6,dual"):
            want = set(stacks.split(","))
            judge(res, "--stack", ["--stack", stacks], ours, everyone,
                  lambda f, want=want: f["stack"] in want, lambda r, want=want: r["stack"] in want)
        judge(res, "--mapped", ["--mapped"], ours, everyone, lambda f: f["mapped"],
              lambda r: r.get("mapped") is True)
        recs = judge(res, "--all-connects", ["--all-connects", "-6", "--stack", "v6"], ours,
                     everyone, lambda f: f["family"] == "inet6" and f["stack"] == "v6",
                     lambda r: r["family"] == "inet6" and r["stack"] == "v6")
        res.check("--snapshot --all-connects: the native ::1 connection (both ends) is listed",
                  len([r for r in recs if r.get("pid") == a.pid and r["state"] == "established"
                       and r["peer"] == "::1"]) == 2, [r for r in recs if r.get("pid") == a.pid])
    finally:
        a.close()


def test_owner_filters(res):
    mount = check.cgroup2_mount()
    top = os.path.join(mount, f"v6trace-snap.{os.getpid()}") if mount else None
    if top:
        os.makedirs(top, exist_ok=True)
    setpriv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    a = Holder(fork=True)
    b = Holder(comm="v6t-snapkeep", prefix=setpriv)
    try:
        if top:
            with open(os.path.join(top, "cgroup.procs"), "w") as f:
                f.write(str(b.pid))
        ours = {a.pid, a.child, b.pid}
        sock = (lambda f: True)
        judge(res, "-p", ["-p", str(a.pid)], ours, lambda pid: pid == a.pid, sock,
              lambda r: r["pid"] == a.pid)
        judge(res, "-p --children", ["-p", str(a.pid), "--children"], ours,
              lambda pid: pid in (a.pid, a.child), sock, lambda r: r["pid"] in (a.pid, a.child))
        judge(res, "--comm", ["--comm", "v6t-snapkeep"], ours, lambda pid: pid == b.pid, sock,
              lambda r: r["comm"] == "v6t-snapkeep")
        nobody = pwd.getpwuid(NOBODY).pw_name
        for arg in (str(NOBODY), nobody):
            judge(res, "-u", ["-u", arg], ours, lambda pid: pid == b.pid, sock,
                  lambda r: r["pid"] and real_uid(r["pid"]) == NOBODY)
        if top:
            rel = top[len(mount):]
            judge(res, "-c", ["-c", top], ours, lambda pid: pid == b.pid, sock,
                  lambda r: r["pid"] and cgroup_of(r["pid"]) == rel)
        else:
            res.check("cgroup v2 is mounted", False, "no cgroup2 in /proc/self/mounts")
        judge(res, "-p -6 --stack v6", ["-p", str(a.pid), "-6", "--stack", "v6"], ours,
              lambda pid: pid == a.pid, lambda f: f["family"] == "inet6" and f["stack"] == "v6",
              lambda r: r["pid"] == a.pid and r["stack"] == "v6")
        # --with-snapshot: the same filters, then tracing
        tr = subprocess.Popen([V6TRACE, "--json", "--with-snapshot", "--comm", "v6t-snapkeep"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)
        tr.send_signal(signal.SIGINT)
        out, err = tr.communicate(timeout=30)
        socks = [r for r in map(json.loads, out.splitlines()) if r["event"] == "socket"]
        res.check("--with-snapshot --comm: only that process's sockets before tracing",
                  tr.returncode == 0 and socks and all(r["pid"] == b.pid for r in socks)
                  and len(socks) == 6, f"rc {tr.returncode}, {socks}, {err!r}")
    finally:
        a.close()
        b.close()
        if top:
            try:  # a cgroup can stay busy a moment after its last task exited
                os.rmdir(top)
            except OSError:
                pass


def test_netns(res):
    name = f"v6trace-snap-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    outside = Holder()
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        inside = Holder(prefix=["ip", "netns", "exec", name])
        try:
            inode = os.stat(f"/run/netns/{name}").st_ino
            ours = {inside.pid, outside.pid}
            for arg in (f"/run/netns/{name}", str(inode)):
                recs = judge(res, "--netns", ["--netns", arg], ours,
                             lambda pid: pid == inside.pid, lambda f: True,
                             lambda r: r["netns"] == inode, netns=name)
                res.check(f"--snapshot --netns {arg}: the namespace's sockets, owner named",
                          recs and all(r["pid"] == inside.pid for r in recs), recs[:2])
            p, recs = snapshot(["--netns", f"/run/netns/{name}", "-4"])
            res.check("--snapshot --netns with -4: its IPv4 listener and UDP socket only",
                      p.returncode == 0 and sorted(r["proto"] for r in recs) == ["tcp", "udp"],
                      recs)
            p, recs = snapshot([])
            res.check("--snapshot without --netns: nothing of the other namespace",
                      p.returncode == 0 and not [r for r in recs if r["pid"] == inside.pid],
                      [r for r in recs if r["pid"] == inside.pid][:2])
        finally:
            inside.close()
    finally:
        outside.close()
        subprocess.run(["ip", "netns", "del", name])
    # a namespace nothing holds any more cannot be listed: said, exit 1
    p = subprocess.run(["unshare", "-n", "sh", "-c", "stat -L -c %i /proc/self/ns/net"],
                       capture_output=True, text=True)
    gone = p.stdout.strip()
    p = subprocess.run([V6TRACE, "--snapshot", "--netns", gone], capture_output=True, text=True,
                       timeout=30)
    res.check("--snapshot --netns INODE of a namespace that is gone: exit 1, one line",
              p.returncode == 1 and len(p.stderr.splitlines()) == 1
              and "network namespace" in p.stderr and not p.stdout.strip(),
              f"rc {p.returncode}, {p.stderr!r}, {p.stdout[:200]!r}")


def test_refused(res):
    for args, what in ((["--snapshot", "-m", "tracepoint"], "-m does not apply"),
                       (["--snapshot", "--ringbuf-kb", "8"], "--ringbuf-kb does not apply"),
                       (["--snapshot", "--", "true"], "--snapshot prints and exits")):
        p = subprocess.run([V6TRACE] + args, capture_output=True, text=True, timeout=30)
        lines = p.stderr.splitlines()
        res.check(f"{' '.join(args)}: refused, exit 2, one line",
                  p.returncode == 2 and len(lines) == 1 and what in lines[0] and not p.stdout,
                  f"rc {p.returncode}, {lines}")


def test_with_snapshot_command(res):
    """-- COMMAND filters the snapshot as it does events: its tree, which holds
    no socket before it starts, while another process's listener is left out."""
    other = Holder()
    try:
        p = subprocess.run([V6TRACE, "--json", "--with-snapshot", "--", PY, "-c",
                            "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0))"],
                           capture_output=True, timeout=60)
    finally:
        other.close()
    recs = [json.loads(l) for l in p.stdout.splitlines()]
    res.check("--with-snapshot -- COMMAND: no socket record (COMMAND has none yet), then its bind",
              p.returncode == 0 and not [r for r in recs if r["event"] == "socket"]
              and [r["event"] for r in recs if r["event"] == "bind"] == ["bind"],
              f"rc {p.returncode}, {[r['event'] for r in recs]}, {p.stderr!r}")


def main():
    tests = (test_socket_filters, test_owner_filters, test_netns, test_refused,
             test_with_snapshot_command)
    return check.run_suite("snapshot filter tests", "snapshot filters: ", tests)


if __name__ == "__main__":
    sys.exit(main())
