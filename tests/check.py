#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Judges one run of tests/scenarios.sh: v6trace's records against what the
workload did. Used for the host kernel (tests/integration.py) and for every
kernel and mode of the qemu matrix (tools/vm-run), so both are held to the same
assertions.

    check.py OUTDIR MODE      prints one line per check and "N passed, N failed"
"""
import json
import os
import re
import signal
import sys

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "doc",
                           "v6trace.schema.json")
_validator = None


def schema_errors(record):
    """What is wrong with a record against doc/v6trace.schema.json (strict)."""
    global _validator
    if _validator is None:
        import jsonschema  # python3-jsonschema (tools/install-deps)
        with open(SCHEMA_PATH) as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
        _validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
            for e in _validator.iter_errors(record)]


TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
BIND_FIELDS = ("uid", "netns", "family", "proto", "addr", "port", "wildcard", "stack", "ret")
ACCEPT_FIELDS = ("uid", "netns", "family", "proto", "local", "local_port", "peer", "peer_port",
                 "mapped")
FIELDS = {
    "bind": BIND_FIELDS,
    "listen": BIND_FIELDS + ("backlog",),
    "accept": ACCEPT_FIELDS,
    "connect": ACCEPT_FIELDS + ("stack", "ret"),
}
EVENTS = tuple(FIELDS)


class Results:
    def __init__(self, prefix):
        self.prefix = prefix
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok     {self.prefix}{name}")
        else:
            self.failed += 1
            print(f"FAILED {self.prefix}{name}: {detail}")
        return ok


def run_suite(name, prefix, tests, outdir=None):
    """Runs root-only test functions, each given a Results; one that raises is
    a failure, not the end of the suite. Ends with "N passed, N failed"."""
    if os.geteuid() != 0:
        print(f"{name} need root", file=sys.stderr)
        return 2
    if outdir:
        os.makedirs(outdir, exist_ok=True)
    res = Results(prefix)
    for test in tests:
        try:
            test(res)
        except Exception as e:
            res.check(f"{test.__name__} ran", False, repr(e))
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


def sigint_blocked(pid):
    """Whether the process holds SIGINT blocked (its SigBlk in /proc); None once
    it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except OSError:
        return None
    return False


def cgroup2_mount():
    """Where cgroup2 is mounted (/proc/self/mounts), or None."""
    for line in open("/proc/self/mounts"):
        f = line.split()
        if f[2] == "cgroup2":
            return f[1]
    return None


def read_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def parse_jsonl(path, res, label):
    records, bad = [], []
    for raw in read_lines(path):
        try:
            records.append(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, ValueError) as e:
            bad.append(f"{raw[:80]!r}: {e}")
    res.check(f"{label}: every line is valid UTF-8 JSON", not bad and records,
              "; ".join(bad[:3]) or "no records")
    if records and "event" in records[0] and "v" in records[0]:  # v6trace's, not facts
        invalid = [f"{r.get('event')}: {errs[0]}" for r in records
                   for errs in [schema_errors(r)] if errs]
        res.check(f"{label}: every record matches the JSON Schema", not invalid,
                  "; ".join(invalid[:3]))
    return records


def comm_of(fact):
    return bytes.fromhex(fact["comm_hex"]).decode("utf-8")


def key_of(rec):
    """What tells one event of a process from another: a closed socket's
    ephemeral port can come back for the next one, of another family."""
    if rec.get("event") in ("bind", "listen"):
        return (rec["event"], rec["pid"], rec["tid"], rec["port"], rec["ret"], rec["family"],
                rec["addr"])
    return (rec["event"], rec["pid"], rec["tid"], rec["local_port"], rec["peer_port"])


def default_shown(fact):
    """Connects to native IPv6 addresses appear only with --all-connects."""
    return fact.get("default_shown", True)


