/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where records go: standard output, a file (-o), or the local syslog socket
 * (--syslog). Records are handed over whole (each ends with '\n') and leave
 * whole: a pipe gets record-aligned writes of at most PIPE_BUF bytes, which
 * the kernel never splits; a file that fails mid-record is cut back to the
 * last whole record; syslog gets one datagram per record. Nothing here ever
 * waits for a reader without a deadline.
 */
#ifndef V6TRACE_OUTPUT_H
#define V6TRACE_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "format.h"

enum output_kind {
	OUTPUT_STDOUT,
	OUTPUT_FILE,
	OUTPUT_SYSLOG,
};

struct output {
	enum output_kind kind;
	int fd;
	const char *path;      /* OUTPUT_FILE: the file; OUTPUT_SYSLOG: the socket */
	bool pipe;	       /* fd is a pipe or socket: wait for room, write whole records */
	struct strbuf pending; /* whole records not yet written */
	size_t done;	       /* bytes of pending already written */
	uint64_t dropped;      /* records that could not be written */
	int error;	       /* the last write error, reported once */
	bool gone;	       /* the reader of standard output went away */
};

/* Standard output, as it is. */
/* The directory of path into dir (len bytes): "." when it has no slash, "/" for "/x". */
void path_dir(const char *path, char *dir, size_t len);
void output_stdout(struct output *o);
/*
 * -o FILE: appends; creates it 0640; refuses a symbolic link, a hard-linked
 * file and anything but a regular file or a character device. 0, or -errno
 * with the reason in err.
 */
int output_open_file(struct output *o, const char *path, char *err, size_t errlen);
/* SIGHUP: opens the path again (logrotate moved the old file away). */
int output_reopen(struct output *o, char *err, size_t errlen);
/* --syslog: the local syslog socket (/dev/log), one datagram per record. */
int output_open_syslog(struct output *o, const char *socket_path, char *err, size_t errlen);

/* Takes the whole records of sb (sb is emptied). */
void output_add(struct output *o, struct strbuf *sb);
/*
 * Writes what can be written without waiting; with deadline_ns > 0 waits for
 * room until that CLOCK_MONOTONIC time, then drops (and counts) the rest;
 * OUTPUT_WAIT_FOREVER waits as long as the reader is there (--snapshot piped
 * into a pager). Returns the bytes still pending.
 */
#define OUTPUT_WAIT_FOREVER (-1)
size_t output_flush(struct output *o, int64_t deadline_ns);
/* Records given but not written yet. */
size_t output_pending(const struct output *o);
void output_close(struct output *o);

/* The syslog line of a JSON record: "<30>Nov 23 14:02:41 v6trace[PID]: @cee:{...}" */
void syslog_frame(struct strbuf *out, const char *record, size_t len, int64_t realtime_ns, int pid);

#endif
