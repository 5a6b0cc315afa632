/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef V6TRACE_METRICS_HTTP_H
#define V6TRACE_METRICS_HTTP_H
/*
 * --metrics-listen ADDR:PORT: the same exposition as --metrics-file, served
 * at GET /metrics by libevent's HTTP server (evhttp) in a process of its own,
 * forked once the tracer has dropped its capabilities. Each time the tracer
 * has a new exposition it writes it to a sealed memfd and passes the file
 * over a socket (SCM_RIGHTS): a write that never blocks the tracer and never
 * half-arrives. The server holds no descriptor of the tracer's (no BPF link,
 * no ring buffer), its own small file limit, and its own CPU: a scraper, slow
 * or hostile, that exhausts its connections stalls the server, never the
 * tracer. Served as they were last written: at most --metrics-interval old.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The server's connections at most; more wait in the listen queue. */
#define METRICS_HTTP_MAX_CONNECTIONS 64
/* A connection idle (or too slow to send its request) this long is closed. */
#define METRICS_HTTP_TIMEOUT_S 10
/* The largest exposition passed (METRICS_MAX_LISTENERS series fit many times). */
#define METRICS_HTTP_MAX_BYTES (16u << 20)

struct metrics_http {
	int listen_fd; /* bound and listening before the capabilities go; -1: none */
	int fd;	       /* the tracer's end of the socket to the server; -1: none */
	pid_t pid;     /* the server; 0: not started */
	bool gone;     /* it could not be told (said once) */
};

/*
 * Parses ADDR:PORT ("127.0.0.1:9477", "[::1]:9477", "[::]:9477": numeric
 * addresses only; an IPv6 address is dual-stack unless it is a specific one)
 * into a socket bound and listening: 0, or -1 with one line said.
 */
int metrics_http_listen(struct metrics_http *h, const char *spec);

/* Forks the server (once, without capabilities): 0, or -1 with one line said. */
int metrics_http_start(struct metrics_http *h);

/* Hands the server this exposition; a failure is said once, and the run goes on. */
void metrics_http_publish(struct metrics_http *h, const char *data, size_t len);

/* Ends the server (it has served the last exposition published) and reaps it. */
void metrics_http_stop(struct metrics_http *h);

#endif
