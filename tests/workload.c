// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The test workload: makes the scenario socket calls with real system calls
 * and records, one JSON object per line on stdout, what it did and what the
 * kernel answered (getsockname, getpeername, getsockopt), so the checker can
 * hold v6trace's events against them. Linked statically: it also runs in the
 * busybox guests of the qemu kernel matrix.
 *
 *   workload all              every bind, listen, accept and connect classification,
 *                             on TCP, UDP and (where the kernel has it) MPTCP sockets
 *   workload wait-bind FILE   wait until FILE exists, then bind udp 0.0.0.0:0
 *   workload flood N FILE     wait until FILE exists, then N times socket +
 *                             bind [::]:0 + close; records the count
 *   workload fork-bind        fork a child that binds udp 0.0.0.0:0 and tcp [::]:0
 *                             (dual-stack); wait for it (deploy tracing)
 *   workload hostile          rename itself to a name with a quote, a
 *                             backslash and a newline, then bind udp 0.0.0.0:0
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "facts.h"

#define HOSTILE_COMM "q\"b\\n\nx"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

struct bind_case {
	const char *scenario;
	int family;
	int type;
	const char *addr;	  /* requested address */
	int v6only;		  /* -1: leave the socket's default */
	const char *expect_stack; /* the classification the scenario stands for */
	bool expect_wildcard;
	int protocol; /* of socket(2): 0 for the type's default, IPPROTO_MPTCP */
};

/*
 * Binds as the case says (port: 0 for an ephemeral one) and records the
 * outcome: on success what getsockname reports, on failure what was asked.
 * Returns the socket, open.
 */
static int bind_and_record(const struct bind_case *c, unsigned int port)
{
	struct sockaddr_storage ss = {0};
	socklen_t sslen = sizeof(ss);
	char addr[INET6_ADDRSTRLEN];
	unsigned int bound_port = port;
	int fd, ret, err = 0;

	fd = socket(c->family, c->type, c->protocol);
	if (fd < 0)
		die("socket");
	if (c->v6only >= 0 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &c->v6only, sizeof(c->v6only)))
		die("setsockopt IPV6_V6ONLY");
	sslen = sockaddr_of(c->family, c->addr, port, &ss);
	ret = bind(fd, (struct sockaddr *)&ss, sslen);
	if (ret) {
		err = errno;
		snprintf(addr, sizeof(addr), "%s", c->addr);
	} else {
		sslen = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &sslen))
			die("getsockname");
		sockaddr_text(&ss, addr, sizeof(addr), &bound_port);
	}
	record_head(c->scenario, "bind");
	printf(",\"family\":\"%s\",\"proto\":\"%s\",\"addr\":\"%s\",\"port\":%u",
	       c->family == AF_INET6 ? "inet6" : "inet", proto_of(fd), addr, bound_port);
	if (c->family == AF_INET6)
		printf(",\"v6only\":%s", v6only_of(fd) ? "true" : "false");
	printf(",\"wildcard\":%s,\"stack\":\"%s\",\"ret\":%d",
	       c->expect_wildcard ? "true" : "false", c->expect_stack, ret ? -err : 0);
	if (ret)
		printf(",\"error\":\"%s\"", err == EADDRINUSE ? "EADDRINUSE" : "other");
	printf("}\n");
	fflush(stdout);
	return fd;
}

/* listen(2) on a bound TCP socket, recorded with what the socket now serves. */
static void listen_and_record(const char *scenario, int fd, int backlog, const char *stack,
			      bool wildcard)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN];
	unsigned int port;
	int max = somaxconn();

	if (listen(fd, backlog))
		die("listen");
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		die("getsockname");
	sockaddr_text(&ss, addr, sizeof(addr), &port);
	record_head(scenario, "listen");
	printf(",\"family\":\"%s\",\"proto\":\"%s\",\"addr\":\"%s\",\"port\":%u",
	       ss.ss_family == AF_INET6 ? "inet6" : "inet", proto_of(fd), addr, port);
	if (ss.ss_family == AF_INET6)
		printf(",\"v6only\":%s", v6only_of(fd) ? "true" : "false");
	printf(",\"wildcard\":%s,\"stack\":\"%s\",\"backlog\":%d,\"ret\":0}\n",
	       wildcard ? "true" : "false", stack, backlog < max ? backlog : max);
	fflush(stdout);
}

