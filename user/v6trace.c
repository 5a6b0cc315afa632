// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * v6trace: which process binds :: (dual-stack or v6-only) versus 0.0.0.0, and
 * which tcp6 sockets carry IPv4-mapped peers, live.
 */
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
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <cap-ng.h>
#include "clock.h"
#include "cgroup.h"
#include "command.h"
#include "classify.h"
#include "cli.h"
#include "format.h"
#include "helper.h"
#include "loader.h"
#include "memcg.h"
#include "lookups.h"
#include "output.h"
#include "report.h"
#include "snapshot.h"
#include "sockdiag.h"
#include "summary.h"

/* Above this much unwritten output, the ring buffer is left to fill (and count). */
#define OUTPUT_BACKLOG (4u << 20)
/* At exit, how long a stalled reader gets to take the last records. */
#define EXIT_FLUSH_NS (2 * 1000000000LL)
/* how long calls under way when tracing stops get to return */
#define STOP_GRACE_NS (200 * 1000000LL)
/* After a stop signal, how long the lookups still under way may take. */
#define STOP_LOOKUP_GRACE_NS (300 * 1000000LL)

/* Everything the event loop needs, passed explicitly. */
struct runtime {
	const struct options *opts;
	struct tracer tracer;
	struct ring_buffer *rb;
	struct format_opts fmt;
	struct summary summary;
	struct strbuf out;
	struct cgroup_names cgroups;
	struct command cmd;
	uint32_t netns;		     /* inode of the tracer's network namespace */
	struct holder_helper helper; /* keeps what EADDRINUSE lookups need */
	struct lookups lookups;	     /* events waiting for the helper's answers */
	int helper_watched;	     /* the helper's socket while in the epoll set; -1: not */
	struct report report;	     /* the deploy report (opts->report) */
	int forwarded;		     /* SIGINT/SIGTERM received while COMMAND ran */
	int stop_signal;	     /* the last SIGINT/SIGTERM received */
	bool killed; /* a second signal ended v6trace: COMMAND was killed if still running */
	int64_t linger_until_ns; /* COMMAND has exited: follow what it started until then */
	uint64_t lost_reported;
	uint64_t malformed;
	uint64_t ticks; /* drain ticks since losses were last reported */
	struct output output;
	bool watching_out;  /* EPOLLOUT on the output: records are waiting for room */
	bool watching_ring; /* EPOLLIN on the ring buffer: off while the output is behind */
	int epfd, sigfd, timerfd;
};

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

/* ---- preconditions ----------------------------------------------------- */

static bool has_bpf_privileges(void)
{
	capng_get_caps_process();
	if (capng_have_capability(CAPNG_EFFECTIVE, CAP_SYS_ADMIN))
		return true;
	return capng_have_capability(CAPNG_EFFECTIVE, CAP_BPF) &&
	       capng_have_capability(CAPNG_EFFECTIVE, CAP_PERFMON);
}

/* A memory cgroup that leaves too little room for loading: said, not OOM-killed. */
static bool memory_too_small(void)
{
	char where[PATH_MAX] = "";
	struct stat btf;
	int64_t room = memcg_room(where, sizeof(where)), needed;

	if (room < 0 || stat("/sys/kernel/btf/vmlinux", &btf))
		return false;
	needed = memcg_needed(btf.st_size);
	if (room >= needed)
		return false;
	fail("needs about %lld MiB of memory to load (three times the kernel's BTF, and 2 MiB); "
	     "the memory cgroup %s leaves %lld MiB",
	     (long long)(needed >> 20), where, (long long)(room >> 20));
	return true;
}

static int check_environment(void)
{
	if (!has_bpf_privileges()) {
		fail("needs root, or the CAP_BPF and CAP_PERFMON capabilities (try: sudo v6trace)");
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fail("this kernel has no BTF (/sys/kernel/btf/vmlinux: %s); "
		     "it needs CONFIG_DEBUG_INFO_BTF=y",
		     strerror(errno));
		return -ENOENT;
	}
	if (memory_too_small())
		return -ENOMEM;
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1) {
		fail("this kernel has no BPF ring buffer (needs Linux 5.8 or later)");
		return -ENOTSUP;
	}
	return 0;
}

