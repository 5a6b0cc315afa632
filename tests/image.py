#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The image and the DaemonSet (deploy/): `make image` gives an OCI archive;
podman runs it against the host, first --privileged, then with only the
capabilities and mounts the DaemonSet's securityContext has (translated to
podman's flags from the manifest itself): the container traces a host
process's binds of [::] and 0.0.0.0, its --snapshot agrees with `ss -ltnu`
and names a host-network Podman container's listener (from the store the
manifest mounts), and without each required capability it says so in one line. The manifest is
validated against the Kubernetes API's types (tests/k8s_schema.py). As root;
podman in its own throw-away store, everything removed at the end."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402
import containers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHIVE = os.path.join(ROOT, ".output", "image", "v6trace-oci.tar")
MANIFEST = os.path.join(ROOT, "deploy", "kubernetes", "v6trace-daemonset.yaml")
IMAGE = "localhost/v6trace:0.1.0"
# the capabilities the DaemonSet adds; each is needed (test_each_cap_needed)
REQUIRED = ["SYS_ADMIN", "DAC_READ_SEARCH", "SYS_PTRACE"]


class Podman:
    """podman in a store of its own: runc and no default ulimits, which this
    host's hybrid cgroups need (PLATFORM.md), cgroupfs, no events journal."""

    def __init__(self, top):
        self.top = top
        conf = os.path.join(top, "containers.conf")
        with open(conf, "w") as f:
            f.write("[containers]\ndefault_ulimits = []\n")
        self.env = dict(os.environ, CONTAINERS_CONF=conf)
        self.base = ["podman", "--root", os.path.join(top, "root"), "--runroot",
                     os.path.join(top, "run"), "--storage-driver", "vfs", "--runtime", "runc",
                     "--cgroup-manager", "cgroupfs", "--events-backend", "none"]

    def __call__(self, *args, timeout=60):
        return subprocess.run(self.base + list(args), capture_output=True, text=True,
                              env=self.env, timeout=timeout)

    def cleanup(self):
        self("rm", "-a", "-f", "-t", "0")
        self("rmi", "-a", "-f")
        subprocess.run(self.base + ["system", "reset", "-f"], capture_output=True, env=self.env)
        shutil.rmtree(self.top, ignore_errors=True)


def manifest_container():
    with open(MANIFEST) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    return ds["spec"]["template"]["spec"]


def podman_flags(pod, drop=None):
    """The pod's securityContext, host namespaces and hostPath mounts as
    podman run flags; a key we do not translate fails the test rather than
    being left out silently."""
    c = pod["containers"][0]
    sc = c["securityContext"]
    flags = []
    known = {"privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "runAsUser",
             "capabilities", "seccompProfile"}
    unknown = set(sc) - known
    if unknown:
        raise ValueError(f"securityContext keys with no podman translation: {sorted(unknown)}")
    if sc.get("privileged"):
        flags.append("--privileged")
    if sc.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    if sc.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    if "runAsUser" in sc:
        flags += ["--user", str(sc["runAsUser"])]
    caps = sc.get("capabilities", {})
    for cap in caps.get("drop", []):
        flags.append(f"--cap-drop={cap.lower()}")
    for cap in caps.get("add", []):
        if cap != drop:
            flags.append(f"--cap-add={cap}")
    if sc.get("seccompProfile", {}).get("type") not in (None, "RuntimeDefault"):
        raise ValueError("only the runtime's default seccomp profile is translated")
    if pod.get("hostPID"):
        flags.append("--pid=host")
    if pod.get("hostNetwork"):
        flags.append("--network=host")
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        host = vols[m["name"]]["hostPath"]["path"]
        os.makedirs(host, exist_ok=True)  # the kubelet's DirectoryOrCreate
        flags += ["-v", f"{host}:{m['mountPath']}:{'ro' if m.get('readOnly') else 'rw'}"]
    return flags, c.get("args", [])


