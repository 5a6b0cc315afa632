#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The deploy report and its gate, with real restarts on the host, as root.

Each case starts servers before tracing (the "before"), runs a deploy under
`v6trace -- sh -c DEPLOY` and holds the report (text and JSON) against what
the deploy did:

- a dual-stack [::] listener restarted v6-only: "lost IPv4", and
  --fail-on-lost exits 3; with --ignore on that port, or --watch of another,
  the gate passes; a failing deploy's own status wins over the gate;
- 0.0.0.0 moved to [::] dual: "gained IPv6", the gate passes;
- a listener restarted unchanged (same program, same stack, a new pid): no
  change;
- a reload that hands the listening socket to a new process: "owner", the
  service unchanged;
- an SO_REUSEPORT group that loses one of its two sockets: one "gone", no
  service lost;
- a listener outside the run, untouched: not in the report;
- nginx from Debian's package, restarted from `listen P; listen [::]:P;`
  (IPv4 and IPv6 through two sockets) to `listen [::]:P ipv6only=on;`: lost
  IPv4, the daemonized master followed after the deploy script returned.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.path.join(ROOT, "v6trace")
PY = "/usr/bin/python3"
EXIT_LOST = 3

# a listener: family (4/6), address, v6only, port, reuseport, and a pidfile
SERVER = r"""
import os, signal, socket, sys, time
fam, addr, v6only, port, reuse, pidfile = sys.argv[1:7]
s = socket.socket(socket.AF_INET6 if fam == "6" else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if reuse == "1":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
if fam == "6":
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
s.bind((addr, int(port)))
s.listen(8)
if len(sys.argv) > 7:  # hand the socket to a successor, as a reload does
    s.set_inheritable(True)
    pid = os.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)"])
    with open(sys.argv[7], "w") as f:
        f.write(str(pid))
with open(pidfile, "w") as f:
    f.write(str(os.getpid()))
time.sleep(60)
"""


