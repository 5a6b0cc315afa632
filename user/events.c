// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The pipeline from the ring buffer to the formatter and the output. */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/utsname.h>
#include "clock.h"
#include "runtime.h"
#include "snapshot.h"

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
bool flush_output(struct runtime *rt)
{
	output_add(&rt->output, &rt->out);
	output_flush(&rt->output, 0);
	watch_output(rt);
	return !rt->output.gone;
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

/*
 * What an event tells the deploy report: with COMMAND, a process of its tree
 * (every event is one's) and the address it listened on; a namespace the run
 * reached (a container COMMAND started); a bind that failed.
 */
static void note_for_report(struct runtime *rt, const struct v6t_event *e,
			    enum holder_lookup lookup, const struct holder *holder)
{
	if (rt->cmd.pid)
		deploy_report_tree_event(&rt->deploy_report, e);
	if (e->type != V6T_EVENT_BIND && e->type != V6T_EVENT_LISTEN)
		return;
	deploy_report_saw(&rt->deploy_report, e->netns, e->pid);
	if (e->type == V6T_EVENT_BIND && e->ret < 0)
		deploy_report_failed_bind(&rt->deploy_report, e, lookup, holder);
}

/* The event's cgroup path, the container id it holds and that container's names */
static void name_cgroup(struct runtime *rt, const struct v6t_event *e, struct event_info *info)
{
	int64_t now = clock_ns(CLOCK_MONOTONIC);
	const struct cgroup_name *cg =
		cgroup_name_of(&rt->cgroups, e->cgroup_id, e->pid, e->tid, (int64_t)e->ts_ns, now);

	info->cgroup = cg->path;
	info->container = cg->container[0] ? cg->container : NULL;
	info->names = container_info_of(&rt->containers, info->container, cg->path, now);
}

/*
 * One event out, with what user space knows of its cgroup, interface (NULL:
 * unknown) and holder: lookups' callback, once what it waited for is known.
 */
void write_event(void *ctx, const struct v6t_event *e, enum holder_lookup lookup,
		 const struct holder *holder, const char *ifname)
{
	struct runtime *rt = ctx;
	struct event_info info = {.holder_lookup = lookup, .held_by = holder, .ifname = ifname};

	name_cgroup(rt, e, &info);
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
int on_event(void *ctx, void *data, size_t size)
{
	struct runtime *rt = ctx;
	struct v6t_event e;

	if (size < sizeof(e)) {
		rt->malformed++;
		return 0;
	}
	memcpy(&e, data, sizeof(e));
	if (rt->opts->container || rt->opts->pod) { /* user space's part of these filters */
		struct event_info info = {0};

		name_cgroup(rt, &e, &info);
		if (!container_wanted(info.names, rt->opts->container, rt->opts->pod))
			return 0;
	}
	summary_add(&rt->summary, &e);
	exporter_count(rt, &e);
	lookups_event(&rt->lookups, &e, clock_ns(CLOCK_MONOTONIC));
	return 0;
}

/* The banner, and the start record or header (written by the caller). */
void emit_start(struct runtime *rt)
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
int print_snapshot(struct runtime *rt)
{
	struct snapshot_request req = {.opts = rt->opts,
				       .own_netns = rt->netns,
				       .cmd_pid = (uint32_t)rt->cmd.pid,
				       .fmt = &rt->fmt,
				       .containers = &rt->containers,
				       .out = &rt->out};

	return snapshot_print(&req);
}

/* Reports events the BPF side could not reserve room for since the last call. */
void note_lost_events(struct runtime *rt)
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

void emit_summary(struct runtime *rt)
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
