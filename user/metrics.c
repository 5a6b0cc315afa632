// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The Prometheus text exposition of --metrics-file, and its atomic write. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "metrics.h"
#include "output.h"

/* The stack a counter is kept under: METRICS_STACKS - 1 for a socket or address not known. */
#define STACK_UNKNOWN (METRICS_STACKS - 1)

static unsigned int stack_slot(const struct v6t_event *e)
{
	if (e->flags & (V6T_FLAG_ADDR_UNKNOWN | V6T_FLAG_SOCKET_UNKNOWN))
		return STACK_UNKNOWN;
	return (unsigned int)v6t_classify_stack(e);
}

static const char *stack_label(unsigned int slot)
{
	return slot == STACK_UNKNOWN ? "unknown" : v6t_stack_name((enum v6t_stack)slot);
}

/* The row of a bind result; past METRICS_MAX_RESULTS distinct ones, "other". */
static struct metrics_bind_result *bind_result(struct metrics_counters *c, int err)
{
	unsigned int i;

	for (i = 0; i < c->nresults; i++) {
		if (c->binds[i].err == err)
			return &c->binds[i];
	}
	if (c->nresults < METRICS_MAX_RESULTS) {
		c->binds[c->nresults].err = err;
		return &c->binds[c->nresults++];
	}
	c->binds[METRICS_MAX_RESULTS].err = -1;
	return &c->binds[METRICS_MAX_RESULTS];
}

void metrics_count(struct metrics_counters *c, const struct v6t_event *e)
{
	c->events++;
	switch (e->type) {
	case V6T_EVENT_BIND:
		bind_result(c, e->ret < 0 ? -e->ret : 0)->count[stack_slot(e)]++;
		break;
	case V6T_EVENT_LISTEN:
		if (e->ret == 0)
			c->listens[stack_slot(e)]++;
		break;
	case V6T_EVENT_ACCEPT:
		c->accepts[v6t_event_mapped(e)]++;
		break;
	case V6T_EVENT_CONNECT:
		c->connects[v6t_event_mapped(e)]++;
		break;
	default:
		break;
	}
}

void metrics_label_escape(struct strbuf *sb, const char *s, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		const char *esc = s[i] == '\\'	 ? "\\\\"
				  : s[i] == '"'	 ? "\\\""
				  : s[i] == '\n' ? "\\n"
						 : NULL;

		if (!esc)
			continue;
		sb_append(sb, s + start, i - start);
		sb_puts(sb, esc);
		start = i + 1;
	}
	sb_append(sb, s + start, len - start);
}

void metrics_listeners_clear(struct metrics_listener *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].container_name);
		free(v[i].pod_namespace);
		free(v[i].pod_name);
		v[i].container_name = v[i].pod_namespace = v[i].pod_name = NULL;
	}
}

/* name="value" (with a comma before it unless first) */
static void label(struct strbuf *sb, bool first, const char *name, const char *value)
{
	sb_printf(sb, "%s%s=\"", first ? "" : ",", name);
	metrics_label_escape(sb, value, strlen(value));
	sb_puts(sb, "\"");
}

static void help(struct strbuf *sb, const char *name, const char *type, const char *text)
{
	sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static int by_labels(const void *a, const void *b)
{
	const struct metrics_listener *x = a, *y = b;
	int d;

	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->netns != y->netns)
		return x->netns < y->netns ? -1 : 1;
	if ((d = strcmp(x->proto, y->proto)) || (d = strcmp(x->addr, y->addr)))
		return d;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if ((d = strncmp(x->comm, y->comm, V6T_COMM_LEN)) ||
	    (d = strcmp(x->container, y->container)))
		return d;
	if ((d = strcmp(x->container_name ? x->container_name : "",
			y->container_name ? y->container_name : "")) ||
	    (d = strcmp(x->pod_namespace ? x->pod_namespace : "",
			y->pod_namespace ? y->pod_namespace : "")))
		return d;
	return strcmp(x->pod_name ? x->pod_name : "", y->pod_name ? y->pod_name : "");
}

