// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "classify.h"
#include "deploy_report.h"

void deploy_report_init(struct deploy_report *r, uint32_t own_netns)
{
	memset(r, 0, sizeof(*r));
	deploy_report_saw(r, own_netns, 0);
	if (r->ns.n)
		r->ns.v[0].own = true;
}

void deploy_report_saw(struct deploy_report *r, uint32_t netns, uint32_t pid)
{
	struct deploy_report_ns *ns;
	size_t i;

	for (i = 0; i < r->ns.n; i++) {
		if (r->ns.v[i].netns == netns)
			return;
	}
	ns = array_push(&r->ns);
	if (!ns)
		return;
	ns->netns = netns;
	ns->via_pid = pid;
}

/* The index where pid is, or would be inserted, in the sorted tree_pids. */
static size_t tree_pid_slot(const struct deploy_report *r, uint32_t pid)
{
	size_t lo = 0, hi = r->tree_pids.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->tree_pids.v[mid] < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool tree_has_pid(const struct deploy_report *r, uint32_t pid)
{
	size_t i = tree_pid_slot(r, pid);

	return i < r->tree_pids.n && r->tree_pids.v[i] == pid;
}

void deploy_report_tree_pid(struct deploy_report *r, uint32_t pid)
{
	size_t i = tree_pid_slot(r, pid);

	uint32_t *slot;

	if (!pid || (i < r->tree_pids.n && r->tree_pids.v[i] == pid))
		return;
	slot = array_insert_max(&r->tree_pids, i, REPORT_MAX_TREE_PIDS);
	if (!slot) {
		r->tree_overflow = true;
		return;
	}
	*slot = pid;
}

/* The order of tree_places (sorted, so that a flood of binds costs a search each, not a scan). */
static int cmp_tree_place(const struct tree_place *a, const struct tree_place *b)
{
	if (a->netns != b->netns)
		return a->netns < b->netns ? -1 : 1;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->udp != b->udp)
		return a->udp ? 1 : -1;
	return memcmp(a->addr, b->addr, 16);
}

static void tree_place_of(struct tree_place *p, uint32_t netns, uint8_t family, uint16_t port,
			  bool udp, const uint8_t addr[16])
{
	memset(p, 0, sizeof(*p));
	p->netns = netns;
	p->family = family;
	p->port = port;
	p->udp = udp;
	memcpy(p->addr, addr, 16);
}

