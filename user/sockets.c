// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include "array.h"
#include "classify.h"
#include "sockets.h"

struct listing {
	enum sockets_listed which;
	diag_cb cb;
	void *ctx;
	/* inodes of the MPTCP sockets listed, sorted once the MPTCP dumps are done */
	struct ARRAY_OF(uint32_t) mptcp_inodes;
};

static int compare_inodes(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool is_mptcp_subflow(const struct listing *l, const struct diag_sock *s)
{
	return s->protocol == IPPROTO_TCP && l->mptcp_inodes.n &&
	       bsearch(&s->inode, l->mptcp_inodes.v, l->mptcp_inodes.n, sizeof(uint32_t),
		       compare_inodes);
}

/* An inet6 socket whose peer is ::ffff:a.b.c.d: a tcp6 connection that carries IPv4. */
static bool peer_mapped(const struct diag_sock *s)
{
	return s->family == AF_INET6 && v6t_addr_is_mapped(s->raddr);
}

static int list_one(const struct diag_sock *s, void *arg)
{
	struct listing *l = arg;
	uint32_t *inode;

	if (s->state == V6T_TCP_ESTABLISHED && !peer_mapped(s) && l->which != SOCKETS_ALL_CONNECTS)
		return 0; /* the tcp6 connections that carry IPv4, unless all are asked for */
	if (s->state == V6T_TCP_CLOSE && s->lport == 0)
		return 0; /* an unbound UDP socket */
	if (is_mptcp_subflow(l, s))
		return 0;
	if (s->protocol == IPPROTO_MPTCP) {
		inode = array_push(&l->mptcp_inodes);
		if (!inode)
			return -ENOMEM;
		*inode = s->inode;
	}
	return l->cb(s, l->ctx);
}

int sockets_list(int netns_fd, enum sockets_listed which, diag_cb cb, void *ctx, int *mptcp_err)
{
	static const struct {
		uint8_t family;
		uint16_t protocol;
		uint8_t state;
	} dumps[] = {
		{AF_INET, IPPROTO_MPTCP, V6T_TCP_LISTEN},
		{AF_INET6, IPPROTO_MPTCP, V6T_TCP_LISTEN},
		{AF_INET6, IPPROTO_MPTCP, V6T_TCP_ESTABLISHED},
		{AF_INET, IPPROTO_TCP, V6T_TCP_LISTEN},
		{AF_INET6, IPPROTO_TCP, V6T_TCP_LISTEN},
		{AF_INET, IPPROTO_UDP, V6T_TCP_CLOSE},
		{AF_INET6, IPPROTO_UDP, V6T_TCP_CLOSE},
		{AF_INET6, IPPROTO_TCP, V6T_TCP_ESTABLISHED},
	};
	struct listing l = {.which = which, .cb = cb, .ctx = ctx};
	bool sorted = false;
	size_t i;
	int err = 0, unused;

	if (!mptcp_err)
		mptcp_err = &unused;
	*mptcp_err = 0;
	for (i = 0; i < sizeof(dumps) / sizeof(dumps[0]); i++) {
		if (dumps[i].state == V6T_TCP_ESTABLISHED && which == SOCKETS_SERVING)
			continue;
		if (dumps[i].protocol != IPPROTO_MPTCP && !sorted) {
			if (l.mptcp_inodes.n) /* qsort(NULL, 0) is undefined */
				qsort(l.mptcp_inodes.v, l.mptcp_inodes.n, sizeof(uint32_t),
				      compare_inodes);
			sorted = true;
		}
		err = sockdiag_dump(netns_fd, dumps[i].family, dumps[i].protocol,
				    1u << dumps[i].state, list_one, &l);
		if (err && err != -ENOTSUP && dumps[i].protocol == IPPROTO_MPTCP) {
			if (!*mptcp_err)
				*mptcp_err = err;
			err = 0;
			continue;
		}
		if (err)
			break;
	}
	array_free(&l.mptcp_inodes);
	return err;
}
