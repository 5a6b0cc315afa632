#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Shipping tests: --help and the man page agree, make install lays out the
files, the systemd unit passes systemd-analyze verify, and the Debian package
built by `make deb` installs with dpkg, runs, and removes cleanly. As root."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.path.join(ROOT, "v6trace")


def options_in_help():
    out = subprocess.run([V6TRACE, "--help"], capture_output=True, text=True).stdout
    longs = set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", out))
    shorts = set(re.findall(r"^\s+-(\S)[,\s]", out, re.M))
    return longs, shorts


def options_in_man():
    with open(os.path.join(ROOT, "doc", "v6trace.8")) as f:
        text = f.read()
    # only the OPTIONS section, where each option starts a .TP paragraph
    section = text.split(".SH OPTIONS", 1)[1].split(".SH ", 1)[0]
    longs = set(re.findall(r"\\-\\-([a-z][a-z0-9\\-]*[a-z0-9])", section))
    longs = {l.replace("\\-", "-") for l in longs}
    # a short option is a letter or a digit (-4, -6) after \-, or -?
    shorts = set(re.findall(r"(?<![\\-])\\-([A-Za-z0-9?])\b|\\-(\?)", section))
    shorts = {a or b for a, b in shorts}
    return longs, shorts


def test_help_matches_man(res):
    hl, hs = options_in_help()
    ml, ms = options_in_man()
    res.check("--help and v6trace(8) list the same long options", hl == ml and hl,
              f"only in --help: {sorted(hl - ml)}, only in the man page: {sorted(ml - hl)}")
    res.check("--help and v6trace(8) list the same short options", hs == ms and hs,
              f"only in --help: {sorted(hs - ms)}, only in the man page: {sorted(ms - hs)}")


def test_install_layout(res):
    with tempfile.TemporaryDirectory() as dest:
        p = subprocess.run(["make", "-s", "-C", ROOT, "install", f"DESTDIR={dest}", "PREFIX=/usr"],
                           capture_output=True, text=True)
        want = ["usr/sbin/v6trace", "usr/share/man/man8/v6trace.8",
                "usr/share/doc/v6trace/v6trace.schema.json",
                "usr/share/bash-completion/completions/v6trace",
                "usr/lib/systemd/system/v6trace.service"]
        missing = [w for w in want if not os.path.isfile(os.path.join(dest, w))]
        res.check("make install DESTDIR=... PREFIX=/usr installs binary, man page, JSON Schema, "
                  "completion, unit",
                  p.returncode == 0 and not missing, f"rc {p.returncode} {p.stderr[-200:]}, missing {missing}")
        with open(os.path.join(dest, "usr/lib/systemd/system/v6trace.service")) as f:
            unit = f.read()
        res.check("installed unit runs the installed binary",
                  "ExecStart=/usr/sbin/v6trace --json" in unit, unit[:200])


def test_unit_verifies(res):
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "man", "man8"))
        os.makedirs(os.path.join(d, "unit"))
        shutil.copy(os.path.join(ROOT, "doc", "v6trace.8"), os.path.join(d, "man", "man8"))
        with open(os.path.join(ROOT, "contrib", "v6trace.service")) as f:
            unit = f.read().replace("/usr/sbin/v6trace", V6TRACE)
        path = os.path.join(d, "unit", "v6trace.service")
        with open(path, "w") as f:
            f.write(unit)
        p = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                           env=dict(os.environ, MANPATH=os.path.join(d, "man")))
        res.check("systemd-analyze verify v6trace.service", p.returncode == 0 and not p.stderr.strip(),
                  f"rc {p.returncode}: {p.stderr.strip()[:300]}")


