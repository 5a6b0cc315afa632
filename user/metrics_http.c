// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --metrics-listen: the exposition served over HTTP by evhttp, in a process of its own. */
#include <errno.h>
#include <fcntl.h>
#include <ctype.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#ifndef V6T_NO_HTTP
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#endif
#include "clock.h"
#include "metrics_http.h"
#include "cli.h"

/* the server's descriptors, whatever they were in the tracer */
#define SERVER_LISTEN_FD  3
#define SERVER_PUBLISH_FD 4

#ifdef V6T_NO_HTTP
int metrics_http_listen(struct metrics_http *h, const char *spec)
{
	h->listen_fd = -1;
	fail("--metrics-listen %s: this build has no HTTP server (built without libevent, as a "
	     "cross build is); --metrics-file works",
	     spec);
	return -1;
}

int metrics_http_start(struct metrics_http *h)
{
	(void)h;
	return 0;
}
#else
int metrics_http_listen(struct metrics_http *h, const char *spec)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} sa = {0};
	char host[64];
	const char *colon = strrchr(spec, ':');
	const char *port = colon ? colon + 1 : NULL;
	size_t hlen = colon ? (size_t)(colon - spec) : 0;
	const char *addr = spec;
	bool bracketed = hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']';
	int one = 1, zero = 0, fd, err;
	socklen_t len;
	char *end;
	long p;

	h->listen_fd = -1;
	if (bracketed) { /* [ADDR]:PORT */
		addr++;
		hlen -= 2;
	}
	if (!colon || !hlen || hlen >= sizeof(host))
		goto invalid;
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	errno = 0;
	p = strtol(port, &end, 10);
	if (errno || end == port || *end || p < 1 || p > 65535 || !isdigit((unsigned char)*port))
		goto invalid;
	/* an IPv6 address only in brackets: ::1:9477 is ambiguous */
	if (!bracketed && inet_pton(AF_INET, host, &sa.in.sin_addr) == 1) {
		sa.in.sin_family = AF_INET;
		sa.in.sin_port = htons((uint16_t)p);
		len = sizeof(sa.in);
	} else if (bracketed && inet_pton(AF_INET6, host, &sa.in6.sin6_addr) == 1) {
		sa.in6.sin6_family = AF_INET6;
		sa.in6.sin6_port = htons((uint16_t)p);
		len = sizeof(sa.in6);
	} else {
		goto invalid;
	}
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    /* [::] takes IPv4 too, whatever the namespace's net.ipv6.bindv6only says */
	    (sa.sa.sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero))) ||
	    bind(fd, &sa.sa, len) || listen(fd, 64)) {
		err = errno;
		fail("--metrics-listen %s: %s", spec, strerror(err));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	h->listen_fd = fd;
	return 0;
invalid:
	fail("invalid --metrics-listen '%s': ADDR:PORT with a numeric address "
	     "(127.0.0.1:9477, [::1]:9477, [::]:9477)",
	     spec);
	return -1;
}

/* The server's state: the last exposition handed over. */
struct server {
	struct event_base *base;
	char *data;
	size_t len;
};

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	struct evbuffer *body = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);

	evhttp_add_header(headers, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(headers, "Cache-Control", "no-store");
	if (!s->data) { /* cannot happen: the tracer hands one over before it starts */
		evhttp_send_error(req, HTTP_SERVUNAVAIL, "no metrics yet");
		return;
	}
	if (evbuffer_add(body, s->data, s->len)) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

static void on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, HTTP_NOTFOUND, "v6trace serves /metrics only");
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

/* accept() failed (EMFILE: METRICS_HTTP_MAX_CONNECTIONS open): rest a second, not spin */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct timeval second = {1, 0};

	(void)arg; /* evhttp's own */
	evconnlistener_disable(l);
	if (event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT, on_resume, l, &second))
		evconnlistener_enable(l); /* no timer: better spin than stop serving */
}

/* A new exposition (a sealed memfd), or the tracer's end closed: the end. */
static void on_publish(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	char byte, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl,
			     .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	struct stat st;
	char *data;
	int mfd = -1;

	(void)what;
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return; /* another time */
	if (n <= 0) {
		event_base_loopexit(s->base, NULL);
		return;
	}
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&mfd, CMSG_DATA(c), sizeof(int));
	if (mfd < 0)
		return;
	if (!fstat(mfd, &st) && st.st_size > 0 && st.st_size <= METRICS_HTTP_MAX_BYTES &&
	    (data = malloc((size_t)st.st_size))) {
		if (pread(mfd, data, (size_t)st.st_size, 0) == st.st_size) {
			free(s->data);
			s->data = data;
			s->len = (size_t)st.st_size;
		} else {
			free(data); /* the last one stays served */
		}
	}
	close(mfd);
}

