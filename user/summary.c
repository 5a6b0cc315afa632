// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <search.h>
#include <stdio.h>
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
	struct proc_totals t;
	uint64_t last_seq; /* summary.seq at its last event: the idlest row is folded first */
};

static int by_pid(const void *a, const void *b)
{
	__u32 pa = ((const struct proc_counts *)a)->pid, pb = ((const struct proc_counts *)b)->pid;

	return pa < pb ? -1 : pa > pb;
}

static void totals_add(struct proc_totals *to, const struct proc_totals *from)
{
	unsigned int i;

	to->events += from->events;
	for (i = 0; i < 3; i++)
		to->binds[i] += from->binds[i];
	to->failed += from->failed;
	to->accepts += from->accepts;
	to->mapped += from->mapped;
	to->listens += from->listens;
	to->connects += from->connects;
	to->connects_mapped += from->connects_mapped;
}

/* The row to fold first: the fewest events, then the longest idle. */
static bool folds_before(const struct proc_counts *a, const struct proc_counts *b)
{
	return a->t.events != b->t.events ? a->t.events < b->t.events : a->last_seq < b->last_seq;
}

/*
 * A full table gives up its row to fold first, counts and all, for the new
 * pid: the memory stays what SUMMARY_MAX_PROCESSES rows take.
 */
static struct proc_counts *fold_a_row(struct summary *s)
{
	unsigned int i, victim = 0;
	struct proc_counts *pc;

	for (i = 1; i < s->nrows; i++) {
		if (folds_before(s->rows[i], s->rows[victim]))
			victim = i;
	}
	pc = s->rows[victim];
	totals_add(&s->folded, &pc->t);
	s->processes_folded++;
	tdelete(pc, &s->root, by_pid);
	s->rows[victim] = s->rows[--s->nrows];
	memset(pc, 0, sizeof(*pc));
	return pc;
}

static struct proc_counts *proc_counts_get(struct summary *s, __u32 pid)
{
	struct proc_counts key = {.pid = pid}, *pc, **slot;