/*
 * Once the programs are attached and the ring buffer and counters are mapped,
 * nothing left needs a privilege: drop every capability (effective,
 * permitted, inheritable, ambient, bounding set) and set no_new_privs, so the
 * loop that reads what any process can influence (names, addresses, paths)
 * runs with none. Detaching at the end is closing file descriptors.
 */
static int drop_privileges(void)
{
#ifdef CAPNG_SELECT_ALL
	const capng_select_t all = CAPNG_SELECT_ALL;
#else
	const capng_select_t all = CAPNG_SELECT_BOTH;
#endif

	capng_clear(all);
	if (capng_apply(all)) {
		fail("cannot drop capabilities");
		return -EPERM;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		fail("cannot set no_new_privs: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int read_bindv6only(void)
{
	FILE *f = fopen("/proc/sys/net/ipv6/bindv6only", "r");
	int val = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &val) != 1)
		val = -1;
	fclose(f);
	return val;
}

/* ---- output ------------------------------------------------------------ */

/* Watches the output for room while records wait, and for its reader leaving. */
static void watch_output(struct runtime *rt)
{
	bool want = output_pending(&rt->output) > 0;
	struct epoll_event ev = {.events = want ? EPOLLOUT : 0, .data.fd = rt->output.fd};

	if (rt->epfd < 0 || !rt->output.pipe || want == rt->watching_out)
		return;
	if (!epoll_ctl(rt->epfd, EPOLL_CTL_MOD, rt->output.fd, &ev))
		rt->watching_out = want;
}

/* Hands the formatted records over and writes what can be written now. */
static bool flush_output(struct runtime *rt)
{
	output_add(&rt->output, &rt->out);
	output_flush(&rt->output, 0);
	watch_output(rt);
	return !rt->output.gone;
}

static uint32_t netns_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint32_t)st.st_ino;
}

/*
 * Who holds the port of a bind that failed with EADDRINUSE, asked of the
 * kernel when the event is read, in the namespace of the socket (entered
 * through the failing process, if it is still there). A crash-looping service
 * fails the same way many times a second: one lookup serves for a second.
 */
/*
 * What an event tells the deploy report: with COMMAND, a process of its tree
 * (every event is one's) and the address it listened on; a namespace the run
 * reached (a container COMMAND started); a bind that failed.
 */
static void note_for_report(struct runtime *rt, const struct v6t_event *e,
			    enum holder_lookup lookup, const struct holder *holder)
{
	if (rt->cmd.pid)
		report_tree_event(&rt->report, e);
	if (e->type != V6T_EVENT_BIND && e->type != V6T_EVENT_LISTEN)
		return;
	report_saw(&rt->report, e->netns, e->pid);
	if (e->type == V6T_EVENT_BIND && e->ret < 0)
		report_failed_bind(&rt->report, e, lookup, holder);
}

/*
 * One event out, with what user space knows of its cgroup, interface (NULL:
 * unknown) and holder: lookups' callback, once what it waited for is known.
 */
static void write_event(void *ctx, const struct v6t_event *e, enum holder_lookup lookup,
			const struct holder *holder, const char *ifname)
{
	struct runtime *rt = ctx;
	const struct cgroup_name *cg;
	struct event_info info = {.holder_lookup = lookup, .held_by = holder, .ifname = ifname};

	cg = cgroup_name_of(&rt->cgroups, e->cgroup_id, e->pid, e->tid, (int64_t)e->ts_ns,
			    clock_ns(CLOCK_MONOTONIC));
	info.cgroup = cg->path;
	info.container = cg->container[0] ? cg->container : NULL;
	if (rt->opts->json)
		format_event_json(&rt->out, e, &info, &rt->fmt);
	else
		format_event_text(&rt->out, e, &info, &rt->fmt);
	if (rt->opts->report)
		note_for_report(rt, e, lookup, holder);
}

