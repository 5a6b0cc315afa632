/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Events waiting for the helper: a failed bind (EADDRINUSE) for who holds its
 * port, and an event bound to an interface of another network namespace for
 * that interface's name (entering the namespace needs a privilege the tracer
 * dropped). Questions go out in messages of many, as the helper takes them,
 * each with an id its answer carries back: an answer is matched to its own
 * question, and one that comes after its question was given up on is
 * dropped. Nothing here ever waits for the helper: only the events that need
 * an answer wait, every other event is written as it arrives, so such a
 * record can come after events that followed it (its ts says when it
 * happened). Each waits until its answers arrive or LOOKUP_DEADLINE_NS has
 * passed (then the holder is "unfinished" and the name unknown); at most
 * LOOKUP_MAX_WAITING wait at once, and one uid at most LOOKUP_MAX_PER_UID of
 * them, so one user's storm leaves room for everybody else's; beyond that an
 * event is written at once, its lookup skipped. A helper that dies is said
 * once on stderr; from then on lookups are "unavailable" and names in other
 * namespaces unknown. One that stops answering is said once too.
 *
 * Every holder lookup ends as one of these answers, each counted: found,
 * none (nothing holds the port now), unknown (its namespace could not be
 * looked in), unfinished (no answer in time), skipped, unavailable.
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
#define LOOKUP_MAX_PER_UID (LOOKUP_MAX_WAITING * 3 / 4)
/* Interface names answered by the helper, kept this long, per (netns, ifindex). */
#define IFNAME_CACHE_NS (1000 * 1000000LL)
#define IFNAME_CACHE	64

struct waiting_event {
	struct v6t_event e;
	uint64_t id;
	int64_t deadline_ns;
	uint32_t want;		   /* HELPER_WANT_*: what it waits for */
	bool answered;		   /* its answer has come */
	bool written;		   /* written already, its slot not yet freed */
	enum holder_lookup status; /* HOLDER_NOT_ASKED unless want has HELPER_WANT_HOLDER */
	struct holder holder;
	bool ifname_found;
	char ifname[V6T_IFNAME_LEN];
};

/* Writes an event with its answers (the caller's formatter); ifname NULL: unknown. */
typedef void (*lookup_emit)(void *ctx, const struct v6t_event *e, enum holder_lookup status,
			    const struct holder *holder, const char *ifname);

struct ifname_cached {
	uint32_t netns, ifindex;
	int64_t until_ns; /* 0: empty */
	char name[V6T_IFNAME_LEN];
};

struct lookups {
	struct holder_helper *helper;
	struct waiting_event *q; /* a ring of LOOKUP_MAX_WAITING, in the order asked */
	size_t head, len;
	size_t sent; /* the first sent of them have gone to the helper */
	uint64_t next_id;
	void *uids;				  /* uid -> how many of q are its */
	uint64_t count[HOLDER_LOOKUP_ANSWERS];	  /* per holder answer */
	struct ifname_cached names[IFNAME_CACHE]; /* answers of the helper */
	bool gone;				  /* the helper died: reported, asked no more */
	bool stuck_reported;			  /* the helper missed a deadline: reported */
	lookup_emit emit;
	void *ctx;
};

int lookups_init(struct lookups *l, struct holder_helper *helper, lookup_emit emit, void *ctx);
/*
 * An event from the ring buffer: written at once when it needs nothing of the
 * helper (or its answer is known), else queued to be asked.
 */
void lookups_event(struct lookups *l, const struct v6t_event *e, int64_t now_ns);
/*
 * Sends the questions not sent yet, takes the answers that have arrived, and
 * writes what is answered or late. Called after each drain of the ring buffer,
 * on each tick and when the helper's socket is readable. Never waits.
 */
void lookups_progress(struct lookups *l, int64_t now_ns);
/*
 * The end: waits for the answers still due, until their deadline or until_ns
 * (CLOCK_MONOTONIC; 0: no bound), whichever comes first, then writes all: an
 * answer still missing then is unfinished.
 */
void lookups_finish(struct lookups *l, int64_t until_ns);
/* The fd that becomes readable when answers arrive; -1: none (no helper, or it died). */
int lookups_fd(const struct lookups *l);
void lookups_free(struct lookups *l);

#endif
