/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The sockets that exist, from the kernel's NETLINK_SOCK_DIAG (libmnl), and
 * the processes that own them, from /proc/PID/fd: what --snapshot prints and
 * how a bind that failed with EADDRINUSE finds who holds the port.
 */
#ifndef V6TRACE_SOCKDIAG_H
#define V6TRACE_SOCKDIAG_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>
#include "format.h"
#include "v6trace.h"

/* One socket of a dump, as an event of type V6T_EVENT_SOCKET (no owner yet). */
struct diag_sock {
	struct v6t_event e; /* family, protocol, state, laddr, lport, raddr, rport, v6only, uid */
	uint32_t inode;
};

/* Called per socket; a non-zero return stops the dump. */
typedef int (*diag_cb)(const struct diag_sock *s, void *ctx);

/*
 * Dumps the sockets of family (AF_INET, AF_INET6) and protocol (IPPROTO_TCP,
 * IPPROTO_UDP) whose state is in the mask (1 << TCP_*) in the network
 * namespace of netns_fd (-1: the caller's). 0, or -errno.
 */
int sockdiag_dump(int netns_fd, uint8_t family, uint16_t protocol, uint32_t states, diag_cb cb,
		  void *ctx);

/* socket inode -> the lowest pid holding it, and that process's comm */
struct owners {
	void *root;
	void *netns; /* network namespace inode -> a process in it (owners_scan_netns()) */
};

/* Scans /proc/[0-9]*\/fd once. */
void owners_scan(struct owners *o);
/* The same scan, which also notes a process of every network namespace it sees. */
void owners_scan_netns(struct owners *o);
/* A process owners_scan_netns() saw in network namespace netns; 0: none. */
uint32_t owners_netns_pid(const struct owners *o, uint32_t netns);

/*
 * The filters on a socket's owner, as the kernel side's task_wanted() decides
 * them for a calling process; every one that is set must hold.
 */
struct owner_filter {
	const uint32_t *pids; /* -p: these processes; 0 of them: any */
	size_t npids;
	bool children;	  /* --children: and their descendants (by parent pid) */
	const char *comm; /* --comm: this name (the first 15 bytes); NULL: any */
	bool by_uid;	  /* -u: this real uid */
	uint32_t uid;
	const char *cgroup; /* -c: in this cgroup v2 path ("/a/b") or below it; NULL: any */
};

bool owner_wanted(const struct owner_filter *f, uint32_t pid);
/* owners_scan() of the processes f keeps (NULL: all): a socket's owner is the lowest of them */
void owners_scan_wanted(struct owners *o, const struct owner_filter *f);
/* false if no process in this pid namespace holds the socket */
bool owners_find(const struct owners *o, uint32_t inode, uint32_t *pid, char comm[V6T_COMM_LEN]);
void owners_free(struct owners *o);

/*
 * Who holds port of protocol in the network namespace of netns_fd (-1: ours)
 * in a way that conflicts with a bind of family to addr: a listening (TCP) or
 * bound (UDP) socket first. false if none was found.
 */
bool find_holder(int netns_fd, const struct v6t_event *failed, struct holder *out);

/*
 * The network namespace of an event's socket (netns), opened through its
 * process (pid): -1 when the process is gone, or its pid was recycled in
 * another namespace.
 */
int open_netns_of(const struct v6t_event *e);

/* A question of a batch (a failed bind's holder, an interface's name), and its answers. */
struct holder_query {
	struct v6t_event failed; /* the event asked about */
	bool want_holder;	 /* who holds failed's port */
	bool want_ifname;	 /* the name of failed's ifindex in its namespace */
	/* the answers, reset before each is computed */
	bool found;
	bool unknown;	      /* the namespace could not be entered, or sock_diag asked */
	struct holder holder; /* when found; pid 0: no process found that holds it */
	uint32_t inode;	      /* the holding socket's */
	bool ifname_found;
	char ifname[IF_NAMESIZE];
};

/*
 * find_holder() for many failed binds at once: one sock_diag dump per
 * protocol and one scan of /proc for the whole batch, so a burst of 2000
 * EADDRINUSE costs about what one does. (want_holder is implied.)
 */
void find_holders(int netns_fd, struct holder_query *q, size_t n);

/* Called with the questions of one namespace once they are answered (indexes into q). */
typedef void (*holders_answered)(struct holder_query *q, const size_t *which, size_t m, void *ctx);

/*
 * Answers every question of q in its event's own network namespace. One scan
 * of /proc serves the whole batch: it names the owners of every socket, and
 * gives, for every namespace, a live process to enter it through when no
 * process of the batch is left in it. A namespace that cannot be entered at
 * all answers unknown (never none, never another namespace's holder).
 * Namespaces are taken in turns by the uid of their events, so one user's
 * many namespaces do not come before another user's one; once budget_ns (0:
 * none) has passed, the rest is left unanswered for the next batch. Each
 * namespace's answers go to done as soon as they are known. Returns how
 * many questions were answered.
 */
size_t find_holders_of(struct holder_query *q, size_t n, uint32_t own_netns, int64_t budget_ns,
		       holders_answered done, void *ctx);
/*
 * The same for a failed bind event: in the socket's network namespace,
 * entered through the failing process (if it is still there) when it is not
 * own_netns.
 */
bool find_holder_of(const struct v6t_event *failed, uint32_t own_netns, struct holder *out);

/*
 * The name of interface ifindex in the network namespace of netns_fd (-1:
 * ours), as if_indextoname() gives it; false if there is none.
 */
bool ifname_in(int netns_fd, uint32_t ifindex, char name[IF_NAMESIZE]);
/*
 * The name of an event's ifindex in its socket's namespace, entered through
 * its process when it is not own_netns; false if the process is gone.
 */
bool ifname_of(const struct v6t_event *e, uint32_t own_netns, char name[IF_NAMESIZE]);

#endif
