/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Loading and attaching the BPF programs of one attach mode. */
#ifndef V6TRACE_LOADER_H
#define V6TRACE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "v6trace.h"

struct v6trace_bpf;
struct bpf_link;

struct loader_opts {
	int mode; /* enum v6t_mode, or 0 for auto: fentry, then kprobe, then tracepoint */
	struct v6t_filter filter; /* by_pid, by_port and by_cgroup are set from below */
	const uint32_t *pids;
	size_t npids;
	const uint16_t *ports;
	size_t nports;
	int cgroup_fd; /* an open cgroup v2 directory, or -1 */
	unsigned int ringbuf_kb;
};

struct tracer {
	struct v6trace_bpf *skel;
	struct bpf_link **links;
	size_t nlinks;
	enum v6t_mode mode;
	const volatile __u64 *stats; /* the stats map, mapped read-only */
	size_t stats_len;	     /* bytes mapped */
	int ncpus;
	bool uring; /* io_uring_complete is traced: io_uring requests (tracepoint), connects */
	/* why each mode that was tried and refused was refused (for -v) */
	char refused[V6T_MODE_TRACEPOINT + 1][160];
};

const char *mode_name(int mode);
/* "fentry" -> V6T_MODE_FENTRY; "auto" -> 0; -1 if unknown */
int mode_from_name(const char *name);

/* 0, or -errno with a one-line reason in err */
int tracer_start(struct tracer *t, const struct loader_opts *opts, char *err, size_t errlen);
int tracer_ringbuf_fd(const struct tracer *t);
/* Sums the per-CPU counters of enum v6t_stat; no system call. */
int tracer_read_stats(const struct tracer *t, uint64_t stats[V6T_STAT_MAX]);
/*
 * Ends tracing without cutting a call in two: from now on no new call is
 * traced, while the calls already saved at their entry still report at their
 * return. A store to memory-mapped data: no system call, no privilege.
 */
void tracer_stop_producing(struct tracer *t);
/* Detaches the programs; the maps stay readable until tracer_stop(). */
void tracer_detach(struct tracer *t);
void tracer_stop(struct tracer *t);

#endif
