/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Per-process counts printed when tracing ends. */
#ifndef V6TRACE_SUMMARY_H
#define V6TRACE_SUMMARY_H

#include <stdint.h>
#include "format.h"
#include "v6trace.h"

/*
 * A run of months sees millions of pids: the summary keeps a row for at most
 * this many. When a new process needs a row and none is free, the row with the
 * fewest events (of those, the one idle longest) is folded: its counts are
 * added to the remainder (processes_folded, folded), so every total still adds
 * up: the rows' events plus folded.events is events.
 */
#define SUMMARY_MAX_PROCESSES 256
/*
 * The JSON summary record, its newline included, is at most this long: with
 * syslog's framing ("<30>Dec  2 05:58:15 v6trace[PID]: @cee:", under 64 bytes)
 * one datagram of at most 64 KiB. That is what rsyslog takes with
 * maxMessageSize="64k", syslog-ng by default, and far less than the kernel's
 * own limit for a unix datagram (net.core.wmem_default - 32: 212960 bytes
 * by default), past which send() fails with EMSGSIZE. Rows that would not fit
 * (only names escaped at their longest make 256 rows that long) are folded
 * too, the fewest events first.
 */
#define SUMMARY_MAX_BYTES (65536 - 128)

/* What a process did, or (folded) what the processes without a row did. */
struct proc_totals {
	uint64_t events;   /* every event of the process, whatever it was */
	uint64_t binds[3]; /* successful binds, by enum v6t_stack */
	uint64_t failed;
	uint64_t accepts;
	uint64_t mapped; /* accepts of IPv4-mapped peers */
	uint64_t listens;
	uint64_t connects;
	uint64_t connects_mapped;
};

struct proc_counts;

struct summary {
	void *root; /* tsearch() tree of struct proc_counts, by pid */
	uint64_t events;
	uint64_t lost;
	uint64_t filtered;   /* dropped by a filter in the kernel, never in the ring buffer */
	uint64_t unfollowed; /* forks not followed: the kernel's pid table was full */
	uint64_t unwritten;  /* records the output could not take (disk full, syslog down) */
	uint64_t unfinished; /* calls under way when tracing stopped: their return never traced */
	uint64_t lookups[HOLDER_LOOKUP_ANSWERS]; /* EADDRINUSE holder lookups, per answer */
	/* the rows, in no order (root finds them by pid); at most SUMMARY_MAX_PROCESSES */
	struct proc_counts *rows[SUMMARY_MAX_PROCESSES];
	unsigned int nrows;
	uint64_t seq;		   /* events added: the age of a row's last event */
	uint64_t processes_folded; /* rows folded into folded */
	struct proc_totals folded;
};

void summary_add(struct summary *s, const struct v6t_event *e);
void summary_format_text(const struct summary *s, struct strbuf *sb);
/* One record of at most SUMMARY_MAX_BYTES, appended to sb. */
void summary_format_json(const struct summary *s, struct strbuf *sb, int64_t realtime_ns);
void summary_free(struct summary *s);

#endif