def trace_binds(res, pm, label, flags, args):
    """The container traces the whole host while a python3 on the host binds
    [::] and 0.0.0.0; both binds are in its JSON Lines."""
    name = "v6trace-image-test"
    pm("rm", "-f", name)
    p = pm("run", "-d", "--name", name, *flags, IMAGE, *args)
    if p.returncode:
        res.check(f"{label}: the container starts", False, p.stderr.strip())
        return
    deadline = time.time() + 20
    while time.time() < deadline:
        if "tracing with" in pm("logs", name).stderr:
            break
        time.sleep(0.2)
    s6 = socket.socket(socket.AF_INET6)
    s6.bind(("::", 0))
    s6.listen()
    s4 = socket.socket(socket.AF_INET)
    s4.bind(("0.0.0.0", 0))
    s4.listen()
    ports = {("::", s6.getsockname()[1]), ("0.0.0.0", s4.getsockname()[1])}
    time.sleep(1)
    pm("stop", "-t", "5", name)
    s6.close()
    s4.close()
    logs = pm("logs", name)
    rc = pm("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
    pm("rm", "-f", name)
    recs = [json.loads(l) for l in logs.stdout.splitlines() if l.startswith("{")]
    seen = {(r.get("addr"), r.get("port")) for r in recs
            if r.get("event") == "bind" and r.get("pid") == os.getpid()}
    res.check(f"{label}: traces this host process's binds of [::] and 0.0.0.0 (pid, port)",
              ports <= seen and rc == "0",
              f"want {sorted(ports)}, saw {sorted(seen)}, exit {rc}, stderr {logs.stderr[-400:]!r}")
    errs = [l for l in logs.stderr.splitlines() if "helper" in l or "cannot" in l]
    res.check(f"{label}: no lookup or start error on stderr", not errs, errs)


def ss_set():
    out = subprocess.run(["ss", "-ltnuH"], capture_output=True, text=True, check=True).stdout
    got = set()
    for line in out.splitlines():
        f = line.split()
        addr, _, port = f[4].rpartition(":")
        addr = addr.split("%")[0].strip("[]")
        got.add((f[0], "::" if addr == "*" else addr, int(port)))
    return got


def test_snapshot(res, pm, label, flags):
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind(("::", 0))
    t = socket.socket(socket.AF_INET6)
    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    t.bind(("::", 0))
    t.listen()
    own = os.stat("/proc/self/ns/net").st_ino
    try:
        p = pm("run", "--rm", *flags, IMAGE, "--json", "--snapshot")
        before = ss_set()
    finally:
        u.close()
        t.close()
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    snap = {(r["proto"], r["addr"], r["port"]) for r in rows
            if r.get("netns") == own and r.get("state") in ("listen", "bound")}
    res.check(f"{label}: --snapshot agrees with ss -ltnu on the host (proto, addr, port)",
              p.returncode == 0 and snap == before and snap,
              f"exit {p.returncode}; only in the snapshot {sorted(snap - before)}, only in ss "
              f"{sorted(before - snap)}; {p.stderr.strip()[-300:]}")


def test_snapshot_names(res, pm, label, flags):
    """A container of the host's own podman store (the one the manifest mounts
    read-only) listening in the host's namespace: the image's --snapshot names
    it from the store's files."""
    tmp = tempfile.mkdtemp(prefix="v6trace-image-named.")
    host = containers.Podman(tmp, None)
    name = f"v6trace-image-named-{os.getpid()}"
    port = 24600 + os.getpid() % 300
    try:
        host.tarball = containers.build_rootfs(tmp)
        host.setup()
        p = host.podman("run", "-d", "--network=host", "--name", name, host.image, "socat",
                        f"TCP6-LISTEN:{port},reuseaddr,ipv6only=1", "-")
        pid = int(host.podman("inspect", "-f", "{{.State.Pid}}", name).stdout.strip() or 0)
        if not res.check(f"{label}: a host-network podman container listens", p.returncode == 0
                         and pid and containers.wait_listening(pid, [port]), p.stderr):
            return
        q = pm("run", "--rm", *flags, IMAGE, "--json", "--snapshot", "-P", str(port))
        rows = [json.loads(l) for l in q.stdout.splitlines() if l.startswith("{")]
        got = [(r.get("container_name"), r.get("container_image"), r.get("container_runtime"),
                r.get("stack")) for r in rows]
        res.check(f"{label}: --snapshot names its listener (name, image, runtime) from the "
                  "mounted store", got == [(name, host.image, "podman", "v6")],
                  f"{got}; {q.stderr.strip()[-300:]}")
    finally:
        host.podman("rm", "-f", "-t", "0", name, check_rc=False)
        host.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def test_each_cap_needed(res, pm, pod):
    """Without SYS_ADMIN nothing loads (one line, non-zero exit); without
    either of the helper's capabilities the helper cannot keep them and the
    tracer says so in one line (and goes on without held_by)."""
    banner = ("v6trace: tracepoint mode:", "v6trace 0.1.0: tracing")
    for cap in REQUIRED:
        flags, _ = podman_flags(pod, drop=cap)
        if cap == "SYS_ADMIN":
            p = pm("run", "--rm", *flags, IMAGE, "--json", "--no-report", "--",
                   "/usr/sbin/v6trace", "--version", timeout=60)
        else:
            # the helper's death is seen when the tracer next writes to it, so
            # the command (the host's sleep) must outlive the start
            p = pm("run", "--rm", *flags, "-v", "/usr/bin:/hostbin:ro", "-v", "/lib:/lib:ro",
                   "-v", "/lib64:/lib64:ro", "-v", "/usr/lib:/usr/lib:ro", IMAGE, "--json",
                   "--no-report", "--", "/hostbin/sleep", "1.5", timeout=60)
        lines = [l for l in p.stderr.splitlines() if not l.startswith(banner)]
        if cap == "SYS_ADMIN":
            # the line names what is missing, not a kernel feature
            ok = p.returncode != 0 and len(lines) == 1 and "CAP_" in lines[0]
        else:
            ok = len(lines) == 1 and "lookup helper" in lines[0]
        res.check(f"without CAP_{cap}: one clear line ({lines[0] if lines else ''})", ok,
                  f"exit {p.returncode}, stderr {p.stderr!r}")
    # CAP_BPF and CAP_PERFMON in place of CAP_SYS_ADMIN: the runtime shows
    # them to the process, and the kernel may still refuse the maps; either
    # it traces, or it says what it needs in one line, never a missing feature
    flags, _ = podman_flags(pod, drop="SYS_ADMIN")
    p = pm("run", "--rm", *flags, "--cap-add=BPF", "--cap-add=PERFMON", IMAGE, "--json",
           "--no-report", "--", "/usr/sbin/v6trace", "--version", timeout=60)
    lines = [l for l in p.stderr.splitlines() if not l.startswith(banner)]
    ok = (p.returncode == 0 and not lines) or (
        p.returncode != 0 and len(lines) == 1 and "CAP_" in lines[0]
        and "ring buffer" not in lines[0])
    res.check(f"CAP_BPF and CAP_PERFMON without CAP_SYS_ADMIN: traces, or one line naming "
              f"what it needs ({lines[0] if lines else 'traced'})", ok,
              f"exit {p.returncode}, stderr {p.stderr!r}")


def test_manifest_schema(res):
    if not os.path.exists("/usr/bin/python3"):
        res.check("manifest validated against the Kubernetes API types", False, "no /usr/bin/python3")
        return
    p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "k8s_schema.py"), MANIFEST],
                       capture_output=True, text=True)
    res.check("the DaemonSet manifest validates against python3-kubernetes's API types",
              p.returncode == 0, p.stdout + p.stderr)
    # and the validator can fail: a misspelt field, a string for a boolean
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as bad:
        with open(MANIFEST) as f:
            bad.write(f.read().replace("hostPID:", "hostPid:").replace("readOnly: true",
                                                                      'readOnly: "yes"'))
        bad.flush()
        q = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "k8s_schema.py"),
                            bad.name], capture_output=True, text=True)
        res.check("the validator refuses a misspelt field and a string for a boolean",
                  q.returncode == 1 and "hostPid" in q.stdout and "bool expected" in q.stdout,
                  q.stdout + q.stderr)


