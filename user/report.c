// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "classify.h"
#include "report.h"

void report_init(struct report *r, uint32_t own_netns)
{
	memset(r, 0, sizeof(*r));
	report_saw(r, own_netns, 0);
	if (r->ns)
		r->ns[0].own = true;
}

void report_saw(struct report *r, uint32_t netns, uint32_t pid)
{
	struct report_ns *grown;
	size_t i;

	for (i = 0; i < r->nns; i++) {
		if (r->ns[i].netns == netns)
			return;
	}
	grown = reallocarray(r->ns, r->nns + 1, sizeof(*grown));
	if (!grown)
		return;
	r->ns = grown;
	memset(&r->ns[r->nns], 0, sizeof(r->ns[0]));
	r->ns[r->nns].netns = netns;
	r->ns[r->nns++].via_pid = pid;
}

void report_failed_bind(struct report *r, const struct v6t_event *e, enum holder_lookup lookup,
			const struct holder *holder)
{
	struct failed_bind *f;

	if (r->nfailed == r->capfailed) {
		size_t cap = r->capfailed ? r->capfailed * 2 : 16;
		struct failed_bind *grown = reallocarray(r->failed, cap, sizeof(*grown));

		if (!grown)
			return;
		r->failed = grown;
		r->capfailed = cap;
	}
	f = &r->failed[r->nfailed++];
	memset(f, 0, sizeof(*f));
	f->e = *e;
	f->lookup = lookup;
	if (holder)
		f->holder = *holder;
}

/* ---- comparing ---------------------------------------------------------- */

static bool port_reported(const struct report *r, uint16_t port)
{
	return (!r->nwatch || v6t_port_listed(r->watch, r->nwatch, port)) &&
	       !v6t_port_listed(r->ignore, r->nignore, port);
}

static bool is_udp(const struct listener *l)
{
	return l->s.e.protocol == IPPROTO_UDP;
}

/* What one socket serves: a v4 one IPv4, a dual-stack [::] both, any other v6 IPv6. */
static uint8_t serves(const struct listener *l)
{
	switch (v6t_classify_stack(&l->s.e)) {
	case V6T_STACK_V4:
		return SERVES_V4;
	case V6T_STACK_DUAL:
		return SERVES_V4 | SERVES_V6;
	default:
		return SERVES_V6;
	}
}

static uint8_t served(const struct listeners *ls, uint16_t port, bool udp)
{
	uint8_t mask = 0;
	size_t i;

	for (i = 0; i < ls->n; i++) {
		if (ls->v[i].s.e.lport == port && is_udp(&ls->v[i]) == udp)
			mask |= serves(&ls->v[i]);
	}
	return mask;
}

/* The same listener before and after: the same address, family and protocol class. */
static bool same_place(const struct listener *a, const struct listener *b)
{
	return a->s.e.lport == b->s.e.lport && is_udp(a) == is_udp(b) &&
	       a->s.e.family == b->s.e.family && !memcmp(a->s.e.laddr, b->s.e.laddr, 16);
}

/*
 * Another owner: the same socket (inode) in another process's hands (a
 * reload, socket activation), or a new socket of another program. A new
 * socket of the same program is a restart: no change.
 */
static bool owner_changed(const struct listener *b, const struct listener *a)
{
	if (a->s.inode == b->s.inode)
		return a->pid != b->pid;
	return strncmp(a->comm, b->comm, V6T_COMM_LEN) != 0;
}

