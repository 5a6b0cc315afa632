// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "array.h"
#include "cgroup.h"
#include "classify.h"
#include "listeners.h"
#include "sockets.h"

int listeners_add(struct listeners *l, const struct listener *x)
{
	struct listener *slot = array_push(l);

	if (!slot)
		return -ENOMEM;
	*slot = *x;
	return 0;
}

/*
 * The one place a listener is seen as an event: the stack rule is written
 * for the kernel's record, and a listener has the fields it reads.
 */
enum v6t_stack listener_stack(const struct listener *l)
{
	struct v6t_event e = {
		.type = V6T_EVENT_SOCKET,
		.family = l->family,
		.protocol = l->protocol,
		.lport = l->lport,
		.state = l->state,
		.v6only = l->v6only,
	};

	memcpy(e.laddr, l->laddr, sizeof(e.laddr));
	return v6t_classify_stack(&e);
}

/* Field 22 of /proc/PID/stat, counted after the comm's closing parenthesis. */
static uint64_t start_of(uint32_t pid)
{
	char path[32], buf[1024], *p, *end;
	unsigned long long start = 0;
	size_t n;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* a comm may hold ") " itself: the last one ends it */
	if (!p)
		return 0;
	for (i = 0; p && i < 20; i++) /* after i + 1 steps: the space before field i + 3 */
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	start = strtoull(p + 1, &end, 10);
	return end != p + 1 && (*end == ' ' || *end == '\n') ? start : 0;
}

void listeners_owner_facts(uint32_t pid, uint64_t *start, char cgroup[V6T_LISTENER_CGROUP_LEN])
{
	*start = start_of(pid);
	if (!cgroup_path_of_pid(pid, cgroup, V6T_LISTENER_CGROUP_LEN))
		cgroup[0] = '\0'; /* no cgroup v2 line, or a path too long to keep */
}

static int collect(const struct diag_sock *s, void *ctx)
{
	struct listeners *l = ctx;
	struct listener x = {
		.family = s->family,
		.protocol = s->protocol,
		.lport = s->lport,
		.state = s->state,
		.v6only = s->v6only,
		.inode = s->inode,
	};

	memcpy(x.laddr, s->laddr, sizeof(x.laddr));

	return listeners_add(l, &x) ? 1 : 0;
}

int listeners_collect(int netns_fd, struct listeners *out)
{
	struct owners o = {0};
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	err = sockets_list(netns_fd, SOCKETS_SERVING, collect, out, NULL);
	if (err)
		return err;
	owners_scan(&o);
	for (i = 0; i < out->n; i++) {
		if (owners_find(&o, out->v[i].inode, &out->v[i].pid, out->v[i].comm))
			listeners_owner_facts(out->v[i].pid, &out->v[i].owner_start,
					      out->v[i].cgroup);
		else
			out->v[i].pid = 0;
	}
	owners_free(&o);
	return 0;
}

void listeners_free(struct listeners *l)
{
	array_free(l);
}
