// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include "cgroup.h"
#include "containers.h"
#include "classify.h"
#include "cli.h"
#include "command.h"
#include "loader.h"
#include "metrics.h"
#include "netns.h"
#include "output.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("v6trace: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *argp_program_version = "v6trace " V6TRACE_VERSION;

static const char doc[] =
	"Trace, live, how sockets straddle IPv4 and IPv6: binds and listens on 0.0.0.0 (v4), "
	"on :: (dual-stack, or v6-only with IPV6_V6ONLY or net.ipv6.bindv6only=1), and tcp6 "
	"connections, accepted or made, whose peer is an IPv4-mapped ::ffff:a.b.c.d address. "
	"A bind that fails with EADDRINUSE names who holds the port.\n"
	"\n"
	"USAGE: v6trace [OPTION...] [-- COMMAND [ARG...]]\n"
	"\n"
	"EXAMPLES:\n"
	"    v6trace                       # binds, listens, accepts, mapped connects\n"
	"    v6trace -t                    # with timestamps\n"
	"    v6trace -p 181 -p 182         # only processes 181 and 182\n"
	"    v6trace -p 181 --children     # 181 and what it forks from now on\n"
	"    v6trace -- ./deploy.sh        # a command and all its descendants, then the report\n"
	"    v6trace --fail-on-lost -- ./deploy.sh  # exit 3: a port lost IPv4/IPv6\n"
	"    v6trace --fail-on-lost --unit nginx -- ./stop.sh  # a stop of nginx counts\n"
	"    v6trace -P 80,443 --stack v4  # IPv4-only sockets on ports 80 and 443\n"
	"    v6trace --mapped              # tcp6 sockets talking to IPv4 peers\n"
	"    v6trace --all-connects        # also tcp6 connects to native IPv6 peers\n"
	"    v6trace --snapshot            # what listens now, then exit\n"
	"    v6trace --with-snapshot --json  # what listens now, then what changes\n"
	"    v6trace -c /sys/fs/cgroup/unified/system.slice/nginx.service\n"
	"    v6trace --container web       # one container, by its name or id\n"
	"    v6trace --pod default/api-0   # a Kubernetes pod's containers\n"
	"    v6trace --netns /run/netns/blue\n"
	"    v6trace --json                # JSON Lines, for a log collector\n"
	"    v6trace -m tracepoint         # force the syscall-tracepoint attach mode\n"
	"\v"
	"Filters combine with AND, and every one is decided in the kernel (for the snapshot, "
	"in user space, on the socket and its owners) but --container and --pod: in the kernel "
	"when exactly one such container (pod) runs at the start and -c is not given, in user "
	"space as well, always (a container started later is found by its name).\n"
	"\n"
	"Exit status: with -- COMMAND, COMMAND's (128 + N if signal N killed it), or 3 when it "
	"succeeded and --fail-on-lost found a port that lost IPv4 or IPv6 service through a change "
	"that counts (COMMAND's, a --unit's, or a service restarted during the run); else 0 when "
	"stopped by SIGINT/SIGTERM or when the reader of the output goes away, 1 on a runtime "
	"error, 2 on a usage error.";

enum {
	OPT_RINGBUF_KB = 0x100,
	OPT_CHILDREN,
	OPT_COMM,
	OPT_NETNS,
	OPT_STACK,
	OPT_MAPPED,
	OPT_AS_ROOT,
	OPT_ALL_CONNECTS,
	OPT_SNAPSHOT,
	OPT_WITH_SNAPSHOT,
	OPT_SYSLOG,
	OPT_LINGER,
	OPT_REPORT,
	OPT_NO_REPORT,
	OPT_FAIL_ON_LOST,
	OPT_WATCH,
	OPT_IGNORE,
	OPT_UNIT,
	OPT_CONTAINER,
	OPT_POD,
	OPT_METRICS_FILE,
	OPT_METRICS_LISTEN,
	OPT_METRICS_INTERVAL,
};

