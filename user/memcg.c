// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <limits.h>
#include <mntent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memcg.h"

/* Where the cgroup file system of the memory controller is mounted (v1), or cgroup2. */
static bool memcg_mount(bool v2, char *out, size_t len)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	bool found = false;

	while (f && !found && (m = getmntent(f))) {
		bool match = v2 ? !strcmp(m->mnt_type, "cgroup2")
				: !strcmp(m->mnt_type, "cgroup") && hasmntopt(m, "memory");

		if (match && strlen(m->mnt_dir) < len) {
			strcpy(out, m->mnt_dir);
			found = true;
		}
	}
	if (f)
		endmntent(f);
	return found;
}

static int64_t read_bytes(const char *dir, const char *file)
{
	char path[PATH_MAX], buf[64];
	FILE *f;
	int64_t v = -1;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		return -1;
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && strncmp(buf, "max", 3))
		v = strtoll(buf, NULL, 10);
	fclose(f);
	return v;
}

/* The least room from the cgroup dir (below mount) up to the mount itself. */
static int64_t least_room(const char *mount, const char *cgroup, bool v2, char *where, size_t len,
			  int64_t best)
{
	char dir[PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s%s", mount, strcmp(cgroup, "/") ? cgroup : "") >=
	    (int)sizeof(dir))
		return best;
	for (;;) {
		int64_t limit = read_bytes(dir, v2 ? "memory.max" : "memory.limit_in_bytes");
		int64_t usage = read_bytes(dir, v2 ? "memory.current" : "memory.usage_in_bytes");

		/* v1 says "no limit" with a huge number, rounded to a page */
		if (limit >= 0 && limit < INT64_MAX / 2 && usage >= 0) {
			int64_t room = limit > usage ? limit - usage : 0;

			if (best < 0 || room < best) {
				best = room;
				snprintf(where, len, "%s", dir);
			}
		}
		if (strlen(dir) <= strlen(mount))
			break;
		slash = strrchr(dir, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	return best;
}

int64_t memcg_room(char *where, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX + 64], mount[PATH_MAX];
	int64_t best = -1;

	while (f && fgets(line, sizeof(line), f)) {
		char *controllers = strchr(line, ':'), *path;
		bool v2;

		if (!controllers || !(path = strchr(controllers + 1, ':')))
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		controllers++;
		v2 = !*controllers;
		if (!v2 && !strstr(controllers, "memory"))
			continue;
		if (memcg_mount(v2, mount, sizeof(mount)))
			best = least_room(mount, path, v2, where, len, best);
	}
	if (f)
		fclose(f);
	return best;
}

int64_t memcg_needed(int64_t btf_size)
{
	return 3 * btf_size + (2 << 20);
}
