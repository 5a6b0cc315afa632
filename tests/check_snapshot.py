#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Judges what tests/snapshot.sh recorded in a qemu guest: `v6trace --snapshot`
against the kernel's /proc/net/{tcp,tcp6,udp,udp6} (inode, address, port,
state) and against what tests/holder.c says it holds (owner, v6only as it set
it and as the kernel reports it), in the guest's namespace and in one where
net.ipv6.bindv6only=1; and the held_by of an EADDRINUSE with a live holder,
in both orders and for UDP, in every attach mode. Called by tools/vm-run.

    check_snapshot.py OUTDIR MODES [MODULES_DIR]    prints one line per check and
                                                    "N passed, N failed"
"""
import ipaddress
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

# /proc/net states (include/net/tcp_states.h)
TCP_ESTABLISHED, TCP_CLOSE, TCP_LISTEN = 0x01, 0x07, 0x0A
HOLDER_COMM = "holder"
# expected stack of each held_by case: (holder proto, family, addr), loser's (family, addr)
HELDBY_CASES = {
    "tcp_dual_v4": {"proto": "tcp", "holder": ("inet6", "::", "dual"),
                    "loser": ("inet", "0.0.0.0", "v4")},
    "tcp_v4_dual": {"proto": "tcp", "holder": ("inet", "0.0.0.0", "v4"),
                    "loser": ("inet6", "::", "dual")},
    "udp_dual_v4": {"proto": "udp", "holder": ("inet6", "::", "dual"),
                    "loser": ("inet", "0.0.0.0", "v4")},
}


def read(path):
    with open(path) as f:
        return f.read()


def jsonl(path):
    """The JSON objects of a file's lines that are JSON objects."""
    out = []
    for line in read(path).splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def addr(text):
    """A canonical form of an address, whichever way it was written."""
    return str(ipaddress.ip_address(text))


def proc_addr(hexaddr):
    """/proc/net's address: the 4-byte words of the address, each in host (little
    endian) order."""
    raw = bytes.fromhex(hexaddr)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(raw))


def proc_net(d):
    """{inode: (proto, family, state, local, lport, remote, rport)} from a copy of
    /proc/net/{tcp,tcp6,udp,udp6}; sockets without an inode (TIME_WAIT) left out."""
    rows = {}
    for name, proto, family in (("tcp", "tcp", "inet"), ("tcp6", "tcp", "inet6"),
                                ("udp", "udp", "inet"), ("udp6", "udp", "inet6")):
        for line in read(os.path.join(d, name)).splitlines()[1:]:
            f = line.split()
            if len(f) < 10 or f[9] == "0":
                continue
            (la, lp), (ra, rp) = f[1].split(":"), f[2].split(":")
            rows[int(f[9])] = (proto, family, int(f[3], 16), proc_addr(la), int(lp, 16),
                               proc_addr(ra), int(rp, 16))
    return rows


def expected_state(row):
    """What --snapshot must call a /proc/net row, or None if it must leave it out:
    listening TCP, bound UDP, and tcp6 connections whose peer is IPv4-mapped."""
    proto, family, st, local, lport, remote, _ = row
    if proto == "tcp" and st == TCP_LISTEN:
        return "listen"
    if proto == "udp" and st == TCP_CLOSE and lport:
        return "bound"
    if proto == "tcp" and st == TCP_ESTABLISHED and family == "inet6" and \
            ipaddress.ip_address(remote).ipv4_mapped:
        return "established"
    return None


def record_endpoint(r):
    if r["state"] == "established":
        return addr(r["local"]), r["local_port"]
    return addr(r["addr"]), r["port"]


def stack_of(family, local, v6only, peer=None):
    """tests the same rule as user/classify.c from the holder's own facts"""
    if family == "inet":
        return "v4"
    if peer is not None:
        return "v4" if ipaddress.ip_address(peer).ipv4_mapped else "v6"
    a = ipaddress.ip_address(local)
    if a.ipv4_mapped:
        return "v4"
    return "dual" if a.is_unspecified and not v6only else "v6"