static const struct argp_option option_table[] = {
	{"pid", 'p', "PID", 0, "Trace this process id only (repeatable)", 0},
	{"children", OPT_CHILDREN, NULL, 0,
	 "Also trace what the -p processes fork from now on, and their descendants", 0},
	{"comm", OPT_COMM, "NAME", 0, "Only processes with this name (its first 15 bytes)", 0},
	{"uid", 'u', "UID", 0, "Only processes of this user (number or name)", 0},
	{"cgroup", 'c', "PATH", 0, "Only processes in this cgroup v2 directory or below it", 0},
	{"container", OPT_CONTAINER, "NAME|ID", 0,
	 "Only processes of this container: its runtime's name, its id or the id's first 12+ "
	 "hex digits",
	 0},
	{"pod", OPT_POD, "[NAMESPACE/]NAME", 0, "Only processes of this Kubernetes pod", 0},
	{"netns", OPT_NETNS, "PATH|INODE", 0,
	 "Only sockets of this network namespace (/proc/PID/ns/net, /run/netns/NAME)", 0},
	{"port", 'P', "PORT[,PORT...]", 0, "Only this local or peer port (repeatable)", 0},
	{NULL, '4', NULL, 0, "Only inet (IPv4) sockets", 0},
	{NULL, '6', NULL, 0, "Only inet6 (IPv6) sockets", 0},
	{"stack", OPT_STACK, "v4|v6|dual", 0,
	 "Only this stack (comma-separated list): what a socket serves or speaks", 0},
	{"mapped", OPT_MAPPED, NULL, 0,
	 "Only accepts and connects whose peer is an IPv4-mapped address", 0},
	{"all-connects", OPT_ALL_CONNECTS, NULL, 0,
	 "Every connect of an inet6 TCP socket (default: only those to IPv4-mapped addresses)", 0},
	{"snapshot", OPT_SNAPSHOT, NULL, 0,
	 "Print the listening TCP, bound UDP and IPv4-mapped tcp6 sockets that exist and the "
	 "filters keep, and exit",
	 0},
	{"with-snapshot", OPT_WITH_SNAPSHOT, NULL, 0, "Print that snapshot, then trace", 0},
	{"as-root", OPT_AS_ROOT, NULL, 0,
	 "Run COMMAND as root even under sudo (default: as the user who ran sudo)", 0},
	{"report", OPT_REPORT, NULL, 0,
	 "End with the deploy report (the default with -- COMMAND): what the run changed in "
	 "who serves IPv4 and IPv6",
	 0},
	{"no-report", OPT_NO_REPORT, NULL, 0, "No deploy report, even with -- COMMAND", 0},
	{"fail-on-lost", OPT_FAIL_ON_LOST, NULL, 0,
	 "Exit 3 when a port lost IPv4 or IPv6 service (COMMAND's own failure wins)", 0},
	{"watch", OPT_WATCH, "PORT[,PORT...]", 0,
	 "The report and the gate look only at these ports", 0},
	{"ignore", OPT_IGNORE, "PORT[,PORT...]", 0, "The report and the gate leave these ports out",
	 0},
	{"unit", OPT_UNIT, "NAME|/CGROUP", 0,
	 "The gate also counts changes of listeners in this unit (/system.slice/NAME.service) or "
	 "cgroup v2 path, or below it (repeatable)",
	 0},
	{"linger", OPT_LINGER, "SECONDS", 0,
	 "After COMMAND exits, keep tracing what it started (daemons) until all of it has exited "
	 "or SECONDS have passed (default 2; 0: stop with COMMAND)",
	 0},
	{"timestamp", 't', NULL, 0, "Print a time column (text output)", 0},
	{"json", 'j', NULL, 0, "Write JSON Lines instead of text", 0},
	{"mode", 'm', "MODE", 0, "Attach mode: auto (default), fentry, kprobe, tracepoint", 0},
	{"output", 'o', "FILE", 0,
	 "Append the records to FILE (created 0640; never through a symbolic or hard link); "
	 "SIGHUP reopens it",
	 0},
	{"syslog", OPT_SYSLOG, "SOCKET", OPTION_ARG_OPTIONAL,
	 "Send each record as JSON after an @cee: cookie to the local syslog socket "
	 "(default /dev/log)",
	 0},
	{"metrics-file", OPT_METRICS_FILE, "PATH", 0,
	 "Write Prometheus metrics (listeners now, event counters) to PATH, a node_exporter "
	 "textfile (NAME.prom), replaced atomically",
	 0},
	{"metrics-listen", OPT_METRICS_LISTEN, "ADDR:PORT", 0,
	 "Serve the same metrics at http://ADDR:PORT/metrics (a numeric address: 127.0.0.1:9477, "
	 "[::]:9477)",
	 0},
	{"metrics-interval", OPT_METRICS_INTERVAL, "SECONDS", 0,
	 "How often the metrics are renewed (--metrics-file written; default 15; and once at exit)",
	 0},
	{"ringbuf-kb", OPT_RINGBUF_KB, "KB", 0,
	 "Ring buffer size in KiB, a power of two >= 4 (default 256)", 0},
	{"verbose", 'v', NULL, 0, "Show libbpf's log and why attach modes were refused", 0},
	{NULL, 'h', NULL, 0, "Show this help (as --help)", 0},
	{0},
};

