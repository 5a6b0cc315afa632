// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include "classify.h"
#include "clock.h"
#include "holders.h"
#include "netns.h"
#include "sockdiag.h"

/* Whether two local addresses of one port overlap (either is a wildcard, or equal). */
static bool addresses_overlap(uint16_t fa, const uint8_t a[16], uint16_t fb, const uint8_t b[16])
{
	uint8_t a4[16] = {0}, b4[16] = {0};

	if (v6t_addr_is_wildcard(fa, a) || v6t_addr_is_wildcard(fb, b))
		return true;
	/* compare as IPv4 when one side is inet and the other ::ffff:a.b.c.d */
	memcpy(a4, fa == AF_INET6 && v6t_addr_is_mapped(a) ? a + 12 : a, fa == AF_INET ? 4 : 16);
	memcpy(b4, fb == AF_INET6 && v6t_addr_is_mapped(b) ? b + 12 : b, fb == AF_INET ? 4 : 16);
	return !memcmp(a4, b4, sizeof(a4));
}

/* How well a socket explains a failed bind of its port; 0: not at all, BEST_SCORE: fully. */
#define BEST_SCORE 4
static int holder_score(const struct diag_sock *s, const struct refused_bind *failed)
{
	if (s->lport != failed->port)
		return 0;
	return 1 + (addresses_overlap(s->family, s->laddr, failed->family, failed->addr) ? 2 : 0) +
	       (s->state == V6T_TCP_LISTEN || s->state == V6T_TCP_CLOSE ? 1 : 0);
}

/*
 * An MPTCP socket holds its port through its TCP subflow, which sock_diag
 * lists with TCP under the MPTCP socket's inode: one TCP lookup finds the
 * holder of a port whichever of the two the holder and the loser are.
 */
static uint16_t holding_protocol(uint16_t protocol)
{
	if (protocol == IPPROTO_MPTCP)
		return IPPROTO_TCP;
	return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP ? protocol : 0;
}

/* The sockets of one protocol on the ports asked about, sorted by port. */
struct port_sockets {
	const uint8_t *wanted; /* bitmap of the ports asked about */
	const uint16_t *range; /* the lowest and highest of them */
	struct diag_sock *v;
	size_t n, cap;
};

static bool port_wanted(const uint8_t *wanted, uint16_t port)
{
	return wanted[port / 8] & (1u << (port % 8));
}

static int collect_socket(const struct diag_sock *s, void *ctx)
{
	struct port_sockets *ps = ctx;

	if (!port_wanted(ps->wanted, s->lport))
		return 0;
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 256;
		struct diag_sock *grown = reallocarray(ps->v, cap, sizeof(*grown));

		if (!grown)
			return 1; /* out of memory: what was collected still answers */
		ps->v = grown;
		ps->cap = cap;
	}
	ps->v[ps->n++] = *s;
	return 0;
}

static int by_port(const void *a, const void *b)
{
	uint16_t x = ((const struct diag_sock *)a)->lport;
	uint16_t y = ((const struct diag_sock *)b)->lport;

	return x < y ? -1 : x > y;
}

/*
 * Both families: a dual-stack [::]:P holds 0.0.0.0:P, and the other way
 * round. false if sock_diag could not be asked (no inet_diag, a static build).
 */
static bool collect_protocol(struct mnl_socket *nl, uint16_t protocol, uint32_t states,
			     struct port_sockets *ps)
{
	bool ok = nl &&
		  !sockdiag_dump_on(nl, AF_INET, protocol, states, ps->range, collect_socket, ps);

	ok = nl &&
	     !sockdiag_dump_on(nl, AF_INET6, protocol, states, ps->range, collect_socket, ps) && ok;
	if (ps->n)
		qsort(ps->v, ps->n, sizeof(*ps->v), by_port);
	return ok;
}

/* The best holder among the sockets of the failed bind's port; NULL: none. */
static const struct diag_sock *best_holder(const struct port_sockets *ps,
					   const struct refused_bind *failed)
{
	struct diag_sock key = {.lport = failed->port};
	const struct diag_sock *s, *best = NULL, *end = ps->v + ps->n;
	int best_score = 0, score;

	if (!ps->n)
		return NULL;
	s = bsearch(&key, ps->v, ps->n, sizeof(*ps->v), by_port);
	if (!s)
		return NULL;
	while (s > ps->v && s[-1].lport == failed->port)
		s--;
	for (; s < end && s->lport == failed->port; s++) {
		score = holder_score(s, failed);
		if (score > best_score) {
			best = s;
			best_score = score;
		}
	}
	return best;
}

/* A question's answers, before they are computed: nothing is left from an earlier one. */
static void reset_answers(struct holder_query *q)
{
	q->found = q->unknown = q->ifname_found = false;
	memset(&q->holder, 0, sizeof(q->holder));
	memset(q->ifname, 0, sizeof(q->ifname));
	q->inode = 0;
}