/*
 * A record from the ring buffer. A bind that failed with EADDRINUSE waits for
 * the helper to name its holder, an event on an interface of another
 * namespace for its name (user/lookups.h); everything else goes out now.
 */
static int on_event(void *ctx, void *data, size_t size)
{
	struct runtime *rt = ctx;
	struct v6t_event e;

	if (size < sizeof(e)) {
		rt->malformed++;
		return 0;
	}
	memcpy(&e, data, sizeof(e));
	summary_add(&rt->summary, &e);
	lookups_event(&rt->lookups, &e, clock_ns(CLOCK_MONOTONIC));
	return 0;
}

/* The banner, and the start record or header (written by the caller). */
static void emit_start(struct runtime *rt)
{
	struct utsname uts;
	struct start_info info = {
		.version = V6TRACE_VERSION,
		.mode = mode_name(rt->tracer.mode),
		.kernel = uname(&uts) ? "unknown" : uts.release,
		.bindv6only = read_bindv6only(),
		.realtime_ns = clock_ns(CLOCK_REALTIME),
	};

	fprintf(stderr, "v6trace %s: tracing with %s on Linux %s, net.ipv6.bindv6only=%d\n",
		info.version, info.mode, info.kernel, info.bindv6only);
	if (!rt->tracer.uring)
		fprintf(stderr,
			"v6trace: io_uring %s not seen on this kernel in %s mode (its "
			"io_uring_complete tracepoint names no request)\n",
			rt->tracer.mode == V6T_MODE_TRACEPOINT ? "requests are" : "connects are",
			info.mode);
	if (rt->opts->json)
		format_start_json(&rt->out, &info);
	else
		format_text_header(&rt->out, &rt->fmt);
}

/* The --snapshot (and --with-snapshot) of this run's options. */
static int print_snapshot(struct runtime *rt)
{
	struct snapshot_request req = {.opts = rt->opts,
				       .own_netns = rt->netns,
				       .cmd_pid = (uint32_t)rt->cmd.pid,
				       .fmt = &rt->fmt,
				       .out = &rt->out};

	return snapshot_print(&req);
}

/* Reports events the BPF side could not reserve room for since the last call. */
static void report_lost(struct runtime *rt)
{
	uint64_t stats[V6T_STAT_MAX], delta;

	if (tracer_read_stats(&rt->tracer, stats))
		return;
	rt->summary.lost = stats[V6T_STAT_LOST];
	rt->summary.filtered = stats[V6T_STAT_FILTERED];
	rt->summary.unfollowed = stats[V6T_STAT_UNFOLLOWED];
	delta = stats[V6T_STAT_LOST] - rt->lost_reported;
	if (!delta)
		return;
	rt->lost_reported = stats[V6T_STAT_LOST];
	if (rt->opts->json)
		format_lost_json(&rt->out, clock_ns(CLOCK_REALTIME), delta);
	else
		fprintf(stderr, "v6trace: lost %llu events (ring buffer full)\n",
			(unsigned long long)delta);
}

/* Every V6T_DRAIN_MS: the loop drains the ring buffer; once a second, losses. */
static void on_tick(struct runtime *rt, uint64_t ticks)
{
	lookups_progress(&rt->lookups, clock_ns(CLOCK_MONOTONIC)); /* the late ones */
	rt->ticks += ticks;
	if (rt->ticks >= 1000 / V6T_DRAIN_MS) {
		rt->ticks = 0;
		report_lost(rt);
	}
}

static void emit_summary(struct runtime *rt)
{
	struct strbuf sb = {0};

	/* never seen in practice (records have one fixed size), never silent */
	if (rt->malformed)
		fprintf(stderr, "v6trace: %llu ring buffer records of the wrong size skipped\n",
			(unsigned long long)rt->malformed);

	if (rt->opts->json) {
		summary_format_json(&rt->summary, &rt->out, clock_ns(CLOCK_REALTIME));
		flush_output(rt);
		return;
	}
	summary_format_text(&rt->summary, &sb);
	fputs(sb.data, stderr);
	sb_free(&sb);
}