static int add_change(struct report *r, const struct change *c)
{
	struct change *grown = reallocarray(r->changes, r->nchanges + 1, sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	r->changes = grown;
	r->changes[r->nchanges++] = *c;
	if (c->kind == CHANGE_LOST)
		r->lost++;
	return 0;
}

/* The listeners of one port and protocol class, matched before to after. */
static int compare_port(struct report *r, const struct report_ns *ns, uint16_t port, bool udp)
{
	struct change c = {.netns = ns->netns, .port = port, .udp = udp};
	bool *matched = calloc(ns->after.n + 1, sizeof(*matched));
	size_t i, j;
	int err = 0;

	if (!matched)
		return -ENOMEM;
	c.served_before = served(&ns->before, port, udp);
	c.served_after = served(&ns->after, port, udp);
	if (c.served_before & ~c.served_after) {
		c.kind = CHANGE_LOST;
		err = err ?: add_change(r, &c);
	}
	if (c.served_after & ~c.served_before) {
		c.kind = CHANGE_GAINED;
		err = err ?: add_change(r, &c);
	}
	for (i = 0; i < ns->before.n; i++) {
		const struct listener *b = &ns->before.v[i];

		if (b->s.e.lport != port || is_udp(b) != udp)
			continue;
		c.before = b;
		c.after = NULL;
		for (j = 0; j < ns->after.n && !c.after; j++) {
			if (!matched[j] && same_place(b, &ns->after.v[j])) {
				matched[j] = true;
				c.after = &ns->after.v[j];
			}
		}
		if (!c.after)
			c.kind = CHANGE_GONE;
		else if (v6t_classify_stack(&b->s.e) != v6t_classify_stack(&c.after->s.e))
			c.kind = CHANGE_STACK;
		else if (owner_changed(b, c.after))
			c.kind = CHANGE_OWNER;
		else
			continue;
		err = err ?: add_change(r, &c);
	}
	c.before = NULL;
	c.kind = CHANGE_APPEARED;
	for (j = 0; j < ns->after.n; j++) {
		c.after = &ns->after.v[j];
		if (!matched[j] && c.after->s.e.lport == port && is_udp(c.after) == udp)
			err = err ?: add_change(r, &c);
	}
	free(matched);
	return err;
}

/* Whether (port, udp) was compared already: it is a listener earlier in the lists. */
static bool seen_before(const struct report_ns *ns, const struct listener *x)
{
	const struct listeners *lists[2] = {&ns->before, &ns->after};
	size_t k, i;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < lists[k]->n && &lists[k]->v[i] != x; i++) {
			if (lists[k]->v[i].s.e.lport == x->s.e.lport &&
			    is_udp(&lists[k]->v[i]) == is_udp(x))
				return true;
		}
		if (i < lists[k]->n)
			return false; /* x is in this list: the rest come after it */
	}
	return false;
}

static int by_severity(const void *a, const void *b)
{
	const struct change *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return 0;
}

int report_compare(struct report *r)
{
	size_t n, i, k;
	int err;

	for (n = 0; n < r->nns; n++) {
		const struct report_ns *ns = &r->ns[n];
		const struct listeners *lists[2] = {&ns->before, &ns->after};

		if (ns->after_err || (ns->has_before && ns->before_err))
			continue; /* said as unknown, never compared against nothing */
		for (k = 0; k < 2; k++) {
			for (i = 0; i < lists[k]->n; i++) {
				const struct listener *x = &lists[k]->v[i];

				if (!port_reported(r, x->s.e.lport) || seen_before(ns, x))
					continue;
				err = compare_port(r, ns, x->s.e.lport, is_udp(x));
				if (err)
					return err;
			}
		}
	}
	if (r->nchanges) /* qsort(NULL, 0) is undefined */
		qsort(r->changes, r->nchanges, sizeof(*r->changes), by_severity);
	return 0;
}

void report_free(struct report *r)
{
	size_t i;

	for (i = 0; i < r->nns; i++) {
		listeners_free(&r->ns[i].before);
		listeners_free(&r->ns[i].after);
	}
	free(r->ns);
	free(r->failed);
	free(r->changes);
	memset(r, 0, sizeof(*r));
}

/* ---- writing ------------------------------------------------------------ */

static const char *served_name(uint8_t mask)
{
	switch (mask) {
	case SERVES_V4:
		return "v4";
	case SERVES_V6:
		return "v6";
	case SERVES_V4 | SERVES_V6:
		return "dual";
	default:
		return "none";
	}
}

/* "IPv4", "IPv6" or "IPv4 and IPv6": what a port lost or gained */
static const char *versions_name(uint8_t mask)
{
	return mask == SERVES_V4 ? "IPv4" : mask == SERVES_V6 ? "IPv6" : "IPv4 and IPv6";
}

