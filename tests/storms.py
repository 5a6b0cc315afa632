# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Machine-wide load of the kinds a busy host or a hostile local user makes,
for the tests that must hold under it. Every storm runs as the unprivileged
user nobody, stays on loopback or in namespaces it makes itself, and ends by
itself after its time limit (and when the Storms context is left):

- flood: COUNT TCP listeners on 127.0.0.1, and a loop of dual-stack [::]
  binds to their ports, each failing with EADDRINUSE (a lookup each);
- namespaces: user+net namespaces (unshare -rn), a few alive at a time, each
  with a listener on 127.0.0.1 and a bind that fails on it, then gone;
- churn: short-lived processes, as fast as a shell makes them.
"""
import os
import pwd
import signal
import subprocess
import time

PY = "/usr/bin/python3"

# the held ports are the kernel's choice: no clash with another suite's
FLOOD = r"""
import socket, sys, time
count, until = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
held = []
for _ in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    held.append(s)
ports = [s.getsockname()[1] for s in held]
i = 0
while time.monotonic() < until:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.bind(("::", ports[i % count]))
    except OSError:
        pass
    s.close()
    i += 1
"""

# one namespace: a holder on 127.0.0.1:P and a bind that fails on it
IN_NAMESPACE = r"""
import socket, time
h = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
h.bind(("127.0.0.1", 40000))
h.listen(1)
for _ in range(20):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.bind(("::", 40000))
    except OSError:
        pass
    s.close()
time.sleep(0.3)
"""

NAMESPACES = r"""
import subprocess, sys, time
alive, until = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
procs = []
while time.monotonic() < until:
    procs = [p for p in procs if p.poll() is None]
    while len(procs) < alive:
        procs.append(subprocess.Popen(["unshare", "-rn", sys.executable, "-c", sys.argv[3]],
                                      stderr=subprocess.DEVNULL))
    time.sleep(0.01)
for p in procs:
    p.wait()
"""

CHURN = 'end=$((SECONDS + {secs})); while [ "$SECONDS" -lt "$end" ]; do /bin/true; done'


def _as_nobody():
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


class Storms:
    """with Storms(seconds): the three storms, for at most seconds."""

    def __init__(self, seconds, flood_ports=300, namespaces=8, churners=2):
        self.seconds = seconds
        self.flood_ports = flood_ports
        self.namespaces = namespaces
        self.churners = churners
        self.procs = []

    def _start(self, argv):
        self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, preexec_fn=_as_nobody,
                                           start_new_session=True))

    def __enter__(self):
        secs = str(self.seconds)
        self._start([PY, "-c", FLOOD, str(self.flood_ports), secs])
        self._start([PY, "-c", NAMESPACES, str(self.namespaces), secs, IN_NAMESPACE])
        for _ in range(self.churners):
            self._start(["/bin/bash", "-c", CHURN.format(secs=self.seconds)])
        time.sleep(1.0)  # every storm at full height
        return self

    def running(self):
        """Whether every storm still runs."""
        return all(p.poll() is None for p in self.procs)

    def __exit__(self, *exc):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            p.wait()
        return False
