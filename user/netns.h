/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Network namespaces named by a file or by their inode (--netns). */
#ifndef V6TRACE_NETNS_H
#define V6TRACE_NETNS_H

#include <stdbool.h>
#include <stdint.h>

/* Whether fd is a namespace file of a network namespace (not a pid, mount... one). */
bool netns_is_net(int fd);
/*
 * The network namespace of inode, opened (O_RDONLY): path if it is still that
 * namespace, else a file of it found under /run/netns or /proc/PID/ns/net.
 * -1 if none is found (no process is in it and no bind mount names it).
 */
int netns_open_by_inode(const char *path, uint32_t inode);
/*
 * Network namespace netns opened through process pid: -1 when the process is
 * gone, or its pid was recycled in another namespace.
 */
int netns_open_of_pid(uint32_t pid, uint32_t netns);
/*
 * Our namespace (*fd -1) when netns is own_netns, else netns entered through
 * pid (*fd to close): false when it cannot be, so nothing of another
 * namespace is ever taken for it.
 */
bool netns_enter(uint32_t netns, uint32_t pid, uint32_t own_netns, int *fd);

#endif
