// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <cap-ng.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#ifndef V6T_NO_SOCKDIAG
#include <libmnl/libmnl.h>
#endif
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include "classify.h"
#include "sockdiag.h"

/* A socket of the namespace of netns_fd (-1: ours): entered only to create it. */
static int socket_in(int netns_fd, int domain, int type, int protocol)
{
	int self = -1, fd, err;

	if (netns_fd >= 0) {
		self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self < 0 || setns(netns_fd, CLONE_NEWNET)) {
			err = errno;
			if (self >= 0)
				close(self);
			errno = err;
			return -1;
		}
	}
	fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	err = errno;
	if (self >= 0) {
		if (setns(self, CLONE_NEWNET)) { /* cannot happen as root; never stay */
			perror("v6trace: cannot return to the tracer's network namespace");
			abort();
		}
		close(self);
	}
	errno = err;
	return fd;
}

#ifndef V6T_NO_SOCKDIAG
struct dump_ctx {
	uint8_t family;
	uint16_t protocol;
	diag_cb cb;
	void *ctx;
	int stopped;
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, INET_DIAG_MAX) < 0)
		return MNL_CB_OK; /* newer than our headers: skip */
	tb[type] = attr;
	return MNL_CB_OK;
}

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	const struct inet_diag_msg *msg = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[INET_DIAG_MAX + 1] = {0};
	struct diag_sock s = {0};
	size_t alen = msg->idiag_family == AF_INET6 ? 16 : 4;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*msg)))
		return MNL_CB_ERROR;
	mnl_attr_parse(nlh, sizeof(*msg), attr_cb, tb);
	s.e.type = V6T_EVENT_SOCKET;
	s.e.family = msg->idiag_family;
	s.e.protocol = d->protocol;
	s.e.state = msg->idiag_state;
	s.e.uid = msg->idiag_uid;
	s.e.lport = ntohs(msg->id.idiag_sport);
	s.e.rport = ntohs(msg->id.idiag_dport);
	memcpy(s.e.laddr, msg->id.idiag_src, alen);
	memcpy(s.e.raddr, msg->id.idiag_dst, alen);
	if (tb[INET_DIAG_SKV6ONLY] && mnl_attr_get_payload_len(tb[INET_DIAG_SKV6ONLY]) >= 1)
		s.e.v6only = mnl_attr_get_u8(tb[INET_DIAG_SKV6ONLY]);
	s.e.ifindex = msg->id.idiag_if;
	s.inode = msg->idiag_inode;
	if (d->cb(&s, d->ctx)) {
		d->stopped = 1;
		return MNL_CB_STOP;
	}
	return MNL_CB_OK;
}

/* A netlink socket of the namespace of netns_fd (-1: ours). */
static struct mnl_socket *open_in(int netns_fd)
{
	struct mnl_socket *nl;
	int fd = socket_in(netns_fd, AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG), err;

	if (fd < 0)
		return NULL;
	nl = mnl_socket_fdopen(fd);
	if (!nl) {
		err = errno;
		close(fd);
		errno = err;
	}
	return nl;
}

int sockdiag_dump(int netns_fd, uint8_t family, uint16_t protocol, uint32_t states, diag_cb cb,
		  void *ctx)
{
	char buf[32768]; /* MNL_SOCKET_DUMP_SIZE, which libmnl 1.0.4 lacks */
	struct dump_ctx d = {.family = family, .protocol = protocol, .cb = cb, .ctx = ctx};
	struct inet_diag_req_v2 *req;
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	unsigned int seq, portid;
	int ret, err = 0;

	nl = open_in(netns_fd);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq = (unsigned int)time(NULL);
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = (uint8_t)protocol;
	req->idiag_states = states;
	/* IPPROTO_MPTCP (262) does not fit sdiag_protocol: Linux 5.9+ reads it here */
	if (protocol > UINT8_MAX)
		mnl_attr_put_u32(nlh, INET_DIAG_REQ_PROTOCOL, protocol);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	while ((ret = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, (size_t)ret, seq, portid, msg_cb, &d);
		if (ret <= MNL_CB_STOP)
			break;
	}
	if (ret < 0 && !d.stopped)
		err = -errno;
out:
	mnl_socket_close(nl);
	return err;
}
#else /* V6T_NO_SOCKDIAG */
/* a fully static build without libmnl.a (see the Makefile) */
int sockdiag_dump(int netns_fd, uint8_t family, uint16_t protocol, uint32_t states, diag_cb cb,
		  void *ctx)
{
	(void)netns_fd, (void)family, (void)protocol, (void)states, (void)cb, (void)ctx;
	return -ENOTSUP;
}
#endif

/* ---- owners ------------------------------------------------------------- */

