// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <cap-ng.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "helper.h"
#include "holders.h"
#include "netns.h"

/* ---- the helper process ------------------------------------------------ */

/* What one batch answers at most; the rest waits for the next. */
#define HOLDER_BATCH 4096
/*
 * A batch stops taking namespaces after this long: those left are answered in
 * the next one, with whatever was asked meanwhile, in turns by uid again. So
 * a question from one user never waits behind much more than this of
 * another's (the tracer gives up on a question after LOOKUP_DEADLINE_NS).
 */
#define HOLDER_BATCH_BUDGET_NS (500 * 1000000LL)

/* The listeners of a namespace, asked on the other socket pair. */
struct listeners_request {
	uint64_t id;
	uint32_t netns, pid;
};

#define LISTENERS_PER_MESSAGE 32
struct listeners_reply {
	uint64_t id; /* the request's */
	int32_t err;
	uint32_t n, last;
	struct listener v[LISTENERS_PER_MESSAGE];
};

static void answer_listeners(int fd, uint32_t own_netns)
{
	struct listeners_request req;
	struct listeners_reply reply;
	struct listeners l = {0};
	size_t i = 0;
	int nsfd;

	if (read(fd, &req, sizeof(req)) != sizeof(req))
		_exit(0); /* EOF: the tracer is done */
	memset(&reply, 0, sizeof(reply));
	reply.id = req.id;
	reply.err = netns_enter(req.netns, req.pid, own_netns, &nsfd) ? listeners_collect(nsfd, &l)
								      : -ESRCH;
	if (nsfd >= 0)
		close(nsfd);
	do {
		reply.n = 0;
		while (i < l.n && reply.n < LISTENERS_PER_MESSAGE)
			reply.v[reply.n++] = l.v[i++];
		reply.last = i == l.n;
		if (send(fd, &reply, sizeof(reply), MSG_NOSIGNAL) != sizeof(reply))
			_exit(0);
	} while (i < l.n);
	listeners_free(&l);
}

/* The questions asked and not answered yet, in the order asked. */
struct pending {
	struct holder_question *in;
	struct holder_query *q;
	bool *answered;
	size_t n;
	int fd;
};

/* find_holders_of()'s callback: one namespace's answers go out at once. */
static void send_answers(struct holder_query *q, const size_t *which, size_t m, void *ctx)
{
	struct pending *p = ctx;
	struct holder_answer a[HOLDER_PER_MESSAGE];
	size_t i, k, c;

	(void)q;
	for (i = 0; i < m; i += c) {
		c = m - i < HOLDER_PER_MESSAGE ? m - i : HOLDER_PER_MESSAGE;
		memset(a, 0, sizeof(a));
		for (k = 0; k < c; k++) {
			size_t j = which[i + k];
			const struct holder_query *x = &p->q[j];

			a[k].id = p->in[j].id;
			a[k].found = x->found ? 1 : x->unknown ? -1 : 0;
			if (x->found)
				a[k].holder = x->holder;
			a[k].ifname_found = x->ifname_found;
			if (x->ifname_found)
				memcpy(a[k].ifname, x->ifname, IF_NAMESIZE);
			p->answered[j] = true;
		}
		if (send(p->fd, a, c * sizeof(*a), MSG_NOSIGNAL) != (ssize_t)(c * sizeof(*a)))
			_exit(0);
	}
}

/* What has been asked since, added to what is pending: false at EOF. */
static bool read_questions(struct pending *p, bool wait)
{
	ssize_t got;

	while (p->n + HOLDER_PER_MESSAGE <= HOLDER_BATCH) {
		got = recv(p->fd, &p->in[p->n], HOLDER_PER_MESSAGE * sizeof(*p->in),
			   wait ? 0 : MSG_DONTWAIT);
		if (got == 0)
			return false; /* EOF: the tracer is done */
		if (got < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		if (got % sizeof(*p->in))
			_exit(1); /* not the tracer's */
		p->n += (size_t)got / sizeof(*p->in);
		wait = false;
	}
	return true;
}

/*
 * One batch of what is pending: every question's answer is computed afresh
 * (nothing is kept from an earlier batch), and those the budget left out stay
 * pending, in the order asked.
 */
static void answer_batch(struct pending *p, uint32_t own_netns)
{
	size_t i, kept = 0;

	for (i = 0; i < p->n; i++) {
		memset(&p->q[i], 0, sizeof(p->q[i]));
		p->q[i].failed = p->in[i].event;
		p->q[i].want_holder = p->in[i].want & HELPER_WANT_HOLDER;
		p->q[i].want_ifname =
			(p->in[i].want & HELPER_WANT_IFNAME) && p->in[i].event.ifindex;
		p->answered[i] = false;
	}
	find_holders_of(p->q, p->n, own_netns, HOLDER_BATCH_BUDGET_NS, send_answers, p);
	for (i = 0; i < p->n; i++) {
		if (!p->answered[i])
			p->in[kept++] = p->in[i];
	}
	p->n = kept;
}

static void helper_main(int names_fd, int holders_fd, uint32_t own_netns)
{
	struct pollfd pfd[2] = {{.fd = 3, .events = POLLIN}, {.fd = 4, .events = POLLIN}};
	struct pending p = {.in = calloc(HOLDER_BATCH, sizeof(*p.in)),
			    .q = calloc(HOLDER_BATCH, sizeof(*p.q)),
			    .answered = calloc(HOLDER_BATCH, sizeof(*p.answered)),
			    .fd = 4};

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* forked before the tracer ignores it: an answer to a tracer gone ends in _exit() */
	signal(SIGPIPE, SIG_IGN);
	if (getppid() == 1) /* the tracer is already gone */
		_exit(0);
	if (!p.in || !p.q || !p.answered || dup2(names_fd, 3) < 0 || dup2(holders_fd, 4) < 0 ||
	    close_range(5, ~0u, 0))
		_exit(1);
	capng_clear(CAPNG_SELECT_BOTH);
	capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_DAC_READ_SEARCH,
		      CAP_SYS_PTRACE, CAP_SYS_ADMIN, -1);
	if (capng_apply(CAPNG_SELECT_BOTH) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		_exit(1);
	for (;;) {
		/* with questions left over from the budget: only a look, no wait */
		if (poll(pfd, 2, p.n ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (pfd[0].revents)
			answer_listeners(3, own_netns);
		if ((pfd[1].revents || p.n) && !read_questions(&p, false))
			_exit(0);
		if (p.n)
			answer_batch(&p, own_netns);
	}
}

int holder_helper_start(struct holder_helper *h, uint32_t own_netns)
{
	int names[2], holders[2];
	pid_t pid;

	memset(h, 0, sizeof(*h));
	h->fd = h->holders = -1;
	h->own_netns = own_netns;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, names))
		return -errno;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, holders)) {
		close(names[0]);
		close(names[1]);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		close(names[0]);
		close(names[1]);
		close(holders[0]);
		close(holders[1]);
		return -errno;
	}
	if (pid == 0)
		helper_main(names[1], holders[1], own_netns);
	close(names[1]);
	close(holders[1]);
	h->pid = pid;
	h->fd = names[0];
	h->holders = holders[0];
	return 0;
}

