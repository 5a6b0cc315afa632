#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""--metrics-file, on the host, as root: real listeners (python3 and socat on
0.0.0.0, [::] dual-stack and [::] v6-only, UDP), a mapped IPv4 accept, a bind
that fails with EADDRINUSE, read by Debian's real prometheus-node-exporter
from its textfile directory (started on a free loopback port and stopped by
the suite, as the prometheus user, with only the textfile collector), scraped
over HTTP: the exact series and values, node_textfile_scrape_error 0, a
listener that closes leaving the gauge, a hostile process name, the series
cap, the last write at exit, `promtool check metrics`, and bad paths.
--metrics-listen: Debian's real Prometheus server scraping v6trace's HTTP
endpoint (up, a dual-stack listener's series), the body the same as the file,
the server without capabilities or BPF descriptors, idle and slow connections
past its cap not stalling the tracer, and the server gone with the tracer.
"""
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.path.join(ROOT, "v6trace")
OUT = os.path.join(ROOT, "tests", ".out", "metrics")
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool")
CAP = 1000  # METRICS_MAX_LISTENERS

# A listener in a process of its own: python3, its comm set first (prctl), then
# socket, options, bind, listen; "ready" on stdout, then it accepts until killed.
LISTENER = r"""
import ctypes, socket, sys
name, family, kind, addr, port, v6only = sys.argv[1:7]
if name:
    ctypes.CDLL(None).prctl(15, bytes.fromhex(name), 0, 0, 0)
s = socket.socket(socket.AF_INET6 if family == "6" else socket.AF_INET,
                  socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
if family == "6":
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
s.bind((addr, int(port)))
if kind == "tcp":
    s.listen(8)
print("ready", flush=True)
while True:
    if kind == "tcp":
        c, _ = s.accept()
        c.close()
    else:
        s.recv(100)
"""

# A bind that fails: EADDRINUSE, said on stdout.
FAILED_BIND = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
try:
    s.bind(("::", int(sys.argv[1])))
    print("bound")
except OSError as e:
    print(e.errno)
"""

# Many UDP sockets on ephemeral ports (the series cap), "ready" once bound.
MANY = r"""
import resource, socket, sys
n = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()
"""


def said(stderr):
    """stderr's lines but the banner and the notes about the attach mode."""
    return [l for l in stderr.splitlines()
            if not l.startswith("v6trace 0") and "io_uring" not in l
            and "tracepoint mode:" not in l]


# The suite's ports lie below the ephemeral range, so that no port the kernel
# picks for a bind to port 0 (the cap's thousand UDP sockets, a client's
# connect, anything else on the machine) is ever one of the ports -P traces.
PORT_RANGE = (24100, 25000)


def free_port(state={"next": PORT_RANGE[0]}):
    """The next port of PORT_RANGE free for TCP and UDP on IPv4 and IPv6."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    if PORT_RANGE[1] > low:
        raise RuntimeError(f"the suite's ports {PORT_RANGE} reach the ephemeral range "
                           f"(from {low})")
    while state["next"] < PORT_RANGE[1]:
        port = state["next"]
        state["next"] += 1
        try:
            for k in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                t = socket.socket(socket.AF_INET6, k)
                try:
                    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                    t.bind(("::", port))
                finally:
                    t.close()
            return port
        except OSError:
            continue
    raise RuntimeError(f"no free port left in {PORT_RANGE}")


def wait_for(pred, timeout=20, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Procs:
    """Every process the suite starts, stopped at the end whatever happens."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)


def listener(procs, family, kind, addr, port, v6only=0, name=b"", wrap=()):
    p = procs.start([*wrap, sys.executable, "-c", LISTENER, name.hex(), family, kind, addr, str(port),
                     str(v6only)], stdout=subprocess.PIPE)
    line = p.stdout.readline()
    if line != b"ready\n":
        raise RuntimeError(f"listener {addr}:{port} did not start: {line!r}")
    return p


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def series_of(text, name):
    """{labels text: value} of a metric's series, as node_exporter writes them."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^" + re.escape(name) + r"(\{.*\})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = m.group(2)
    return out


def labels(**kv):
    """{k="v",...} in the order given (node_exporter sorts label names: give them sorted)."""
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


OWN_NETNS = os.stat("/proc/self/ns/net").st_ino


def listener_series(proto, port, stack, address, pid, comm, container="", netns=OWN_NETNS,
                    container_name="", pod_name="", pod_namespace=""):
    return labels(address=address, comm=comm, container=container,
                  container_name=container_name, netns=str(netns), pid=str(pid),
                  pod_name=pod_name, pod_namespace=pod_namespace, port=str(port), proto=proto,
                  stack=stack)


class Env:
    """node_exporter reading a textfile directory, and v6trace writing into it."""

    def __init__(self, procs):
        self.procs = procs
        self.dir = tempfile.mkdtemp(prefix="v6t-textfile-")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "v6trace.prom")
        self.port = free_port()
        prom = pwd.getpwnam("prometheus")

        def as_prometheus():
            os.setgid(prom.pw_gid)
            os.setgroups([])
            os.setuid(prom.pw_uid)

        self.node = procs.start(
            [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{self.port}",
             "--collector.disable-defaults", "--collector.textfile",
             f"--collector.textfile.directory={self.dir}"],
            preexec_fn=as_prometheus, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(OUT, "node_exporter.log"), "w"))
        wait_for(self.up, what="node_exporter to listen")

    def up(self):
        try:
            return "node_textfile_scrape_error" in scrape(self.port)
        except OSError:
            return False

    def scrape(self):
        return scrape(self.port)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_scrape(env, pred, what, timeout=20):
    """The first scrape pred holds for (v6trace writes every second)."""
    last = [""]

    def once():
        last[0] = env.scrape()
        return pred(last[0])

    try:
        wait_for(once, timeout=timeout, what=what)
    except RuntimeError:
        pass
    return last[0]


def test_metrics(res):
    procs = Procs()
    env = Env(procs)
    out = open(os.path.join(OUT, "v6trace.jsonl"), "w")
    err_path = os.path.join(OUT, "v6trace.err")
    p_v4, p_dual, p_v6, p_udp, p_hostile, p_ns = (free_port() for _ in range(6))
    ports = ",".join(map(str, (p_v4, p_dual, p_v6, p_udp, p_hostile, p_ns)))
    try:
        tracer = procs.start([V6TRACE, "--json", "--metrics-file", env.path,
                              "--metrics-interval", "1", "-P", ports], stdout=out,
                             stderr=open(err_path, "w"))
        wait_for(lambda: os.path.exists(env.path), what="the first metrics file")
        # (the file exists from the start; the listeners after it)
        time.sleep(0.5)
        v4 = listener(procs, "4", "tcp", "0.0.0.0", p_v4)
        dual = procs.start(["socat", f"TCP6-LISTEN:{p_dual},ipv6only=0,fork", "EXEC:/bin/cat"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        v6 = listener(procs, "6", "tcp", "::", p_v6, v6only=1)
        udp = procs.start(["socat", "-u", f"UDP4-RECVFROM:{p_udp},fork", "OPEN:/dev/null"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        wait_for(lambda: subprocess.run(["ss", "-Hltn", f"sport = :{p_dual}"],
                                        capture_output=True, text=True).stdout.strip(),
                 what="socat to listen")
        wait_for(lambda: subprocess.run(["ss", "-Hlun", f"sport = :{p_udp}"],
                                        capture_output=True, text=True).stdout.strip(),
                 what="socat to bind UDP")
        # a mapped accept: an IPv4 client of the dual-stack listener
        c = socket.create_connection(("127.0.0.1", p_dual), timeout=5)
        c.close()
        # a dual-stack bind on the port 0.0.0.0 holds: EADDRINUSE
        failed = subprocess.run([sys.executable, "-c", FAILED_BIND, str(p_v4)],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        res.check("the failed bind failed with EADDRINUSE", failed == "98", failed)

        want_listeners = {
            listener_series("tcp", p_v4, "v4", "0.0.0.0", v4.pid, "python3"): "1",
            listener_series("tcp", p_dual, "dual", "::", dual.pid, "socat"): "1",
            listener_series("tcp", p_v6, "v6", "::", v6.pid, "python3"): "1",
            listener_series("udp", p_udp, "v4", "0.0.0.0", udp.pid, "socat"): "1",
        }
        want_counters = {
            "v6trace_binds_total": {labels(result="ok", stack="v4"): "2",
                                    labels(result="ok", stack="dual"): "1",
                                    labels(result="ok", stack="v6"): "1",
                                    labels(result="EADDRINUSE", stack="dual"): "1"},
            "v6trace_listens_total": {labels(stack="v4"): "1", labels(stack="dual"): "1",
                                      labels(stack="v6"): "1", labels(stack="unknown"): "0"},
            "v6trace_accepts_total": {labels(mapped="true"): "1", labels(mapped="false"): "0"},
            "v6trace_connects_total": {labels(mapped="true"): "0", labels(mapped="false"): "0"},
            "v6trace_events_lost_total": {labels(where="ring_buffer"): "0",
                                          labels(where="output"): "0"},
            "v6trace_events_total": {"": "9"},
            "v6trace_netns_listed": {"": "1"},
            "node_textfile_scrape_error": {"": "0"},
        }

        def mine(text):
            got = series_of(text, "v6trace_listener_sockets")
            return {k: v for k, v in got.items()
                    if any(f'port="{p}"' in k for p in ports.split(","))}

        def all_there(text):
            return mine(text) == want_listeners and all(
                series_of(text, name) == want for name, want in want_counters.items())

        text = wait_scrape(env, all_there, "every series")
        res.check("node_exporter serves each listener: port, proto, stack, address, pid, comm "
                  "(python3 0.0.0.0 v4, socat [::] dual, python3 [::] v6-only, socat UDP v4)",
                  mine(text) == want_listeners, f"got {mine(text)}, want {want_listeners}")
        for name, want in want_counters.items():
            got = series_of(text, name)
            res.check(f"{name}: exactly {want}", got == want, f"got {got}")
        build = series_of(text, "v6trace_build_info")
        res.check("v6trace_build_info: the version and the attach mode",
                  list(build.values()) == ["1"] and 'mode="tracepoint"' in list(build)[0]
                  and 'version="' in list(build)[0], build)
        mtime = series_of(text, "node_textfile_mtime_seconds")
        res.check("node_exporter read v6trace's file (node_textfile_mtime_seconds)",
                  list(mtime) == [f'{{file="{env.path}"}}'], mtime)

        if PROMTOOL:
            with open(env.path, "rb") as f:
                p = subprocess.run([PROMTOOL, "check", "metrics"], stdin=f, capture_output=True,
                                   timeout=30)
            res.check("promtool check metrics: no problem", p.returncode == 0 and not p.stdout
                      and not p.stderr, (p.stdout + p.stderr).decode()[-500:])
        else:
            print("skip   promtool check metrics: promtool is not installed "
                  "(Debian package prometheus)")

        # the gauge is true: a listener that closed leaves it
        gone = listener_series("tcp", p_v6, "v6", "::", v6.pid, "python3")
        procs.stop(v6)
        text = wait_scrape(env, lambda t: gone not in mine(t), "the closed listener to go")
        res.check("a listener that closed leaves the gauge at the next write",
                  gone not in mine(text) and len(mine(text)) == 3, mine(text))

        # a hostile name: a quote, a backslash, "\n" as two characters, a newline, invalid UTF-8
        name = b'q"b\\n\nx\xff'
        hostile = listener(procs, "4", "tcp", "0.0.0.0", p_hostile, name=name)
        # the label value is the comm as the text output writes it (\xHH for
        # other bytes), escaped as the format wants; node_exporter re-escapes it alike
        want_comm = 'q\\"b\\\\\\\\n\\\\x0ax\\\\xff'
        want = listener_series("tcp", p_hostile, "v4", "0.0.0.0", hostile.pid, want_comm)
        text = wait_scrape(env, lambda t: want in mine(t), "the hostile name")
        res.check("a hostile comm (quote, backslash, newline, invalid UTF-8) is one escaped label "
                  "value, and node_exporter parses the file (node_textfile_scrape_error 0)",
                  mine(text).get(want) == "1"
                  and series_of(text, "node_textfile_scrape_error") == {"": "0"},
                  f"{[k for k in mine(text) if str(p_hostile) in k]}, "
                  f"{series_of(text, 'node_textfile_scrape_error')}")
        with open(env.path, "rb") as f:
            raw = f.read()
        res.check("the file itself is printable ASCII, one series per line",
                  all(32 <= b < 127 or b == 10 for b in raw), raw[:200])

        # a listener in a network namespace of its own (as a container's): listed
        # once a traced bind happened there, through the process that bound
        ns = listener(procs, "6", "tcp", "::", p_ns, wrap=("unshare", "-n"))
        ns_inode = os.stat(f"/proc/{ns.pid}/ns/net").st_ino
        want = listener_series("tcp", p_ns, "dual", "::", ns.pid, "python3", netns=ns_inode)
        text = wait_scrape(env, lambda t: want in mine(t), "the other namespace's listener")
        res.check("a listener in another network namespace (unshare -n) is in the gauge with its "
                  "namespace, once a traced bind happened there",
                  mine(text).get(want) == "1" and ns_inode != OWN_NETNS
                  and series_of(text, "v6trace_netns_listed") == {"": "2"},
                  f"{[k for k in mine(text) if str(p_ns) in k]}, "
                  f"{series_of(text, 'v6trace_netns_listed')}")
        procs.stop(ns)
        text = wait_scrape(env, lambda t: want not in mine(t)
                           and series_of(t, "v6trace_netns_listed") == {"": "1"},
                           "the namespace to go")
        res.check("the namespace gone with its process: its listener leaves the gauge, the "
                  "namespace is no longer listed, and the listing has not failed",
                  want not in mine(text) and series_of(text, "v6trace_netns_listed") == {"": "1"}
                  and series_of(text, "v6trace_listings_failed_total") == {"": "0"},
                  f"{[k for k in mine(text) if str(p_ns) in k]}, "
                  f"{series_of(text, 'v6trace_netns_listed')}, "
                  f"{series_of(text, 'v6trace_listings_failed_total')}")

        # the cap: more listeners than series allowed
        many = procs.start([sys.executable, "-c", MANY, str(CAP + 50)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)
        res.check("the cap's workload bound its sockets", many.stdout.readline() == b"ready\n")

        def capped(t):
            return len(series_of(t, "v6trace_listener_sockets")) == CAP and int(
                series_of(t, "v6trace_listeners_omitted").get("", "0")) >= 50

        text = wait_scrape(env, capped, "the cap")
        omitted = int(series_of(text, "v6trace_listeners_omitted").get("", "-1"))
        res.check(f"the series cap: exactly {CAP} listener series, the {CAP + 50} sockets of one "
                  "process and the host's others counted in v6trace_listeners_omitted",
                  capped(text) and series_of(text, "node_textfile_scrape_error") == {"": "0"},
                  f"{len(series_of(text, 'v6trace_listener_sockets'))} series, "
                  f"omitted {omitted}")
        many.stdin.close()
        procs.stop(many)

        # the last write, at exit: the counters are the summary's
        procs.stop(tracer)
        out.close()
        recs = [json.loads(l) for l in open(os.path.join(OUT, "v6trace.jsonl"))]
        summary = [r for r in recs if r["event"] == "summary"]
        with open(env.path) as f:
            final = f.read()
        res.check("at exit the file is written once more: its events are the summary's (the 9 "
                  "above, the hostile and the namespace's listeners' binds and listens)",
                  tracer.returncode == 0 and summary
                  and series_of(final, "v6trace_events_total") == {
                      "": str(summary[0]["events"])} and summary[0]["events"] == 13,
                  f"rc {tracer.returncode}, {series_of(final, 'v6trace_events_total')}, "
                  f"{summary[0]['events'] if summary else None}, the events: "
                  f"{[(r['event'], r.get('pid'), r.get('comm'), r.get('port')) for r in recs]}")
        res.check("nothing on stderr but the banner",
                  said(open(err_path).read()) == [],
                  open(err_path).read()[-500:])
        res.check("no temporary file left in the textfile directory",
                  sorted(os.listdir(env.dir)) == ["v6trace.prom"], os.listdir(env.dir))
    finally:
        procs.stop_all()
        env.cleanup()
        if not out.closed:
            out.close()


def http_get(port, path="/metrics", method="GET", timeout=5):
    """(status, headers, body) of one request to v6trace's endpoint."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def server_of(tracer_pid):
    """The pid of the tracer's HTTP server (its child named v6trace-http), or None."""
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        if comm == "v6trace-http" and int(st[st.rindex(")") + 2:].split()[1]) == tracer_pid:
            return int(pid)
    return None


class Prometheus:
    """Debian's Prometheus server, as the prometheus user, scraping one target every second."""

    def __init__(self, procs, target):
        self.dir = tempfile.mkdtemp(prefix="v6t-prometheus-")
        prom = pwd.getpwnam("prometheus")
        os.chown(self.dir, prom.pw_uid, prom.pw_gid)
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: v6trace\n    static_configs:\n"
                    f"      - targets: ['{target}']\n")
        self.port = free_port()

        def as_prometheus():
            os.setgid(prom.pw_gid)
            os.setgroups([])
            os.setuid(prom.pw_uid)

        self.proc = procs.start(
            [PROMETHEUS, f"--config.file={conf}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            preexec_fn=as_prometheus, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(OUT, "prometheus.log"), "w"))

    def query(self, expr):
        """The instant vector's [(labels, value)], or None while Prometheus is not up."""
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expr}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                data = json.load(r)
        except (OSError, ValueError):
            return None
        return [(v["metric"], v["value"][1]) for v in data["data"]["result"]]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def test_http(res):
    procs = Procs()
    d = tempfile.mkdtemp(prefix="v6t-http-", dir=OUT)
    os.chmod(d, 0o755)
    path = os.path.join(d, "v6trace.prom")
    http_port, p_dual, p_later = free_port(), free_port(), free_port()
    prom = None
    out_path = os.path.join(OUT, "http.jsonl")
    err_path = os.path.join(OUT, "http.err")
    try:
        tracer = procs.start([V6TRACE, "--json", "--metrics-listen", f"127.0.0.1:{http_port}",
                              "--metrics-file", path, "--metrics-interval", "1",
                              "-P", f"{p_dual},{p_later}"],
                             stdout=open(out_path, "w"), stderr=open(err_path, "w"))
        wait_for(lambda: os.path.exists(path), what="the first metrics file")
        dual = listener(procs, "6", "tcp", "::", p_dual)

        status, headers, body = http_get(http_port)
        res.check("GET /metrics: 200, the Prometheus text format's content type",
                  status == 200 and headers.get("Content-Type")
                  == "text/plain; version=0.0.4; charset=utf-8"
                  and "v6trace_build_info" in body, f"{status} {headers}")

        def same():
            with open(path) as f:
                before = f.read()
            got = http_get(http_port)[2]
            with open(path) as f:
                after = f.read()
            return before == after == got and f'port="{p_dual}",stack="dual"' in got

        try:
            alike = wait_for(same, what="the same exposition")
        except RuntimeError:
            alike = False
        res.check("the endpoint serves what the file holds, byte for byte (one exposition, "
                  "written for both), the dual-stack listener in it", alike, "")

        # Debian's Prometheus server scrapes it
        prom = Prometheus(procs, f"127.0.0.1:{http_port}")
        q = f'v6trace_listener_sockets{{port="{p_dual}",stack="dual",comm="python3"}}'

        def scraped():
            up, got = prom.query('up{job="v6trace"}'), prom.query(q)
            return up and got and up[0][1] == "1" and got[0][1] == "1" and (up, got)

        try:
            up, got = wait_for(scraped, timeout=60, what="Prometheus to scrape v6trace")
        except RuntimeError:
            up, got = prom.query('up{job="v6trace"}'), prom.query(q)
        res.check("a real Prometheus server scrapes the endpoint: up 1, and the dual-stack "
                  "listener's series with its pid",
                  bool(up) and up[0][1] == "1" and bool(got) and got[0][1] == "1"
                  and got[0][0].get("pid") == str(dual.pid)
                  and got[0][0].get("address") == "::", f"up {up}, {got}")

        status, _, _ = http_get(http_port, "/")
        res.check("another path: 404", status == 404, status)
        status, _, _ = http_get(http_port, method="POST")
        res.check("a POST: refused (501)", status == 501, status)
        status, headers, body = http_get(http_port, method="HEAD")
        res.check("a HEAD: 200 and no body", status == 200 and body == "", f"{status} {body!r}")

        server = server_of(tracer.pid)
        with open(f"/proc/{server}/status") as f:
            st = dict(l.split(":\t", 1) for l in f.read().splitlines() if ":\t" in l)
        fds = [os.readlink(f"/proc/{server}/fd/{n}") for n in os.listdir(f"/proc/{server}/fd")]
        res.check("the server is a process of its own, without capabilities, with "
                  "no_new_privs, and holds no BPF descriptor (no program, map or link)",
                  server and st.get("CapEff", "").strip() == "0" * 16
                  and st.get("CapPrm", "").strip() == "0" * 16
                  and st.get("NoNewPrivs", "").strip() == "1"
                  and not any("bpf" in f for f in fds), f"{server} {st.get('CapEff')} {fds}")

        # a hostile local user: 300 connections that never send a request, and one that
        # sends half a request; the tracer goes on, and once they go, scrapes are served
        idle = []
        for _ in range(300):
            c = socket.socket()
            c.settimeout(2)
            try:
                c.connect(("127.0.0.1", http_port))
            except OSError:
                c.close()
                break
            idle.append(c)
        idle[0].sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        server_fds = len(os.listdir(f"/proc/{server}/fd"))
        later = listener(procs, "4", "tcp", "0.0.0.0", p_later)

        def reported():
            with open(out_path) as f:
                return [json.loads(l) for l in f
                        if '"bind"' in l and json.loads(l).get("pid") == later.pid]

        try:
            binds = wait_for(reported, what="the bind during the flood")
        except RuntimeError:
            binds = []
        res.check(f"{len(idle)} idle connections made of 300 tried: the server holds at most "
                  f"its cap (64 connections, 80 descriptors: {server_fds}), the rest wait in "
                  "the listen queue or time out; the tracer still reports a bind meanwhile",
                  64 < len(idle) < 300 and server_fds <= 80 and len(binds) == 1
                  and binds[0]["port"] == p_later,
                  f"{len(idle)} connections, {server_fds} descriptors, {binds}")
        t0 = time.monotonic()
        try:
            idle[1].settimeout(30)
            closed = idle[1].recv(1) == b""
        except OSError as e:
            closed = isinstance(e, ConnectionResetError)
        waited = time.monotonic() - t0
        res.check("an idle connection is closed by the server after its timeout (10 s)",
                  closed and waited < 25, f"closed {closed} after {waited:.1f} s")
        for c in idle:
            c.close()
        status = wait_for(lambda: http_get(http_port)[0] == 200, timeout=20,
                          what="a scrape after the flood")
        res.check("once they are gone, a scrape is served", status, "")

        procs.stop(tracer, signal.SIGINT)
        res.check("SIGINT: the tracer ends with 0, its server with it, the port closed",
                  tracer.returncode == 0 and server_of(tracer.pid) is None
                  and not os.path.exists(f"/proc/{server}")
                  and subprocess.run(["ss", "-Hltn", f"sport = :{http_port}"],
                                     capture_output=True, text=True).stdout.strip() == "",
                  f"rc {tracer.returncode}")
        with open(err_path) as f:
            err = f.read()
        res.check("nothing on stderr but the banner", said(err) == [], err[-500:])

        # the tracer killed: the server goes with it (its parent-death signal)
        tracer = procs.start([V6TRACE, "--metrics-listen", f"[::1]:{http_port}", "-P",
                              str(p_dual)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        server = wait_for(lambda: server_of(tracer.pid), what="the second server")
        wait_for(lambda: http_get_v6(http_port) == 200, what="a scrape over [::1]")
        tracer.kill()
        tracer.wait()
        gone = wait_for(lambda: not os.path.exists(f"/proc/{server}/stat")
                        or open(f"/proc/{server}/stat").read().split(") ")[1][0] == "Z",
                        timeout=5, what="the server to go")
        res.check("[::1]:PORT serves over IPv6; the tracer killed (SIGKILL), the server dies "
                  "with it", gone, "")
    finally:
        procs.stop_all()
        if prom:
            prom.cleanup()
        shutil.rmtree(d, ignore_errors=True)


def http_get_v6(port):
    try:
        with urllib.request.urlopen(f"http://[::1]:{port}/metrics", timeout=5) as r:
            return r.status
    except OSError:
        return None


def test_bad_listen(res):
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    taken = held.getsockname()[1]
    for spec, why in (("9477", "invalid --metrics-listen"), ("localhost:9477",
                                                            "invalid --metrics-listen"),
                      ("127.0.0.1:0", "invalid --metrics-listen"),
                      ("127.0.0.1:65536", "invalid --metrics-listen"),
                      ("[::1:9477", "invalid --metrics-listen"),
                      ("::1:9477", "invalid --metrics-listen"),
                      ("192.0.2.1:9477", "Cannot assign requested address"),
                      (f"127.0.0.1:{taken}", "Address already in use")):
        p = subprocess.run([V6TRACE, "--metrics-listen", spec, "--", "true"],
                           capture_output=True, text=True, timeout=60)
        lines = said(p.stderr)
        res.check(f"--metrics-listen {spec}: one line saying why, exit 1",
                  p.returncode == 1 and len(lines) == 1 and why in lines[0],
                  f"rc {p.returncode}, {p.stderr!r}")
    held.close()


def test_bad_paths(res):
    d = tempfile.mkdtemp(prefix="v6t-badpath-", dir=OUT)
    nobody = pwd.getpwnam("nobody")
    theirs = os.path.join(d, "theirs")
    os.mkdir(theirs, 0o755)
    os.chown(theirs, nobody.pw_uid, nobody.pw_gid)
    cases = (
        (os.path.join(d, "none", "v6trace.prom"), "No such file or directory", "a directory "
         "that does not exist"),
        (d, "is a directory", "a directory as the file"),
        (os.path.join(d, "file.prom", "x.prom"), "is not a directory", "a file as the directory"),
        # root without CAP_DAC_OVERRIDE (dropped once attached) cannot write there
        (os.path.join(theirs, "v6trace.prom"), "Permission denied", "another user's directory "
         "(v6trace writes without its capabilities)"),
    )
    open(os.path.join(d, "file.prom"), "w").close()
    for path, why, what in cases:
        p = subprocess.run([V6TRACE, "--metrics-file", path, "--", "true"], capture_output=True,
                           text=True, timeout=60)
        lines = said(p.stderr)
        res.check(f"--metrics-file in {what}: one line naming it, exit 1",
                  p.returncode == 1 and len(lines) == 1 and why in lines[0] and path in lines[0],
                  f"rc {p.returncode}, {p.stderr!r}")
    p = subprocess.run([V6TRACE, "--metrics-interval", "5", "--", "true"], capture_output=True,
                       text=True, timeout=30)
    res.check("--metrics-interval without --metrics-file: a usage error",
              p.returncode == 2 and "needs --metrics-file" in p.stderr, p.stderr)
    p = subprocess.run([V6TRACE, "--metrics-file", os.path.join(d, "x.prom"),
                        "--metrics-interval", "0", "--", "true"], capture_output=True, text=True,
                       timeout=30)
    res.check("--metrics-interval 0: a usage error", p.returncode == 2
              and "invalid --metrics-interval" in p.stderr, p.stderr)
    shutil.rmtree(d, ignore_errors=True)


def main():
    if not os.access(NODE_EXPORTER, os.X_OK):
        print("FAILED metrics tests: prometheus-node-exporter is not installed "
              "(tools/install-deps)")
        print("0 passed, 1 failed")
        return 1
    tests = [test_metrics, test_bad_paths, test_bad_listen]
    if os.access(PROMETHEUS, os.X_OK):
        tests.append(test_http)
    else:
        print("FAILED metrics tests: prometheus is not installed (tools/install-deps)")
        return 1
    return check.run_suite("metrics tests", "metrics: ", tests, outdir=OUT)


if __name__ == "__main__":
    sys.exit(main())
