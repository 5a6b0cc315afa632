/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Failed binds (EADDRINUSE) waiting for the helper to say who holds their
 * port. Questions go out in messages of many, as the helper takes them. Only they wait: every other event is written as it arrives, so a
 * burst of failed binds never holds up the rest of the stream (a failed
 * bind's record can come after events that followed it; its ts says when it
 * happened). Each waits until its answer arrives or LOOKUP_DEADLINE_NS has
 * passed; at most LOOKUP_MAX_WAITING wait at once, and beyond that a failed
 * bind is written at once, its lookup skipped. Every lookup ends as one of
 * four answers, each counted: found, none (nothing holds the port now),
 * unfinished (no answer in time), skipped.
 */
#ifndef V6TRACE_LOOKUPS_H
#define V6TRACE_LOOKUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "format.h"
#include "helper.h"

#define LOOKUP_DEADLINE_NS (2000 * 1000000LL)
#define LOOKUP_MAX_WAITING 4096

struct waiting_bind {
	struct v6t_event e;
	uint64_t id;
	int64_t deadline_ns;
	enum holder_lookup status; /* HOLDER_WAITING until answered */
	struct holder holder;
};

/* Writes a failed bind with its answer (the caller's formatter). */
typedef void (*lookup_emit)(void *ctx, const struct v6t_event *e, enum holder_lookup status,
			    const struct holder *holder);

struct lookups {
	struct holder_helper *helper;
	struct waiting_bind *q; /* a ring of LOOKUP_MAX_WAITING, in the order asked */
	size_t head, len;
	size_t sent; /* the first sent of them have gone to the helper */
	uint64_t next_id;
	uint64_t count[HOLDER_SKIPPED + 1]; /* per answer */
	lookup_emit emit;
	void *ctx;
};

int lookups_init(struct lookups *l, struct holder_helper *helper, lookup_emit emit, void *ctx);
/* A failed bind: asked, answered at once (no helper), or written as skipped. */
void lookups_add(struct lookups *l, const struct v6t_event *e, int64_t now_ns);
/*
 * Sends the questions not sent yet, takes the answers that have arrived, and
 * writes what is answered or late. Called after each drain of the ring buffer.
 */
void lookups_progress(struct lookups *l, int64_t now_ns);
/* The end: waits for the answers still due (until their deadline), then writes all. */
void lookups_finish(struct lookups *l);
/* The fd that becomes readable when answers arrive; -1: none. */
int lookups_fd(const struct lookups *l);
void lookups_free(struct lookups *l);

#endif
