// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <cap-ng.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
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

/* Not a message of the tracer's: said once, and the helper ends (the tracer then does without). */
static _Noreturn void malformed(const char *what, size_t len)
{
	fprintf(stderr, "v6trace: lookup helper: malformed %s message (%zu bytes)\n", what, len);
	_exit(1);
}

/* What one batch answers at most; the rest waits for the next. */
#define HOLDER_BATCH 4096
/*
 * A batch stops taking namespaces after this long: those left are answered in
 * the next one, with whatever was asked meanwhile, in turns by uid again. So
 * a question from one user never waits behind much more than this of
 * another's (the tracer gives up on a question after LOOKUP_DEADLINE_NS).
 */
#define HOLDER_BATCH_BUDGET_NS (500 * 1000000LL)

static void answer_listeners(int fd, uint32_t own_netns)
{
	struct listeners_request_msg req;
	struct listeners_reply_msg reply;
	struct listeners l = {0};
	size_t i = 0, len;
	ssize_t got;
	int nsfd;

	got = read(fd, &req, sizeof(req));
	if (got <= 0)
		_exit(0); /* EOF: the tracer is done */
	if (helper_decode_listeners_request(&req, (size_t)got) < 0)
		malformed("listeners request", (size_t)got);
	memset(&reply, 0, sizeof(reply));
	reply.id = req.id;
	reply.err = netns_enter(req.netns, req.pid, own_netns, &nsfd) ? listeners_collect(nsfd, &l)
								      : -ESRCH;
	if (nsfd >= 0)
		close(nsfd);
	do {
		size_t n = 0;

		while (i < l.n && n < LISTENERS_PER_MESSAGE)
			reply.v[n++] = l.v[i++];
		reply.last = i == l.n;
		len = helper_encode_listeners_reply(&reply, n);
		if (send(fd, &reply, len, MSG_NOSIGNAL) != (ssize_t)len)
			_exit(0);
	} while (i < l.n);
	listeners_free(&l);
}

/* The questions asked and not answered yet, in the order asked. */
struct pending {
	struct holder_question *in;
	struct holder_questions_msg *msg; /* the one being read */
	struct holder_query *q;
	bool *answered;
	size_t n;
	int fd;
};

/* find_holders_of()'s callback: one namespace's answers go out at once. */
static void send_answers(struct holder_query *q, const size_t *which, size_t m, void *ctx)
{
	struct pending *p = ctx;
	struct holder_answers_msg msg;
	struct holder_answer *a = msg.a;
	size_t i, k, c, len;

	(void)q;
	for (i = 0; i < m; i += c) {
		c = m - i < HOLDER_PER_MESSAGE ? m - i : HOLDER_PER_MESSAGE;
		memset(&msg, 0, sizeof(msg));
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
		len = helper_encode_answers(&msg, c);
		if (send(p->fd, &msg, len, MSG_NOSIGNAL) != (ssize_t)len)
			_exit(0);
	}
}