/*
 * A tcp6 client connecting to the listener at dest (::ffff:127.0.0.1 or ::1),
 * blocking or not; records what connect returned and the local end it got.
 * default_shown: v6trace shows it without --all-connects (mapped ones).
 */
static int connect_and_record(const char *scenario, int listener, const char *dest, bool nonblock,
			      int protocol)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	char laddr[INET6_ADDRSTRLEN];
	unsigned int lport;
	bool mapped = !strncmp(dest, "::ffff:", 7);
	int fd, ret, err = 0;

	fd = socket(AF_INET6, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), protocol);
	if (fd < 0)
		die("socket");
	sa.sin6_port = htons((unsigned short)local_port(listener));
	inet_pton(AF_INET6, dest, &sa.sin6_addr);
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (ret)
		err = errno;
	if (ret && !(nonblock && err == EINPROGRESS))
		die("connect");
	if (getsockname(fd, (struct sockaddr *)&local, &len))
		die("getsockname");
	sockaddr_text(&local, laddr, sizeof(laddr), &lport);
	record_head(scenario, "connect");
	printf(",\"family\":\"inet6\",\"proto\":\"%s\",\"local\":\"%s\",\"local_port\":%u,"
	       "\"peer\":\"%s\",\"peer_port\":%u,\"mapped\":%s",
	       proto_of(fd), laddr, lport, dest, ntohs(sa.sin6_port), mapped ? "true" : "false");
	if (mapped)
		printf(",\"peer_v4\":\"%s\"", dest + 7);
	printf(",\"stack\":\"%s\",\"ret\":%d", mapped ? "v4" : "v6", ret ? -err : 0);
	if (ret)
		printf(",\"error\":\"EINPROGRESS\"");
	printf(",\"default_shown\":%s}\n", mapped ? "true" : "false");
	fflush(stdout);
	return fd;
}

/* Connects a client of the given family to the listener and records the accept. */
static void accept_and_record(const char *scenario, int listener, int client_family,
			      int client_protocol, const char *client_addr, bool expect_mapped)
{
	struct sockaddr_storage ss, local, peer;
	socklen_t sslen;
	socklen_t len = sizeof(local);
	char laddr[INET6_ADDRSTRLEN], paddr[INET6_ADDRSTRLEN];
	unsigned int lport, pport, port = local_port(listener);
	int client, child;

	client = socket(client_family, SOCK_STREAM, client_protocol);
	if (client < 0)
		die("socket");
	sslen = sockaddr_of(client_family, client_addr, port, &ss);
	if (connect(client, (struct sockaddr *)&ss, sslen))
		die("connect");
	child = accept(listener, NULL, NULL);
	if (child < 0)
		die("accept");
	if (getsockname(child, (struct sockaddr *)&local, &len))
		die("getsockname");
	len = sizeof(peer);
	if (getpeername(child, (struct sockaddr *)&peer, &len))
		die("getpeername");
	sockaddr_text(&local, laddr, sizeof(laddr), &lport);
	sockaddr_text(&peer, paddr, sizeof(paddr), &pport);
	record_head(scenario, "accept");
	printf(",\"family\":\"inet6\",\"proto\":\"%s\",\"local\":\"%s\",\"local_port\":%u,"
	       "\"peer\":\"%s\",\"peer_port\":%u,\"mapped\":%s",
	       proto_of(child), laddr, lport, paddr, pport, expect_mapped ? "true" : "false");
	if (expect_mapped)
		printf(",\"peer_v4\":\"%s\"", client_addr);
	printf("}\n");
	fflush(stdout);
	close(child);
	close(client);
}