/* The index where p is, or would be inserted, in the sorted places; *found if it is. */
static size_t tree_place_slot(const struct deploy_report *r, const struct tree_place *p,
			      bool *found)
{
	size_t lo = 0, hi = r->places.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_tree_place(&r->places.v[mid], p);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

void deploy_report_tree_event(struct deploy_report *r, const struct v6t_event *e)
{
	bool udp = e->protocol == IPPROTO_UDP, found;
	struct tree_place p, *slot;
	size_t i;

	deploy_report_tree_pid(r, e->pid);
	if (e->ret < 0 || !(e->type == V6T_EVENT_LISTEN || (udp && e->type == V6T_EVENT_BIND)))
		return;
	tree_place_of(&p, e->netns, (uint8_t)e->family, e->lport, udp, e->laddr);
	i = tree_place_slot(r, &p, &found);
	if (found)
		return;
	slot = array_insert_max(&r->places, i, REPORT_MAX_TREE_PLACES);
	if (!slot) {
		r->tree_overflow = true;
		return;
	}
	*slot = p;
}

void deploy_report_failed_bind(struct deploy_report *r, const struct v6t_event *e,
			       enum holder_lookup lookup, const struct holder *holder)
{
	struct failed_bind *f = array_push(&r->failed);

	if (!f)
		return;
	f->e = *e;
	f->lookup = lookup;
	if (holder)
		f->holder = *holder;
}

/* ---- comparing ---------------------------------------------------------- */

static bool port_reported(const struct deploy_report *r, uint16_t port)
{
	return (!r->nwatch || v6t_port_listed(r->watch, r->nwatch, port)) &&
	       !v6t_port_listed(r->ignore, r->nignore, port);
}

static bool is_udp(const struct listener *l)
{
	return l->protocol == IPPROTO_UDP;
}

/* What one socket serves: a v4 one IPv4, a dual-stack [::] both, any other v6 IPv6. */
static uint8_t serves(const struct listener *l)
{
	switch (listener_stack(l)) {
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
		if (ls->v[i].lport == port && is_udp(&ls->v[i]) == udp)
			mask |= serves(&ls->v[i]);
	}
	return mask;
}

/* The same listener before and after: the same address, family and protocol class. */
static bool same_place(const struct listener *a, const struct listener *b)
{
	return a->lport == b->lport && is_udp(a) == is_udp(b) && a->family == b->family &&
	       !memcmp(a->laddr, b->laddr, 16);
}

/*
 * Another owner: the same socket (inode) in another process's hands (a
 * reload, socket activation), or a new socket of another program. A new
 * socket of the same program is a restart: no change.
 */
static bool owner_changed(const struct listener *b, const struct listener *a)
{
	if (a->inode == b->inode)
		return a->pid != b->pid;
	return strncmp(a->comm, b->comm, V6T_COMM_LEN) != 0;
}

/* ---- who made a change ------------------------------------------------- */

/* The owner started after tracing did (the clock ticks of /proc: 10 ms on most kernels). */
static bool started_during_run(const struct deploy_report *r, const struct listener *l)
{
	return l->owner_start > r->run_start;
}

static bool tree_made(const struct deploy_report *r, uint32_t netns, const struct listener *l)
{
	struct tree_place p;
	bool found;

	tree_place_of(&p, netns, (uint8_t)l->family, l->lport, is_udp(l), l->laddr);
	tree_place_slot(r, &p, &found);
	return found;
}

/*
 * Whose a listener is. Before ones were listed before COMMAND ran: never its
 * tree's. An after one is the tree's when the tree listened on (or, UDP, bound)
 * that very address during the run, or when its owner is a process of the tree
 * that started during the run (so that a pid reused since is not taken for it).
 */
static enum change_by listener_by(const struct deploy_report *r, uint32_t netns,
				  const struct listener *l, bool after)
{
	if (r->command && after && tree_made(r, netns, l))
		return BY_COMMAND;
	if (!l->pid)
		return BY_UNKNOWN;
	if (!r->command)
		return BY_OUTSIDE;
	/* COMMAND itself was forked, stopped, before tracing started */
	if (after && (started_during_run(r, l) || !l->owner_start || l->pid == r->command_pid) &&
	    tree_has_pid(r, l->pid))
		return BY_COMMAND;
	if (after && r->tree_overflow && (started_during_run(r, l) || !l->owner_start))
		return BY_UNKNOWN; /* it may be a process of the tree not remembered */
	return BY_OUTSIDE;
}

static bool cgroup_under(const char *cgroup, const char *unit)
{
	size_t len = strlen(unit);

	while (len && unit[len - 1] == '/')
		len--; /* "/a/" is "/a", and "/" (everything) is "" */
	return !strncmp(cgroup, unit, len) && (cgroup[len] == '\0' || cgroup[len] == '/');
}

/*
 * A service restarted during the run: its cgroup, not the root one, holds an
 * after listener whose owner, outside COMMAND's tree, started during the run.
 */
static bool cgroup_restarted(const struct deploy_report *r, const char *cgroup)
{
	size_t n, i;

	if (!strcmp(cgroup, "/"))
		return false;
	for (n = 0; n < r->ns.n; n++) {
		const struct listeners *after = &r->ns.v[n].after;

		for (i = 0; i < after->n; i++) {
			const struct listener *x = &after->v[i];

			if (x->pid && started_during_run(r, x) && !strcmp(x->cgroup, cgroup) &&
			    listener_by(r, r->ns.v[n].netns, x, true) == BY_OUTSIDE)
				return true;
		}
	}
	return false;
}

static enum change_counts listener_counts(const struct deploy_report *r, const struct listener *l,
					  enum change_by by)
{
	size_t i;

	if (!r->command)
		return COUNTS_NO_COMMAND;
	if (by == BY_COMMAND)
		return COUNTS_COMMAND;
	if (by == BY_UNKNOWN || !l->cgroup[0])
		return COUNTS_NOT;
	for (i = 0; i < r->nunits; i++) {
		if (cgroup_under(l->cgroup, r->units[i]))
			return COUNTS_UNIT;
	}
	return cgroup_restarted(r, l->cgroup) ? COUNTS_RESTARTED : COUNTS_NOT;
}

/* How strongly a listener holds a change to the deploy: the reasons first, a known owner next. */
static int blame_rank(enum change_counts counts, enum change_by by)
{
	static const int rank[] = {
		[COUNTS_NOT] = 0,  [COUNTS_NO_COMMAND] = 1, [COUNTS_RESTARTED] = 2,
		[COUNTS_UNIT] = 3, [COUNTS_COMMAND] = 4,
	};

	return rank[counts] * 2 + (by != BY_UNKNOWN);
}

/* Weighs one listener of a change (after ones are offered first: ties keep them). */
static void blame_side(const struct deploy_report *r, struct change *c, const struct listener *l,
		       bool after, int *best)
{
	enum change_by by;
	enum change_counts counts;
	int rank;

	if (!l)
		return;
	by = listener_by(r, c->netns, l, after);
	counts = listener_counts(r, l, by);
	rank = blame_rank(counts, by);
	if (rank <= *best)
		return;
	*best = rank;
	c->by = by;
	c->by_owner = by == BY_UNKNOWN ? NULL : l;
	c->counts = counts;
}

static void blame_start(const struct deploy_report *r, struct change *c, int *best)
{
	*best = -1;
	c->by = BY_UNKNOWN;
	c->by_owner = NULL;
	c->counts = r->command ? COUNTS_NOT : COUNTS_NO_COMMAND;
}

static int add_change(struct deploy_report *r, const struct change *c)
{
	struct change *slot = array_push(&r->changes);

	if (!slot)
		return -ENOMEM;
	*slot = *c;
	if (c->kind == CHANGE_LOST) {
		r->lost++;
		r->lost_counted += c->counts != COUNTS_NOT;
	}
	return 0;
}

/*
 * The listeners of one port and protocol class, matched before to after; a
 * loss or gain of service is blamed on the listeners whose change made it.
 */
static int compare_port(struct deploy_report *r, const struct deploy_report_ns *ns, uint16_t port,
			bool udp)
{
	struct change c = {.netns = ns->netns, .port = port, .udp = udp};
	struct change *moved = calloc(ns->before.n + ns->after.n + 1, sizeof(*moved));
	const struct listener **remade = calloc(ns->after.n + 1, sizeof(*remade));
	bool *matched = calloc(ns->after.n + 1, sizeof(*matched));
	size_t i, j, nmoved = 0, nremade = 0;
	int err = 0, best;

	if (!matched || !moved || !remade) {
		free(matched);
		free(moved);
		free(remade);
		return -ENOMEM;
	}
	c.served_before = served(&ns->before, port, udp);
	c.served_after = served(&ns->after, port, udp);
	for (i = 0; i < ns->before.n; i++) {
		const struct listener *b = &ns->before.v[i];

		if (b->lport != port || is_udp(b) != udp)
			continue;
		c.before = b;
		c.after = NULL;
		for (j = 0; j < ns->after.n && !c.after; j++) {
			if (!matched[j] && same_place(b, &ns->after.v[j])) {
				matched[j] = true;
				c.after = &ns->after.v[j];
			}
		}
		if (!c.after) {
			c.kind = CHANGE_GONE;
		} else if (listener_stack(b) != listener_stack(c.after)) {
			c.kind = CHANGE_STACK;
		} else if (owner_changed(b, c.after)) {
			c.kind = CHANGE_OWNER;
		} else {
			if (c.after->inode != b->inode) /* a restart: no change, a new socket */
				remade[nremade++] = c.after;
			continue;
		}
		moved[nmoved++] = c;
	}
	c.before = NULL;
	c.kind = CHANGE_APPEARED;
	for (j = 0; j < ns->after.n; j++) {
		c.after = &ns->after.v[j];
		if (!matched[j] && c.after->lport == port && is_udp(c.after) == udp)
			moved[nmoved++] = c;
	}
	for (i = 0; i < nmoved; i++) {
		blame_start(r, &moved[i], &best);
		blame_side(r, &moved[i], moved[i].after, true, &best);
		blame_side(r, &moved[i], moved[i].before, false, &best);
	}
	c.before = c.after = NULL;
	blame_start(r, &c, &best);
	/*
	 * A port's service is blamed on its listeners that changed, and on the
	 * sockets made anew in the same place (a restart with the same stack, as
	 * when nginx comes back with only one of its two listeners): whoever
	 * remade the port is who changed what it serves.
	 */
	for (i = 0; i < nmoved; i++)
		blame_side(r, &c, moved[i].after, true, &best);
	for (i = 0; i < nremade; i++)
		blame_side(r, &c, remade[i], true, &best);
	for (i = 0; i < nmoved; i++)
		blame_side(r, &c, moved[i].before, false, &best);
	if (c.served_before & ~c.served_after) {
		c.kind = CHANGE_LOST;
		err = err ?: add_change(r, &c);
	}
	if (c.served_after & ~c.served_before) {
		c.kind = CHANGE_GAINED;
		err = err ?: add_change(r, &c);
	}
	for (i = 0; i < nmoved; i++)
		err = err ?: add_change(r, &moved[i]);
	free(moved);
	free(remade);
	free(matched);
	return err;
}

/* Whether (port, udp) was compared already: it is a listener earlier in the lists. */
static bool seen_before(const struct deploy_report_ns *ns, const struct listener *x)
{
	const struct listeners *lists[2] = {&ns->before, &ns->after};
	size_t k, i;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < lists[k]->n && &lists[k]->v[i] != x; i++) {
			if (lists[k]->v[i].lport == x->lport &&
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

int deploy_report_compare(struct deploy_report *r)
{
	size_t n, i, k;
	int err;

	for (n = 0; n < r->ns.n; n++) {
		const struct deploy_report_ns *ns = &r->ns.v[n];
		const struct listeners *lists[2] = {&ns->before, &ns->after};

		if (ns->after_err || (ns->has_before && ns->before_err))
			continue; /* said as unknown, never compared against nothing */
		for (k = 0; k < 2; k++) {
			for (i = 0; i < lists[k]->n; i++) {
				const struct listener *x = &lists[k]->v[i];

				if (!port_reported(r, x->lport) || seen_before(ns, x))
					continue;
				err = compare_port(r, ns, x->lport, is_udp(x));
				if (err)
					return err;
			}
		}
	}
	if (r->changes.n) /* qsort(NULL, 0) is undefined */
		qsort(r->changes.v, r->changes.n, sizeof(*r->changes.v), by_severity);
	return 0;
}

void deploy_report_free(struct deploy_report *r)
{
	size_t i;

	for (i = 0; i < r->ns.n; i++) {
		listeners_free(&r->ns.v[i].before);
		listeners_free(&r->ns.v[i].after);
	}
	array_free(&r->ns);
	array_free(&r->failed);
	array_free(&r->changes);
	array_free(&r->tree_pids);
	array_free(&r->places);
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

	v6t_addr_string(l->family, l->laddr, addr);
	sb_printf(sb, l->family == AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s", addr, l->lport,
		  is_udp(l)			 ? "udp"
		  : l->protocol == IPPROTO_MPTCP ? "mptcp"
						 : "tcp");
	if (with_stack)
		sb_printf(sb, " %s", v6t_stack_name(listener_stack(l)));
	text_owner(sb, l);
}

static const char *const by_names[] = {
	[BY_UNKNOWN] = "unknown",
	[BY_COMMAND] = "command",
	[BY_OUTSIDE] = "outside",
};

static const char *const counts_names[] = {
	[COUNTS_NOT] = NULL,
	[COUNTS_COMMAND] = "command",
	[COUNTS_UNIT] = "unit",
	[COUNTS_RESTARTED] = "restarted_cgroup",
	[COUNTS_NO_COMMAND] = "no_command",
};

static const char *const counts_text[] = {
	[COUNTS_NOT] = "not counted",
	[COUNTS_COMMAND] = "counts",
	[COUNTS_UNIT] = "counts: in a --unit",
	[COUNTS_RESTARTED] = "counts: its cgroup has a listener started during the run",
	[COUNTS_NO_COMMAND] = "counts: no COMMAND, every change does",
};

/* ", by outside (python3 812, cgroup /): not counted" */
static void text_blame(struct strbuf *sb, const struct change *c)
{
	const struct listener *l = c->by_owner;

	sb_printf(sb, ", by %s (", by_names[c->by]);
	if (l && l->pid) {
		text_comm(sb, l->comm);
		sb_printf(sb, " %u, cgroup ", l->pid);
		if (l->cgroup[0])
			text_escape(sb, l->cgroup, strlen(l->cgroup));
		else
			sb_puts(sb, "unknown");
	} else if (l) {
		sb_puts(sb, "COMMAND's listener, owner unknown");
	} else {
		sb_puts(sb, "owner unknown");
	}
	sb_printf(sb, "): %s", counts_text[c->counts]);
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
		sb_printf(sb, " -> %s", v6t_stack_name(listener_stack(c->after)));
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
	text_blame(sb, c);
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
static void text_namespaces(struct strbuf *sb, const struct deploy_report *r)
{
	size_t i;

	for (i = 0; i < r->ns.n; i++) {
		const struct deploy_report_ns *ns = &r->ns.v[i];

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

void deploy_report_format_text(const struct deploy_report *r, struct strbuf *sb)
{
	size_t i, gained = 0;

	text_namespaces(sb, r);
	for (i = 0; i < r->changes.n; i++) {
		text_change(sb, &r->changes.v[i]);
		gained += r->changes.v[i].kind == CHANGE_GAINED;
	}
	for (i = 0; i < r->failed.n; i++)
		text_failed_bind(sb, &r->failed.v[i]);
	if (!r->changes.n)
		sb_puts(sb, "v6trace:   no change in who serves IPv4 and IPv6\n");
	sb_printf(sb,
		  "v6trace: deploy report: %zu port(s) lost service, %zu gained, %zu listener "
		  "change(s), %zu failed bind(s)\n",
		  r->lost, gained, r->changes.n - r->lost - gained, r->failed.n);
	if (r->lost)
		sb_printf(sb,
			  "v6trace: deploy report: %zu of the %zu loss(es) count for the gate\n",
			  r->lost_counted, r->lost);
}

/* ,"key":"/system.slice/x.service", or null when the owner or its cgroup is unknown */
static void json_cgroup(struct strbuf *sb, const char *key, const struct listener *l)
{
	sb_printf(sb, ",\"%s\":", key);
	if (!l || !l->pid || !l->cgroup[0]) {
		sb_puts(sb, "null");
		return;
	}
	sb_puts(sb, "\"");
	json_escape(sb, l->cgroup, strlen(l->cgroup));
	sb_puts(sb, "\"");
}

static void json_listener(struct strbuf *sb, const char *key, const struct listener *l)
{
	char addr[V6T_ADDR_STRLEN];

	if (!l) {
		sb_printf(sb, ",\"%s\":null", key);
		return;
	}
	v6t_addr_string(l->family, l->laddr, addr);
	sb_printf(sb,
		  ",\"%s\":{\"family\":\"%s\",\"proto\":\"%s\",\"addr\":\"%s\","
		  "\"stack\":\"%s\",\"inode\":%u,\"pid\":",
		  key, v6t_family_name(l->family), v6t_proto_name(l->protocol), addr,
		  v6t_stack_name(listener_stack(l)), l->inode);
	if (l->pid) {
		sb_printf(sb, "%u", l->pid);
		json_comm(sb, "comm", l->comm);
	} else {
		sb_puts(sb, "null,\"comm\":null");
	}
	json_cgroup(sb, "cgroup", l);
	sb_puts(sb, "}");
}

/* "by", "by_pid", "by_comm", "by_cgroup", "counts", "counts_why" of a change */
static void json_blame(struct strbuf *sb, const struct change *c)
{
	const struct listener *l = c->by_owner;

	sb_printf(sb, ",\"by\":\"%s\",\"by_pid\":", by_names[c->by]);
	if (l && l->pid) {
		sb_printf(sb, "%u", l->pid);
		json_comm(sb, "by_comm", l->comm);
	} else {
		sb_puts(sb, "null,\"by_comm\":null");
	}
	json_cgroup(sb, "by_cgroup", l);
	sb_printf(sb, ",\"counts\":%s,\"counts_why\":", c->counts ? "true" : "false");
	if (counts_names[c->counts])
		sb_printf(sb, "\"%s\"", counts_names[c->counts]);
	else
		sb_puts(sb, "null");
}

/*
 * The namespaces the closing record lists, at most: each takes up to 55 bytes,
 * so the record stays within one 64 KiB syslog datagram however many
 * namespaces the run reached; the rest are counted (namespaces_unlisted).
 */
#define REPORT_NS_LISTED 1000

static void json_closing_record(const struct deploy_report *r, struct strbuf *sb,
				int64_t realtime_ns, bool gate, size_t gained);

void deploy_report_format_json(const struct deploy_report *r, struct strbuf *sb,
			       int64_t realtime_ns, bool gate)
{
	size_t i, gained = 0;

	for (i = 0; i < r->changes.n; i++) {
		const struct change *c = &r->changes.v[i];

		gained += c->kind == CHANGE_GAINED;
		json_record_head(sb, realtime_ns, "change");
		sb_printf(sb,
			  ",\"kind\":\"%s\",\"netns\":%u,\"proto\":\"%s\",\"port\":%u,"
			  "\"served_before\":\"%s\",\"served_after\":\"%s\"",
			  kind_names[c->kind], c->netns, c->udp ? "udp" : "tcp", c->port,
			  served_name(c->served_before), served_name(c->served_after));
		json_listener(sb, "before", c->before);
		json_listener(sb, "after", c->after);
		json_blame(sb, c);
		sb_puts(sb, "}\n");
	}
	json_closing_record(r, sb, realtime_ns, gate, gained);
}

/*
 * The record that closes the deploy report (its key is "report"): the
 * namespaces compared, the totals, and the gate's verdict.
 */
static void json_closing_record(const struct deploy_report *r, struct strbuf *sb,
				int64_t realtime_ns, bool gate, size_t gained)
{
	size_t i;

	json_record_head(sb, realtime_ns, "report");
	sb_puts(sb, ",\"namespaces\":[");
	for (i = 0; i < r->ns.n && i < REPORT_NS_LISTED; i++) {
		const struct deploy_report_ns *ns = &r->ns.v[i];
		const char *known = ns->after_err || (ns->has_before && ns->before_err) ? "unknown"
				    : ns->has_before					? "compared"
											: "new";

		sb_printf(sb, "%s{\"netns\":%u,\"own\":%s,\"state\":\"%s\"}", i ? "," : "",
			  ns->netns, ns->own ? "true" : "false", known);
	}
	sb_puts(sb, "]");
	if (r->ns.n > REPORT_NS_LISTED)
		sb_printf(sb, ",\"namespaces_unlisted\":%zu", r->ns.n - REPORT_NS_LISTED);
	sb_printf(sb,
		  ",\"lost\":%zu,\"lost_counted\":%zu,\"gained\":%zu,\"changes\":%zu,"
		  "\"failed_binds\":%zu,\"gate\":%s}\n",
		  r->lost, r->lost_counted, gained, r->changes.n, r->failed.n,
		  !gate		    ? "null"
		  : r->lost_counted ? "\"failed\""
				    : "\"passed\"");
}
