// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * v6trace: which process binds :: (dual-stack or v6-only) versus 0.0.0.0, and
 * which tcp6 sockets carry IPv4-mapped peers, live.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <cap-ng.h>
#include "format.h"
#include "loader.h"
#include "summary.h"

#define MAX_PIDS 1024

struct options {
	int mode; /* 0: auto */
	uint32_t pids[MAX_PIDS];
	size_t npids;
	bool timestamps;
	bool json;
	bool verbose;
	unsigned int ringbuf_kb;
};

/* Everything the event loop needs, passed explicitly. */
struct runtime {
	const struct options *opts;
	struct tracer tracer;
	struct ring_buffer *rb;
	struct format_opts fmt;
	struct summary summary;
	struct strbuf out;
	uint64_t lost_reported;
	uint64_t malformed;
	uint64_t ticks;	  /* drain ticks since losses were last reported */
	bool output_gone; /* the reader of stdout went away */
	int epfd, sigfd, timerfd;
};

const char *argp_program_version = "v6trace " V6TRACE_VERSION;

static const char doc[] =
	"Trace, live, how sockets straddle IPv4 and IPv6: binds to 0.0.0.0 (v4), to :: "
	"(dual-stack, or v6-only with IPV6_V6ONLY or net.ipv6.bindv6only=1), and accepted "
	"tcp6 connections whose peer is an IPv4-mapped ::ffff:a.b.c.d address.\n"
	"\n"
	"USAGE: v6trace [-h] [-V] [-v] [-t] [-j] [-p PID]... [-m MODE] [--ringbuf-kb KB]\n"
	"\n"
	"EXAMPLES:\n"
	"    v6trace                 # every bind and accept, as text\n"
	"    v6trace -t              # with timestamps\n"
	"    v6trace -p 181 -p 182   # only processes 181 and 182\n"
	"    v6trace --json          # JSON Lines, for a log collector\n"
	"    v6trace -m tracepoint   # force the syscall-tracepoint attach mode\n"
	"\v"
	"Exit status: 0 when stopped by SIGINT/SIGTERM or when the reader of the output goes "
	"away, 1 on a runtime error, 2 on a usage error.";

enum {
	OPT_RINGBUF_KB = 0x100,
};