def check_namespace(res, d, label, want_bindv6only):
    """--snapshot in one network namespace"""
    bindv6only = int(read(os.path.join(d, "bindv6only")).strip())
    res.check(f"{label}: the namespace's net.ipv6.bindv6only is {want_bindv6only}",
              bindv6only == want_bindv6only, bindv6only)
    rc = read(os.path.join(d, "snap.rc")).strip()
    lines = read(os.path.join(d, "snap.json")).splitlines()
    recs, bad = [], []
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:
            bad.append(f"not JSON: {line[:80]!r}")
            continue
        recs.append(r)
        if r.get("event") != "socket":
            bad.append(f"event {r.get('event')!r}")
        bad += check.schema_errors(r)
    res.check(f"{label}: --snapshot --json exits 0 with socket records only, valid against "
              f"the schema ({len(recs)} records)",
              rc == "0" and recs and not bad,
              f"rc {rc}, {bad[:3]}, stderr {read(os.path.join(d, 'snap.err'))[-300:]!r}")
    by_inode = {}
    for r in recs:
        if r.get("inode") in by_inode:
            bad.append(f"inode {r['inode']} twice")
        by_inode[r.get("inode")] = r

    # the kernel's own tables, where they did not change during the snapshot
    before, after = proc_net(os.path.join(d, "proc.before")), proc_net(os.path.join(d, "proc.after"))
    stable = {i: row for i, row in before.items() if after.get(i) == row}
    for state in ("listen", "bound", "established"):
        rows = {i: row for i, row in stable.items() if expected_state(row) == state}
        wrong = []
        for ino, (proto, family, _, local, lport, remote, rport) in rows.items():
            r = by_inode.get(ino)
            if not r or r["state"] != state:
                wrong.append(f"ino {ino} {proto} {local}:{lport}: "
                             f"{'missing' if not r else r['state']}")
                continue
            if (r["proto"], r["family"]) != (proto, family) or \
                    record_endpoint(r) != (local, lport):
                wrong.append(f"ino {ino}: /proc/net {proto} {family} {local}:{lport}, v6trace "
                             f"{r['proto']} {r['family']} {record_endpoint(r)}")
            if state == "established" and (addr(r["peer"]), r["peer_port"]) != (remote, rport):
                wrong.append(f"ino {ino}: /proc/net peer {remote}:{rport}, v6trace "
                             f"{r['peer']}:{r['peer_port']}")
        # a record of this state for a socket the kernel listed otherwise, or not at all
        unstable = (set(before) | set(after)) - set(stable)
        extra = [f"ino {i} {r.get('proto')} {record_endpoint(r)}" for i, r in by_inode.items()
                 if r.get("state") == state and i not in rows and i not in unstable]
        res.check(f"{label}: --snapshot agrees with /proc/net on {len(rows)} sockets ({state})",
                  rows and not wrong and not extra,
                  "; ".join(wrong[:4]) + (f"; not in /proc/net as {state}: {extra}"
                                          if extra else ""))

    # what the holder program says it holds
    held = [h for h in jsonl(os.path.join(d, "hold.jsonl")) if "name" in h]
    wrong, v6wrong = [], []
    for h in held:
        r = by_inode.get(h["inode"])
        peer = h.get("peer")
        leave_out = h["state"] == "established" and not ipaddress.ip_address(peer).ipv4_mapped
        if leave_out:
            if r:
                wrong.append(f"{h['name']} (::1 peer, not mapped) listed")
            continue
        if not r:
            wrong.append(f"{h['name']} (inode {h['inode']}) missing")
            continue
        v6only = bool(h.get("v6only"))
        want = {"pid": h["pid"], "comm": HOLDER_COMM, "state": h["state"], "proto": h["proto"],
                "family": h["family"],
                "stack": stack_of(h["family"], h["local"], v6only, peer)}
        got = {k: r.get(k) for k in want}
        if got != want or record_endpoint(r) != (addr(h["local"]), h["local_port"]):
            wrong.append(f"{h['name']}: wanted {want} {h['local']}:{h['local_port']}, got {got} "
                         f"{record_endpoint(r)}")
        if h["family"] == "inet6" and h["state"] != "established":
            # as set; left unset: the namespace default for ::, always 1 for a
            # specific IPv6 address (inet6_bind sets it)
            if h["v6only_set"] is not None:
                meant = bool(h["v6only_set"])
            elif ipaddress.ip_address(h["local"]).is_unspecified:
                meant = bool(bindv6only)
            else:
                meant = True
            if r.get("v6only") is not meant or v6only is not meant:
                v6wrong.append(f"{h['name']}: set {h['v6only_set']}, meant {meant}, kernel "
                               f"{v6only}, v6trace {r.get('v6only')}")
        elif "v6only" in r:
            v6wrong.append(f"{h['name']}: v6only on a {h['family']} {h['state']} record")
    res.check(f"{label}: --snapshot lists the holder's {len(held)} sockets with owner, state, "
              "address, port and stack; its ::1 connection left out",
              len(held) >= 15 and not wrong, "; ".join(wrong[:4]))
    res.check(f"{label}: v6only of every tcp6/udp6 socket as the program set it and the kernel "
              "reports it", held and not v6wrong, "; ".join(v6wrong[:4]))

    # the text form
    text = read(os.path.join(d, "snap.txt")).splitlines()
    trc = read(os.path.join(d, "snap.txt.rc")).strip()
    rows = {h["name"]: h for h in held}
    dual, v6 = rows.get("tcp6_dual"), rows.get("tcp6_v6only")
    want_rows = []
    if dual and v6:
        want_rows = [[str(dual["pid"]), HOLDER_COMM, "socket", "tcp6", f"[::]:{dual['local_port']}",
                      "-", "dual", "listen"],
                     [str(v6["pid"]), HOLDER_COMM, "socket", "tcp6", f"[::]:{v6['local_port']}",
                      "-", "v6", "listen"]]
    found = [l.split() for l in text if l.split() in want_rows]
    res.check(f"{label}: --snapshot text: header, one row per record, the holder's dual-stack "
              "and v6only listeners",
              trc == "0" and text and text[0].startswith("PID") and len(text) - 1 == len(recs)
              and want_rows and len(found) == 2,
              f"rc {trc}, {len(text) - 1} rows for {len(recs)} records, found {found}")