struct owner {
	uint32_t inode;
	uint32_t pid;
	char comm[V6T_COMM_LEN];
};

static int by_inode(const void *a, const void *b)
{
	uint32_t x = ((const struct owner *)a)->inode, y = ((const struct owner *)b)->inode;

	return x < y ? -1 : x > y;
}

/* The start of /proc/PID/<file>, NUL-terminated; its length, 0 if unreadable. */
static size_t read_proc(uint32_t pid, const char *file, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/%s", pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (size_t)n;
}

static void read_comm(uint32_t pid, char comm[V6T_COMM_LEN])
{
	size_t n;

	memset(comm, 0, V6T_COMM_LEN);
	n = read_proc(pid, "comm", comm, V6T_COMM_LEN);
	if (n > 0 && comm[n - 1] == '\n')
		comm[n - 1] = '\0';
}

/* ---- the owner filters of the snapshot ---------------------------------- */

static uint32_t parent_of(uint32_t pid)
{
	char stat[512], *p;
	unsigned int ppid;

	/* "pid (comm) state ppid ...": comm may hold anything, ')' included */
	if (!read_proc(pid, "stat", stat, sizeof(stat)) || !(p = strrchr(stat, ')')) ||
	    sscanf(p + 1, " %*c %u", &ppid) != 1)
		return 0;
	return ppid;
}

static bool pid_listed(const struct owner_filter *f, uint32_t pid)
{
	size_t i;

	for (i = 0; i < f->npids; i++) {
		if (f->pids[i] == pid)
			return true;
	}
	return false;
}

/* -p, and with --children the descendants of those processes, by parent pid */
static bool pid_wanted(const struct owner_filter *f, uint32_t pid)
{
	int depth;

	if (pid_listed(f, pid))
		return true;
	for (depth = 0; f->children && depth < 256 && pid > 1; depth++) {
		pid = parent_of(pid);
		if (pid && pid_listed(f, pid))
			return true;
	}
	return false;
}

/* The real uid (the first of the Uid: line), as bpf_get_current_uid_gid() gives it */
static bool real_uid_is(uint32_t pid, uint32_t uid)
{
	char status[4096], *line;
	unsigned int real;

	if (!read_proc(pid, "status", status, sizeof(status)) ||
	    !(line = strstr(status, "\nUid:")) || sscanf(line + 5, "%u", &real) != 1)
		return false;
	return real == uid;
}

/* The process's cgroup v2 path ("0::/a/b") is dir or below it. */
static bool in_cgroup(uint32_t pid, const char *dir)
{
	char cgroups[4096], *line;
	size_t len = strlen(dir);

	if (!read_proc(pid, "cgroup", cgroups, sizeof(cgroups)))
		return false;
	line = !strncmp(cgroups, "0::", 3) ? cgroups : strstr(cgroups, "\n0::");
	if (!line)
		return false;
	line += line == cgroups ? 3 : 4;
	line[strcspn(line, "\n")] = '\0';
	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(line, dir, len) && (line[len] == '\0' || line[len] == '/');
}

bool owner_wanted(const struct owner_filter *f, uint32_t pid)
{
	char comm[V6T_COMM_LEN];

	if (!f)
		return true;
	if (f->npids && !pid_wanted(f, pid))
		return false;
	if (f->comm) {
		read_comm(pid, comm);
		if (strncmp(comm, f->comm, V6T_COMM_LEN))
			return false;
	}
	if (f->by_uid && !real_uid_is(pid, f->uid))
		return false;
	return !f->cgroup || in_cgroup(pid, f->cgroup);
}

static void add_owner(struct owners *o, uint32_t inode, uint32_t pid)
{
	struct owner key = {.inode = inode}, *n, **slot;

	slot = tfind(&key, &o->root, by_inode);
	if (slot) {
		if (pid < (*slot)->pid) { /* the lowest pid: the parent of forked workers */
			(*slot)->pid = pid;
			read_comm(pid, (*slot)->comm);
		}
		return;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return;
	n->inode = inode;
	n->pid = pid;
	read_comm(pid, n->comm);
	if (!tsearch(n, &o->root, by_inode))
		free(n);
}

static void scan_fds(struct owners *o, uint32_t pid)
{
	char path[64], link[64];
	struct dirent *de;
	unsigned int inode;
	DIR *dir;
	int dfd;

	snprintf(path, sizeof(path), "/proc/%u/fd", pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || !(dir = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(dir))) {
		ssize_t n = readlinkat(dfd, de->d_name, link, sizeof(link) - 1);

		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%u]", &inode) == 1)
			add_owner(o, inode, pid);
	}
	closedir(dir);
}

void owners_scan(struct owners *o)
{
	owners_scan_wanted(o, NULL);
}