def expected_fields(fact):
    exp = {k: fact[k] for k in FIELDS[fact["event"]]}
    exp["comm"] = comm_of(fact)
    for optional in ("v6only", "error", "peer_v4"):
        exp[optional] = fact.get(optional)
    return exp


def compare_event(res, label, fact, events):
    matches = [e for e in events if e.get("event") in EVENTS and key_of(e) == key_of(fact)]
    name = f"{label}: {fact['scenario']} ({fact['event']})"
    if not res.check(name + " reported once", len(matches) == 1,
                     f"{len(matches)} matching events for {key_of(fact)}"):
        return
    got = matches[0]
    wrong = []
    for k, v in expected_fields(fact).items():
        if got.get(k) != v:
            wrong.append(f"{k}: expected {v!r}, got {got.get(k)!r}")
    if not isinstance(got.get("cgroup_id"), int) or got["cgroup_id"] < 1:
        wrong.append(f"cgroup_id: {got.get('cgroup_id')!r}")
    if not TS_RE.match(got.get("ts", "")):
        wrong.append(f"ts: {got.get('ts')!r}")
    res.check(name + " fields exact", not wrong, "; ".join(wrong))


def check_records_common(res, label, records, mode):
    head_ok = all(r.get("v") == 1 and TS_RE.match(str(r.get("ts"))) and "event" in r
                  for r in records)
    res.check(f"{label}: every record has v=1, an RFC 3339 ts and an event", head_ok)
    if not records:
        return
    start = records[0]
    res.check(f"{label}: first record is start, mode {mode}",
              start.get("event") == "start" and start.get("mode") == mode
              and start.get("bindv6only") in (0, 1) and isinstance(start.get("kernel"), str),
              json.dumps(start))
    summary = records[-1]
    events = [r for r in records if r.get("event") in EVENTS]
    res.check(f"{label}: last record is a summary counting every event, none lost",
              summary.get("event") == "summary" and summary.get("events") == len(events)
              and summary.get("lost") == 0,
              f"summary {json.dumps(summary)[:200]}, {len(events)} events")


def check_summary_counts(res, label, records, facts):
    summary = records[-1] if records else {}
    procs = {p["pid"]: p for p in summary.get("processes", [])}
    by_pid = {}
    for f in facts:
        c = by_pid.setdefault(f["pid"], {"binds_v4": 0, "binds_v6": 0, "binds_dual": 0,
                                         "binds_failed": 0, "listens": 0, "accepts": 0,
                                         "accepts_mapped": 0, "connects": 0,
                                         "connects_mapped": 0})
        if f["event"] == "bind":
            c["binds_failed" if f["ret"] < 0 else "binds_" + f["stack"]] += 1
        elif f["event"] == "listen":
            c["listens"] += 1
        elif f["event"] == "connect":
            c["connects"] += 1
            c["connects_mapped"] += f["mapped"]
        else:
            c["accepts"] += 1
            c["accepts_mapped"] += f["mapped"]
    wrong = []
    for pid, exp in by_pid.items():
        got = {k: procs.get(pid, {}).get(k) for k in exp}
        if got != exp:
            wrong.append(f"pid {pid}: expected {exp}, got {got}")
    res.check(f"{label}: summary per-process counts", not wrong, "; ".join(wrong))


def text_escape(s):
    out = []
    for b in s.encode("utf-8"):
        if b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def netstat_proto(fact):
    """The text PROTO column: tcp6 and udp6 as netstat, mptcp as ss names it."""
    if fact["proto"] == "mptcp":
        return "mptcp"
    return fact["proto"] + ("6" if fact["family"] == "inet6" else "")


def endpoint(family, addr, port):
    return f"[{addr}]:{port}" if family == "inet6" else f"{addr}:{port}"