def check_heldby(res, d, mode, case, text):
    spec = HELDBY_CASES[case]
    label = f"held_by {mode} {case}"
    hold = next((h for h in jsonl(os.path.join(d, "holder.jsonl")) if "name" in h), None)
    if not hold:
        res.check(f"{label}: the holder started", False, read(os.path.join(d, "holder.err")))
        return
    hfam, haddr, hstack = spec["holder"]
    lfam, laddr, lstack = spec["loser"]
    port = hold["local_port"]
    out = jsonl(os.path.join(d, "trace.out"))
    loser = next((o for o in out if "errno" in o), {})
    recs = [o for o in out if o.get("v") == 1]
    bad = [e for r in recs for e in check.schema_errors(r)]
    start = recs[0] if recs else {}
    fails = [r for r in recs if r.get("event") == "bind" and r.get("pid") == loser.get("pid")]
    want = {"pid": hold["pid"], "comm": HOLDER_COMM, "addr": haddr, "port": port,
            "stack": hstack}
    f = fails[0] if len(fails) == 1 else {}
    got_bind = (f.get("proto"), f.get("family"), f.get("addr"), f.get("port"), f.get("stack"),
                f.get("ret"), f.get("error"))
    res.check(f"{label}: {spec['proto']} {laddr} port {port} fails against a live {hstack} "
              f"holder {haddr}; the record names pid, comm, address and stack",
              read(os.path.join(d, "trace.rc")).strip() == "0" and loser.get("errno") == 98
              and start.get("event") == "start" and start.get("mode") == mode and not bad
              and got_bind == (spec["proto"], lfam, laddr, port, lstack, -98, "EADDRINUSE")
              and f.get("held_by") == want and f.get("holder_lookup") == "found",
              f"loser {loser}, start {start.get('mode')}, bind {got_bind}, held_by "
              f"{f.get('held_by')}, wanted {want}, schema {bad[:2]}, "
              f"stderr {read(os.path.join(d, 'trace.err'))[-200:]!r}")
    if text:
        shown = f"[{haddr}]" if ":" in haddr else haddr
        lines = [l for l in read(os.path.join(d, "text.out")).splitlines() if "EADDRINUSE" in l]
        tail = f"held by {hold['pid']} {HOLDER_COMM} {shown}:{port} {hstack}"
        res.check(f"{label}: the text line ends '{tail}'",
                  read(os.path.join(d, "text.rc")).strip() == "0" and len(lines) == 1
                  and lines[0].endswith(tail), lines)


def check_modules(res, moddir):
    """The sock_diag modules of this kernel were loaded (tools/vm-init)."""
    try:
        dep = read(os.path.join(moddir, "modules.dep"))
    except FileNotFoundError:
        return  # a kernel given without modules (--kernel): nothing to load
    wanted = [l.split(":")[0][:-3] for l in dep.splitlines() if l.strip()]
    loaded = {l.split()[0] for l in read(os.path.join(moddir, "proc_modules")).splitlines()
              if l.strip()}
    missing = [m for m in wanted if m not in loaded]
    res.check(f"modules loaded: {' '.join(wanted)}", wanted and not missing,
              f"missing {missing}: {read(os.path.join(moddir, 'insmod.log'))[-300:]!r}")


def guarded(res, name, fn, *args):
    try:
        fn(res, *args)
    except Exception as e:  # a missing or truncated file is a failure, not a crash
        res.check(f"{name} could be judged", False, repr(e))


def check_dir(outdir, modes, prefix="", moddir=None):
    res = check.Results(prefix)
    if moddir:
        guarded(res, "modules", check_modules, moddir)
    guarded(res, "snapshot", check_namespace, os.path.join(outdir, "main"), "snapshot", 0)
    guarded(res, "snapshot in a namespace with bindv6only=1", check_namespace,
            os.path.join(outdir, "ns1"), "snapshot (netns, bindv6only=1)", 1)
    for i, mode in enumerate(modes):
        for case in HELDBY_CASES:
            guarded(res, f"held_by {mode} {case}", check_heldby,
                    os.path.join(outdir, "heldby", mode, case), mode, case, i == 0)
    return res


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    res = check_dir(sys.argv[1], sys.argv[2].split(","), moddir=sys.argv[3] if len(sys.argv) == 4
                    else None)
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
