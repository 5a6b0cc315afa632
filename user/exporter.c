// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * --metrics-file and --metrics-listen in the run: a timer in the event loop's epoll set starts a
 * listing round: the helper lists the listeners of the tracer's network
 * namespace, then of each other namespace a traced bind or listen happened in
 * (a container's), one after the other (it can name the owner of any process;
 * the tracer, without capabilities, only its own uid's). Each answer is read
 * as the helper's socket becomes readable (never waited for in the loop); the
 * file is written (and the exposition handed to the HTTP server, metrics_http.c)
 * once the round is done. Once at the start (where a bad path
 * ends the run) and once at the end, the listings are waited for.
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

/*
 * A namespace's listing not answered within this long gives the round up (the
 * next tick starts another). Per namespace, not per round: each costs the
 * helper a sock_diag dump and a scan of /proc, and 65 of them on a busy node
 * may take longer than that together.
 */
#define LISTING_DEADLINE_NS (5 * 1000000000LL)

/* A copy of a name, or NULL (unknown, or no memory: then not known either). */
static char *name_copy(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void to_metrics_listener(const struct listener *l, uint32_t netns,
				struct container_names *names, struct metrics_listener *m)
{
	const struct container_info *info;

	memset(m, 0, sizeof(*m));
	m->netns = netns;
	m->proto = v6t_proto_name(l->protocol);
	m->port = l->lport;
	m->stack = listener_stack(l);
	v6t_addr_string(l->family, l->laddr, m->addr);
	m->pid = l->pid;
	if (l->pid) {
		memcpy(m->comm, l->comm, sizeof(m->comm));
		container_id_of(l->cgroup, m->container);
	}
	/* named as the owner's records are: from the cache, or the runtimes' files once */
	info = m->container[0] ? container_info_of(names, m->container, l->cgroup, monotonic_ns())
			       : NULL;
	if (info) {
		m->container_name = name_copy(info->name);
		m->pod_namespace = name_copy(info->pod_namespace);
		m->pod_name = name_copy(info->pod_name);
	}
}

/* The listeners of one namespace, added to the round's. */
static int add_listing(struct exporter *x, const struct listeners *l, uint32_t netns,
		       struct container_names *names)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		struct metrics_listener *m = array_push_max(&x->round, METRICS_MAX_LISTED);

		if (!m) { /* the bound, or no memory: counted as omitted */
			x->unlisted += l->n - i;
			break;
		}
		to_metrics_listener(&l->v[i], netns, names, m);
	}
	return 0;
}

/* The round is done: what the file says of the listeners. */
static void round_done(struct exporter *x)
{
	metrics_listeners_clear(x->state.listeners, x->state.nlisteners);
	free(x->state.listeners);
	x->state.listeners = x->round.v;
	x->state.nlisteners = x->round.n;
	memset(&x->round, 0, sizeof(x->round));
	x->state.listed_ns = clock_ns(CLOCK_REALTIME);
	x->state.listed = true;
	x->state.unlisted = x->unlisted;
	x->state.netns_listed = (unsigned int)x->nnetns;
	x->asked_ns = 0;
}

/* A new round: nothing listed yet. */
static void round_start(struct exporter *x)
{
	metrics_listeners_clear(x->round.v, x->round.n);
	array_free(&x->round);
	x->unlisted = 0;
	x->asking = 0;
}

/*
 * A round that failed (the tracer's own namespace could not be listed): the
 * listener series leave the file (what is not known is not said) until one
 * works again.
 */
static void round_failed(struct exporter *x)
{
	metrics_listeners_clear(x->round.v, x->round.n);
	array_free(&x->round);
	metrics_listeners_clear(x->state.listeners, x->state.nlisteners);
	free(x->state.listeners);
	x->state.listeners = NULL;
	x->state.nlisteners = 0;
	x->state.listed = false;
	x->state.unlisted = 0;
	x->state.netns_listed = 0;
	x->state.listing_errors++;
	x->asked_ns = 0;
}

/* Another namespace that could not be listed is gone (its processes with it): forgotten. */
static void forget_netns(struct exporter *x, size_t i)
{
	x->netns[i] = x->netns[--x->nnetns];
}

/*
 * The listing of namespace i of the round ended with err (0: l holds it).
 * False if the round failed.
 */
static bool listed(struct exporter *x, size_t *i, int err, const struct listeners *l,
		   struct container_names *names)
{
	if (!err)
		err = add_listing(x, l, x->netns[*i].netns, names);
	if (err && *i == 0) {
		round_failed(x);
		return false;
	}
	if (err)
		forget_netns(x, *i); /* the last one takes its place: listed next */
	else
		(*i)++;
	return true;
}