static int parse_uint(const char *arg, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	if (arg[0] < '0' || arg[0] > '9')
		return -EINVAL;
	*out = strtoul(arg, &end, 10);
	if (errno || *end || *out > max)
		return -EINVAL;
	return 0;
}

/* PORT[,PORT...] of option name, added to ports (V6T_MAX_PORTS at most) */
static void parse_port_list(struct argp_state *state, const char *name, const char *arg,
			    uint16_t ports[V6T_MAX_PORTS], size_t *n)
{
	char buf[256], *tok, *save = NULL;
	unsigned long val;

	if (strlen(arg) >= sizeof(buf))
		argp_error(state, "invalid %s: too long", name);
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (parse_uint(tok, 65535, &val) || val == 0)
			argp_error(state, "invalid port: '%s' (1 to 65535)", tok);
		if (*n == V6T_MAX_PORTS)
			argp_error(state, "at most %d ports", V6T_MAX_PORTS);
		ports[(*n)++] = (uint16_t)val;
	}
	if (!*n)
		argp_error(state, "invalid %s: '%s'", name, arg);
}

/*
 * --unit: a systemd unit's cgroup (NAME, NAME.service, NAME.scope: under
 * /system.slice/, where systemd puts system services), or a cgroup v2 path as
 * /proc/PID/cgroup writes it.
 */
static void parse_unit(struct argp_state *state, struct options *opts, const char *arg)
{
	char *unit = opts->units[opts->nunits];
	bool typed = false;
	size_t len = strlen(arg), i;
	int n;

	if (opts->nunits == V6T_MAX_UNITS)
		argp_error(state, "at most %d units", V6T_MAX_UNITS);
	for (i = 0; i < len; i++) {
		if ((unsigned char)arg[i] < 0x20 || arg[i] == 0x7f)
			argp_error(state, "invalid --unit: a control character");
	}
	if (arg[0] == '/') {
		n = snprintf(unit, V6T_UNIT_LEN, "%s", arg);
	} else {
		if (!len || strchr(arg, '/'))
			argp_error(state, "invalid --unit: '%s' (a unit NAME, or a /CGROUP path)",
				   arg);
		typed = (len > 8 && !strcmp(arg + len - 8, ".service")) ||
			(len > 6 && !strcmp(arg + len - 6, ".scope"));
		n = snprintf(unit, V6T_UNIT_LEN, "/system.slice/%s%s", arg,
			     typed ? "" : ".service");
	}
	if (n < 0 || n >= V6T_UNIT_LEN)
		argp_error(state, "invalid --unit: too long");
	opts->nunits++;
}

static void parse_stacks(struct argp_state *state, struct options *opts, const char *arg)
{
	static const char *const names[] = {
		[V6T_STACK_V4] = "v4", [V6T_STACK_V6] = "v6", [V6T_STACK_DUAL] = "dual"};
	const char *p = arg;

	while (*p) {
		size_t len = strcspn(p, ","), i;

		for (i = 0; i < 3; i++) {
			if (strlen(names[i]) == len && !strncmp(p, names[i], len))
				break;
		}
		if (i == 3)
			argp_error(state, "invalid --stack: '%s' (v4, v6, dual, or a list)", arg);
		opts->filter.stacks |= 1u << i;
		p += len + (p[len] == ',');
	}
	if (!opts->filter.stacks)
		argp_error(state, "invalid --stack: '%s' (v4, v6, dual, or a list)", arg);
}

static void parse_user(struct argp_state *state, struct options *opts, const char *arg)
{
	unsigned long val;
	struct passwd *pw;

	if (!parse_uint(arg, UINT_MAX - 1, &val)) {
		opts->filter.uid = (uint32_t)val;
	} else {
		pw = *arg ? getpwnam(arg) : NULL;
		if (!pw)
			argp_error(state, "invalid --uid: '%s' (no such user)", arg);
		opts->filter.uid = pw->pw_uid;
	}
	opts->filter.by_uid = 1;
}

