// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "containers.h"
#include "format.h"

const char *container_runtime_name(enum container_runtime runtime)
{
	switch (runtime) {
	case CONTAINER_RUNTIME_DOCKER:
		return "docker";
	case CONTAINER_RUNTIME_PODMAN:
		return "podman";
	case CONTAINER_RUNTIME_CONTAINERD:
		return "containerd";
	case CONTAINER_RUNTIME_CRIO:
		return "cri-o";
	default:
		return NULL;
	}
}

/* ---- the pod uid of a kubelet's cgroup path -------------------------------- */

static bool is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

/* s[0, 36) is a uid written 8-4-4-4-12, with '-' or (systemd) '_' between */
static bool uid_at(const char *s, size_t len, char out[V6T_POD_UID_LEN + 1])
{
	size_t i;

	if (len != V6T_POD_UID_LEN)
		return false;
	for (i = 0; i < len; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' && s[i] != '_' : !is_hex(s[i]))
			return false;
		out[i] = dash ? '-' : s[i];
	}
	out[len] = '\0';
	return true;
}

/* One component: "pod<uid>" or "kubepods[-qos]-pod<uid>.slice" */
static bool component_pod_uid(const char *s, size_t len, char out[V6T_POD_UID_LEN + 1])
{
	const char *pod = s;
	size_t i;

	if (len > 6 && !memcmp(s + len - 6, ".slice", 6)) {
		len -= 6;
		if (len < 9 || memcmp(s, "kubepods-", 9))
			return false;
		for (i = 0; i + 3 < len; i++) {
			if (s[i] == '-' && !memcmp(s + i + 1, "pod", 3))
				pod = s + i + 1;
		}
		if (pod == s)
			return false;
	}
	if ((size_t)(pod - s) + 3 > len || memcmp(pod, "pod", 3))
		return false;
	return uid_at(pod + 3, len - (size_t)(pod - s) - 3, out);
}

/* The pod uid and where its component ends in path; NULL if none. */
static const char *pod_component(const char *path, char out[V6T_POD_UID_LEN + 1])
{
	const char *p = path, *kube = NULL;

	/* a kubelet's tree only: a "pod<uid>" below something called kubepods */
	while (*p) {
		const char *end;

		while (*p == '/')
			p++;
		end = strchrnul(p, '/');
		if ((size_t)(end - p) >= 8 && !memcmp(p, "kubepods", 8))
			kube = p;
		if (kube && component_pod_uid(p, (size_t)(end - p), out))
			return end;
		p = end;
	}
	out[0] = '\0';
	return NULL;
}

bool pod_uid_of(const char *path, char out[V6T_POD_UID_LEN + 1])
{
	return path && pod_component(path, out);
}

/* ---- reading a runtime's file ------------------------------------------- */

