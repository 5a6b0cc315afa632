// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket storms for `make bench`: times N operations and prints one line,
 *   storm=bind ops=N ns_per_op=X cpu_ns_per_op=Y pid=P
 * X is wall time, Y the process's CPU time (user + system): on a shared
 * machine Y leaves out the time the storm waited for a CPU.
 *
 *   storm bind N     socket(AF_INET6, SOCK_STREAM) + bind([::]:0) + close
 *   storm accept N   IPv4 connect to a tcp6 [::] listener + accept + close both
 *   storm getppid N  getppid(): a process that makes no socket call
 *   storm read N     a 1-byte read() of /dev/zero: the same, with an fd
 * Static, so the qemu guests can run it too.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
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

/* the raw system call, so that no C library can answer it from a cache */
static void getppid_storm(long n)
{
	long i;

	for (i = 0; i < n; i++)
		syscall(SYS_getppid);
}

static void read_storm(long n)
{
	int fd = open("/dev/zero", O_RDONLY);
	char c;
	long i;

	if (fd < 0)
		die("/dev/zero");
	for (i = 0; i < n; i++) {
		if (read(fd, &c, 1) != 1)
			die("read");
	}
	close(fd);
}

static const struct {
	const char *name;
	void (*run)(long n);
} storms[] = {
	{"bind", bind_storm},
	{"accept", accept_storm},
	{"getppid", getppid_storm},
	{"read", read_storm},
};

int main(int argc, char **argv)
{
	double t0, t1, c0, c1;
	size_t i;
	long n;

	for (i = 0; argc == 3 && i < sizeof(storms) / sizeof(storms[0]); i++) {
		if (!strcmp(argv[1], storms[i].name))
			break;
	}
	if (argc != 3 || i == sizeof(storms) / sizeof(storms[0]) || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: storm bind|accept|getppid|read N\n");
		return 2;
	}
	t0 = now_ns(CLOCK_MONOTONIC);
	c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	storms[i].run(n);
	c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	t1 = now_ns(CLOCK_MONOTONIC);
	printf("storm=%s ops=%ld ns_per_op=%.1f cpu_ns_per_op=%.1f pid=%d\n", argv[1], n,
	       (t1 - t0) / n, (c1 - c0) / n, getpid());
	return 0;
}
