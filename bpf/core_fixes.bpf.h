/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every kernel layout difference the BPF side has to survive lives here, each
 * fix a small getter with the kernel change that made it necessary.
 */
#ifndef V6TRACE_CORE_FIXES_BPF_H
#define V6TRACE_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

/*
 * Linux 5.6 (commit bf9765145b85, "sock: Make sk_protocol a 16-bit value")
 * turned sk_protocol from an 8-bit bitfield into a plain __u16. The probed
 * bitfield read relocates byte offset, size and shifts against the running
 * kernel, so the one read below is right for both layouts.
 */
static __always_inline __u16 sock_protocol(const struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
}

/*
 * skc_ipv6only is a one-bit field of struct sock_common on every kernel we
 * support; a bitfield cannot be read with a plain probe read, and its bit
 * offset differs between builds, so it goes through the probed bitfield read.
 * Both setsockopt(IPV6_V6ONLY) and the namespace's net.ipv6.bindv6only
 * default (applied at socket creation) end up here.
 */
static __always_inline __u8 sock_ipv6only(const struct sock *sk)
{
	const struct sock_common *skc = &sk->__sk_common;

	return BPF_CORE_READ_BITFIELD_PROBED(skc, skc_ipv6only);
}

/*
 * inet_csk_accept() changed its prototype in Linux 6.10 (commit 92ef0fd55ac8,
 * "net: change proto and proto_ops accept type"):
 *   up to 6.9: struct sock *inet_csk_accept(struct sock *sk, int flags, int *err, bool kern)
 *   from 6.10: struct sock *inet_csk_accept(struct sock *sk, struct proto_accept_arg *arg)
 * An fexit program reads its return value at the argument position after the
 * last argument, so each prototype needs its own program. The loader picks one
 * by counting the function's parameters in the running kernel's BTF; the wrong
 * one would load on 6.1 and read the int *err pointer as the child socket.
 * kretprobes read the return register and are not affected.
 */

#endif /* V6TRACE_CORE_FIXES_BPF_H */
