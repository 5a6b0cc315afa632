// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "output.h"

#define SYSLOG_PRI	  30 /* LOG_DAEMON | LOG_INFO */
#define SYSLOG_TIMEOUT_MS 1000

static void warn_write_error(struct output *o, int err)
{
	if (o->error == err)
		return;
	o->error = err;
	fprintf(stderr,
		"v6trace: cannot write %s: %s; records are dropped and counted until it "
		"works again%s\n",
		o->kind == OUTPUT_STDOUT ? "the output" : o->path, strerror(err),
		o->kind == OUTPUT_FILE ? " (SIGHUP reopens the file)" : "");
}

static size_t count_records(const char *p, size_t len)
{
	size_t n = 0;

	while (len--)
		n += *p++ == '\n';
	return n;
}

static void classify_fd(struct output *o)
{
	struct stat st;

	o->pipe = !fstat(o->fd, &st) && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

void output_stdout(struct output *o)
{
	memset(o, 0, sizeof(*o));
	o->kind = OUTPUT_STDOUT;
	o->fd = STDOUT_FILENO;
	classify_fd(o);
}

/*
 * A file that is not ours, in a sticky directory others can write to (/tmp),
 * and not its directory owner's either: another user may have made it there
 * before us, to be handed root's records. The rule of the kernel's
 * fs.protected_regular, which the O_CREAT|O_EXCL-then-open below would not get.
 */
void path_dir(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == path)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

static bool planted(const char *path, const struct stat *st)
{
	char dir[PATH_MAX];
	struct stat d;

	if (st->st_uid == geteuid())
		return false;
	path_dir(path, dir, sizeof(dir));
	if (stat(dir, &d))
		return true; /* cannot tell: refuse */
	return (d.st_mode & S_ISVTX) && (d.st_mode & (S_IWOTH | S_IWGRP)) && st->st_uid != d.st_uid;
}

static int open_checked(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd, e;

	/* a new file: exactly 0640, whatever the umask */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
		  0600);
	if (fd >= 0) {
		if (fchmod(fd, 0640)) {
			e = errno;
			close(fd);
			snprintf(err, errlen, "%s: %s", path, strerror(e));
			return -e;
		}
		return fd;
	}
	if (errno != EEXIST) {
		e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	/* O_NONBLOCK: a FIFO with no reader fails at once (ENXIO) instead of
	 * waiting in open() forever; it is refused below either way */
	fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s", path,
			 e == ELOOP ? "is a symbolic link (refused)"
			 : e == ENXIO
				 ? "is a FIFO with no reader (refused: -o takes a regular file)"
				 : strerror(e));
		return -e;
	}
	if (fstat(fd, &st) || fcntl(fd, F_SETFL, O_APPEND)) {
		e = errno;
		close(fd);
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (S_ISREG(st.st_mode) && planted(path, &st)) {
		close(fd);
		snprintf(err, errlen,
			 "%s: owned by uid %u in a directory others can write to (refused: "
			 "another user may have put it there)",
			 path, (unsigned)st.st_uid);
		return -EPERM;
	}
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		close(fd);
		snprintf(err, errlen, "%s: has %lu hard links (refused)", path,
			 (unsigned long)st.st_nlink);
		return -EPERM;
	}
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file (refused)", path);
		return -EINVAL;
	}
	return fd;
}

int output_open_file(struct output *o, const char *path, char *err, size_t errlen)
{
	int fd = open_checked(path, err, errlen);

	if (fd < 0)
		return fd;
	memset(o, 0, sizeof(*o));
	o->kind = OUTPUT_FILE;
	o->fd = fd;
	o->path = path;
	classify_fd(o);
	return 0;
}

int output_reopen(struct output *o, char *err, size_t errlen)
{
	int fd;

	if (o->kind != OUTPUT_FILE)
		return 0;
	fd = open_checked(o->path, err, errlen);
	if (fd < 0)
		return fd; /* keep writing where we were */
	close(o->fd);
	o->fd = fd;
	o->error = 0;
	classify_fd(o);
	return 0;
}

static int syslog_connect(int fd, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	return connect(fd, (struct sockaddr *)&sa, sizeof(sa));
}

int output_open_syslog(struct output *o, const char *socket_path, char *err, size_t errlen)
{
	struct timeval tv = {.tv_sec = SYSLOG_TIMEOUT_MS / 1000,
			     .tv_usec = (SYSLOG_TIMEOUT_MS % 1000) * 1000};
	int fd, e;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    syslog_connect(fd, socket_path)) {
		e = errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "cannot reach the syslog socket %s: %s", socket_path,
			 strerror(e));
		return -e;
	}
	memset(o, 0, sizeof(*o));
	o->kind = OUTPUT_SYSLOG;
	o->fd = fd;
	o->path = socket_path;
	return 0;
}

void syslog_frame(struct strbuf *out, const char *record, size_t len, int64_t realtime_ns, int pid)
{
	time_t sec = (time_t)(realtime_ns / 1000000000);
	char stamp[32] = "Jan  1 00:00:00";
	struct tm tm;

	if (localtime_r(&sec, &tm))
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	sb_printf(out, "<%d>%s v6trace[%d]: @cee:", SYSLOG_PRI, stamp, pid);
	sb_append(out, record, len);
}