/* In a child: a new network namespace whose net.ipv6.bindv6only is 1. */
static void netns_bindv6only(void)
{
	static const struct bind_case c = {
		"netns_bindv6only", AF_INET6, SOCK_STREAM, "::", -1, "v6", true, 0};
	pid_t pid = fork();
	int status, fd;

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (unshare(CLONE_NEWNET))
			die("unshare(CLONE_NEWNET)");
		fd = open("/proc/sys/net/ipv6/bindv6only", O_WRONLY);
		if (fd < 0 || write(fd, "1\n", 2) != 2)
			die("write net.ipv6.bindv6only");
		close(fd);
		close(bind_and_record(&c, 0));
		exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		exit(1);
}

/*
 * MPTCP, as Go >= 1.24 listens: socket(AF_INET6, SOCK_STREAM, IPPROTO_MPTCP).
 * A kernel without MPTCP (Debian's 5.10), or with net.mptcp.enabled=0,
 * refuses the socket: that is recorded as such, and nothing is expected.
 */
static bool mptcp_available(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, IPPROTO_MPTCP);

	if (fd >= 0) {
		close(fd);
		return true;
	}
	record_head("mptcp", "unsupported");
	printf(",\"errno\":%d}\n", errno);
	fflush(stdout);
	return false;
}

static void mptcp_scenarios(void)
{
	static const struct bind_case binds[] = {
		{"mptcp4_any", AF_INET, SOCK_STREAM, "0.0.0.0", -1, "v4", true, IPPROTO_MPTCP},
		{"mptcp6_v6only", AF_INET6, SOCK_STREAM, "::", 1, "v6", true, IPPROTO_MPTCP},
	};
	static const struct bind_case listener = {"mptcp_listener", AF_INET6, SOCK_STREAM,  "::", 0,
						  "dual",	    true,     IPPROTO_MPTCP};
	static const struct bind_case loser = {
		"mptcp_eaddrinuse", AF_INET6, SOCK_STREAM, "::", 0, "dual", true, IPPROTO_MPTCP};
	size_t i;
	int lfd, fd, c1;

	if (!mptcp_available())
		return;
	for (i = 0; i < sizeof(binds) / sizeof(binds[0]); i++) {
		fd = bind_and_record(&binds[i], 0);
		listen_and_record(binds[i].scenario, fd, 16, binds[i].expect_stack, true);
		close(fd);
	}
	lfd = bind_and_record(&listener, 0);
	listen_and_record("mptcp_listener", lfd, 8, "dual", true);
	/* a plain TCP client falls back: the accepted socket is TCP */
	accept_and_record("mptcp_accept_tcp_mapped", lfd, AF_INET, 0, "127.0.0.1", true);
	/* an MPTCP client: the accepted socket is MPTCP */
	accept_and_record("mptcp_accept_mptcp_v6", lfd, AF_INET6, IPPROTO_MPTCP, "::1", false);
	accept_and_record("mptcp_accept_mptcp_mapped", lfd, AF_INET, IPPROTO_MPTCP, "127.0.0.1",
			  true);
	c1 = connect_and_record("mptcp_connect_mapped", lfd, "::ffff:127.0.0.1", false,
				IPPROTO_MPTCP);
	close(c1);
	close(bind_and_record(&loser, local_port(lfd)));
	close(lfd);
}

/*
 * Binds whose sockaddr the kernel refuses before it takes an address, and so
 * must be reported with none (issue 23, item 8), in every mode: an inet6
 * socket given a sockaddr_in (EINVAL: shorter than SIN6_LEN_RFC2133) or
 * AF_UNSPEC (EAFNOSUPPORT), an inet socket given a sockaddr_in6
 * (EAFNOSUPPORT). AF_UNSPEC with INADDR_ANY on an inet socket is a bind to
 * 0.0.0.0 (inet_bind(), "for compatibility"). The bytes after each family are
 * what a reader of the wrong layout would have printed: 127.0.0.1 as
 * [7f00:1::], the flow label as an IPv4 address, a0b:c0d::.
 */
