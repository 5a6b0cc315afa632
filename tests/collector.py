#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Feeding log collectors, on the host, as root: the JSON Schema (and that it
rejects what it must), -o FILE (mode, symbolic and hard links, SIGHUP
reopening, a full disk, /dev/full), --syslog into a real rsyslog with
mmjsonparse (10,000 events), loss accounting with several flooding processes,
the capabilities of the running tracer, SIGTERM in the middle of a flood, and a
reader that stops reading.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.path.join(ROOT, "v6trace")
WORKLOAD = os.path.join(ROOT, ".output", "tests", "workload")
OUT = os.path.join(ROOT, "tests", ".out", "collector")


def records_of(data):
    return [json.loads(l) for l in data.splitlines()]


def wait_for(pred, timeout=30, what="condition"):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


def file_has(path, needle):
    try:
        with open(path, "rb") as f:
            return needle in f.read()
    except FileNotFoundError:
        return False


def bind_once(port=0):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    p = s.getsockname()[1]
    s.close()
    return p


def flood(n, go):
    if os.path.exists(go):
        os.unlink(go)
    return subprocess.Popen([WORKLOAD, "flood", str(n), go], stdout=subprocess.PIPE)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_schema(res):
    """The schema is strict: a key it does not list, a missing one, or a wrong
    type fails; a real record passes (every record of every test is checked)."""
    good = {"v": 1, "ts": "2026-11-23T14:02:41.000000123Z", "event": "bind", "pid": 1, "tid": 1,
            "uid": 0, "comm": "x", "netns": 1, "cgroup_id": 1, "cgroup": "/", "container": None,
            "container_name": None, "container_image": None, "container_runtime": None,
            "pod_name": None, "pod_namespace": None, "pod_uid": None, "pod_container": None,
            "family": "inet6", "proto": "tcp", "addr": "::", "port": 80, "v6only": False,
            "wildcard": True, "stack": "dual", "ret": 0}
    bad = {"unknown key": dict(good, extra=1), "no v6only on inet6": {
        k: v for k, v in good.items() if k != "v6only"}, "port as a string": dict(good, port="80"),
        "error without ret < 0": dict(good, error="EPERM"),
        "EADDRINUSE without held_by": dict(good, ret=-98, error="EADDRINUSE"),
        "version 2": dict(good, v=2),
        "no container_name": {k: v for k, v in good.items() if k != "container_name"},
        "an unknown container_runtime": dict(good, container_runtime="rkt"),
        "a container that is not an id": dict(good, container="web")}
    res.check("schema: a real bind record is valid", check.schema_errors(good) == [],
              check.schema_errors(good))
    named = dict(good, cgroup="/docker/" + "a" * 64, container="a" * 64, container_name="web",
                 container_image="nginx:1.25", container_runtime="docker", pod_name="api-0",
                 pod_namespace="default", pod_uid="5e6f7a8b-3333-4333-8333-0000000000aa",
                 pod_container="api")
    res.check("schema: a bind record of a named container is valid",
              check.schema_errors(named) == [], check.schema_errors(named))
    for what, rec in bad.items():
        res.check(f"schema rejects a record with {what}", check.schema_errors(rec) != [], rec)