def check_text(res, label, path, facts):
    raw = read_lines(path)
    bad = [l for l in raw if any(b < 0x20 or b == 0x7F for b in l)]
    res.check(f"{label}: no control characters in any text line", raw and not bad,
              f"{bad[:2]!r}" if raw else "no output")
    lines = [l.decode("ascii", "replace") for l in raw]
    res.check(f"{label}: header line first", bool(lines) and lines[0].split()[:2] == ["PID", "COMM"],
              lines[0] if lines else "")
    for f in facts:
        comm = text_escape(comm_of(f))
        proto = netstat_proto(f)
        if f["event"] in ("bind", "listen"):
            # an address the kernel refused before taking it is not known: "?"
            local = "?" if f["addr"] is None else endpoint(f["family"], f["addr"], f["port"])
            want = [str(f["pid"]), comm, f["event"], proto, local, "-", f["stack"] or "?",
                    f.get("error") or "ok"]
            if f["event"] == "listen":
                want.append(f"backlog={f['backlog']}")
        elif f["event"] == "connect":
            local = endpoint(f["family"], f["local"], f["local_port"])
            if f["mapped"]:
                peer = f"{f['peer_v4']}:{f['peer_port']}"
                result = "mapped," + f["error"] if f.get("error") else "mapped"
            else:
                peer, result = endpoint(f["family"], f["peer"], f["peer_port"]), f.get("error") or "ok"
            want = [str(f["pid"]), comm, "connect", proto, local, peer, f["stack"], result]
        else:
            local = endpoint(f["family"], f["local"], f["local_port"])
            if f["mapped"]:
                peer, stack, result = f"{f['peer_v4']}:{f['peer_port']}", "v4", "mapped"
            else:
                peer, stack, result = endpoint(f["family"], f["peer"], f["peer_port"]), "v6", "ok"
            want = [str(f["pid"]), comm, "accept", proto, local, peer, stack, result]
        if f["event"] == "bind" and f.get("error") == "EADDRINUSE":
            # who held the port is looked up when the event is read: the
            # workload may have closed it by then (or sock_diag is missing)
            found = [l for l in lines if l.split()[:len(want)] == want
                     and l.split()[len(want):len(want) + 2] == ["held", "by"]]
        else:
            found = [l for l in lines if l.split() == want]
        res.check(f"{label}: {f['scenario']} ({f['event']}) line", len(found) == 1,
                  f"wanted {' '.join(want)!r}, found {len(found)}")


def without_unseen_uring(res, outdir, facts):
    """io_uring requests v6trace says at start it cannot see on this kernel
    (5.10's io_uring_complete tracepoint names no request) are not expected:
    that it says so is checked, and the facts it leaves out are named."""
    err = b" ".join(read_lines(os.path.join(outdir, "json.err"))).decode("utf-8", "replace")
    unseen = None
    if "io_uring requests are not seen" in err:
        unseen = lambda f: f["scenario"].startswith("uring_")
    elif "io_uring connects are not seen" in err:
        unseen = lambda f: f["scenario"].startswith("uring_") and f["event"] == "connect"
    if not unseen:
        return facts
    dropped = [f["scenario"] for f in facts if unseen(f)]
    print(f"note   {res.prefix}v6trace says it cannot see io_uring here; not expected: "
          f"{', '.join(dropped)}")
    return [f for f in facts if not unseen(f)]


