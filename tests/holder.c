// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Holds real sockets for the snapshot and held_by tests of the qemu guests
 * (tests/snapshot.sh), and says what it holds: one JSON line per socket with
 * the inode (fstat), the address and port the kernel gave it (getsockname),
 * the IPV6_V6ONLY it set (null: left at the namespace's default) and the one
 * the kernel reports (getsockopt). Static, like the workload.
 *
 *   holder hold                          a set of listeners, bound UDP sockets
 *                                        and tcp6 connections; then waits
 *   holder listen PROTO FAMILY ADDR [V6ONLY]   one socket on an ephemeral port
 *                                        (listening if tcp); then waits
 *   holder bind PROTO FAMILY ADDR PORT [V6ONLY]  tries one bind, prints its errno
 *
 * PROTO is tcp or udp, FAMILY inet or inet6. "Waits" is until SIGTERM or
 * SIGINT; the last line written before it is {"ready":PID}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "holder: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int family_of(const char *name)
{
	if (!strcmp(name, "inet"))
		return AF_INET;
	if (!strcmp(name, "inet6"))
		return AF_INET6;
	fprintf(stderr, "holder: family %s?\n", name);
	exit(2);
}

static int type_of(const char *proto)
{
	if (!strcmp(proto, "tcp"))
		return SOCK_STREAM;
	if (!strcmp(proto, "udp"))
		return SOCK_DGRAM;
	fprintf(stderr, "holder: proto %s?\n", proto);
	exit(2);
}

static socklen_t make_addr(int family, const char *addr, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
			die(addr);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
		die(addr);
	return sizeof(*sin6);
}

/* a socket of family and type with IPV6_V6ONLY set to v6only (-1: not set) */
static int open_socket(int family, int type, int v6only)
{
	int fd = socket(family, type, 0);

	if (fd < 0)
		die("socket");
	if (v6only >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)))
		die("IPV6_V6ONLY");
	return fd;
}

static void print_endpoint(const char *key, const struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN];
	int port;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
		port = ntohs(sin->sin_port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
		port = ntohs(sin6->sin6_port);
	}
	printf(",\"%s\":\"%s\",\"%s_port\":%d", key, buf, key, port);
}

/* One line for a socket held: see the comment at the top. */
static void report(const char *name, int fd, const char *proto, const char *state, int v6only)
{
	struct sockaddr_storage local, peer;
	socklen_t len = sizeof(local);
	struct stat st;
	int kernel_v6only = 0;
	socklen_t olen = sizeof(kernel_v6only);

	if (fstat(fd, &st) || getsockname(fd, (struct sockaddr *)&local, &len))
		die("fstat/getsockname");
	printf("{\"name\":\"%s\",\"pid\":%d,\"inode\":%lu,\"proto\":\"%s\",\"family\":\"%s\","
	       "\"state\":\"%s\"",
	       name, (int)getpid(), (unsigned long)st.st_ino, proto,
	       local.ss_family == AF_INET6 ? "inet6" : "inet", state);
	print_endpoint("local", &local);
	len = sizeof(peer);
	if (!strcmp(state, "established")) {
		if (getpeername(fd, (struct sockaddr *)&peer, &len))
			die("getpeername");
		print_endpoint("peer", &peer);
	}
	if (local.ss_family == AF_INET6) {
		if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &kernel_v6only, &olen))
			die("getsockopt IPV6_V6ONLY");
		if (v6only >= 0)
			printf(",\"v6only_set\":%d", v6only);
		else
			printf(",\"v6only_set\":null");
		printf(",\"v6only\":%d", kernel_v6only);
	}
	printf("}\n");
}

static int bound(const char *name, const char *proto, const char *family, const char *addr,
		 int v6only)
{
	struct sockaddr_storage ss;
	int type = type_of(proto);
	int fd = open_socket(family_of(family), type, v6only);
	socklen_t len = make_addr(family_of(family), addr, 0, &ss);

	if (bind(fd, (struct sockaddr *)&ss, len))
		die("bind");
	if (type == SOCK_STREAM && listen(fd, 8))
		die("listen");
	if (name)
		report(name, fd, proto, type == SOCK_STREAM ? "listen" : "bound", v6only);
	return fd;
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		die("getsockname");
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* a tcp6 connection to addr:port (v6only 0, so a mapped address works with
 * net.ipv6.bindv6only=1 too); reports both ends */
static void connection(const char *name, int listener, const char *addr)
{
	char accepted[64];
	struct sockaddr_storage ss;
	int c = open_socket(AF_INET6, SOCK_STREAM, 0), a;
	socklen_t len = make_addr(AF_INET6, addr, local_port(listener), &ss);

	if (connect(c, (struct sockaddr *)&ss, len))
		die("connect");
	a = accept(listener, NULL, NULL);
	if (a < 0)
		die("accept");
	report(name, c, "tcp", "established", 0);
	snprintf(accepted, sizeof(accepted), "%s_accepted", name);
	report(accepted, a, "tcp", "established", -1);
}

static void wait_for_signal(void)
{
	printf("{\"ready\":%d}\n", (int)getpid());
	fflush(stdout);
	while (!stop)
		pause();
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "hold")) {
		int dual = bound("tcp6_dual", "tcp", "inet6", "::", 0);

		bound("tcp6_v6only", "tcp", "inet6", "::", 1);
		bound("tcp6_default", "tcp", "inet6", "::", -1);
		bound("tcp6_loop", "tcp", "inet6", "::1", -1);
		bound("tcp4_any", "tcp", "inet", "0.0.0.0", -1);
		bound("tcp4_loop", "tcp", "inet", "127.0.0.1", -1);
		bound("udp6_dual", "udp", "inet6", "::", 0);
		bound("udp6_v6only", "udp", "inet6", "::", 1);
		bound("udp6_default", "udp", "inet6", "::", -1);
		bound("udp4_any", "udp", "inet", "0.0.0.0", -1);
		bound("udp4_loop", "udp", "inet", "127.0.0.1", -1);
		/* a UDP socket never bound: not in /proc/net/udp, not in the snapshot */
		open_socket(AF_INET6, SOCK_DGRAM, -1);
		connection("mapped_client", dual, "::ffff:127.0.0.1");
		connection("v6_client", dual, "::1");
		wait_for_signal();
		return 0;
	}
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "listen")) {
		bound("listener", argv[2], argv[3], argv[4], argc == 6 ? atoi(argv[5]) : -1);
		wait_for_signal();
		return 0;
	}
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "bind")) {
		struct sockaddr_storage ss;
		int family = family_of(argv[3]);
		int fd = open_socket(family, type_of(argv[2]), argc == 7 ? atoi(argv[6]) : -1);
		socklen_t len = make_addr(family, argv[4], atoi(argv[5]), &ss);
		int err = bind(fd, (struct sockaddr *)&ss, len) ? errno : 0;

		printf("{\"pid\":%d,\"errno\":%d}\n", (int)getpid(), err);
		return 0;
	}
	fprintf(stderr, "usage: holder hold | listen PROTO FAMILY ADDR [V6ONLY] | "
			"bind PROTO FAMILY ADDR PORT [V6ONLY]\n");
	return 2;
}