/*
 * A name a runtime's file gave, as the text output writes it (printable
 * ASCII, anything else escaped), then escaped for a label; "" when unknown.
 */
static void name_label(struct strbuf *sb, const char *name, const char *value)
{
	struct strbuf text = {0};

	if (value)
		text_escape(&text, value, strlen(value));
	label(sb, false, name, text.data ? text.data : "");
	sb_free(&text);
}

static void listener_series(struct strbuf *sb, const struct metrics_listener *l, size_t sockets)
{
	struct strbuf comm = {0};
	char pid[16] = "";

	if (l->pid)
		snprintf(pid, sizeof(pid), "%u", l->pid);
	text_comm(&comm, l->comm); /* printable ASCII, as the text output writes it */
	sb_puts(sb, "v6trace_listener_sockets{");
	label(sb, true, "proto", l->proto);
	sb_printf(sb, ",port=\"%u\"", l->port);
	label(sb, false, "stack", v6t_stack_name(l->stack));
	label(sb, false, "address", l->addr);
	sb_printf(sb, ",netns=\"%u\"", l->netns);
	label(sb, false, "pid", pid);
	label(sb, false, "comm", comm.data ? comm.data : "");
	label(sb, false, "container", l->container);
	name_label(sb, "container_name", l->container_name);
	name_label(sb, "pod_namespace", l->pod_namespace);
	name_label(sb, "pod_name", l->pod_name);
	sb_printf(sb, "} %zu\n", sockets);
	sb_free(&comm);
}

/* The listeners, equal label sets as one series; at most METRICS_MAX_LISTENERS. */
static size_t format_listeners(struct strbuf *sb, struct metrics_listener *v, size_t n)
{
	size_t i, run, series = 0, omitted = 0;

	help(sb, "v6trace_listener_sockets", "gauge",
	     "Listening TCP and MPTCP sockets and bound UDP sockets now, of the tracer's network "
	     "namespace and of those traced binds happened in, by protocol, port, stack served "
	     "(v4, v6, dual), address, namespace (inode) and owner (pid, comm, container id and "
	     "names empty when no process of this pid namespace was found holding it, or when "
	     "not known)");
	if (n)
		qsort(v, n, sizeof(*v), by_labels);
	for (i = 0; i < n; i += run) {
		for (run = 1; i + run < n && !by_labels(&v[i], &v[i + run]); run++)
			;
		if (series == METRICS_MAX_LISTENERS) {
			omitted += run;
			continue;
		}
		listener_series(sb, &v[i], run);
		series++;
	}
	return omitted;
}

static void format_binds(struct strbuf *sb, const struct metrics_counters *c)
{
	unsigned int i, s;
	char buf[24];

	help(sb, "v6trace_binds_total", "counter",
	     "bind() calls traced, by the stack the socket serves (unknown: its socket or "
	     "address could not be read) and result (ok, an errno name, or other past "
	     "32 distinct results)");
	for (i = 0; i <= METRICS_MAX_RESULTS; i++) {
		const struct metrics_bind_result *r = &c->binds[i];
		const char *result;

		if (i == METRICS_MAX_RESULTS ? r->err != -1 : i >= c->nresults)
			continue;
		result = r->err == -1  ? "other"
			 : r->err == 0 ? "ok"
				       : v6t_errno_name(r->err, buf, sizeof(buf));
		for (s = 0; s < METRICS_STACKS; s++) {
			if (!r->count[s])
				continue;
			sb_puts(sb, "v6trace_binds_total{");
			label(sb, true, "stack", stack_label(s));
			label(sb, false, "result", result);
			sb_printf(sb, "} %llu\n", (unsigned long long)r->count[s]);
		}
	}
}

static void format_mapped(struct strbuf *sb, const char *name, const char *text,
			  const uint64_t counts[2])
{
	help(sb, name, "counter", text);
	sb_printf(sb, "%s{mapped=\"false\"} %llu\n%s{mapped=\"true\"} %llu\n", name,
		  (unsigned long long)counts[0], name, (unsigned long long)counts[1]);
}

