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
#include "helper.h"
#include "sockdiag.h"

/* ---- the helper process ------------------------------------------------ */

/* What one batch answers at most; the rest waits for the next. */
#define HOLDER_BATCH 4096

struct ifname_reply {
	int32_t found;
	char ifname[IF_NAMESIZE];
};

/* On the same socket as interface names, told apart by their size. */
struct listeners_request {
	uint32_t netns, pid;
};

#define LISTENERS_PER_MESSAGE 32
struct listeners_reply {
	int32_t err;
	uint32_t n, last;
	struct listener v[LISTENERS_PER_MESSAGE];
};

static void answer_listeners(int fd, const struct listeners_request *req, uint32_t own_netns)
{
	struct listeners_reply reply;
	struct listeners l = {0};
	struct v6t_event e = {.netns = req->netns, .pid = req->pid};
	size_t i = 0;
	int nsfd = req->netns == own_netns ? -1 : open_netns_of(&e);

	memset(&reply, 0, sizeof(reply));
	reply.err = req->netns != own_netns && nsfd < 0 ? -ESRCH : listeners_collect(nsfd, &l);
	if (nsfd >= 0)
		close(nsfd);
	do {
		reply.n = 0;
		while (i < l.n && reply.n < LISTENERS_PER_MESSAGE)
			reply.v[reply.n++] = l.v[i++];
		reply.last = i == l.n;
		if (write(fd, &reply, sizeof(reply)) != sizeof(reply))
			_exit(0);
	} while (i < l.n);
	listeners_free(&l);
}

static void answer_ifname(int fd, uint32_t own_netns)
{
	union {
		struct v6t_event e;
		struct listeners_request listeners;
	} req;
	struct ifname_reply reply = {0};
	ssize_t n = read(fd, &req, sizeof(req));

	if (n == sizeof(req.listeners)) {
		answer_listeners(fd, &req.listeners, own_netns);
		return;
	}
	if (n != sizeof(req.e))
		_exit(0); /* EOF: the tracer is done */
	reply.found = ifname_of(&req.e, own_netns, reply.ifname);
	if (write(fd, &reply, sizeof(reply)) != sizeof(reply))
		_exit(0);
}

/* Everything asked so far, as one batch, answered in the order asked. */
static void answer_holders(int fd, uint32_t own_netns, struct holder_query *q,
			   struct holder_question *in)
{
	struct holder_answer a[HOLDER_PER_MESSAGE];
	size_t n = 0, i, m;
	ssize_t got;

	while (n + HOLDER_PER_MESSAGE <= HOLDER_BATCH &&
	       (got = recv(fd, &in[n], HOLDER_PER_MESSAGE * sizeof(*in), n ? MSG_DONTWAIT : 0)) >
		       0) {
		n += (size_t)got / sizeof(*in);
		if (got % sizeof(*in))
			_exit(1); /* not the tracer's */
	}
	if (!n)
		_exit(0); /* EOF, or the tracer is gone */
	for (i = 0; i < n; i++)
		q[i].failed = in[i].failed;
	find_holders_of(q, n, own_netns);
	for (i = 0; i < n; i += m) {
		m = n - i < HOLDER_PER_MESSAGE ? n - i : HOLDER_PER_MESSAGE;
		memset(a, 0, sizeof(a));
		for (size_t k = 0; k < m; k++) {
			a[k].id = in[i + k].id;
			a[k].found = q[i + k].found ? 1 : q[i + k].unknown ? -1 : 0;
			if (a[k].found)
				a[k].holder = q[i + k].holder;
		}
		if (send(fd, a, m * sizeof(*a), MSG_NOSIGNAL) != (ssize_t)(m * sizeof(*a)))
			_exit(0);
	}
}

