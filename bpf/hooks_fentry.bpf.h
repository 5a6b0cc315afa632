// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fentry mode: fexit on the socket calls (the loader's table says which
 * run on which kernel).
 *
 * A part of the one compilation unit bpf/v6trace.bpf.c (one object, one
 * skeleton): it relies on what the parts included before it define.
 */
#ifndef V6TRACE_HOOKS_FENTRY_BPF_H
#define V6TRACE_HOOKS_FENTRY_BPF_H

/*
 * fexit's arguments are BTF-typed: the sock and what it points to are read
 * with plain loads (btf true below), no probe read.
 */

/* inet_bind, inet6_bind and mptcp_bind share a prototype and an emitter */
static __always_inline int fexit_bind(struct socket *sock, struct sockaddr *uaddr, int addr_len,
				      int ret)
{
	const struct sock *sk = sock->sk;
	struct asked_addr asked = {};

	if (!sk || sock_is_mptcp_subflow(sk, true))
		return 0;
	if (ret) /* the kernel's copy of the sockaddr */
		read_asked(&asked, uaddr, false, addr_len);
	return emit_bind((struct emit_args){
		.sk = sk, .btf = true, .asked = &asked, .ret = ret, .filter = FILTER_NOW});
}

SEC("fexit/inet_bind")
int BPF_PROG(fexit_inet_bind, struct socket *sock, struct sockaddr *uaddr, int addr_len, int ret)
{
	return fexit_bind(sock, uaddr, addr_len, ret);
}

SEC("fexit/inet6_bind")
int BPF_PROG(fexit_inet6_bind, struct socket *sock, struct sockaddr *uaddr, int addr_len, int ret)
{
	return fexit_bind(sock, uaddr, addr_len, ret);
}

SEC("fexit/mptcp_bind")
int BPF_PROG(fexit_mptcp_bind, struct socket *sock, struct sockaddr *uaddr, int addr_len, int ret)
{
	return fexit_bind(sock, uaddr, addr_len, ret);
}

/* Up to Linux 6.9: (sk, flags, err, kern); see core_fixes.bpf.h. */
SEC("fexit/inet_csk_accept")
int BPF_PROG(fexit_inet_csk_accept_4, struct sock *sk, int flags, int *err, bool kern,
	     struct sock *child)
{
	return emit_accept((struct emit_args){.sk = child, .btf = true, .filter = FILTER_NOW});
}

/* From Linux 6.10: (sk, struct proto_accept_arg *arg). */
SEC("fexit/inet_csk_accept")
int BPF_PROG(fexit_inet_csk_accept_2, struct sock *sk, void *arg, struct sock *child)
{
	return emit_accept((struct emit_args){.sk = child, .btf = true, .filter = FILTER_NOW});
}

SEC("fexit/inet_stream_connect")
int BPF_PROG(fexit_inet_stream_connect, struct socket *sock, struct sockaddr *uaddr, int addr_len,
	     int flags, int ret)
{
	const struct sock *sk = sock->sk;
	struct asked_addr asked;

	if (!sk || sk->__sk_common.skc_family != AF_INET6)
		return 0;
	read_asked(&asked, uaddr, false, addr_len);
	if (!asked_dest_wanted(&asked) || sock_is_mptcp_subflow(sk, true) || in_uring_connect())
		return 0;
	return emit_connect((struct emit_args){
		.sk = sk, .btf = true, .asked = &asked, .ret = ret, .filter = FILTER_NOW});
}

static __always_inline int fexit_listen(struct socket *sock, int ret)
{
	const struct sock *sk = sock->sk;

	if (!sk || sock_is_mptcp_subflow(sk, true))
		return 0;
	return emit_listen(
		(struct emit_args){.sk = sk, .btf = true, .ret = ret, .filter = FILTER_NOW});
}

SEC("fexit/inet_listen")
int BPF_PROG(fexit_inet_listen, struct socket *sock, int backlog, int ret)
{
	return fexit_listen(sock, ret);
}

SEC("fexit/mptcp_listen")
int BPF_PROG(fexit_mptcp_listen, struct socket *sock, int backlog, int ret)
{
	return fexit_listen(sock, ret);
}

#endif
