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
#include "sockdiag.h"

struct listener {
	struct diag_sock s; /* family, protocol, laddr, lport, v6only, state; inode */
	uint32_t pid;	    /* the owner (the lowest pid holding it); 0: none found */
	char comm[V6T_COMM_LEN];
};

struct listeners {
	struct listener *v;
	size_t n, cap;
};

/*
 * Collects the listeners of the namespace of netns_fd (-1: the caller's).
 * 0, or -errno when sock_diag could not be asked (MPTCP missing from a
 * kernel's sock_diag is not an error: its listeners are then not listed).
 */
int listeners_collect(int netns_fd, struct listeners *out);
int listeners_add(struct listeners *l, const struct listener *x);
void listeners_free(struct listeners *l);

#endif