class Servers:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def start(self, name, fam, addr, v6only, port, reuse=False, successor=False):
        pidfile = os.path.join(self.tmp, name + ".pid")
        args = [PY, "-c", SERVER, fam, addr, str(v6only), str(port), "1" if reuse else "0",
                pidfile] + ([os.path.join(self.tmp, name + ".successor")] if successor else [])
        self.procs.append(subprocess.Popen(args))
        for _ in range(200):
            if os.path.exists(pidfile):
                return
            time.sleep(0.02)
        raise RuntimeError(f"server {name} did not start")

    def cmd(self, name, fam, addr, v6only, port, reuse=False):
        """The shell command a deploy runs to start one (it outlives the deploy)."""
        pidfile = os.path.join(self.tmp, name + ".pid")
        return (f"({PY} -c '{SERVER}' {fam} {addr} {v6only} {port} {1 if reuse else 0} "
                f"{pidfile} >/dev/null 2>&1 &); while [ ! -s {pidfile} ]; do sleep 0.02; done")

    def kill(self, name):
        return f"kill $(cat {os.path.join(self.tmp, name + '.pid')}); sleep 0.2"

    def stop(self):
        for f in os.listdir(self.tmp):
            if f.endswith(".pid") or f.endswith(".successor"):
                try:
                    os.kill(int(open(os.path.join(self.tmp, f)).read()), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        for p in self.procs:
            p.kill()
            p.wait()


def deploy(args, script, timeout=60):
    """v6trace --json ARGS -- sh -c SCRIPT, and v6trace ARGS (text) likewise? One run:
    JSON records and the exit status."""
    p = subprocess.run([V6TRACE, "--json", *args, "--", "sh", "-c", script], capture_output=True,
                       timeout=timeout)
    recs = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return p.returncode, recs, p.stderr.decode("utf-8", "replace")


def changes(recs, port):
    return sorted((r["kind"], r["served_before"], r["served_after"]) for r in recs
                  if r.get("event") == "change" and r["port"] == port)


def report_of(recs):
    return next((r for r in recs if r.get("event") == "report"), {})


def valid(recs):
    return not [e for r in recs for e in check.schema_errors(r)]


def test_lost_ipv4_and_gate(res):
    port = 24601
    with tempfile.TemporaryDirectory() as tmp:
        s = Servers(tmp)
        try:
            s.start("a", "6", "::", 0, port)
            script = s.kill("a") + "; " + s.cmd("a", "6", "::", 1, port)
            rc, recs, _ = deploy(["--fail-on-lost"], script)
            got = changes(recs, port)
            res.check("dual [::] restarted v6-only: lost IPv4 and the stack change, worst "
                      "first; --fail-on-lost exits 3; every record valid",
                      rc == EXIT_LOST and got == [("lost", "dual", "v6"), ("stack", "dual", "v6")]
                      and [r["kind"] for r in recs if r.get("event") == "change"
                           and r["port"] == port][0] == "lost"
                      and report_of(recs).get("gate") == "failed" and valid(recs),
                      f"rc {rc}, {got}, report {report_of(recs)}")
            # the other way round, then the same deploy with the port ignored or unwatched
            s.procs.append(subprocess.Popen(["sh", "-c", s.kill("a")]))
            time.sleep(0.4)
            s.start("a", "6", "::", 0, port)
            for args, what in ((["--fail-on-lost", "--ignore", str(port)], "--ignore P"),
                               (["--fail-on-lost", "--watch", "1"], "--watch of another port")):
                script = s.kill("a") + "; " + s.cmd("a", "6", "::", 1, port)
                rc, recs, _ = deploy(args, script)
                res.check(f"the same loss with {what}: not reported, the gate passes",
                          rc == 0 and not changes(recs, port)
                          and report_of(recs).get("gate") == "passed", f"rc {rc}")
                s.procs.append(subprocess.Popen(["sh", "-c", s.kill("a")]))
                time.sleep(0.4)
                s.start("a", "6", "::", 0, port)
            script = s.kill("a") + "; " + s.cmd("a", "6", "::", 1, port) + "; exit 7"
            rc, recs, _ = deploy(["--fail-on-lost"], script)
            res.check("a deploy that fails itself: its status (7) wins over the gate",
                      rc == 7 and report_of(recs).get("lost") == 1, f"rc {rc}")
        finally:
            s.stop()


def test_gained_ipv6(res):
    port = 24602
    with tempfile.TemporaryDirectory() as tmp:
        s = Servers(tmp)
        try:
            s.start("a", "4", "0.0.0.0", 0, port)
            script = s.kill("a") + "; " + s.cmd("a", "6", "::", 0, port)
            rc, recs, _ = deploy(["--fail-on-lost"], script)
            got = changes(recs, port)
            res.check("0.0.0.0 moved to [::] dual: gained IPv6 (a listener gone, a new one); "
                      "the gate passes",
                      rc == 0 and got == sorted([("gained", "v4", "dual"), ("gone", "v4", "dual"),
                                                 ("new", "v4", "dual")])
                      and report_of(recs).get("gate") == "passed", f"rc {rc}, {got}")
        finally:
            s.stop()


def test_restart_unchanged(res):
    port = 24603
    with tempfile.TemporaryDirectory() as tmp:
        s = Servers(tmp)
        try:
            s.start("a", "6", "::", 0, port)
            script = s.kill("a") + "; " + s.cmd("a", "6", "::", 0, port)
            rc, recs, err = deploy([], script)
            res.check("a listener restarted unchanged (same program, stack, a new pid): no change",
                      rc == 0 and not changes(recs, port), f"rc {rc}, {changes(recs, port)}")
        finally:
            s.stop()


def test_reload_hands_socket(res):
    port = 24604
    with tempfile.TemporaryDirectory() as tmp:
        s = Servers(tmp)
        try:
            s.start("a", "6", "::", 0, port, successor=True)
            rc, recs, _ = deploy([], s.kill("a"))
            ch = [r for r in recs if r.get("event") == "change" and r["port"] == port]
            res.check("a reload that hands the socket to a new process: owner changed (the same "
                      "inode), the service unchanged",
                      rc == 0 and [(r["kind"], r["served_before"], r["served_after"]) for r in ch]
                      == [("owner", "dual", "dual")]
                      and ch[0]["before"]["inode"] == ch[0]["after"]["inode"]
                      and ch[0]["before"]["pid"] != ch[0]["after"]["pid"], ch)
        finally:
            s.stop()


def test_reuseport_and_outsider(res):
    port, outside = 24605, 24606
    with tempfile.TemporaryDirectory() as tmp:
        s = Servers(tmp)
        try:
            s.start("a", "6", "::", 0, port, reuse=True)
            s.start("b", "6", "::", 0, port, reuse=True)
            s.start("c", "4", "0.0.0.0", 0, outside)
            rc, recs, _ = deploy([], s.kill("b"))
            res.check("an SO_REUSEPORT group loses one of two: one listener gone, no service "
                      "lost; the untouched listener outside the run is not in the report",
                      rc == 0 and changes(recs, port) == [("gone", "dual", "dual")]
                      and not changes(recs, outside), changes(recs, port))
        finally:
            s.stop()


def test_text_report(res):
    port = 24607
    with tempfile.TemporaryDirectory() as tmp:
        s = Servers(tmp)
        try:
            s.start("a", "6", "::", 0, port)
            script = s.kill("a") + "; " + s.cmd("a", "6", "::", 1, port)
            p = subprocess.run([V6TRACE, "--", "sh", "-c", script], capture_output=True,
                               timeout=60)
            err = p.stderr.decode()
            want = f"v6trace:   LOST   IPv4 on {port}/tcp (dual -> v6), by command (python3 "
            lines = err.splitlines()
            res.check("text: the report block on stderr, the loss first (made by COMMAND's new "
                      "server: it counts), then a total line and how many losses count",
                      p.returncode == 0
                      and any(l.startswith(want) and l.endswith("): counts") for l in lines)
                      and any(l.startswith("v6trace: deploy report: 1 port(s) lost service")
                              for l in lines)
                      and "v6trace: deploy report: 1 of the 1 loss(es) count for the gate"
                      in lines, err[-600:])
        finally:
            s.stop()


NGINX_CONF = """
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        {listen}
        root /var/www/html;
    }}
}}
"""


def test_nginx_ipv6only(res):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        print("skip   nginx: not installed")
        return
    port = 24608
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        before, after = os.path.join(tmp, "before.conf"), os.path.join(tmp, "after.conf")
        with open(before, "w") as f:
            f.write(NGINX_CONF.format(tmp=tmp, listen=f"listen {port}; listen [::]:{port};"))
        with open(after, "w") as f:
            f.write(NGINX_CONF.format(tmp=tmp, listen=f"listen [::]:{port} ipv6only=on;"))
        try:
            subprocess.run([nginx, "-c", before], check=True, capture_output=True, timeout=30)
            time.sleep(0.5)
            # the deploy: stop, start with the new configuration (nginx daemonizes)
            script = (f"{nginx} -c {before} -s stop; while [ -e {tmp}/nginx.pid ]; do sleep 0.05;"
                      f" done; {nginx} -c {after}")
            rc, recs, err = deploy(["--fail-on-lost", "--as-root"], script)
            got = changes(recs, port)
            res.check("nginx restarted from 'listen P; listen [::]:P;' to 'listen [::]:P "
                      "ipv6only=on;': lost IPv4, the 0.0.0.0 listener gone, the gate exits 3",
                      rc == EXIT_LOST and ("lost", "dual", "v6") in got
                      and ("gone", "dual", "v6") in got and valid(recs), f"rc {rc}, {got}, {err[-300:]}")
        finally:
            subprocess.run([nginx, "-c", after, "-s", "stop"], capture_output=True, timeout=30)
            subprocess.run([nginx, "-c", before, "-s", "stop"], capture_output=True, timeout=30)


def main():
    return check.run_suite("report tests", "report: ",
                           [test_lost_ipv4_and_gate, test_gained_ipv6, test_restart_unchanged,
                            test_reload_hands_socket, test_reuseport_and_outsider,
                            test_text_report, test_nginx_ipv6only])


if __name__ == "__main__":
    sys.exit(main())