def test_output_file(res):
    d = tempfile.mkdtemp(prefix="v6t-out-", dir=OUT)
    path = os.path.join(d, "trace.jsonl")
    old_umask = os.umask(0o022)
    try:
        with open(path, "w") as f:  # appends to what is there
            pass
        os.unlink(path)
        p = subprocess.run([V6TRACE, "--json", "-o", path, "--", "true"], capture_output=True,
                           timeout=30)
        mode = os.stat(path).st_mode & 0o777
        first = open(path, "rb").read()
        p2 = subprocess.run([V6TRACE, "--json", "-o", path, "--", "true"], capture_output=True,
                            timeout=30)
        both = open(path, "rb").read()
        recs = records_of(both)
        res.check("-o FILE: created 0640 (umask 022), records only there, appended on a rerun",
                  p.returncode == 0 and p2.returncode == 0 and mode == 0o640 and not p.stdout
                  and both.startswith(first) and len(recs) == 6
                  # -- COMMAND ends with its deploy report (no change: `true` binds nothing)
                  and [r["event"] for r in recs] == ["start", "report", "summary"] * 2,
                  f"mode {oct(mode)}, {[r['event'] for r in recs]}, rc {p.returncode}")
        target = os.path.join(d, "target")
        open(target, "w").close()
        link = os.path.join(d, "link.jsonl")
        os.symlink(target, link)
        hard = os.path.join(d, "hard.jsonl")
        os.link(target, hard)
        for name, what in ((link, "symbolic link"), (hard, "hard links")):
            p = subprocess.run([V6TRACE, "--json", "-o", name, "--", "true"], capture_output=True,
                               timeout=30)
            lines = p.stderr.decode().splitlines()
            res.check(f"-o through a {what}: refused with one line, exit 1, nothing written",
                      p.returncode == 1 and len(lines) == 1 and what in lines[0]
                      and os.path.getsize(target) == 0, f"rc {p.returncode}, {lines}")
    finally:
        os.umask(old_umask)
        shutil.rmtree(d)


def test_sighup_reopen(res):
    """logrotate: the file is renamed, SIGHUP, and new records go to a new file."""
    d = tempfile.mkdtemp(prefix="v6t-rot-", dir=OUT)
    path = os.path.join(d, "trace.jsonl")
    try:
        t = subprocess.Popen([V6TRACE, "--json", "-o", path], stderr=subprocess.PIPE)
        wait_for(lambda: file_has(path, b'"event":"start"'), what="start record")
        p1 = bind_once()
        wait_for(lambda: file_has(path, f'"port":{p1},'.encode()), what="first bind")
        os.rename(path, path + ".1")
        t.send_signal(signal.SIGHUP)
        wait_for(lambda: os.path.exists(path), what="reopened file")
        p2 = bind_once()
        wait_for(lambda: file_has(path, f'"port":{p2},'.encode()), what="second bind")
        t.send_signal(signal.SIGTERM)
        t.wait(timeout=30)
        old, new = records_of(open(path + ".1", "rb").read()), records_of(open(path, "rb").read())
        res.check("SIGHUP reopens -o FILE: the bind before in the rotated file, the one after "
                  "and the summary in the new one, 0640",
                  t.returncode == 0 and any(r.get("port") == p1 for r in old)
                  and not any(r.get("port") == p2 for r in old)
                  and any(r.get("port") == p2 for r in new) and new[-1]["event"] == "summary"
                  and os.stat(path).st_mode & 0o777 == 0o640,
                  f"rc {t.returncode}, old {len(old)}, new {[r['event'] for r in new]}")
    finally:
        shutil.rmtree(d)


def test_full_disk(res):
    """ENOSPC: reported once, only whole records in the file, tracing goes on
    (not spinning), and writing resumes once there is room again."""
    d = tempfile.mkdtemp(prefix="v6t-full-", dir=OUT)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "v6t-full", d], check=True)
    try:
        filler = os.path.join(d, "filler")
        with open(filler, "wb") as f:
            try:
                f.write(b"x" * (256 * 1024 - 24 * 1024))
            except OSError:
                pass
        path = os.path.join(d, "trace.jsonl")
        errf = open(os.path.join(OUT, "full.err"), "w+b")
        t = subprocess.Popen([V6TRACE, "--json", "-o", path], stderr=errf)
        wait_for(lambda: file_has(path, b'"event":"start"'), what="start record")
        go = os.path.join(OUT, "full.go")
        fl = flood(3000, go)
        open(go, "w").close()
        fl.communicate(timeout=120)
        time.sleep(1.5)
        alive = t.poll() is None
        c0 = cpu_seconds(t.pid)
        time.sleep(2)
        cpu = cpu_seconds(t.pid) - c0
        os.unlink(filler)
        p = bind_once()
        wait_for(lambda: file_has(path, f'"port":{p},'.encode()), what="a record after room")
        t.send_signal(signal.SIGTERM)
        t.wait(timeout=30)
        errf.seek(0)
        err = errf.read().decode().splitlines()
        data = open(path, "rb").read()
        recs = records_of(data)
        complaints = [l for l in err if "cannot write" in l]
        res.check("-o on a full disk: one stderr line, only whole records in the file, still "
                  "tracing and idle, resumes when room comes back, exit 0",
                  alive and len(complaints) == 1 and "No space left" in complaints[0]
                  and data.endswith(b"\n") and cpu < 1.0 and recs[-1]["event"] == "summary"
                  and recs[-1]["unwritten"] > 0 and t.returncode == 0,
                  f"alive {alive}, cpu {cpu:.2f}s in 2 s, stderr {err}, "
                  f"last {recs[-1] if recs else None}")
    finally:
        subprocess.run(["umount", d])
        os.rmdir(d)
    # /dev/full never has room: still one line, and the totals on stderr
    t = subprocess.Popen([V6TRACE, "--json", "-o", "/dev/full"], stderr=subprocess.PIPE)
    time.sleep(1)
    bind_once()
    time.sleep(0.5)
    t.send_signal(signal.SIGTERM)
    err = t.communicate(timeout=30)[1].decode().splitlines()
    res.check("-o /dev/full: one 'cannot write' line, the totals on stderr, exit 0",
              t.returncode == 0 and len([l for l in err if "cannot write" in l]) == 1
              and any("records could not be written" in l and " events, " in l for l in err),
              err)


