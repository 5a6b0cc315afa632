// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <netinet/in.h>
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
		if (!owners_find(&o, out->v[i].s.inode, &out->v[i].pid, out->v[i].comm))
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
