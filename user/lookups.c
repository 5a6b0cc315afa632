// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lookups.h"
#include "sockdiag.h"

static int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

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

int lookups_fd(const struct lookups *l)
{
	return l->helper && l->helper->pid ? l->helper->holders : -1;
}

static void emit_answer(struct lookups *l, const struct v6t_event *e, enum holder_lookup status,
			const struct holder *holder)
{
	l->count[status]++;
	l->emit(l->ctx, e, status, status == HOLDER_FOUND ? holder : NULL);
}

/* No helper (it could not start): the lookup runs here, at once. */
static void answer_here(struct lookups *l, const struct v6t_event *e)
{
	struct holder_query q = {.failed = *e};

	find_holders_of(&q, 1, l->helper ? l->helper->own_netns : 0);
	emit_answer(l, e,
		    q.found	? HOLDER_FOUND
		    : q.unknown ? HOLDER_UNFINISHED
				: HOLDER_NONE,
		    &q.holder);
}

void lookups_add(struct lookups *l, const struct v6t_event *e, int64_t now_ns)
{
	struct waiting_bind *w;

	if (lookups_fd(l) < 0) {
		answer_here(l, e);
		return;
	}
	if (l->len == LOOKUP_MAX_WAITING) {
		emit_answer(l, e, HOLDER_SKIPPED, NULL);
		return;
	}
	w = &l->q[(l->head + l->len++) % LOOKUP_MAX_WAITING];
	w->e = *e;
	w->id = l->next_id++;
	w->deadline_ns = now_ns + LOOKUP_DEADLINE_NS;
	w->status = HOLDER_WAITING;
}

/* The questions not sent yet, in messages of HOLDER_PER_MESSAGE, while they fit. */
static void send_questions(struct lookups *l)
{
	struct holder_question qs[HOLDER_PER_MESSAGE];

	while (l->sent < l->len) {
		size_t n = 0;

		while (n < HOLDER_PER_MESSAGE && l->sent + n < l->len) {
			const struct waiting_bind *w =
				&l->q[(l->head + l->sent + n) % LOOKUP_MAX_WAITING];

			qs[n].id = w->id;
			qs[n++].failed = w->e;
		}
		if (holder_helper_ask(l->helper, qs, n))
			return; /* full: the rest go once the helper has read these */
		l->sent += n;
	}
}

/* Answers come in the order the questions went: the first waiting one matches. */
static void take_answer(struct lookups *l, const struct holder_answer *a)
{
	size_t i;

	for (i = 0; i < l->len; i++) {
		struct waiting_bind *w = &l->q[(l->head + i) % LOOKUP_MAX_WAITING];

		if (w->id == a->id) {
			w->status = a->found > 0   ? HOLDER_FOUND
				    : a->found < 0 ? HOLDER_UNFINISHED
						   : HOLDER_NONE;
			w->holder = a->holder;
			return;
		}
		if (w->id > a->id)
			return; /* already written as unfinished: a late answer, dropped */
	}
}

/* Writes, from the oldest, every failed bind that is answered or late. */
static void write_ready(struct lookups *l, int64_t now_ns, bool all)
{
	while (l->len) {
		struct waiting_bind *w = &l->q[l->head];

		if (w->status == HOLDER_WAITING) {
			if (!all && now_ns < w->deadline_ns)
				break;
			/* late: asked but not answered, or never asked (the helper was behind) */
			w->status = l->sent ? HOLDER_UNFINISHED : HOLDER_SKIPPED;
		}
		emit_answer(l, &w->e, w->status, &w->holder);
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

	if (lookups_fd(l) < 0)
		return;
	send_questions(l);
	while ((n = holder_helper_answers(l->helper, a)) > 0) {
		for (i = 0; i < n; i++)
			take_answer(l, &a[i]);
		send_questions(l);
	}
	write_ready(l, now_ns, false);
}

void lookups_finish(struct lookups *l)
{
	int64_t now = monotonic_ns();

	lookups_progress(l, now); /* the questions the last drain read go out too */
	while (l->len && lookups_fd(l) >= 0) {
		struct waiting_bind *last = &l->q[(l->head + l->len - 1) % LOOKUP_MAX_WAITING];
		struct pollfd pfd = {.fd = lookups_fd(l), .events = POLLIN};
		int64_t left = last->deadline_ns - now;

		if (left <= 0 || poll(&pfd, 1, (int)(left / 1000000) + 1) <= 0)
			break;
		lookups_progress(l, now = monotonic_ns());
	}
	write_ready(l, monotonic_ns(), true);
}

void lookups_free(struct lookups *l)
{
	free(l->q);
	l->q = NULL;
	l->len = 0;
}
