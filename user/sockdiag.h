/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The sockets that exist, from the kernel's NETLINK_SOCK_DIAG (libmnl), and
 * interface names in a namespace. Their owners are in proc_owners.h, who
 * holds a port in holders.h.
 */
#ifndef V6TRACE_SOCKDIAG_H
#define V6TRACE_SOCKDIAG_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>
#include "format.h"
#include "proc_owners.h"
#include "v6trace.h"

struct mnl_socket;

/* One socket of a dump, as sock_diag gives it (its owner is proc_owners.h's to find). */
struct diag_sock {
	uint32_t inode;
	uint32_t uid;
	uint32_t ifindex; /* the bound device; 0: none */
	uint16_t family;  /* AF_INET, AF_INET6 */
	uint16_t protocol;
	uint16_t lport, rport; /* host order */
	uint8_t state;	       /* V6T_TCP_*; UDP: CLOSE unconnected, ESTABLISHED connected */
	bool v6only;
	uint8_t laddr[16], raddr[16]; /* IPv4 in the first 4 bytes */
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

/*
 * A sock_diag socket of the namespace of netns_fd (-1: ours), bound, for
 * several dumps in turn; NULL and errno.
 */
struct mnl_socket *sockdiag_open(int netns_fd);
/*
 * sockdiag_dump() on nl, of the local ports in [ports[0], ports[1]] only
 * (NULL: every port), the kernel choosing them. 0, or -errno.
 */
int sockdiag_dump_on(struct mnl_socket *nl, uint8_t family, uint16_t protocol, uint32_t states,
		     const uint16_t *ports, diag_cb cb, void *ctx);
/* NULL is fine */
void sockdiag_close(struct mnl_socket *nl);

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
