/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The tracer drops every capability once it is attached, but naming who holds
 * a port needs two: CAP_SYS_PTRACE to read other processes' /proc/PID/fd and
 * CAP_SYS_ADMIN to enter a network namespace. A helper process forked before
 * the drop keeps just those (and no_new_privs), closes every other file, and
 * answers two kinds of question:
 *
 * - who holds the port of a failed bind: asked without waiting, over a socket
 *   pair of its own, each question with an id its answer carries back; the
 *   helper answers whatever has queued up as one batch (one sock_diag dump
 *   per protocol and namespace, one scan of /proc), so a burst of EADDRINUSE
 *   costs about what one does and never holds up the tracer;
 * - what an event's interface is called in its namespace (entering a namespace
 *   needs CAP_SYS_ADMIN too): asked and answered at once.
 *
 * It never reads a name, a path or anything a process chose but a port
 * number, an address and an interface index; it dies with the tracer.
 */
#ifndef V6TRACE_HELPER_H
#define V6TRACE_HELPER_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include "format.h"
#include "listeners.h"
#include "v6trace.h"

struct holder_helper {
	int pid;     /* 0: no helper (the lookups run in the tracer) */
	int fd;	     /* interface names: one question, one answer */
	int holders; /* holder questions and answers, asynchronous; -1: none */
	uint32_t own_netns;
	struct { /* the last interface name asked for, reused within its second */
		uint32_t netns, ifindex;
		int64_t when_sec;
		bool found;
		char name[IF_NAMESIZE];
	} ifname;
};

/* A holder question and its answer, as they cross the socket pair. */
struct holder_question {
	uint64_t id;
	struct v6t_event failed;
};

struct holder_answer {
	uint64_t id;
	int32_t found; /* 1: holder says who; 0: nothing holds the port; -1: not known */
	struct holder holder;
};

/* Questions and answers cross in messages of up to this many. */
#define HOLDER_PER_MESSAGE 64

int holder_helper_start(struct holder_helper *h, uint32_t own_netns);
/*
 * Sends up to HOLDER_PER_MESSAGE questions as one message, without waiting:
 * 0, -EAGAIN when the socket pair is full (nothing was sent), another -errno
 * when the helper is gone.
 */
int holder_helper_ask(struct holder_helper *h, const struct holder_question *q, size_t n);
/* The answers of one message that has arrived: how many, 0 if none is waiting, -errno. */
int holder_helper_answers(struct holder_helper *h, struct holder_answer out[HOLDER_PER_MESSAGE]);
/*
 * The listeners of the namespace of pid (own_netns: the tracer's), listed by
 * the helper, which can read every process's /proc/PID/fd to name owners.
 * 0, or -errno (the namespace is gone, sock_diag could not be asked).
 */
int holder_helper_listeners(struct holder_helper *h, uint32_t netns, uint32_t pid,
			    struct listeners *out);
/* ifname_of(), asked of the helper for another namespace than the tracer's */
bool holder_helper_ifname(struct holder_helper *h, const struct v6t_event *e,
			  char name[IF_NAMESIZE]);
void holder_helper_stop(struct holder_helper *h);

#endif
