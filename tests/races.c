// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A second thread that changes what a bind() is given while the call runs,
 * as any unprivileged process can: tests/races.py traces this program and
 * holds v6trace's records against what the program itself saw happen
 * (issue 23, item 7).
 *
 *   races dupbind N OUT   a thread dup2()s a bound UDP inet socket, then the
 *                         current inet6 TCP socket, over the fd that the main
 *                         thread binds to [::1]:0, N times. OUT gets
 *                         "udp PORT" (the UDP socket's port), then one line
 *                         per bind: "bind RET ERRNO PORT", PORT the inet6
 *                         socket's own port after the call (getsockname(), 0:
 *                         unbound).
 *   races duplisten N OUT the same racer, while the main thread binds a new
 *                         inet6 TCP socket to [::1]:0 on its own fd, then
 *                         calls listen() on the shared one. OUT: "udp PORT",
 *                         then per round "listen RET ERRNO PORT LISTENING",
 *                         PORT the inet6 socket's, LISTENING its SO_ACCEPTCONN.
 *   races flipport N OUT  [::1]:P1 is held, [::1]:P2 free; a thread flips the
 *                         port of the sockaddr the main thread binds N new
 *                         inet6 TCP sockets with between P1 and P2, at most one
 *                         flip every 50 us, and counts its flips. OUT gets
 *                         "ports P1 P2", then per bind "bind RET ERRNO PORT
 *                         FLIPS": PORT what the socket was bound to (0: none),
 *                         FLIPS the flips seen during the call. The kernel's
 *                         port is known from the result: EADDRINUSE is P1, a
 *                         success P2.
 *
 * The binds are made by the main thread only, one after the other, so the
 * records of its tid come in the order of OUT's lines, after the setup binds
 * (dupbind, duplisten: 1, flipport: 2).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop_racing;

static void die(const char *what)
{
	fprintf(stderr, "races: %s: %s\n", what, strerror(errno));
	exit(1);
}

static unsigned local_port(int fd)
{
	struct sockaddr_in6 sa;
	socklen_t len = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &len))
		return 0;
	return ntohs(sa.sin6_port); /* sin_port is at the same offset */
}

static struct sockaddr_in6 loopback6(unsigned port)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};

	sa.sin6_addr = in6addr_loopback;
	return sa;
}

/* ---- dupbind ------------------------------------------------------------- */

struct dup_race {
	int udp;	    /* the bound UDP inet socket */
	int shared;	    /* the fd the main thread binds */
	atomic_int current; /* the inet6 socket of this round, -1 between rounds */
	atomic_long laps;   /* the racer's rounds, so a bind starts while it runs */
};

static void *dup_racer(void *arg)
{
	struct dup_race *r = arg;

	while (!atomic_load(&stop_racing)) {
		int cur = atomic_load(&r->current);

		dup2(r->udp, r->shared);
		if (cur >= 0)
			dup2(cur, r->shared);
		atomic_fetch_add(&r->laps, 1);
	}
	return NULL;
}

/* The bound UDP socket, its dup the main thread calls on, and the racer. */
static void start_dup_race(struct dup_race *r, pthread_t *racer, FILE *out)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->current = -1;
	r->udp = socket(AF_INET, SOCK_DGRAM, 0);
	if (r->udp < 0 || bind(r->udp, (struct sockaddr *)&sin, sizeof(sin)))
		die("udp socket");
	r->shared = dup(r->udp);
	if (r->shared < 0)
		die("dup");
	fprintf(out, "udp %u\n", local_port(r->udp));
	if (pthread_create(racer, NULL, dup_racer, r))
		die("pthread_create");
}

/* This round's socket goes on the shared fd, and the call starts while the racer runs. */
static void race_round(struct dup_race *r, int sock)
{
	long lap;

	atomic_store(&r->current, sock);
	dup2(sock, r->shared);
	lap = atomic_load(&r->laps);
	while (atomic_load(&r->laps) == lap) /* the racer is running now */
		;
}

static int dupbind(long n, FILE *out)
{
	struct dup_race r = {.current = -1};
	pthread_t racer;
	long i;

	start_dup_race(&r, &racer, out);
	for (i = 0; i < n; i++) {
		struct sockaddr_in6 sa = loopback6(0);
		int tcp = socket(AF_INET6, SOCK_STREAM, 0), ret, err;

		if (tcp < 0)
			die("socket");
		race_round(&r, tcp);
		ret = bind(r.shared, (struct sockaddr *)&sa, sizeof(sa));
		err = ret ? errno : 0;
		atomic_store(&r.current, -1);
		fprintf(out, "bind %d %d %u\n", ret, err, local_port(tcp));
		close(tcp);
	}
	atomic_store(&stop_racing, 1);
	pthread_join(racer, NULL);
	return 0;
}

