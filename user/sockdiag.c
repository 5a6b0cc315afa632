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
#include "clock.h"
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

/* One dump on a netlink socket bound already: several can follow each other on it. */
static int dump_on(struct mnl_socket *nl, uint8_t family, uint16_t protocol, uint32_t states,
		   const uint16_t *ports, diag_cb cb, void *ctx)
{
	static unsigned int dumps;
	char buf[32768]; /* MNL_SOCKET_DUMP_SIZE, which libmnl 1.0.4 lacks */
	struct dump_ctx d = {.family = family, .protocol = protocol, .cb = cb, .ctx = ctx};
	struct inet_diag_req_v2 *req;
	struct nlmsghdr *nlh;
	unsigned int seq, portid;
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq = (unsigned int)time(NULL) + ++dumps;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = (uint8_t)protocol;
	req->idiag_states = states;
	/* IPPROTO_MPTCP (262) does not fit sdiag_protocol: Linux 5.9+ reads it here */
	if (protocol > UINT8_MAX)
		mnl_attr_put_u32(nlh, INET_DIAG_REQ_PROTOCOL, protocol);
	if (ports) {
		/*
		 * Only local ports in [ports[0], ports[1]], chosen by the kernel: the
		 * answer is then small enough for one message, and a dump of many
		 * parts, which resumes by position, can skip sockets of a table that
		 * changes meanwhile (a holder answered "none").
		 */
		struct inet_diag_bc_op bc[4] = {
			{.code = INET_DIAG_BC_S_GE, .yes = 8, .no = 20},
			{.no = ports[0]},
			{.code = INET_DIAG_BC_S_LE, .yes = 8, .no = 12},
			{.no = ports[1]},
		};

		mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, sizeof(bc), bc);
	}
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	portid = mnl_socket_get_portid(nl);
	while ((ret = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, (size_t)ret, seq, portid, msg_cb, &d);
		if (ret <= MNL_CB_STOP)
			break;
	}
	if (ret < 0 && !d.stopped)
		return -errno;
	return 0;
}

/* A sock_diag socket of the namespace of netns_fd (-1: ours), bound; NULL and errno. */
static struct mnl_socket *diag_socket(int netns_fd)
{
	struct mnl_socket *nl = open_in(netns_fd);
	int err;

	if (nl && mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = errno;
		mnl_socket_close(nl);
		errno = err;
		return NULL;
	}
	return nl;
}

int sockdiag_dump(int netns_fd, uint8_t family, uint16_t protocol, uint32_t states, diag_cb cb,
		  void *ctx)
{
	struct mnl_socket *nl = diag_socket(netns_fd);
	int err;

	if (!nl)
		return -errno;
	err = dump_on(nl, family, protocol, states, NULL, cb, ctx);
	mnl_socket_close(nl);
	return err;
}
#else /* V6T_NO_SOCKDIAG */
/* a fully static build without libmnl.a (see the Makefile) */
struct mnl_socket;

static struct mnl_socket *diag_socket(int netns_fd)
{
	(void)netns_fd;
	errno = ENOTSUP;
	return NULL;
}

static int dump_on(struct mnl_socket *nl, uint8_t family, uint16_t protocol, uint32_t states,
		   const uint16_t *ports, diag_cb cb, void *ctx)
{
	(void)nl, (void)family, (void)protocol, (void)states, (void)ports, (void)cb, (void)ctx;
	return -ENOTSUP;
}

static void mnl_socket_close(struct mnl_socket *nl)
{
	(void)nl;
}

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

static void add_owner(struct owners *o, uint32_t inode, uint32_t pid, const char comm[V6T_COMM_LEN])
{
	struct owner key = {.inode = inode}, *n, **slot;

	slot = tfind(&key, &o->root, by_inode);
	if (slot) {
		if (pid < (*slot)->pid) { /* the lowest pid: the parent of forked workers */
			(*slot)->pid = pid;
			memcpy((*slot)->comm, comm, V6T_COMM_LEN);
		}
		return;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return;
	n->inode = inode;
	n->pid = pid;
	memcpy(n->comm, comm, V6T_COMM_LEN);
	if (!tsearch(n, &o->root, by_inode))
		free(n);
}

static void scan_fds(struct owners *o, uint32_t pid)
{
	char path[64], link[64], comm[V6T_COMM_LEN];
	bool have_comm = false;
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
		if (sscanf(link, "socket:[%u]", &inode) != 1)
			continue;
		if (!have_comm) /* once per process, and only for one that has a socket */
			read_comm(pid, comm);
		have_comm = true;
		add_owner(o, inode, pid, comm);
	}
	closedir(dir);
}

struct netns_pid {
	uint32_t netns;
	uint32_t pid;
};

static int by_netns(const void *a, const void *b)
{
	uint32_t x = ((const struct netns_pid *)a)->netns, y = ((const struct netns_pid *)b)->netns;

	return x < y ? -1 : x > y;
}

