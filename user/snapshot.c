// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "cgroup.h"
#include "classify.h"
#include "clock.h"
#include "containers.h"
#include "netns.h"
#include "snapshot.h"
#include "sockdiag.h"
#include "sockets.h"

struct snapshot_ctx {
	const struct snapshot_request *req;
	struct owners owners; /* the owners the process filters keep */
	bool by_owner;	      /* a process filter is on: a socket needs such an owner */
	int netns_fd;	      /* the namespace listed (--netns); -1: the tracer's */
	uint32_t netns;
	unsigned int count;
};

/*
 * Whether the snapshot lists a socket: the filters the kernel side decides in
 * sock_wanted() (-4/-6, -P, --stack, --mapped), with the same classification,
 * and an owner the process filters (-p, --children, --comm, -u, -c) keep,
 * when one of those is on (owners_scan_wanted() found only those). --netns
 * chose the namespace dumped.
 */
static bool snapshot_wanted(const struct snapshot_ctx *c, const struct v6t_event *e)
{
	const struct options *o = c->req->opts;

	if (o->filter.family && e->family != o->filter.family)
		return false;
	if (o->nports && !v6t_port_listed(o->ports, o->nports, e->lport) &&
	    !(e->rport && v6t_port_listed(o->ports, o->nports, e->rport)))
		return false;
	if (o->filter.stacks && !(o->filter.stacks & (1u << v6t_classify_stack(e))))
		return false;
	if (o->filter.mapped && !v6t_event_mapped(e))
		return false;
	return !c->by_owner || e->pid;
}

/*
 * The one place a row becomes the kernel's record, which the stack rule and
 * the formatters read: a socket record, as the tracer's events print.
 */
static void snapshot_record(const struct snapshot_row *row, struct v6t_event *e)
{
	*e = (struct v6t_event){
		.type = V6T_EVENT_SOCKET,
		.ts_ns = row->ts_ns,
		.netns = row->netns,
		.uid = row->uid,
		.pid = row->pid,
		.family = row->family,
		.protocol = row->protocol,
		.state = row->state,
		.v6only = row->v6only,
		.lport = row->lport,
		.rport = row->rport,
		.ifindex = row->ifindex,
	};
	memcpy(e->comm, row->comm, sizeof(e->comm));
	memcpy(e->laddr, row->laddr, sizeof(e->laddr));
	memcpy(e->raddr, row->raddr, sizeof(e->raddr));
}

static int snapshot_socket(const struct diag_sock *s, void *arg)
{
	struct snapshot_ctx *c = arg;
	const struct snapshot_request *req = c->req;
	struct snapshot_row row = {
		.ts_ns = (uint64_t)monotonic_ns(),
		.netns = c->netns,
		.inode = s->inode,
		.uid = s->uid,
		.family = s->family,
		.protocol = s->protocol,
		.state = s->state,
		.v6only = s->v6only,
		.lport = s->lport,
		.rport = s->rport,
		.ifindex = s->ifindex,
	};
	struct event_info info = {.inode = row.inode};
	char ifname[V6T_IFNAME_LEN], cgroup[CGROUP_PATH_MAX], container[V6T_CONTAINER_ID_LEN + 1];
	struct v6t_event e;

	memcpy(row.laddr, s->laddr, sizeof(row.laddr));
	memcpy(row.raddr, s->raddr, sizeof(row.raddr));
	if (!owners_find(&c->owners, row.inode, &row.pid, row.comm))
		row.pid = 0;
	snapshot_record(&row, &e);
	if (!snapshot_wanted(c, &e))
		return 0;
	if (row.pid && cgroup_path_of_pid(row.pid, cgroup, sizeof(cgroup)) &&
	    container_id_of(cgroup, container)) {
		info.container = container;
		info.names =
			container_info_of(req->containers, container, cgroup, (int64_t)row.ts_ns);
	}
	if (!container_wanted(info.names, req->opts->container, req->opts->pod))
		return 0;
	if (row.ifindex && ifname_in(c->netns_fd, row.ifindex, ifname))
		info.ifname = ifname;
	if (req->opts->json)
		format_event_json(req->out, &e, &info, req->fmt);
	else
		format_event_text(req->out, &e, &info, req->fmt);
	c->count++;
	return 0;
}

/*
 * A kernel without MPTCP (no net.mptcp) has no MPTCP socket to miss; one whose
 * sock_diag cannot list them (no mptcp_diag) has, and the user is told so.
 */
