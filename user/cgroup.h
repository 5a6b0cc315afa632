/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cgroup v2 ids to paths, and paths to container ids. The kernel side records
 * bpf_get_current_cgroup_id(), which is the inode number of the cgroup's
 * directory in the cgroup2 file system (64 bits, never reused while the
 * system runs). By then the tracer has no capability left (no
 * open_by_handle_at()): it names the id with what any process may read.
 */
#ifndef V6TRACE_CGROUP_H
#define V6TRACE_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define V6T_CONTAINER_ID_LEN 64

/*
 * How a cgroup is named, cheapest first: a cache of the names given lately
 * (CGROUP_CACHE_SIZE, the least recently used forgotten first); the
 * "0::/path" line of /proc/PID/task/TID/cgroup of the event's thread,
 * believed only when <mount>/path is a directory whose inode is the event's
 * cgroup id (the thread may be gone, its pid reused, or moved since); the
 * last walk of the whole hierarchy, which also proves a cgroup gone: one it
 * did not find although its event came before the walk began. A new walk
 * (openat() one level at a time: no depth, no PATH_MAX limit) is made for an
 * event newer than the last walk; only after a walk that found nothing for
 * the id it was made for (a flood of cgroups made and removed at once) does
 * the next wait: CGROUP_REWALK_FACTOR times as long as that walk took, at
 * least CGROUP_REWALK_MIN_NS, so that fruitless walks take at most 5 % of a
 * CPU however many cgroups there are.
 */
#define CGROUP_CACHE_SIZE 1024
/*
 * A path longer than this is not named (path NULL): with every byte escaped
 * (6 bytes in JSON) a record still fits one syslog datagram (summary.h's
 * SUMMARY_MAX_BYTES). /proc/PID/cgroup shows at most PATH_MAX.
 */
#define CGROUP_PATH_MAX	     8192
#define CGROUP_REWALK_FACTOR 20
#define CGROUP_REWALK_MIN_NS (10 * 1000000LL)

struct cgroup_name {
	uint64_t id;
	char *path;				  /* "/system.slice/x.scope"; NULL: unknown */
	char container[V6T_CONTAINER_ID_LEN + 1]; /* "" if none */
	/* the cache's own */
	struct cgroup_name *hash_next, *lru_prev, *lru_next;
};

/* Every cgroup the last walk found: a tree of names, and its entries by id. */
struct cgroup_walk {
	struct cgroup_walk_entry {
		uint64_t id;
		size_t parent; /* its index; SIZE_MAX: the root */
		size_t name;   /* offset in pool */
	} * entries;
	size_t n, cap;
	size_t *by_id; /* entries' indexes, by id */
	size_t by_id_cap;
	char *pool;
	size_t pool_len, pool_cap;
	int64_t started_ns; /* CLOCK_MONOTONIC; 0: never walked */
	bool complete;	    /* it read every directory */
};

struct cgroup_names {
	char mount[256]; /* where cgroup2 is mounted; "" if it is not */
	int mount_fd;	 /* that directory, or -1 */
	struct cgroup_name *buckets[2 * CGROUP_CACHE_SIZE];
	struct cgroup_name *lru_head, *lru_tail; /* most, least recently used */
	unsigned int cached;
	struct cgroup_walk walk;
	int64_t no_walk_before_ns;
	int64_t last_walk_took_ns;
	char *proc_buf; /* /proc/PID/cgroup, read */
	size_t proc_cap;
	char *path_buf; /* a path the walk found */
	size_t path_cap;
	/* how names were found, for the tests and make bench */
	uint64_t from_cache, from_proc, from_walk, gone, unknown, walks;
};

/* Finds the cgroup2 mount in /proc/self/mounts; false if there is none. */
bool cgroup2_mount(char *out, size_t len);

/* The cgroup2 mount of /proc/self/mounts; cgroup_names_init_at: another directory (tests). */
void cgroup_names_init(struct cgroup_names *c);
void cgroup_names_init_at(struct cgroup_names *c, const char *mount);
/*
 * The name of the cgroup id of an event of thread tid of process pid (0: no
 * process to ask) that happened at event_ns (CLOCK_MONOTONIC). Never NULL;
 * path is NULL when cgroup2 is not mounted or the cgroup is gone (or, within
 * the wait after a fruitless walk, cannot be told from gone). Valid until
 * the next call.
 */
const struct cgroup_name *cgroup_name_of(struct cgroup_names *c, uint64_t id, uint32_t pid,
					 uint32_t tid, int64_t event_ns, int64_t now_ns);
void cgroup_names_free(struct cgroup_names *c);

/*
 * The cgroup v2 path of process pid now (the "0::" line of /proc/PID/cgroup)
 * into out; false if it has none or it does not fit in len.
 */
bool cgroup_path_of_pid(uint32_t pid, char *out, size_t len);

/*
 * The container id a cgroup path holds: the last 64-hex-digit run that is a
 * whole path component or the id part of "docker-ID.scope",
 * "cri-containerd-ID.scope", "crio-ID.scope", "libpod-ID.scope" and the like
 * (docker, containerd, cri-o, podman, kubepods). out gets the id; false if none.
 */
bool container_id_of(const char *path, char out[V6T_CONTAINER_ID_LEN + 1]);

#endif
