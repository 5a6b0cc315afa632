/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A container id's names, read from the files the runtimes keep on the node
 * (no daemon is asked): its name, image and runtime, and for Kubernetes its
 * pod's name, namespace and uid and its name in the pod.
 *
 *   docker      /var/lib/docker/containers/ID/config.v2.json: Name, Config.Image,
 *               Config.Labels io.kubernetes.* (a kubelet through cri-dockerd)
 *   cri-o       /run/containers/storage/overlay-containers/ID/userdata/config.json
 *               annotations io.kubernetes.pod.name, .pod.namespace, .pod.uid,
 *               .container.name, io.kubernetes.cri-o.ImageName, .Name
 *   podman      /var/lib/containers/storage/overlay-containers/containers.json:
 *               names, metadata's image-name (else the image's first name in
 *               overlay-images/images.json)
 *   containerd  /run/containerd/io.containerd.runtime.v2.task/NAMESPACE/ID/config.json
 *               annotations io.kubernetes.cri.sandbox-name, -namespace, -uid,
 *               container-name, image-name (a container of no CRI: none of them)
 *
 * and the pod uid the kubelet writes into the cgroup path. What none of them
 * says is NULL: unknown, never guessed. V6TRACE_HOST_ROOT, when set, is where
 * the node's root is mounted (a container that mounts it at /host).
 */
#ifndef V6TRACE_CONTAINERS_H
#define V6TRACE_CONTAINERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cgroup.h"

/* A runtime's file larger than this is not read (its names are unknown). */
#define CONTAINER_FILE_MAX (1u << 20)
/* Podman's containers.json and images.json list every container and image. */
#define CONTAINER_STORE_MAX (16u << 20)
/*
 * A name (Kubernetes: at most 253) longer than this, an image reference longer
 * than CONTAINER_IMAGE_MAX, or either holding a NUL, is unknown: with
 * every byte escaped (6 bytes in JSON) and the longest cgroup path
 * (CGROUP_PATH_MAX) a record still fits one syslog datagram (SUMMARY_MAX_BYTES).
 */
#define CONTAINER_VALUE_MAX 256
#define CONTAINER_IMAGE_MAX 512
/* The cache: CONTAINER_CACHE_SETS sets of CONTAINER_CACHE_WAYS ids (256). */
#define CONTAINER_CACHE_SETS 64
#define CONTAINER_CACHE_WAYS 4
/* An id none of the files names is asked again after 1 s, 2 s, 4 s ... 64 s. */
#define CONTAINER_RETRY_MIN_NS (1000000000LL)
#define CONTAINER_RETRY_MAX_NS (64 * 1000000000LL)
/* How many containerd namespaces (k8s.io, moby, default...) are looked in. */
#define CONTAINER_MAX_NAMESPACES 32

#define V6T_POD_UID_LEN 36 /* 8-4-4-4-12 hex digits */

enum container_runtime {
	CONTAINER_RUNTIME_UNKNOWN = 0,
	CONTAINER_RUNTIME_DOCKER,
	CONTAINER_RUNTIME_PODMAN,
	CONTAINER_RUNTIME_CONTAINERD,
	CONTAINER_RUNTIME_CRIO,
};

/* "docker", "podman", "containerd", "cri-o"; NULL: unknown */
const char *container_runtime_name(enum container_runtime runtime);

/* What is known of a container; each string NULL when unknown. */
struct container_info {
	char id[V6T_CONTAINER_ID_LEN + 1];
	enum container_runtime runtime;
	char *name;	     /* the runtime's name of it: "web" */
	char *image;	     /* as the runtime was given it: "nginx:1.25" */
	char *pod_name;	     /* Kubernetes */
	char *pod_namespace; /* Kubernetes */
	char *pod_uid;	     /* the cgroup path's, else the runtime's */
	char *pod_container; /* its name in the pod's spec */
};

struct container_cache_entry {
	struct container_info info; /* info.id "" : a free way */
	bool found;		    /* a runtime's file named it */
	uint64_t used;		    /* c->clock when last asked for */
	int64_t retry_at_ns;	    /* !found: look again from then on */
	int64_t retry_ns;	    /* !found: the wait after the next miss */
};

/*
 * The runtimes' directories, opened when v6trace starts, while it still has
 * its capabilities: containerd keeps /run/containerd at mode 0600, which
 * only CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH can pass through, and the
 * tracer drops them once loaded. One missing then (a runtime started later)
 * is opened when next needed, with what the tracer is left (uid 0: the
 * runtimes' root-owned files of mode 0600 and 0700, not containerd's).
 */
enum container_dir {
	CONTAINER_DIR_DOCKER,	  /* /var/lib/docker/containers */
	CONTAINER_DIR_CRIO,	  /* /run/containers/storage/overlay-containers */
	CONTAINER_DIR_PODMAN,	  /* /var/lib/containers/storage */
	CONTAINER_DIR_CONTAINERD, /* /run/containerd/io.containerd.runtime.v2.task */
	CONTAINER_DIRS
};

struct container_dirs {
	char root[256];		/* the node's root: "" for / */
	int fd[CONTAINER_DIRS]; /* -1: not open */
};

/* root: the node's root, NULL or "" for / */
void container_dirs_open(struct container_dirs *d, const char *root);
void container_dirs_close(struct container_dirs *d);

struct container_names {
	struct container_dirs dirs;
	struct container_cache_entry cache[CONTAINER_CACHE_SETS * CONTAINER_CACHE_WAYS];
	uint64_t clock;
	/* for the tests */
	uint64_t lookups, from_cache;
};

/* root: V6TRACE_HOST_ROOT, or /; _at: another directory (tests). Opens the dirs. */
void container_names_init(struct container_names *c);
void container_names_init_at(struct container_names *c, const char *root);
void container_names_free(struct container_names *c);

/*
 * The names of container id, whose cgroup v2 path is cgroup_path (NULL if
 * unknown): from the cache, or read once when id is first seen (a miss is
 * read again after CONTAINER_RETRY_MIN_NS, twice as long after each miss).
 * NULL for an id that is NULL or "". Valid until the next call.
 */
const struct container_info *container_info_of(struct container_names *c, const char *id,
					       const char *cgroup_path, int64_t now_ns);

/* The names of id from the runtimes' files, uncached; false if none names it. */
bool container_lookup(struct container_dirs *d, const char *id, const char *cgroup_path,
		      struct container_info *out);
void container_info_clear(struct container_info *info);

/*
 * The pod uid a kubelet's cgroup path holds: "kubepods-burstable-pod<uid, '_'
 * for '-'>.slice" (systemd driver) or "/kubepods/besteffort/pod<uid>/"
 * (cgroupfs). out gets it with dashes; false if none.
 */
bool pod_uid_of(const char *path, char out[V6T_POD_UID_LEN + 1]);

/*
 * --container NAME|ID: the runtime's name, the whole id, or at least
 * V6T_SHORT_ID_LEN of its first hex digits; --pod [NAMESPACE/]NAME.
 */
bool container_matches(const struct container_info *info, const char *wanted);
bool pod_matches(const struct container_info *info, const char *wanted);

/* Both filters that are set (NULL: not set) keep info (NULL: not in a container). */
bool container_wanted(const struct container_info *info, const char *container, const char *pod);

/*
 * The cgroup v2 path (below the mount) of the one container that wanted
 * names now, found in /proc/PID/cgroup of every process: 1 and path set if
 * exactly one cgroup matches, 0 if none, 2 if more than one (or a path too
 * long for len).
 */
int container_cgroup_now(struct container_names *c, const char *wanted, bool pod, char *path,
			 size_t len);

#endif
