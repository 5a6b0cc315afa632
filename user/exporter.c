// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * --metrics-file in the run: a timer in the event loop's epoll set asks the
 * helper for the listeners of the tracer's namespace (it can name the owner
 * of any process; the tracer, without capabilities, only its own uid's), the
 * answer is read as the helper's socket becomes readable (never waited for
 * in the loop), and the file is written. Once at the start (where a bad path
 * ends the run) and once at the end, the listing is waited for.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "clock.h"
#include "runtime.h"

/* A listing not answered within this long is given up: the next tick asks again. */
#define LISTING_DEADLINE_NS (5 * 1000000000LL)

static void to_metrics_listener(const struct listener *l, struct metrics_listener *m)
{
	memset(m, 0, sizeof(*m));
	m->proto = v6t_proto_name(l->protocol);
	m->port = l->lport;
	m->stack = listener_stack(l);
	v6t_addr_string(l->family, l->laddr, m->addr);
	m->pid = l->pid;
	if (l->pid) {
		memcpy(m->comm, l->comm, sizeof(m->comm));
		container_id_of(l->cgroup, m->container);
	}
}

/*
 * A listing that failed: the listener series leave the file (what is not
 * known is not said) until one works again.
 */
static void listing_failed(struct exporter *x)
{
	free(x->state.listeners);
	x->state.listeners = NULL;
	x->state.nlisteners = 0;
	x->state.listed = false;
	x->state.listing_errors++;
}

/* A listing that succeeded becomes what the file says of the listeners. */
static int take_listing(struct exporter *x, const struct listeners *l)
{
	struct metrics_listener *v = l->n ? calloc(l->n, sizeof(*v)) : NULL;
	size_t i;

	if (l->n && !v)
		return -ENOMEM;
	for (i = 0; i < l->n; i++)
		to_metrics_listener(&l->v[i], &v[i]);
	free(x->state.listeners);
	x->state.listeners = v;
	x->state.nlisteners = l->n;
	x->state.listed_ns = clock_ns(CLOCK_REALTIME);
	x->state.listed = true;
	return 0;
}

/*
 * The file, with what is known now; 0 or -errno, said (at the start, where
 * it ends the run; later once, until a write works again).
 */
static int write_metrics(struct runtime *rt, bool at_start)
{
	struct exporter *x = &rt->exporter;
	struct strbuf sb = {0};
	char err[PATH_MAX + 128];
	int ret;

	x->state.version = V6TRACE_VERSION;
	x->state.mode = mode_name(rt->tracer.mode);
	x->state.lost_ring = rt->summary.lost;
	x->state.lost_output = rt->output.dropped;
	metrics_format(&sb, &x->counters, &x->state);
	ret = metrics_write_file(rt->opts->metrics_path, sb.data, sb.len, err, sizeof(err));
	sb_free(&sb);
	if (ret && at_start)
		fail("--metrics-file: %s", err);
	else if (ret && !x->write_failed)
		fail("--metrics-file: %s (tried again every %u s)", err,
		     rt->opts->metrics_interval);
	x->write_failed = ret != 0;
	return ret;
}

/* A listing waited for (the start, the end). */
static void list_now(struct runtime *rt)
{
	struct listeners l;
	int err = holder_helper_listeners(&rt->helper, rt->netns, 0, &l);

	if (err || take_listing(&rt->exporter, &l))
		listing_failed(&rt->exporter);
	listeners_free(&l);
}

static int epoll_watch(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int exporter_start(struct runtime *rt)
{
	struct exporter *x = &rt->exporter;
	struct itimerspec every = {.it_interval = {rt->opts->metrics_interval, 0},
				   .it_value = {rt->opts->metrics_interval, 0}};

	if (!rt->opts->metrics_path)
		return 0;
	list_now(rt);
	if (write_metrics(rt, true))
		return -1; /* said: a bad path ends the run at its start */
	x->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (x->timerfd < 0 || timerfd_settime(x->timerfd, 0, &every, NULL) ||
	    epoll_watch(rt->epfd, x->timerfd)) {
		fail("cannot set up the metrics timer: %s", strerror(errno));
		return -1;
	}
	if (rt->helper.pid && !rt->helper.gone && !epoll_watch(rt->epfd, rt->helper.fd))
		x->helper_fd = rt->helper.fd;
	return 0;
}

/* The helper's socket leaves the epoll set once it is gone (at EOF it stays readable). */
static void unwatch_helper(struct runtime *rt)
{
	epoll_ctl(rt->epfd, EPOLL_CTL_DEL, rt->exporter.helper_fd, NULL);
	rt->exporter.helper_fd = -1;
}

/* A listing not ended yet is given up: counted as failed. */
static void give_up_listing(struct exporter *x)
{
	listeners_free(&x->pending);
	memset(&x->pending, 0, sizeof(x->pending));
	x->asked_ns = 0;
	listing_failed(x);
}

void exporter_on_timer(struct runtime *rt)
{
	struct exporter *x = &rt->exporter;
	uint64_t ticks;
	int64_t now = clock_ns(CLOCK_MONOTONIC);

	if (read(x->timerfd, &ticks, sizeof(ticks)) <= 0)
		return;
	if (x->asked_ns && now - x->asked_ns < LISTING_DEADLINE_NS)
		return; /* the last one is still being answered */
	if (x->asked_ns)
		give_up_listing(x);
	if (x->helper_fd >= 0 &&
	    !holder_helper_listeners_ask(&rt->helper, rt->netns, 0, &x->asked_id)) {
		x->asked_ns = now;
		return;
	}
	if (x->helper_fd >= 0)
		unwatch_helper(rt);
	list_now(rt); /* no helper (any more): the tracer lists, naming the owners it may read */
	write_metrics(rt, false);
}

void exporter_on_helper(struct runtime *rt)
{
	struct exporter *x = &rt->exporter;
	int ret = x->asked_ns ? holder_helper_listeners_take(&rt->helper, x->asked_id, &x->pending)
			      : holder_helper_listeners_take(&rt->helper, 0, &x->pending);

	if (rt->helper.gone)
		unwatch_helper(rt);
	if (ret == 0 || !x->asked_ns)
		return; /* more to come, or nothing asked (an answer given up on, the end) */
	if (ret == 1 && take_listing(x, &x->pending))
		ret = -ENOMEM;
	if (ret < 0)
		give_up_listing(x);
	listeners_free(&x->pending);
	memset(&x->pending, 0, sizeof(x->pending));
	x->asked_ns = 0;
	write_metrics(rt, false);
}

void exporter_count(struct runtime *rt, const struct v6t_event *e)
{
	if (rt->opts->metrics_path)
		metrics_count(&rt->exporter.counters, e);
}

void exporter_finish(struct runtime *rt)
{
	if (!rt->opts->metrics_path || rt->exporter.timerfd < 0)
		return;
	if (rt->exporter.helper_fd >= 0)
		unwatch_helper(rt);
	list_now(rt);
	write_metrics(rt, false);
}

void exporter_free(struct exporter *x)
{
	if (x->timerfd >= 0)
		close(x->timerfd);
	x->timerfd = -1;
	listeners_free(&x->pending);
	free(x->state.listeners);
	x->state.listeners = NULL;
}