static const char *const kind_names[] = {
	[CHANGE_LOST] = "lost",	  [CHANGE_STACK] = "stack",   [CHANGE_GONE] = "gone",
	[CHANGE_OWNER] = "owner", [CHANGE_GAINED] = "gained", [CHANGE_APPEARED] = "new",
};

/* " (nginx 812)", or " (owner unknown)" */
static void text_owner(struct strbuf *sb, const struct listener *l)
{
	if (!l->pid) {
		sb_puts(sb, " (owner unknown)");
		return;
	}
	sb_puts(sb, " (");
	text_comm(sb, l->comm);
	sb_printf(sb, " %u)", l->pid);
}

/* "[::]:80/tcp dual (nginx 812)" */
static void text_listener(struct strbuf *sb, const struct listener *l, bool with_stack)
{
	char addr[V6T_ADDR_STRLEN];

	v6t_addr_string(l->s.e.family, l->s.e.laddr, addr);
	sb_printf(sb, l->s.e.family == AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s", addr, l->s.e.lport,
		  is_udp(l)			     ? "udp"
		  : l->s.e.protocol == IPPROTO_MPTCP ? "mptcp"
						     : "tcp");
	if (with_stack)
		sb_printf(sb, " %s", v6t_stack_name(v6t_classify_stack(&l->s.e)));
	text_owner(sb, l);
}

static void text_change(struct strbuf *sb, const struct change *c)
{
	sb_printf(sb, "v6trace:   %-6s ", c->kind == CHANGE_LOST ? "LOST" : kind_names[c->kind]);
	switch (c->kind) {
	case CHANGE_LOST:
	case CHANGE_GAINED:
		sb_printf(sb, "%s on %u/%s (%s -> %s)",
			  versions_name(c->kind == CHANGE_LOST
						? c->served_before & ~c->served_after
						: c->served_after & ~c->served_before),
			  c->port, c->udp ? "udp" : "tcp", served_name(c->served_before),
			  served_name(c->served_after));
		break;
	case CHANGE_STACK:
		text_listener(sb, c->before, true);
		sb_printf(sb, " -> %s", v6t_stack_name(v6t_classify_stack(&c->after->s.e)));
		break;
	case CHANGE_OWNER:
		text_listener(sb, c->before, true);
		sb_puts(sb, " ->");
		text_owner(sb, c->after);
		break;
	case CHANGE_GONE:
		text_listener(sb, c->before, true);
		break;
	case CHANGE_APPEARED:
		text_listener(sb, c->after, true);
		break;
	}
	sb_puts(sb, "\n");
}

static void text_failed_bind(struct strbuf *sb, const struct failed_bind *f)
{
	char addr[V6T_ADDR_STRLEN], err[24];

	v6t_addr_string(f->e.family, f->e.laddr, addr);
	sb_printf(sb,
		  f->e.family == AF_INET6 ? "v6trace:   failed bind [%s]:%u/%s "
					  : "v6trace:   failed bind %s:%u/%s ",
		  addr, f->e.lport, v6t_proto_name(f->e.protocol));
	sb_printf(sb, "%s by ", v6t_errno_name(-f->e.ret, err, sizeof(err)));
	text_comm(sb, f->e.comm);
	sb_printf(sb, " %u", f->e.pid);
	if (f->lookup == HOLDER_FOUND && f->holder.pid) {
		sb_puts(sb, ", held by ");
		text_comm(sb, f->holder.comm);
		sb_printf(sb, " %u", f->holder.pid);
	} else if (f->lookup) {
		sb_printf(sb, ", holder: %s", v6t_holder_lookup_name(f->lookup));
	}
	sb_puts(sb, "\n");
}

