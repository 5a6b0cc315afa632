/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What an event means: stack served, wildcard, mapped peer, names for numbers. */
#ifndef V6TRACE_CLASSIFY_H
#define V6TRACE_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include "v6trace.h"

/* INET6_ADDRSTRLEN, without pulling <netinet/in.h> into every user */
#define V6T_ADDR_STRLEN 46

/* The TCP states a --snapshot reports (include/net/tcp_states.h) */
enum {
	V6T_TCP_ESTABLISHED = 1,
	V6T_TCP_CLOSE = 7,
	V6T_TCP_LISTEN = 10,
};

bool v6t_addr_is_mapped(const __u8 addr[16]);
/* accept, connect and established sockets have a peer; bind, listen do not */
bool v6t_event_has_peer(const struct v6t_event *e);
/* an inet6 event whose peer is ::ffff:a.b.c.d */
bool v6t_event_mapped(const struct v6t_event *e);
const char *v6t_event_name(__u16 type);
/* "listen", "bound" (UDP), "established" */
const char *v6t_state_name(__u8 state);
bool v6t_addr_is_wildcard(__u16 family, const __u8 addr[16]);

/*
 * bind: dual only for an inet6 wildcard without v6only; an inet6 socket bound
 * to ::ffff:a.b.c.d serves v4; any other inet6 address v6; inet is v4.
 * listen and listening or bound sockets: as bind.
 * accept, connect, established sockets: the IP version on the wire: v4 for a
 * mapped peer.
 */
enum v6t_stack v6t_classify_stack(const struct v6t_event *e);
const char *v6t_stack_name(enum v6t_stack stack);

const char *v6t_family_name(__u16 family);
/* Whether port is among the n of ports (-P, --watch, --ignore) */
bool v6t_port_listed(const __u16 *ports, size_t n, __u16 port);
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
/* "tcp", "udp", "mptcp" or "other" */
const char *v6t_proto_name(__u16 protocol);
/* As netstat writes it: tcp, tcp6, udp, udp6; mptcp as ss does; other, other6 */
const char *v6t_netstat_proto(__u16 family, __u16 protocol);

/* inet_ntop of the address; writes "?" for an unknown family */
void v6t_addr_string(__u16 family, const __u8 addr[16], char out[V6T_ADDR_STRLEN]);
/* The IPv4 address inside ::ffff:a.b.c.d */
void v6t_mapped_v4_string(const __u8 addr[16], char out[V6T_ADDR_STRLEN]);

/* "EADDRINUSE" for 98; "E<n>" when the C library has no name */
const char *v6t_errno_name(int err, char *buf, size_t len);
/* The name of a negative return value (-98: "EADDRINUSE"); buf: 24 bytes */
const char *v6t_ret_error(__s32 ret, char *buf, size_t len);

#endif
