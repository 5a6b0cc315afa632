// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "array.h"
#include "clock.h"
#include "cgroup.h"

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

bool cgroup_path_of_pid(uint32_t pid, char *out, size_t len)
{
	char file[32], line[PATH_MAX + 8];
	bool found = false;
	FILE *f;

	snprintf(file, sizeof(file), "/proc/%u/cgroup", pid);
	f = fopen(file, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\n");

		if (strncmp(line, "0::", 3) || line[n] != '\n')
			continue; /* a v1 hierarchy, or a line longer than the buffer */
		line[n] = '\0';
		if (n - 3 < len) {
			memcpy(out, line + 3, n - 3 + 1);
			found = true;
		}
		break;
	}
	fclose(f);
	return found;
}

/* ---- the cache: the names given lately, the least recently used forgotten first ---- */

static size_t bucket_of(uint64_t id)
{
	id ^= id >> 29;
	id *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(id >> 32) % (2 * CGROUP_CACHE_SIZE);
}

static void lru_unlink(struct cgroup_names *c, struct cgroup_name *n)
{
	if (n->lru_prev)
		n->lru_prev->lru_next = n->lru_next;
	else
		c->lru_head = n->lru_next;
	if (n->lru_next)
		n->lru_next->lru_prev = n->lru_prev;
	else
		c->lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
}

static void lru_push_front(struct cgroup_names *c, struct cgroup_name *n)
{
	n->lru_prev = NULL;
	n->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = n;
	c->lru_head = n;
	if (!c->lru_tail)
		c->lru_tail = n;
}

static struct cgroup_name *cache_find(struct cgroup_names *c, uint64_t id)
{
	struct cgroup_name *n;

	for (n = c->buckets[bucket_of(id)]; n; n = n->hash_next) {
		if (n->id == id) {
			lru_unlink(c, n);
			lru_push_front(c, n);
			return n;
		}
	}
	return NULL;
}

static void hash_unlink(struct cgroup_names *c, struct cgroup_name *n)
{
	struct cgroup_name **p = &c->buckets[bucket_of(n->id)];

	while (*p && *p != n)
		p = &(*p)->hash_next;
	if (*p)
		*p = n->hash_next;
}

/* id -> path (NULL: gone); a full cache gives up its least recently used name */
static struct cgroup_name *cache_add(struct cgroup_names *c, uint64_t id, const char *path)
{
	struct cgroup_name *n;
	char *copy = NULL;

	if (path && !(copy = strdup(path)))
		return NULL;
	if (c->cached < CGROUP_CACHE_SIZE) {
		n = calloc(1, sizeof(*n));
		if (!n) {
			free(copy);
			return NULL;
		}
		c->cached++;
	} else {
		n = c->lru_tail;
		lru_unlink(c, n);
		hash_unlink(c, n);
		free(n->path);
	}
	n->id = id;
	n->path = copy;
	n->container[0] = '\0';
	if (copy)
		container_id_of(copy, n->container);
	n->hash_next = c->buckets[bucket_of(id)];
	c->buckets[bucket_of(id)] = n;
	lru_push_front(c, n);
	return n;
}

/* ---- /proc/PID/task/TID/cgroup, believed when the inode agrees ---- */

/* <mount><path> is the directory of cgroup id */
static bool path_is(const struct cgroup_names *c, const char *path, size_t len, uint64_t id)
{
	char rel[PATH_MAX];
	struct stat st;

	if (!len || path[0] != '/' || len >= sizeof(rel) || memchr(path, '\0', len))
		return false;
	if (len == 1)
		strcpy(rel, ".");
	else {
		memcpy(rel, path + 1, len - 1);
		rel[len - 1] = '\0';
	}
	return !fstatat(c->mount_fd, rel, &st, AT_SYMLINK_NOFOLLOW) && S_ISDIR(st.st_mode) &&
	       st.st_ino == id;
}

