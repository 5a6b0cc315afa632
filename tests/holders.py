#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""EADDRINUSE holders under a burst, as root on the host.

- 2000 TCP listeners on 0.0.0.0:30000..31999, then 2000 dual-stack binds to
  [::] on the same ports (all EADDRINUSE within a fraction of a second), the
  listeners kept 3 more seconds: every one of the 2000 events names its
  holder (pid, comm, address, port, stack), and says "found";
- the same with holders bound but not listening;
- a port nobody holds any more (the holder closed before the event was read
  is not this case: a bind that fails with EADDRINUSE because of a socket in
  TIME_WAIT... is not reliably made; instead a holder that closes at once and
  a reader that is slow): "none" is said as none, not as unknown;
- hostile load: an unprivileged user makes 100000 failing binds cycling over
  2000 held ports while another process makes 300 ordinary binds: none of
  those 300 is lost, nothing is lost at all (default ring buffer), the
  tracer's memory stays bounded, SIGINT is answered within 2 s, and the
  summary says how many lookups were done, unfinished and skipped.
"""
import json
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.environ.get("V6TRACE", os.path.join(ROOT, "v6trace"))
OUT = os.path.join(ROOT, "tests", ".out", "holders")
PY = "/usr/bin/python3"
BASE, COUNT = 30000, 2000

# holds COUNT TCP sockets on 0.0.0.0 (listening or only bound), then makes
# the dual-stack binds that fail, then waits; prints the facts as JSON
BURST = r"""
import json, os, resource, socket, sys, time
base, count, listen, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "listen", sys.argv[4]
resource.setrlimit(resource.RLIMIT_NOFILE, (3 * count + 64, 3 * count + 64))
held = []
for p in range(base, base + count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("0.0.0.0", p))
    if listen:
        s.listen(1)
    held.append(s)
while not os.path.exists(go):
    time.sleep(0.01)
failed = 0
t0 = time.monotonic()
for p in range(base, base + count):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        s.bind(("::", p))
    except OSError:
        failed += 1
    s.close()
took = time.monotonic() - t0
print(json.dumps({"pid": os.getpid(), "failed": failed, "seconds": took}), flush=True)
time.sleep(float(sys.argv[5]))
"""

# the unprivileged loser: N failing binds cycling over the held ports
HOSTILE = r"""
import os, socket, sys
base, count, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
failed = 0
for i in range(n):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        s.bind(("::", base + i % count))
    except OSError:
        failed += 1
    s.close()
print(os.getpid(), failed, flush=True)
"""

# ordinary binds of another process, one every 10 ms
BYSTANDER = r"""
import os, socket, sys, time
for i in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.close()
    time.sleep(0.01)