static void refused_binds(void)
{
	static const struct {
		const char *scenario, *error;
		int family, sa_family, len, err;
	} cases[] = {
		{"refused_inet6_sockaddr_in", "EINVAL", AF_INET6, AF_INET, 16, EINVAL},
		{"refused_inet6_unspec", "EAFNOSUPPORT", AF_INET6, AF_UNSPEC, 28, EAFNOSUPPORT},
		{"refused_inet_sockaddr_in6", "EAFNOSUPPORT", AF_INET, AF_INET6, 28, EAFNOSUPPORT},
	};
	struct sockaddr_in any = {.sin_family = AF_UNSPEC};
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char addr[INET6_ADDRSTRLEN];
	unsigned int port;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* family, port 8080, then 127.0.0.1, 0a0b0c0d and 127.0.0.1 again */
		unsigned char sa[28] = {0,    0,    0x1f, 0x90, 0x7f, 0, 0, 1,
					0x0a, 0x0b, 0x0c, 0x0d, 0x7f, 0, 0, 1};
		unsigned short sa_family = (unsigned short)cases[i].sa_family;

		memcpy(sa, &sa_family, sizeof(sa_family));
		fd = socket(cases[i].family, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (bind(fd, (struct sockaddr *)sa, (socklen_t)cases[i].len) == 0 ||
		    errno != cases[i].err)
			die(cases[i].scenario);
		record_head(cases[i].scenario, "bind");
		printf(",\"family\":\"%s\",\"proto\":\"tcp\",\"addr\":null,\"port\":null",
		       cases[i].family == AF_INET6 ? "inet6" : "inet");
		if (cases[i].family == AF_INET6)
			printf(",\"v6only\":%s", v6only_of(fd) ? "true" : "false");
		printf(",\"wildcard\":null,\"stack\":null,\"ret\":%d,\"error\":\"%s\"}\n",
		       -cases[i].err, cases[i].error);
		close(fd);
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&any, sizeof(any)) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen))
		die("bind AF_UNSPEC INADDR_ANY");
	sockaddr_text(&ss, addr, sizeof(addr), &port);
	record_head("unspec_any_inet", "bind");
	printf(",\"family\":\"inet\",\"proto\":\"tcp\",\"addr\":\"%s\",\"port\":%u,"
	       "\"wildcard\":true,\"stack\":\"v4\",\"ret\":0}\n",
	       addr, port);
	fflush(stdout);
	close(fd);
}

static void scenario_all(void)
{
	static const struct bind_case binds[] = {
		{"tcp4_any", AF_INET, SOCK_STREAM, "0.0.0.0", -1, "v4", true, 0},
		{"udp4_any", AF_INET, SOCK_DGRAM, "0.0.0.0", -1, "v4", true, 0},
		{"tcp6_dual", AF_INET6, SOCK_STREAM, "::", 0, "dual", true, 0},
		{"udp6_dual", AF_INET6, SOCK_DGRAM, "::", 0, "dual", true, 0},
		{"tcp6_v6only", AF_INET6, SOCK_STREAM, "::", 1, "v6", true, 0},
		{"udp6_v6only", AF_INET6, SOCK_DGRAM, "::", 1, "v6", true, 0},
		{"tcp6_mapped_bind", AF_INET6, SOCK_STREAM, "::ffff:127.0.0.1", 0, "v4", false, 0},
		{"tcp6_loopback", AF_INET6, SOCK_STREAM, "::1", 0, "v6", false, 0},
	};
	static const struct bind_case holder = {
		"eaddrinuse_holder", AF_INET, SOCK_STREAM, "0.0.0.0", -1, "v4", true, 0};
	static const struct bind_case loser = {
		"eaddrinuse_dual", AF_INET6, SOCK_STREAM, "::", 0, "dual", true, 0};
	static const struct bind_case listener = {
		"accept_listener", AF_INET6, SOCK_STREAM, "::", 0, "dual", true, 0};
	static const struct bind_case v6only_listener = {
		"listen_v6only", AF_INET6, SOCK_STREAM, "::", 1, "v6", true, 0};
	size_t i;
	int fd, lfd, c1, c2, c3;

	loopback_up();
	for (i = 0; i < sizeof(binds) / sizeof(binds[0]); i++)
		close(bind_and_record(&binds[i], 0));

	fd = bind_and_record(&holder, 0);
	listen_and_record("eaddrinuse_holder", fd, 1, "v4", true);
	close(bind_and_record(&loser, local_port(fd)));
	close(fd);

	lfd = bind_and_record(&listener, 0);
	listen_and_record("accept_listener", lfd, 8, "dual", true);
	accept_and_record("accept_mapped", lfd, AF_INET, 0, "127.0.0.1", true);
	accept_and_record("accept_v6", lfd, AF_INET6, 0, "::1", false);
	c1 = connect_and_record("connect_mapped", lfd, "::ffff:127.0.0.1", false, 0);
	c2 = connect_and_record("connect_v6", lfd, "::1", false, 0);
	c3 = connect_and_record("connect_nonblock_mapped", lfd, "::ffff:127.0.0.1", true, 0);
	close(c1);
	close(c2);
	close(c3);
	close(lfd);

	fd = bind_and_record(&v6only_listener, 0);
	listen_and_record("listen_v6only", fd, 100000, "v6", true);
	close(fd);

	refused_binds();
	netns_bindv6only();
	mptcp_scenarios();
}

