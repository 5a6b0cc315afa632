// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <poll.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "clock.h"
#include "lookups.h"
#include "holders.h"
#include "sockdiag.h"

int lookups_init(struct lookups *l, struct holder_helper *helper, lookup_emit emit, void *ctx)
{
	memset(l, 0, sizeof(*l));
	l->helper = helper;
	l->emit = emit;
	l->ctx = ctx;
	l->next_id = 1;
	l->q = calloc(LOOKUP_MAX_WAITING, sizeof(*l->q));
	return l->q ? 0 : -ENOMEM;
}

/* A helper was started and has not died. */
static bool helper_alive(const struct lookups *l)
{
	return l->helper && l->helper->pid && !l->gone;
}

int lookups_fd(const struct lookups *l)
{
	return helper_alive(l) ? l->helper->holders : -1;
}

/* ---- how many of the waiting events are each uid's ---------------------- */

struct uid_count {
	uint32_t uid;
	uint32_t n;
};

static int by_uid(const void *a, const void *b)
{
	uint32_t x = ((const struct uid_count *)a)->uid, y = ((const struct uid_count *)b)->uid;

	return x < y ? -1 : x > y;
}

static uint32_t uid_waiting(const struct lookups *l, uint32_t uid)
{
	struct uid_count key = {.uid = uid};
	void *found = tfind(&key, (void *const *)&l->uids, by_uid);

	return found ? (*(struct uid_count **)found)->n : 0;
}