/* The whole of a small /proc file into c->proc_buf, NUL-terminated; its length, or -1. */
static ssize_t read_proc(struct cgroup_names *c, const char *file)
{
	size_t len = 0;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t n;

		if (c->proc_cap - len < 2) {
			size_t cap = c->proc_cap ? 2 * c->proc_cap : 4096;
			char *buf = cap <= (1u << 20) ? realloc(c->proc_buf, cap) : NULL;

			if (!buf) {
				close(fd);
				return -1;
			}
			c->proc_buf = buf;
			c->proc_cap = cap;
		}
		n = read(fd, c->proc_buf + len, c->proc_cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			if (n < 0)
				return -1;
			c->proc_buf[len] = '\0';
			return (ssize_t)len;
		}
		len += (size_t)n;
	}
}

/*
 * The cgroup2 line, "0::PATH" (the kernel refuses a newline in a cgroup's
 * name, cgroup_mkdir() and cgroup_rename()); only a path whose inode is id.
 */
static const char *path_in(struct cgroup_names *c, size_t len, uint64_t id, size_t *path_len)
{
	char *buf = c->proc_buf, *p;

	for (p = buf; (p = memmem(p, len - (size_t)(p - buf), "0::", 3)); p += 3) {
		char *path = p + 3, *eol = memchr(path, '\n', len - (size_t)(path - buf));
		size_t n = eol ? (size_t)(eol - path) : len - (size_t)(path - buf);

		if ((p == buf || p[-1] == '\n') && path_is(c, path, n, id)) {
			*path_len = n;
			return path;
		}
	}
	return NULL;
}

static struct cgroup_name *name_from_proc(struct cgroup_names *c, uint64_t id, uint32_t pid,
					  uint32_t tid)
{
	char file[64], *path;
	const char *found = NULL;
	size_t path_len = 0;
	ssize_t len;
	struct cgroup_name *n;

	if (!pid)
		return NULL;
	/* the thread's own: a thread of a threaded cgroup may be elsewhere than its leader */
	snprintf(file, sizeof(file), "/proc/%u/task/%u/cgroup", pid, tid ? tid : pid);
	len = read_proc(c, file);
	if (len >= 0)
		found = path_in(c, (size_t)len, id, &path_len);
	if (!found && tid && tid != pid) {
		snprintf(file, sizeof(file), "/proc/%u/cgroup", pid);
		len = read_proc(c, file);
		if (len >= 0)
			found = path_in(c, (size_t)len, id, &path_len);
	}
	if (!found)
		return NULL;
	path = strndup(found, path_len);
	if (!path)
		return NULL;
	n = cache_add(c, id, path);
	free(path);
	return n;
}

/* ---- the walk: every directory, one level at a time ---- */

/* A directory the walk found: its name's offset in the pool, below entry parent. */
static bool walk_found(struct cgroup_walk *w, uint64_t id, size_t parent, const char *name,
		       size_t len)
{
	if (!array_grow(&w->entries, &w->cap, w->n + 1, sizeof(*w->entries), 0) ||
	    !array_grow(&w->pool, &w->pool_cap, w->pool_len + len + 1, 1, 0))
		return false;
	w->entries[w->n].id = id;
	w->entries[w->n].parent = parent;
	w->entries[w->n++].name = w->pool_len;
	memcpy(w->pool + w->pool_len, name, len);
	w->pool[w->pool_len + len] = '\0';
	w->pool_len += len + 1;
	return true;
}

/* A directory's subdirectories, read at once (NUL-separated into *names). */
struct walk_level {
	char *names;
	size_t len, next;
	size_t entry; /* the directory's in cgroup_walk.entries */
	ino_t ino;
};

static bool read_children(int fd, struct walk_level *l)
{
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	size_t cap = 0;
	struct dirent *de;
	DIR *dir;

	l->names = NULL;
	l->len = l->next = 0;
	if (dup_fd < 0)
		return false;
	dir = fdopendir(dup_fd);
	if (!dir) {
		close(dup_fd);
		return false;
	}
	rewinddir(dir); /* a dup shares the offset: the mount's is where the last walk left it */
	while ((de = readdir(dir))) {
		size_t n = strlen(de->d_name) + 1;

		if ((de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) || de->d_name[0] == '.')
			continue;
		if (!array_grow(&l->names, &cap, l->len + n, 1, 0)) {
			closedir(dir);
			free(l->names);
			l->names = NULL;
			return false;
		}
		memcpy(l->names + l->len, de->d_name, n);
		l->len += n;
	}
	closedir(dir);
	return true;
}

