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

/* One socket the snapshot lists: what sock_diag and /proc said of it. */
struct snapshot_row {
	uint64_t ts_ns; /* CLOCK_MONOTONIC, when it was listed */
	uint32_t netns;
	uint32_t inode;
	uint32_t uid;
	uint32_t pid; /* the owner (the lowest pid holding it); 0: none found */
	char comm[V6T_COMM_LEN];
	uint16_t family;   /* AF_INET, AF_INET6 */
	uint16_t protocol; /* IPPROTO_TCP, IPPROTO_MPTCP, IPPROTO_UDP */
	uint8_t state;	   /* V6T_TCP_LISTEN, V6T_TCP_ESTABLISHED; V6T_TCP_CLOSE: bound UDP */
	uint8_t v6only;
	uint16_t lport, rport;
	uint8_t laddr[16], raddr[16]; /* network order */
	uint32_t ifindex;	      /* the interface it is bound to; 0: none */
};

struct container_names;

struct snapshot_request {
	const struct options *opts; /* the filters, --netns, --all-connects, --json */
	uint32_t own_netns;	    /* the tracer's network namespace */
	uint32_t cmd_pid;	    /* -- COMMAND's pid, traced as -p PID --children; 0: none */
	const struct format_opts *fmt;
	struct container_names *containers; /* names the owners' containers */
	struct strbuf *out;		    /* the records are appended here */
};

/*
 * The sockets that exist now, in the tracer's network namespace or the one of
 * --netns: listening TCP and MPTCP, bound UDP, and established tcp6 and MPTCP
 * over IPv6 with IPv4-mapped peers (all of them with --all-connects), that
 * the filters keep. 0, or -1 with one line on stderr (and nothing in out).
 */
int snapshot_print(const struct snapshot_request *req);

#endif