static const struct argp_option option_table[] = {
	{"pid", 'p', "PID", 0, "Trace this process id only (repeatable)", 0},
	{"timestamp", 't', NULL, 0, "Print a time column (text output)", 0},
	{"json", 'j', NULL, 0, "Write JSON Lines instead of text", 0},
	{"mode", 'm', "MODE", 0, "Attach mode: auto (default), fentry, kprobe, tracepoint", 0},
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

static error_t parse_option(int key, char *arg, struct argp_state *state)
{
	struct options *opts = state->input;
	unsigned long val;

	switch (key) {
	case 'p':
		if (parse_uint(arg, INT_MAX, &val) || val == 0)
			argp_error(state, "invalid PID: '%s'", arg);
		if (opts->npids == MAX_PIDS)
			argp_error(state, "at most %d -p options", MAX_PIDS);
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

static void parse_options(int argc, char **argv, struct options *opts)
{
	static const struct argp argp = {option_table, parse_option, NULL, doc, NULL, NULL, NULL};

	argp_err_exit_status = 2;
	argp_parse(&argp, argc, argv, 0, NULL, opts);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("v6trace: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

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
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1) {
		fail("this kernel has no BPF ring buffer (needs Linux 5.8 or later)");
		return -ENOTSUP;
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

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- output ------------------------------------------------------------ */

/* Writes the pending records; false once the reader of stdout is gone. */
static bool flush_output(struct runtime *rt)
{
	size_t off = 0;

	while (off < rt->out.len && !rt->output_gone) {
		ssize_t n = write(STDOUT_FILENO, rt->out.data + off, rt->out.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EPIPE)
				fail("cannot write output: %s", strerror(errno));
			rt->output_gone = true;
			break;
		}
		off += (size_t)n;
	}
	sb_reset(&rt->out);
	return !rt->output_gone;
}

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
	if (rt->opts->json)
		format_event_json(&rt->out, &e, &rt->fmt);
	else
		format_event_text(&rt->out, &e, &rt->fmt);
	return 0;
}

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
	if (rt->opts->json)
		format_start_json(&rt->out, &info);
	else
		format_text_header(&rt->out, &rt->fmt);
	flush_output(rt);
}

/* Reports events the BPF side could not reserve room for since the last call. */
static void report_lost(struct runtime *rt)
{
	uint64_t stats[V6T_STAT_MAX], delta;

	if (tracer_read_stats(&rt->tracer, stats))
		return;
	rt->summary.lost = stats[V6T_STAT_LOST];
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

static int watch(int epfd, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int setup_loop(struct runtime *rt)
{
	struct itimerspec tick = {.it_interval = {0, V6T_DRAIN_MS * 1000000L},
				  .it_value = {0, V6T_DRAIN_MS * 1000000L}};
	struct stat st;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	rt->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	rt->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	rt->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rt->sigfd < 0 || rt->timerfd < 0 || rt->epfd < 0 ||
	    timerfd_settime(rt->timerfd, 0, &tick, NULL) || watch(rt->epfd, rt->sigfd, EPOLLIN) ||
	    watch(rt->epfd, rt->timerfd, EPOLLIN) ||
	    watch(rt->epfd, ring_buffer__epoll_fd(rt->rb), EPOLLIN)) {
		fail("cannot set up the event loop: %s", strerror(errno));
		return -errno;
	}
	/* A pipe reports EPOLLERR as soon as its reader is gone: exit at once. */
	if (!fstat(STDOUT_FILENO, &st) && S_ISFIFO(st.st_mode))
		watch(rt->epfd, STDOUT_FILENO, 0);
	return 0;
}

static void drain(struct runtime *rt)
{
	ring_buffer__consume(rt->rb);
	flush_output(rt);
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

			if (fd == STDOUT_FILENO)
				rt->output_gone = true;
			else if (fd == rt->sigfd)
				return 0;
			else if (fd == rt->timerfd && read(fd, &ticks, sizeof(ticks)) > 0)
				on_tick(rt, ticks);
		}
		if (rt->output_gone)
			return 0;
		drain(rt);
		if (rt->output_gone)
			return 0;
	}
}

static int start_tracing(struct runtime *rt)
{
	struct loader_opts lopts = {
		.mode = rt->opts->mode,
		.pids = rt->opts->pids,
		.npids = rt->opts->npids,
		.ringbuf_kb = rt->opts->ringbuf_kb,
	};
	char err[512] = "";
	int mode;

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
	ring_buffer__free(rt->rb);
	tracer_stop(&rt->tracer);
	summary_free(&rt->summary);
	sb_free(&rt->out);
	if (rt->epfd >= 0)
		close(rt->epfd);
	if (rt->sigfd >= 0)
		close(rt->sigfd);
	if (rt->timerfd >= 0)
		close(rt->timerfd);
}

int main(int argc, char **argv)
{
	static struct options opts;
	struct runtime rt = {.opts = &opts, .epfd = -1, .sigfd = -1, .timerfd = -1};
	int status = 1;

	parse_options(argc, argv, &opts);
	libbpf_set_print(opts.verbose ? libbpf_log : libbpf_quiet);
	rt.fmt.timestamps = opts.timestamps;
	rt.fmt.mono_to_real_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);

	if (check_environment() || start_tracing(&rt) || setup_loop(&rt))
		goto cleanup;
	emit_start(&rt);
	if (!rt.output_gone)
		status = run_loop(&rt);
	else
		status = 0;
	if (status == 0 && !rt.output_gone) {
		tracer_detach(&rt.tracer); /* first: nothing arrives after the summary */
		ring_buffer__consume(rt.rb);
		report_lost(&rt);
		flush_output(&rt);
		emit_summary(&rt);
	}
cleanup:
	cleanup(&rt);
	return status;
}
