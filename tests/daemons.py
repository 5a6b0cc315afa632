#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Real daemons, started the way a deploy starts them, held against ss(8) and
their own configuration, on the host, as root.

The servers users actually run, from Debian 12's packages: nginx with Debian's
default site, sshd, PostgreSQL with listen_addresses='*', a Java ServerSocket
(and a Java client connecting to 127.0.0.1, a mapped connect), Node's
http.createServer().listen(P), python3 -m http.server, socat (TCP6-LISTEN and
UDP6-RECVFROM), a plain IPv4 UDP service, a server handed its socket by
systemd-socket-activate, and a Go net/http server on an MPTCP listener (what
Go >= 1.24 opens by default; built with Go 1.23 from bookworm-backports, see
tools/fetch-go).

Each runs twice: (a) `v6trace --json -- COMMAND` (the foreground form of each
daemon) and (b) with `v6trace --json` already running before it starts. One
IPv4 and one IPv6 client connect to every TCP port (a family no socket serves
must be refused; the Go server also gets an MPTCP client; a datagram of each
family it serves for UDP). Then, field by field against ss's rows
for that server's sockets (ss -ltnpe, -lunpe, -tnpe, -Mlnpe): every bind and
listen (address, port, proto, family, v6only, stack, pid, uid, comm, backlog),
every accept (the IPv4 client of a dual-stack socket as ::ffff:127.0.0.1),
the Java client's mapped connect, nothing else from the server's processes,
and `--snapshot` on the same sockets. A server that cannot run here is
reported as `skip   NAME: reason` and the others still count.
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V6TRACE = os.path.join(ROOT, "v6trace")
SERVERS = os.path.join(ROOT, "tests", "servers")
OUT = os.path.join(ROOT, "tests", ".out", "daemons")
GO_CACHE = os.path.join(ROOT, "tools", ".cache", "go")
# Debian's own interpreter for the Python servers (not whatever python3 runs this)
PY = "/usr/bin/python3"
# Ports for the servers: below net.ipv4.ip_local_port_range, so no client's
# ephemeral port can take one; each run gets a port of its own.
PORT_RANGE = (23100, 24000)
MODES = {"a": "under -- COMMAND", "b": "tracer started first"}
EVENTS = ("bind", "listen", "accept", "connect")
IPPROTO_MPTCP = 262
BINDV6ONLY = bool(int(open("/proc/sys/net/ipv6/bindv6only").read()))
NETNS = os.stat("/proc/self/ns/net").st_ino


class Skip(Exception):
    """This server cannot run here; the message says why."""


# ---------------------------------------------------------------- ss(8) rows

ADDR_RE = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<any>\*)|(?P<v4>[0-9.]+))(?:%\S+)?:(?P<port>\d+|\*)$")
USER_RE = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=(\d+)\)')


def endpoint(text):
    """ss's address: (family, addr, port); `*:P` is a dual-stack (v6only=0)
    AF_INET6 wildcard, as ss writes it."""
    m = ADDR_RE.match(text)
    if not m:
        return None, text, None
    port = None if m["port"] == "*" else int(m["port"])
    if m["v4"]:
        return "inet", m["v4"], port
    return "inet6", m["v6"] or "::", port


def ss_rows(args):
    """Rows of `ss -H ARGS` (with -e and -p): dicts with netid (when ss
    prints it), state, recvq, sendq, family, addr, port, peer, peer_port,
    users [(name, pid)], pids, ino, uid, v6only (None when not printed)."""
    out = subprocess.run(["ss", "-H"] + args, capture_output=True, text=True, timeout=30).stdout
    rows = []
    for line in out.splitlines():
        f = line.split()
        if not f:
            continue
        netid = f.pop(0) if f[0] in ("tcp", "udp", "mptcp", "raw", "u_str") else None
        if len(f) < 5:
            continue
        fam, addr, port = endpoint(f[3])
        _, peer, peer_port = endpoint(f[4])
        users = [(n, int(p)) for n, p, _ in USER_RE.findall(line)]
        ino = re.search(r"\bino:(\d+)", line)
        uid = re.search(r"\buid:(\d+)", line)
        v6 = re.search(r"\bv6only:(\d)", line)
        rows.append({"netid": netid, "state": f[0], "recvq": int(f[1]), "sendq": int(f[2]),
                     "family": fam, "addr": addr, "port": port, "peer": peer,
                     "peer_port": peer_port, "users": users, "pids": {p for _, p in users},
                     "ino": int(ino.group(1)) if ino else 0,
                     "uid": int(uid.group(1)) if uid else 0,
                     "v6only": int(v6.group(1)) if v6 else None, "text": line.strip()})
    return rows


def ss_all():
    """Everything the checks compare with: TCP and UDP listeners, MPTCP
    listeners, established TCP and MPTCP sockets."""
    return {"tcp": ss_rows(["-ltnpe"]), "udp": ss_rows(["-lunpe"]),
            "mptcp": ss_rows(["-Mlnpe"]), "estab": ss_rows(["-tnpe"]),
            "mptcp_estab": ss_rows(["-Mnpe"])}


def row_key(r):
    return (r["ino"], r["state"], r["addr"], r["port"], r["peer"], r["peer_port"],
            tuple(sorted(r["users"])))


def name_of(row, pid):
    for n, p in row["users"]:
        if p == pid:
            return n
    return None


def stack_of(family, addr, v6only):
    if family == "inet" or addr.startswith("::ffff:"):
        return "v4"
    if addr == "::" and not v6only:
        return "dual"
    return "v6"


# ---------------------------------------------------------------- processes

class Cgroup:
    """A cgroup for one run: every process of the server (and, under
    -- COMMAND, its v6trace) is in it, so none escapes the cleanup and the
    events of a global tracer are told apart by cgroup_id."""

    def __init__(self, base, name):
        self.path = os.path.join(base, name)
        os.makedirs(self.path, exist_ok=True)
        self.id = os.stat(self.path).st_ino

    def join(self):
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    def pids(self):
        try:
            return [int(p) for p in open(os.path.join(self.path, "cgroup.procs")).read().split()]
        except OSError:
            return []

    def kill(self):
        end = time.monotonic() + 10
        while self.pids() and time.monotonic() < end:
            killer = os.path.join(self.path, "cgroup.kill")
            if os.path.exists(killer):
                with open(killer, "w") as f:
                    f.write("1")
            else:
                for pid in self.pids():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.05)
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def ppid_of(pid):
    try:
        stat = open(f"/proc/{pid}/stat").read()
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def comm_of(pid):
    try:
        return open(f"/proc/{pid}/comm").read().rstrip("\n")
    except OSError:
        return None