/*
 * The holders of the questions g[0..m) (all of the namespace of netns_fd),
 * their owners named from o, a scan of /proc made before the dumps: the
 * socket that made a bind fail existed when it failed, before the scan.
 */
static void holders_in(int netns_fd, struct holder_query **g, size_t m, const struct owners *o)
{
	struct port_sockets tcp = {0}, udp = {0}, tcp_all = {0};
	bool any_tcp = false, any_udp = false, tcp_ok = true, udp_ok = true;
	bool all_dumped = false, all_ok = true;
	uint8_t *wanted = calloc(65536 / 8, 1);
	uint16_t range[2] = {0, 0};
	struct mnl_socket *nl;
	size_t i;

	for (i = 0; i < m; i++) {
		uint16_t proto = holding_protocol(g[i]->failed.protocol);

		if (!g[i]->want_holder)
			continue;
		if (!wanted) {
			g[i]->unknown = true;
			continue;
		}
		wanted[g[i]->failed.port / 8] |= (uint8_t)(1u << (g[i]->failed.port % 8));
		if (!any_tcp && !any_udp) /* the first */
			range[0] = range[1] = g[i]->failed.port;
		range[0] = g[i]->failed.port < range[0] ? g[i]->failed.port : range[0];
		range[1] = g[i]->failed.port > range[1] ? g[i]->failed.port : range[1];
		any_tcp |= proto == IPPROTO_TCP;
		any_udp |= proto == IPPROTO_UDP;
	}
	if (!wanted)
		return;
	tcp.wanted = udp.wanted = tcp_all.wanted = wanted;
	tcp.range = udp.range = tcp_all.range = range;
	/* one sock_diag socket, made in the namespace once, for every dump of it */
	nl = any_tcp || any_udp ? sockdiag_open(netns_fd) : NULL;
	/*
	 * Listeners first: a dump of listening sockets walks only the listening
	 * hash; one of every state walks the whole established hash, which every
	 * namespace shares (tens of thousands of buckets, milliseconds a dump).
	 */
	if (any_tcp)
		tcp_ok = collect_protocol(nl, IPPROTO_TCP, 1u << V6T_TCP_LISTEN, &tcp);
	if (any_udp)
		udp_ok = collect_protocol(nl, IPPROTO_UDP, ~0u, &udp);
	for (i = 0; i < m; i++) {
		struct holder_query *q = g[i];
		uint16_t proto = holding_protocol(q->failed.protocol);
		const struct diag_sock *best;

		if (!q->want_holder || !proto)
			continue;
		best = best_holder(proto == IPPROTO_TCP ? &tcp : &udp, &q->failed);
		if (proto == IPPROTO_TCP &&
		    (!best || holder_score(best, &q->failed) < BEST_SCORE)) {
			/* not a listener that explains it at best: every state, once */
			if (!all_dumped)
				all_ok = collect_protocol(nl, IPPROTO_TCP, ~0u, &tcp_all);
			all_dumped = true;
			best = best_holder(&tcp_all, &q->failed);
			if (!best) {
				q->unknown = !all_ok;
				continue;
			}
		}
		if (!best) {
			q->unknown = !(proto == IPPROTO_TCP ? tcp_ok : udp_ok);
			continue;
		}
		q->holder.family = best->family;
		memcpy(q->holder.addr, best->laddr, sizeof(q->holder.addr));
		q->holder.port = best->lport;
		q->holder.v6only = best->v6only;
		q->inode = best->inode;
		q->found = true;
		if (!owners_find(o, q->inode, &q->holder.pid, q->holder.comm))
			q->holder.pid = 0;
	}
	if (nl)
		sockdiag_close(nl);
	free(tcp_all.v);
	free(tcp.v);
	free(udp.v);
	free(wanted);
}

/* The questions of one network namespace, and whose turn it is. */
struct ns_group {
	uint32_t netns, uid; /* the uid of its first question */
	size_t first;	     /* index of its first question: arrival order */
	size_t turn;	     /* how many groups of the same uid come before it */
	size_t start, m;     /* its questions: which[start .. start + m) */
};

