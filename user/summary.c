// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "classify.h"
#include "summary.h"

/*
 * The names a process's events carried, first first: a thread that renamed
 * itself (prctl PR_SET_NAME) or an exec gives one process several. Up to
 * this many are kept; more only sets names_dropped.
 */
#define SUMMARY_NAMES 8

struct proc_counts {
	__u32 pid;
	char comm[SUMMARY_NAMES][V6T_COMM_LEN]; /* comm[0]: the name of its first event */
	unsigned int ncomms;
	bool names_dropped;
	uint64_t binds[3]; /* successful binds, by enum v6t_stack */
	uint64_t failed;
	uint64_t accepts;
	uint64_t mapped; /* accepts of IPv4-mapped peers */
	uint64_t listens;
	uint64_t connects;
	uint64_t connects_mapped;
};

static int by_pid(const void *a, const void *b)
{
	__u32 pa = ((const struct proc_counts *)a)->pid, pb = ((const struct proc_counts *)b)->pid;

	return pa < pb ? -1 : pa > pb;
}

static struct proc_counts *proc_counts_get(struct summary *s, __u32 pid)
{
	struct proc_counts key = {.pid = pid}, *pc, **slot;

	slot = tfind(&key, &s->root, by_pid);
	if (slot)
		return *slot;
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return NULL;
	pc->pid = pid;
	slot = tsearch(pc, &s->root, by_pid);
	if (!slot) {
		free(pc);
		return NULL;
	}
	return pc;
}

static void remember_name(struct proc_counts *pc, const char comm[V6T_COMM_LEN])
{
	unsigned int i;

	for (i = 0; i < pc->ncomms; i++) {
		if (!strncmp(pc->comm[i], comm, V6T_COMM_LEN))
			return;
	}
	if (pc->ncomms == SUMMARY_NAMES) {
		pc->names_dropped = true;
		return;
	}
	memcpy(pc->comm[pc->ncomms++], comm, V6T_COMM_LEN);
}

void summary_add(struct summary *s, const struct v6t_event *e)
{
	struct proc_counts *pc;

	s->events++;
	pc = proc_counts_get(s, e->pid);
	if (!pc)
		return;
	remember_name(pc, e->comm);
	if (e->type == V6T_EVENT_BIND) {
		if (e->ret < 0)
			pc->failed++;
		else
			pc->binds[v6t_classify_stack(e)]++;
	} else if (e->type == V6T_EVENT_ACCEPT) {
		pc->accepts++;
		pc->mapped += v6t_event_mapped(e);
	} else if (e->type == V6T_EVENT_LISTEN) {
		pc->listens += e->ret == 0;
	} else if (e->type == V6T_EVENT_CONNECT) {
		pc->connects++;
		pc->connects_mapped += v6t_event_mapped(e);
	}
}

struct walk_ctx {
	struct strbuf *sb;
	bool json;
	bool first;
};

/* ,"comms":["first","second"] and ,"comms_truncated":true when names were dropped */
static void json_names(struct strbuf *sb, const struct proc_counts *pc)
{
	unsigned int i;

	sb_puts(sb, ",\"comms\":[");
	for (i = 0; i < pc->ncomms; i++) {
		sb_puts(sb, i ? ",\"" : "\"");
		json_escape(sb, pc->comm[i], strnlen(pc->comm[i], V6T_COMM_LEN));
		sb_puts(sb, "\"");
	}
	sb_puts(sb, pc->names_dropped ? "],\"comms_truncated\":true" : "]");
}

/* " also=second,third" (",..." when names were dropped): COMM shows the first */
static void text_names(struct strbuf *sb, const struct proc_counts *pc)
{
	unsigned int i;

	sb_puts(sb, " also=");
	for (i = 1; i < pc->ncomms; i++) {
		if (i > 1)
			sb_puts(sb, ",");
		text_comm(sb, pc->comm[i]);
	}
	if (pc->names_dropped)
		sb_puts(sb, ",...");
}

