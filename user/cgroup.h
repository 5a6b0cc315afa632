/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cgroup v2 ids to paths, and paths to container ids. The kernel side records
 * bpf_get_current_cgroup_id(), which is the inode number of the cgroup's
 * directory in the cgroup2 file system; a walk of that file system names it.
 */
#ifndef V6TRACE_CGROUP_H
#define V6TRACE_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define V6T_CONTAINER_ID_LEN 64

struct cgroup_names {
	char mount[256]; /* where cgroup2 is mounted; "" if it is not */
	void *root;	 /* tsearch() tree of struct cgroup_name, by id */
	int64_t last_scan_ns;
	unsigned int scans;
};

struct cgroup_name {
	uint64_t id;
	char *path;				  /* "/system.slice/x.scope"; NULL: unknown */
	char container[V6T_CONTAINER_ID_LEN + 1]; /* "" if none */
};

/* Finds the cgroup2 mount in /proc/self/mounts; false if there is none. */
bool cgroup2_mount(char *out, size_t len);

void cgroup_names_init(struct cgroup_names *c);
/*
 * The name of cgroup id, walking the hierarchy again when the id is new (at
 * most every min_rescan_ns). Never NULL; path is NULL when the id is unknown.
 */
const struct cgroup_name *cgroup_name_of(struct cgroup_names *c, uint64_t id, int64_t now_ns,
					 int64_t min_rescan_ns);
void cgroup_names_free(struct cgroup_names *c);

/*
 * The container id a cgroup path holds: the last 64-hex-digit run that is a
 * whole path component or the id part of "docker-ID.scope",
 * "cri-containerd-ID.scope", "crio-ID.scope", "libpod-ID.scope" and the like
 * (docker, containerd, cri-o, podman, kubepods). out gets the id; false if none.
 */
bool container_id_of(const char *path, char out[V6T_CONTAINER_ID_LEN + 1]);

#endif
