/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The command line: what v6trace was asked to do, checked once, in one place. */
#ifndef V6TRACE_CLI_H
#define V6TRACE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "v6trace.h"

#define MAX_PIDS 1024
/* --linger's default: daemons bind within milliseconds of their parent's exit */
#define DEFAULT_LINGER_NS (2 * 1000000000LL)

#define V6T_MAX_UNITS 16
#define V6T_UNIT_LEN  256 /* a cgroup path, as the report's V6T_LISTENER_CGROUP_LEN */

struct options {
	int mode; /* 0: auto */
	uint32_t pids[MAX_PIDS];
	size_t npids;
	uint16_t ports[V6T_MAX_PORTS];
	size_t nports;
	struct v6t_filter filter; /* comm, uid, netns, family, stacks, mapped, children */
	int cgroup_fd;		  /* -c: the open cgroup directory, or -1 */
	const char *container;	  /* --container NAME|ID, or NULL */
	const char *pod;	  /* --pod [NAMESPACE/]NAME, or NULL */
	const char *netns_path;	  /* --netns given as a path (the snapshot opens it) */
	char **command;		  /* after --, or NULL */
	int64_t linger_ns; /* --linger: how long COMMAND's descendants are followed after it */
	int report;	   /* the deploy report: 1 on, 0 off, -1 the default (on with COMMAND) */
	bool fail_on_lost; /* the gate: exit V6T_EXIT_LOST_SERVICE when a port lost service */
	uint16_t watch[V6T_MAX_PORTS], ignore[V6T_MAX_PORTS]; /* the report's ports */
	size_t nwatch, nignore;
	char units[V6T_MAX_UNITS][V6T_UNIT_LEN]; /* --unit: cgroup v2 paths the gate counts */
	size_t nunits;
	bool as_root;
	const char *output_path;       /* -o */
	const char *syslog;	       /* --syslog: the socket */
	const char *metrics_path;      /* --metrics-file */
	const char *metrics_listen;    /* --metrics-listen ADDR:PORT */
	unsigned int metrics_interval; /* --metrics-interval, seconds (0: the default) */
	bool snapshot;		       /* --snapshot: print the existing sockets and exit */
	bool with_snapshot;	       /* --with-snapshot: print them, then trace */
	bool timestamps;
	bool json;
	bool verbose;
	unsigned int ringbuf_kb;
};

/*
 * Parses argv into opts (zeroed by the caller but for cgroup_fd = -1,
 * linger_ns = -1 and report = -1). A usage error is one line on stderr and exit status 2.
 */
void cli_parse(int argc, char **argv, struct options *opts);

/* "v6trace: " and the message, one line on stderr */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