static void quiet_log(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

static __attribute__((noreturn)) void serve(int listen_fd, int publish_fd, pid_t tracer)
{
	struct rlimit files = {METRICS_HTTP_MAX_CONNECTIONS + 16,
			       METRICS_HTTP_MAX_CONNECTIONS + 16};
	struct server s = {0};
	struct evhttp_bound_socket *bound;
	struct evconnlistener *listener;
	struct event *publish;
	struct evhttp *http;
	sigset_t none;
	int null;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != tracer) /* the tracer is already gone */
		_exit(0);
	prctl(PR_SET_NAME, "v6trace-http", 0, 0, 0);
	/* the tracer holds its signals for its signalfd; the server takes them as they come */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* a ^C or a service's stop is the tracer's to handle: it ends the server */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	/* nothing it might print reaches the tracer's output (stderr stays: a sanitizer's) */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(listen_fd, SERVER_LISTEN_FD) < 0 ||
	    dup2(publish_fd, SERVER_PUBLISH_FD) < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
	    close_range(SERVER_PUBLISH_FD + 1, ~0u, 0) || setrlimit(RLIMIT_NOFILE, &files))
		_exit(1);
	event_set_log_callback(quiet_log);
	s.base = event_base_new();
	http = s.base ? evhttp_new(s.base) : NULL;
	if (!http)
		_exit(1);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(http, METRICS_HTTP_TIMEOUT_S);
	evhttp_set_max_headers_size(http, 8192);
	evhttp_set_max_body_size(http, 0);
	evhttp_set_cb(http, "/metrics", on_metrics, &s);
	evhttp_set_gencb(http, on_other, NULL);
	bound = evhttp_accept_socket_with_handle(http, SERVER_LISTEN_FD);
	listener = bound ? evhttp_bound_socket_get_listener(bound) : NULL;
	publish = event_new(s.base, SERVER_PUBLISH_FD, EV_READ | EV_PERSIST, on_publish, &s);
	if (!listener || !publish || event_add(publish, NULL))
		_exit(1);
	evconnlistener_set_error_cb(listener, on_accept_error);
	event_base_dispatch(s.base);
	_exit(0);
}

int metrics_http_start(struct metrics_http *h)
{
	int sv[2];
	pid_t tracer = getpid();

	if (h->listen_fd < 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		fail("--metrics-listen: cannot start the server: %s", strerror(errno));
		return -1;
	}
	h->pid = fork();
	if (h->pid < 0) {
		fail("--metrics-listen: cannot start the server: %s", strerror(errno));
		h->pid = 0;
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (h->pid == 0)
		serve(h->listen_fd, sv[1], tracer);
	close(sv[1]);
	close(h->listen_fd); /* the server's now */
	h->listen_fd = -1;
	h->fd = sv[0];
	return 0;
}

#endif /* V6T_NO_HTTP */

void metrics_http_publish(struct metrics_http *h, const char *data, size_t len)
{
	char byte = 0, ctl[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl,
			     .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	size_t done = 0;
	int mfd, err = 0;

	if (h->fd < 0 || h->gone)
		return;
	mfd = memfd_create("v6trace-metrics", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		err = errno;
	while (!err && done < len) {
		ssize_t n = write(mfd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err = n < 0 ? errno : ENOSPC;
		else
			done += (size_t)n;
	}
	if (!err &&
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL))
		err = errno;
	if (!err) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &mfd, sizeof(int));
		if (sendmsg(h->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
			err = errno;
	}
	if (mfd >= 0)
		close(mfd);
	if (err == EAGAIN) /* the server has not taken the last ones yet: this one is skipped */
		return;
	if (err) {
		fail("--metrics-listen: the server cannot be given the metrics (%s); they are no "
		     "longer served",
		     strerror(err));
		h->gone = true;
	}
}

void metrics_http_stop(struct metrics_http *h)
{
	int64_t until = clock_ns(CLOCK_MONOTONIC) + 1000000000LL;
	int status = 0;

	if (h->listen_fd >= 0)
		close(h->listen_fd);
	h->listen_fd = -1;
	if (h->fd >= 0)
		close(h->fd); /* the server's end of the run */
	h->fd = -1;
	if (!h->pid)
		return;
	while (waitpid(h->pid, &status, WNOHANG) == 0) {
		if (clock_ns(CLOCK_MONOTONIC) > until) { /* it would not end: not its fault */
			kill(h->pid, SIGKILL);
			waitpid(h->pid, NULL, 0);
			status = 0;
			break;
		}
		nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
	}
	h->pid = 0;
	if (WIFSIGNALED(status))
		fail("--metrics-listen: the HTTP server was killed by signal %d", WTERMSIG(status));
	else if (WEXITSTATUS(status))
		fail("--metrics-listen: the HTTP server failed (exit status %d)",
		     WEXITSTATUS(status));
}
