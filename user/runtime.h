/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The runtime of one tracing run, passed explicitly (no mutable globals), and
 * the three parts that share it: main() and the run's start and end
 * (v6trace.c), the pipeline from the ring buffer to the formatter and the
 * output (events.c), and the event loop with its signals (loop.c).
 */
#ifndef V6TRACE_RUNTIME_H
#define V6TRACE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cgroup.h"
#include "cli.h"
#include "containers.h"
#include "command.h"
#include "format.h"
#include "helper.h"
#include "loader.h"
#include "lookups.h"
#include "metrics.h"
#include "output.h"
#include "deploy_report.h"
#include "metrics_http.h"
#include "summary.h"

struct ring_buffer;

/* The network namespaces --metrics-file lists: the tracer's, and this many more at most. */
#define EXPORTER_MAX_NETNS 64

struct exporter_netns {
	uint32_t netns;
	uint32_t pid; /* the way in: the last process seen binding there (0: the tracer's) */
};

/* --metrics-file, --metrics-listen: the counters, the last listing, the one being answered
 * (exporter.c). */
struct exporter {
	struct metrics_counters counters;
	struct metrics_state state;
	struct exporter_netns netns[EXPORTER_MAX_NETNS + 1]; /* [0]: the tracer's */
	size_t nnetns;
	size_t asking;			/* the round's namespace being listed */
	struct metrics_listeners round; /* the round's listeners so far */
	struct listeners pending;	/* the listing being answered by the helper */
	uint64_t asked_id;		/* its question's id */
	int64_t asked_ns;		/* when it was asked (CLOCK_MONOTONIC); 0: none under way */
	int timerfd;			/* every --metrics-interval; -1: no metrics */
	int helper_fd;			/* the helper's listing socket while watched; -1: not */
	size_t unlisted;		/* the round's listeners beyond METRICS_MAX_LISTED */
	bool write_failed;		/* said once until a write works again */
	struct metrics_http http;	/* --metrics-listen's server */
};

/* --metrics-file or --metrics-listen */
static inline bool metrics_wanted(const struct options *opts)
{
	return opts->metrics_path || opts->metrics_listen;
}

/* Above this much unwritten output, the ring buffer is left to fill (and count). */
#define OUTPUT_BACKLOG (4u << 20)
/* At exit, how long a stalled reader gets to take the last records. */
#define EXIT_FLUSH_NS (2 * 1000000000LL)
/* how long calls under way when tracing stops get to return */
#define STOP_GRACE_NS (200 * 1000000LL)
/* After a stop signal, how long the lookups still under way may take. */
#define STOP_LOOKUP_GRACE_NS (200 * 1000000LL)

/* Everything the event loop needs, passed explicitly. */
struct runtime {
	const struct options *opts;
	struct tracer tracer;
	struct ring_buffer *rb;
	struct format_opts fmt;
	struct summary summary;
	struct strbuf out;
	struct cgroup_names cgroups;
	struct container_names containers; /* the names of the containers seen */
	struct command cmd;
	uint32_t netns;		     /* inode of the tracer's network namespace */
	struct holder_helper helper; /* keeps what EADDRINUSE lookups need */
	struct lookups lookups;	     /* events waiting for the helper's answers */
	int helper_watched;	     /* the helper's socket while in the epoll set; -1: not */
	struct deploy_report deploy_report; /* the deploy report (opts->report) */
	int forwarded;			    /* SIGINT/SIGTERM received while COMMAND ran */
	int stop_signal;		    /* the last SIGINT/SIGTERM received */
	bool killed; /* a second signal ended v6trace: COMMAND was killed if still running */
	int64_t linger_until_ns; /* COMMAND has exited: follow what it started until then */
	uint64_t lost_reported;
	uint64_t malformed;
	uint64_t ticks; /* drain ticks since losses were last reported */
	struct output output;
	bool watching_out;  /* EPOLLOUT on the output: records are waiting for room */
	bool watching_ring; /* EPOLLIN on the ring buffer: off while the output is behind */
	int epfd, sigfd, timerfd;
	struct exporter exporter;
};

/* ---- events.c: from the ring buffer to the output ---------------------- */

/* Hands the formatted records over and writes what can be written now. */
bool flush_output(struct runtime *rt);
/* The ring buffer's callback: a record, summed, then out or waiting for a lookup. */
int on_event(void *ctx, void *data, size_t size);
/* lookups' callback: one event out, with what is known of it (NULL: unknown). */
void write_event(void *ctx, const struct v6t_event *e, enum holder_lookup lookup,
		 const struct holder *holder, const char *ifname);
/* The banner on stderr, and the start record or text header. */
void emit_start(struct runtime *rt);
/* The --snapshot (and --with-snapshot) of this run's options. */
int print_snapshot(struct runtime *rt);
/* The events the kernel side lost since the last call, and its counters. */
void note_lost_events(struct runtime *rt);
void emit_summary(struct runtime *rt);

/* ---- loop.c: the event loop --------------------------------------------- */

/* SIG_BLOCK or SIG_UNBLOCK the stop signals (SIGINT, SIGTERM, SIGHUP). */
void hold_stop_signals(int how);
/* The signalfd, the drain timer and the epoll set. 0, or -errno (said). */
int setup_loop(struct runtime *rt);
/* The queue where failed binds wait for the helper's answers, watched. */
int start_lookups(struct runtime *rt);
/* Until a stop signal, COMMAND's end (and its linger) or the reader's: 0, or 1. */
int run_loop(struct runtime *rt);

/* ---- exporter.c: --metrics-file ----------------------------------------- */

/* The first listing and write (a bad path: said, -1), and the timer. */
int exporter_start(struct runtime *rt);
void exporter_count(struct runtime *rt, const struct v6t_event *e);
/* The timer: asks the helper for a listing. */
void exporter_on_timer(struct runtime *rt);
/* The helper's listing socket is readable: a reply; the file once the listing is whole. */
void exporter_on_helper(struct runtime *rt);
/* The last listing and write, at the end. */
void exporter_finish(struct runtime *rt);
void exporter_free(struct exporter *x);

#endif