/* A path below one of the runtimes' directories; false if it does not fit */
static bool path_of(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool path_of(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < len;
}

/*
 * A regular file of at most max bytes into a buffer with room for pre bytes
 * before it and post after it; NULL if it cannot be read (missing,
 * unreadable, empty, too large: one byte more than its size is asked for,
 * so a file that grew meanwhile is refused too).
 */
static char *read_bounded(int dir, const char *file, size_t max, size_t pre, size_t post,
			  size_t *len)
{
	int fd = dir < 0 ? -1
			 : openat(dir, file,
				  O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	size_t size, got = 0;
	struct stat st;
	char *buf;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		return NULL;
	}
	size = (size_t)st.st_size;
	buf = malloc(pre + size + 1 + post);
	while (buf && got < size + 1) {
		ssize_t n = read(fd, buf + pre + got, size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf || !got || got > size) {
		free(buf);
		return NULL;
	}
	*len = got;
	return buf;
}

/*
 * buf[0, len) as one JSON object, nothing after it; NULL if it is not. The
 * tokener's depth limit (json-c's default, 32) bounds the nesting.
 */
static struct json_object *parse_object(const char *buf, size_t len)
{
	struct json_tokener *tok = len <= INT_MAX ? json_tokener_new() : NULL;
	struct json_object *obj = NULL;

	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) < len || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

/* The JSON object a runtime's file (below dir) holds, or NULL */
static struct json_object *read_json(int dir, const char *file, size_t max)
{
	size_t len;
	char *buf = read_bounded(dir, file, max, 0, 0, &len);
	struct json_object *obj = buf ? parse_object(buf, len) : NULL;

	free(buf);
	return obj;
}

/* obj.key if it is of type; NULL otherwise */
static struct json_object *member(struct json_object *obj, const char *key, json_type type)
{
	struct json_object *val;

	if (!obj || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, key, &val) || !json_object_is_type(val, type))
		return NULL;
	return val;
}

/* A copy of string val (skip bytes of it first); NULL: not a string, longer than max, a NUL */
static char *string_value(struct json_object *val, size_t skip, size_t max)
{
	const char *s;
	size_t len;

	if (!val || !json_object_is_type(val, json_type_string))
		return NULL;
	s = json_object_get_string(val);
	len = (size_t)json_object_get_string_len(val);
	if (len <= skip || len - skip > max || memchr(s, '\0', len))
		return NULL;
	return strndup(s + skip, len - skip);
}

static char *string_of(struct json_object *obj, const char *key, size_t skip)
{
	return string_value(member(obj, key, json_type_string), skip, CONTAINER_VALUE_MAX);
}

/* An image reference: longer than a name may be */
static char *image_of(struct json_object *obj, const char *key)
{
	return string_value(member(obj, key, json_type_string), 0, CONTAINER_IMAGE_MAX);
}

/* ---- each runtime's files ---------------------------------------------- */

/* The pod's names under each runtime's keys: its name, namespace, uid, and the container's */
struct pod_keys {
	const char *name, *namespace, *uid, *container;
};

static void pod_names(struct container_info *out, struct json_object *obj,
		      const struct pod_keys *keys)
{
	out->pod_name = string_of(obj, keys->name, 0);
	out->pod_namespace = string_of(obj, keys->namespace, 0);
	out->pod_uid = string_of(obj, keys->uid, 0);
	out->pod_container = string_of(obj, keys->container, 0);
}

/* the labels a kubelet sets (dockershim, cri-dockerd), as CRI-O's annotations */
static const struct pod_keys kubelet_keys = {
	"io.kubernetes.pod.name",
	"io.kubernetes.pod.namespace",
	"io.kubernetes.pod.uid",
	"io.kubernetes.container.name",
};
static const struct pod_keys containerd_cri_keys = {
	"io.kubernetes.cri.sandbox-name",
	"io.kubernetes.cri.sandbox-namespace",
	"io.kubernetes.cri.sandbox-uid",
	"io.kubernetes.cri.container-name",
};

/* Docker's config.v2.json: "Name":"/web", Config.Image, Config.Labels */
static bool docker_names(const struct container_dirs *d, const char *id, struct container_info *out)
{
	struct json_object *cfg, *config, *labels, *name;
	char file[PATH_MAX];

	if (!path_of(file, sizeof(file), "%s/config.v2.json", id) ||
	    !(cfg = read_json(d->fd[CONTAINER_DIR_DOCKER], file, CONTAINER_FILE_MAX)))
		return false;
	name = member(cfg, "Name", json_type_string);
	out->name = string_of(cfg, "Name", name && json_object_get_string(name)[0] == '/' ? 1 : 0);
	config = member(cfg, "Config", json_type_object);
	out->image = image_of(config, "Image");
	labels = member(config, "Labels", json_type_object);
	pod_names(out, labels, &kubelet_keys);
	out->runtime = CONTAINER_RUNTIME_DOCKER;
	json_object_put(cfg);
	return true;
}

/* CRI-O's bundle config.json: a pod's container has io.kubernetes.pod.name */
static bool crio_names(const struct container_dirs *d, const char *id, struct container_info *out)
{
	struct json_object *cfg, *ann;
	char file[PATH_MAX];
	bool found = false;

	if (!path_of(file, sizeof(file), "%s/userdata/config.json", id) ||
	    !(cfg = read_json(d->fd[CONTAINER_DIR_CRIO], file, CONTAINER_FILE_MAX)))
		return false;
	ann = member(cfg, "annotations", json_type_object);
	if (member(ann, kubelet_keys.name, json_type_string)) {
		pod_names(out, ann, &kubelet_keys);
		out->name = string_of(ann, "io.kubernetes.cri-o.Name", 0);
		out->image = image_of(ann, "io.kubernetes.cri-o.ImageName");
		out->runtime = CONTAINER_RUNTIME_CRIO;
		found = true;
	}
	json_object_put(cfg);
	return found;
}

/* The first string of array obj.key, of at most max bytes */
static char *first_string(struct json_object *obj, const char *key, size_t max)
{
	struct json_object *arr = member(obj, key, json_type_array);

	if (!arr || !json_object_array_length(arr))
		return NULL;
	return string_value(json_object_array_get_idx(arr, 0), 0, max);
}

/* The element of array store whose "id" is id */
static struct json_object *entry_with_id(struct json_object *store, const char *id)
{
	size_t i, n = json_object_array_length(store);

	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(store, i), *eid;

		eid = member(e, "id", json_type_string);
		if (eid && !strcmp(json_object_get_string(eid), id))
			return e;
	}
	return NULL;
}

