// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket storms for `make bench`: times N operations and prints one line,
 *   storm=bind ops=N ns_per_op=X pid=P
 *
 *   storm bind N     socket(AF_INET6, SOCK_STREAM) + bind([::]:0) + close
 *   storm accept N   IPv4 connect to a tcp6 [::] listener + accept + close both
 * Static, so the qemu guests can run it too.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void bind_storm(long n)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	long i;

	for (i = 0; i < n; i++) {
		int fd = socket(AF_INET6, SOCK_STREAM, 0);

		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
			die("bind storm");
		close(fd);
	}
}

static void accept_storm(long n)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in to = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int one = 1, lfd;
	long i;

	lfd = socket(AF_INET6, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 128) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len))
		die("listener");
	to.sin_port = sa.sin6_port;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0), a;
		struct linger lg = { 1, 0 }; /* RST on close: no TIME_WAIT pile-up */

		if (c < 0 || connect(c, (struct sockaddr *)&to, sizeof(to)))
			die("connect");
		a = accept(lfd, NULL, NULL);
		if (a < 0)
			die("accept");
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
		close(a);
	}
	close(lfd);
}

int main(int argc, char **argv)
{
	double t0, t1;
	long n;

	if (argc != 3 || (n = atol(argv[2])) <= 0 ||
	    (strcmp(argv[1], "bind") && strcmp(argv[1], "accept"))) {
		fprintf(stderr, "usage: storm bind|accept N\n");
		return 2;
	}
	t0 = now_ns();
	if (!strcmp(argv[1], "bind"))
		bind_storm(n);
	else
		accept_storm(n);
	t1 = now_ns();
	printf("storm=%s ops=%ld ns_per_op=%.1f pid=%d\n", argv[1], n, (t1 - t0) / n, getpid());
	return 0;
}