def main():
    res = check.Results("image: ")
    test_manifest_schema(res)
    p = subprocess.run(["make", "-s", "-C", ROOT, "-j2", "image"], capture_output=True, text=True)
    res.check("make image writes an OCI archive", p.returncode == 0 and os.path.isfile(ARCHIVE),
              p.stdout + p.stderr)
    if p.returncode:
        print(f"{res.passed} passed, {res.failed} failed")
        return 1
    listing = subprocess.run(["tar", "-tf", ARCHIVE], capture_output=True, text=True).stdout.split()
    res.check("the archive is an OCI layout (oci-layout, index.json)",
              "oci-layout" in listing and "index.json" in listing, listing[:10])
    pm = Podman(tempfile.mkdtemp(prefix="v6trace-image-"))
    try:
        p = pm("load", "-q", "-i", ARCHIVE)
        res.check("podman loads the archive", p.returncode == 0, p.stderr)
        priv = ["--privileged", "--pid=host", "--network=host"]
        trace_binds(res, pm, "--privileged", priv, ["--json"])
        pod = manifest_container()
        flags, args = podman_flags(pod)
        res.check("the DaemonSet is not privileged and drops every capability but the required",
                  "--privileged" not in flags and "--cap-drop=all" in flags and
                  sorted(f.split("=")[1] for f in flags if f.startswith("--cap-add")) ==
                  sorted(REQUIRED), flags)
        prom = args[args.index("--metrics-file") + 1] if "--metrics-file" in args else None
        if prom and os.path.exists(prom):
            os.unlink(prom)
        trace_binds(res, pm, "the DaemonSet's settings", flags, args)
        text = open(prom).read() if prom and os.path.exists(prom) else ""
        res.check("the DaemonSet's settings: --metrics-file written into the textfile "
                  "directory's mount, without capabilities, listeners named",
                  prom and "\nv6trace_listener_sockets{" in text
                  and re.search(r'\nv6trace_listener_sockets\{[^}]*pid="[0-9]+"', text),
                  f"{prom}: {text[:300]!r}")
        test_snapshot(res, pm, "the DaemonSet's settings", flags)
        test_snapshot_names(res, pm, "the DaemonSet's settings", flags)
        test_each_cap_needed(res, pm, pod)
    finally:
        pm.cleanup()
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
