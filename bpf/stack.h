/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The stack a socket serves (v4, v6 or dual): the one rule, compiled by the
 * BPF programs (the --stack filter, decided in the kernel) and by user space
 * (the "stack" of every record, the summary, the snapshot's filter), so the
 * two can never disagree. Plain C on fields of struct v6t_event: no helper
 * of either side.
 *
 * An inet socket serves IPv4. An inet6 socket with a peer serves the peer's
 * stack (an IPv4-mapped peer is IPv4). Without a peer: a mapped local
 * address is IPv4, the wildcard "::" without IPV6_V6ONLY is both, anything
 * else IPv6.
 */
#ifndef V6TRACE_STACK_H
#define V6TRACE_STACK_H

#include "v6trace.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define V6T_AF_INET6 10 /* AF_INET6, the same on every Linux architecture */

/* The third 32-bit word of ::ffff:a.b.c.d (bytes 00 00 ff ff), as loaded. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define V6T_MAPPED_WORD 0xffff0000u
#else
#define V6T_MAPPED_WORD 0x0000ffffu
#endif

/* a: an address field of struct v6t_event (4-byte aligned), read a word at a time */
static __always_inline int v6t_word_addr_mapped(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return w[0] == 0 && w[1] == 0 && w[2] == V6T_MAPPED_WORD;
}

static __always_inline int v6t_word_addr_zero(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return (w[0] | w[1] | w[2] | w[3]) == 0;
}

/* has_peer: the record has a peer (accept, connect, an established socket) */
static __always_inline __u8 v6t_stack_rule(const struct v6t_event *e, int has_peer)
{
	if (e->family != V6T_AF_INET6)
		return V6T_STACK_V4;
	if (has_peer)
		return v6t_word_addr_mapped(e->raddr) ? V6T_STACK_V4 : V6T_STACK_V6;
	if (v6t_word_addr_mapped(e->laddr))
		return V6T_STACK_V4;
	if (v6t_word_addr_zero(e->laddr) && !e->v6only)
		return V6T_STACK_DUAL;
	return V6T_STACK_V6;
}

#endif