static bool is_cgroup2_dir(int fd)
{
	struct statfs sfs;

	return !fstatfs(fd, &sfs) && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

/* PATH as given, or relative to the cgroup2 mount ("/system.slice/x.service") */
static void parse_cgroup(struct argp_state *state, struct options *opts, const char *arg)
{
	char mount[256], joined[PATH_MAX];
	int fd, err;

	if (opts->cgroup_fd >= 0)
		argp_error(state, "only one --cgroup");
	fd = open(arg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	err = errno;
	if (fd >= 0 && is_cgroup2_dir(fd)) {
		opts->cgroup_fd = fd;
		return;
	}
	if (cgroup2_mount(mount, sizeof(mount)) &&
	    snprintf(joined, sizeof(joined), "%s/%s", mount, arg) < (int)sizeof(joined)) {
		int fd2 = open(joined, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd2 >= 0 && is_cgroup2_dir(fd2)) {
			if (fd >= 0)
				close(fd);
			opts->cgroup_fd = fd2;
			return;
		}
		if (fd2 >= 0)
			close(fd2);
	}
	if (fd < 0)
		argp_error(state, "invalid --cgroup: '%s': %s", arg, strerror(err));
	argp_error(state, "invalid --cgroup: '%s' is not a cgroup v2 directory", arg);
}

static void parse_netns(struct argp_state *state, struct options *opts, const char *arg)
{
	unsigned long val;
	struct statfs sfs;
	struct stat st;

	int fd;

	if (!parse_uint(arg, UINT_MAX, &val)) {
		opts->filter.netns = (uint32_t)val;
		/* an inode that names no network namespace would trace nothing, silently */
		fd = netns_open_by_inode(NULL, opts->filter.netns);
		if (fd < 0) { /* a fact of this machine, not a usage error: exit 1 */
			fail("--netns %lu: no network namespace has this inode (no process is in "
			     "it, /run/netns has no file of it)",
			     val);
			exit(1);
		}
		close(fd);
	} else {
		if (stat(arg, &st) || statfs(arg, &sfs))
			argp_error(state, "invalid --netns: '%s': %s", arg, strerror(errno));
		if (sfs.f_type != NSFS_MAGIC)
			argp_error(state, "invalid --netns: '%s' is not a namespace file", arg);
		fd = open(arg, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || !netns_is_net(fd))
			argp_error(state, "invalid --netns: '%s' is not a network namespace", arg);
		close(fd);
		opts->filter.netns = (uint32_t)st.st_ino;
		opts->netns_path = arg;
	}
	opts->filter.by_netns = 1;
}

/* SECONDS, with up to millisecond precision: 0 .. one day */
static void parse_linger(struct argp_state *state, struct options *opts, const char *arg)
{
	char *end;
	double sec;

	errno = 0;
	sec = strtod(arg, &end);
	if (errno || end == arg || *end || !(sec >= 0 && sec <= 86400))
		argp_error(state, "invalid --linger '%s': seconds from 0 to 86400", arg);
	opts->linger_ns = (int64_t)(sec * 1e9);
}

/*
 * --metrics-file PATH: its directory must exist (a typo is said now, not after
 * loading); whether v6trace can write there without its capabilities is
 * found by writing it, once they are dropped (exporter_start).
 */
static void parse_metrics_file(struct argp_state *state, struct options *opts, const char *arg)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(arg, '/');
	struct stat st;

	if (!*arg || (slash && !slash[1]))
		argp_error(state, "invalid --metrics-file: '%s' (a file name, as NAME.prom)", arg);
	if (strlen(arg) >= PATH_MAX - 16)
		argp_error(state, "invalid --metrics-file: too long");
	path_dir(arg, dir, sizeof(dir));
	if (stat(dir, &st)) {
		fail("--metrics-file %s: its directory %s: %s", arg, dir, strerror(errno));
		exit(1);
	}
	if (!S_ISDIR(st.st_mode)) {
		fail("--metrics-file %s: %s is not a directory", arg, dir);
		exit(1);
	}
	if (!stat(arg, &st) && S_ISDIR(st.st_mode)) {
		fail("--metrics-file %s: is a directory", arg);
		exit(1);
	}
	opts->metrics_path = arg;
}

static void parse_family(struct argp_state *state, struct options *opts, int family)
{
	if (opts->filter.family && opts->filter.family != family)
		argp_error(state, "-4 and -6 exclude each other");
	opts->filter.family = (uint8_t)family;
}

static error_t parse_option(int key, char *arg, struct argp_state *state)
{
	struct options *opts = state->input;
	unsigned long val;

	switch (key) {
	case OPT_CHILDREN:
		opts->filter.children = 1;
		break;
	case OPT_COMM:
		if (!*arg)
			argp_error(state, "invalid --comm: empty");
		/* the kernel keeps the first 15 bytes of a process name */
		strncpy(opts->filter.comm, arg, V6T_COMM_LEN - 1);
		opts->filter.by_comm = 1;
		break;
	case 'u':
		parse_user(state, opts, arg);
		break;
	case 'c':
		parse_cgroup(state, opts, arg);
		break;
	case OPT_NETNS:
		parse_netns(state, opts, arg);
		break;
	case 'P':
		parse_port_list(state, "--port", arg, opts->ports, &opts->nports);
		break;
	case '4':
		parse_family(state, opts, AF_INET);
		break;
	case '6':
		parse_family(state, opts, AF_INET6);
		break;
	case OPT_STACK:
		parse_stacks(state, opts, arg);
		break;
	case OPT_MAPPED:
		opts->filter.mapped = 1;
		break;
	case OPT_LINGER:
		parse_linger(state, opts, arg);
		break;
	case OPT_REPORT:
		opts->report = 1;
		break;
	case OPT_NO_REPORT:
		opts->report = 0;
		break;
	case OPT_FAIL_ON_LOST:
		opts->fail_on_lost = true;
		break;
	case OPT_WATCH:
		parse_port_list(state, "--watch", arg, opts->watch, &opts->nwatch);
		break;
	case OPT_IGNORE:
		parse_port_list(state, "--ignore", arg, opts->ignore, &opts->nignore);
		break;
	case OPT_UNIT:
		parse_unit(state, opts, arg);
		break;
	case OPT_AS_ROOT:
		opts->as_root = true;
		break;
	case OPT_ALL_CONNECTS:
		opts->filter.all_connects = 1;
		break;
	case OPT_CONTAINER:
		if (!*arg || strlen(arg) > CONTAINER_VALUE_MAX)
			argp_error(state, "invalid --container: '%s'", arg);
		if (opts->container)
			argp_error(state, "only one --container");
		opts->container = arg;
		break;
	case OPT_POD:
		if (!*arg || strlen(arg) > CONTAINER_VALUE_MAX || arg[strlen(arg) - 1] == '/')
			argp_error(state, "invalid --pod: '%s'", arg);
		if (opts->pod)
			argp_error(state, "only one --pod");
		opts->pod = arg;
		break;
	case OPT_SNAPSHOT:
		opts->snapshot = true;
		break;
	case OPT_WITH_SNAPSHOT:
		opts->with_snapshot = true;
		break;
	case 'o':
		if (!*arg)
			argp_error(state, "invalid --output: empty");
		opts->output_path = arg;
		break;
	case OPT_METRICS_FILE:
		parse_metrics_file(state, opts, arg);
		break;
	case OPT_METRICS_LISTEN:
		if (!*arg)
			argp_error(state, "invalid --metrics-listen: empty");
		opts->metrics_listen = arg;
		break;
	case OPT_METRICS_INTERVAL:
		if (parse_uint(arg, 86400, &val) || val == 0)
			argp_error(state, "invalid --metrics-interval: '%s' (seconds, 1 to 86400)",
				   arg);
		opts->metrics_interval = (unsigned int)val;
		break;
	case OPT_SYSLOG:
		opts->syslog = arg ? arg : "/dev/log";
		if (!*opts->syslog)
			argp_error(state, "invalid --syslog: empty");
		break;
	case 'p':
		if (parse_uint(arg, INT_MAX, &val) || val == 0)
			argp_error(state, "invalid PID: '%s'", arg);
		if (opts->npids == MAX_PIDS)
			argp_error(state, "at most %d -p options", MAX_PIDS);
		/* a pid nobody has yet would trace whoever gets it next */
		if (kill((pid_t)val, 0) && errno == ESRCH) {
			fail("-p %lu: no such process", val);
			exit(1);
		}
		opts->pids[opts->npids++] = (uint32_t)val;
		break;
	case 't':
		opts->timestamps = true;
		break;
	case 'j':
		opts->json = true;
		break;
	case 'v':
		opts->verbose = true;
		break;
	case 'm':
		opts->mode = mode_from_name(arg);
		if (opts->mode < 0)
			argp_error(state, "invalid mode: '%s' (auto, fentry, kprobe, tracepoint)",
				   arg);
		break;
	case OPT_RINGBUF_KB:
		if (parse_uint(arg, 1u << 21, &val) || val < 4 || (val & (val - 1)))
			argp_error(state, "invalid --ringbuf-kb: '%s' (a power of two >= 4)", arg);
		opts->ringbuf_kb = (unsigned int)val;
		break;
	case 'h':
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument: '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/*
 * The snapshot honours every filter (see snapshot_wanted()); what cannot apply
 * to it is refused rather than ignored.
 */
static void refuse_with_snapshot(const struct options *opts)
{
	const char *what = NULL;

	if (opts->snapshot && opts->mode)
		what = "--snapshot reads no kernel hook: -m does not apply";
	else if (opts->snapshot && opts->ringbuf_kb)
		what = "--snapshot uses no ring buffer: --ringbuf-kb does not apply";
	if (what) {
		fail("%s", what);
		exit(2);
	}
}

/*
 * Everything after the first "--" is COMMAND; argp sees only what is before
 * it, so COMMAND's own options are never taken for v6trace's.
 */
void cli_parse(int argc, char **argv, struct options *opts)
{
	static const struct argp argp = {option_table, parse_option, NULL, doc, NULL, NULL, NULL};
	int i, nargs = argc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			nargs = i;
			break;
		}
	}
	argp_err_exit_status = 2;
	argp_parse(&argp, nargs, argv, 0, NULL, opts);
	if (nargs < argc) {
		if (nargs + 1 == argc) {
			fail("missing COMMAND after --");
			exit(2);
		}
		if (opts->npids) {
			fail("-p and -- COMMAND exclude each other");
			exit(2);
		}
		opts->command = argv + nargs + 1;
		if (!command_exists(opts->command[0])) {
			if (!*opts->command[0])
				fail("cannot run '': empty command name");
			else /* as the child's execvp() would have said it */
				fail("cannot run %s: %s%s", opts->command[0], strerror(ENOENT),
				     strchr(opts->command[0], '/') ? ""
								   : " (in no PATH directory)");
			exit(127);
		}
	}
	if (opts->snapshot && (opts->with_snapshot || opts->command)) {
		fail("--snapshot prints and exits: use --with-snapshot to trace after it");
		exit(2);
	}
	refuse_with_snapshot(opts);
	if (opts->syslog && opts->output_path) {
		fail("--syslog and -o exclude each other");
		exit(2);
	}
	if (opts->syslog)
		opts->json = true; /* the payload a collector parses */
	if (opts->metrics_interval && !opts->metrics_path && !opts->metrics_listen) {
		fail("--metrics-interval needs --metrics-file or --metrics-listen");
		exit(2);
	}
	if ((opts->metrics_path || opts->metrics_listen) && opts->snapshot) {
		fail("--snapshot prints and exits: --metrics-%s needs a run",
		     opts->metrics_path ? "file" : "listen");
		exit(2);
	}
	if (!opts->metrics_interval)
		opts->metrics_interval = METRICS_DEFAULT_INTERVAL;
	if (opts->filter.children && !opts->npids) {
		fail("--children needs -p PID");
		exit(2);
	}
	if (opts->linger_ns >= 0 && !opts->command) {
		fail("--linger needs -- COMMAND");
		exit(2);
	}
	if (opts->linger_ns < 0)
		opts->linger_ns = DEFAULT_LINGER_NS;
	if (opts->report < 0) /* neither --report nor --no-report */
		opts->report = opts->command != NULL;
	if ((opts->fail_on_lost || opts->nwatch || opts->nignore || opts->nunits) &&
	    !opts->report) {
		fail("--fail-on-lost, --watch, --ignore and --unit need the report (-- COMMAND, or "
		     "--report)");
		exit(2);
	}
	if (opts->report && opts->snapshot) {
		fail("--snapshot prints and exits: the report needs a run");
		exit(2);
	}
}
