// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The io_uring test workload: makes the socket calls of the scenarios through
 * io_uring instead of the bind, listen, accept and connect system calls, and
 * records, one JSON object per line on stdout (as tests/workload.c does), what
 * it did and what the kernel answered (the completion's result, getsockname,
 * getpeername, getsockopt). Linked statically with liburing: it also runs in
 * the busybox guests of the qemu kernel matrix.
 *
 *   uring all   the io_uring scenarios the running kernel supports
 *
 * What it does, in this order:
 *   uring_setup             which io_uring operations the kernel has
 *                           (io_uring_get_probe_ring), and how the listener
 *                           was made ("via")
 *   uring_listener          a tcp6 dual-stack listener on [::]:0: bind and
 *                           listen through IORING_OP_BIND/IORING_OP_LISTEN
 *                           where the kernel has them (Linux >= 6.11), with
 *                           the system calls otherwise
 *   uring_bind_eaddrinuse   (IORING_OP_BIND only) a second dual-stack bind of
 *                           [::]:P through io_uring: fails with EADDRINUSE
 *   uring_accept_mapped     IORING_OP_ACCEPT queued first (it finds no
 *                           connection and waits), then an IPv4 client
 *                           connects to 127.0.0.1: the peer is ::ffff:127.0.0.1
 *   uring_accept_v6         an IPv6 client connects to ::1 first, then
 *                           IORING_OP_ACCEPT completes at once
 *   uring_connect_mapped    IORING_OP_CONNECT of a tcp6 socket to
 *                           ::ffff:127.0.0.1:P
 *   uring_connect_refused   IORING_OP_CONNECT to ::ffff:127.0.0.1:P once the
 *                           listener is closed: ECONNREFUSED
 *
 * Every record of an io_uring operation has "via":"io_uring", the opcode
 * ("uring_op") and the request's user_data, unique per request.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "facts.h"

/* Not in liburing 2.3's headers: the kernel's enum io_uring_op (Linux 6.11). */
#define V6T_IORING_OP_BIND   56
#define V6T_IORING_OP_LISTEN 57

static struct io_uring ring;
static __u64 next_user_data = 0x76360001;

static void die_res(const char *what, int res)
{
	fprintf(stderr, "uring: %s: %s\n", what, strerror(-res));
	exit(1);
}

/* The request's fields: how it was made, its opcode and user_data. */
static void record_request(const char *op, __u64 user_data)
{
	printf(",\"via\":\"io_uring\",\"uring_op\":\"%s\",\"user_data\":%llu", op,
	       (unsigned long long)user_data);
}

static const char *errno_name(int err)
{
	switch (err) {
	case EADDRINUSE:
		return "EADDRINUSE";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case EINPROGRESS:
		return "EINPROGRESS";
	default:
		return "other";
	}
}

/* ---- io_uring ------------------------------------------------------------ */

/* A fresh SQE with a user_data of its own; returns that user_data. */
static struct io_uring_sqe *get_sqe(__u64 *user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe) {
		fprintf(stderr, "uring: submission queue full\n");
		exit(1);
	}
	*user_data = next_user_data++;
	return sqe;
}

static void submit(void)
{
	int ret = io_uring_submit(&ring);

	if (ret != 1)
		die_res("io_uring_submit", ret < 0 ? ret : -EIO);
}

/* Waits for the completion of the request with that user_data; its result. */
static int wait_result(__u64 user_data)
{
	struct io_uring_cqe *cqe;
	__u64 got;
	int ret, res;

	ret = io_uring_wait_cqe(&ring, &cqe);
	if (ret)
		die_res("io_uring_wait_cqe", ret);
	got = io_uring_cqe_get_data64(cqe);
	res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	if (got != user_data) {
		fprintf(stderr, "uring: completion of %llx, expected %llx\n",
			(unsigned long long)got, (unsigned long long)user_data);
		exit(1);
	}
	return res;
}

/*
 * IORING_OP_BIND: liburing 2.3 has no helper, so the SQE is filled as the
 * kernel's io_bind_prep() reads it: addr = the sockaddr, addr2 (off) = its
 * length; len, buf_index, rw_flags and splice_fd_in must be 0.
 */
static int uring_bind(int fd, const struct sockaddr *sa, socklen_t len, __u64 *user_data)
{
	struct io_uring_sqe *sqe = get_sqe(user_data);

	io_uring_prep_rw(V6T_IORING_OP_BIND, sqe, fd, sa, 0, len);
	sqe->user_data = *user_data;
	submit();
	return wait_result(*user_data);
}

/* IORING_OP_LISTEN: len = the backlog, everything else 0 (io_listen_prep()). */
static int uring_listen(int fd, int backlog, __u64 *user_data)
{
	struct io_uring_sqe *sqe = get_sqe(user_data);

	io_uring_prep_rw(V6T_IORING_OP_LISTEN, sqe, fd, NULL, (unsigned int)backlog, 0);
	sqe->user_data = *user_data;
	submit();
	return wait_result(*user_data);
}

