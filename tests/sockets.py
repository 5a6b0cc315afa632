#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The sockets that already exist and why binds fail, on the host, as root:
--snapshot held against ss(8) on the same sockets, --with-snapshot, the
held_by of EADDRINUSE in both orders (a dual-stack [::]:P holder makes
0.0.0.0:P fail, and the other way round), and net.ipv6.bindv6only in the start
record and banner of a namespace where it is 1. (Connect and listen events are
checked in tests/scenarios.sh, on the host and in every mode of the matrix.)
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.path.join(ROOT, "v6trace")

# A child that holds sockets until its stdin closes, and says what it holds.
HOLDER = r'''
import json, socket, sys
keep, out = [], {}
def tcp(name, fam, addr, v6only=None, listen=True):
    s = socket.socket(fam, socket.SOCK_STREAM)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, 0))
    if listen:
        s.listen(8)
    keep.append(s); out[name] = s.getsockname()[1]
    return s
def udp(name, fam, addr, v6only=None):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, 0)); keep.append(s); out[name] = s.getsockname()[1]
dual = tcp("tcp6_dual", socket.AF_INET6, "::", 0)
tcp("tcp6_v6only", socket.AF_INET6, "::", 1)
tcp("tcp4_any", socket.AF_INET, "0.0.0.0")
tcp("tcp4_loop", socket.AF_INET, "127.0.0.1")
udp("udp6_dual", socket.AF_INET6, "::", 0)
udp("udp6_v6only", socket.AF_INET6, "::", 1)
udp("udp4_any", socket.AF_INET, "0.0.0.0")
c = socket.socket(socket.AF_INET6); c.connect(("::ffff:127.0.0.1", out["tcp6_dual"]))
a, _ = dual.accept(); keep += [c, a]
out["mapped_client"] = c.getsockname()[1]
n = socket.socket(socket.AF_INET6); n.connect(("::1", out["tcp6_dual"]))
b, _ = dual.accept(); keep += [n, b]
out["v6_client"] = n.getsockname()[1]
print(json.dumps(out), flush=True)
sys.stdin.read()
'''


def start_holder():
    p = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    return p, json.loads(p.stdout.readline())


