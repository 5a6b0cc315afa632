// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <fcntl.h>
#include <mntent.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cgroup.h"

#define MAX_DEPTH 32

bool cgroup2_mount(char *out, size_t len)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	bool found = false;

	if (!f)
		return false;
	while (!found && (m = getmntent(f))) {
		if (!strcmp(m->mnt_type, "cgroup2") && strlen(m->mnt_dir) < len) {
			strcpy(out, m->mnt_dir);
			found = true;
		}
	}
	endmntent(f);
	return found;
}

static bool is_id(const char *s, size_t len)
{
	size_t i;

	if (len != V6T_CONTAINER_ID_LEN)
		return false;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* One path component [s, s + len): "ID", "ID.scope", "runtime-ID", "runtime-ID.scope" */
static bool component_id(const char *s, size_t len, char out[V6T_CONTAINER_ID_LEN + 1])
{
	const char *id = s;
	size_t i;

	if (len > 6 && !memcmp(s + len - 6, ".scope", 6))
		len -= 6;
	for (i = 0; i < len; i++) {
		if (s[i] == '-')
			id = s + i + 1;
	}
	if (!is_id(id, len - (size_t)(id - s)))
		return false;
	memcpy(out, id, V6T_CONTAINER_ID_LEN);
	out[V6T_CONTAINER_ID_LEN] = '\0';
	return true;
}

bool container_id_of(const char *path, char out[V6T_CONTAINER_ID_LEN + 1])
{
	size_t end = strlen(path);

	out[0] = '\0';
	while (end > 0) {
		size_t start = end;

		while (start > 0 && path[start - 1] != '/')
			start--;
		if (component_id(path + start, end - start, out))
			return true;
		end = start ? start - 1 : 0;
	}
	return false;
}

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = ((const struct cgroup_name *)a)->id, y = ((const struct cgroup_name *)b)->id;

	return x < y ? -1 : x > y;
}

void cgroup_names_init(struct cgroup_names *c)
{
	memset(c, 0, sizeof(*c));
	if (!cgroup2_mount(c->mount, sizeof(c->mount)))
		c->mount[0] = '\0';
}

static struct cgroup_name *lookup(struct cgroup_names *c, uint64_t id)
{
	struct cgroup_name key = {.id = id};
	void *found = tfind(&key, &c->root, cmp_id);

	return found ? *(struct cgroup_name **)found : NULL;
}

/* Records id -> path, or fills in the path of an id that was unknown. */
static void remember(struct cgroup_names *c, uint64_t id, const char *path)
{
	struct cgroup_name *n = lookup(c, id);

	if (n && n->path)
		return;
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n)
			return;
		n->id = id;
		if (!tsearch(n, &c->root, cmp_id)) {
			free(n);
			return;
		}
	}
	if (path) {
		n->path = strdup(path);
		if (n->path)
			container_id_of(n->path, n->container);
	}
}

/* rel is "" for the root, else "/a/b"; dirfd is the open directory */
static void walk(struct cgroup_names *c, int dirfd, char *rel, size_t rel_len, size_t cap,
		 int depth)
{
	struct dirent *de;
	DIR *dir;

	dir = fdopendir(dirfd);
	if (!dir) {
		close(dirfd);
		return;
	}
	while ((de = readdir(dir))) {
		struct stat st;
		size_t nlen = strlen(de->d_name);
		int sub;

		if (de->d_type != DT_DIR || de->d_name[0] == '.' || depth >= MAX_DEPTH ||
		    rel_len + 1 + nlen + 1 > cap)
			continue;
		sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		if (fstat(sub, &st)) {
			close(sub);
			continue;
		}
		rel[rel_len] = '/';
		memcpy(rel + rel_len + 1, de->d_name, nlen + 1);
		remember(c, st.st_ino, rel);
		walk(c, sub, rel, rel_len + 1 + nlen, cap, depth + 1);
		rel[rel_len] = '\0';
	}
	closedir(dir);
}

static void scan(struct cgroup_names *c)
{
	char rel[4096] = "";
	struct stat st;
	int fd;

	c->scans++;
	fd = open(c->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (!fstat(fd, &st))
		remember(c, st.st_ino, "/");
	walk(c, fd, rel, 0, sizeof(rel), 0);
}

const struct cgroup_name *cgroup_name_of(struct cgroup_names *c, uint64_t id, int64_t now_ns,
					 int64_t min_rescan_ns)
{
	static const struct cgroup_name unknown = {0};
	struct cgroup_name *n = lookup(c, id);

	if (n && n->path)
		return n;
	if (c->mount[0] && (!c->scans || now_ns - c->last_scan_ns >= min_rescan_ns)) {
		c->last_scan_ns = now_ns;
		scan(c);
		n = lookup(c, id);
		if (!n) /* still unknown: remember that, so the next miss waits */
			remember(c, id, NULL);
		n = lookup(c, id);
	}
	return n ? n : &unknown;
}

static void free_name(void *p)
{
	struct cgroup_name *n = p;

	free(n->path);
	free(n);
}

void cgroup_names_free(struct cgroup_names *c)
{
	tdestroy(c->root, free_name);
	c->root = NULL;
}