static const struct cgroup_walk *sorting; /* qsort() has no context argument */

static int cmp_by_id(const void *a, const void *b)
{
	uint64_t x = sorting->entries[*(const size_t *)a].id,
		 y = sorting->entries[*(const size_t *)b].id;

	return x < y ? -1 : x > y;
}

/*
 * Every directory below the mount into c->walk, each as its name and its
 * parent: memory grows with the cgroups there are, never with their depth.
 * One directory is open at a time: a child is entered with openat(), left
 * with openat(".."), checked by its inode (cgroup2 renames only within a
 * parent), so no depth costs a file descriptor and no path is limited to
 * PATH_MAX.
 */
static void walk_all(struct cgroup_names *c, int64_t now_ns)
{
	struct cgroup_walk *w = &c->walk;
	struct walk_level *levels = NULL;
	size_t depth = 0, levels_cap = 0, i;
	struct stat st;
	int cur;

	c->walks++;
	c->last_walk_took_ns = monotonic_ns();
	w->n = w->pool_len = 0;
	w->started_ns = now_ns;
	w->complete = false;
	cur = fcntl(c->mount_fd, F_DUPFD_CLOEXEC, 0);
	if (cur < 0 || fstat(cur, &st) || !walk_found(w, st.st_ino, SIZE_MAX, "", 0) ||
	    !array_grow(&levels, &levels_cap, 1, sizeof(*levels), 0) ||
	    !read_children(cur, &levels[0]))
		goto out;
	levels[0].entry = 0;
	levels[0].ino = st.st_ino;
	depth = 1;
	while (depth) {
		struct walk_level *l = &levels[depth - 1];
		size_t parent = l->entry;
		const char *name;
		size_t nlen;
		int sub;

		if (l->next >= l->len) { /* done here: back up */
			free(l->names);
			if (--depth == 0) {
				w->complete = true;
				break;
			}
			sub = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			close(cur);
			cur = sub;
			if (cur < 0 || fstat(cur, &st) || st.st_ino != levels[depth - 1].ino)
				break;
			continue;
		}
		name = l->names + l->next;
		nlen = strlen(name);
		l->next += nlen + 1;
		sub = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue; /* removed since, or not a cgroup */
			break;
		}
		if (fstat(sub, &st) ||
		    !array_grow(&levels, &levels_cap, depth + 1, sizeof(*levels), 0) ||
		    !walk_found(w, st.st_ino, parent, name, nlen) ||
		    !read_children(sub, &levels[depth])) {
			close(sub);
			break;
		}
		close(cur);
		cur = sub;
		levels[depth].entry = w->n - 1;
		levels[depth].ino = st.st_ino;
		depth++;
	}
	while (depth > 0 && !w->complete)
		free(levels[--depth].names);
out:
	if (cur >= 0)
		close(cur);
	free(levels);
	if (!array_grow(&w->by_id, &w->by_id_cap, w->n, sizeof(*w->by_id), 0)) {
		w->n = 0;
		w->complete = false;
		c->last_walk_took_ns = monotonic_ns() - c->last_walk_took_ns;
		return;
	}
	for (i = 0; i < w->n; i++)
		w->by_id[i] = i;
	sorting = w;
	if (w->n)
		qsort(w->by_id, w->n, sizeof(*w->by_id), cmp_by_id);
	c->last_walk_took_ns = monotonic_ns() - c->last_walk_took_ns;
}

/*
 * The path of id from the last walk into c->path_buf: NULL if the walk did
 * not find it; "" (too_long) past CGROUP_PATH_MAX.
 */
