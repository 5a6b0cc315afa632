/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Structures of the system call and BPF ABIs, whose layouts never change, so
 * that the programs read them without CO-RE relocations. vmlinux.h marks
 * every struct for relocation, and libbpf 1.1 finds each relocated type by a
 * walk over all of the kernel's BTF types, paid at every start: types that
 * cannot move are not worth one.
 */
#ifndef V6TRACE_ABI_BPF_H
#define V6TRACE_ABI_BPF_H

struct v6t_in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
};

struct v6t_sockaddr_in {
	__u16 sin_family;
	__be16 sin_port;
	__be32 sin_addr;
	__u8 sin_zero[8];
};

struct v6t_sockaddr_in6 {
	__u16 sin6_family;
	__be16 sin6_port;
	__be32 sin6_flowinfo;
	struct v6t_in6_addr sin6_addr;
	__u32 sin6_scope_id;
};

/* a raw tracepoint's context: its arguments */
struct v6t_raw_tp_args {
	__u64 args[0];
};

#endif