/* What has been asked since, added to what is pending: false at EOF. */
static bool read_questions(struct pending *p, bool wait)
{
	ssize_t got;
	int n;

	while (p->n + HOLDER_PER_MESSAGE <= HOLDER_BATCH) {
		got = recv(p->fd, p->msg, sizeof(*p->msg), wait ? 0 : MSG_DONTWAIT);
		if (got == 0)
			return false; /* EOF: the tracer is done */
		if (got < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		n = helper_decode_questions(p->msg, (size_t)got);
		if (n < 0)
			malformed("holder questions", (size_t)got);
		memcpy(&p->in[p->n], p->msg->q, (size_t)n * sizeof(*p->in));
		p->n += (size_t)n;
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
		p->q[i].failed = p->in[i].bind;
		p->q[i].want_holder = p->in[i].want & HELPER_WANT_HOLDER;
		p->q[i].want_ifname = (p->in[i].want & HELPER_WANT_IFNAME) && p->in[i].bind.ifindex;
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
			    .msg = malloc(sizeof(*p.msg)),
			    .fd = 4};

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* forked before the tracer ignores it: an answer to a tracer gone ends in _exit() */
	signal(SIGPIPE, SIG_IGN);
	if (getppid() == 1) /* the tracer is already gone */
		_exit(0);
	if (!p.in || !p.q || !p.answered || !p.msg || dup2(names_fd, 3) < 0 ||
	    dup2(holders_fd, 4) < 0 || close_range(5, ~0u, 0))
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
	struct holder_questions_msg msg;
	size_t len = helper_encode_questions(&msg, q, n);

	if (send(h->holders, &msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len)
		return 0;
	return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

int holder_helper_answers(struct holder_helper *h, struct holder_answer out[HOLDER_PER_MESSAGE])
{
	struct holder_answers_msg msg;
	ssize_t got = recv(h->holders, &msg, sizeof(msg), MSG_DONTWAIT);
	int n;

	if (got < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (got == 0)
		return -EPIPE;
	n = helper_decode_answers(&msg, (size_t)got);
	if (n > 0)
		memcpy(out, msg.a, (size_t)n * sizeof(*out));
	/* an empty message is never sent: taking it for "none waiting" would hide a fault */
	return n == 0 ? -EBADMSG : n;
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

int holder_helper_listeners_ask(struct holder_helper *h, uint32_t netns, uint32_t pid, uint64_t *id)
{
	struct listeners_request_msg req;
	size_t req_len = helper_encode_listeners_request(&req, ++h->listeners_id, netns, pid);

	if (!h->pid || h->gone)
		return -ENOTCONN;
	if (send(h->fd, &req, req_len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)req_len) {
		h->gone = true;
		return -EPIPE;
	}
	*id = req.id;
	return 0;
}

int holder_helper_listeners_take(struct holder_helper *h, uint64_t id, struct listeners *out)
{
	struct listeners_reply_msg *reply = malloc(sizeof(*reply));
	ssize_t got;
	int n, err = 0;
	uint32_t i;

	if (!reply)
		return -ENOMEM;
	got = recv(h->fd, reply, sizeof(*reply), MSG_DONTWAIT);
	if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		free(reply);
		return 0;
	}
	n = got > 0 ? helper_decode_listeners_reply(reply, (size_t)got) : -EPIPE;
	if (n < 0) {
		if (n == -EBADMSG)
			fprintf(stderr,
				"v6trace: malformed listeners reply from the lookup helper (%zd "
				"bytes)\n",
				got);
		h->gone = true;
		free(reply);
		return -EPIPE;
	}
	if (reply->id != id) { /* the late answer to an earlier question: not this one's */
		free(reply);
		return 0;
	}
	for (i = 0; !reply->err && i < (uint32_t)n && !err; i++)
		err = listeners_add(out, &reply->v[i]);
	err = err ?: reply->err;
	if (!err && reply->last)
		err = 1;
	free(reply);
	return err;
}

int holder_helper_listeners(struct holder_helper *h, uint32_t netns, uint32_t pid,
			    struct listeners *out)
{
	struct pollfd pfd = {.fd = h->fd, .events = POLLIN};
	int64_t deadline;
	uint64_t id;
	int err, left;

	memset(out, 0, sizeof(*out));
	if (holder_helper_listeners_ask(h, netns, pid, &id))
		return listeners_here(h, netns, pid, out);
	deadline = monotonic_ns() / 1000000 + 5000;
	do {
		left = (int)(deadline - monotonic_ns() / 1000000);
		if (left <= 0 || poll(&pfd, 1, left) != 1) {
			err = -ETIMEDOUT;
			break;
		}
		err = holder_helper_listeners_take(h, id, out);
	} while (!err);
	if (err == 1)
		return 0;
	listeners_free(out);
	memset(out, 0, sizeof(*out));
	if (err == -ETIMEDOUT || err == -EPIPE) {
		h->gone = true; /* asked no more: this and the next namespaces are listed here */
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