static void wait_for_file(const char *file)
{
	int waited_ms = 0;

	while (access(file, F_OK)) {
		if (waited_ms++ > 120000) {
			fprintf(stderr, "workload: %s did not appear\n", file);
			exit(1);
		}
		usleep(1000);
	}
}

static void scenario_wait_bind(const char *file)
{
	static const struct bind_case c = {"wait_bind", AF_INET, SOCK_DGRAM, "0.0.0.0",
					   -1,		"v4",	 true,	     0};
	wait_for_file(file);
	close(bind_and_record(&c, 0));
}

static void scenario_flood(long n, const char *file)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
	long i, ok = 0;

	wait_for_file(file);
	for (i = 0; i < n; i++) {
		int fd = socket(AF_INET6, SOCK_DGRAM, 0);

		if (fd < 0)
			die("socket");
		ok += bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
	}
	printf("{\"scenario\":\"flood\",\"pid\":%d,\"binds\":%ld,\"succeeded\":%ld}\n", getpid(), n,
	       ok);
}

static void scenario_fork_bind(void)
{
	static const struct bind_case cases[] = {
		{"fork_child_udp4", AF_INET, SOCK_DGRAM, "0.0.0.0", -1, "v4", true, 0},
		{"fork_child_tcp6_dual", AF_INET6, SOCK_STREAM, "::", 0, "dual", true, 0},
	};
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(bind_and_record(&cases[0], 0));
		close(bind_and_record(&cases[1], 0));
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("child");
}

static void scenario_hostile(void)
{
	static const struct bind_case c = {"hostile_comm", AF_INET, SOCK_DGRAM, "0.0.0.0", -1,
					   "v4",	   true,    0};

	if (prctl(PR_SET_NAME, HOSTILE_COMM))
		die("PR_SET_NAME");
	close(bind_and_record(&c, 0));
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "all"))
		scenario_all();
	else if (argc == 3 && !strcmp(argv[1], "wait-bind"))
		scenario_wait_bind(argv[2]);
	else if (argc == 4 && !strcmp(argv[1], "flood") && atol(argv[2]) > 0)
		scenario_flood(atol(argv[2]), argv[3]);
	else if (argc == 2 && !strcmp(argv[1], "hostile"))
		scenario_hostile();
	else if (argc == 2 && !strcmp(argv[1], "fork-bind"))
		scenario_fork_bind();
	else {
		fprintf(stderr,
			"usage: workload all | wait-bind FILE | flood N FILE | hostile | fork-bind\n");
		return 2;
	}
	return 0;
}