def exit_status(rc):
    """A Popen returncode as a shell (and v6trace -- COMMAND) reports it."""
    return 128 - rc if rc is not None and rc < 0 else rc


def free_port(state={"next": PORT_RANGE[0]}):
    """The next port nobody uses, for TCP and UDP, IPv4 and IPv6, in any state."""
    busy = {r["port"] for rows in (ss_rows(["-tuna"]),) for r in rows}
    while state["next"] < PORT_RANGE[1]:
        port = state["next"]
        state["next"] += 1
        if port in busy:
            continue
        ok = True
        for fam, addr, typ in ((socket.AF_INET, "0.0.0.0", socket.SOCK_STREAM),
                               (socket.AF_INET6, "::", socket.SOCK_STREAM),
                               (socket.AF_INET, "0.0.0.0", socket.SOCK_DGRAM),
                               (socket.AF_INET6, "::", socket.SOCK_DGRAM)):
            s = socket.socket(fam, typ)
            try:
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((addr, port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port
    raise RuntimeError(f"no free port left in {PORT_RANGE}")


# ---------------------------------------------------------------- the servers

def listener(proto, family, addr, v6only=None):
    """A socket the server's configuration says it listens on (or binds, for UDP)."""
    return {"proto": proto, "family": family, "addr": addr,
            "v6only": v6only if family == "inet6" else None}


class Daemon:
    name = ""
    stop_sig = signal.SIGTERM
    probe = "http"          # how to see that it serves: http, ssh, pg, echo, udp
    java_client = False     # also run the Java client against it
    mptcp_client = False    # also an MPTCP IPv4 client (socket(AF_INET, SOCK_STREAM, 262))
    bind_comm = None        # the comm at bind/listen time when it is not ss's
    listen_calls = 1        # listen() calls per listening socket
    config = ""             # what the expected sockets come from, for the labels

    def setup(self, tmp):
        """Once for both runs; raises Skip when the server cannot run here."""

    def command(self, port, tmp):
        raise NotImplementedError

    def listeners(self, port, tmp):
        """The sockets its own configuration says it has on port."""
        raise NotImplementedError

    def tolerated(self, ev, port):
        """An event from the server's processes that is neither one of its
        listeners nor an accept of our clients, and is fine."""
        return False

    def env(self):
        return None

    def teardown(self):
        pass


def need(path, what):
    if not (path and os.access(path, os.X_OK)):
        raise Skip(f"{what} is not installed ({path or 'not found'}); tools/install-deps installs it")


class Nginx(Daemon):
    name = "nginx"
    # ngx_open_listening_sockets() calls listen(), then
    # ngx_configure_listening_sockets() calls it again on every socket to set
    # its backlog (strace -e bind,listen shows both)
    listen_calls = 2
    config = "Debian's default site: listen P; listen [::]:P"

    def setup(self, tmp):
        self.bin = "/usr/sbin/nginx"
        need(self.bin, "nginx")
        for f in ("/etc/nginx/nginx.conf", "/etc/nginx/sites-available/default"):
            if not os.path.exists(f):
                raise Skip(f"{f} is missing")
        self.write_conf(tmp, 80)
        p = subprocess.run(self.base(tmp) + ["-t"], capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise Skip(f"nginx -t refuses the configuration: {p.stderr.strip()[-200:]}")

    def write_conf(self, tmp, port):
        """Debian's nginx.conf and default site, copied: pid, logs and the site
        in tmp, the site's two listen lines on PORT instead of 80."""
        main = open("/etc/nginx/nginx.conf").read()
        main = re.sub(r"(?m)^(\s*pid\s+)\S+;", rf"\g<1>{tmp}/nginx.pid;", main)
        main = re.sub(r"/var/log/nginx/", f"{tmp}/", main)
        main = re.sub(r"(?m)^(\s*include\s+)/etc/nginx/sites-enabled/\*;",
                      rf"\g<1>{tmp}/default;", main)
        site = open("/etc/nginx/sites-available/default").read()
        site = re.sub(r"(?m)^(\s*listen\s+(?:\[::\]:)?)80\b", rf"\g<1>{port}", site)
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(main)
        with open(os.path.join(tmp, "default"), "w") as f:
            f.write(site)

    def base(self, tmp):
        return [self.bin, "-c", f"{tmp}/nginx.conf", "-e", f"{tmp}/error.log"]

    def command(self, port, tmp):
        self.write_conf(tmp, port)
        return self.base(tmp) + ["-g", "daemon off;"]

    def listeners(self, port, tmp):
        out = []
        for line in open(os.path.join(tmp, "default")):
            m = re.match(r"\s*listen\s+([^;]+);", line)
            if not m:
                continue
            args = m.group(1).split()
            where = args[0]
            if where.startswith("[::]:"):
                assert int(where[5:]) == port
                # nginx sets IPV6_V6ONLY on [::] unless ipv6only=off
                out.append(listener("tcp", "inet6", "::", "ipv6only=off" not in args))
            else:
                assert int(where) == port
                out.append(listener("tcp", "inet", "0.0.0.0"))
        return out


class Sshd(Daemon):
    name = "sshd"
    probe = "ssh"
    config = "sshd -T: listenaddress lines"
    made_run_dir = False

    def setup(self, tmp):
        self.bin = "/usr/sbin/sshd"
        need(self.bin, "openssh-server (sshd)")
        need(shutil.which("ssh-keygen"), "ssh-keygen")
        self.key = os.path.join(tmp, "ssh_host_ed25519_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key],
                       check=True, capture_output=True, timeout=30)
        if not os.path.isdir("/run/sshd"):  # what the service's RuntimeDirectory makes
            os.mkdir("/run/sshd", 0o755)
            self.made_run_dir = True
        p = subprocess.run(self.base(23999, tmp) + ["-t"], capture_output=True, text=True,
                           timeout=30)
        if p.returncode != 0:
            raise Skip(f"sshd -t refuses to run: {p.stderr.strip()[-200:]}")

    def base(self, port, tmp):
        return [self.bin, "-f", "/dev/null", "-p", str(port), "-h", self.key,
                "-o", f"PidFile={tmp}/sshd.pid"]

    def command(self, port, tmp):
        return self.base(port, tmp)[:1] + ["-D", "-e"] + self.base(port, tmp)[1:]

    def listeners(self, port, tmp):
        p = subprocess.run(self.base(port, tmp) + ["-T"], capture_output=True, text=True,
                           timeout=30)
        out = []
        for line in p.stdout.splitlines():
            if line.startswith("listenaddress "):
                fam, addr, p_ = endpoint(line.split()[1])
                assert p_ == port
                # sshd sets IPV6_V6ONLY on its IPv6 listeners
                out.append(listener("tcp", fam, addr, True))
        return out

    def teardown(self):
        if self.made_run_dir:
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass


class Postgres(Daemon):
    name = "postgres"
    probe = "pg"
    stop_sig = signal.SIGINT  # fast shutdown; SIGTERM waits for every client
    config = "postgresql.conf: listen_addresses = '*'"

    def setup(self, tmp):
        bins = sorted(
            (d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()), key=int) \
            if os.path.isdir("/usr/lib/postgresql") else []
        if not bins:
            raise Skip("postgresql is not installed (/usr/lib/postgresql/*/bin)")
        bindir = f"/usr/lib/postgresql/{bins[-1]}/bin"
        self.bin = os.path.join(bindir, "postgres")
        need(self.bin, "postgres")
        try:
            import pwd
            pwd.getpwnam("postgres")
        except KeyError:
            raise Skip("no postgres user")
        self.run_as = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        shutil.chown(tmp, "postgres", "postgres")
        os.chmod(tmp, 0o755)
        self.data = os.path.join(tmp, "data")
        p = subprocess.run(self.run_as + [os.path.join(bindir, "initdb"), "-D", self.data,
                                          "-A", "trust", "-U", "postgres", "--no-sync",
                                          "-E", "UTF8", "--locale=C.UTF-8"],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise Skip(f"initdb failed: {p.stderr.strip()[-200:]}")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\nlisten_addresses = '*'\n")

    def command(self, port, tmp):
        # left behind only when a failed run's cleanup killed the last server,
        # and all of its processes with it
        stale = os.path.join(self.data, "postmaster.pid")
        if os.path.exists(stale):
            os.unlink(stale)
        return self.run_as + [self.bin, "-D", self.data, "-p", str(port), "-k", tmp]

    def listeners(self, port, tmp):
        addrs = None
        for line in open(os.path.join(self.data, "postgresql.conf")):
            m = re.match(r"\s*listen_addresses\s*=\s*'([^']*)'", line)
            if m:
                addrs = m.group(1)
        assert addrs == "*", addrs
        # '*': every address family; PostgreSQL sets IPV6_V6ONLY on AF_INET6
        return [listener("tcp", "inet", "0.0.0.0"), listener("tcp", "inet6", "::", True)]


class Java(Daemon):
    name = "java"
    probe = "echo"
    java_client = True
    config = "new ServerSocket(P): the JDK's tcp6 socket, IPV6_V6ONLY cleared"

    def setup(self, tmp):
        need(shutil.which("java"), "java")
        need(shutil.which("javac"), "javac (openjdk-17-jdk-headless)")
        self.classes = os.path.join(OUT, "java")
        srcs = [os.path.join(SERVERS, f) for f in ("V6tServer.java", "V6tClient.java")]
        os.makedirs(self.classes, exist_ok=True)
        p = subprocess.run(["javac", "-d", self.classes] + srcs, capture_output=True, text=True,
                           timeout=120)
        if p.returncode != 0:
            raise Skip(f"javac failed: {p.stderr.strip()[-200:]}")

    def command(self, port, tmp):
        return ["java", "-cp", self.classes, "V6tServer", str(port)]

    def client(self, port, outfile):
        return ["java", "-cp", self.classes, "V6tClient", "127.0.0.1", str(port), outfile]

    def listeners(self, port, tmp):
        return [listener("tcp", "inet6", "::", False)]


class Node(Daemon):
    name = "node"
    config = "http.createServer().listen(P): libuv's [::], IPV6_V6ONLY cleared"

    def setup(self, tmp):
        self.bin = shutil.which("node") or shutil.which("nodejs")
        need(self.bin, "nodejs")

    def command(self, port, tmp):
        return [self.bin, os.path.join(SERVERS, "node-http.js"), str(port)]

    def listeners(self, port, tmp):
        return [listener("tcp", "inet6", "::", False)]


class HttpServer(Daemon):
    name = "python3 -m http.server"
    config = "no --bind: the first getaddrinfo(None, P, AI_PASSIVE) answer"

    def setup(self, tmp):
        need(PY, "python3")

    def command(self, port, tmp):
        return [PY, "-m", "http.server", str(port), "--directory", tmp]

    def listeners(self, port, tmp):
        # http.server's _get_best_family(): the first answer of
        # getaddrinfo(None, port, AI_PASSIVE); glibc gives 0.0.0.0 before ::
        # here, so it serves IPv4 only. On :: it would be a DualStackServer,
        # which clears IPV6_V6ONLY.
        fam = socket.getaddrinfo(None, port, type=socket.SOCK_STREAM,
                                 flags=socket.AI_PASSIVE)[0][0]
        if fam == socket.AF_INET6:
            return [listener("tcp", "inet6", "::", False)]
        return [listener("tcp", "inet", "0.0.0.0")]


class SocatTcp(Daemon):
    name = "socat TCP6-LISTEN"
    probe = "echo"
    config = "TCP6-LISTEN:P,fork,reuseaddr: [::], v6only from net.ipv6.bindv6only"

    def setup(self, tmp):
        self.bin = shutil.which("socat")
        need(self.bin, "socat")

    def command(self, port, tmp):
        return [self.bin, f"TCP6-LISTEN:{port},fork,reuseaddr", "EXEC:/bin/cat"]

    def listeners(self, port, tmp):
        return [listener("tcp", "inet6", "::", BINDV6ONLY)]


class SocatUdp(Daemon):
    name = "socat UDP6-RECVFROM"
    probe = "udp"
    config = "UDP6-RECVFROM:P,fork: [::], v6only from net.ipv6.bindv6only"

    def setup(self, tmp):
        self.bin = shutil.which("socat")
        need(self.bin, "socat")

    def command(self, port, tmp):
        return [self.bin, f"UDP6-RECVFROM:{port},fork", "EXEC:/bin/cat"]

    def listeners(self, port, tmp):
        return [listener("udp", "inet6", "::", BINDV6ONLY)]


class UdpEcho(Daemon):
    name = "plain UDP server"
    probe = "udp"
    config = "udp_echo.py: 0.0.0.0:P"

    def setup(self, tmp):
        need(PY, "python3")

    def command(self, port, tmp):
        return [PY, os.path.join(SERVERS, "udp_echo.py"), str(port)]

    def listeners(self, port, tmp):
        return [listener("udp", "inet", "0.0.0.0")]


class SocketActivated(Daemon):
    name = "socket activation"
    bind_comm = "systemd-socket-"  # it binds, then execs the server in place
    config = "systemd-socket-activate -l P: [::], v6only from net.ipv6.bindv6only"

    def setup(self, tmp):
        self.bin = shutil.which("systemd-socket-activate")
        need(self.bin, "systemd-socket-activate (systemd)")
        need(PY, "python3")

    def command(self, port, tmp):
        return [self.bin, "-l", str(port), PY, os.path.join(SERVERS, "activated.py")]

    def listeners(self, port, tmp):
        return [listener("tcp", "inet6", "::", BINDV6ONLY)]


class GoMptcp(Daemon):
    name = "Go MPTCP"
    mptcp_client = True
    config = "net.ListenConfig{} with SetMultipathTCP(true) on :P, as Go >= 1.24 does"

    def setup(self, tmp):
        p = subprocess.run([os.path.join(ROOT, "tools", "fetch-go")], capture_output=True,
                           text=True, timeout=600)
        if p.returncode != 0:
            raise Skip(f"no Go toolchain: {p.stderr.strip()[-200:]}")
        go = p.stdout.strip()
        src = os.path.join(SERVERS, "mptcphttp.go")
        self.bin = os.path.join(GO_CACHE, "bin", "mptcphttp")
        if not os.path.exists(self.bin) or os.path.getmtime(self.bin) < os.path.getmtime(src):
            env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local", GO111MODULE="off",
                       GOFLAGS="", GOCACHE=os.path.join(GO_CACHE, "build"),
                       GOPATH=os.path.join(GO_CACHE, "path"))
            p = subprocess.run([go, "build", "-trimpath", "-o", self.bin, src], env=env,
                               capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                raise Skip(f"go build failed: {p.stderr.strip()[-200:]}")
        try:
            enabled = int(open("/proc/sys/net/mptcp/enabled").read())
        except OSError:
            enabled = 0
        if not enabled:
            raise Skip("net.mptcp.enabled is 0 (or the kernel has no MPTCP)")

    def command(self, port, tmp):
        return [self.bin, str(port)]

    def listeners(self, port, tmp):
        return [listener("mptcp", "inet6", "::", False)]

    def tolerated(self, ev, port):
        # Go's ipStackCapabilities(): before any listen it binds a TCP socket
        # to [::1]:0 and one to [::ffff:127.0.0.1]:0 to learn what the host
        # supports (net/ipsock_posix.go)
        return (ev["event"] == "bind" and ev["port"] != port and ev["ret"] == 0
                and ev["proto"] == "tcp" and ev["addr"] in ("::1", "::ffff:127.0.0.1"))


DAEMONS = (Nginx, Sshd, Postgres, Java, Node, HttpServer, SocatTcp, SocatUdp, UdpEcho,
           SocketActivated, GoMptcp)


# ---------------------------------------------------------------- one run

def read_records(path, res, label):
    """v6trace's records in path (under -- COMMAND the server shares that
    stdout: its own lines are set aside), and the other JSON lines."""
    recs, other, bad = [], [], []
    for raw in check.read_lines(path):
        if raw.startswith(b'{"v":'):
            try:
                recs.append(json.loads(raw.decode("utf-8")))
            except (UnicodeDecodeError, ValueError) as e:
                bad.append(f"{raw[:80]!r}: {e}")
        else:
            try:
                other.append(json.loads(raw))
            except ValueError:
                pass
    invalid = [f"{r.get('event')}: {errs[0]}" for r in recs
               for errs in [check.schema_errors(r)] if errs]
    summary = recs[-1] if recs else {}
    n = len([r for r in recs if r.get("event") in EVENTS])
    res.check(f"{label}: records parse and match the JSON Schema; start first, summary last, "
              "none lost",
              recs and not bad and not invalid and recs[0].get("event") == "start"
              and summary.get("event") == "summary" and summary.get("lost") == 0
              and summary.get("events") == n,
              "; ".join(bad[:2] + invalid[:3]) + f" first {recs[:1]}, last {str(summary)[:200]}"
              + f", {n} events")
    return recs, other


class Run:
    """One server started once, its clients, and what was seen."""

    def __init__(self, d, mode, tmp, base_cg):
        self.d, self.mode, self.tmp = d, mode, tmp
        self.label = f"{d.name} ({MODES[mode]})"
        self.port = free_port()
        self.cg = Cgroup(base_cg, f"{re.sub(r'[^a-z0-9]+', '-', d.name.lower())}-{mode}")
        self.stem = os.path.join(OUT, f"{os.path.basename(self.cg.path)}")
        self.procs = []
        self.comms = {}
        self.ppids = {}
        self.clients = []
        self.refused, self.unserved = [], []
        self.java = None
        self.notes = []
        self.not_ready, self.not_accepted = "did not start", None
        self.status = None

    def popen(self, argv, stdout, stderr, stdin=subprocess.DEVNULL, cgroup=True):
        p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                             start_new_session=True,
                             preexec_fn=self.cg.join if cgroup else None, env=self.d.env())
        self.procs.append(p)
        return p

    def server_pids(self):
        pids = set(self.cg.pids())
        if self.mode == "a":
            pids.discard(self.main.pid)
        for p in pids:
            c, pp = comm_of(p), ppid_of(p)
            if c:
                self.comms[p] = c
            if pp:
                self.ppids[p] = pp
        return pids

    def wait_ready(self, expected, timeout=60):
        """Until ss shows as many of the server's sockets on the port as its
        configuration names (each owned by a process of its cgroup)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.main.poll() is not None:
                return f"exited with {exit_status(self.main.returncode)} before listening"
            pids = self.server_pids()
            rows = self.server_listeners(ss_all(), pids)
            if len(rows) >= len(expected):
                return None
            time.sleep(0.05)
        return f"not listening after {timeout} s"

    def server_listeners(self, ss, pids):
        mptcp = {r["ino"] for r in ss["mptcp"]}
        rows = [dict(r, proto="mptcp") for r in ss["mptcp"]]
        rows += [dict(r, proto="tcp") for r in ss["tcp"] if r["ino"] not in mptcp]
        rows += [dict(r, proto="udp") for r in ss["udp"]]
        return [r for r in rows if r["port"] == self.port and r["pids"] & pids]

    def root_pid(self):
        """The server's own process: the command v6trace started, or ours."""
        if self.mode == "b":
            return self.main.pid
        end = time.monotonic() + 10
        while time.monotonic() < end:
            kids = [p for p in self.cg.pids() if ppid_of(p) == self.main.pid]
            if kids:
                return kids[0]
            time.sleep(0.02)
        return None

    def connect_clients(self):
        """One IPv4 and one IPv6 client, each to a socket that serves its
        family; a family nothing serves must be refused."""
        served = self.served()
        if self.d.probe == "udp":
            return
        todo = [("127.0.0.1", 0, "IPv4 client"), ("::1", 0, "IPv6 client")]
        if self.d.mptcp_client:  # the accepted socket is then MPTCP too (no fallback)
            todo.append(("127.0.0.1", IPPROTO_MPTCP, "MPTCP IPv4 client"))
        for host, proto, name in todo:
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                              socket.SOCK_STREAM, proto)
            s.settimeout(15)
            try:
                s.connect((host, self.port))
            except ConnectionRefusedError:
                s.close()
                self.refused.append(host)
                continue
            self.clients.append({"host": host, "sock": s, "port": s.getsockname()[1],
                                 "family": "inet6" if ":" in host else "inet", "name": name})
        self.unserved = [h for h, fam in (("127.0.0.1", "inet"), ("::1", "inet6"))
                         if fam not in served]

    def served(self):
        """The families the server's configured sockets take clients from."""
        fams = []
        if any(x["family"] == "inet" or not x["v6only"] for x in self.expected):
            fams.append("inet")
        if any(x["family"] == "inet6" for x in self.expected):
            fams.append("inet6")
        return fams

    def start_java_client(self):
        out = f"{self.stem}.client.json"
        if os.path.exists(out):
            os.unlink(out)
        argv = self.d.client(self.port, out)
        if self.mode == "a":
            argv = [V6TRACE, "--json", "--as-root", "--"] + argv
        self.java_out = f"{self.stem}.client.jsonl"
        with open(self.java_out, "wb") as o, open(f"{self.stem}.client.err", "wb") as e:
            self.java = self.popen(argv, o, e, stdin=subprocess.PIPE, cgroup=False)
        end = time.monotonic() + 60
        while not os.path.exists(out):
            if self.java.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"{self.label}: the Java client did not connect: "
                                   + open(f"{self.stem}.client.err", "rb").read().decode()[-300:])
            time.sleep(0.05)
        info = json.load(open(out))
        # an IPv4 client (to 127.0.0.1), through a tcp6 socket
        self.clients.append({"host": "java", "sock": None, "port": info["local_port"],
                             "family": "inet", "echo": info["echo"], "name": "Java client"})

    def wait_accepted(self, timeout=20):
        """Until every client's server side is owned by a process (accepted)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pids = self.server_pids()
            rows = ss_rows(["-tnpe"])
            done = [c for c in self.clients
                    if any(r["port"] == self.port and r["peer_port"] == c["port"]
                           and r["pids"] & pids for r in rows)]
            if len(done) == len(self.clients):
                return None
            time.sleep(0.05)
        return "not every client was accepted"

    def serve_probe(self):
        """Does the server answer its clients? Returns what is wrong, or ''."""
        d, wrong = self.d, []
        if d.probe == "udp":  # a datagram from each family it serves
            for fam in self.served():
                s = socket.socket(socket.AF_INET if fam == "inet" else socket.AF_INET6,
                                  socket.SOCK_DGRAM)
                s.settimeout(5)
                host = "127.0.0.1" if fam == "inet" else "::1"
                try:
                    payload = f"v6trace {fam}".encode()
                    s.sendto(payload, (host, self.port))
                    got, _ = s.recvfrom(2048)
                    if got != payload:
                        wrong.append(f"{host}: {got!r}")
                except OSError as e:
                    wrong.append(f"{host}: {e}")
                finally:
                    s.close()
            return "; ".join(wrong)
        for c in self.clients:
            if c["sock"] is None:
                if c.get("echo") != "ping":
                    wrong.append(f"Java client: echo {c.get('echo')!r}")
                continue
            s = c["sock"]
            try:
                if d.probe == "http":
                    s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                    want = b"HTTP/1."
                elif d.probe == "ssh":
                    want = b"SSH-2.0-"
                elif d.probe == "pg":  # SSLRequest: answered 'N' or 'S'
                    s.sendall(struct.pack("!ii", 8, 80877103))
                    want = None
                else:
                    s.sendall(b"ping\n")
                    want = b"ping\n"
                got = b""
                while len(got) < 8:
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    got += chunk
                    if want is None or got.startswith(want):
                        break
                if (want is None and got[:1] not in (b"N", b"S")) or \
                        (want is not None and not got.startswith(want)):
                    wrong.append(f"{c['name']}: {got[:40]!r}")
            except OSError as e:
                wrong.append(f"{c['name']}: {e}")
        return "; ".join(wrong)

    def stop_server(self, root):
        for c in self.clients:
            if c["sock"] is not None:
                c["sock"].close()
        if self.java and self.java.poll() is None:
            self.java.stdin.close()
            try:
                self.java.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.notes.append("the Java client did not exit when its stdin closed")
        if root:
            try:
                os.kill(root, self.d.stop_sig)
            except ProcessLookupError:
                pass
        try:
            self.main.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.notes.append(f"did not exit within 30 s of {signal.Signals(self.d.stop_sig).name}"
                              f" ({where_stuck(self.main.pid)})")

    def execute(self):
        d = self.d
        self.trace = f"{self.stem}.jsonl"
        tracer = None
        try:
            command = d.command(self.port, self.tmp)  # writes its configuration
            self.expected = d.listeners(self.port, self.tmp)
            if self.mode == "b":
                tout = open(self.trace, "wb")
                tracer = subprocess.Popen([V6TRACE, "--json"], stdout=tout,
                                          stderr=open(f"{self.stem}.tracer.err", "wb"),
                                          start_new_session=True)
                self.procs.append(tracer)
                end = time.monotonic() + 30
                while b'"event":"start"' not in open(self.trace, "rb").read():
                    if tracer.poll() is not None or time.monotonic() > end:
                        raise RuntimeError("the tracer did not start: " + open(
                            f"{self.stem}.tracer.err", "rb").read().decode()[-300:])
                    time.sleep(0.02)
                argv, out = command, f"{self.stem}.server.out"
            else:
                argv = [V6TRACE, "--json", "--as-root", "--"] + command
                out = self.trace
            self.argv = argv
            with open(out, "wb") as o, open(f"{self.stem}.err", "wb") as e:
                self.main = self.popen(argv, o, e)
            self.not_ready = self.wait_ready(self.expected)
            root = self.root_pid()
            self.root = root
            if self.not_ready:
                return
            self.connect_clients()
            if d.java_client:
                self.start_java_client()
            self.not_accepted = self.wait_accepted() if self.clients else None
            self.server_pids()
            # ss before and after the snapshot: only what both saw is compared
            self.ss = ss_all()
            snap = subprocess.run([V6TRACE, "--snapshot", "--json"], capture_output=True,
                                  timeout=60)
            self.ss_after = ss_all()
            self.snapshot = [json.loads(l) for l in snap.stdout.splitlines() if l.strip()]
            self.snapshot_rc = snap.returncode
            self.pids = self.server_pids()
            self.probe_wrong = self.serve_probe()
            self.stop_server(root)
            self.status = exit_status(self.main.returncode)
            if tracer:
                time.sleep(0.3)  # the reader drains every 100 ms
                tracer.send_signal(signal.SIGINT)
                tracer.wait(timeout=30)
        finally:
            for c in self.clients:
                if c["sock"] is not None:
                    c["sock"].close()
            for p in self.procs:
                if p.poll() is None:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait()
            self.cg.kill()

    def stderr_tail(self):
        return open(f"{self.stem}.err", "rb").read().decode("utf-8", "replace")[-300:]


# ---------------------------------------------------------------- the checks

def bracket(family, addr):
    return f"[{addr}]" if family == "inet6" else addr


def client_name(c):
    return c["name"]


def fields_diff(got, want):
    return [f"{k}: expected {v!r}, got {got.get(k)!r}" for k, v in want.items()
            if got.get(k) != v]


def judge(res, run):
    d, L = run.d, run.label
    if not res.check(f"{L}: started and listening", not run.not_ready,
                     f"{run.not_ready}; {' '.join(run.argv)}; stderr: {run.stderr_tail()!r}"):
        return
    recs, other = read_records(run.trace, res, f"{L}: v6trace output")
    events = [r for r in recs if r.get("event") in EVENTS]
    if run.mode == "b":  # the global tracer: the server's cgroup, and the Java client
        jpid = run.java.pid if run.java else None
        events = [e for e in events if e.get("cgroup_id") == run.cg.id or e["pid"] == jpid]
    pids = run.pids | set(run.comms)
    ss = run.ss
    stable = {row_key(r) for rows in run.ss_after.values() for r in rows}

    # 1. ss agrees with the server's own configuration
    rows = run.server_listeners(ss, pids)
    seen = sorted((r["proto"], r["family"], r["addr"],
                   bool(r["v6only"]) if r["family"] == "inet6" else None) for r in rows)
    want = sorted((x["proto"], x["family"], x["addr"], x["v6only"]) for x in run.expected)
    res.check(f"{L}: ss shows the sockets its configuration names ({d.config})",
              seen == want, f"ss {seen}, configuration {want}")

    used = set()

    def take(pred):
        found = [i for i, e in enumerate(events) if pred(e)]
        used.update(found)
        return [events[i] for i in found]

    # 2. bind and listen: one of each per socket, every field as ss says
    for r in rows:
        where = f"{r['proto']} {bracket(r['family'], r['addr'])}:P"
        v6only = bool(r["v6only"]) if r["family"] == "inet6" else None
        for kind in ("bind", "listen") if r["proto"] != "udp" else ("bind",):
            got = take(lambda e: e["event"] == kind and e.get("port") == run.port
                       and e.get("family") == r["family"] and e.get("addr") == r["addr"])
            n = d.listen_calls if kind == "listen" else 1
            if not res.check(f"{L}: {kind} {where} reported " + ("once" if n == 1 else
                                                                  f"{n} times ({n} calls)"),
                             len(got) == n, f"{len(got)} events: {got[:3]}"):
                continue
            e = got[0]
            want = {"proto": r["proto"], "v6only": v6only, "wildcard": True,
                    "stack": stack_of(r["family"], r["addr"], v6only), "ret": 0,
                    "uid": r["uid"], "netns": NETNS,
                    "comm": d.bind_comm or name_of(r, e["pid"]) or run.comms.get(e["pid"])}
            if kind == "listen":
                want["backlog"] = r["sendq"]
            wrong = [w for x in got for w in fields_diff(x, want)]
            if e["pid"] not in r["pids"]:
                wrong.append(f"pid {e['pid']} does not hold it (ss: {sorted(r['pids'])})")
            res.check(f"{L}: {kind} {where} fields as ss shows", not wrong, "; ".join(wrong))

    # 3. a family none of its sockets serves is refused; every client accepted once
    names = {"127.0.0.1": "IPv4 client", "::1": "IPv6 client"}
    for host in run.unserved:
        res.check(f"{L}: the {names[host]} is refused (no socket serves it, as ss shows)",
                  host in run.refused and not [
                      r for r in rows if (r["family"] == "inet6") == (":" in host)
                      or (":" not in host and not r["v6only"])], f"refused {run.refused}")
    for host in run.refused:
        if host not in run.unserved:
            res.check(f"{L}: the {names[host]} connects", False, "connection refused")
    mptcp_estab = {r["ino"] for r in ss["mptcp_estab"]}
    for c in run.clients:
        row = [r for r in ss["estab"] if r["port"] == run.port and r["peer_port"] == c["port"]]
        name = client_name(c)
        if not res.check(f"{L}: ss shows the server side of the {name}", len(row) == 1,
                         f"{row}"):
            continue
        r = row[0]
        got = take(lambda e: e["event"] == "accept" and e.get("local_port") == run.port
                   and e.get("peer_port") == c["port"])
        if not res.check(f"{L}: accept of the {name} reported once", len(got) == 1,
                         f"{len(got)} events: {got[:3]}"):
            continue
        e = got[0]
        mapped = r["family"] == "inet6" and r["peer"].startswith("::ffff:")
        want = {"family": r["family"], "proto": "mptcp" if r["ino"] in mptcp_estab else "tcp",
                "local": r["addr"], "peer": r["peer"], "mapped": mapped,
                "peer_v4": r["peer"][7:] if mapped else None,
                "stack": "v4" if r["family"] == "inet" or mapped else "v6",
                "uid": r["uid"], "netns": NETNS}
        # the listener's family decides: our configuration-based expectation
        v4_listener = any(x["family"] == "inet" for x in run.expected)
        if c["family"] == "inet" and not v4_listener:
            expect_peer = "::ffff:127.0.0.1"
        else:
            expect_peer = "127.0.0.1" if c["family"] == "inet" else "::1"
        wrong = fields_diff(e, want)
        if r["peer"] != expect_peer:
            wrong.append(f"ss says peer {r['peer']}, the configuration means {expect_peer}")
        # a forking server (postgres, sshd, socat) accepts in the parent and
        # hands the socket to a child: ss names the child
        holders = r["pids"] | {run.ppids.get(p) for p in r["pids"]}
        if e["pid"] not in holders:
            wrong.append(f"pid {e['pid']}: ss names {sorted(r['pids'])}")
        want_comm = name_of(r, e["pid"]) or run.comms.get(e["pid"])
        if e.get("comm") != want_comm:
            wrong.append(f"comm: expected {want_comm!r}, got {e.get('comm')!r}")
        res.check(f"{L}: accept of the {name} fields as ss shows"
                  + (" (mapped ::ffff:127.0.0.1)" if expect_peer.startswith("::ffff:") else ""),
                  not wrong, "; ".join(wrong))

    # 4. the Java client's connect: a tcp6 socket to ::ffff:127.0.0.1
    if run.java:
        jc = [c for c in run.clients if c["host"] == "java"][0]
        if run.mode == "a":
            jrecs, _ = read_records(run.java_out, res, f"{L}: Java client's v6trace -- output")
            jevents = [e for e in jrecs if e.get("event") in EVENTS]
        else:
            jevents = events
        row = [r for r in ss["estab"] if r["port"] == jc["port"] and r["peer_port"] == run.port]
        got = [e for e in jevents if e["event"] == "connect" and e.get("local_port") == jc["port"]
               and e.get("peer_port") == run.port]
        if run.mode == "b":
            take(lambda e: e["event"] == "connect" and e.get("local_port") == jc["port"])
        if res.check(f"{L}: the Java client's mapped connect reported once",
                     len(got) == 1 and len(row) == 1, f"{len(got)} events: {got[:3]}; ss {row}"):
            r, e = row[0], got[0]
            want = {"family": r["family"], "proto": "tcp", "local": r["addr"],
                    "peer": r["peer"], "mapped": True, "peer_v4": "127.0.0.1", "stack": "v4",
                    "ret": 0, "uid": r["uid"], "netns": NETNS,
                    "pid": min(r["pids"]) if r["pids"] else None,
                    "comm": name_of(r, e["pid"])}
            wrong = fields_diff(e, want)
            if r["peer"] != "::ffff:127.0.0.1":
                wrong.append(f"ss peer {r['peer']}")
            res.check(f"{L}: the Java client's connect fields as ss shows (tcp6 to "
                      "::ffff:127.0.0.1)", not wrong, "; ".join(wrong))

    # 5. nothing else from the server's processes
    rest = [e for i, e in enumerate(events) if i not in used and not d.tolerated(e, run.port)
            and (run.mode == "a" or e.get("cgroup_id") == run.cg.id)]
    res.check(f"{L}: no other event from the server's processes", not rest,
              "; ".join(json.dumps({k: e.get(k) for k in ("event", "pid", "comm", "proto",
                                                           "family", "addr", "port", "local",
                                                           "local_port", "peer", "ret")})
                        for e in rest[:4]))

    # 6. the server answers
    res.check(f"{L}: the server answered its clients", not run.probe_wrong, run.probe_wrong)
    res.check(f"{L}: stopped cleanly", not run.notes, "; ".join(run.notes))

    # 7. --snapshot, socket by socket, against the same ss rows
    judge_snapshot(res, run, stable, pids)
    return recs, other


def judge_snapshot(res, run, stable, pids):
    L, ss = run.label, run.ss
    snap = run.snapshot
    if not res.check(f"{L}: --snapshot exits 0 with socket records",
                     run.snapshot_rc == 0 and snap and all(r["event"] == "socket" for r in snap),
                     f"rc {run.snapshot_rc}"):
        return
    by_ino = {}
    for r in snap:
        by_ino.setdefault(r["inode"], []).append(r)
    jport = [c["port"] for c in run.clients if c["host"] == "java"]
    mptcp = {r["ino"] for r in ss["mptcp"]}
    rows = [(r, "mptcp", "listen") for r in ss["mptcp"]]
    rows += [(r, "tcp", "listen") for r in ss["tcp"] if r["ino"] not in mptcp]
    rows += [(r, "udp", "bound") for r in ss["udp"]]
    mptcp_estab = {r["ino"] for r in ss["mptcp_estab"]}
    rows += [(r, "mptcp" if r["ino"] in mptcp_estab else "tcp", "established")
             for r in ss["estab"] if r["state"] == "ESTAB"]
    clients = {c["port"]: client_name(c) for c in run.clients}
    compared = 0
    for r, proto, state in rows:
        mine = (r["port"] == run.port and r["pids"] & pids) or (r["port"] in jport
                                                                and r["peer_port"] == run.port)
        if not mine or row_key(r) not in stable or not r["ino"]:
            continue
        if state != "established":
            where = f"{proto} {state} {bracket(r['family'], r['addr'])}:P"
            compared += 1
        elif r["port"] == run.port:
            where = f"{proto} {state} {bracket(r['family'], r['addr'])}:P, the " \
                    f"{clients.get(r['peer_port'], 'unknown client')}"
        else:
            where = f"{proto} {state}, the Java client's own socket"
        got = by_ino.get(r["ino"], [])
        if state == "established" and not (r["family"] == "inet6"
                                           and r["peer"].startswith("::ffff:")):
            res.check(f"{L}: --snapshot leaves out {where} (peer not mapped)", not got, got)
            continue
        if not res.check(f"{L}: --snapshot lists {where} once", len(got) == 1,
                         f"{len(got)} records for inode {r['ino']}: {got[:2]}"):
            continue
        s = got[0]
        v6only = bool(r["v6only"]) if r["family"] == "inet6" else None
        owner = min(r["pids"]) if r["pids"] else None
        want = {"state": state, "family": r["family"], "proto": proto, "uid": r["uid"],
                "netns": NETNS, "pid": owner, "comm": name_of(r, owner)}
        if state == "established":
            want.update(local=r["addr"], local_port=r["port"], peer=r["peer"],
                        peer_port=r["peer_port"], mapped=True, peer_v4=r["peer"][7:],
                        stack="v4")
        else:
            want.update(addr=r["addr"], port=r["port"], v6only=v6only,
                        wildcard=r["addr"] in ("0.0.0.0", "::"),
                        stack=stack_of(r["family"], r["addr"], v6only))
        wrong = fields_diff(s, want)
        res.check(f"{L}: --snapshot {where} fields as ss shows", not wrong, "; ".join(wrong))
    res.check(f"{L}: --snapshot held against ss on every configured socket",
              compared == len(run.expected), f"{compared} compared (the others changed in ss "
              f"while --snapshot ran), {len(run.expected)} configured")


def where_stuck(pid):
    """What a process that does not exit, and its children, are doing: pid,
    comm, state, the kernel function it waits in, and its signals: blocked,
    pending (so a lost stop says whether it never arrived or was never read),
    caught and ignored."""
    out = []
    todo = [pid]
    while todo and len(out) < 8:
        p = todo.pop(0)
        try:
            with open(f"/proc/{p}/status") as f:
                st = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
            with open(f"/proc/{p}/wchan") as f:
                wchan = f.read().strip() or "-"
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
        out.append(f"pid {p} {st.get('Name', '?')} {st.get('State', '?')} in {wchan}, "
                   f"SigBlk {st.get('SigBlk', '?')}, pending {st.get('SigPnd', '?')} "
                   f"(thread) {st.get('ShdPnd', '?')} (process), SigCgt {st.get('SigCgt', '?')}, "
                   f"SigIgn {st.get('SigIgn', '?')}")
    return "; ".join(out) or "gone"


def run_daemon(res, cls, base_cg):
    d = cls()
    tmp = tempfile.mkdtemp(prefix="v6trace-daemon.")
    try:
        try:
            d.setup(tmp)
        except Skip as e:
            print(f"skip   {d.name}: {e}", flush=True)
            return
        status, crashed = {}, []
        for mode in ("a", "b"):
            label = f"{d.name} ({MODES[mode]})"
            try:
                run = Run(d, mode, tmp, base_cg)
                run.execute()
            except Exception as e:  # this run fails; the other one still runs
                res.check(f"{label}: ran", False, repr(e))
                crashed.append(mode)
                continue
            if run.clients:  # a fixed count of checks per server, failing or not
                res.check(f"{run.label}: every client accepted", not run.not_accepted,
                          run.not_accepted)
            out = judge(res, run)
            status[mode] = run.status
            if isinstance(d, GoMptcp) and out:
                judge_go(res, run, out)
        if crashed:  # already a failure; no status to compare
            return
        res.check(f"{d.name}: v6trace -- COMMAND exits with the server's own status",
                  status.get("a") == status.get("b") and status.get("a") is not None,
                  f"under v6trace {status.get('a')}, alone {status.get('b')}")
    finally:
        d.teardown()
        shutil.rmtree(tmp, ignore_errors=True)


def judge_go(res, run, out):
    recs, other = out
    info = [o for o in other if isinstance(o, dict) and "so_protocol" in o]
    if run.mode == "b":
        try:
            info = [json.loads(l) for l in check.read_lines(f"{run.stem}.server.out")]
        except ValueError:
            info = []
    L = run.label
    res.check(f"{L}: the listener really is MPTCP (getsockopt SO_PROTOCOL 262, ss -M lists it)",
              len(info) == 1 and info[0].get("so_protocol") == 262
              and info[0].get("v6only") == 0
              and any(r["port"] == run.port for r in run.ss["mptcp"]),
              f"{info}, ss -M {[r['text'] for r in run.ss['mptcp']]}")
    pid = run.root
    mine = [r for r in recs if r.get("event") in ("bind", "listen") and r["pid"] == pid]
    mp = [(r["event"], r["proto"], r["family"], r["addr"], r["port"], r["stack"]) for r in mine
          if r["proto"] == "mptcp"]
    want = [("bind", "mptcp", "inet6", "::", run.port, "dual"),
            ("listen", "mptcp", "inet6", "::", run.port, "dual")]
    res.check(f"{L}: exactly one bind and one listen of the pid say \"proto\":\"mptcp\" "
              "(inet6, ::, dual), on port P",
              mp == want, f"got {mp}; all binds/listens of pid {pid}: "
              + "; ".join(f"{r['event']} {r['proto']} [{r['addr']}]:{r['port']}" for r in mine))


def main():
    mount = check.cgroup2_mount()
    if os.geteuid() == 0 and not mount:
        print("FAILED daemons: cgroup v2 is not mounted")
        print("0 passed, 1 failed")
        return 1
    os.makedirs(OUT, exist_ok=True)
    base = os.path.join(mount or "/nonexistent", f"v6trace-daemons.{os.getpid()}")
    only = set(sys.argv[1:])

    def make(cls):
        def test(res):
            run_daemon(res, cls, base)
        test.__name__ = f"daemon {cls.name}"
        return test

    tests = [make(c) for c in DAEMONS if not only or c.name in only or c.__name__ in only]
    try:
        if os.geteuid() == 0:
            os.makedirs(base, exist_ok=True)
        return check.run_suite("daemon tests", "daemons: ", tests)
    finally:
        try:
            os.rmdir(base)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