/* ---- set-up and the event loop ----------------------------------------- */

static int epoll_add(int epfd, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * From the start of main(), SIGINT, SIGTERM and SIGHUP wait for the event
 * loop, which reads them from a signalfd: one sent while the programs load is
 * acted on once tracing runs, never lost. v6trace started in the background
 * by a script inherits SIGINT ignored, and an ignored signal that is not
 * blocked is thrown away when it is sent: such a v6trace used to trace on
 * forever. --snapshot has no loop: it gives them back (how = SIG_UNBLOCK).
 */
static void stop_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGHUP);
}

static void hold_stop_signals(int how)
{
	sigset_t mask;

	stop_signals(&mask);
	sigprocmask(how, &mask, NULL);
}

/*
 * A signal that is ignored when it is sent is thrown away by the kernel, not
 * queued: v6trace started in the background inherits SIGINT ignored, and a
 * SIGINT sent before the stop signals are held is lost, v6trace then traced on
 * until a second one (measured: 4 of 10 lost at 1 ms after exec, from main()).
 * So they are held from the first code the process runs once the dynamic
 * loader has mapped it: a .preinit_array entry runs before any library's
 * constructor and before main(). What remains is the loader's own time.
 */
static void hold_stop_signals_at_start(int argc, char **argv, char **envp)
{
	(void)argc;
	(void)argv;
	(void)envp;
	hold_stop_signals(SIG_BLOCK);
}

__attribute__((section(".preinit_array"),
	       used)) static void (*const hold_at_start)(int, char **,
							 char **) = hold_stop_signals_at_start;

static int setup_loop(struct runtime *rt)
{
	struct itimerspec tick = {.it_interval = {0, V6T_DRAIN_MS * 1000000L},
				  .it_value = {0, V6T_DRAIN_MS * 1000000L}};
	sigset_t mask;

	stop_signals(&mask); /* held since the process began; SIGCHLD joins them */
	if (rt->cmd.pid)
		sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	rt->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	rt->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	rt->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rt->sigfd < 0 || rt->timerfd < 0 || rt->epfd < 0 ||
	    timerfd_settime(rt->timerfd, 0, &tick, NULL) ||
	    epoll_add(rt->epfd, rt->sigfd, EPOLLIN) || epoll_add(rt->epfd, rt->timerfd, EPOLLIN) ||
	    epoll_add(rt->epfd, ring_buffer__epoll_fd(rt->rb), EPOLLIN)) {
		fail("cannot set up the event loop: %s", strerror(errno));
		return -errno;
	}
	rt->watching_ring = true;
	/* A pipe reports EPOLLERR as soon as its reader is gone: exit at once. */
	if (rt->output.pipe && rt->output.kind != OUTPUT_SYSLOG)
		epoll_add(rt->epfd, rt->output.fd, 0);
	return 0;
}

/*
 * Reads the ring buffer, unless the output is that far behind: then the
 * records stay in the kernel's buffer and, once it is full, new events are
 * counted as lost there. A stalled reader never stalls the traced processes.
 */
static void drain(struct runtime *rt)
{
	bool room = output_pending(&rt->output) < OUTPUT_BACKLOG;
	struct epoll_event ev = {.data.fd = ring_buffer__epoll_fd(rt->rb)};

	if (room)
		ring_buffer__consume(rt->rb);
	lookups_progress(&rt->lookups, clock_ns(CLOCK_MONOTONIC)); /* asks what was read */
	flush_output(rt);
	/* the ring buffer stays readable while it is not read: stop watching it
	 * until the reader catches up, or the loop would spin */
	room = output_pending(&rt->output) < OUTPUT_BACKLOG;
	if (room != rt->watching_ring) {
		ev.events = room ? EPOLLIN : 0;
		if (!epoll_ctl(rt->epfd, EPOLL_CTL_MOD, ev.data.fd, &ev))
			rt->watching_ring = room;
	}
}

