#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Containers named: real Docker, Podman and containerd (Debian 12's packages)
run a container of an image built here (`docker import` / `podman import` /
`ctr images import` of a root file system assembled from busybox-static and
Debian's socat), whose socat processes bind [::] dual-stack, [::] v6-only and
0.0.0.0; an IPv4 client's accept on the dual-stack socket is mapped.

Judged on the records, as tests/daemons.py does:
- every event of the container's processes carries its id and its names
  (container_name, container_image, container_runtime; for containerd, the
  pod's names from the CRI annotations ctr was given and the pod uid from
  the kubepods cgroup path), with the right stack per bind and the mapped
  accept; every record valid against doc/v6trace.schema.json;
- `--snapshot --netns` of the container lists its listeners, named (JSON,
  and container=NAME in text);
- `--container NAME`, by the full id and by 12 hex digits, started after the
  container (in the kernel, through its cgroup: stderr says so) and before it
  (in user space) keep its events and leave out a host process's bind; a
  name that matches nothing keeps nothing; for containerd `--pod NS/NAME`
  and another pod's name alike.

The suite starts dockerd and containerd itself if none runs (and stops them),
uses the runtimes' default stores (where v6trace reads names from) and
removes the containers and images it made. A runtime that cannot run here is
reported as `skip   RUNTIME: reason`. As root.
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
OUT = os.path.join(ROOT, "tests", ".out", "containers")
TAG = f"v6tn-{os.getpid()}"
PORTS = {8081: "dual", 8082: "v6", 8083: "v4"}
LATE_PORT = 8084  # bound by `exec` once the filtered tracers run
HOST_PORT = 24100 + os.getpid() % 500  # a host process's bind: no container's
SERVE = ("socat TCP6-LISTEN:8081,fork,reuseaddr,ipv6only=0 EXEC:/bin/cat & "
         "socat TCP6-LISTEN:8082,fork,reuseaddr,ipv6only=1 EXEC:/bin/cat & "
         "exec socat TCP4-LISTEN:8083,fork,reuseaddr EXEC:/bin/cat")
LATE = f"socat TCP6-LISTEN:{LATE_PORT},fork,reuseaddr EXEC:/bin/cat"
POD_UID = "5e6f7a8b-3333-4333-8333-0000000000aa"


class Skip(Exception):
    """This runtime cannot run here; the message says why."""


def run(cmd, timeout=60, env=None, check_rc=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check_rc and p.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    return p


def build_rootfs(tmp):
    """busybox-static and Debian's socat with the libraries ldd names, as a tarball."""
    rootfs = os.path.join(tmp, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    os.makedirs(os.path.join(rootfs, "tmp"))
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy(busybox, os.path.join(rootfs, "bin", "busybox"))
    for applet in ("sh", "cat", "sleep", "ls"):
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    socat = shutil.which("socat")
    if not socat:
        raise Skip("socat is not installed")
    files = [socat]
    for line in run(["ldd", socat]).stdout.splitlines():
        for word in line.split():
            if word.startswith("/"):
                files.append(word)
    for f in files:
        dest = os.path.join(rootfs, f.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(f, dest)
    # socat by its bare name in sh -c: /bin is on the image's PATH too
    os.symlink(socat, os.path.join(rootfs, "bin", "socat"))
    tarball = os.path.join(tmp, "rootfs.tar")
    run(["tar", "-C", rootfs, "-cf", tarball, "."])
    return tarball


def stop(proc, sig, timeout):
    """sig, then SIGKILL after timeout seconds; a process already gone is left alone."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Tracer:
    """v6trace --json ARGS in the background, its records in a file."""

    def __init__(self, label, args):
        self.label = label
        self.stem = os.path.join(OUT, f"{TAG}.{label}")
        self.err = open(f"{self.stem}.err", "w")
        self.proc = subprocess.Popen([V6TRACE, "--json", "-o", f"{self.stem}.json"] + args,
                                     stdout=subprocess.DEVNULL, stderr=self.err)

    def wait_started(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            if "tracing with" in self.stderr() or self.proc.poll() is not None:
                break
            time.sleep(0.1)
        time.sleep(0.3)  # the first records go out once the privileges are dropped

    def stderr(self):
        with open(f"{self.stem}.err") as f:
            return f.read()

    def stop(self):
        stop(self.proc, signal.SIGINT, 15)
        self.err.close()

    def records(self):
        out = []
        for raw in check.read_lines(f"{self.stem}.json"):
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"unparsable": raw[:80].decode(errors="replace")})
        return out


def wait_listening(pid, ports, timeout=15):
    """Until the network namespace of pid has TCP listeners on every port."""
    deadline = time.time() + timeout
    seen = set()
    while time.time() < deadline:
        out = run(["nsenter", "-t", str(pid), "-n", "ss", "-Hltn"], check_rc=False).stdout
        seen = {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines()
                if len(line.split()) > 3}
        if set(ports) <= seen:
            return True
        time.sleep(0.2)
    return False


def ipv4_client(ip, port):
    """A host client over IPv4 (the peer the container's dual socket sees mapped)."""
    with socket.create_connection((ip, port), timeout=5) as s:
        s.sendall(b"v6trace\n")
        return s.recv(64) == b"v6trace\n"


def host_bind():
    """A host process's bind and listen on [::]: no container's, so no --container keeps it."""
    run(["/usr/bin/python3", "-c",
         "import socket,time\ns=socket.socket(socket.AF_INET6)\n"
         f"s.bind(('::',{HOST_PORT}))\ns.listen()\ntime.sleep(0.3)"])


class Runtime:
    name = "?"
    expect = {}  # the names each event of the container carries

    def __init__(self, tmp, tarball):
        self.tmp = tmp
        self.tarball = tarball
        self.started = []  # daemons this suite started
        self.cid = self.pid = self.ip = None
        self.cname = f"{TAG}-{self.name}"

    def start_daemon(self, command, probe):
        """The runtime's daemon, unless one answers probe already; Skip if it does not start."""
        if run(probe, check_rc=False).returncode == 0:
            return
        log = open(os.path.join(OUT, f"{TAG}.{command}.log"), "w")
        self.started.append(subprocess.Popen([command], stdout=log, stderr=log))
        deadline = time.time() + 30
        while run(probe, check_rc=False).returncode:
            if time.time() > deadline or self.started[-1].poll() is not None:
                raise Skip(f"{command} does not start (tests/.out/containers/{TAG}.{command}.log)")
            time.sleep(0.5)

    def stop_daemons(self):
        for p in self.started:
            stop(p, signal.SIGTERM, 20)


class Docker(Runtime):
    name = "docker"

    def setup(self):
        if not shutil.which("docker") or not shutil.which("dockerd"):
            raise Skip("docker.io is not installed (tools/install-deps)")
        self.start_daemon("dockerd", ["docker", "info"])
        self.image = f"{TAG}:1"
        run(["docker", "import", self.tarball, self.image])
        self.expect = {"container_name": self.cname, "container_image": self.image,
                       "container_runtime": "docker", "pod_name": None,
                       "pod_namespace": None, "pod_uid": None, "pod_container": None}

    def start(self):
        self.cid = run(["docker", "run", "-d", "--name", self.cname, self.image, "sh", "-c",
                        SERVE]).stdout.strip()
        info = json.loads(run(["docker", "inspect", self.cid]).stdout)[0]
        self.pid = info["State"]["Pid"]
        self.ip = info["NetworkSettings"]["IPAddress"]

    def exec_late(self):
        run(["docker", "exec", "-d", self.cid, "sh", "-c", LATE])

    def client(self, port):
        return ipv4_client(self.ip, port)

    def cleanup(self):
        run(["docker", "rm", "-f", self.cname], check_rc=False)
        run(["docker", "rmi", "-f", getattr(self, "image", TAG)], check_rc=False)
        self.stop_daemons()


class Podman(Runtime):
    name = "podman"

    def setup(self):
        if not shutil.which("podman"):
            raise Skip("podman is not installed")
        conf = os.path.join(self.tmp, "containers.conf")
        with open(conf, "w") as f:  # PLATFORM.md: crun and default ulimits fail here
            f.write("[containers]\ndefault_ulimits = []\n")
        self.env = dict(os.environ, CONTAINERS_CONF=conf)
        self.base = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs",
                     "--events-backend", "none"]
        self.image = f"localhost/{TAG}:1"
        self.podman("import", self.tarball, self.image)
        self.expect = {"container_name": self.cname, "container_image": self.image,
                       "container_runtime": "podman", "pod_name": None,
                       "pod_namespace": None, "pod_uid": None, "pod_container": None}

    def podman(self, *args, check_rc=True):
        return run(self.base + list(args), env=self.env, check_rc=check_rc)

    def start(self):
        self.cid = self.podman("run", "-d", "--name", self.cname, self.image, "sh", "-c",
                               SERVE).stdout.strip().splitlines()[-1]
        info = json.loads(self.podman("inspect", self.cid).stdout)[0]
        self.pid = info["State"]["Pid"]
        self.ip = info["NetworkSettings"]["IPAddress"]

    def exec_late(self):
        self.podman("exec", "-d", self.cid, "sh", "-c", LATE)

    def client(self, port):
        return ipv4_client(self.ip, port)

    def cleanup(self):
        if hasattr(self, "base"):
            self.podman("rm", "-f", "-t", "0", self.cname, check_rc=False)
            self.podman("rmi", "-f", self.image, check_rc=False)


class Containerd(Runtime):
    """containerd's own `ctr`, with the annotations a kubelet's CRI plugin
    writes given by hand (no kubelet here) and a kubepods cgroup path: the
    bundle config.json is containerd's real one."""
    name = "containerd"
    NS = "k8s.io"

    def setup(self):
        if not shutil.which("containerd") or not shutil.which("ctr"):
            raise Skip("containerd is not installed")
        self.start_daemon("containerd", ["ctr", "version"])
        # ctr imports archives only: podman (a throw-away store) makes one of the tarball
        if not shutil.which("podman"):
            raise Skip("no way to make an image archive here (podman is not installed)")
        conf = os.path.join(self.tmp, "containers-ctr.conf")
        with open(conf, "w") as f:
            f.write("[containers]\ndefault_ulimits = []\n")
        env = dict(os.environ, CONTAINERS_CONF=conf)
        store = ["podman", "--root", os.path.join(self.tmp, "ctr-store"), "--runroot",
                 os.path.join(self.tmp, "ctr-run"), "--storage-driver", "vfs",
                 "--events-backend", "none"]
        self.image = f"docker.io/library/{TAG}:1"
        run(store + ["import", self.tarball, self.image], env=env)
        archive = os.path.join(self.tmp, "image.tar")
        run(store + ["save", "--format", "oci-archive", "-o", archive, self.image], env=env)
        run(store + ["system", "reset", "-f"], env=env, check_rc=False)
        run(["ctr", "-n", self.NS, "images", "import", "--base-name",
             f"docker.io/library/{TAG}", archive])
        self.cid = os.urandom(32).hex()
        self.cgroup = f"/kubepods/besteffort/pod{POD_UID}/{self.cid}"
        self.expect = {"container_name": None, "container_image": self.image,
                       "container_runtime": "containerd", "pod_name": f"{TAG}-pod",
                       "pod_namespace": "v6t-ns", "pod_uid": POD_UID, "pod_container": "srv"}

    def start(self):
        ann = {"io.kubernetes.cri.container-type": "container",
               "io.kubernetes.cri.sandbox-name": f"{TAG}-pod",
               "io.kubernetes.cri.sandbox-namespace": "v6t-ns",
               "io.kubernetes.cri.sandbox-uid": "ffffffff-0000-4000-8000-000000000000",
               "io.kubernetes.cri.container-name": "srv",
               "io.kubernetes.cri.image-name": self.image}
        args = ["ctr", "-n", self.NS, "run", "-d", "--runc-binary", shutil.which("runc"),
                "--cgroup", self.cgroup]
        for k, v in ann.items():
            args += ["--annotation", f"{k}={v}"]
        run(args + [self.image, self.cid, "sh", "-c", SERVE])
        deadline = time.time() + 10
        while not self.pid and time.time() < deadline:
            for line in run(["ctr", "-n", self.NS, "task", "ls"]).stdout.splitlines():
                f = line.split()
                if f and f[0] == self.cid and f[1].isdigit():
                    self.pid = int(f[1])
            time.sleep(0.2)

    def exec_late(self):
        run(["ctr", "-n", self.NS, "task", "exec", "-d", "--exec-id", "late", self.cid, "sh",
             "-c", LATE])

    def client(self, port):
        """Its own network namespace has only lo: an IPv4 socat client in the container."""
        p = run(["ctr", "-n", self.NS, "task", "exec", "--exec-id", f"c{port}", self.cid, "sh",
                 "-c", f"echo v6trace | socat -T2 - TCP4:127.0.0.1:{port}"], check_rc=False)
        return p.stdout.strip() == "v6trace"

    def cleanup(self):
        if self.cid:
            run(["ctr", "-n", self.NS, "task", "kill", "-s", "SIGKILL", self.cid],
                check_rc=False)
            time.sleep(0.5)
            run(["ctr", "-n", self.NS, "task", "rm", "-f", self.cid], check_rc=False)
            run(["ctr", "-n", self.NS, "containers", "rm", self.cid], check_rc=False)
            remove_cgroups(os.path.dirname(self.cgroup))
        if hasattr(self, "image"):
            run(["ctr", "-n", self.NS, "images", "rm", self.image], check_rc=False)
        self.stop_daemons()


def remove_cgroups(path):
    """The kubepods/besteffort/pod<uid> directories runc left in every hierarchy."""
    for line in open("/proc/self/mounts"):
        f = line.split()
        if f[2] not in ("cgroup", "cgroup2"):
            continue
        p = path
        while p.startswith("/kubepods"):
            try:
                os.rmdir(f[1] + p)
            except OSError:
                break
            p = os.path.dirname(p)


def named(rec, rt):
    """What is wrong with the names of a record of rt's container."""
    want = dict(rt.expect, container=rt.cid)
    return [f"{k} {rec.get(k)!r} != {v!r}" for k, v in want.items() if rec.get(k) != v]


def judge(res, rt, tracers, snapshots):
    L = rt.name
    for t in tracers.values():
        recs = t.records()
        bad = [(r.get("event"), e) for r in recs for e in check.schema_errors(r)]
        res.check(f"{L} {t.label}: every record valid against the schema", not bad, bad[:3])
    # the unfiltered tracer: the container's binds, stacks, the mapped accept, named
    every = tracers["all"].records()
    mine = [r for r in every if r.get("container") == rt.cid]
    for port, stack in PORTS.items():
        binds = [r for r in mine if r.get("event") == "bind" and r.get("port") == port
                 and r.get("ret") == 0]
        res.check(f"{L}: the container's bind of port {port} is {stack}, named",
                  len(binds) == 1 and binds[0]["stack"] == stack and not named(binds[0], rt),
                  [(b.get("stack"), named(b, rt)) for b in binds] or
                  [(r.get("event"), r.get("port"), r.get("cgroup")) for r in every][:8])
    acc = [r for r in mine if r.get("event") == "accept" and r.get("local_port") == 8081]
    res.check(f"{L}: the IPv4 client's accept on the dual socket is mapped, named",
              len(acc) == 1 and acc[0]["mapped"] and acc[0]["family"] == "inet6"
              and acc[0]["peer"].startswith("::ffff:") and not named(acc[0], rt),
              [(a.get("peer"), a.get("mapped"), named(a, rt)) for a in acc])
    res.check(f"{L}: every event of the container is named",
              mine and all(not named(r, rt) for r in mine),
              [named(r, rt) for r in mine if named(r, rt)][:3])
    host = [r for r in every if r.get("event") == "bind" and r.get("port") == HOST_PORT]
    res.check(f"{L}: the host process's bind: container and its names null",
              len(host) == 1 and all(host[0].get(k) is None for k in
                                     ("container", "container_name", "container_runtime",
                                      "pod_name", "pod_uid")), host)
    # --metrics-file (the unfiltered tracer's, written at its end): the container's
    # listeners, in its own namespace, with the names the records carry
    prom = os.path.join(OUT, f"{TAG}.{rt.name}.prom")
    series = open(prom).read().splitlines() if os.path.exists(prom) else []
    want = ",".join(f'{k}="{rt.expect[k] or ""}"'
                    for k in ("container_name", "pod_namespace", "pod_name"))
    for port in PORTS:
        got = [x for x in series if x.startswith("v6trace_listener_sockets{")
               and f',port="{port}",' in x and f'container="{rt.cid}"' in x]
        res.check(f"{L}: --metrics-file lists the listener on {port} with the container's names",
                  len(got) == 1 and want in got[0], got or [x for x in series if
                                                        x.startswith("v6trace_listener_")][:4])
    # the filters
    for label, t in tracers.items():
        if label == "all":
            continue
        recs = [r for r in t.records() if r.get("event") in ("bind", "listen", "accept",
                                                             "connect")]
        err = t.stderr()
        late = [r for r in recs if r.get("event") == "bind" and r.get("port") == LATE_PORT]
        if label.startswith("other"):
            res.check(f"{L} {t.label}: a name that matches nothing keeps nothing",
                      not recs, [(r["event"], r.get("port"), r.get("container")) for r in recs])
            continue
        where = "kernel" if label.startswith("kernel") else "user space"
        res.check(f"{L} {t.label}: decided in {where} (stderr)",
                  f"decided in {'the kernel' if where == 'kernel' else 'user space'}" in err,
                  err.strip())
        res.check(f"{L} {t.label}: keeps the container's bind of {LATE_PORT}, named, and "
                  "nothing else's", len(late) == 1 and not named(late[0], rt)
                  and all(r.get("container") == rt.cid for r in recs),
                  [(r["event"], r.get("port"), r.get("container")) for r in recs][:6])
        if where == "user space":  # it ran from before the container: its first binds too
            got = sorted(r["port"] for r in recs if r["event"] == "bind" and r["ret"] == 0)
            res.check(f"{L} {t.label}: and the binds made at its start",
                      set(PORTS) | {LATE_PORT} == set(got), got)
    # the snapshot of the container's namespace
    rows = [r for r in snapshots["all"] if r.get("event") == "socket"]
    for port in list(PORTS) + [LATE_PORT]:
        got = [r for r in rows if r.get("port") == port and r.get("state") == "listen"]
        res.check(f"{L}: --snapshot lists the listener on {port}, named",
                  len(got) == 1 and not named(got[0], rt),
                  [named(r, rt) for r in got] or rows[:3])
    res.check(f"{L}: --snapshot --container matching keeps all of them",
              sorted(r.get("port") for r in snapshots["name"]) ==
              sorted(r.get("port") for r in rows), snapshots["name"][:2])
    res.check(f"{L}: --snapshot --container matching nothing lists nothing",
              not snapshots["other"], snapshots["other"][:2])
    # V6TRACE_HOST_ROOT: the runtimes' files are read below it (an empty directory here)
    got = [(r.get("container"), r.get("container_name"), r.get("container_runtime"),
            r.get("pod_uid")) for r in snapshots["elsewhere"] if r.get("event") == "socket"]
    res.check(f"{L}: with V6TRACE_HOST_ROOT elsewhere: the id, no names (the uid is the "
              "cgroup path's)", len(got) == len(rows) and
              all(g == (rt.cid, None, None, rt.expect["pod_uid"]) for g in got), got[:2])
    text = snapshots["text"]
    short = rt.expect["container_name"] or rt.expect["pod_container"]
    want = f" container={short}" + (f" pod={rt.expect['pod_namespace']}/"
                                    f"{rt.expect['pod_name']}" if rt.expect["pod_name"] else "")
    res.check(f"{L}: text --snapshot ends each row with{want}",
              len(text) == len(rows) and all(line.endswith(want) for line in text), text[:3])


def snapshot(rt, args, json_out=True, env=None):
    p = run([V6TRACE, "--snapshot", "--netns", f"/proc/{rt.pid}/ns/net"]
            + (["--json"] if json_out else []) + args, env=env)
    if json_out:
        return [json.loads(line) for line in p.stdout.splitlines()]
    return p.stdout.splitlines()[1:]


def run_runtime(res, cls, tmp, tarball):
    rt = cls(tmp, tarball)
    tracers = {}
    try:
        try:
            rt.setup()
        except Skip as e:
            print(f"skip   {rt.name}: {e}", flush=True)
            return
        wanted = "--pod" if rt.name == "containerd" else "--container"
        name = (f"v6t-ns/{TAG}-pod" if rt.name == "containerd" else rt.cname)
        other = "v6t-ns/nope" if rt.name == "containerd" else f"{TAG}-nope"
        # before the container exists: user space decides
        tracers["all"] = Tracer(f"{rt.name}.all",
                                ["--metrics-file", os.path.join(OUT, f"{TAG}.{rt.name}.prom")])
        tracers["user"] = Tracer(f"{rt.name}.user", [wanted, name])
        tracers["other"] = Tracer(f"{rt.name}.other", [wanted, other])
        for t in tracers.values():
            t.wait_started()
        rt.start()
        ok = res.check(f"{rt.name}: the container listens on {sorted(PORTS)}",
                       rt.pid and wait_listening(rt.pid, PORTS), rt.pid)
        if not ok:
            return
        res.check(f"{rt.name}: the IPv4 client is echoed", rt.client(8081))
        # after: the kernel decides, by the container's (pod's) cgroup
        later = {"kernel-name": [wanted, name]}
        if rt.name != "containerd":
            later.update({"kernel-id": ["--container", rt.cid],
                          "kernel-short": ["--container", rt.cid[:12]]})
        else:
            later["kernel-id"] = ["--container", rt.cid]
        for label, args in later.items():
            tracers[label] = Tracer(f"{rt.name}.{label}", args)
            tracers[label].wait_started()
        rt.exec_late()
        host_bind()
        wait_listening(rt.pid, [LATE_PORT])
        time.sleep(0.5)
        snaps = {"all": snapshot(rt, []), "name": snapshot(rt, [wanted, name]),
                 "other": snapshot(rt, [wanted, other]), "text": snapshot(rt, [], False),
                 "elsewhere": snapshot(rt, [], env=dict(os.environ, V6TRACE_HOST_ROOT=tmp))}
        time.sleep(0.5)
        for t in tracers.values():
            t.stop()
        judge(res, rt, tracers, snaps)
    finally:
        for t in tracers.values():
            t.stop()
        rt.cleanup()


def main():
    os.makedirs(OUT, exist_ok=True)
    only = set(sys.argv[1:])
    tmp = tempfile.mkdtemp(prefix="v6trace-containers.")
    state = {}

    def make(cls):
        def test(res):
            if "tarball" not in state:
                state["tarball"] = build_rootfs(tmp)
            run_runtime(res, cls, tmp, state["tarball"])
        test.__name__ = f"containers {cls.name}"
        return test

    try:
        return check.run_suite("container tests", "containers: ",
                               [make(c) for c in (Docker, Podman, Containerd)
                                if not only or c.name in only])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