static void submit_accept(int listener, __u64 *user_data)
{
	struct io_uring_sqe *sqe = get_sqe(user_data);

	io_uring_prep_accept(sqe, listener, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, *user_data);
	submit();
}

static int uring_connect(int fd, const struct sockaddr_in6 *sa, __u64 *user_data)
{
	struct io_uring_sqe *sqe = get_sqe(user_data);

	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)sa, sizeof(*sa));
	io_uring_sqe_set_data64(sqe, *user_data);
	submit();
	return wait_result(*user_data);
}

/* ---- scenarios ----------------------------------------------------------- */

struct ops {
	bool accept, connect, bind, listen;
};

static struct ops probe_ops(void)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
	struct ops ops = {0};

	if (!probe) {
		fprintf(stderr, "uring: io_uring_get_probe_ring failed\n");
		exit(1);
	}
	ops.accept = io_uring_opcode_supported(probe, IORING_OP_ACCEPT);
	ops.connect = io_uring_opcode_supported(probe, IORING_OP_CONNECT);
	ops.bind = io_uring_opcode_supported(probe, V6T_IORING_OP_BIND);
	ops.listen = io_uring_opcode_supported(probe, V6T_IORING_OP_LISTEN);
	io_uring_free_probe(probe);
	return ops;
}

static const char *tf(bool b)
{
	return b ? "true" : "false";
}

/*
 * A dual-stack bind of [::]:port, through io_uring when use_uring; records the
 * outcome (what getsockname reports, or what was asked and the error).
 */
static void bind_and_record(const char *scenario, int fd, unsigned int port, bool use_uring)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "::";
	unsigned int bound_port = port;
	__u64 user_data = 0;
	int ret;

	sa.sin6_port = htons((unsigned short)port);
	if (use_uring)
		ret = uring_bind(fd, (struct sockaddr *)&sa, sizeof(sa), &user_data);
	else
		ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	if (ret == 0) {
		if (getsockname(fd, (struct sockaddr *)&ss, &len))
			die("getsockname");
		sockaddr_text(&ss, addr, sizeof(addr), &bound_port);
	}
	record_head(scenario, "bind");
	if (use_uring)
		record_request("bind", user_data);
	else
		printf(",\"via\":\"syscall\"");
	printf(",\"family\":\"inet6\"");
	printf(",\"proto\":\"%s\"", proto_of(fd));
	printf(",\"addr\":\"%s\",\"port\":%u,\"v6only\":%s,\"wildcard\":true,\"stack\":\"dual\","
	       "\"ret\":%d",
	       addr, bound_port, tf(v6only_of(fd)), ret);
	if (ret)
		printf(",\"error\":\"%s\"", errno_name(-ret));
	printf("}\n");
	fflush(stdout);
}

static void listen_and_record(const char *scenario, int fd, int backlog, bool use_uring)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN];
	unsigned int port;
	__u64 user_data = 0;
	int max = somaxconn(), ret;

	if (use_uring)
		ret = uring_listen(fd, backlog, &user_data);
	else
		ret = listen(fd, backlog) ? -errno : 0;
	if (ret)
		die_res("listen", ret);
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		die("getsockname");
	sockaddr_text(&ss, addr, sizeof(addr), &port);
	record_head(scenario, "listen");
	if (use_uring)
		record_request("listen", user_data);
	else
		printf(",\"via\":\"syscall\"");
	printf(",\"family\":\"inet6\"");
	printf(",\"proto\":\"%s\"", proto_of(fd));
	printf(",\"addr\":\"%s\",\"port\":%u,\"v6only\":%s,\"wildcard\":true,\"stack\":\"dual\","
	       "\"backlog\":%d,\"ret\":0}\n",
	       addr, port, tf(v6only_of(fd)), backlog < max ? backlog : max);
	fflush(stdout);
}

/* A blocking client connect(2) of the given family to the listener. */
static int client_connect(int family, const char *addr, unsigned int port)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(family, addr, port, &ss);
	int fd = socket(family, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&ss, len))
		die("connect");
	return fd;
}

/*
 * IORING_OP_ACCEPT on the listener, of a client of the given family.
 * queue_first: the accept is submitted before the client connects, so its
 * first, non-blocking attempt finds nothing and the request waits for the
 * listener to become readable; otherwise the connection waits in the
 * listener's queue and the accept completes at once.
 */