print(os.getpid(), flush=True)
"""


def start_tracer(path, args=()):
    out = open(path, "wb")
    p = subprocess.Popen([V6TRACE, "--json", *args], stdout=out, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open(path, "rb") as f:
            if b'"event":"start"' in f.read():
                break
        time.sleep(0.05)
    return p, out


def stop_tracer(p, out):
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    out.close()


def records(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f if line.strip()]


def burst(res, listen):
    os.makedirs(OUT, exist_ok=True)
    kind = "listening" if listen else "bound, not listening"
    path = os.path.join(OUT, f"burst-{'listen' if listen else 'bound'}.json")
    with tempfile.TemporaryDirectory() as tmp:
        go = os.path.join(tmp, "go")
        holder = subprocess.Popen([PY, "-c", BURST, str(BASE), str(COUNT),
                                   "listen" if listen else "bind", go, "3"],
                                  stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)  # the COUNT holders exist before tracing starts
        tracer, out = start_tracer(path)
        open(go, "w").close()
        facts = json.loads(holder.stdout.readline())
        holder.wait(timeout=60)
        stop_tracer(tracer, out)
    recs = records(path)
    failed = [r for r in recs if r.get("event") == "bind" and r["pid"] == facts["pid"]
              and r.get("error") == "EADDRINUSE"]
    named = [r for r in failed if r.get("holder_lookup") == "found" and r.get("held_by")
             and r["held_by"]["pid"] == facts["pid"] and r["held_by"]["comm"] == "python3"
             and r["held_by"]["addr"] == "0.0.0.0" and r["held_by"]["port"] == r["port"]
             and r["held_by"]["stack"] == "v4"]
    summary = recs[-1] if recs else {}
    print(f"       {kind}: {facts['failed']} binds failed in {facts['seconds']:.3f} s; "
          f"{len(failed)} events, {len(named)} name the holder; lookups "
          f"{summary.get('lookups')}")
    res.check(f"burst of {COUNT} EADDRINUSE against {kind} holders: every event names its "
              f"holder ({len(named)} of {facts['failed']})",
              facts["failed"] == COUNT and len(failed) == COUNT and len(named) == COUNT
              and summary.get("lost") == 0,
              f"{len(failed)} events, {len(named)} named, examples "
              f"{[(r['port'], r.get('holder_lookup'), r.get('held_by')) for r in failed if r not in named][:3]}")


def test_burst_listening(res):
    burst(res, True)


def test_burst_bound(res):
    burst(res, False)


def test_none_is_none(res):
    """A bind that fails while the holder exists, read after the holder is gone:
    the answer must be "none" (nothing holds it now), never a made-up holder,
    and it must not be mistaken for a lookup that did not finish."""
    path = os.path.join(OUT, "none.json")
    tracer, out = start_tracer(path)
    code = ("import socket,time\n"
            "h=socket.socket(); h.bind(('0.0.0.0',0)); h.listen(1); p=h.getsockname()[1]\n"
            "s=socket.socket(socket.AF_INET6); s.setsockopt(41,26,0)\n"
            "try: s.bind(('::',p))\n"
            "except OSError: pass\n"
            "h.close(); print(p)\n")
    port = int(subprocess.run([PY, "-c", code], capture_output=True, text=True,
                              timeout=30).stdout)
    time.sleep(0.5)
    stop_tracer(tracer, out)
    ev = [r for r in records(path) if r.get("event") == "bind" and r.get("port") == port
          and r.get("error") == "EADDRINUSE"]
    res.check("EADDRINUSE whose holder closed before the lookup: held_by names the holder "
              "(found in time) or says none, never unfinished or skipped",
              len(ev) == 1 and ev[0].get("holder_lookup") in ("found", "none")
              and (ev[0]["holder_lookup"] == "none") == (ev[0].get("held_by") is None),
              ev)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def hostile_flood(tmp, path, binds, stdout):
    """COUNT held listeners, a tracer, and an unprivileged flood of failing binds
    over their ports: (holder, tracer, its output file, the flood, nobody)."""
    nobody = pwd.getpwnam("nobody")
    go = os.path.join(tmp, "go")
    holder = subprocess.Popen([PY, "-c", BURST, str(BASE), str(COUNT), "listen", go, "30"],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    tracer, out = start_tracer(path)
    open(go, "w").close()
    holder.stdout.readline()  # its own 2000 failed binds are done

    def as_nobody():
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
    hostile = subprocess.Popen([PY, "-c", HOSTILE, str(BASE), str(COUNT), str(binds)],
                               stdout=stdout, text=True, preexec_fn=as_nobody)
    return holder, tracer, out, hostile, nobody


def test_hostile(res):
    path = os.path.join(OUT, "hostile.json")
    with tempfile.TemporaryDirectory() as tmp:
        holder, tracer, out, hostile, nobody = hostile_flood(tmp, path, 100000, subprocess.PIPE)
        bystander = subprocess.Popen([PY, "-c", BYSTANDER, "300"], stdout=subprocess.PIPE,
                                     text=True)
        time.sleep(1.5)  # in the middle of the flood
        peak_mid = rss_kb(tracer.pid)
        hpid, hfailed = map(int, hostile.stdout.readline().split())
        bpid = int(bystander.stdout.readline())
        hostile.wait(timeout=120)
        bystander.wait(timeout=120)
        peak = rss_kb(tracer.pid)
        t0 = time.monotonic()
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
        took = time.monotonic() - t0
        out.close()
        holder.kill()
        holder.wait()
    recs = records(path)
    summary = recs[-1] if recs else {}
    by_bystander = [r for r in recs if r.get("event") == "bind" and r["pid"] == bpid]
    by_hostile = [r for r in recs if r.get("event") == "bind" and r["pid"] == hpid]
    lookups = summary.get("lookups", {})
    print(f"       hostile: {hfailed} failed binds by uid {nobody.pw_uid}, {len(by_hostile)} "
          f"events; bystander {len(by_bystander)} of 300; lookups {lookups}; lost "
          f"{summary.get('lost')}; tracer peak RSS {peak} kB (mid-flood {peak_mid} kB); "
          f"SIGINT answered in {took:.2f} s")
    res.check("hostile flood: the bystander's 300 binds all arrive, nothing lost",
              len(by_bystander) == 300 and summary.get("lost") == 0
              and len(by_hostile) == hfailed, f"bystander {len(by_bystander)}, hostile "
              f"{len(by_hostile)} of {hfailed}, lost {summary.get('lost')}")
    res.check("hostile flood: every lookup is accounted for (found + none + unfinished + "
              "skipped == EADDRINUSE events)",
              sum(lookups.get(k, 0) for k in ("found", "none", "unfinished", "skipped", "unknown",
                                                   "unavailable"))
              == len([r for r in recs if r.get("error") == "EADDRINUSE"]), lookups)
    res.check("hostile flood: the tracer's memory stays bounded (peak RSS under 64 MB)",
              0 < peak < 64 * 1024, f"{peak} kB")
    res.check("hostile flood: the end (SIGINT once the flood is over) within 2 s", took < 2.0,
              f"{took:.2f} s")


def test_sigint_mid_flood(res):
    """SIGINT while an unprivileged flood of failing binds is at its height."""
    path = os.path.join(OUT, "sigint.json")
    with tempfile.TemporaryDirectory() as tmp:
        holder, tracer, out, hostile, _ = hostile_flood(tmp, path, 3000000, subprocess.DEVNULL)
        time.sleep(1.0)
        t0 = time.monotonic()
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
        took = time.monotonic() - t0
        still_flooding = hostile.poll() is None
        out.close()
        hostile.kill()
        holder.kill()
        hostile.wait()
        holder.wait()
    recs = records(path)
    res.check("SIGINT in the middle of an unprivileged flood of failing binds: v6trace "
              "ends within 2 s with its summary",
              still_flooding and took < 2.0 and recs and recs[-1].get("event") == "summary",
              f"{took:.2f} s, flood still running: {still_flooding}")


def main():
    return check.run_suite("holder tests", "holders: ",
                           [test_burst_listening, test_burst_bound, test_none_is_none,
                            test_hostile, test_sigint_mid_flood])


if __name__ == "__main__":
    sys.exit(main())