/* The first process seen in its network namespace is the one to enter it through. */
static void note_netns(struct owners *o, uint32_t pid)
{
	struct netns_pid *n, **slot;
	struct stat st;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	if (stat(path, &st))
		return;
	n = calloc(1, sizeof(*n));
	if (!n)
		return;
	n->netns = (uint32_t)st.st_ino;
	n->pid = pid;
	slot = tsearch(n, &o->netns, by_netns);
	if (!slot || *slot != n)
		free(n); /* already known, or no memory */
}

static void scan_owners(struct owners *o, const struct owner_filter *f, bool netns)
{
	struct dirent *de;
	DIR *proc;

	o->root = o->netns = NULL;
	proc = opendir("/proc");
	if (!proc)
		return;
	while ((de = readdir(proc))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (*end || !pid || !owner_wanted(f, (uint32_t)pid))
			continue;
		scan_fds(o, (uint32_t)pid);
		if (netns)
			note_netns(o, (uint32_t)pid);
	}
	closedir(proc);
}

void owners_scan(struct owners *o)
{
	scan_owners(o, NULL, false);
}

void owners_scan_netns(struct owners *o)
{
	scan_owners(o, NULL, true);
}

void owners_scan_wanted(struct owners *o, const struct owner_filter *f)
{
	scan_owners(o, f, false);
}

uint32_t owners_netns_pid(const struct owners *o, uint32_t netns)
{
	struct netns_pid key = {.netns = netns};
	void *found = tfind(&key, (void *const *)&o->netns, by_netns);

	return found ? (*(struct netns_pid **)found)->pid : 0;
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
	tdestroy(o->netns, free);
	o->root = o->netns = NULL;
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

/* How well a socket explains a failed bind of its port; 0: not at all, BEST_SCORE: fully. */
#define BEST_SCORE 4
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
static bool collect_protocol(struct mnl_socket *nl, uint16_t protocol, uint32_t states,
			     struct port_sockets *ps)
{
	bool ok = nl && !dump_on(nl, AF_INET, protocol, states, ps->range, collect_socket, ps);

	ok = nl && !dump_on(nl, AF_INET6, protocol, states, ps->range, collect_socket, ps) && ok;
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
		wanted[g[i]->failed.lport / 8] |= (uint8_t)(1u << (g[i]->failed.lport % 8));
		if (!any_tcp && !any_udp) /* the first */
			range[0] = range[1] = g[i]->failed.lport;
		range[0] = g[i]->failed.lport < range[0] ? g[i]->failed.lport : range[0];
		range[1] = g[i]->failed.lport > range[1] ? g[i]->failed.lport : range[1];
		any_tcp |= proto == IPPROTO_TCP;
		any_udp |= proto == IPPROTO_UDP;
	}
	if (!wanted)
		return;
	tcp.wanted = udp.wanted = tcp_all.wanted = wanted;
	tcp.range = udp.range = tcp_all.range = range;
	/* one sock_diag socket, made in the namespace once, for every dump of it */
	nl = any_tcp || any_udp ? diag_socket(netns_fd) : NULL;
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
		q->holder.family = best->e.family;
		memcpy(q->holder.addr, best->e.laddr, sizeof(q->holder.addr));
		q->holder.port = best->e.lport;
		q->holder.v6only = best->e.v6only;
		q->inode = best->inode;
		q->found = true;
		if (!owners_find(o, q->inode, &q->holder.pid, q->holder.comm))
			q->holder.pid = 0;
	}
	if (nl)
		mnl_socket_close(nl);
	free(tcp_all.v);
	free(tcp.v);
	free(udp.v);
	free(wanted);
}

void find_holders(int netns_fd, struct holder_query *q, size_t n)
{
	struct holder_query **g = calloc(n ? n : 1, sizeof(*g));
	struct owners o = {0};
	size_t i;

	for (i = 0; i < n; i++) {
		reset_answers(&q[i]);
		q[i].want_holder = true;
		q[i].unknown = !g;
		if (g)
			g[i] = &q[i];
	}
	if (!g)
		return;
	owners_scan(&o);
	holders_in(netns_fd, g, n, &o);
	owners_free(&o);
	free(g);
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
	struct holder_query q = {.failed = *failed, .want_holder = true};

	find_holders_of(&q, 1, own_netns, 0, NULL, NULL);
	if (q.found)
		*out = q.holder;
	return q.found;
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
		const struct v6t_event *e = &q[which[i]].failed;

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
	struct v6t_event via = {.netns = q[which[0]].failed.netns};
	size_t i;
	int fd;

	*entered = true;
	for (i = 0; i < m; i++) {
		if (i && q[which[i]].failed.pid == q[which[i - 1]].failed.pid)
			continue;
		fd = open_netns_of(&q[which[i]].failed);
		if (fd >= 0)
			return fd;
	}
	via.pid = scanned ? owners_netns_pid(o, via.netns) : 0;
	fd = via.pid ? open_netns_of(&via) : -1;
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