void output_add(struct output *o, struct strbuf *sb)
{
	if (o->gone) {
		sb_reset(sb);
		return;
	}
	sb_append(&o->pending, sb->data ? sb->data : "", sb->len);
	sb_reset(sb);
}

size_t output_pending(const struct output *o)
{
	return o->pending.len - o->done;
}

/* Drops what is left, counting its records. */
static void drop_rest(struct output *o)
{
	o->dropped += count_records(o->pending.data + o->done, o->pending.len - o->done);
	o->done = o->pending.len;
}

/* poll() for room until the deadline (0: do not wait); false if there is none */
static bool wait_room(struct output *o, int64_t deadline_ns)
{
	struct pollfd pfd = {.fd = o->fd, .events = POLLOUT};
	int64_t left;

	for (;;) {
		int ms;

		left = deadline_ns > 0 ? deadline_ns - monotonic_ns() : 0;
		ms = left > 0 ? (int)((left + 999999) / 1000000) : 0;
		if (poll(&pfd, 1, deadline_ns == OUTPUT_WAIT_FOREVER ? -1 : ms) > 0) {
			if (pfd.revents & (POLLERR | POLLHUP))
				o->gone = true;
			return !o->gone;
		}
		if (left <= 0 && deadline_ns != OUTPUT_WAIT_FOREVER)
			return false;
	}
}

static void send_syslog(struct output *o)
{
	const char *rec = o->pending.data + o->done;
	const char *nl = memchr(rec, '\n', o->pending.len - o->done);
	size_t len = nl ? (size_t)(nl - rec) : o->pending.len - o->done;
	struct strbuf frame = {0};

	syslog_frame(&frame, rec, len, clock_ns(CLOCK_REALTIME), (int)getpid());
	if (send(o->fd, frame.data, frame.len, MSG_NOSIGNAL) < 0 &&
	    !((errno == ECONNREFUSED || errno == ENOTCONN) && !syslog_connect(o->fd, o->path) &&
	      send(o->fd, frame.data, frame.len, MSG_NOSIGNAL) >= 0)) {
		warn_write_error(o, errno);
		o->dropped++;
	}
	sb_free(&frame);
	o->done += len + (nl != NULL);
}

/* A pipe: whole records, at most PIPE_BUF bytes a write, which never splits. */
static bool write_pipe(struct output *o, int64_t deadline_ns)
{
	const char *p = o->pending.data + o->done;
	size_t left = o->pending.len - o->done, chunk = 0, i;
	ssize_t n;

	if (!wait_room(o, deadline_ns))
		return false;
	for (i = 0; i < left && i < PIPE_BUF; i++) {
		if (p[i] == '\n')
			chunk = i + 1;
	}
	if (!chunk) { /* one record longer than PIPE_BUF: the whole of it */
		const char *nl = memchr(p, '\n', left);

		chunk = nl ? (size_t)(nl - p) + 1 : left;
	}
	n = write(o->fd, p, chunk);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n < 0) {
		if (errno == EPIPE)
			o->gone = true;
		else
			warn_write_error(o, errno);
		drop_rest(o);
		return false;
	}
	o->done += (size_t)n;
	return true;
}

/* A file or a terminal: all of it; a failure mid-record is cut back to the last whole one. */
static void write_file(struct output *o)
{
	const char *p = o->pending.data + o->done;
	size_t left = o->pending.len - o->done, whole;
	struct stat st;
	bool regular = !fstat(o->fd, &st) && S_ISREG(st.st_mode);
	off_t before = regular ? st.st_size : 0;
	ssize_t n = write(o->fd, p, left);
	int e = errno;

	if (n >= 0 && (size_t)n == left) {
		o->done = o->pending.len;
		o->error = 0;
		return;
	}
	if (n < 0)
		n = 0;
	else
		e = ENOSPC; /* a short write to a file: the disk is full */
	whole = (size_t)n;
	while (whole && p[whole - 1] != '\n')
		whole--;
	if (regular && whole < (size_t)n && ftruncate(o->fd, before + (off_t)whole))
		e = errno;
	o->done += whole;
	if (e == EPIPE && o->kind == OUTPUT_STDOUT)
		o->gone = true;
	else
		warn_write_error(o, e);
	drop_rest(o);
}

size_t output_flush(struct output *o, int64_t deadline_ns)
{
	while (o->done < o->pending.len && !o->gone) {
		if (o->kind == OUTPUT_SYSLOG)
			send_syslog(o);
		else if (o->pipe) {
			if (!write_pipe(o, deadline_ns))
				break;
		} else {
			write_file(o);
		}
	}
	if (o->done < o->pending.len && deadline_ns > 0 && !o->gone)
		drop_rest(o); /* the deadline passed */
	if (o->gone)
		o->done = o->pending.len;
	if (o->done == o->pending.len) {
		sb_reset(&o->pending);
		o->done = 0;
	}
	return output_pending(o);
}

void output_close(struct output *o)
{
	if (o->kind != OUTPUT_STDOUT && o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	sb_free(&o->pending);
}