static void warn_mptcp_unlisted(int err)
{
	if (access("/proc/sys/net/mptcp", F_OK))
		return;
	fprintf(stderr, "v6trace: MPTCP sockets are not listed (sock_diag for MPTCP: %s)\n",
		strerror(-err));
}

/*
 * The network namespace --netns names, opened to list its sockets: the path
 * given, or a file of it found by its inode. -1: the tracer's own, or none
 * (then *inode is 0).
 */
static int open_snapshot_netns(const struct snapshot_request *req, uint32_t *inode)
{
	const struct options *o = req->opts;
	int fd;

	*inode = o->filter.by_netns ? o->filter.netns : req->own_netns;
	if (*inode == req->own_netns)
		return -1;
	fd = netns_open_by_inode(o->netns_path, *inode);
	if (fd < 0)
		*inode = 0;
	return fd;
}

/* -c's directory as /proc/PID/cgroup writes it: its path below the cgroup2 mount */
static bool cgroup_path_of(int fd, char *out, size_t len)
{
	char link[64], path[PATH_MAX], mount[256];
	size_t m;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0 || !cgroup2_mount(mount, sizeof(mount)))
		return false;
	path[n] = '\0';
	m = strlen(mount);
	if (strncmp(path, mount, m) || (path[m] && path[m] != '/'))
		return false;
	snprintf(out, len, "%s", path[m] ? path + m : "/");
	return true;
}

/*
 * The process filters, on the sockets' owners; false if -c cannot be told as a
 * path. -- COMMAND is -p COMMAND --children, as for events: a command held
 * until tracing starts has no socket yet.
 */
static bool snapshot_owner_filter(const struct snapshot_request *req, struct owner_filter *f,
				  char cgroup[PATH_MAX])
{
	const struct options *o = req->opts;

	*f = (struct owner_filter){
		.pids = req->cmd_pid ? &req->cmd_pid : o->pids,
		.npids = req->cmd_pid ? 1 : o->npids,
		.children = req->cmd_pid || o->filter.children,
		.comm = o->filter.by_comm ? o->filter.comm : NULL,
		.by_uid = o->filter.by_uid,
		.uid = o->filter.uid,
	};
	if (o->cgroup_fd >= 0) {
		if (!cgroup_path_of(o->cgroup_fd, cgroup, PATH_MAX))
			return false;
		f->cgroup = cgroup;
	}
	return true;
}

/*
 * The sockets that exist now, in the tracer's network namespace or the one of
 * --netns: listening TCP and MPTCP, bound UDP, and established tcp6 and MPTCP
 * over IPv6 with IPv4-mapped peers (all of them with --all-connects), that
 * the filters keep. MPTCP goes first, so that its subflows can be left out of
 * the TCP lists.
 */
int snapshot_print(const struct snapshot_request *req)
{
	struct snapshot_ctx c = {.req = req};
	struct owner_filter owner_filter;
	char cgroup[PATH_MAX];
	int err, mptcp_err;

	if (!snapshot_owner_filter(req, &owner_filter, cgroup)) {
		sb_reset(req->out); /* not even the header */
		fail("cannot list sockets: the path of --cgroup below the cgroup2 mount is unknown");
		return -1;
	}
	c.by_owner = owner_filter.npids || owner_filter.comm || owner_filter.by_uid ||
		     owner_filter.cgroup;
	c.netns_fd = open_snapshot_netns(req, &c.netns);
	if (!c.netns) {
		sb_reset(req->out);
		fail("cannot list the sockets of network namespace %u: no file or process of it "
		     "found",
		     req->opts->filter.netns);
		return -1;
	}
	owners_scan_wanted(&c.owners, c.by_owner ? &owner_filter : NULL);
	err = sockets_list(c.netns_fd,
			   req->opts->filter.all_connects ? SOCKETS_ALL_CONNECTS
							  : SOCKETS_MAPPED_CONNECTS,
			   snapshot_socket, &c, &mptcp_err);
	if (mptcp_err)
		warn_mptcp_unlisted(mptcp_err);
	if (err) {
		sb_reset(req->out);
		if (err == -ENOTSUP)
			fail("cannot list sockets: this v6trace was linked statically without libmnl");
		else
			fail("cannot list sockets (NETLINK_SOCK_DIAG): %s", strerror(-err));
	}
	owners_free(&c.owners);
	if (c.netns_fd >= 0)
		close(c.netns_fd);
	return err ? -1 : 0;
}