static int by_uid_then_arrival(const void *a, const void *b)
{
	const struct ns_group *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

static int by_turn_then_arrival(const void *a, const void *b)
{
	const struct ns_group *x = a, *y = b;

	if (x->turn != y->turn)
		return x->turn < y->turn ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

static int by_netns_then_index(const void *a, const void *b, void *arg)
{
	const struct holder_query *q = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (q[i].failed.netns != q[j].failed.netns)
		return q[i].failed.netns < q[j].failed.netns ? -1 : 1;
	return i < j ? -1 : i > j;
}

/*
 * The questions grouped by namespace, the groups in turns by uid: a uid's
 * first namespace, then every uid's second, and so on. which[] holds the
 * indexes of q by group. The number of groups; 0 when out of memory.
 */
static size_t group_by_netns(const struct holder_query *q, size_t n, size_t *which,
			     struct ns_group **out)
{
	struct ns_group *g;
	size_t i, ng = 0;

	for (i = 0; i < n; i++)
		which[i] = i;
	qsort_r(which, n, sizeof(*which), by_netns_then_index, (void *)q);
	g = calloc(n ? n : 1, sizeof(*g));
	if (!g)
		return 0;
	for (i = 0; i < n; i++) {
		const struct refused_bind *e = &q[which[i]].failed;

		if (ng && g[ng - 1].netns == e->netns) {
			g[ng - 1].m++;
			if (which[i] < g[ng - 1].first) /* never: sorted by index within */
				g[ng - 1].first = which[i];
			continue;
		}
		g[ng++] = (struct ns_group){
			.netns = e->netns, .uid = e->uid, .first = which[i], .start = i, .m = 1};
	}
	qsort(g, ng, sizeof(*g), by_uid_then_arrival);
	for (i = 1; i < ng; i++)
		g[i].turn = g[i].uid == g[i - 1].uid ? g[i - 1].turn + 1 : 0;
	qsort(g, ng, sizeof(*g), by_turn_then_arrival);
	*out = g;
	return ng;
}

/*
 * The namespace of a group, entered through any process of the batch still
 * in it, else through the one the scan of /proc saw there: -1 with *entered
 * false when none is left.
 */
static int enter_group(const struct holder_query *q, const size_t *which, size_t m,
		       const struct owners *o, bool scanned, bool *entered)
{
	uint32_t netns = q[which[0]].failed.netns, pid;
	size_t i;
	int fd;

	*entered = true;
	for (i = 0; i < m; i++) {
		if (i && q[which[i]].failed.pid == q[which[i - 1]].failed.pid)
			continue;
		fd = netns_open_of_pid(q[which[i]].failed.pid, q[which[i]].failed.netns);
		if (fd >= 0)
			return fd;
	}
	pid = scanned ? owners_netns_pid(o, netns) : 0;
	fd = pid ? netns_open_of_pid(pid, netns) : -1;
	*entered = fd >= 0;
	return fd;
}

size_t find_holders_of(struct holder_query *q, size_t n, uint32_t own_netns, int64_t budget_ns,
		       holders_answered done, void *ctx)
{
	size_t *which = calloc(n ? n : 1, sizeof(*which)), answered = 0, i, k, ng = 0;
	struct holder_query **g = calloc(n ? n : 1, sizeof(*g));
	int64_t until = budget_ns ? monotonic_ns() + budget_ns : 0;
	struct ns_group *groups = NULL;
	struct owners o = {0};
	bool scanned = false, any_holder = false;

	for (i = 0; i < n; i++) {
		reset_answers(&q[i]);
		any_holder |= q[i].want_holder;
	}
	if (which && g)
		ng = group_by_netns(q, n, which, &groups);
	if (n && !ng) { /* out of memory: nothing is known */
		for (i = 0; i < n; i++) {
			q[i].unknown = true;
			if (done)
				done(q, &i, 1, ctx);
		}
		answered = n;
		goto out;
	}
	/* one scan of /proc for the whole batch: owners, and a way into each namespace */
	if (any_holder) {
		owners_scan_netns(&o);
		scanned = true;
	}
	for (k = 0; k < ng; k++) {
		const size_t *w = which + groups[k].start;
		size_t m = groups[k].m;
		bool entered = true;
		int fd = -1;

		if (k && until && monotonic_ns() >= until)
			break; /* the rest waits for the next batch, behind nobody */
		if (groups[k].netns != own_netns) {
			fd = enter_group(q, w, m, &o, scanned, &entered);
			if (!entered && !scanned) { /* interface names only: scan once, now */
				owners_scan_netns(&o);
				scanned = true;
				fd = enter_group(q, w, m, &o, scanned, &entered);
			}
		}
		for (i = 0; i < m; i++) {
			struct holder_query *x = &q[w[i]];

			g[i] = x;
			x->unknown = !entered && x->want_holder;
			if (entered && x->want_ifname)
				x->ifname_found = ifname_in(fd, x->failed.ifindex, x->ifname);
		}
		if (entered)
			holders_in(fd, g, m, &o);
		if (fd >= 0)
			close(fd);
		answered += m;
		if (done)
			done(q, w, m, ctx);
	}
out:
	if (scanned)
		owners_free(&o);
	free(groups);
	free(which);
	free(g);
	return answered;
}
