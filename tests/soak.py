#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The churn soak, on the host kernel, as root: v6trace --json --syslog into a
unix datagram socket this test binds, while thousands of short-lived
processes each bind a socket (v4, v6-only, dual; some listen), every third
in a cgroup made for it and removed two seconds after it exits. Checks:

- every churn bind arrives, and every one made in a fresh cgroup names it;
- the summary keeps at most 256 process rows, the rest folded, and the rows
  plus the folded remainder add up to the events and to each count of the
  records received;
- no datagram, the summary's included, is longer than 64 KiB (one syslog
  datagram: summary.h's SUMMARY_MAX_BYTES and the frame);
- the tracer's resident set at the end is within SOAK_RSS_KB (512 KiB; 1 MiB
  for the long soak) of the set after the warm-up (SOAK_WARMUP_S, 20 s; 60 s
  for the long soak).

`make test` runs it for SOAK_SECONDS (75); `make soak` for SOAK_MINUTES (30).
    soak.py [--bench]   --bench: one BENCH line per figure, for make bench
"""
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.environ.get("V6TRACE", os.path.join(ROOT, "v6trace"))
OUT = os.path.join(ROOT, "tests", ".out", "soak")
LONG = "SOAK_MINUTES" in os.environ
SECONDS = (float(os.environ["SOAK_MINUTES"]) * 60 if LONG
           else float(os.environ.get("SOAK_SECONDS", "75")))
WARMUP = float(os.environ.get("SOAK_WARMUP_S", "60" if LONG else "20"))
RSS_KB = int(os.environ.get("SOAK_RSS_KB", "1024" if LONG else "512"))
DATAGRAM_MAX = 65536  # a syslog datagram of 64 KiB: what v6trace promises
ROWS_MAX = 256
COUNTS = ("binds_v4", "binds_v6", "binds_dual", "binds_failed", "listens", "accepts",
          "accepts_mapped", "connects", "connects_mapped", "events")
CGROUP_LINGER = 2.0  # a churn cgroup is removed this long after its process exits


def churn(seconds, comm, facts_path, mount, cg_top):
    """The churn itself (run as `soak.py --churn ...`): forks short-lived
    processes until the time is up; each names itself comm, binds, writes
    one fact line and exits; every third first moves into a cgroup of its own."""
    libc = ctypes.CDLL(None, use_errno=True)
    facts = os.open(facts_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    end = time.monotonic() + seconds
    linger = []  # (remove at, path)
    i = 0
    while time.monotonic() < end:
        cg = None
        if mount and i % 3 == 0:
            cg = os.path.join(cg_top, f"c{i}")
            os.mkdir(cg)
        pid = os.fork()
        if pid == 0:
            try:
                libc.prctl(15, comm.encode(), 0, 0, 0)  # PR_SET_NAME
                if cg:
                    with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                        f.write(str(os.getpid()))
                kind = i % 3
                if kind == 0:
                    s = socket.socket(socket.AF_INET)
                    s.bind(("127.0.0.1", 0))
                else:
                    s = socket.socket(socket.AF_INET6)
                    if kind == 1:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind(("::1" if kind == 1 else "::", 0))
                if i % 5 == 0:
                    s.listen(1)
                fact = {"pid": os.getpid(), "port": s.getsockname()[1],
                        "stack": ("v4", "v6", "dual")[kind], "listen": i % 5 == 0,
                        "cgroup": cg[len(mount):] if cg else None}
                os.write(facts, (json.dumps(fact) + "\n").encode())
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        now = time.monotonic()
        if cg:
            linger.append((now + CGROUP_LINGER, cg))
        while linger and linger[0][0] <= now:
            os.rmdir(linger.pop(0)[1])
        i += 1
    for at, cg in linger:
        time.sleep(max(0, at - time.monotonic()))
        os.rmdir(cg)


class SyslogSink:
    """A unix datagram socket standing in for /dev/log: keeps every datagram."""

    def __init__(self, path):
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.datagrams = []
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        # One buffer for every datagram, copied out at its length: recv(4 MiB)
        # gives each datagram a mapping of its own (glibc mmaps the buffer and
        # shrinking keeps it mapped), and a fast churn's ~100,000 datagrams
        # then reach vm.max_map_count (65530) and this process's next mmap or
        # mprotect fails with ENOMEM.
        buf = bytearray(1 << 22)
        view = memoryview(buf)
        while not self.stopping:
            try:
                n = self.sock.recv_into(buf)
            except socket.timeout:
                continue
            self.datagrams.append(bytes(view[:n]))

    def stop(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()
        os.unlink(self.path)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def record_of(datagram):
    at = datagram.find(b"@cee:")
    return json.loads(datagram[at + 5:]) if at >= 0 else None


def soak(res, bench=False):
    tag = f"v6s{os.getpid()}"[:15]
    os.makedirs(OUT, exist_ok=True)
    mount = check.cgroup2_mount()
    cg_top = os.path.join(mount, f"v6trace-soak.{os.getpid()}") if mount else None
    if cg_top:
        os.mkdir(cg_top)
    facts_path = os.path.join(OUT, f"facts.{os.getpid()}.jsonl")
    err_path = os.path.join(OUT, "v6trace.err")
    sink = SyslogSink(os.path.join("/tmp", f"v6trace-soak.{os.getpid()}.sock"))
    tracer = churner = None
    try:
        with open(err_path, "wb") as err:
            tracer = subprocess.Popen([V6TRACE, "--json", f"--syslog={sink.path}", "--comm", tag],
                                      stdout=subprocess.DEVNULL, stderr=err)
        end = time.monotonic() + 30
        while not any(b'"event":"start"' in d for d in sink.datagrams):
            if tracer.poll() is not None or time.monotonic() > end:
                raise RuntimeError("v6trace did not start: " + open(err_path).read()[-400:])
            time.sleep(0.05)
        started = time.monotonic()
        churner = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--churn",
                                    str(SECONDS), tag, facts_path, mount or "", cg_top or ""])
        time.sleep(min(WARMUP, SECONDS / 2))
        early = rss_kb(tracer.pid)
        early_at = time.monotonic() - started
        churner.wait(timeout=SECONDS + 120)
        time.sleep(1)  # the last events read
        late = rss_kb(tracer.pid)
        late_at = time.monotonic() - started
        tracer.send_signal(signal.SIGINT)
        rc = tracer.wait(timeout=60)
        time.sleep(0.5)
    finally:
        for p in (churner, tracer):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        sink.stop()
        if cg_top:
            for d in os.listdir(cg_top):
                if os.path.isdir(os.path.join(cg_top, d)):
                    os.rmdir(os.path.join(cg_top, d))
            os.rmdir(cg_top)

    facts = [json.loads(l) for l in open(facts_path)]
    os.unlink(facts_path)
    records = [record_of(d) for d in sink.datagrams]
    summary = records[-1] if records and records[-1] else {}
    events = [r for r in records if r and r.get("event") in check.EVENTS]
    longest = max(len(d) for d in sink.datagrams) if sink.datagrams else 0
    summary_len = len(sink.datagrams[-1]) if sink.datagrams else 0
    growth = late - early
    if bench:
        for name, value, unit in (("soak_rss_early", early, "KiB"), ("soak_rss_late", late, "KiB"),
                                  ("soak_rss_growth", growth, "KiB"),
                                  ("soak_processes", len(facts), "count"),
                                  ("soak_summary_bytes", summary_len, "bytes")):
            print(f"BENCH name={name} value={value} unit={unit} early_s={early_at:.0f} "
                  f"late_s={late_at:.0f}")
        return

    res.check(f"soak: v6trace ran {late_at:.0f} s of churn and exited 0 after SIGINT",
              rc == 0, open(err_path).read()[-400:])
    res.check(f"soak: thousands of short-lived processes churned ({len(facts)}), "
              f"{sum(1 for f in facts if f['cgroup'])} of them in cgroups made and removed",
              len(facts) >= (2000 if SECONDS >= 60 else 10), len(facts))
    res.check(f"soak: no datagram longer than {DATAGRAM_MAX} bytes (the longest {longest}, "
              f"the summary {summary_len})",
              0 < longest <= DATAGRAM_MAX and summary.get("event") == "summary",
              f"longest {longest}, last record {str(summary)[:200]}")
    errors = (check.schema_errors(summary) if summary.get("event") == "summary"
              else [f"the last datagram is no summary: {str(summary)[:160]}"])
    res.check("soak: the summary arrived through the syslog socket, valid against the schema",
              not errors, errors[:3])
    rows = summary.get("processes", [])
    res.check(f"soak: the summary keeps at most {ROWS_MAX} process rows "
              f"({len(rows)}), {summary.get('processes_folded')} folded",
              len(rows) <= ROWS_MAX and summary.get("processes_folded", 0) > 0
              and len(rows) + summary.get("processes_folded", 0) >= len({f["pid"] for f in facts}),
              f"{len(rows)} rows, folded {summary.get('processes_folded')}")
    folded = summary.get("folded", {})
    sums = {k: sum(r.get(k, 0) for r in rows) + folded.get(k, 0) for k in COUNTS}
    binds = [e for e in events if e["event"] == "bind"]
    want = {"events": len(events),
            "binds_v4": sum(1 for e in binds if e["ret"] == 0 and e["stack"] == "v4"),
            "binds_v6": sum(1 for e in binds if e["ret"] == 0 and e["stack"] == "v6"),
            "binds_dual": sum(1 for e in binds if e["ret"] == 0 and e["stack"] == "dual"),
            "binds_failed": sum(1 for e in binds if e["ret"] < 0),
            "listens": sum(1 for e in events if e["event"] == "listen" and e["ret"] == 0),
            "accepts": sum(1 for e in events if e["event"] == "accept"),
            "accepts_mapped": sum(1 for e in events if e["event"] == "accept" and e["mapped"]),
            "connects": sum(1 for e in events if e["event"] == "connect"),
            "connects_mapped": sum(1 for e in events if e["event"] == "connect" and e["mapped"])}
    res.check("soak: rows plus folded add up to events and to every count of the records "
              "received, nothing lost or unwritten",
              sums == want and summary.get("events") == len(events)
              and summary.get("lost") == 0 and summary.get("unwritten") == 0,
              f"sums {sums}, records {want}, summary events {summary.get('events')} "
              f"lost {summary.get('lost')} unwritten {summary.get('unwritten')}")
    # pids wrap around in a long soak: a (pid, port) can come back; match in order
    by_key = {}
    for e in binds:
        if e["ret"] == 0:
            by_key.setdefault((e["pid"], e["port"]), []).append(e)
    matched, missing = [], []
    for f in facts:
        got = by_key.get((f["pid"], f["port"]))
        if got:
            matched.append((f, got.pop(0)))
        else:
            missing.append(f)
    res.check(f"soak: every churn bind arrived ({len(matched)} of {len(facts)})",
              not missing, missing[:3])
    in_cg = [(f, e) for f, e in matched if f["cgroup"]]
    unnamed = [(f, e["cgroup"]) for f, e in in_cg if e["cgroup"] != f["cgroup"]]
    res.check(f"soak: every bind in a fresh cgroup (its process gone, the cgroup not yet) "
              f"names it ({len(in_cg) - len(unnamed)} of {len(in_cg)})",
              in_cg and not unnamed, unnamed[:3])
    res.check(f"soak: resident set {early} KiB at {early_at:.0f} s, {late} KiB at "
              f"{late_at:.0f} s: grew {growth} KiB, at most {RSS_KB}",
              early and late and growth <= RSS_KB, f"{early} -> {late} KiB")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--churn":
        seconds, comm, facts_path, mount, cg_top = sys.argv[2:7]
        churn(float(seconds), comm, facts_path, mount or None, cg_top or None)
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--bench":
        soak(None, bench=True)
        return 0
    return check.run_suite("soak", "", (soak,))


if __name__ == "__main__":
    sys.exit(main())
