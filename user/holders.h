/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Who holds the port of a bind that failed with EADDRINUSE: the sockets of
 * sock_diag that conflict with it, their owners from /proc, each question
 * answered in its own network namespace.
 */
#ifndef V6TRACE_HOLDERS_H
#define V6TRACE_HOLDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include "format.h"
#include "v6trace.h"

/* A bind refused with EADDRINUSE, as much of it as finding who holds its port needs. */
struct refused_bind {
	uint32_t netns;	  /* where the holder is looked for */
	uint32_t pid;	  /* the process that failed: a way into netns */
	uint32_t uid;	  /* its user: namespaces are answered in turns by uid */
	uint32_t ifindex; /* the device it was bound to; 0: none */
	uint16_t family;  /* of addr */
	uint16_t protocol;
	uint16_t port; /* host order */
	uint8_t addr[16];
};

/* A question of a batch (a failed bind's holder, an interface's name), and its answers. */
struct holder_query {
	struct refused_bind failed;
	bool want_holder; /* who holds failed's port, in a way that conflicts with it */
	bool want_ifname; /* the name of failed's ifindex in its namespace */
	/* the answers, reset before each is computed */
	bool found;
	bool unknown;	      /* the namespace could not be entered, or sock_diag asked */
	struct holder holder; /* when found; pid 0: no process found that holds it */
	uint32_t inode;	      /* the holding socket's */
	bool ifname_found;
	char ifname[IF_NAMESIZE];
};

/* Called with the questions of one namespace once they are answered (indexes into q). */
typedef void (*holders_answered)(struct holder_query *q, const size_t *which, size_t m, void *ctx);

/*
 * Answers every question of q in its failed bind's own network namespace: a
 * listening (TCP) or bound (UDP) socket of the port first, one dump of each
 * protocol per namespace, so a burst of 2000 EADDRINUSE costs about what one
 * does. One scan
 * of /proc serves the whole batch: it names the owners of every socket, and
 * gives, for every namespace, a live process to enter it through when no
 * process of the batch is left in it. A namespace that cannot be entered at
 * all answers unknown (never none, never another namespace's holder).
 * Namespaces are taken in turns by the uid of their events, so one user's
 * many namespaces do not come before another user's one; once budget_ns (0:
 * none) has passed, the rest is left unanswered for the next batch. Each
 * namespace's answers go to done as soon as they are known. Returns how
 * many questions were answered.
 */
size_t find_holders_of(struct holder_query *q, size_t n, uint32_t own_netns, int64_t budget_ns,
		       holders_answered done, void *ctx);

#endif
