/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Text and JSON Lines formatting of v6trace records. Every function appends
 * one whole record (with its newline) to a string buffer; the caller writes
 * the buffer out, so a record is never half-formatted.
 */
#ifndef V6TRACE_FORMAT_H
#define V6TRACE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "v6trace.h"

#define V6T_JSON_VERSION 1

struct strbuf {
	char *data;
	size_t len;
	size_t cap;
};

void sb_reset(struct strbuf *sb);
void sb_free(struct strbuf *sb);
void sb_append(struct strbuf *sb, const char *s, size_t len);
void sb_puts(struct strbuf *sb, const char *s);
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * JSON string body for arbitrary bytes: quotes, backslashes and control
 * characters escaped; valid UTF-8 kept; each byte of an invalid sequence
 * replaced by U+FFFD. Returns false when a replacement was needed (the caller
 * then also emits the raw bytes in hex).
 */
bool json_escape(struct strbuf *sb, const char *s, size_t len);
/* Text: printable ASCII kept, backslash doubled, every other byte as \xHH. */
void text_escape(struct strbuf *sb, const char *s, size_t len);
/* "2026-11-23T14:02:41.123456789Z" */
void rfc3339_utc(struct strbuf *sb, int64_t realtime_ns);

struct format_opts {
	bool timestamps;	 /* -t: a TIME column in text mode */
	int64_t mono_to_real_ns; /* add to an event's CLOCK_MONOTONIC stamp */
};

struct start_info {
	const char *version;
	const char *mode;
	const char *kernel;
	int bindv6only; /* -1: unknown (no IPv6 in the tracer's namespace) */
	int64_t realtime_ns;
};

/* Who holds the port a bind failed on with EADDRINUSE. */
struct holder {
	uint32_t pid; /* 0: no process found (another pid namespace, or gone) */
	char comm[V6T_COMM_LEN];
	__u16 family;
	__u8 addr[16];
	__u16 port;
	__u8 v6only;
};

/* How the lookup of an EADDRINUSE bind's holder ended (see user/lookups.h). */
enum holder_lookup {
	HOLDER_NOT_ASKED = 0, /* not a bind that failed with EADDRINUSE */
	HOLDER_WAITING,	      /* asked, not answered yet (never written) */
	HOLDER_FOUND,	      /* held_by says who */
	HOLDER_NONE,	      /* nothing holds the port any more */
	HOLDER_UNFINISHED,    /* no answer in time */
	HOLDER_SKIPPED,	      /* not asked: too many were waiting */
	HOLDER_UNKNOWN,	      /* answered, but its namespace could not be looked in (gone) */
	HOLDER_UNAVAILABLE,   /* not asked: the helper that answers died */
	HOLDER_LOOKUP_ANSWERS /* how many there are (for counting) */
};

/* "found", "none", "unfinished", "skipped", "unknown", "unavailable"; NULL for the others */
const char *v6t_holder_lookup_name(enum holder_lookup status);

struct container_info;

/* What user space adds to an event; every pointer may be NULL (unknown, none). */
struct event_info {
	const char *cgroup;		    /* the cgroup v2 path of cgroup_id */
	const char *container;		    /* the container id that path holds */
	const struct container_info *names; /* that container's names (user/containers.h) */
	enum holder_lookup holder_lookup;   /* EADDRINUSE binds: how the lookup ended */
	const struct holder *held_by;	    /* HOLDER_FOUND: which socket */
	uint32_t inode;			    /* socket events: the socket's inode */
	const char *ifname;		    /* the name of the event's ifindex, if known */
};

/* IF_NAMESIZE, without pulling <net/if.h> into every user */
#define V6T_IFNAME_LEN 16

/* Text shows this many leading characters of a container id (as docker ps). */
#define V6T_SHORT_ID_LEN 12

void format_text_header(struct strbuf *sb, const struct format_opts *opts);
void format_event_text(struct strbuf *sb, const struct v6t_event *e, const struct event_info *info,
		       const struct format_opts *opts);
void format_event_json(struct strbuf *sb, const struct v6t_event *e, const struct event_info *info,
		       const struct format_opts *opts);
void format_start_json(struct strbuf *sb, const struct start_info *info);
void format_lost_json(struct strbuf *sb, int64_t realtime_ns, uint64_t count);
/* Common head of every JSON record: {"v":1,"ts":"...","event":"<event>" */
void json_record_head(struct strbuf *sb, int64_t realtime_ns, const char *event);
/* ,"<key>":"<escaped comm>" and, if comm is not valid UTF-8, ,"<key>_hex":"..." */
void json_comm(struct strbuf *sb, const char *key, const char comm[V6T_COMM_LEN]);
void text_comm(struct strbuf *sb, const char comm[V6T_COMM_LEN]);
/* The escaped comm, padded to 16 columns (a longer escape widens the row). */
void text_comm_column(struct strbuf *sb, const char comm[V6T_COMM_LEN]);

#endif
