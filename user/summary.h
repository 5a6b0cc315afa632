/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Per-process counts printed when tracing ends. */
#ifndef V6TRACE_SUMMARY_H
#define V6TRACE_SUMMARY_H

#include <stdint.h>
#include "format.h"
#include "v6trace.h"

struct summary {
	void *root; /* tsearch() tree of struct proc_counts, by pid */
	uint64_t events;
	uint64_t lost;
	uint64_t filtered;   /* dropped by a filter in the kernel, never in the ring buffer */
	uint64_t unfollowed; /* forks not followed: the kernel's pid table was full */
	uint64_t unwritten;  /* records the output could not take (disk full, syslog down) */
	uint64_t unfinished; /* calls under way when tracing stopped: their return never traced */
	uint64_t lookups[HOLDER_LOOKUP_ANSWERS]; /* EADDRINUSE holder lookups, per answer */
};

void summary_add(struct summary *s, const struct v6t_event *e);
void summary_format_text(const struct summary *s, struct strbuf *sb);
void summary_format_json(const struct summary *s, struct strbuf *sb, int64_t realtime_ns);
void summary_free(struct summary *s);

#endif