def ss_rows(args):
    """ss -...e rows: (inode, local, peer, v6only or None, {pids})"""
    out = subprocess.run(["ss", "-H"] + args, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        f = line.split()
        ino = re.search(r"\bino:(\d+)", line)
        if not ino or ino.group(1) == "0":
            continue
        v6 = re.search(r"\bv6only:(\d)", line)
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        local, peer = (f[3], f[4]) if not f[0].isdigit() else (f[3], f[4])
        rows[int(ino.group(1))] = (local, peer, int(v6.group(1)) if v6 else None, pids)
    return rows


def ss_endpoint(addr, port, family):
    """How ss writes a local address: 0.0.0.0:P, [::]:P, *:P for a dual-stack wildcard."""
    return f"[{addr}]:{port}" if family == "inet6" else f"{addr}:{port}"


def test_snapshot(res):
    holder, ports = start_holder()
    try:
        # ss before and after; only what both saw is stable enough to compare
        before = {k: ss_rows(k.split()) for k in ("-ltnpe", "-lunpe", "-tnpe")}
        p = subprocess.run([V6TRACE, "--snapshot", "--json"], capture_output=True, timeout=30)
        after = {k: ss_rows(k.split()) for k in ("-ltnpe", "-lunpe", "-tnpe")}
        text = subprocess.run([V6TRACE, "--snapshot"], capture_output=True, timeout=30)
    finally:
        holder.stdin.close()
        holder.wait()
    recs = [json.loads(l) for l in p.stdout.splitlines()]
    res.check("--snapshot: exit 0, only socket records",
              p.returncode == 0 and recs and all(r["event"] == "socket" for r in recs),
              f"rc {p.returncode}, {p.stderr!r}")
    by_inode = {r["inode"]: r for r in recs}
    for key, state in (("-ltnpe", "listen"), ("-lunpe", "bound"), ("-tnpe", "established")):
        stable = {i: v for i, v in before[key].items() if after[key].get(i) == v}
        if state == "established":  # the snapshot lists the tcp6 ones with mapped peers only
            stable = {i: v for i, v in stable.items() if v[1].startswith("[::ffff:")}
        wrong = []
        for ino, (local, peer, v6only, pids) in stable.items():
            r = by_inode.get(ino)
            if not r or r["state"] != state:
                wrong.append(f"ino {ino} {local}: {'missing' if not r else r['state']}")
                continue
            addr = r.get("addr", r.get("local"))
            port = r.get("port", r.get("local_port"))
            ours = ss_endpoint(addr, port, r["family"])
            # ss writes a dual-stack wildcard as *:P
            if local != ours and not (local == f"*:{port}" and r["stack"] == "dual"):
                wrong.append(f"ino {ino}: ss {local}, v6trace {ours}")
            if v6only is not None and r.get("v6only") != bool(v6only):
                wrong.append(f"ino {ino}: ss v6only:{v6only}, v6trace {r.get('v6only')}")
            if pids and r["pid"] not in pids:
                wrong.append(f"ino {ino}: ss pids {pids}, v6trace {r['pid']}")
            if state == "established":
                if not (r["mapped"] and peer == f"[{r['peer']}]:{r['peer_port']}"):
                    wrong.append(f"ino {ino}: ss peer {peer}, v6trace {r['peer']}")
        extra = [i for i, r in by_inode.items() if r["state"] == state
                 and i in before[key] and i in after[key] and i not in stable]
        res.check(f"--snapshot agrees with ss {key} on {len(stable)} sockets ({state})",
                  stable and not wrong and not extra, "; ".join(wrong[:4]) + f" extra {extra}")
    mine = {(r["state"], r.get("port", r.get("local_port"))): r for r in recs
            if r["pid"] == holder.pid}
    expect = {"tcp6_dual": ("listen", "dual", False), "tcp6_v6only": ("listen", "v6", True),
              "tcp4_any": ("listen", "v4", None), "udp6_dual": ("bound", "dual", False),
              "udp6_v6only": ("bound", "v6", True), "udp4_any": ("bound", "v4", None),
              "mapped_client": ("established", "v4", None)}
    wrong = []
    for name, (state, stack, v6only) in expect.items():
        r = mine.get((state, ports[name]))
        if not r or (r["state"], r["stack"], r.get("v6only")) != (state, stack, v6only) \
                or r["comm"] != "python3":
            wrong.append(f"{name}: {r}")
    res.check("--snapshot: the holder's sockets with owner, state, stack and v6only; the "
              "::1 connection (not mapped) left out",
              not wrong and ("established", ports["v6_client"]) not in mine, "; ".join(wrong))
    lines = text.stdout.decode().splitlines()
    row = [l for l in lines if l.startswith(f"{holder.pid} ") and f"[::]:{ports['tcp6_dual']} " in l]
    res.check("--snapshot text: the dual-stack listener's row",
              lines[0].startswith("PID") and len(row) == 1
              and row[0].split()[2:] == ["socket", "tcp6", f"[::]:{ports['tcp6_dual']}", "-",
                                         "dual", "listen"], row)


def test_with_snapshot(res):
    holder, ports = start_holder()
    try:
        proc = subprocess.Popen([V6TRACE, "--json", "--with-snapshot"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        first = json.loads(proc.stdout.readline())
        recs = [first]
        while True:
            r = json.loads(proc.stdout.readline())
            recs.append(r)
            if r["event"] == "socket" and r.get("port") == ports["udp4_any"]:
                break
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        while True:
            r = json.loads(proc.stdout.readline())
            if r["event"] == "bind" and r["pid"] == os.getpid():
                break
        s.close()
        proc.terminate()
        proc.communicate(timeout=30)
    finally:
        holder.stdin.close()
        holder.wait()
    res.check("--with-snapshot: start record, the sockets, then live events",
              first["event"] == "start" and all(x["event"] == "socket" for x in recs[1:])
              and r["port"] == port and proc.returncode == 0, recs[:2])


def eaddrinuse(res, holder_fam, holder_addr, loser_fam, loser_addr, stack):
    hold = subprocess.Popen([sys.executable, "-c", f"""
import socket, sys
s = socket.socket({holder_fam})
if {holder_fam} == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("{holder_addr}", 0)); s.listen(1)
print(s.getsockname()[1], flush=True); sys.stdin.read()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    port = int(hold.stdout.readline())
    loser = (f"import socket\ns = socket.socket({loser_fam})\n"
             f"if {loser_fam} == socket.AF_INET6:\n"
             f"    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n"
             f"try:\n    s.bind(('{loser_addr}', {port}))\nexcept OSError as e:\n"
             f"    print(e.errno)\n")
    try:
        pj = subprocess.run([V6TRACE, "--json", "--", sys.executable, "-c", loser],
                            capture_output=True, timeout=60)
        pt = subprocess.run([V6TRACE, "--", sys.executable, "-c", loser], capture_output=True,
                            timeout=60)
    finally:
        hold.stdin.close()
        hold.wait()
    recs = [json.loads(l) for l in pj.stdout.splitlines() if l.startswith(b"{\"v\"")]
    fails = [r for r in recs if r["event"] == "bind" and r["ret"] == -98]
    want = {"pid": hold.pid, "comm": "python3", "addr": holder_addr, "port": port, "stack": stack}
    label = f"EADDRINUSE: [{loser_addr}]:P fails against a {stack} holder {holder_addr}"
    res.check(f"{label}: held_by names the holder's pid, comm, address and stack",
              b"98" in pj.stdout and len(fails) == 1 and fails[0]["held_by"] == want,
              f"{fails}, wanted {want}")
    shown = "[::]" if holder_addr == "::" else holder_addr
    line = [l for l in pt.stdout.decode().splitlines() if "EADDRINUSE" in l]
    res.check(f"{label}: text appends 'held by'",
              len(line) == 1 and line[0].endswith(f"held by {hold.pid} python3 {shown}:{port} "
                                                  f"{stack}"), line)


def test_eaddrinuse(res):
    eaddrinuse(res, "socket.AF_INET6", "::", "socket.AF_INET", "0.0.0.0", "dual")
    eaddrinuse(res, "socket.AF_INET", "0.0.0.0", "socket.AF_INET6", "::", "v4")


def test_bindv6only_banner(res):
    script = (f"echo 1 > /proc/sys/net/ipv6/bindv6only && exec {V6TRACE} --json "
              f"-- true")
    p = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, timeout=60)
    start = json.loads(p.stdout.splitlines()[0]) if p.stdout else {}
    res.check("net.ipv6.bindv6only=1 in the tracer's namespace: start record and banner say so",
              start.get("bindv6only") == 1 and b"net.ipv6.bindv6only=1" in p.stderr,
              f"{start}, {p.stderr!r}")
    own = int(open("/proc/sys/net/ipv6/bindv6only").read())
    p = subprocess.run([V6TRACE, "--json", "--", "true"], capture_output=True, timeout=60)
    start = json.loads(p.stdout.splitlines()[0])
    res.check(f"the host's own net.ipv6.bindv6only ({own}) in the start record",
              start["bindv6only"] == own, start)


class Veth:
    """A veth pair: end a in the host's namespace with fe80::1, end b in a new
    namespace (/run/netns/NAME) with fe80::2, both without duplicate address
    detection, so they can be bound at once."""

    def __init__(self):
        tag = os.getpid() % 100000
        self.ns, self.a, self.b = f"v6t-scope-{tag}", f"v6t{tag}a", f"v6t{tag}b"
        for cmd in (["ip", "netns", "add", self.ns],
                    ["ip", "link", "add", self.a, "type", "veth", "peer", "name", self.b,
                     "netns", self.ns],
                    ["ip", "addr", "add", "fe80::1/64", "dev", self.a, "nodad"],
                    ["ip", "link", "set", self.a, "up"],
                    ["ip", "-n", self.ns, "addr", "add", "fe80::2/64", "dev", self.b, "nodad"],
                    ["ip", "-n", self.ns, "link", "set", self.b, "up"],
                    ["ip", "-n", self.ns, "link", "set", "lo", "up"]):
            subprocess.run(cmd, check=True)
        self.a_index = socket.if_nametoindex(self.a)
        self.b_index = int(subprocess.run(
            ["ip", "netns", "exec", self.ns, "cat", f"/sys/class/net/{self.b}/ifindex"],
            capture_output=True, text=True, check=True).stdout)

    def close(self):
        subprocess.run(["ip", "link", "del", self.a], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)


def start_tracer(args):
    """v6trace ARGS, once it traces (its first line is out)."""
    p = subprocess.Popen([V6TRACE] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    return p, first


def stop_tracer(p, first):
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=30)
    return (first + out).decode()


# in the veth's namespace: a tcp6 connect to fe80::1 over the veth, and a UDP
# socket bound to fe80::2; held until stdin closes
SCOPED_CLIENT = r'''
import json, socket, sys
i = socket.if_nametoindex(sys.argv[1])
c = socket.socket(socket.AF_INET6)
c.connect(("fe80::1", int(sys.argv[2]), 0, i))
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.bind(("fe80::2", 0, 0, i))
print(json.dumps({"pid": __import__("os").getpid(), "local_port": c.getsockname()[1],
                  "udp_port": u.getsockname()[1]}), flush=True)
sys.stdin.read()
'''


def test_scoped(res):
    """Link-local sockets on a veth pair: socat listening on [fe80::1%A]:P in the
    host's namespace, a client connecting to it from the other end's namespace
    and a UDP socket bound there: every event, and the snapshot, name the
    interface (through the helper for the other namespace), as ss does."""
    veth = Veth()
    procs = []
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("fe80::1", 0, 0, veth.a_index))
            port = probe.getsockname()[1]
        tj = start_tracer(["--json", "--all-connects"])
        tt = start_tracer(["--all-connects"])
        socat = subprocess.Popen(["socat", f"TCP6-LISTEN:{port},bind=[fe80::1%{veth.a}]", "-"],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        procs.append(socat)
        end = time.monotonic() + 10
        while f"%{veth.a}:{port} " not in subprocess.run(["ss", "-Hltn"], capture_output=True,
                                                         text=True).stdout:
            if time.monotonic() > end:
                raise RuntimeError("socat does not listen")
            time.sleep(0.05)
        snap_j = subprocess.run([V6TRACE, "--snapshot", "--json"], capture_output=True,
                                timeout=30)
        snap_t = subprocess.run([V6TRACE, "--snapshot"], capture_output=True, timeout=30)
        ss = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                            text=True).stdout.split()
        loser = subprocess.run([sys.executable, "-c", f"""
import socket
s = socket.socket(socket.AF_INET6)
try:
    s.bind(("fe80::1", {port}, 0, {veth.a_index}))
except OSError as e:
    print(e.errno)"""], capture_output=True, text=True)
        client = subprocess.Popen(["ip", "netns", "exec", veth.ns, sys.executable, "-c",
                                   SCOPED_CLIENT, veth.b, str(port)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        procs.append(client)
        facts = json.loads(client.stdout.readline())
        snap_ns = subprocess.run([V6TRACE, "--snapshot", "--json", "--netns",
                                  f"/run/netns/{veth.ns}", "-P", str(facts["udp_port"])],
                                 capture_output=True, timeout=30)
        time.sleep(0.5)  # the tracers read the events while both processes still exist
        out_j, out_t = stop_tracer(*tj), stop_tracer(*tt)
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=30)
        veth.close()
    recs = [json.loads(l) for l in out_j.splitlines()]
    invalid = [e for r in recs for e in check.schema_errors(r)]
    a_scope = {"ifindex": veth.a_index, "scope": veth.a}
    b_scope = {"ifindex": veth.b_index, "scope": veth.b}

    def scope_of(r):
        return {k: r.get(k) for k in ("ifindex", "scope")}

    mine = [(r["event"], r.get("ret", 0)) for r in recs if r.get("pid") == socat.pid]
    socat_ok = [r for r in recs if r.get("pid") == socat.pid
                and r.get("addr", r.get("local")) == "fe80::1" and scope_of(r) == a_scope]
    res.check(f"scoped: socat's bind, listen and accept on [fe80::1%{veth.a}]:P carry "
              f"ifindex {veth.a_index} and scope {veth.a}; every record valid",
              sorted(mine) == [("accept", 0), ("bind", 0), ("listen", 0)]
              and len(socat_ok) == 3 and not invalid,
              f"{[r for r in recs if r.get('pid') == socat.pid]}, {invalid[:3]}")
    failed = [r for r in recs if r["event"] == "bind" and r.get("ret") == -98
              and r.get("port") == port]
    res.check("scoped: a failed bind reports the sin6_scope_id it asked for",
              loser.stdout.strip() == "98" and len(failed) == 1
              and scope_of(failed[0]) == a_scope, f"{loser.stdout!r}, {failed}")
    other = {r["event"]: r for r in recs if r.get("pid") == facts["pid"]}
    res.check(f"scoped, another namespace: the connect and the UDP bind name {veth.b} there "
              f"(ifindex {veth.b_index})",
              set(other) == {"connect", "bind"} and scope_of(other["connect"]) == b_scope
              and other["connect"]["local"] == "fe80::2" and scope_of(other["bind"]) == b_scope,
              other)
    lines = out_t.splitlines()
    want = {f"{socat.pid} socat bind tcp6 [fe80::1%{veth.a}]:{port}",
            f"{socat.pid} socat listen tcp6 [fe80::1%{veth.a}]:{port}",
            f"{socat.pid} socat accept tcp6 [fe80::1%{veth.a}]:{port}",
            f"{facts['pid']} python3 connect tcp6 [fe80::2%{veth.b}]:{facts['local_port']}",
            f"{facts['pid']} python3 bind udp6 [fe80::2%{veth.b}]:{facts['udp_port']}"}
    got = {" ".join(l.split()[:5]) for l in lines}
    res.check("scoped, text: [fe80::1%IF]:P in both namespaces", want <= got,
              f"missing {want - got}")
    snap = [r for r in map(json.loads, snap_j.stdout.splitlines()) if r.get("port") == port]
    res.check(f"scoped --snapshot: the listener with ifindex and scope, as ss "
              f"[fe80::1]%{veth.a}:{port}",
              len(snap) == 1 and snap[0]["pid"] == socat.pid and scope_of(snap[0]) == a_scope
              and not check.schema_errors(snap[0]) and ss[3] == f"[fe80::1]%{veth.a}:{port}",
              f"{snap}, ss {ss}")
    rows = [l.split() for l in snap_t.stdout.decode().splitlines()[1:] if f"]:{port} " in l]
    res.check("scoped --snapshot text: [fe80::1%IF]:P",
              len(rows) == 1 and rows[0][4] == f"[fe80::1%{veth.a}]:{port}", rows)
    snap = [json.loads(l) for l in snap_ns.stdout.splitlines()]
    res.check(f"scoped --snapshot --netns: the UDP socket there, named {veth.b} in its namespace",
              len(snap) == 1 and snap[0]["pid"] == facts["pid"] and scope_of(snap[0]) == b_scope,
              f"{snap}, {snap_ns.stderr!r}")


def main():
    tests = (
        test_snapshot, test_with_snapshot, test_eaddrinuse, test_bindv6only_banner, test_scoped)
    return check.run_suite("socket tests", "host sockets: ", tests)


if __name__ == "__main__":
    sys.exit(main())