def check_httpd(res, outdir, records):
    """busybox httpd on [::]:P: its bind and listen dual-stack, its IPv4 client
    accepted as ::ffff:127.0.0.1, its IPv6 client as ::1."""
    skip = b"".join(read_lines(os.path.join(outdir, "httpd.skip"))).decode()
    if skip:
        print(f"skip   {res.prefix}busybox httpd: {skip}")
        return
    facts = b"".join(read_lines(os.path.join(outdir, "httpd.facts"))).decode().split()
    proc = read_lines(os.path.join(outdir, "httpd.proc"))
    if not res.check("busybox httpd ran: listening on :: (/proc/net/tcp6), both clients served",
                     len(facts) == 4 and facts[2:] == ["0", "0"] and len(proc) == 1,
                     f"facts {facts}, /proc/net/tcp6 {proc}"):
        return
    pid, port = int(facts[0]), int(facts[1])
    mine = [r for r in events_of(records) if r["pid"] == pid]
    got = sorted((r["event"], r["family"], r["proto"], r.get("addr") or r.get("peer"),
                  r.get("port") or r.get("local_port"), r["stack"]) for r in mine)
    want = sorted([("bind", "inet6", "tcp", "::", port, "dual"),
                   ("listen", "inet6", "tcp", "::", port, "dual"),
                   ("accept", "inet6", "tcp", "::ffff:127.0.0.1", port, "v4"),
                   ("accept", "inet6", "tcp", "::1", port, "v6")])
    res.check("busybox httpd: bind and listen [::]:P dual, the IPv4 client accepted mapped, "
              "the IPv6 one native, nothing else", got == want, f"got {got}")


def check_dir(outdir, mode, prefix=""):
    res = Results(prefix)
    rcs = dict(l.decode().split() for l in read_lines(os.path.join(outdir, "rc")))
    tracers = ("json", "text", "pfilter", "sfilter", "mapped")
    res.check("tracers exit 0 after SIGINT", rcs == {n: "0" for n in tracers},
              f"{rcs}; stderr: " + " | ".join(
                  b"".join(read_lines(os.path.join(outdir, n + ".err"))).decode("utf-8", "replace")[:200]
                  for n in tracers))
    wl = [l.decode() for l in read_lines(os.path.join(outdir, "workload.rc"))]
    res.check("workload ran", wl == ["workload all 0", "workload hostile 0", "uring all 0"],
              f"{wl}; " + b" ".join(read_lines(os.path.join(outdir, "workload.err"))).decode())

    recorded = parse_jsonl(os.path.join(outdir, "facts.jsonl"), res, "workload facts")
    all_facts = [f for f in recorded if f.get("event") in EVENTS]
    all_facts = without_unseen_uring(res, outdir, all_facts)
    for f in recorded:
        if f.get("event") == "unsupported":  # not a check: the kernel has no such socket
            print(f"note   {res.prefix}{f['scenario']}: the kernel refused the socket "
                  f"(errno {f.get('errno')}), no {f['scenario']} scenario")
    facts = [f for f in all_facts if default_shown(f)]
    records = parse_jsonl(os.path.join(outdir, "json.out"), res, "json")
    check_records_common(res, "json", records, mode)
    for f in facts:
        compare_event(res, "json", f, records)
    for f in all_facts:
        if not default_shown(f):
            res.check(f"json: {f['scenario']} not shown without --all-connects",
                      not [e for e in records if e.get("event") in EVENTS
                           and key_of(e) == key_of(f)], f)
    check_summary_counts(res, "json", records, facts)
    check_httpd(res, outdir, records)

    # -p: A is traced, B (which really bound, as the unfiltered tracer shows) is not
    fa = parse_jsonl(os.path.join(outdir, "pfilter_a.jsonl"), res, "pid filter: workload A")
    fb = parse_jsonl(os.path.join(outdir, "pfilter_b.jsonl"), res, "pid filter: workload B")
    precs = parse_jsonl(os.path.join(outdir, "pfilter.out"), res, "pid filter")
    check_records_common(res, "pid filter", precs, mode)
    for f in fa:
        compare_event(res, "pid filter", f, precs)
    for f in fb:
        compare_event(res, "unfiltered, process outside -p", f, records)
    if fa:
        others = [r for r in precs if r.get("event") in EVENTS and r["pid"] != fa[0]["pid"]]
        res.check("pid filter: no event from any other process", not others,
                  json.dumps(others[:2]))

    # the text tracer runs with --all-connects: every connect is there
    check_text(res, "text --all-connects", os.path.join(outdir, "text.out"), all_facts)
    check_kernel_filters(res, outdir, facts, mode)
    check_command(res, outdir, mode)
    return res


