/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one way to list the sockets that exist now, shared by the snapshot and
 * the deploy report's listeners: which dumps sock_diag is asked for, MPTCP
 * first so that its TCP subflows (kernel sockets under an MPTCP socket's
 * inode) are left out, and no unbound UDP socket.
 */
#ifndef V6TRACE_SOCKETS_H
#define V6TRACE_SOCKETS_H

#include "sockdiag.h"

enum sockets_listed {
	SOCKETS_SERVING,	 /* listening TCP and MPTCP, bound UDP */
	SOCKETS_MAPPED_CONNECTS, /* and established tcp6 and MPTCP over IPv6 carrying IPv4 */
	SOCKETS_ALL_CONNECTS,	 /* and every established tcp6 and MPTCP over IPv6 */
};

/*
 * Calls cb for each socket listed in the namespace of netns_fd (-1: the
 * caller's); a non-zero return stops that dump only. 0, or -errno when
 * sock_diag could not be asked (-ENOTSUP: linked without libmnl). MPTCP
 * missing from a kernel's sock_diag is not an error: its sockets are not
 * listed, and *mptcp_err (when not NULL) says why (-errno; 0: they were).
 */
int sockets_list(int netns_fd, enum sockets_listed which, diag_cb cb, void *ctx, int *mptcp_err);

#endif