static void accept_and_record(const char *scenario, int listener, int client_family,
			      const char *client_addr, bool expect_mapped, bool queue_first)
{
	struct sockaddr_storage local, peer;
	socklen_t len = sizeof(local);
	char laddr[INET6_ADDRSTRLEN], paddr[INET6_ADDRSTRLEN];
	unsigned int lport, pport, port = local_port(listener);
	__u64 user_data = 0;
	int client = -1, child;

	if (queue_first)
		submit_accept(listener, &user_data);
	client = client_connect(client_family, client_addr, port);
	if (!queue_first)
		submit_accept(listener, &user_data);
	child = wait_result(user_data);
	if (child < 0)
		die_res("IORING_OP_ACCEPT", child);
	if (getsockname(child, (struct sockaddr *)&local, &len))
		die("getsockname");
	len = sizeof(peer);
	if (getpeername(child, (struct sockaddr *)&peer, &len))
		die("getpeername");
	sockaddr_text(&local, laddr, sizeof(laddr), &lport);
	sockaddr_text(&peer, paddr, sizeof(paddr), &pport);
	record_head(scenario, "accept");
	record_request("accept", user_data);
	printf(",\"family\":\"%s\"", local.ss_family == AF_INET6 ? "inet6" : "inet");
	printf(",\"proto\":\"%s\"", proto_of(child));
	printf(",\"local\":\"%s\",\"local_port\":%u,\"peer\":\"%s\",\"peer_port\":%u,"
	       "\"mapped\":%s",
	       laddr, lport, paddr, pport, tf(expect_mapped));
	if (expect_mapped)
		printf(",\"peer_v4\":\"%s\"", client_addr);
	printf(",\"stack\":\"%s\",\"fd\":%d,\"queued_first\":%s}\n", expect_mapped ? "v4" : "v6",
	       child, tf(queue_first));
	fflush(stdout);
	close(child);
	close(client);
}

/*
 * IORING_OP_CONNECT of a tcp6 socket to dest:port; records the completion's
 * result and the local end the socket got. default_shown: v6trace shows it
 * without --all-connects (an IPv4-mapped destination).
 */
static int connect_and_record(const char *scenario, const char *dest, unsigned int port)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	char laddr[INET6_ADDRSTRLEN];
	unsigned int lport;
	bool mapped = !strncmp(dest, "::ffff:", 7);
	__u64 user_data = 0;
	int fd, ret;

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	sa.sin6_port = htons((unsigned short)port);
	inet_pton(AF_INET6, dest, &sa.sin6_addr);
	ret = uring_connect(fd, &sa, &user_data);
	if (getsockname(fd, (struct sockaddr *)&local, &len))
		die("getsockname");
	sockaddr_text(&local, laddr, sizeof(laddr), &lport);
	record_head(scenario, "connect");
	record_request("connect", user_data);
	printf(",\"family\":\"inet6\"");
	printf(",\"proto\":\"%s\"", proto_of(fd));
	printf(",\"local\":\"%s\",\"local_port\":%u,\"peer\":\"%s\",\"peer_port\":%u,\"mapped\":%s",
	       laddr, lport, dest, port, tf(mapped));
	if (mapped)
		printf(",\"peer_v4\":\"%s\"", dest + 7);
	printf(",\"stack\":\"%s\",\"ret\":%d", mapped ? "v4" : "v6", ret);
	if (ret)
		printf(",\"error\":\"%s\"", errno_name(-ret));
	printf(",\"default_shown\":%s}\n", tf(mapped));
	fflush(stdout);
	return fd;
}

static int dual_stack_socket(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0), off = 0;

	if (fd < 0)
		die("socket");
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)))
		die("setsockopt IPV6_V6ONLY");
	return fd;
}

static void scenario_all(void)
{
	struct ops ops;
	bool uring_listener;
	unsigned int port;
	int ret, lfd, fd;

	loopback_up();
	ret = io_uring_queue_init(8, &ring, 0);
	if (ret) {
		/* io_uring disabled (kernel.io_uring_disabled) or absent: said, not failed */
		record_head("uring_setup", "setup");
		printf(",\"available\":false,\"ret\":%d}\n", ret);
		return;
	}
	ops = probe_ops();
	if (!ops.accept || !ops.connect) {
		fprintf(stderr, "uring: the kernel has no IORING_OP_ACCEPT or IORING_OP_CONNECT\n");
		exit(1);
	}
	uring_listener = ops.bind && ops.listen;
	record_head("uring_setup", "setup");
	printf(",\"available\":true,\"op_accept\":%s,\"op_connect\":%s,\"op_bind\":%s,"
	       "\"op_listen\":%s,\"listener_via\":\"%s\"}\n",
	       tf(ops.accept), tf(ops.connect), tf(ops.bind), tf(ops.listen),
	       uring_listener ? "io_uring" : "syscall");
	fflush(stdout);

	lfd = dual_stack_socket();
	bind_and_record("uring_listener", lfd, 0, uring_listener);
	listen_and_record("uring_listener", lfd, 8, uring_listener);
	port = local_port(lfd);
	if (ops.bind) {
		fd = dual_stack_socket();
		bind_and_record("uring_bind_eaddrinuse", fd, port, true);
		close(fd);
	}
	accept_and_record("uring_accept_mapped", lfd, AF_INET, "127.0.0.1", true, true);
	accept_and_record("uring_accept_v6", lfd, AF_INET6, "::1", false, false);
	fd = connect_and_record("uring_connect_mapped", "::ffff:127.0.0.1", port);
	close(fd);
	close(lfd);
	fd = connect_and_record("uring_connect_refused", "::ffff:127.0.0.1", port);
	close(fd);
	io_uring_queue_exit(&ring);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "all"))
		scenario_all();
	else {
		fprintf(stderr, "usage: uring all\n");
		return 2;
	}
	return 0;
}
