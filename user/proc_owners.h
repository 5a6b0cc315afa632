/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The processes that own sockets, from one scan of /proc/PID/fd, and the
 * filters on an owner (-p, --children, --comm, -u, -c) the snapshot applies.
 */
#ifndef V6TRACE_PROC_OWNERS_H
#define V6TRACE_PROC_OWNERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "v6trace.h"

/* socket inode -> the lowest pid holding it, and that process's comm */
struct owners {
	void *root;
	void *netns; /* network namespace inode -> a process in it (owners_scan_netns()) */
};

/* Scans /proc/[0-9]*\/fd once. */
void owners_scan(struct owners *o);
/* The same scan, which also notes a process of every network namespace it sees. */
void owners_scan_netns(struct owners *o);
/* A process owners_scan_netns() saw in network namespace netns; 0: none. */
uint32_t owners_netns_pid(const struct owners *o, uint32_t netns);

/*
 * The filters on a socket's owner, as the kernel side's task_wanted() decides
 * them for a calling process; every one that is set must hold.
 */
struct owner_filter {
	const uint32_t *pids; /* -p: these processes; 0 of them: any */
	size_t npids;
	bool children;	  /* --children: and their descendants (by parent pid) */
	const char *comm; /* --comm: this name (the first 15 bytes); NULL: any */
	bool by_uid;	  /* -u: this real uid */
	uint32_t uid;
	const char *cgroup; /* -c: in this cgroup v2 path ("/a/b") or below it; NULL: any */
};

bool owner_wanted(const struct owner_filter *f, uint32_t pid);
/* owners_scan() of the processes f keeps (NULL: all): a socket's owner is the lowest of them */
void owners_scan_wanted(struct owners *o, const struct owner_filter *f);
/* false if no process in this pid namespace holds the socket */
bool owners_find(const struct owners *o, uint32_t inode, uint32_t *pid, char comm[V6T_COMM_LEN]);
void owners_free(struct owners *o);

#endif
