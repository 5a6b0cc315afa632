/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --metrics-file: what a fleet scrapes, in the Prometheus text exposition
 * format 0.0.4, as a node_exporter textfile written atomically (a temporary
 * file in the same directory, fsync, rename).
 *
 * Two kinds of series:
 * - the listeners that exist now (a gauge), from a periodic listing of the
 *   sockets (sock_diag and /proc, done by the lookup helper, which can name
 *   the owner of every process): a listener that closed is simply not in the
 *   next listing, which the event stream could not promise (a close is not
 *   traced, and an event lost in a full ring buffer would leave a listener
 *   forever or never);
 * - counters of the events traced since v6trace started.
 *
 * Label sets are bounded: at most METRICS_MAX_LISTENERS listener series (the
 * rest counted in v6trace_listeners_omitted), at most METRICS_MAX_RESULTS bind
 * results (the rest as result="other"), and every label value is short
 * (a comm is 15 bytes, an address at most 45, a container id 64).
 */
#ifndef V6TRACE_METRICS_H
#define V6TRACE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "array.h"
#include "classify.h"
#include "format.h"
#include "v6trace.h"

/*
 * A host has tens of listeners, a Kubernetes node at its default 110 pods a
 * few hundred; 1000 series keep the file under about 300 KB (node_exporter
 * parses it at every scrape) and far under the series limits scrapes are
 * usually given, while a host that opens sockets by the thousand (a port
 * scanner's target, a test farm) cannot flood the fleet's database.
 */
#define METRICS_MAX_LISTENERS 1000
/* Distinct bind results (ok and errno names) kept apart; more are result="other". */
#define METRICS_MAX_RESULTS 32
#define METRICS_STACKS	    4 /* v4, v6, dual, and unknown (a socket or address not known) */
/* --metrics-interval's default, in seconds */
#define METRICS_DEFAULT_INTERVAL 15

/* Labels a listener series carries; an owner not found has pid 0 and comm, container "". */
struct metrics_listener {
	uint32_t netns;	   /* the network namespace's inode */
	const char *proto; /* "tcp", "udp", "mptcp", "other" */
	uint16_t port;
	enum v6t_stack stack;
	char addr[V6T_ADDR_STRLEN];
	uint32_t pid;
	char comm[V6T_COMM_LEN];
	char container[65]; /* the container id of the owner's cgroup ("" if none or unknown) */
	/* its names, as the records carry them (NULL: none, or not known); owned */
	char *container_name, *pod_namespace, *pod_name;
};

/* Frees what the listeners v[0..n) own (not v). */
void metrics_listeners_clear(struct metrics_listener *v, size_t n);

struct metrics_listeners ARRAY_OF(struct metrics_listener);

/*
 * What one round of listings keeps at most, whatever the namespaces hold: the
 * memory stays bounded; more are counted as omitted.
 */
#define METRICS_MAX_LISTED (16 * METRICS_MAX_LISTENERS)

struct metrics_bind_result {
	int err; /* 0: ok; an errno; -1: other */
	uint64_t count[METRICS_STACKS];
};

/* The counters, from every event v6trace reads. */
struct metrics_counters {
	uint64_t events;
	struct metrics_bind_result binds[METRICS_MAX_RESULTS + 1]; /* the last: other */
	unsigned int nresults;
	uint64_t listens[METRICS_STACKS];
	uint64_t accepts[2]; /* by mapped: [0] not, [1] mapped */
	uint64_t connects[2];
};

/* What one write says besides the counters. */
struct metrics_state {
	const char *version;
	const char *mode; /* "tracepoint", ... */
	uint64_t lost_ring;
	uint64_t lost_output;
	/* the last listing that succeeded: its time (CLOCK_REALTIME ns), 0 if none did */
	int64_t listed_ns;
	bool listed; /* the latest listing succeeded: the listener series are written */
	uint64_t listing_errors;
	/* of the latest listing, if it succeeded; metrics_format sorts them */
	struct metrics_listener *listeners;
	size_t nlisteners;
	size_t unlisted;	   /* listeners beyond METRICS_MAX_LISTED in the latest round */
	unsigned int netns_listed; /* network namespaces the latest round listed */
	/* binds and listens in a namespace beyond the EXPORTER_MAX_NETNS listed */
	uint64_t netns_unlisted_events;
};

void metrics_count(struct metrics_counters *c, const struct v6t_event *e);

/*
 * A label value as the format wants it: backslash, double quote and line
 * feed escaped. Used on strings v6trace escaped already (text_escape: bytes
 * outside printable ASCII as \xHH), so a value is printable ASCII, whatever
 * a process named itself.
 */
void metrics_label_escape(struct strbuf *sb, const char *s, size_t len);

/*
 * The whole exposition; listeners sorted (port, proto, address, stack, pid)
 * in place and equal label sets merged into one series counting their sockets.
 */
void metrics_format(struct strbuf *sb, const struct metrics_counters *c, struct metrics_state *st);

/*
 * Replaces path with data: a temporary file in its directory, fsync, rename.
 * 0, or -errno with err said (the old file then stays as it was).
 */
int metrics_write_file(const char *path, const char *data, size_t len, char *err, size_t errlen);

#endif