/*
 * True when tracing should end. With -- COMMAND, it ends when COMMAND exits; a
 * SIGINT or SIGTERM sent to v6trace alone (not by the terminal, which signals
 * COMMAND too) is passed on to COMMAND first, and a second one ends tracing.
 */
/* Traced processes alive: COMMAND, plus the forks followed, less the exits. */
static uint64_t traced_alive(const struct runtime *rt)
{
	uint64_t stats[V6T_STAT_MAX];

	if (tracer_read_stats(&rt->tracer, stats))
		return 0;
	return 1 + stats[V6T_STAT_FOLLOWED] - stats[V6T_STAT_EXITED];
}

/*
 * COMMAND has exited. A daemon it started (forked, then the parent returned)
 * may bind a moment later: keep following until all of them have exited, or
 * --linger has passed. True if tracing goes on.
 */
static bool start_linger(struct runtime *rt)
{
	if (!rt->opts->linger_ns || !traced_alive(rt))
		return false;
	rt->linger_until_ns = clock_ns(CLOCK_MONOTONIC) + rt->opts->linger_ns;
	return true;
}

/* During the linger, on each tick: true once it is over. */
static bool linger_over(const struct runtime *rt)
{
	return rt->linger_until_ns &&
	       (!traced_alive(rt) || clock_ns(CLOCK_MONOTONIC) >= rt->linger_until_ns);
}

static bool on_signal(struct runtime *rt)
{
	struct signalfd_siginfo si;

	if (read(rt->sigfd, &si, sizeof(si)) != sizeof(si))
		return false;
	if (si.ssi_signo == SIGCHLD)
		return command_reap(&rt->cmd) && !start_linger(rt);
	if (si.ssi_signo == SIGHUP && rt->output.kind == OUTPUT_FILE) {
		char err[512];

		if (output_reopen(&rt->output, err, sizeof(err)))
			fail("cannot reopen the output on SIGHUP, still writing the old file: %s",
			     err);
		return false;
	}
	rt->stop_signal = (int)si.ssi_signo;
	if (!rt->cmd.pid || rt->cmd.exited)
		return true;
	if (rt->forwarded++) { /* the second: end now, whatever COMMAND does */
		rt->killed = command_kill(&rt->cmd);
		return true;
	}
	if (si.ssi_code != SI_KERNEL)
		kill(rt->cmd.pid, (int)si.ssi_signo);
	return false;
}

/*
 * The helper that names who holds a port, forked while the privileges it
 * keeps are there, and before anything is loaded: it carries none of the
 * tracer's memory (the kernel's BTF parsed while loading, the mapped ring
 * buffer, which a fork copies), only its own.
 */
static void start_helper(struct runtime *rt)
{
	int ret = holder_helper_start(&rt->helper, rt->netns);

	if (ret)
		fail("no helper for EADDRINUSE lookups (%s): they run without privileges",
		     strerror(-ret));
}

