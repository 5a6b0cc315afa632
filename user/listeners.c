// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "classify.h"
#include "listeners.h"

int listeners_add(struct listeners *l, const struct listener *x)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct listener *grown = reallocarray(l->v, cap, sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		l->v = grown;
		l->cap = cap;
	}
	l->v[l->n++] = *x;
	return 0;
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

static void cgroup_of(uint32_t pid, char cgroup[V6T_LISTENER_CGROUP_LEN])
{
	char path[32], line[4096];
	FILE *f;

	cgroup[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\n");

		if (strncmp(line, "0::", 3) || line[len] != '\n')
			continue; /* a v1 hierarchy, or a line longer than the buffer */
		line[len] = '\0';
		if (len - 3 < V6T_LISTENER_CGROUP_LEN)
			memcpy(cgroup, line + 3, len - 3 + 1);
		break;
	}
	fclose(f);
}

void listeners_owner_facts(uint32_t pid, uint64_t *start, char cgroup[V6T_LISTENER_CGROUP_LEN])
{
	*start = start_of(pid);
	cgroup_of(pid, cgroup);
}

static int collect(const struct diag_sock *s, void *ctx)
{
	struct listeners *l = ctx;
	struct listener x = {.s = *s};
	size_t i;

	if (s->e.state == V6T_TCP_CLOSE && s->e.lport == 0)
		return 0; /* an unbound UDP socket */
	/* an MPTCP socket's subflow: TCP, under the inode of an MPTCP socket listed first */
	for (i = 0;
	     s->e.protocol == IPPROTO_TCP && i < l->n && l->v[i].s.e.protocol == IPPROTO_MPTCP;
	     i++) {
		if (l->v[i].s.inode == s->inode)
			return 0;
	}
	return listeners_add(l, &x) ? 1 : 0;
}

int listeners_collect(int netns_fd, struct listeners *out)
{
	static const struct {
		uint8_t family;
		uint16_t protocol;
		uint8_t state;
	} dumps[] = {
		{AF_INET, IPPROTO_MPTCP, V6T_TCP_LISTEN}, {AF_INET6, IPPROTO_MPTCP, V6T_TCP_LISTEN},
		{AF_INET, IPPROTO_TCP, V6T_TCP_LISTEN},	  {AF_INET6, IPPROTO_TCP, V6T_TCP_LISTEN},
		{AF_INET, IPPROTO_UDP, V6T_TCP_CLOSE},	  {AF_INET6, IPPROTO_UDP, V6T_TCP_CLOSE},
	};
	struct owners o = {0};
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < sizeof(dumps) / sizeof(dumps[0]); i++) {
		err = sockdiag_dump(netns_fd, dumps[i].family, dumps[i].protocol,
				    1u << dumps[i].state, collect, out);
		if (err && dumps[i].protocol != IPPROTO_MPTCP)
			return err;
	}
	owners_scan(&o);
	for (i = 0; i < out->n; i++) {
		if (owners_find(&o, out->v[i].s.inode, &out->v[i].pid, out->v[i].comm))
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
	free(l->v);
	memset(l, 0, sizeof(*l));
}
