/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --snapshot: the sockets that exist now, from sock_diag, with their owners
 * from /proc, kept by the same filters as events (the kernel side's rules,
 * decided here in user space), formatted as socket records.
 */
#ifndef V6TRACE_SNAPSHOT_H
#define V6TRACE_SNAPSHOT_H

#include <stdint.h>
#include "cli.h"
#include "format.h"

struct snapshot_request {
	const struct options *opts; /* the filters, --netns, --all-connects, --json */
	uint32_t own_netns;	    /* the tracer's network namespace */
	uint32_t cmd_pid;	    /* -- COMMAND's pid, traced as -p PID --children; 0: none */
	const struct format_opts *fmt;
	struct strbuf *out; /* the records are appended here */
};

/*
 * The sockets that exist now, in the tracer's network namespace or the one of
 * --netns: listening TCP and MPTCP, bound UDP, and established tcp6 and MPTCP
 * over IPv6 with IPv4-mapped peers (all of them with --all-connects), that
 * the filters keep. 0, or -1 with one line on stderr (and nothing in out).
 */
int snapshot_print(const struct snapshot_request *req);

#endif