/* false when out of memory (the event is then not queued) */
static bool uid_add(struct lookups *l, uint32_t uid)
{
	struct uid_count key = {.uid = uid}, *n, **slot;

	slot = tfind(&key, &l->uids, by_uid);
	if (slot) {
		(*slot)->n++;
		return true;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return false;
	n->uid = uid;
	n->n = 1;
	slot = tsearch(n, &l->uids, by_uid);
	if (!slot || *slot != n) {
		free(n);
		return false;
	}
	return true;
}

static void uid_remove(struct lookups *l, uint32_t uid)
{
	struct uid_count key = {.uid = uid}, **slot = tfind(&key, &l->uids, by_uid), *n;

	if (!slot)
		return;
	n = *slot;
	if (--n->n)
		return;
	tdelete(&key, &l->uids, by_uid);
	free(n);
}

/* ---- interface names ----------------------------------------------------- */

static struct ifname_cached *cache_slot(struct lookups *l, uint32_t netns, uint32_t ifindex)
{
	return &l->names[(netns * 2654435761u ^ ifindex) % IFNAME_CACHE];
}

/* A name the helper gave for exactly this (netns, ifindex), not yet too old. */
static bool cached_ifname(struct lookups *l, const struct v6t_event *e, int64_t now_ns,
			  char name[V6T_IFNAME_LEN])
{
	const struct ifname_cached *c = cache_slot(l, e->netns, e->ifindex);

	if (!c->until_ns || c->netns != e->netns || c->ifindex != e->ifindex ||
	    now_ns >= c->until_ns)
		return false;
	memcpy(name, c->name, V6T_IFNAME_LEN);
	return true;
}

static void cache_ifname(struct lookups *l, const struct v6t_event *e, const char *name,
			 int64_t now_ns)
{
	struct ifname_cached *c = cache_slot(l, e->netns, e->ifindex);

	c->netns = e->netns;
	c->ifindex = e->ifindex;
	c->until_ns = now_ns + IFNAME_CACHE_NS;
	memcpy(c->name, name, V6T_IFNAME_LEN);
	c->name[V6T_IFNAME_LEN - 1] = '\0';
}

/*
 * The name of an event's interface when it is known without the helper: 1
 * (name set), 0 (unknown, or no interface: written without one), -1 (the
 * helper must be asked).
 */
static int ifname_now(struct lookups *l, const struct v6t_event *e, int64_t now_ns,
		      char name[V6T_IFNAME_LEN])
{
	uint32_t own = l->helper ? l->helper->own_netns : 0;

	if (!e->ifindex)
		return 0;
	/* the tracer's own namespace needs no privilege; without a helper, what it can */
	if (e->netns == own || !l->helper || !l->helper->pid)
		return ifname_of(e, own, name);
	if (l->gone)
		return 0;
	return cached_ifname(l, e, now_ns, name) ? 1 : -1;
}

/* ---- writing ------------------------------------------------------------- */

static void emit_event(struct lookups *l, const struct v6t_event *e, enum holder_lookup status,
		       const struct holder *holder, const char *ifname)
{
	if (status != HOLDER_NOT_ASKED)
		l->count[status]++;
	l->emit(l->ctx, e, status, status == HOLDER_FOUND ? holder : NULL, ifname);
}

/* No helper (it could not start): the lookup runs here, at once, with what the tracer may. */
static enum holder_lookup holder_here(struct lookups *l, const struct v6t_event *e,
				      struct holder *out)
{
	struct holder_query q = {.failed = refused_bind_of(e), .want_holder = true};

	find_holders_of(&q, 1, l->helper ? l->helper->own_netns : 0, 0, NULL, NULL);
	*out = q.holder;
	return q.found ? HOLDER_FOUND : q.unknown ? HOLDER_UNKNOWN : HOLDER_NONE;
}

/* Written now, without waiting: what is known, the rest said as not known. */
static void emit_at_once(struct lookups *l, const struct v6t_event *e, bool holder,
			 enum holder_lookup unasked, int has_name, const char *name)
{
	struct holder h = {0};
	enum holder_lookup status = HOLDER_NOT_ASKED;

	if (holder)
		status = !helper_alive(l) && !l->gone ? holder_here(l, e, &h) : unasked;
	emit_event(l, e, status, &h, has_name > 0 ? name : NULL);
}

void lookups_event(struct lookups *l, const struct v6t_event *e, int64_t now_ns)
{
	bool holder = e->type == V6T_EVENT_BIND && e->ret == -EADDRINUSE;
	char name[V6T_IFNAME_LEN] = "";
	int has_name = ifname_now(l, e, now_ns, name);
	struct waiting_event *w;

	if (!holder && has_name >= 0) {
		emit_event(l, e, HOLDER_NOT_ASKED, NULL, has_name ? name : NULL);
		return;
	}
	if (!helper_alive(l)) {
		emit_at_once(l, e, holder, HOLDER_UNAVAILABLE, has_name, name);
		return;
	}
	if (l->len == LOOKUP_MAX_WAITING || uid_waiting(l, e->uid) >= LOOKUP_MAX_PER_UID ||
	    !uid_add(l, e->uid)) {
		emit_at_once(l, e, holder, HOLDER_SKIPPED, has_name, name);
		return;
	}
	w = &l->q[(l->head + l->len++) % LOOKUP_MAX_WAITING];
	memset(w, 0, sizeof(*w));
	w->e = *e;
	w->id = l->next_id++;
	w->deadline_ns = now_ns + LOOKUP_DEADLINE_NS;
	w->want = (holder ? HELPER_WANT_HOLDER : 0) | (has_name < 0 ? HELPER_WANT_IFNAME : 0);
	w->status = holder ? HOLDER_WAITING : HOLDER_NOT_ASKED;
	if (has_name > 0) {
		w->ifname_found = true;
		memcpy(w->ifname, name, V6T_IFNAME_LEN);
	}
}

/* Writes a waiting event with what it has; its slot is freed once it reaches the head. */
static void write_waiting(struct lookups *l, struct waiting_event *w)
{
	if (w->written)
		return;
	emit_event(l, &w->e, w->status, &w->holder, w->ifname_found ? w->ifname : NULL);
	w->written = true;
}

/* ---- the helper ---------------------------------------------------------- */

/* Dead: said once; everything still waiting is written as unavailable. */
static void helper_gone(struct lookups *l, int err)
{
	size_t i;

	if (l->gone)
		return;
	l->gone = true;
	l->helper->gone = true;
	fprintf(stderr,
		"v6trace: the lookup helper (pid %d) is gone (%s): EADDRINUSE holders are "
		"\"unavailable\" and interface names in other namespaces unknown from now on\n",
		l->helper->pid, strerror(-err));
	for (i = 0; i < l->len; i++) {
		struct waiting_event *w = &l->q[(l->head + i) % LOOKUP_MAX_WAITING];

		if (!w->answered && w->status == HOLDER_WAITING)
			w->status = HOLDER_UNAVAILABLE;
		write_waiting(l, w);
	}
}

/* The questions not sent yet, in messages of HOLDER_PER_MESSAGE, while they fit. */
static void send_questions(struct lookups *l)
{
	struct holder_question qs[HOLDER_PER_MESSAGE];
	int err;

	while (helper_alive(l) && l->sent < l->len) {
		size_t n = 0;

		while (n < HOLDER_PER_MESSAGE && l->sent + n < l->len) {
			const struct waiting_event *w =
				&l->q[(l->head + l->sent + n) % LOOKUP_MAX_WAITING];

			qs[n++] = holder_question_of(w->id, w->want, &w->e);
		}
		err = holder_helper_ask(l->helper, qs, n);
		if (err == -EAGAIN)
			return; /* full: the rest go once the helper has read these */
		if (err) {
			helper_gone(l, err);
			return;
		}
		l->sent += n;
	}
}

/*
 * The ids of the ring are consecutive from its head: an answer finds its
 * question by id, and one whose question has left the ring is dropped.
 */
static void take_answer(struct lookups *l, const struct holder_answer *a, int64_t now_ns)
{
	struct waiting_event *w;
	uint64_t first;

	if (!l->len)
		return;
	first = l->q[l->head].id;
	if (a->id < first || a->id - first >= l->len)
		return; /* given up on already, or never asked: dropped */
	w = &l->q[(l->head + (a->id - first)) % LOOKUP_MAX_WAITING];
	if (w->id != a->id || w->answered || w->written)
		return;
	w->answered = true;
	if (w->want & HELPER_WANT_HOLDER) {
		w->status = a->found > 0   ? HOLDER_FOUND
			    : a->found < 0 ? HOLDER_UNKNOWN
					   : HOLDER_NONE;
		w->holder = a->holder;
	}
	if ((w->want & HELPER_WANT_IFNAME) && a->ifname_found) {
		w->ifname_found = true;
		memcpy(w->ifname, a->ifname, V6T_IFNAME_LEN);
		w->ifname[V6T_IFNAME_LEN - 1] = '\0';
		cache_ifname(l, &w->e, w->ifname, now_ns);
	}
	write_waiting(l, w);
}

/* Said once: the helper has let a question pass its deadline. */
static void report_stuck(struct lookups *l)
{
	if (l->stuck_reported)
		return;
	l->stuck_reported = true;
	fprintf(stderr,
		"v6trace: the lookup helper (pid %d) has not answered in %lld ms: its lookups "
		"end \"unfinished\" until it answers again\n",
		l->helper->pid, LOOKUP_DEADLINE_NS / 1000000);
}

/* Writes what is late, and frees, from the oldest, the slots of what is written. */
static void write_ready(struct lookups *l, int64_t now_ns, bool all)
{
	while (l->len) {
		struct waiting_event *w = &l->q[l->head];

		if (!w->written) {
			if (!all && now_ns < w->deadline_ns)
				break;
			/* late: asked but not answered, or never asked (the helper was behind) */
			if (w->status == HOLDER_WAITING)
				w->status = HOLDER_UNFINISHED;
			if (!all && helper_alive(l))
				report_stuck(l);
			write_waiting(l, w);
		}
		uid_remove(l, w->e.uid);
		l->head = (l->head + 1) % LOOKUP_MAX_WAITING;
		l->len--;
		if (l->sent)
			l->sent--;
	}
}

void lookups_progress(struct lookups *l, int64_t now_ns)
{
	struct holder_answer a[HOLDER_PER_MESSAGE];
	int n, i;

	if (helper_alive(l)) {
		send_questions(l);
		while (helper_alive(l) && (n = holder_helper_answers(l->helper, a)) != 0) {
			if (n < 0) {
				helper_gone(l, n);
				break;
			}
			for (i = 0; i < n; i++)
				take_answer(l, &a[i], now_ns);
			send_questions(l);
		}
	}
	write_ready(l, now_ns, false);
}

void lookups_finish(struct lookups *l, int64_t until_ns)
{
	int64_t now = monotonic_ns();

	lookups_progress(l, now); /* the questions the last drain read go out too */
	while (l->len && lookups_fd(l) >= 0) {
		struct waiting_event *last = &l->q[(l->head + l->len - 1) % LOOKUP_MAX_WAITING];
		struct pollfd pfd = {.fd = lookups_fd(l), .events = POLLIN};
		int64_t end =
			until_ns && until_ns < last->deadline_ns ? until_ns : last->deadline_ns;
		int64_t left = end - now;

		if (left <= 0 || poll(&pfd, 1, (int)(left / 1000000) + 1) <= 0)
			break;
		lookups_progress(l, now = monotonic_ns());
	}
	write_ready(l, monotonic_ns(), true);
}

void lookups_free(struct lookups *l)
{
	free(l->q);
	tdestroy(l->uids, free);
	l->uids = NULL;
	l->q = NULL;
	l->len = 0;
}