	slot = tfind(&key, &s->root, by_pid);
	if (slot)
		return *slot;
	pc = s->nrows == SUMMARY_MAX_PROCESSES ? fold_a_row(s) : calloc(1, sizeof(*pc));
	if (!pc)
		return NULL;
	pc->pid = pid;
	slot = tsearch(pc, &s->root, by_pid);
	if (!slot) {
		free(pc);
		return NULL;
	}
	s->rows[s->nrows++] = pc;
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

static void count_event(struct proc_totals *t, const struct v6t_event *e)
{
	t->events++;
	if (e->type == V6T_EVENT_BIND) {
		if (e->ret < 0)
			t->failed++;
		/* a bind whose socket or address is not known has no stack to count it by:
		 * it is in events only */
		else if (!(e->flags & (V6T_FLAG_ADDR_UNKNOWN | V6T_FLAG_SOCKET_UNKNOWN)))
			t->binds[v6t_classify_stack(e)]++;
	} else if (e->type == V6T_EVENT_ACCEPT) {
		t->accepts++;
		t->mapped += v6t_event_mapped(e);
	} else if (e->type == V6T_EVENT_LISTEN) {
		t->listens += e->ret == 0;
	} else if (e->type == V6T_EVENT_CONNECT) {
		t->connects++;
		t->connects_mapped += v6t_event_mapped(e);
	}
}

void summary_add(struct summary *s, const struct v6t_event *e)
{
	struct proc_counts *pc;

	s->events++;
	s->seq++;
	pc = proc_counts_get(s, e->pid);
	if (!pc) { /* no memory for a row: the remainder still counts it */
		count_event(&s->folded, e);
		return;
	}
	pc->last_seq = s->seq;
	remember_name(pc, e->comm);
	count_event(&pc->t, e);
}

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

/* "binds_v4":N,...,"connects_mapped":N */
static void json_totals(struct strbuf *sb, const struct proc_totals *t)
{
	sb_printf(sb,
		  "\"binds_v4\":%llu,\"binds_v6\":%llu,\"binds_dual\":%llu,"
		  "\"binds_failed\":%llu,\"listens\":%llu,\"accepts\":%llu,"
		  "\"accepts_mapped\":%llu,\"connects\":%llu,\"connects_mapped\":%llu",
		  (unsigned long long)t->binds[V6T_STACK_V4],
		  (unsigned long long)t->binds[V6T_STACK_V6],
		  (unsigned long long)t->binds[V6T_STACK_DUAL], (unsigned long long)t->failed,
		  (unsigned long long)t->listens, (unsigned long long)t->accepts,
		  (unsigned long long)t->mapped, (unsigned long long)t->connects,
		  (unsigned long long)t->connects_mapped);
}

static void json_row(struct strbuf *sb, const struct proc_counts *pc)
{
	sb_printf(sb, "{\"pid\":%u", pc->pid);
	json_comm(sb, "comm", pc->comm[0]);
	if (pc->ncomms > 1)
		json_names(sb, pc);
	sb_puts(sb, ",");
	json_totals(sb, &pc->t);
	sb_printf(sb, ",\"events\":%llu}", (unsigned long long)pc->t.events);
}

/* ],"processes_folded":N,"folded":{"events":N,"binds_v4":N,...}}\n */
static void json_tail(struct strbuf *sb, uint64_t processes_folded, const struct proc_totals *t)
{
	sb_printf(sb, "],\"processes_folded\":%llu,\"folded\":{\"events\":%llu,",
		  (unsigned long long)processes_folded, (unsigned long long)t->events);
	json_totals(sb, t);
	sb_puts(sb, "}}\n");
}

static void text_counts(struct strbuf *sb, const struct proc_totals *t)
{
	sb_printf(sb, " %6llu %6llu %6llu %6llu %7llu %7llu %8llu %6llu",
		  (unsigned long long)t->binds[V6T_STACK_V4],
		  (unsigned long long)t->binds[V6T_STACK_V6],
		  (unsigned long long)t->binds[V6T_STACK_DUAL], (unsigned long long)t->failed,
		  (unsigned long long)t->listens, (unsigned long long)t->accepts,
		  (unsigned long long)t->connects,
		  (unsigned long long)(t->mapped + t->connects_mapped));
}

static void text_row(struct strbuf *sb, const struct proc_counts *pc)
{
	sb_printf(sb, "%-7u ", pc->pid);
	text_comm_column(sb, pc->comm[0]);
	text_counts(sb, &pc->t);
	if (pc->ncomms > 1)
		text_names(sb, pc);
	sb_puts(sb, "\n");
}

static int cmp_pid(const void *a, const void *b)
{
	return by_pid(*(const struct proc_counts *const *)a, *(const struct proc_counts *const *)b);
}

/* the rows to keep first: the most events, then the latest */
static int cmp_keep(const void *a, const void *b)
{
	const struct proc_counts *x = *(const struct proc_counts *const *)a,
				 *y = *(const struct proc_counts *const *)b;

	return folds_before(y, x) ? -1 : folds_before(x, y);
}

/* The rows by pid into rows[] (room for SUMMARY_MAX_PROCESSES); how many. */
static unsigned int rows_by_pid(const struct summary *s, const struct proc_counts **rows)
{
	memcpy(rows, s->rows, s->nrows * sizeof(*rows));
	if (s->nrows)
		qsort(rows, s->nrows, sizeof(*rows), cmp_pid);
	return s->nrows;
}

/* The answers of EADDRINUSE holder lookups, counted and written in this order. */
#define FIRST_ANSWER HOLDER_FOUND

static bool lookups_counted(const struct summary *s)
{
	int k;

	for (k = FIRST_ANSWER; k < HOLDER_LOOKUP_ANSWERS; k++)
		if (s->lookups[k])
			return true;
	return false;
}

void summary_format_text(const struct summary *s, struct strbuf *sb)
{
	const struct proc_counts *rows[SUMMARY_MAX_PROCESSES];
	unsigned int i, n = rows_by_pid(s, rows);
	int k;

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
	if (lookups_counted(s)) {
		sb_puts(sb, "v6trace: EADDRINUSE holders: ");
		for (k = FIRST_ANSWER; k < HOLDER_LOOKUP_ANSWERS; k++)
			sb_printf(sb, "%s%llu %s", k == FIRST_ANSWER ? "" : ", ",
				  (unsigned long long)s->lookups[k], v6t_holder_lookup_name(k));
		sb_puts(sb, "\n");
	}
	if (!n && !s->folded.events)
		return;
	sb_printf(sb, "%-7s %-16s %6s %6s %6s %6s %7s %7s %8s %6s\n", "PID", "COMM", "V4", "V6",
		  "DUAL", "FAILED", "LISTENS", "ACCEPTS", "CONNECTS", "MAPPED");
	for (i = 0; i < n; i++)
		text_row(sb, rows[i]);
	if (s->folded.events) {
		char others[32];

		snprintf(others, sizeof(others), "(%llu more)",
			 (unsigned long long)s->processes_folded);
		sb_printf(sb, "%-7s %-16s", "-", others);
		text_counts(sb, &s->folded);
		sb_printf(sb, " (folded: %llu events of processes beyond the %d rows)\n",
			  (unsigned long long)s->folded.events, SUMMARY_MAX_PROCESSES);
	}
}

/*
 * Which rows fit in SUMMARY_MAX_BYTES after a head of head_len bytes: kept[]
 * gets them (by pid), the others are added to *folded. How many were kept.
 */
static unsigned int rows_that_fit(const struct summary *s, size_t head_len,
				  const struct proc_counts **kept, uint64_t *processes_folded,
				  struct proc_totals *folded)
{
	const struct proc_counts *order[SUMMARY_MAX_PROCESSES];
	const struct proc_totals most = {
		.events = UINT64_MAX,
		.binds = {UINT64_MAX, UINT64_MAX, UINT64_MAX},
		.failed = UINT64_MAX,
		.accepts = UINT64_MAX,
		.mapped = UINT64_MAX,
		.listens = UINT64_MAX,
		.connects = UINT64_MAX,
		.connects_mapped = UINT64_MAX,
	};
	struct strbuf scratch = {0};
	size_t room, used = 0;
	unsigned int i, n = 0;