/* A JSON array file (containers/storage's stores), read as {"a":ARRAY}; NULL if not one */
static struct json_object *read_store(int dir, const char *file)
{
	struct json_object *wrap = NULL, *arr;
	char *buf;
	size_t len;

	if (!(buf = read_bounded(dir, file, CONTAINER_STORE_MAX, 5, 1, &len)))
		return NULL;
	memcpy(buf, "{\"a\":", 5);
	buf[5 + len] = '}';
	wrap = parse_object(buf, len + 6);
	free(buf);
	arr = member(wrap, "a", json_type_array);
	if (arr)
		json_object_get(arr);
	json_object_put(wrap);
	return arr;
}

/* Podman: containers.json names it; its metadata (a JSON string) the image */
static bool podman_names(const struct container_dirs *d, const char *id, struct container_info *out)
{
	struct json_object *store, *entry, *meta = NULL, *images;
	struct json_object *meta_str;
	char *image_id;

	store = read_store(d->fd[CONTAINER_DIR_PODMAN], "overlay-containers/containers.json");
	entry = store ? entry_with_id(store, id) : NULL;
	if (!entry) {
		json_object_put(store);
		return false;
	}
	out->runtime = CONTAINER_RUNTIME_PODMAN;
	out->name = first_string(entry, "names", CONTAINER_VALUE_MAX);
	meta_str = member(entry, "metadata", json_type_string);
	if (meta_str && (size_t)json_object_get_string_len(meta_str) <= CONTAINER_FILE_MAX)
		meta = parse_object(json_object_get_string(meta_str),
				    (size_t)json_object_get_string_len(meta_str));
	if (!out->name)
		out->name = string_of(meta, "name", 0);
	out->image = image_of(meta, "image-name");
	json_object_put(meta);
	image_id = out->image ? NULL : string_of(entry, "image", 0);
	json_object_put(store);
	if (!image_id)
		return true;
	images = read_store(d->fd[CONTAINER_DIR_PODMAN], "overlay-images/images.json");
	entry = images ? entry_with_id(images, image_id) : NULL;
	if (entry)
		out->image = first_string(entry, "names", CONTAINER_IMAGE_MAX);
	json_object_put(images);
	free(image_id);
	return true;
}

/* containerd's OCI bundle, in any of its namespaces (k8s.io for the CRI) */
static bool containerd_names(const struct container_dirs *d, const char *id,
			     struct container_info *out)
{
	int tasks = d->fd[CONTAINER_DIR_CONTAINERD], fd;
	struct json_object *cfg = NULL, *ann;
	char file[PATH_MAX];
	struct dirent *de;
	unsigned int seen = 0;
	DIR *dir;