int holder_helper_ask(struct holder_helper *h, const struct holder_question *q, size_t n)
{
	ssize_t len = (ssize_t)(n * sizeof(*q));

	if (send(h->holders, q, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) == len)
		return 0;
	return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

int holder_helper_answers(struct holder_helper *h, struct holder_answer out[HOLDER_PER_MESSAGE])
{
	ssize_t n = recv(h->holders, out, HOLDER_PER_MESSAGE * sizeof(*out), MSG_DONTWAIT);

	if (n > 0 && n % sizeof(*out) == 0)
		return (int)(n / sizeof(*out));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return n < 0 ? -errno : -EPIPE;
}

/* The tracer's own listing, without the helper: it names what it may read. */
static int listeners_here(struct holder_helper *h, uint32_t netns, uint32_t pid,
			  struct listeners *out)
{
	int nsfd, err;

	if (!netns_enter(netns, pid, h->own_netns, &nsfd))
		return -ESRCH;
	err = listeners_collect(nsfd, out);
	if (nsfd >= 0)
		close(nsfd);
	return err;
}

int holder_helper_listeners(struct holder_helper *h, uint32_t netns, uint32_t pid,
			    struct listeners *out)
{
	struct listeners_request req = {.id = ++h->listeners_id, .netns = netns, .pid = pid};
	struct listeners_reply *reply;
	struct pollfd pfd = {.fd = h->fd, .events = POLLIN};
	int64_t deadline;
	int err = 0, left;
	uint32_t i;

	memset(out, 0, sizeof(*out));
	if (!h->pid || h->gone)
		return listeners_here(h, netns, pid, out);
	reply = malloc(sizeof(*reply));
	if (!reply)
		return -ENOMEM;
	if (send(h->fd, &req, sizeof(req), MSG_NOSIGNAL) != sizeof(req))
		err = -EPIPE;
	deadline = monotonic_ns() / 1000000 + 5000;
	while (!err) {
		left = (int)(deadline - monotonic_ns() / 1000000);
		if (left <= 0 || poll(&pfd, 1, left) != 1) {
			err = -ETIMEDOUT;
			break;
		}
		if (read(h->fd, reply, sizeof(*reply)) != sizeof(*reply)) {
			err = -EPIPE;
			break;
		}
		if (reply->id != req.id)
			continue; /* the late answer to an earlier question: not this one's */
		for (i = 0; !reply->err && i < reply->n && i < LISTENERS_PER_MESSAGE && !err; i++)
			err = listeners_add(out, &reply->v[i]);
		err = err ?: reply->err;
		if (err || reply->last)
			break;
	}
	free(reply);
	if (err == -ETIMEDOUT || err == -EPIPE) {
		h->gone = true; /* asked no more: this and the next namespaces are listed here */
		listeners_free(out);
		memset(out, 0, sizeof(*out));
		return listeners_here(h, netns, pid, out);
	}
	return err;
}

void holder_helper_stop(struct holder_helper *h)
{
	int i;

	if (h->fd >= 0)
		close(h->fd); /* EOF: the helper exits */
	if (h->holders >= 0)
		close(h->holders);
	h->holders = -1;
	h->fd = -1;
	/* a stopped or stuck helper never reads the EOF: 100 ms, then SIGKILL
	 * (it keeps nothing that needs writing out) */
	for (i = 0; h->pid > 0 && i < 10; i++) {
		if (waitpid(h->pid, NULL, WNOHANG) != 0)
			h->pid = 0;
		else
			usleep(10000);
	}
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
	}
	h->pid = 0;
}