void owners_scan_wanted(struct owners *o, const struct owner_filter *f)
{
	struct dirent *de;
	DIR *proc;

	o->root = NULL;
	proc = opendir("/proc");
	if (!proc)
		return;
	while ((de = readdir(proc))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (*end || !pid || !owner_wanted(f, (uint32_t)pid))
			continue;
		scan_fds(o, (uint32_t)pid);
	}
	closedir(proc);
}

bool owners_find(const struct owners *o, uint32_t inode, uint32_t *pid, char comm[V6T_COMM_LEN])
{
	struct owner key = {.inode = inode};
	void *found = tfind(&key, (void *const *)&o->root, by_inode);

	if (!found)
		return false;
	*pid = (*(struct owner **)found)->pid;
	memcpy(comm, (*(struct owner **)found)->comm, V6T_COMM_LEN);
	return true;
}

void owners_free(struct owners *o)
{
	tdestroy(o->root, free);
	o->root = NULL;
}

/* ---- who holds a port --------------------------------------------------- */

/* Whether two local addresses of one port overlap (either is a wildcard, or equal). */
static bool addresses_overlap(const struct v6t_event *a, const struct v6t_event *b)
{
	__u8 a4[16] = {0}, b4[16] = {0};

	if (v6t_addr_is_wildcard(a->family, a->laddr) || v6t_addr_is_wildcard(b->family, b->laddr))
		return true;
	/* compare as IPv4 when one side is inet and the other ::ffff:a.b.c.d */
	memcpy(a4, a->family == AF_INET6 && v6t_addr_is_mapped(a->laddr) ? a->laddr + 12 : a->laddr,
	       a->family == AF_INET ? 4 : 16);
	memcpy(b4, b->family == AF_INET6 && v6t_addr_is_mapped(b->laddr) ? b->laddr + 12 : b->laddr,
	       b->family == AF_INET ? 4 : 16);
	return !memcmp(a4, b4, sizeof(a4));
}

/* How well a socket explains a failed bind of its port; 0: not at all. */
static int holder_score(const struct diag_sock *s, const struct v6t_event *failed)
{
	if (s->e.lport != failed->lport)
		return 0;
	return 1 + (addresses_overlap(&s->e, failed) ? 2 : 0) +
	       (s->e.state == V6T_TCP_LISTEN || s->e.state == V6T_TCP_CLOSE ? 1 : 0);
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

	if (!port_wanted(ps->wanted, s->e.lport))
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
	uint16_t x = ((const struct diag_sock *)a)->e.lport;
	uint16_t y = ((const struct diag_sock *)b)->e.lport;

	return x < y ? -1 : x > y;
}

/*
 * Both families: a dual-stack [::]:P holds 0.0.0.0:P, and the other way
 * round. false if sock_diag could not be asked (no inet_diag, a static build).
 */
static bool collect_protocol(int netns_fd, uint16_t protocol, struct port_sockets *ps)
{
	bool ok = !sockdiag_dump(netns_fd, AF_INET, protocol, ~0u, collect_socket, ps);

	ok = !sockdiag_dump(netns_fd, AF_INET6, protocol, ~0u, collect_socket, ps) && ok;
	if (ps->n)
		qsort(ps->v, ps->n, sizeof(*ps->v), by_port);
	return ok;
}

/* The best holder among the sockets of the failed bind's port; NULL: none. */
static const struct diag_sock *best_holder(const struct port_sockets *ps,
					   const struct v6t_event *failed)
{
	struct diag_sock key = {.e = {.lport = failed->lport}};
	const struct diag_sock *s, *best = NULL, *end = ps->v + ps->n;
	int best_score = 0, score;

	if (!ps->n)
		return NULL;
	s = bsearch(&key, ps->v, ps->n, sizeof(*ps->v), by_port);
	if (!s)
		return NULL;
	while (s > ps->v && s[-1].e.lport == failed->lport)
		s--;
	for (; s < end && s->e.lport == failed->lport; s++) {
		score = holder_score(s, failed);
		if (score > best_score) {
			best = s;
			best_score = score;
		}
	}
	return best;
}