static int listening(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) ? 0 : on;
}

/* As dupbind, for listen(): the racer is the same. */
static int duplisten(long n, FILE *out)
{
	struct dup_race r = {.current = -1};
	pthread_t racer;
	long i;

	start_dup_race(&r, &racer, out);
	for (i = 0; i < n; i++) {
		struct sockaddr_in6 sa = loopback6(0);
		int tcp = socket(AF_INET6, SOCK_STREAM, 0), ret, err;

		if (tcp < 0 || bind(tcp, (struct sockaddr *)&sa, sizeof(sa)))
			die("tcp socket");
		race_round(&r, tcp);
		ret = listen(r.shared, 8);
		err = ret ? errno : 0;
		atomic_store(&r.current, -1);
		fprintf(out, "listen %d %d %u %d\n", ret, err, local_port(tcp), listening(tcp));
		close(tcp);
	}
	atomic_store(&stop_racing, 1);
	pthread_join(racer, NULL);
	return 0;
}

/* ---- flipport ------------------------------------------------------------ */

struct flip_race {
	struct sockaddr_in6 sa; /* what the main thread binds with */
	unsigned p1, p2;
	atomic_long flips;
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * At most one flip in 50 us, several times as long as a traced bind here: a
 * call that sees two flips (preempted) is counted as such, so the test can
 * tell the one case no reader of user memory can see (a change undone).
 */
static void *port_flipper(void *arg)
{
	struct flip_race *r = arg;
	volatile uint16_t *port = &r->sa.sin6_port;

	while (!atomic_load(&stop_racing)) {
		long long until = now_ns() + 50000;

		while (now_ns() < until)
			;
		*port = *port == htons((uint16_t)r->p1) ? htons((uint16_t)r->p2)
							: htons((uint16_t)r->p1);
		atomic_fetch_add(&r->flips, 1);
	}
	return NULL;
}

static int flipport(long n, FILE *out)
{
	struct flip_race r = {0};
	struct sockaddr_in6 any = loopback6(0);
	int holder = socket(AF_INET6, SOCK_STREAM, 0), probe = socket(AF_INET6, SOCK_STREAM, 0);
	pthread_t flipper;
	long i;

	if (holder < 0 || probe < 0 || bind(holder, (struct sockaddr *)&any, sizeof(any)) ||
	    listen(holder, 8) || bind(probe, (struct sockaddr *)&any, sizeof(any)))
		die("holder");
	r.p1 = local_port(holder);
	r.p2 = local_port(probe);
	close(probe); /* P2 is free again: a bind to it succeeds */
	r.sa = loopback6(r.p1);
	fprintf(out, "ports %u %u\n", r.p1, r.p2);
	if (pthread_create(&flipper, NULL, port_flipper, &r))
		die("pthread_create");
	for (i = 0; i < n; i++) {
		int tcp = socket(AF_INET6, SOCK_STREAM, 0), ret, err;
		long before, after;

		if (tcp < 0)
			die("socket");
		before = atomic_load(&r.flips);
		ret = bind(tcp, (struct sockaddr *)&r.sa, sizeof(r.sa));
		err = ret ? errno : 0;
		after = atomic_load(&r.flips);
		fprintf(out, "bind %d %d %u %ld\n", ret, err, ret ? 0 : local_port(tcp),
			after - before);
		close(tcp);
	}
	atomic_store(&stop_racing, 1);
	pthread_join(flipper, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	FILE *out;
	long n;
	int ret;

	if (argc != 4 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: races dupbind|duplisten|flipport N OUT\n");
		return 2;
	}
	out = fopen(argv[3], "w");
	if (!out)
		die(argv[3]);
	if (!strcmp(argv[1], "dupbind")) {
		ret = dupbind(n, out);
	} else if (!strcmp(argv[1], "duplisten")) {
		ret = duplisten(n, out);
	} else if (!strcmp(argv[1], "flipport")) {
		ret = flipport(n, out);
	} else {
		fprintf(stderr, "races: unknown race %s\n", argv[1]);
		return 2;
	}
	if (fclose(out))
		die(argv[3]);
	return ret;
}
