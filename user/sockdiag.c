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
#include "netns.h"
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
	s.family = msg->idiag_family;
	s.protocol = d->protocol;
	s.state = msg->idiag_state;
	s.uid = msg->idiag_uid;
	s.lport = ntohs(msg->id.idiag_sport);
	s.rport = ntohs(msg->id.idiag_dport);
	memcpy(s.laddr, msg->id.idiag_src, alen);
	memcpy(s.raddr, msg->id.idiag_dst, alen);
	if (tb[INET_DIAG_SKV6ONLY] && mnl_attr_get_payload_len(tb[INET_DIAG_SKV6ONLY]) >= 1)
		s.v6only = mnl_attr_get_u8(tb[INET_DIAG_SKV6ONLY]);
	s.ifindex = msg->id.idiag_if;
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
int sockdiag_dump_on(struct mnl_socket *nl, uint8_t family, uint16_t protocol, uint32_t states,
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
struct mnl_socket *sockdiag_open(int netns_fd)
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
	struct mnl_socket *nl = sockdiag_open(netns_fd);
	int err;

	if (!nl)
		return -errno;
	err = sockdiag_dump_on(nl, family, protocol, states, NULL, cb, ctx);
	mnl_socket_close(nl);
	return err;
}

void sockdiag_close(struct mnl_socket *nl)
{
	if (nl)
		mnl_socket_close(nl);
}
#else /* V6T_NO_SOCKDIAG */
/* a fully static build without libmnl.a (see the Makefile) */
struct mnl_socket;

struct mnl_socket *sockdiag_open(int netns_fd)
{
	(void)netns_fd;
	errno = ENOTSUP;
	return NULL;
}

int sockdiag_dump_on(struct mnl_socket *nl, uint8_t family, uint16_t protocol, uint32_t states,
		     const uint16_t *ports, diag_cb cb, void *ctx)
{
	(void)nl, (void)family, (void)protocol, (void)states, (void)ports, (void)cb, (void)ctx;
	return -ENOTSUP;
}

int sockdiag_dump(int netns_fd, uint8_t family, uint16_t protocol, uint32_t states, diag_cb cb,
		  void *ctx)
{
	(void)netns_fd, (void)family, (void)protocol, (void)states, (void)cb, (void)ctx;
	return -ENOTSUP;
}

void sockdiag_close(struct mnl_socket *nl)
{
	(void)nl;
}
#endif

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

	if (!netns_enter(e->netns, e->pid, own_netns, &fd))
		return false;
	ok = ifname_in(fd, e->ifindex, name);
	close(fd);
	return ok;
}
