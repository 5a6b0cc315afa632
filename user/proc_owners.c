// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cgroup.h"
#include "proc_owners.h"

/* ---- owners ------------------------------------------------------------- */

struct owner {
	uint32_t inode;
	uint32_t pid;
	char comm[V6T_COMM_LEN];
};

static int by_inode(const void *a, const void *b)
{
	uint32_t x = ((const struct owner *)a)->inode, y = ((const struct owner *)b)->inode;

	return x < y ? -1 : x > y;
}

/* The start of /proc/PID/<file>, NUL-terminated; its length, 0 if unreadable. */
static size_t read_proc(uint32_t pid, const char *file, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/%s", pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (size_t)n;
}

static void read_comm(uint32_t pid, char comm[V6T_COMM_LEN])
{
	size_t n;

	memset(comm, 0, V6T_COMM_LEN);
	n = read_proc(pid, "comm", comm, V6T_COMM_LEN);
	if (n > 0 && comm[n - 1] == '\n')
		comm[n - 1] = '\0';
}

/* ---- the owner filters of the snapshot ---------------------------------- */

static uint32_t parent_of(uint32_t pid)
{
	char stat[512], *p;
	unsigned int ppid;

	/* "pid (comm) state ppid ...": comm may hold anything, ')' included */
	if (!read_proc(pid, "stat", stat, sizeof(stat)) || !(p = strrchr(stat, ')')) ||
	    sscanf(p + 1, " %*c %u", &ppid) != 1)
		return 0;
	return ppid;
}

static bool pid_listed(const struct owner_filter *f, uint32_t pid)
{
	size_t i;

	for (i = 0; i < f->npids; i++) {
		if (f->pids[i] == pid)
			return true;
	}
	return false;
}

/* -p, and with --children the descendants of those processes, by parent pid */
static bool pid_wanted(const struct owner_filter *f, uint32_t pid)
{
	int depth;

	if (pid_listed(f, pid))
		return true;
	for (depth = 0; f->children && depth < 256 && pid > 1; depth++) {
		pid = parent_of(pid);
		if (pid && pid_listed(f, pid))
			return true;
	}
	return false;
}

/* The real uid (the first of the Uid: line), as bpf_get_current_uid_gid() gives it */
static bool real_uid_is(uint32_t pid, uint32_t uid)
{
	char status[4096], *line;
	unsigned int real;

	if (!read_proc(pid, "status", status, sizeof(status)) ||
	    !(line = strstr(status, "\nUid:")) || sscanf(line + 5, "%u", &real) != 1)
		return false;
	return real == uid;
}

/* The process's cgroup v2 path ("0::/a/b") is dir or below it. */
static bool in_cgroup(uint32_t pid, const char *dir)
{
	char line[PATH_MAX];
	size_t len = strlen(dir);

	if (!cgroup_path_of_pid(pid, line, sizeof(line)))
		return false;
	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(line, dir, len) && (line[len] == '\0' || line[len] == '/');
}

bool owner_wanted(const struct owner_filter *f, uint32_t pid)
{
	char comm[V6T_COMM_LEN];

	if (!f)
		return true;
	if (f->npids && !pid_wanted(f, pid))
		return false;
	if (f->comm) {
		read_comm(pid, comm);
		if (strncmp(comm, f->comm, V6T_COMM_LEN))
			return false;
	}
	if (f->by_uid && !real_uid_is(pid, f->uid))
		return false;
	return !f->cgroup || in_cgroup(pid, f->cgroup);
}

static void add_owner(struct owners *o, uint32_t inode, uint32_t pid, const char comm[V6T_COMM_LEN])
{
	struct owner key = {.inode = inode}, *n, **slot;

	slot = tfind(&key, &o->root, by_inode);
	if (slot) {
		if (pid < (*slot)->pid) { /* the lowest pid: the parent of forked workers */
			(*slot)->pid = pid;
			memcpy((*slot)->comm, comm, V6T_COMM_LEN);
		}
		return;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return;
	n->inode = inode;
	n->pid = pid;
	memcpy(n->comm, comm, V6T_COMM_LEN);
	if (!tsearch(n, &o->root, by_inode))
		free(n);
}

static void scan_fds(struct owners *o, uint32_t pid)
{
	char path[64], link[64], comm[V6T_COMM_LEN];
	bool have_comm = false;
	struct dirent *de;
	unsigned int inode;
	DIR *dir;
	int dfd;

	snprintf(path, sizeof(path), "/proc/%u/fd", pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || !(dir = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(dir))) {
		ssize_t n = readlinkat(dfd, de->d_name, link, sizeof(link) - 1);

		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%u]", &inode) != 1)
			continue;
		if (!have_comm) /* once per process, and only for one that has a socket */
			read_comm(pid, comm);
		have_comm = true;
		add_owner(o, inode, pid, comm);
	}
	closedir(dir);
}

struct netns_pid {
	uint32_t netns;
	uint32_t pid;
};

static int by_netns(const void *a, const void *b)
{
	uint32_t x = ((const struct netns_pid *)a)->netns, y = ((const struct netns_pid *)b)->netns;

	return x < y ? -1 : x > y;
}

/* The first process seen in its network namespace is the one to enter it through. */
static void note_netns(struct owners *o, uint32_t pid)
{
	struct netns_pid *n, **slot;
	struct stat st;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	if (stat(path, &st))
		return;
	n = calloc(1, sizeof(*n));
	if (!n)
		return;
	n->netns = (uint32_t)st.st_ino;
	n->pid = pid;
	slot = tsearch(n, &o->netns, by_netns);
	if (!slot || *slot != n)
		free(n); /* already known, or no memory */
}

static void scan_owners(struct owners *o, const struct owner_filter *f, bool netns)
{
	struct dirent *de;
	DIR *proc;

	o->root = o->netns = NULL;
	proc = opendir("/proc");
	if (!proc)
		return;
	while ((de = readdir(proc))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (*end || !pid || !owner_wanted(f, (uint32_t)pid))
			continue;
		scan_fds(o, (uint32_t)pid);
		if (netns)
			note_netns(o, (uint32_t)pid);
	}
	closedir(proc);
}

void owners_scan(struct owners *o)
{
	scan_owners(o, NULL, false);
}

void owners_scan_netns(struct owners *o)
{
	scan_owners(o, NULL, true);
}

void owners_scan_wanted(struct owners *o, const struct owner_filter *f)
{
	scan_owners(o, f, false);
}

uint32_t owners_netns_pid(const struct owners *o, uint32_t netns)
{
	struct netns_pid key = {.netns = netns};
	void *found = tfind(&key, (void *const *)&o->netns, by_netns);

	return found ? (*(struct netns_pid **)found)->pid : 0;
}

bool owners_find(const struct owners *o, uint32_t inode, uint32_t *pid, char comm[V6T_COMM_LEN])
{
	struct owner key = {.inode = inode};
	void *found = tfind(&key, (void *const *)&o->root, by_inode);

	if (!found)
		return false;
	*pid = (*(struct owner **)found)->pid;
	memcpy(comm, (*(struct owner **)found)->comm, V6T_COMM_LEN);
	return true;
}

void owners_free(struct owners *o)
{
	tdestroy(o->root, free);
	tdestroy(o->netns, free);
	o->root = o->netns = NULL;
}
