/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the test workloads (tests/workload.c, tests/uring.c) record of their
 * own sockets, one JSON object per line, for tests/check.py to hold v6trace's
 * events against: the kernel's own answers (getsockname, getsockopt), never
 * what the workload meant to do.
 */
#ifndef V6TRACE_TESTS_FACTS_H
#define V6TRACE_TESTS_FACTS_H

#include <stddef.h>
#include <sys/socket.h>

/* One line on stderr (the program's name, what, strerror(errno)), exit 1. */
void die(const char *what) __attribute__((noreturn));
/* Prints the fields every record starts with: scenario, event, pid, tid,
 * uid, comm_hex (the comm in hex: no byte of it needs escaping) and netns. */
void record_head(const char *scenario, const char *event);
unsigned long netns_inode(void);
void sockaddr_text(const struct sockaddr_storage *ss, char *addr, size_t len, unsigned int *port);
/* The other way: addr (text) and port of family in *ss; its length. Dies on a bad address. */
socklen_t sockaddr_of(int family, const char *addr, unsigned int port, struct sockaddr_storage *ss);
unsigned int local_port(int fd);
int v6only_of(int fd);
/* getsockopt(SO_PROTOCOL), as v6trace names it: tcp, udp, mptcp or other */
const char *proto_of(int fd);
/* net.core.somaxconn, which caps a listen backlog */
int somaxconn(void);
/* Loopback is down in a new network namespace (and in the qemu guests). */
void loopback_up(void);

#endif