static void helper_main(int names_fd, int holders_fd, uint32_t own_netns)
{
	struct pollfd pfd[2] = {{.fd = 3, .events = POLLIN}, {.fd = 4, .events = POLLIN}};
	struct holder_question *in = calloc(HOLDER_BATCH, sizeof(*in));
	struct holder_query *q = calloc(HOLDER_BATCH, sizeof(*q));

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* forked before the tracer ignores it: an answer to a tracer gone ends in _exit() */
	signal(SIGPIPE, SIG_IGN);
	if (getppid() == 1) /* the tracer is already gone */
		_exit(0);
	if (!in || !q || dup2(names_fd, 3) < 0 || dup2(holders_fd, 4) < 0 || close_range(5, ~0u, 0))
		_exit(1);
	capng_clear(CAPNG_SELECT_BOTH);
	capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_PTRACE, CAP_SYS_ADMIN,
		      -1);
	if (capng_apply(CAPNG_SELECT_BOTH) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		_exit(1);
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (pfd[0].revents)
			answer_ifname(3, own_netns);
		if (pfd[1].revents)
			answer_holders(4, own_netns, q, in);
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

int holder_helper_listeners(struct holder_helper *h, uint32_t netns, uint32_t pid,
			    struct listeners *out)
{
	struct listeners_request req = {.netns = netns, .pid = pid};
	struct listeners_reply *reply;
	struct pollfd pfd = {.fd = h->fd, .events = POLLIN};
	int err = 0;
	uint32_t i;

	memset(out, 0, sizeof(*out));
	if (!h->pid) { /* no helper: listed here, with what this process may read */
		struct v6t_event e = {.netns = netns, .pid = pid};
		int nsfd = netns == h->own_netns ? -1 : open_netns_of(&e);

		if (netns != h->own_netns && nsfd < 0)
			return -ESRCH;
		err = listeners_collect(nsfd, out);
		if (nsfd >= 0)
			close(nsfd);
		return err;
	}
	reply = malloc(sizeof(*reply));
	if (!reply)
		return -ENOMEM;
	if (write(h->fd, &req, sizeof(req)) != sizeof(req))
		err = -EPIPE;
	do {
		if (err || poll(&pfd, 1, 5000) != 1 ||
		    read(h->fd, reply, sizeof(*reply)) != sizeof(*reply)) {
			err = err ?: -ETIMEDOUT;
			break;
		}
		for (i = 0; !reply->err && i < reply->n && i < LISTENERS_PER_MESSAGE && !err; i++)
			err = listeners_add(out, &reply->v[i]);
		err = err ?: reply->err;
	} while (!reply->last);
	free(reply);
	return err;
}

/* One interface-name question; false if the helper did not answer within a second. */
static bool ask_ifname(struct holder_helper *h, const struct v6t_event *e,
		       struct ifname_reply *reply)
{
	struct pollfd pfd = {.fd = h->fd, .events = POLLIN};

	return write(h->fd, e, sizeof(*e)) == sizeof(*e) && poll(&pfd, 1, 1000) == 1 &&
	       read(h->fd, reply, sizeof(*reply)) == sizeof(*reply);
}

bool holder_helper_ifname(struct holder_helper *h, const struct v6t_event *e,
			  char name[IF_NAMESIZE])
{
	struct ifname_reply reply = {0};
	struct timespec now;

	/* the tracer's own namespace needs no privilege, and no helper */
	if (!h->pid || e->netns == h->own_netns)
		return ifname_of(e, h->own_netns, name);
	/* a storm of link-local accepts asks once a second */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (h->ifname.netns != e->netns || h->ifname.ifindex != e->ifindex ||
	    now.tv_sec != h->ifname.when_sec) {
		h->ifname.found = ask_ifname(h, e, &reply) && reply.found;
		memcpy(h->ifname.name, reply.ifname, IF_NAMESIZE);
		h->ifname.name[IF_NAMESIZE - 1] = '\0';
		h->ifname.netns = e->netns;
		h->ifname.ifindex = e->ifindex;
		h->ifname.when_sec = now.tv_sec;
	}
	memcpy(name, h->ifname.name, IF_NAMESIZE);
	return h->ifname.found;
}

void holder_helper_stop(struct holder_helper *h)
{
	if (h->fd >= 0)
		close(h->fd); /* EOF: the helper exits */
	if (h->holders >= 0)
		close(h->holders);
	h->holders = -1;
	if (h->pid > 0)
		waitpid(h->pid, NULL, 0);
	h->fd = -1;
	h->pid = 0;
}
