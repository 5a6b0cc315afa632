/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The sockets that serve a namespace: listening TCP and MPTCP (without the
 * MPTCP sockets' TCP subflows), bound UDP, each with its owner. What the
 * deploy report compares before and after a deploy.
 */
#ifndef V6TRACE_LISTENERS_H
#define V6TRACE_LISTENERS_H

#include <stddef.h>
#include <stdint.h>
#include "array.h"
#include "classify.h"
#include "sockdiag.h"

/* A cgroup v2 path that does not fit is not cut short: it is said unknown (""). */
#define V6T_LISTENER_CGROUP_LEN 256

struct listener {
	uint16_t family;   /* AF_INET, AF_INET6 */
	uint16_t protocol; /* IPPROTO_TCP, IPPROTO_MPTCP, IPPROTO_UDP */
	uint16_t lport;
	uint8_t state; /* V6T_TCP_LISTEN; V6T_TCP_CLOSE: a bound UDP socket */
	uint8_t v6only;
	uint8_t laddr[16]; /* network order */
	uint32_t inode;
	uint32_t pid; /* the owner (the lowest pid holding it); 0: none found */
	char comm[V6T_COMM_LEN];
	/*
	 * What the deploy report blames a change on, read from /proc when the
	 * listener is listed (the owner may be gone by the end of the run): when
	 * the owner started, in clock ticks after boot (/proc/PID/stat field 22;
	 * 0: unknown), and its cgroup v2 path ("0::" in /proc/PID/cgroup; "":
	 * unknown).
	 */
	uint64_t owner_start;
	char cgroup[V6T_LISTENER_CGROUP_LEN];
};

struct listeners ARRAY_OF(struct listener);

/*
 * Collects the listeners of the namespace of netns_fd (-1: the caller's).
 * 0, or -errno when sock_diag could not be asked (MPTCP missing from a
 * kernel's sock_diag is not an error: its listeners are then not listed).
 */
int listeners_collect(int netns_fd, struct listeners *out);
/* A process's start (clock ticks after boot) and cgroup v2 path; false fields are left 0/"". */
void listeners_owner_facts(uint32_t pid, uint64_t *start, char cgroup[V6T_LISTENER_CGROUP_LEN]);
int listeners_add(struct listeners *l, const struct listener *x);
/* Its stack (v6only, dual, v4, ...), by the rule events are classified with. */
enum v6t_stack listener_stack(const struct listener *l);
void listeners_free(struct listeners *l);

#endif
