// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * v6trace: which process binds :: (dual-stack or v6-only) versus 0.0.0.0, and
 * which tcp6 sockets carry IPv4-mapped peers, live.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cap-ng.h>
#include "clock.h"
#include "memcg.h"
#include "runtime.h"

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
		/*
		 * The probe says "unsupported" for any refusal. A refusal for
		 * want of privilege is a capability this process seems to hold
		 * and the kernel does not honour (a container runtime that does
		 * not know CAP_BPF), not a missing feature.
		 */
		int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0,
					(__u32)sysconf(_SC_PAGESIZE), NULL);
		int err = errno;

		if (fd >= 0) {
			close(fd);
		} else if (err == EPERM || err == EACCES) {
			fail("cannot create a BPF map (%s): needs CAP_BPF and CAP_PERFMON, "
			     "or CAP_SYS_ADMIN",
			     strerror(err));
			return -err;
		} else {
			fail("this kernel has no BPF ring buffer (needs Linux 5.8 or later)");
			return -ENOTSUP;
		}
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

static uint32_t netns_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint32_t)st.st_ino;
}

/* ---- starting, stopping ------------------------------------------------ */

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
	exporter_free(&rt->exporter);
	holder_helper_stop(&rt->helper);
	deploy_report_free(&rt->deploy_report);
	lookups_free(&rt->lookups);
	ring_buffer__free(rt->rb);
	tracer_stop(&rt->tracer);
	summary_free(&rt->summary);
	cgroup_names_free(&rt->cgroups);
	container_names_free(&rt->containers);
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

static void deploy_report_before(struct runtime *rt)
{
	struct deploy_report_ns *own;

	deploy_report_init(&rt->deploy_report, rt->netns);
	/* who made a change: COMMAND's tree (COMMAND has not run yet), the run's start, --unit */
	rt->deploy_report.command = rt->cmd.pid != 0;
	rt->deploy_report.command_pid = (uint32_t)rt->cmd.pid;
	deploy_report_tree_pid(&rt->deploy_report, rt->deploy_report.command_pid);
	rt->deploy_report.run_start = boot_ticks_now();
	rt->deploy_report.units = rt->opts->units;
	rt->deploy_report.nunits = rt->opts->nunits;
	rt->deploy_report.watch = rt->opts->watch;
	rt->deploy_report.nwatch = rt->opts->nwatch;
	rt->deploy_report.ignore = rt->opts->ignore;
	rt->deploy_report.nignore = rt->opts->nignore;
	own = &rt->deploy_report.ns.v[0];
	own->has_before = true;
	own->before_err = listeners_collect(-1, &own->before);
}

/*
 * The report's "after", once COMMAND has exited and its events are written:
 * every namespace the run reached, listed by the helper (which can still name
 * owners). Text goes to stderr (stdout with -o), JSON into the stream.
 */
static void emit_deploy_report(struct runtime *rt)
{
	struct strbuf sb = {0};
	size_t i;

	for (i = 0; i < rt->deploy_report.ns.n; i++) {
		struct deploy_report_ns *ns = &rt->deploy_report.ns.v[i];

		ns->after_err =
			holder_helper_listeners(&rt->helper, ns->netns, ns->via_pid, &ns->after);
	}
	if (deploy_report_compare(&rt->deploy_report))
		fail("the deploy report ran out of memory: it is incomplete");
	if (rt->opts->json) {
		deploy_report_format_json(&rt->deploy_report, &rt->out, clock_ns(CLOCK_REALTIME),
					  rt->opts->fail_on_lost);
		return;
	}
	deploy_report_format_text(&rt->deploy_report, &sb);
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
	note_lost_events(rt);
	if (rt->opts->report)
		emit_deploy_report(rt);
	output_add(&rt->output, &rt->out);
	rt->summary.unwritten = rt->output.dropped;
	emit_summary(rt);
	output_add(&rt->output, &rt->out);
	output_flush(&rt->output, clock_ns(CLOCK_MONOTONIC) + EXIT_FLUSH_NS);
	exporter_finish(rt);	/* after the flush: the output's drops are final */
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
	return rt->opts->fail_on_lost && rt->deploy_report.lost_counted ? V6T_EXIT_LOST_SERVICE : 0;
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

/*
 * --container and --pod are decided in user space on every event (a
 * container started later is found by its names); when exactly one such
 * container (pod) runs now and no -c is given, its cgroup also becomes -c's,
 * so that the kernel keeps only its events from the start.
 */
static void container_filter_in_kernel(struct runtime *rt, struct options *opts)
{
	const char *wanted = opts->container ? opts->container : opts->pod;
	const char *what = opts->container ? "--container" : "--pod";
	char path[PATH_MAX];
	int found, fd = -1;

	if (!wanted)
		return;
	if (opts->cgroup_fd >= 0) {
		fprintf(stderr, "v6trace: %s %s: decided in user space (-c is the kernel's)\n",
			what, wanted);
		return;
	}
	found = opts->container && opts->pod
			? 2
			: container_cgroup_now(&rt->containers, wanted, !opts->container, path,
					       sizeof(path));
	if (found == 1 && rt->cgroups.mount_fd >= 0)
		fd = openat(rt->cgroups.mount_fd, path[1] ? path + 1 : ".",
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		opts->cgroup_fd = fd;
		fprintf(stderr, "v6trace: %s %s: its cgroup %s, decided %s\n", what, wanted, path,
			opts->snapshot ? "as -c's" : "in the kernel");
		return;
	}
	fprintf(stderr, "v6trace: %s %s: decided in user space (%s)\n", what, wanted,
		found == 0   ? "none runs now"
		: found == 2 ? "more than one cgroup matches"
			     : "its cgroup cannot be opened");
}

int main(int argc, char **argv)
{
	static struct options opts = {.cgroup_fd = -1, .linger_ns = -1, .report = -1};
	struct runtime rt = {
		.opts = &opts,
		.epfd = -1,
		.sigfd = -1,
		.timerfd = -1,
		.helper_watched = -1,
		.exporter = {.timerfd = -1, .helper_fd = -1, .http = {.listen_fd = -1, .fd = -1}},
		.helper = {.fd = -1, .holders = -1}};
	int status = 1;

	cli_parse(argc, argv, &opts);
	libbpf_set_print(opts.verbose ? libbpf_log : libbpf_quiet);
	rt.fmt.timestamps = opts.timestamps;
	rt.fmt.mono_to_real_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	cgroup_names_init(&rt.cgroups);
	container_names_init(&rt.containers);
	container_filter_in_kernel(&rt, &opts);
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
	/* bound with the privileges a port below 1024 needs; served once they are gone */
	if (opts.metrics_listen && metrics_http_listen(&rt.exporter.http, opts.metrics_listen))
		goto cleanup;
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
		deploy_report_before(&rt);
	if (start_lookups(&rt))
		goto cleanup;
	if (drop_privileges())
		goto cleanup;
	/* without privileges, as every later write: a path it cannot write ends the run here */
	if (exporter_start(&rt))
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