static void format_proc(const void *node, VISIT which, void *arg)
{
	const struct proc_counts *pc = *(const struct proc_counts *const *)node;
	struct walk_ctx *ctx = arg;
	struct strbuf *sb = ctx->sb;

	if (which != postorder && which != leaf)
		return;
	if (ctx->json) {
		sb_printf(sb, "%s{\"pid\":%u", ctx->first ? "" : ",", pc->pid);
		json_comm(sb, "comm", pc->comm[0]);
		if (pc->ncomms > 1)
			json_names(sb, pc);
		sb_printf(sb,
			  ",\"binds_v4\":%llu,\"binds_v6\":%llu,\"binds_dual\":%llu,"
			  "\"binds_failed\":%llu,\"listens\":%llu,\"accepts\":%llu,"
			  "\"accepts_mapped\":%llu,\"connects\":%llu,\"connects_mapped\":%llu}",
			  (unsigned long long)pc->binds[V6T_STACK_V4],
			  (unsigned long long)pc->binds[V6T_STACK_V6],
			  (unsigned long long)pc->binds[V6T_STACK_DUAL],
			  (unsigned long long)pc->failed, (unsigned long long)pc->listens,
			  (unsigned long long)pc->accepts, (unsigned long long)pc->mapped,
			  (unsigned long long)pc->connects,
			  (unsigned long long)pc->connects_mapped);
	} else {
		sb_printf(sb, "%-7u ", pc->pid);
		text_comm_column(sb, pc->comm[0]);
		sb_printf(sb, " %6llu %6llu %6llu %6llu %7llu %7llu %8llu %6llu",
			  (unsigned long long)pc->binds[V6T_STACK_V4],
			  (unsigned long long)pc->binds[V6T_STACK_V6],
			  (unsigned long long)pc->binds[V6T_STACK_DUAL],
			  (unsigned long long)pc->failed, (unsigned long long)pc->listens,
			  (unsigned long long)pc->accepts, (unsigned long long)pc->connects,
			  (unsigned long long)(pc->mapped + pc->connects_mapped));
		if (pc->ncomms > 1)
			text_names(sb, pc);
		sb_puts(sb, "\n");
	}
	ctx->first = false;
}

void summary_format_text(const struct summary *s, struct strbuf *sb)
{
	struct walk_ctx ctx = {.sb = sb, .json = false, .first = true};

	sb_printf(sb, "v6trace: %llu events, %llu lost, %llu filtered in the kernel\n",
		  (unsigned long long)s->events, (unsigned long long)s->lost,
		  (unsigned long long)s->filtered);
	if (s->unfollowed)
		sb_printf(sb, "v6trace: %llu forks not followed (pid table full)\n",
			  (unsigned long long)s->unfollowed);
	if (s->unfinished)
		sb_printf(sb,
			  "v6trace: %llu calls were under way when tracing stopped: not reported\n",
			  (unsigned long long)s->unfinished);
	if (s->lookups[HOLDER_FOUND] + s->lookups[HOLDER_NONE] + s->lookups[HOLDER_UNFINISHED] +
	    s->lookups[HOLDER_SKIPPED] + s->lookups[HOLDER_UNKNOWN] +
	    s->lookups[HOLDER_UNAVAILABLE])
		sb_printf(sb,
			  "v6trace: EADDRINUSE holders: %llu found, %llu none, %llu unfinished, "
			  "%llu skipped, %llu unknown, %llu unavailable\n",
			  (unsigned long long)s->lookups[HOLDER_FOUND],
			  (unsigned long long)s->lookups[HOLDER_NONE],
			  (unsigned long long)s->lookups[HOLDER_UNFINISHED],
			  (unsigned long long)s->lookups[HOLDER_SKIPPED],
			  (unsigned long long)s->lookups[HOLDER_UNKNOWN],
			  (unsigned long long)s->lookups[HOLDER_UNAVAILABLE]);
	if (!s->root)
		return;
	sb_printf(sb, "%-7s %-16s %6s %6s %6s %6s %7s %7s %8s %6s\n", "PID", "COMM", "V4", "V6",
		  "DUAL", "FAILED", "LISTENS", "ACCEPTS", "CONNECTS", "MAPPED");
	twalk_r(s->root, format_proc, &ctx);
}

void summary_format_json(const struct summary *s, struct strbuf *sb, int64_t realtime_ns)
{
	struct walk_ctx ctx = {.sb = sb, .json = true, .first = true};

	json_record_head(sb, realtime_ns, "summary");
	sb_printf(sb,
		  ",\"events\":%llu,\"lost\":%llu,\"filtered\":%llu,\"unfollowed\":%llu,"
		  "\"unwritten\":%llu,\"unfinished\":%llu,\"lookups\":{\"found\":%llu,"
		  "\"none\":%llu,\"unfinished\":%llu,\"skipped\":%llu,\"unknown\":%llu,"
		  "\"unavailable\":%llu},\"processes\":[",
		  (unsigned long long)s->events, (unsigned long long)s->lost,
		  (unsigned long long)s->filtered, (unsigned long long)s->unfollowed,
		  (unsigned long long)s->unwritten, (unsigned long long)s->unfinished,
		  (unsigned long long)s->lookups[HOLDER_FOUND],
		  (unsigned long long)s->lookups[HOLDER_NONE],
		  (unsigned long long)s->lookups[HOLDER_UNFINISHED],
		  (unsigned long long)s->lookups[HOLDER_SKIPPED],
		  (unsigned long long)s->lookups[HOLDER_UNKNOWN],
		  (unsigned long long)s->lookups[HOLDER_UNAVAILABLE]);
	if (s->root)
		twalk_r(s->root, format_proc, &ctx);
	sb_puts(sb, "]}\n");
}

void summary_free(struct summary *s)
{
	tdestroy(s->root, free);
	s->root = NULL;
}
