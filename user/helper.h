/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The tracer drops every capability once it is attached, but naming who holds
 * a port needs three, which a helper process forked before the drop keeps
 * (and no_new_privs), and nothing more:
 *
 * - CAP_DAC_READ_SEARCH: to list /proc/PID/fd of a process of another uid
 *   (the directory is mode 0500, owned by the process's uid: a daemon that
 *   dropped to its own user, named -u bind, squid as proxy, any plain user);
 * - CAP_SYS_PTRACE: to read the links in it (and /proc/PID/ns/net), which
 *   the kernel allows only to whoever may ptrace the process, however its
 *   directory's mode is;
 * - CAP_SYS_ADMIN: to enter a network namespace (setns()).
 *
 * It closes every other file and answers, over two socket pairs:
 *
 * - who holds the port of a failed bind, and what an event's interface is
 *   called in its namespace: asked without waiting, each question with an id
 *   its answer carries back; the helper answers whatever has queued up as one
 *   batch (one sock_diag dump per protocol and namespace, one scan of /proc
 *   for all of them), namespaces taken in turns by uid and answered as each
 *   is done, so neither a burst nor one user's many namespaces hold up the
 *   tracer or another user's answer;
 * - the listeners of a namespace, for the deploy report at the end (asked
 *   and waited for) and for --metrics-file at each interval (asked from the
 *   event loop, each reply read as it arrives), each answer with its
 *   question's id.
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
#include "helper_proto.h"
#include "listeners.h"
#include "v6trace.h"

struct holder_helper {
	int pid;     /* 0: no helper (the lookups run in the tracer) */
	int fd;	     /* the listeners of a namespace: one question, one answer */
	int holders; /* holder and interface-name questions, asynchronous; -1: none */
	uint32_t own_netns;
	bool gone;	       /* dead or not answering: asked no more */
	uint64_t listeners_id; /* of the last listeners question */
};

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
 * 0, or -errno (the namespace is gone, sock_diag could not be asked, the
 * helper did not answer within 5 s: then it is gone and never asked again).
 */
int holder_helper_listeners(struct holder_helper *h, uint32_t netns, uint32_t pid,
			    struct listeners *out);
/*
 * The same, without waiting (the metrics' listing, from the event loop):
 * _ask sends the question (*id: its id; -errno when there is no helper), and
 * _take reads one reply once h->fd is readable, adding its listeners to out:
 * 1 when the listing is whole, 0 when more is to come (or the reply was an
 * earlier question's), -errno (the helper is gone, or its error).
 */
int holder_helper_listeners_ask(struct holder_helper *h, uint32_t netns, uint32_t pid,
				uint64_t *id);
int holder_helper_listeners_take(struct holder_helper *h, uint64_t id, struct listeners *out);
/* Ends the helper: EOF, then SIGKILL if it has not exited within a second (stopped, stuck). */
void holder_helper_stop(struct holder_helper *h);

#endif