def test_deb(res):
    p = subprocess.run(["make", "-s", "-C", ROOT, "deb"], capture_output=True, text=True)
    debs = [d for d in glob.glob(os.path.join(ROOT, ".output", "deb", "v6trace_*.deb"))]
    if not res.check("make deb builds a package with dpkg-buildpackage", p.returncode == 0 and debs,
                     p.stdout[-300:] + p.stderr[-300:]):
        return
    if subprocess.run(["dpkg-query", "-W", "v6trace"], capture_output=True).returncode == 0:
        res.check("v6trace is not already installed as a package on this machine", False,
                  "refusing to replace an installed v6trace package")
        return
    p = subprocess.run(["dpkg", "-i", debs[0]], capture_output=True, text=True)
    res.check("dpkg -i installs it", p.returncode == 0, p.stderr[-300:])
    try:
        # libbpf & co are linked in; only libc and libmnl (no static libmnl in
        # Debian 12) are shared, and the package depends on libmnl0 for it
        ldd = subprocess.run(["ldd", "/usr/sbin/v6trace"], capture_output=True, text=True)
        shared = {l.split()[0].split(".so")[0] for l in ldd.stdout.splitlines() if ".so" in l}
        deps = subprocess.run(["dpkg-query", "-W", "-f", "${Depends}", "v6trace"],
                              capture_output=True, text=True).stdout
        res.check("the packaged binary needs no libbpf: only libc and libmnl are shared, "
                  "and the package depends on libmnl0",
                  shared <= {"linux-vdso", "libc", "libmnl", "/lib64/ld-linux-x86-64"}
                  and "libmnl" in shared and "libbpf" not in ldd.stdout and "libmnl0" in deps,
                  f"{sorted(shared)}, Depends: {deps}")
        v = subprocess.run(["/usr/sbin/v6trace", "--version"], capture_output=True, text=True)
        res.check("packaged v6trace --version", v.returncode == 0 and v.stdout.startswith("v6trace "),
                  v.stdout + v.stderr)
        proc = subprocess.Popen(["/usr/sbin/v6trace", "--json"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        start = json.loads(proc.stdout.readline())
        proc.terminate()
        rest = proc.stdout.read().splitlines()  # with what readline() buffered
        proc.wait(timeout=20)
        res.check("packaged v6trace traces: start record, then a summary after SIGTERM",
                  start.get("event") == "start" and proc.returncode == 0 and rest
                  and json.loads(rest[-1]).get("event") == "summary", f"{start} ... {rest[-1:]}")
    finally:
        p = subprocess.run(["dpkg", "-r", "v6trace"], capture_output=True, text=True)
        res.check("dpkg -r removes it", p.returncode == 0 and not os.path.exists("/usr/sbin/v6trace"),
                  p.stderr[-300:])


def test_link_modes(res):
    """make STATIC=1 after make, and make after it, build what they say (in a
    build directory of their own: the tree's ./v6trace is left alone)."""
    with tempfile.TemporaryDirectory() as d:
        out, binary = os.path.join(d, "out"), os.path.join(d, "v6trace")
        seen = []
        for static in ("", "1", "libs", ""):
            p = subprocess.run(["make", "-C", ROOT, f"OUTPUT={out}", f"BIN={binary}",
                                *([f"STATIC={static}"] if static else []), binary],
                               capture_output=True, text=True)
            ldd = subprocess.run(["ldd", binary], capture_output=True, text=True)
            libs = sorted(re.findall(r"^\s*(lib[\w.+-]+)\.so", ldd.stdout, re.M))
            seen.append((static or "dynamic", p.returncode,
                         "static" if "not a dynamic executable" in ldd.stdout + ldd.stderr
                         else ",".join(libs)))
    want = [("dynamic", 0, None), ("1", 0, "static"), ("libs", 0, "libc,libmnl"),
            ("dynamic", 0, None)]
    ok = all(s[:2] == w[:2] and (w[2] is None or s[2] == w[2]) for s, w in zip(seen, want))
    ok = ok and seen[0][2] not in ("static", "libc,libmnl") and seen[3][2] == seen[0][2]
    res.check("make, then STATIC=1, STATIC=libs, then make again: each builds what it says",
              ok, seen)


def main():
    res = check.Results("packaging: ")
    test_help_matches_man(res)
    test_install_layout(res)
    test_unit_verifies(res)
    test_link_modes(res)
    if os.geteuid() == 0:
        test_deb(res)
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