	json_tail(&scratch, UINT64_MAX, &most); /* the longest the tail can be */
	room = SUMMARY_MAX_BYTES > head_len + scratch.len
		       ? SUMMARY_MAX_BYTES - head_len - scratch.len
		       : 0;
	memcpy(order, s->rows, s->nrows * sizeof(*order));
	if (s->nrows)
		qsort(order, s->nrows, sizeof(*order), cmp_keep);
	for (i = 0; i < s->nrows; i++) {
		size_t len;

		sb_reset(&scratch);
		json_row(&scratch, order[i]);
		len = scratch.len + (n > 0); /* and its comma */
		if (used + len <= room) {
			used += len;
			kept[n++] = order[i];
		} else {
			totals_add(folded, &order[i]->t);
			(*processes_folded)++;
		}
	}
	sb_free(&scratch);
	if (n)
		qsort(kept, n, sizeof(*kept), cmp_pid);
	return n;
}

void summary_format_json(const struct summary *s, struct strbuf *sb, int64_t realtime_ns)
{
	const struct proc_counts *kept[SUMMARY_MAX_PROCESSES];
	uint64_t processes_folded = s->processes_folded;
	struct proc_totals folded = s->folded;
	size_t start = sb->len;
	unsigned int i, n;
	int k;

	json_record_head(sb, realtime_ns, "summary");
	sb_printf(sb,
		  ",\"events\":%llu,\"lost\":%llu,\"filtered\":%llu,\"unfollowed\":%llu,"
		  "\"unwritten\":%llu,\"unfinished\":%llu,\"lookups\":{",
		  (unsigned long long)s->events, (unsigned long long)s->lost,
		  (unsigned long long)s->filtered, (unsigned long long)s->unfollowed,
		  (unsigned long long)s->unwritten, (unsigned long long)s->unfinished);
	for (k = FIRST_ANSWER; k < HOLDER_LOOKUP_ANSWERS; k++)
		sb_printf(sb, "%s\"%s\":%llu", k == FIRST_ANSWER ? "" : ",",
			  v6t_holder_lookup_name(k), (unsigned long long)s->lookups[k]);
	sb_puts(sb, "},\"processes\":[");
	n = rows_that_fit(s, sb->len - start, kept, &processes_folded, &folded);
	for (i = 0; i < n; i++) {
		if (i)
			sb_puts(sb, ",");
		json_row(sb, kept[i]);
	}
	json_tail(sb, processes_folded, &folded);
}

void summary_free(struct summary *s)
{
	tdestroy(s->root, free);
	s->root = NULL;
	s->nrows = 0;
}