/* The queue where failed binds wait for the helper's answers. */
static int start_lookups(struct runtime *rt)
{
	if (lookups_init(&rt->lookups, &rt->helper, write_event, rt)) {
		fail("out of memory");
		return -1;
	}
	rt->helper_watched = lookups_fd(&rt->lookups);
	if (rt->helper_watched >= 0 && epoll_add(rt->epfd, rt->helper_watched, EPOLLIN)) {
		fail("cannot watch the helper: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The helper's socket is readable: answers, or its end. Once the helper is
 * gone (lookups said so on stderr) its socket leaves the epoll set: at EOF it
 * stays readable, and watching it would spin the loop.
 */
static void on_helper(struct runtime *rt)
{
	lookups_progress(&rt->lookups, clock_ns(CLOCK_MONOTONIC));
	if (lookups_fd(&rt->lookups) < 0) {
		epoll_ctl(rt->epfd, EPOLL_CTL_DEL, rt->helper_watched, NULL);
		rt->helper_watched = -1;
	}
}

static int run_loop(struct runtime *rt)
{
	struct epoll_event evs[4];
	uint64_t ticks;
	int i, n;

	for (;;) {
		n = epoll_wait(rt->epfd, evs, 4, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail("epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == rt->output.fd && (evs[i].events & (EPOLLERR | EPOLLHUP)))
				rt->output.gone = true;
			else if (fd == rt->output.fd)
				flush_output(rt);
			else if (fd == rt->sigfd && on_signal(rt))
				return 0;
			else if (fd == rt->timerfd && read(fd, &ticks, sizeof(ticks)) > 0)
				on_tick(rt, ticks);
			else if (fd == rt->helper_watched)
				on_helper(rt);
		}
		if (linger_over(rt))
			return 0;
		if (rt->output.gone)
			return 0;
		drain(rt);
		if (rt->output.gone)
			return 0;
	}
}

static int start_tracing(struct runtime *rt)
{
	uint32_t cmd_pid = (uint32_t)rt->cmd.pid;
	struct loader_opts lopts = {
		.mode = rt->opts->mode,
		.filter = rt->opts->filter,
		.pids = rt->cmd.pid ? &cmd_pid : rt->opts->pids,
		.npids = rt->cmd.pid ? 1 : rt->opts->npids,
		.ports = rt->opts->ports,
		.nports = rt->opts->nports,
		.cgroup_fd = rt->opts->cgroup_fd,
		.ringbuf_kb = rt->opts->ringbuf_kb,
	};
	char err[512] = "";
	int mode;

	if (rt->cmd.pid)
		lopts.filter.children = 1;
	if (tracer_start(&rt->tracer, &lopts, err, sizeof(err))) {
		if (rt->opts->mode)
			fail("cannot trace in %s mode: %s", mode_name(rt->opts->mode), err);
		else
			fail("%s", err);
		return -1;
	}
	if (rt->opts->verbose && !rt->opts->mode) {
		for (mode = V6T_MODE_FENTRY; mode < (int)rt->tracer.mode; mode++)
			fprintf(stderr, "v6trace: %s mode refused: %s\n", mode_name(mode),
				rt->tracer.refused[mode]);
	}
	rt->rb = ring_buffer__new(tracer_ringbuf_fd(&rt->tracer), on_event, rt, NULL);
	if (!rt->rb) {
		fail("cannot open the ring buffer: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void cleanup(struct runtime *rt)
{
	if (rt->cmd.pid)
		command_abort(&rt->cmd); /* a child that never ran exits now */
	holder_helper_stop(&rt->helper);
	report_free(&rt->report);
	lookups_free(&rt->lookups);
	ring_buffer__free(rt->rb);
	tracer_stop(&rt->tracer);
	summary_free(&rt->summary);
	cgroup_names_free(&rt->cgroups);
	sb_free(&rt->out);
	output_close(&rt->output);
	if (rt->opts->cgroup_fd >= 0)
		close(rt->opts->cgroup_fd);
	if (rt->epfd >= 0)
		close(rt->epfd);
	if (rt->sigfd >= 0)
		close(rt->sigfd);
	if (rt->timerfd >= 0)
		close(rt->timerfd);
}

static int open_output(struct runtime *rt)
{
	char err[512];
	int ret = 0;

	if (rt->opts->output_path)
		ret = output_open_file(&rt->output, rt->opts->output_path, err, sizeof(err));
	else if (rt->opts->syslog)
		ret = output_open_syslog(&rt->output, rt->opts->syslog, err, sizeof(err));
	else
		output_stdout(&rt->output);
	if (ret)
		fail("cannot open the output: %s", err);
	return ret;
}

/*
 * The report's "before": the tracer's namespace once attached (a listener made
 * meanwhile is in it or is an event), while v6trace still has the privileges
 * to name every owner.
 */
_Static_assert(V6T_UNIT_LEN == V6T_LISTENER_CGROUP_LEN, "--unit paths are listener cgroups");

/* Now in clock ticks after boot: the unit of a process's start in /proc/PID/stat. */
static uint64_t boot_ticks_now(void)
{
	long hz = sysconf(_SC_CLK_TCK);

	return (uint64_t)clock_ns(CLOCK_BOOTTIME) / (uint64_t)(1000000000LL / (hz > 0 ? hz : 100));
}

static void report_before(struct runtime *rt)
{
	struct report_ns *own;

	report_init(&rt->report, rt->netns);
	/* who made a change: COMMAND's tree (COMMAND has not run yet), the run's start, --unit */
	rt->report.command = rt->cmd.pid != 0;
	rt->report.command_pid = (uint32_t)rt->cmd.pid;
	report_tree_pid(&rt->report, rt->report.command_pid);
	rt->report.run_start = boot_ticks_now();
	rt->report.units = rt->opts->units;
	rt->report.nunits = rt->opts->nunits;
	rt->report.watch = rt->opts->watch;
	rt->report.nwatch = rt->opts->nwatch;
	rt->report.ignore = rt->opts->ignore;
	rt->report.nignore = rt->opts->nignore;
	own = &rt->report.ns[0];
	own->has_before = true;
	own->before_err = listeners_collect(-1, &own->before);
}

/*
 * The report's "after", once COMMAND has exited and its events are written:
 * every namespace the run reached, listed by the helper (which can still name
 * owners). Text goes to stderr (stdout with -o), JSON into the stream.
 */
static void emit_report(struct runtime *rt)
{
	struct strbuf sb = {0};
	size_t i;

	for (i = 0; i < rt->report.nns; i++) {
		struct report_ns *ns = &rt->report.ns[i];

		ns->after_err =
			holder_helper_listeners(&rt->helper, ns->netns, ns->via_pid, &ns->after);
	}
	if (report_compare(&rt->report))
		fail("the deploy report ran out of memory: it is incomplete");
	if (rt->opts->json) {
		report_format_json(&rt->report, &rt->out, clock_ns(CLOCK_REALTIME),
				   rt->opts->fail_on_lost);
		return;
	}
	report_format_text(&rt->report, &sb);
	fputs(sb.data, rt->opts->output_path ? stdout : stderr);
	sb_free(&sb);
}

/*
 * No new call is traced from here on; the calls already under way (saved at
 * their entry) report at their return, for up to STOP_GRACE_NS. Those still
 * under way then are counted, not lost silently.
 */
static void stop_producing(struct runtime *rt)
{
	int64_t deadline = clock_ns(CLOCK_MONOTONIC) + STOP_GRACE_NS;
	uint64_t stats[V6T_STAT_MAX];

	tracer_stop_producing(&rt->tracer);
	while (!tracer_read_stats(&rt->tracer, stats) &&
	       stats[V6T_STAT_CALLS_BEGUN] != stats[V6T_STAT_CALLS_ENDED] &&
	       clock_ns(CLOCK_MONOTONIC) < deadline)
		usleep(2000);
	if (!tracer_read_stats(&rt->tracer, stats))
		rt->summary.unfinished = stats[V6T_STAT_CALLS_BEGUN] - stats[V6T_STAT_CALLS_ENDED];
}

/*
 * The end: stop producing, then detach, so nothing arrives after the summary; then every
 * event still in the ring buffer, the losses, the summary, and a last flush
 * that gives a stalled reader EXIT_FLUSH_NS before the rest is dropped.
 * Whatever happens, only whole records are written.
 */
static void finish(struct runtime *rt)
{
	stop_producing(rt);
	tracer_detach(&rt->tracer);
	ring_buffer__consume(rt->rb);
	/* after a stop signal the answers still due get STOP_LOOKUP_GRACE_NS, so
	 * that v6trace ends within a second even when the helper is stuck */
	lookups_finish(&rt->lookups,
		       rt->stop_signal ? clock_ns(CLOCK_MONOTONIC) + STOP_LOOKUP_GRACE_NS : 0);
	memcpy(rt->summary.lookups, rt->lookups.count, sizeof(rt->summary.lookups));
	report_lost(rt);
	if (rt->opts->report)
		emit_report(rt);
	output_add(&rt->output, &rt->out);
	rt->summary.unwritten = rt->output.dropped;
	emit_summary(rt);
	output_add(&rt->output, &rt->out);
	output_flush(&rt->output, clock_ns(CLOCK_MONOTONIC) + EXIT_FLUSH_NS);
	if (rt->output.dropped) /* the summary may be among them: the totals, here */
		fprintf(stderr,
			"v6trace: %llu records could not be written; %llu events, %llu lost, "
			"%llu filtered in the kernel\n",
			(unsigned long long)rt->output.dropped,
			(unsigned long long)rt->summary.events,
			(unsigned long long)rt->summary.lost,
			(unsigned long long)rt->summary.filtered);
}

static int spawn_command(struct runtime *rt)
{
	char err[512];

	if (!rt->opts->command)
		return 0;
	if (command_spawn(&rt->cmd, rt->opts->command, rt->opts->as_root, err, sizeof(err))) {
		fail("%s", err);
		return -1;
	}
	return 0;
}

/* --fail-on-lost: a port lost IPv4 or IPv6 service through a change the deploy is held to */
static int gate_status(const struct runtime *rt)
{
	return rt->opts->fail_on_lost && rt->report.lost_counted ? V6T_EXIT_LOST_SERVICE : 0;
}

/*
 * The exit status once tracing ended normally (see the --help epilogue):
 * COMMAND's own when it exited by itself, even if v6trace was signalled.
 */
static int final_status(struct runtime *rt)
{
	if (!rt->cmd.pid)
		return gate_status(rt);
	if (!rt->killed && command_reap(&rt->cmd))
		return command_exit_code(&rt->cmd) ?: gate_status(rt);
	return rt->stop_signal ? 128 + rt->stop_signal : 0;
}

int main(int argc, char **argv)
{
	static struct options opts = {.cgroup_fd = -1, .linger_ns = -1, .report = -1};
	struct runtime rt = {.opts = &opts,
			     .epfd = -1,
			     .sigfd = -1,
			     .timerfd = -1,
			     .helper_watched = -1,
			     .helper = {.fd = -1, .holders = -1}};
	int status = 1;

	cli_parse(argc, argv, &opts);
	libbpf_set_print(opts.verbose ? libbpf_log : libbpf_quiet);
	rt.fmt.timestamps = opts.timestamps;
	rt.fmt.mono_to_real_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	cgroup_names_init(&rt.cgroups);
	rt.netns = netns_of("/proc/self/ns/net");
	if (open_output(&rt))
		goto cleanup;

	if (opts.snapshot) { /* no BPF: reading sock_diag and /proc needs no tracer */
		hold_stop_signals(SIG_UNBLOCK);
		if (!opts.json)
			format_text_header(&rt.out, &rt.fmt);
		status = print_snapshot(&rt) ? 1 : 0;
		output_add(&rt.output, &rt.out);
		output_flush(&rt.output, OUTPUT_WAIT_FOREVER); /* a pager may take its time */
		goto cleanup;
	}
	if (check_environment() || spawn_command(&rt))
		goto cleanup;
	start_helper(&rt);
	if (start_tracing(&rt) || setup_loop(&rt))
		goto cleanup;
	emit_start(&rt);
	/* after attaching: a socket made meanwhile is in the snapshot or an event */
	if (opts.with_snapshot && print_snapshot(&rt))
		goto cleanup;
	if (opts.report)
		report_before(&rt);
	if (start_lookups(&rt))
		goto cleanup;
	if (drop_privileges())
		goto cleanup;
	flush_output(&rt); /* the first record out: the privileges are gone by then */
	if (rt.cmd.pid && command_release(&rt.cmd)) {
		fail("cannot start %s", opts.command[0]);
		goto cleanup;
	}
	if (!rt.output.gone)
		status = run_loop(&rt);
	else
		status = 0;
	if (status == 0 && !rt.output.gone)
		finish(&rt);
	if (status == 0)
		status = final_status(&rt);
cleanup:
	cleanup(&rt);
	return status;
}