/* Which namespaces the report covers, and what is not known of them. */
static void text_namespaces(struct strbuf *sb, const struct report *r)
{
	size_t i;

	for (i = 0; i < r->nns; i++) {
		const struct report_ns *ns = &r->ns[i];

		sb_printf(sb, "v6trace: deploy report, network namespace %u", ns->netns);
		if (ns->own)
			sb_puts(sb, " (v6trace's)");
		else
			sb_printf(sb, " (of pid %u)", ns->via_pid);
		if (ns->after_err)
			sb_printf(sb, ": unknown, its sockets could not be listed at the end (%s)",
				  strerror(-ns->after_err));
		else if (ns->has_before && ns->before_err)
			sb_printf(sb,
				  ": unknown, its sockets could not be listed at the start (%s)",
				  strerror(-ns->before_err));
		else if (!ns->has_before)
			sb_puts(sb, ": first seen during the run, every listener in it is new");
		sb_puts(sb, "\n");
	}
}

void report_format_text(const struct report *r, struct strbuf *sb)
{
	size_t i, gained = 0;

	text_namespaces(sb, r);
	for (i = 0; i < r->nchanges; i++) {
		text_change(sb, &r->changes[i]);
		gained += r->changes[i].kind == CHANGE_GAINED;
	}
	for (i = 0; i < r->nfailed; i++)
		text_failed_bind(sb, &r->failed[i]);
	if (!r->nchanges)
		sb_puts(sb, "v6trace:   no change in who serves IPv4 and IPv6\n");
	sb_printf(sb,
		  "v6trace: deploy report: %zu port(s) lost service, %zu gained, %zu listener "
		  "change(s), %zu failed bind(s)\n",
		  r->lost, gained, r->nchanges - r->lost - gained, r->nfailed);
}

static void json_listener(struct strbuf *sb, const char *key, const struct listener *l)
{
	char addr[V6T_ADDR_STRLEN];

	if (!l) {
		sb_printf(sb, ",\"%s\":null", key);
		return;
	}
	v6t_addr_string(l->s.e.family, l->s.e.laddr, addr);
	sb_printf(sb,
		  ",\"%s\":{\"family\":\"%s\",\"proto\":\"%s\",\"addr\":\"%s\","
		  "\"stack\":\"%s\",\"inode\":%u,\"pid\":",
		  key, v6t_family_name(l->s.e.family), v6t_proto_name(l->s.e.protocol), addr,
		  v6t_stack_name(v6t_classify_stack(&l->s.e)), l->s.inode);
	if (l->pid) {
		sb_printf(sb, "%u", l->pid);
		json_comm(sb, "comm", l->comm);
	} else {
		sb_puts(sb, "null,\"comm\":null");
	}
	sb_puts(sb, "}");
}

void report_format_json(const struct report *r, struct strbuf *sb, int64_t realtime_ns, bool gate)
{
	size_t i, gained = 0;

	for (i = 0; i < r->nchanges; i++) {
		const struct change *c = &r->changes[i];

		gained += c->kind == CHANGE_GAINED;
		json_record_head(sb, realtime_ns, "change");
		sb_printf(sb,
			  ",\"kind\":\"%s\",\"netns\":%u,\"proto\":\"%s\",\"port\":%u,"
			  "\"served_before\":\"%s\",\"served_after\":\"%s\"",
			  kind_names[c->kind], c->netns, c->udp ? "udp" : "tcp", c->port,
			  served_name(c->served_before), served_name(c->served_after));
		json_listener(sb, "before", c->before);
		json_listener(sb, "after", c->after);
		sb_puts(sb, "}\n");
	}
	json_record_head(sb, realtime_ns, "report");
	sb_puts(sb, ",\"namespaces\":[");
	for (i = 0; i < r->nns; i++) {
		const struct report_ns *ns = &r->ns[i];
		const char *known = ns->after_err || (ns->has_before && ns->before_err) ? "unknown"
				    : ns->has_before					? "compared"
											: "new";

		sb_printf(sb, "%s{\"netns\":%u,\"own\":%s,\"state\":\"%s\"}", i ? "," : "",
			  ns->netns, ns->own ? "true" : "false", known);
	}
	sb_printf(sb,
		  "],\"lost\":%zu,\"gained\":%zu,\"changes\":%zu,\"failed_binds\":%zu,"
		  "\"gate\":%s}\n",
		  r->lost, gained, r->nchanges, r->nfailed,
		  !gate	    ? "null"
		  : r->lost ? "\"failed\""
			    : "\"passed\"");
}