	if (tasks < 0 || (fd = openat(tasks, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return false;
	if (!(dir = fdopendir(fd))) {
		close(fd);
		return false;
	}
	while (!cfg && seen < CONTAINER_MAX_NAMESPACES && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		seen++;
		if (path_of(file, sizeof(file), "%s/%s/config.json", de->d_name, id))
			cfg = read_json(tasks, file, CONTAINER_FILE_MAX);
	}
	closedir(dir);
	if (!cfg)
		return false;
	ann = member(cfg, "annotations", json_type_object);
	pod_names(out, ann, &containerd_cri_keys);
	out->image = image_of(ann, "io.kubernetes.cri.image-name");
	out->runtime = CONTAINER_RUNTIME_CONTAINERD;
	json_object_put(cfg);
	return true;
}

void container_info_clear(struct container_info *info)
{
	free(info->name);
	free(info->image);
	free(info->pod_name);
	free(info->pod_namespace);
	free(info->pod_uid);
	free(info->pod_container);
	memset(info, 0, sizeof(*info));
}

static bool is_container_id(const char *id)
{
	size_t i;

	for (i = 0; i < V6T_CONTAINER_ID_LEN; i++) {
		if (!is_hex(id[i]))
			return false;
	}
	return id[i] == '\0';
}

/* Where each runtime keeps its files, below the node's root */
static const char *const runtime_dirs[CONTAINER_DIRS] = {
	[CONTAINER_DIR_DOCKER] = "/var/lib/docker/containers",
	[CONTAINER_DIR_CRIO] = "/run/containers/storage/overlay-containers",
	[CONTAINER_DIR_PODMAN] = "/var/lib/containers/storage",
	[CONTAINER_DIR_CONTAINERD] = "/run/containerd/io.containerd.runtime.v2.task",
};

/* Each directory not open yet: a runtime may have started since */
static void open_dirs(struct container_dirs *d)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < CONTAINER_DIRS; i++) {
		if (d->fd[i] < 0 && snprintf(path, sizeof(path), "%s%s", d->root, runtime_dirs[i]) <
					    (int)sizeof(path))
			d->fd[i] = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
}

void container_dirs_open(struct container_dirs *d, const char *root)
{
	int i;

	memset(d, 0, sizeof(*d));
	for (i = 0; i < CONTAINER_DIRS; i++)
		d->fd[i] = -1;
	if (root && strlen(root) < sizeof(d->root))
		strcpy(d->root, root);
	/* "/host/" and "/host" alike: the runtimes' paths begin with '/' */
	while (d->root[0] && d->root[strlen(d->root) - 1] == '/')
		d->root[strlen(d->root) - 1] = '\0';
	open_dirs(d);
}

void container_dirs_close(struct container_dirs *d)
{
	int i;

	for (i = 0; i < CONTAINER_DIRS; i++) {
		if (d->fd[i] >= 0)
			close(d->fd[i]);
		d->fd[i] = -1;
	}
}

bool container_lookup(struct container_dirs *d, const char *id, const char *cgroup_path,
		      struct container_info *out)
{
	char uid[V6T_POD_UID_LEN + 1];
	bool found;

	memset(out, 0, sizeof(*out));
	if (!id || !is_container_id(id)) /* it becomes a path */
		return false;
	strcpy(out->id, id);
	/*
	 * Docker's first: its containers also have a bundle in its own containerd.
	 * Podman's last: its store lists every container at once (5 ms to parse
	 * with 1000 of them, where each of the others costs a few open()s).
	 */
	open_dirs(d);
	found = docker_names(d, id, out) || crio_names(d, id, out) ||
		containerd_names(d, id, out) || podman_names(d, id, out);
	if (pod_uid_of(cgroup_path, uid)) { /* the kubelet's own word for it */
		free(out->pod_uid);
		out->pod_uid = strdup(uid);
	}
	return found;
}

/* ---- the cache ------------------------------------------------------------ */

void container_names_init_at(struct container_names *c, const char *root)
{
	memset(c, 0, sizeof(*c));
	container_dirs_open(&c->dirs, root);
}

void container_names_init(struct container_names *c)
{
	container_names_init_at(c, getenv("V6TRACE_HOST_ROOT"));
}

void container_names_free(struct container_names *c)
{
	size_t i;

	for (i = 0; i < sizeof(c->cache) / sizeof(c->cache[0]); i++)
		container_info_clear(&c->cache[i].info);
	c->clock = 0;
	container_dirs_close(&c->dirs);
}

static size_t set_of(const char *id)
{
	unsigned int h = 0;
	int i;

	for (i = 0; i < 8; i++) /* the id is a hash already */
		h = h * 16 + (unsigned int)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
	return h % CONTAINER_CACHE_SETS;
}

const struct container_info *container_info_of(struct container_names *c, const char *id,
					       const char *cgroup_path, int64_t now_ns)
{
	struct container_cache_entry *set, *e = NULL;
	size_t i;

	if (!id || !is_container_id(id))
		return NULL;
	set = &c->cache[set_of(id) * CONTAINER_CACHE_WAYS];
	for (i = 0; i < CONTAINER_CACHE_WAYS && !e; i++) {
		if (!strcmp(set[i].info.id, id))
			e = &set[i];
	}
	if (e && (e->found || now_ns < e->retry_at_ns)) {
		e->used = ++c->clock;
		c->from_cache++;
		return &e->info;
	}
	if (!e) { /* a free way, else the least recently used */
		e = &set[0];
		for (i = 1; i < CONTAINER_CACHE_WAYS; i++) {
			if (set[i].used < e->used)
				e = &set[i];
		}
		e->retry_ns = CONTAINER_RETRY_MIN_NS;
	}
	container_info_clear(&e->info);
	c->lookups++;
	e->found = container_lookup(&c->dirs, id, cgroup_path, &e->info);
	strcpy(e->info.id, id); /* found or not: the id is known */
	e->used = ++c->clock;
	if (!e->found) {
		e->retry_at_ns = now_ns + e->retry_ns;
		if (e->retry_ns < CONTAINER_RETRY_MAX_NS)
			e->retry_ns *= 2;
	}
	return &e->info;
}

/* ---- filters ------------------------------------------------------------ */

bool container_matches(const struct container_info *info, const char *wanted)
{
	size_t len = strlen(wanted);

	if (!info)
		return false;
	if (info->name && !strcmp(info->name, wanted))
		return true;
	return len >= V6T_SHORT_ID_LEN && len <= V6T_CONTAINER_ID_LEN &&
	       !strncmp(info->id, wanted, len);
}

bool pod_matches(const struct container_info *info, const char *wanted)
{
	const char *slash = strchr(wanted, '/');

	if (!info || !info->pod_name)
		return false;
	if (!slash)
		return !strcmp(info->pod_name, wanted);
	return info->pod_namespace && !strcmp(info->pod_name, slash + 1) &&
	       strlen(info->pod_namespace) == (size_t)(slash - wanted) &&
	       !memcmp(info->pod_namespace, wanted, (size_t)(slash - wanted));
}

bool container_wanted(const struct container_info *info, const char *container, const char *pod)
{
	return (!container || container_matches(info, container)) &&
	       (!pod || pod_matches(info, pod));
}

/* ---- the cgroup of a container that runs now ------------------------------ */

/*
 * The container's own cgroup in path (where the component holding id ends:
 * processes may sit in cgroups below it), or the pod's (where pod<uid> ends).
 */
static bool cut_to_owner(char *path, const char *id, bool pod)
{
	char uid[V6T_POD_UID_LEN + 1];
	char *end;

	if (pod) {
		const char *pod_end = pod_component(path, uid);

		if (!pod_end)
			return false;
		path[pod_end - path] = '\0';
		return true;
	}
	end = strstr(path, id);
	if (!end)
		return false;
	end += strcspn(end, "/");
	*end = '\0';
	return true;
}

int container_cgroup_now(struct container_names *c, const char *wanted, bool pod, char *path,
			 size_t len)
{
	char cgroup[PATH_MAX], id[V6T_CONTAINER_ID_LEN + 1];
	struct dirent *de;
	int found = 0;
	DIR *proc = opendir("/proc");

	if (!proc)
		return 0;
	while (found < 2 && (de = readdir(proc))) {
		const struct container_info *info;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    !cgroup_path_of_pid((uint32_t)strtoul(de->d_name, NULL, 10), cgroup,
					sizeof(cgroup)) ||
		    !container_id_of(cgroup, id))
			continue;
		info = container_info_of(c, id, cgroup, 0);
		if (!(pod ? pod_matches(info, wanted) : container_matches(info, wanted)) ||
		    !cut_to_owner(cgroup, id, pod))
			continue;
		if (found && strcmp(path, cgroup))
			found = 2;
		else if (!found && strlen(cgroup) < len) {
			strcpy(path, cgroup);
			found = 1;
		} else if (!found) {
			found = 2;
		}
	}
	closedir(proc);
	return found;
}