static const char *walk_path_of(struct cgroup_names *c, uint64_t id, bool *too_long)
{
	const struct cgroup_walk *w = &c->walk;
	size_t lo = 0, hi = w->n, len = 0, e, at;

	*too_long = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->entries[w->by_id[mid]].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == w->n || w->entries[w->by_id[lo]].id != id)
		return NULL;
	e = w->by_id[lo];
	for (at = e; w->entries[at].parent != SIZE_MAX; at = w->entries[at].parent) {
		len += 1 + strlen(w->pool + w->entries[at].name);
		if (len > CGROUP_PATH_MAX) {
			*too_long = true;
			return NULL;
		}
	}
	if (!len) /* the root */
		return "/";
	if (!array_grow(&c->path_buf, &c->path_cap, len + 1, 1, 0))
		return NULL;
	c->path_buf[len] = '\0';
	for (at = e; w->entries[at].parent != SIZE_MAX; at = w->entries[at].parent) {
		const char *name = w->pool + w->entries[at].name;
		size_t n = strlen(name);

		len -= n;
		memcpy(c->path_buf + len, name, n);
		c->path_buf[--len] = '/';
	}
	return c->path_buf;
}

/* ---- all of it ---- */

void cgroup_names_init_at(struct cgroup_names *c, const char *mount)
{
	memset(c, 0, sizeof(*c));
	c->mount_fd = -1;
	if (!mount || strlen(mount) >= sizeof(c->mount))
		return;
	c->mount_fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->mount_fd >= 0)
		strcpy(c->mount, mount);
}

void cgroup_names_init(struct cgroup_names *c)
{
	char mount[sizeof(c->mount)];

	cgroup_names_init_at(c, cgroup2_mount(mount, sizeof(mount)) ? mount : NULL);
}

static const struct cgroup_name unknown_name = {0};

/* What the last walk says of id, which had an event at event_ns; NULL: nothing */
static const struct cgroup_name *name_from_walk(struct cgroup_names *c, uint64_t id,
						int64_t event_ns, bool *found)
{
	bool too_long;
	const char *path = walk_path_of(c, id, &too_long);
	struct cgroup_name *n;

	*found = path || too_long;
	if (*found) {
		c->from_walk++;
		n = cache_add(c, id, path);
		return n ? n : &unknown_name;
	}
	if (c->walk.complete && c->walk.started_ns > event_ns) {
		/* it was there at event_ns, not when the walk began: gone for good */
		c->gone++;
		n = cache_add(c, id, NULL);
		return n ? n : &unknown_name;
	}
	return NULL;
}

const struct cgroup_name *cgroup_name_of(struct cgroup_names *c, uint64_t id, uint32_t pid,
					 uint32_t tid, int64_t event_ns, int64_t now_ns)
{
	const struct cgroup_name *n;
	bool found;

	if (c->mount_fd < 0)
		return &unknown_name;
	n = cache_find(c, id);
	if (n) {
		c->from_cache++;
		return n;
	}
	n = name_from_proc(c, id, pid, tid);
	if (n) {
		c->from_proc++;
		return n;
	}
	n = name_from_walk(c, id, event_ns, &found);
	if (n)
		return n;
	if (now_ns < c->no_walk_before_ns) {
		c->unknown++;
		return &unknown_name; /* not cached: a later event may still name it */
	}
	walk_all(c, now_ns);
	n = name_from_walk(c, id, event_ns, &found);
	if (found)
		return n;
	/* a walk for nothing: the next one waits, in proportion to what this one cost */
	c->no_walk_before_ns = now_ns + c->last_walk_took_ns +
			       (CGROUP_REWALK_FACTOR * c->last_walk_took_ns > CGROUP_REWALK_MIN_NS
					? CGROUP_REWALK_FACTOR * c->last_walk_took_ns
					: CGROUP_REWALK_MIN_NS);
	if (n)
		return n;
	c->unknown++;
	return &unknown_name;
}

void cgroup_names_free(struct cgroup_names *c)
{
	struct cgroup_name *n = c->lru_head, *next;

	for (; n; n = next) {
		next = n->lru_next;
		free(n->path);
		free(n);
	}
	c->lru_head = c->lru_tail = NULL;
	memset(c->buckets, 0, sizeof(c->buckets));
	c->cached = 0;
	free(c->walk.entries);
	free(c->walk.pool);
	free(c->walk.by_id);
	free(c->path_buf);
	c->path_buf = NULL;
	c->path_cap = 0;
	memset(&c->walk, 0, sizeof(c->walk));
	free(c->proc_buf);
	c->proc_buf = NULL;
	c->proc_cap = 0;
	if (c->mount_fd >= 0)
		close(c->mount_fd);
	c->mount_fd = -1;
}