void find_holders(int netns_fd, struct holder_query *q, size_t n)
{
	struct port_sockets tcp = {0}, udp = {0};
	bool any_tcp = false, any_udp = false, any_found = false, tcp_ok = true, udp_ok = true;
	struct owners o = {0};
	uint8_t *wanted = calloc(65536 / 8, 1);
	size_t i;

	if (!wanted)
		return;
	for (i = 0; i < n; i++) {
		uint16_t proto = holding_protocol(q[i].failed.protocol);

		q[i].found = q[i].unknown = false;
		wanted[q[i].failed.lport / 8] |= (uint8_t)(1u << (q[i].failed.lport % 8));
		any_tcp |= proto == IPPROTO_TCP;
		any_udp |= proto == IPPROTO_UDP;
	}
	tcp.wanted = udp.wanted = wanted;
	if (any_tcp)
		tcp_ok = collect_protocol(netns_fd, IPPROTO_TCP, &tcp);
	if (any_udp)
		udp_ok = collect_protocol(netns_fd, IPPROTO_UDP, &udp);
	for (i = 0; i < n; i++) {
		uint16_t proto = holding_protocol(q[i].failed.protocol);
		const struct diag_sock *best;

		if (!proto)
			continue;
		best = best_holder(proto == IPPROTO_TCP ? &tcp : &udp, &q[i].failed);
		if (!best) {
			q[i].unknown = !(proto == IPPROTO_TCP ? tcp_ok : udp_ok);
			continue;
		}
		memset(&q[i].holder, 0, sizeof(q[i].holder));
		q[i].holder.family = best->e.family;
		memcpy(q[i].holder.addr, best->e.laddr, sizeof(q[i].holder.addr));
		q[i].holder.port = best->e.lport;
		q[i].holder.v6only = best->e.v6only;
		q[i].inode = best->inode;
		q[i].found = any_found = true;
	}
	if (any_found) { /* one scan of /proc for the whole batch */
		owners_scan(&o);
		for (i = 0; i < n; i++) {
			if (q[i].found &&
			    !owners_find(&o, q[i].inode, &q[i].holder.pid, q[i].holder.comm))
				q[i].holder.pid = 0;
		}
		owners_free(&o);
	}
	free(tcp.v);
	free(udp.v);
	free(wanted);
}

bool find_holder(int netns_fd, const struct v6t_event *failed, struct holder *out)
{
	struct holder_query q = {.failed = *failed};

	find_holders(netns_fd, &q, 1);
	if (q.found)
		*out = q.holder;
	return q.found;
}

/*
 * The network namespace of an event's socket, opened through its process: -1
 * when the process is gone, or its pid was recycled in another namespace.
 */
int open_netns_of(const struct v6t_event *e)
{
	char path[64];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/ns/net", e->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &st) || st.st_ino != e->netns)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

bool find_holder_of(const struct v6t_event *failed, uint32_t own_netns, struct holder *out)
{
	bool found;
	int fd;

	if (failed->netns == own_netns)
		return find_holder(-1, failed, out);
	fd = open_netns_of(failed);
	if (fd < 0)
		return false;
	found = find_holder(fd, failed, out);
	close(fd);
	return found;
}

void find_holders_of(struct holder_query *q, size_t n, uint32_t own_netns)
{
	size_t i, j, m;
	bool *done = calloc(n ? n : 1, sizeof(*done));
	struct holder_query *group = calloc(n ? n : 1, sizeof(*group));
	size_t *where = calloc(n ? n : 1, sizeof(*where));

	if (!done || !group || !where)
		goto out;
	/* one batch per network namespace, entered through its first process */
	for (i = 0; i < n; i++) {
		uint32_t netns = q[i].failed.netns;
		int fd = -1;

		if (done[i])
			continue;
		for (j = i, m = 0; j < n; j++) {
			if (!done[j] && q[j].failed.netns == netns) {
				group[m] = q[j];
				where[m++] = j;
				done[j] = true;
			}
		}
		if (netns != own_netns && (fd = open_netns_of(&q[i].failed)) < 0)
			continue; /* its process is gone: nothing found */
		find_holders(fd, group, m);
		if (fd >= 0)
			close(fd);
		for (j = 0; j < m; j++)
			q[where[j]] = group[j];
	}
out:
	free(done);
	free(group);
	free(where);
}

/* ---- interface names ---------------------------------------------------- */

bool ifname_in(int netns_fd, uint32_t ifindex, char name[IF_NAMESIZE])
{
	struct ifreq ifr = {.ifr_ifindex = (int)ifindex};
	int fd = socket_in(netns_fd, AF_UNIX, SOCK_DGRAM, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = !ioctl(fd, SIOCGIFNAME, &ifr);
	close(fd);
	if (ok)
		snprintf(name, IF_NAMESIZE, "%.*s", IF_NAMESIZE - 1, ifr.ifr_name);
	return ok;
}

bool ifname_of(const struct v6t_event *e, uint32_t own_netns, char name[IF_NAMESIZE])
{
	bool ok;
	int fd;

	if (e->netns == own_netns)
		return ifname_in(-1, e->ifindex, name);
	fd = open_netns_of(e);
	if (fd < 0)
		return false;
	ok = ifname_in(fd, e->ifindex, name);
	close(fd);
	return ok;
}