RSYSLOG_CONF = """
global(workDirectory="{d}" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
module(load="mmjsonparse")
input(type="imuxsock" Socket="{d}/log.sock" CreatePath="on" RateLimit.Interval="0"
      UseSysTimeStamp="on")
template(name="json" type="string" string="%$!all-json%\\n")
if $programname == "v6trace" then {{
  action(type="mmjsonparse")
  if $parsesuccess == "OK" then {{
    action(type="omfile" file="{d}/parsed.jsonl" template="json")
  }} else {{
    action(type="omfile" file="{d}/unparsed.log")
  }}
}}
"""


def test_syslog(res):
    """--syslog into a real rsyslog: every one of 10,000 binds arrives as JSON
    that mmjsonparse parsed, valid against the schema; a hostile name intact."""
    if not shutil.which("rsyslogd"):
        res.check("rsyslogd is installed (tools/install-deps installs rsyslog)", False)
        return
    d = tempfile.mkdtemp(prefix="v6t-syslog-", dir="/tmp")
    os.chmod(d, 0o755)
    with open(os.path.join(d, "rsyslog.conf"), "w") as f:
        f.write(RSYSLOG_CONF.format(d=d))
    rs = subprocess.Popen(["rsyslogd", "-n", "-f", os.path.join(d, "rsyslog.conf"), "-i",
                           os.path.join(d, "pid")], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    try:
        sock = os.path.join(d, "log.sock")
        wait_for(lambda: os.path.exists(sock), what="rsyslog's socket")
        n = 10000
        go = os.path.join(d, "go")
        script = (f"touch {go}; {WORKLOAD} flood {n} {go} > {d}/flood.json && "
                  f"{WORKLOAD} hostile > {d}/hostile.json")
        p = subprocess.run([V6TRACE, f"--syslog={sock}", "--ringbuf-kb", "4096", "--", "sh", "-c",
                            script], capture_output=True, timeout=300)
        done = json.load(open(os.path.join(d, "flood.json")))
        parsed = os.path.join(d, "parsed.jsonl")
        # rsyslog writes asynchronously: wait for the summary to land
        wait_for(lambda: file_has(parsed, b'"event": "summary"') or
                 file_has(parsed, b'"event":"summary"'), timeout=60, what="summary in rsyslog")
        recs = [json.loads(l) for l in open(parsed, "rb").read().splitlines()]
        binds = [r for r in recs if r.get("event") == "bind" and r["pid"] == done["pid"]]
        invalid = [e for r in recs for e in check.schema_errors(r)]
        unparsed = os.path.getsize(os.path.join(d, "unparsed.log")) \
            if os.path.exists(os.path.join(d, "unparsed.log")) else 0
        summary = recs[-1]
        res.check(f"--syslog through rsyslog mmjsonparse: all {n} binds parsed, valid, in order, "
                  "none lost or unwritten",
                  p.returncode == 0 and done["binds"] == n and len(binds) == n
                  and not invalid and unparsed == 0 and summary["event"] == "summary"
                  and summary["lost"] == 0 and summary["unwritten"] == 0
                  and recs[0]["event"] == "start",
                  f"rc {p.returncode}, {len(binds)} binds of {done['binds']}, invalid "
                  f"{invalid[:2]}, unparsed bytes {unparsed}, summary {summary}, "
                  f"stderr {p.stderr[-300:]!r}")
        hostile = [r for r in recs if r.get("event") == "bind" and r["comm"] == 'q"b\\n\nx']
        res.check("--syslog: a process name with a quote, a backslash and a newline arrives intact",
                  len(hostile) == 1, [r.get("comm") for r in recs if r.get("event") == "bind"][-2:])
    finally:
        rs.terminate()
        rs.wait(timeout=30)
        shutil.rmtree(d)
    p = subprocess.run([V6TRACE, "--syslog=/nonexistent/log.sock"], capture_output=True,
                       timeout=30)
    lines = p.stderr.decode().splitlines()
    res.check("--syslog to a socket that is not there: one line, exit 1",
              p.returncode == 1 and len(lines) == 1 and "cannot reach the syslog socket" in lines[0],
              lines)


def test_loss_several_processes(res):
    """Four processes flood binds while nobody reads and the ring buffer is
    4 KiB: delivered plus reported lost equals the binds performed, exactly."""
    per, nproc = 6000, 4
    go = os.path.join(OUT, "loss.go")
    if os.path.exists(go):
        os.unlink(go)
    script = " ".join(f"{WORKLOAD} flood {per} {go} > {OUT}/loss{i}.json &" for i in range(nproc))
    script += f" touch {go}; wait"
    errf = open(os.path.join(OUT, "loss.err"), "w+b")
    t = subprocess.Popen([V6TRACE, "--json", "--ringbuf-kb", "4", "--", "sh", "-c", script],
                         stdout=subprocess.PIPE, stderr=errf)
    json.loads(t.stdout.readline())  # started; nobody reads until the floods are done
    wait_for(lambda: all(os.path.exists(f"{OUT}/loss{i}.json") and
                         os.path.getsize(f"{OUT}/loss{i}.json") for i in range(nproc)),
             timeout=300, what="the floods")
    out = t.stdout.read()
    t.wait(timeout=120)
    recs = records_of(out)
    done = [json.load(open(f"{OUT}/loss{i}.json")) for i in range(nproc)]
    pids = {x["pid"] for x in done}
    seen = sum(1 for r in recs if r["event"] == "bind" and r["pid"] in pids)
    lost = sum(r["count"] for r in recs if r["event"] == "lost")
    s = recs[-1]
    total = sum(x["binds"] for x in done)
    res.check(f"{nproc} processes x {per} binds, 4 KiB ring, stalled reader: delivered + lost "
              "== performed, exactly, and the summary agrees",
              total == per * nproc and lost > 0 and seen + lost == total
              and s["event"] == "summary" and s["lost"] == lost and s["events"] == seen
              and s["unwritten"] == 0 and t.returncode == 0,
              f"{total} binds, {seen} delivered, {lost} lost, summary "
              f"{ {k: s.get(k) for k in ('events', 'lost', 'unwritten')} }, rc {t.returncode}")


def test_capabilities(res):
    t = subprocess.Popen([V6TRACE, "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    json.loads(t.stdout.readline())
    status = dict(l.split(":", 1) for l in open(f"/proc/{t.pid}/status").read().splitlines())
    caps = {k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    port = bind_once()
    line = b""
    while b'"event":"bind"' not in line or f'"port":{port},'.encode() not in line:
        line = t.stdout.readline()
    t.send_signal(signal.SIGTERM)
    rest = t.stdout.read()
    t.wait(timeout=30)
    res.check("the running tracer has no capability at all and no_new_privs, and still traces",
              set(caps.values()) == {"0000000000000000"} and status["NoNewPrivs"].strip() == "1"
              and records_of(rest)[-1]["event"] == "summary" and t.returncode == 0,
              f"{caps}, NoNewPrivs {status.get('NoNewPrivs')}")


def test_sigterm_mid_flood(res):
    go = os.path.join(OUT, "term.go")
    fl = flood(200000, go)
    errf = open(os.path.join(OUT, "term.err"), "w+b")
    t = subprocess.Popen([V6TRACE, "--json", "-p", str(fl.pid)], stdout=subprocess.PIPE,
                         stderr=errf)
    json.loads(t.stdout.readline())
    open(go, "w").close()
    n = 0
    while n < 2000:  # well into the flood
        if b'"event":"bind"' in t.stdout.readline():
            n += 1
    t.send_signal(signal.SIGTERM)
    out = t.stdout.read()  # what readline() buffered, then the rest (communicate() would
    t.wait(timeout=60)     # read the fd directly and miss the buffer)
    errf.seek(0)
    err = errf.read()
    fl.kill()
    fl.wait()
    lines = out.split(b"\n")
    bad = [l for l in lines[:-1] if not l.startswith(b"{") or not l.endswith(b"}")]
    recs = records_of(out)
    res.check("SIGTERM in the middle of a flood: whole lines only, the summary last, exit 0",
              t.returncode == 0 and out.endswith(b"\n") and not bad
              and recs[-1]["event"] == "summary", f"rc {t.returncode}, bad {bad[:1]}, {err[-200:]!r}")


def test_stalled_reader(res):
    """A reader that never reads: the flood runs at full speed, tracing keeps
    up by counting, SIGTERM ends it within the exit deadline with whole lines in
    the pipe and the totals on stderr, and every bind is accounted for."""
    n = 40000
    go = os.path.join(OUT, "stall.go")
    r, w = os.pipe()
    fl = flood(n, go)
    t = subprocess.Popen([V6TRACE, "--json", "-p", str(fl.pid)], stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    first = b""
    while not first.endswith(b"\n"):
        first += os.read(r, 1)
    json.loads(first)
    t0 = time.monotonic()
    open(go, "w").close()
    done = json.loads(fl.communicate(timeout=300)[0])
    flood_s = time.monotonic() - t0
    time.sleep(0.5)
    c0 = cpu_seconds(t.pid)  # behind on its output, it waits: it must not spin
    time.sleep(2)
    cpu = cpu_seconds(t.pid) - c0
    t1 = time.monotonic()
    t.send_signal(signal.SIGTERM)
    err = t.communicate(timeout=60)[1].decode()
    took = time.monotonic() - t1
    os.set_blocking(r, False)
    data = b""
    try:
        while True:
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    os.close(r)
    lines = data.split(b"\n")
    bad = [l for l in lines[:-1] if not l.startswith(b"{") or not l.endswith(b"}")]
    totals = [l for l in err.splitlines() if "records could not be written" in l]
    nums = {}
    if totals:
        for part in totals[0].split(";")[1].split(","):
            v, k = part.split()[0], part.split()[1]
            nums[k] = int(v)
    res.check(f"a stalled reader: {n} binds done, v6trace idle while it waits, exit 0 within "
              "the exit deadline, whole lines only, events + lost on stderr == binds performed",
              done["binds"] == n and cpu < 1.0 and t.returncode == 0 and took < 10
              and data.endswith(b"\n")
              and not bad and totals and nums.get("events", 0) + nums.get("lost", 0) == n,
              f"rc {t.returncode}, cpu {cpu:.2f}s in 2 s, exit took {took:.1f}s, "
              f"flood {flood_s:.1f}s, bad {bad[:1]}, "
              f"stderr {err[-300:]!r}")


def main():
    tests = (
        test_schema, test_output_file, test_sighup_reopen, test_full_disk, test_syslog,
        test_loss_several_processes, test_capabilities, test_sigterm_mid_flood,
        test_stalled_reader)
    return check.run_suite("collector tests", "host collector: ", tests, outdir=OUT)


if __name__ == "__main__":
    sys.exit(main())