def events_of(records):
    return [r for r in records if r.get("event") in EVENTS]


def check_kernel_filters(res, outdir, facts, mode):
    """-6 --stack dual and --mapped --comm workload: exactly the workload's
    matching events, nothing else, and the rest counted as filtered by the
    kernel side (so it never took room in the ring buffer)."""
    for name, label, keep in (
            ("sfilter", "-6 --stack dual",
             lambda f: f["event"] in ("bind", "listen") and f["stack"] == "dual"),
            ("mapped", "--mapped --comm workload",
             lambda f: f["event"] in ("accept", "connect") and f["mapped"]
             and comm_of(f) == "workload")):
        recs = parse_jsonl(os.path.join(outdir, name + ".out"), res, label)
        check_records_common(res, label, recs, mode)
        want = [f for f in facts if keep(f)]
        for f in want:
            compare_event(res, label, f, recs)
        wanted = {key_of(f) for f in want}
        extra = [key_of(e) for e in events_of(recs) if key_of(e) not in wanted
                 and e["pid"] in {f["pid"] for f in facts}]
        if name == "sfilter":  # whoever made them, the kernel let only these through
            extra += [key_of(e) for e in events_of(recs)
                      if e["family"] != "inet6" or e["stack"] != "dual"]
        else:
            extra += [key_of(e) for e in events_of(recs) if not e.get("mapped")]
        dropped = len(facts) - len(want)
        summary = recs[-1] if recs else {}
        res.check(f"{label}: nothing else, and the {dropped} other workload events were "
                  "filtered in the kernel",
                  bool(want) and not extra and summary.get("filtered", 0) >= dropped,
                  f"{len(want)} wanted, extra {extra[:3]}, filtered {summary.get('filtered')}")


def check_command(res, outdir, mode):
    """v6trace -- sh -c '...': the shell's grandchild is traced, a sibling is not."""
    tree = parse_jsonl(os.path.join(outdir, "cmd_facts.jsonl"), res, "-- COMMAND: grandchild")
    sib = parse_jsonl(os.path.join(outdir, "cmd_sibling.jsonl"), res, "-- COMMAND: sibling")
    recs = parse_jsonl(os.path.join(outdir, "cmd.out"), res, "-- COMMAND")
    rc = b"".join(read_lines(os.path.join(outdir, "cmd.rc"))).decode()
    check_records_common(res, "-- COMMAND", recs, mode)
    for f in tree:
        compare_event(res, "-- COMMAND", f, recs)
    sib_pids = {f["pid"] for f in sib}
    res.check("-- COMMAND: the sibling outside the tree is not traced but counted as filtered",
              len(tree) == 2 and sib and not [e for e in events_of(recs) if e["pid"] in sib_pids]
              and recs and recs[-1].get("filtered", 0) >= 1,
              f"{len(tree)} tree facts, sibling {sib}, summary {recs[-1] if recs else None}")
    res.check("-- COMMAND: exits with COMMAND's status", rc == "5", f"rc {rc!r}")
    # a daemon that outlived the shell and bound 0.3 s after it exited
    late = parse_jsonl(os.path.join(outdir, "cmd_late.jsonl"), res, "-- COMMAND: late daemon")
    for f in late:
        compare_event(res, "-- COMMAND: after COMMAND exited (--linger)", f, recs)
    # the deploy report, on by default with -- COMMAND: the tracer's namespace
    # listed before and after (the helper's list at the end), no gate asked
    report = [r for r in recs if r.get("event") == "report"]
    res.check("-- COMMAND: ends with a deploy report of the tracer's namespace, compared",
              len(report) == 1 and report[0]["gate"] is None
              and [n["state"] for n in report[0]["namespaces"] if n["own"]] == ["compared"]
              and recs.index(report[0]) == len(recs) - 2,
              f"{report}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    res = check_dir(sys.argv[1], sys.argv[2])
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