void metrics_format(struct strbuf *sb, const struct metrics_counters *c, struct metrics_state *st)
{
	size_t omitted = 0;
	unsigned int s;

	help(sb, "v6trace_build_info", "gauge", "v6trace's version and attach mode");
	sb_puts(sb, "v6trace_build_info{");
	label(sb, true, "version", st->version);
	label(sb, false, "mode", st->mode);
	sb_puts(sb, "} 1\n");
	if (st->listed)
		omitted = format_listeners(sb, st->listeners, st->nlisteners) + st->unlisted;
	help(sb, "v6trace_listeners_omitted", "gauge",
	     "Listeners left out of this file: more than 1000 label sets");
	sb_printf(sb, "v6trace_listeners_omitted %zu\n", omitted);
	help(sb, "v6trace_listeners_listed_timestamp_seconds", "gauge",
	     "When the listeners were last listed successfully (0: never)");
	sb_printf(sb, "v6trace_listeners_listed_timestamp_seconds %lld.%03lld\n",
		  (long long)(st->listed_ns / 1000000000),
		  (long long)(st->listed_ns / 1000000 % 1000));
	help(sb, "v6trace_netns_listed", "gauge",
	     "Network namespaces whose listeners were listed: the tracer's, and those traced "
	     "binds happened in (at most 64; a namespace gone is dropped)");
	sb_printf(sb, "v6trace_netns_listed %u\n", st->netns_listed);
	help(sb, "v6trace_netns_unlisted_events_total", "counter",
	     "Binds and listens in namespaces beyond the 64 listed (their listeners are not in "
	     "the gauge)");
	sb_printf(sb, "v6trace_netns_unlisted_events_total %llu\n",
		  (unsigned long long)st->netns_unlisted_events);
	help(sb, "v6trace_listings_failed_total", "counter",
	     "Listings of the sockets that failed (the listener series are absent until one "
	     "works again)");
	sb_printf(sb, "v6trace_listings_failed_total %llu\n",
		  (unsigned long long)st->listing_errors);
	help(sb, "v6trace_events_total", "counter", "Events read from the kernel");
	sb_printf(sb, "v6trace_events_total %llu\n", (unsigned long long)c->events);
	format_binds(sb, c);
	help(sb, "v6trace_listens_total", "counter",
	     "Successful listen() calls traced, by the stack the socket serves");
	for (s = 0; s < METRICS_STACKS; s++)
		sb_printf(sb, "v6trace_listens_total{stack=\"%s\"} %llu\n", stack_label(s),
			  (unsigned long long)c->listens[s]);
	format_mapped(sb, "v6trace_accepts_total",
		      "accept() calls traced, by whether the peer is IPv4-mapped (::ffff:a.b.c.d)",
		      c->accepts);
	format_mapped(sb, "v6trace_connects_total",
		      "tcp6 connect() calls traced, by whether the peer is IPv4-mapped; those to "
		      "native IPv6 peers only with --all-connects",
		      c->connects);
	help(sb, "v6trace_events_lost_total", "counter",
	     "Events lost: the kernel could not queue them (ring_buffer), or records the "
	     "output could not take (output)");
	sb_printf(sb,
		  "v6trace_events_lost_total{where=\"ring_buffer\"} %llu\n"
		  "v6trace_events_lost_total{where=\"output\"} %llu\n",
		  (unsigned long long)st->lost_ring, (unsigned long long)st->lost_output);
}

int metrics_write_file(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 32];
	const char *base = strrchr(path, '/');
	size_t done = 0;
	int fd, e = 0;

	path_dir(path, dir, sizeof(dir));
	base = base ? base + 1 : path;
	/* a hidden name that does not end in .prom: node_exporter never reads it half-written */
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, base) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "cannot write %s: cannot create a file in %s: %s", path, dir,
			 strerror(e));
		return -e;
	}
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : ENOSPC;
			break;
		}
		done += (size_t)n;
	}
	/* node_exporter runs as its own user: the file is readable by all (0644) */
	if (!e && (fchmod(fd, 0644) || fsync(fd)))
		e = errno;
	if (close(fd) && !e)
		e = errno;
	if (!e && rename(tmp, path))
		e = errno;
	if (e) {
		unlink(tmp);
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}