/*
 * The exposition of what is known now, to the HTTP server and the file; the
 * file's 0 or -errno, said (at the start, where it ends the run; later once,
 * until a write works again).
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
	metrics_http_publish(&x->http, sb.data, sb.len);
	ret = rt->opts->metrics_path ? metrics_write_file(rt->opts->metrics_path, sb.data, sb.len,
							  err, sizeof(err))
				     : 0;
	sb_free(&sb);
	if (ret && at_start)
		fail("--metrics-file: %s", err);
	else if (ret && !x->write_failed)
		fail("--metrics-file: %s (tried again every %u s)", err,
		     rt->opts->metrics_interval);
	x->write_failed = ret != 0;
	return ret;
}

/* A round waited for (the start, the end, no helper). */
static void list_now(struct runtime *rt)
{
	struct exporter *x = &rt->exporter;
	size_t i = 0;

	round_start(x);
	while (i < x->nnetns) {
		struct listeners l;
		int err = holder_helper_listeners(&rt->helper, x->netns[i].netns, x->netns[i].pid,
						  &l);
		bool ok = listed(x, &i, err, &l, &rt->containers);

		listeners_free(&l);
		if (!ok)
			return;
	}
	round_done(x);
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

	if (!metrics_wanted(rt->opts))
		return 0;
	x->netns[0].netns = rt->netns; /* the tracer's own: always first */
	x->nnetns = 1;
	list_now(rt);
	/* forked without capabilities; served from the first exposition on */
	if (metrics_http_start(&x->http))
		return -1;
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

/* Asks for the round's next namespace; false when the helper could not be asked. */
static bool ask_next(struct runtime *rt)
{
	struct exporter *x = &rt->exporter;
	const struct exporter_netns *ns = &x->netns[x->asking];

	listeners_free(&x->pending);
	memset(&x->pending, 0, sizeof(x->pending));
	if (holder_helper_listeners_ask(&rt->helper, ns->netns, ns->pid, &x->asked_id))
		return false;
	x->asked_ns = clock_ns(CLOCK_MONOTONIC);
	return true;
}

/* The helper cannot be asked (any more): the tracer lists, naming the owners it may read. */
static void without_helper(struct runtime *rt)
{
	if (rt->exporter.helper_fd >= 0)
		unwatch_helper(rt);
	list_now(rt);
	write_metrics(rt, false);
}

void exporter_on_timer(struct runtime *rt)
{
	struct exporter *x = &rt->exporter;
	uint64_t ticks;
	int64_t now = clock_ns(CLOCK_MONOTONIC);

	if (read(x->timerfd, &ticks, sizeof(ticks)) <= 0)
		return;
	if (x->asked_ns && now - x->asked_ns < LISTING_DEADLINE_NS)
		return; /* the last round is still being answered */
	if (x->asked_ns)
		round_failed(x);
	if (x->helper_fd < 0) {
		without_helper(rt);
		return;
	}
	round_start(x);
	if (!ask_next(rt))
		without_helper(rt);
}

void exporter_on_helper(struct runtime *rt)
{
	struct exporter *x = &rt->exporter;
	/* an answer after its round was given up on carries an id no longer awaited */
	int ret = holder_helper_listeners_take(&rt->helper, x->asked_ns ? x->asked_id : 0,
					       &x->pending);

	if (rt->helper.gone)
		unwatch_helper(rt);
	if (ret == 0 || !x->asked_ns)
		return; /* more to come, or nothing asked */
	if (!listed(x, &x->asking, ret < 0 ? ret : 0, &x->pending, &rt->containers)) {
		write_metrics(rt, false);
		return;
	}
	if (x->asking < x->nnetns && ask_next(rt))
		return;
	if (x->asking < x->nnetns) { /* the helper is gone mid-round */
		without_helper(rt);
		return;
	}
	round_done(x);
	write_metrics(rt, false);
}

void exporter_count(struct runtime *rt, const struct v6t_event *e)
{
	struct exporter *x = &rt->exporter;
	size_t i;

	if (!metrics_wanted(rt->opts))
		return;
	metrics_count(&x->counters, e);
	if ((e->type != V6T_EVENT_BIND && e->type != V6T_EVENT_LISTEN) || e->ret < 0 || !e->netns)
		return;
	/* a namespace listed from now on, through the last process seen binding there */
	for (i = 0; i < x->nnetns && x->netns[i].netns != e->netns; i++)
		;
	if (i == 0)
		return; /* the tracer's own: entered by nobody */
	if (i == x->nnetns && x->nnetns == EXPORTER_MAX_NETNS + 1) {
		x->state.netns_unlisted_events++;
		return;
	}
	x->netns[i].netns = e->netns;
	x->netns[i].pid = e->pid;
	if (i == x->nnetns)
		x->nnetns++;
}

void exporter_finish(struct runtime *rt)
{
	if (!metrics_wanted(rt->opts) || rt->exporter.timerfd < 0)
		return;
	if (rt->exporter.helper_fd >= 0)
		unwatch_helper(rt);
	list_now(rt);
	write_metrics(rt, false);
	metrics_http_stop(&rt->exporter.http);
}

void exporter_free(struct exporter *x)
{
	metrics_http_stop(&x->http);
	if (x->timerfd >= 0)
		close(x->timerfd);
	x->timerfd = -1;
	listeners_free(&x->pending);
	metrics_listeners_clear(x->round.v, x->round.n);
	array_free(&x->round);
	metrics_listeners_clear(x->state.listeners, x->state.nlisteners);
	free(x->state.listeners);
	x->state.listeners = NULL;
}
