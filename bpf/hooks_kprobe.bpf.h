// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kprobe mode: kprobe and kretprobe on the same functions as fentry mode,
 * the arguments saved at entry (calls.bpf.h).
 *
 * A part of the one compilation unit bpf/v6trace.bpf.c (one object, one
 * skeleton): it relies on what the parts included before it define.
 */
#ifndef V6TRACE_HOOKS_KPROBE_BPF_H
#define V6TRACE_HOOKS_KPROBE_BPF_H

/*
 * Return of a call saved by stash_call() in kprobe mode: the struct socket
 * and the kernel's copy of the sockaddr were saved. kind is a constant at
 * every call site, so only one emitter is kept.
 */
static __always_inline int emit_finished(__u16 kind, struct emit_args a)
{
	if (kind == V6T_EVENT_BIND)
		return emit_bind(a);
	if (kind == V6T_EVENT_CONNECT)
		return emit_connect(a);
	return emit_listen(a);
}

static __always_inline int finish_kprobe_call(__u16 kind, int ret)
{
	const struct call_args *args = stashed_call(kind);
	struct asked_addr asked = {};
	const struct socket *sock;

	if (!args)
		return 0;
	sock = args->sock;
	if (kind != V6T_EVENT_LISTEN && (kind == V6T_EVENT_CONNECT || ret))
		read_asked(&asked, args->uaddr, false, args->asked.len);
	if (can_cast)
		return emit_finished(kind, (struct emit_args){.sk = sock_of_cast(sock),
							      .btf = true,
							      .asked = &asked,
							      .ret = ret,
							      .filter = FILTER_AT_ENTRY});
	return emit_finished(kind, (struct emit_args){.sk = BPF_CORE_READ(sock, sk),
						      .asked = &asked,
						      .ret = ret,
						      .filter = FILTER_AT_ENTRY});
}

SEC("kprobe/inet_bind")
int BPF_KPROBE(kprobe_inet_bind, struct socket *sock, struct sockaddr *uaddr, int addr_len)
{
	return stash_socket_call(V6T_EVENT_BIND, sock, uaddr, addr_len);
}

SEC("kretprobe/inet_bind")
int BPF_KRETPROBE(kretprobe_inet_bind, int ret)
{
	return finish_kprobe_call(V6T_EVENT_BIND, ret);
}

SEC("kprobe/inet6_bind")
int BPF_KPROBE(kprobe_inet6_bind, struct socket *sock, struct sockaddr *uaddr, int addr_len)
{
	return stash_socket_call(V6T_EVENT_BIND, sock, uaddr, addr_len);
}

SEC("kretprobe/inet6_bind")
int BPF_KRETPROBE(kretprobe_inet6_bind, int ret)
{
	return finish_kprobe_call(V6T_EVENT_BIND, ret);
}

SEC("kprobe/mptcp_bind")
int BPF_KPROBE(kprobe_mptcp_bind, struct socket *sock, struct sockaddr *uaddr, int addr_len)
{
	return stash_socket_call(V6T_EVENT_BIND, sock, uaddr, addr_len);
}

SEC("kretprobe/mptcp_bind")
int BPF_KRETPROBE(kretprobe_mptcp_bind, int ret)
{
	return finish_kprobe_call(V6T_EVENT_BIND, ret);
}

SEC("kretprobe/inet_csk_accept")
int BPF_KRETPROBE(kretprobe_inet_csk_accept, struct sock *child)
{
	if (can_cast) /* see sock_of_cast() */
		return emit_accept((struct emit_args){.sk = bpf_rdonly_cast(child, cfg.sock_btf_id),
						      .btf = true,
						      .filter = FILTER_NOW});
	return emit_accept((struct emit_args){.sk = child, .filter = FILTER_NOW});
}

SEC("kprobe/inet_stream_connect")
int BPF_KPROBE(kprobe_inet_stream_connect, struct socket *sock, struct sockaddr *uaddr,
	       int addr_len)
{
	struct asked_addr asked;

	if (socket_family(sock) != AF_INET6)
		return 0;
	read_asked(&asked, uaddr, false, addr_len);
	if (!asked_dest_wanted(&asked) || in_uring_connect())
		return 0;
	return stash_socket_call(V6T_EVENT_CONNECT, sock, uaddr, addr_len);
}

SEC("kretprobe/inet_stream_connect")
int BPF_KRETPROBE(kretprobe_inet_stream_connect, int ret)
{
	return finish_kprobe_call(V6T_EVENT_CONNECT, ret);
}

SEC("kprobe/inet_listen")
int BPF_KPROBE(kprobe_inet_listen, struct socket *sock)
{
	return stash_socket_call(V6T_EVENT_LISTEN, sock, NULL, 0);
}

SEC("kretprobe/inet_listen")
int BPF_KRETPROBE(kretprobe_inet_listen, int ret)
{
	return finish_kprobe_call(V6T_EVENT_LISTEN, ret);
}

SEC("kprobe/mptcp_listen")
int BPF_KPROBE(kprobe_mptcp_listen, struct socket *sock)
{
	return stash_socket_call(V6T_EVENT_LISTEN, sock, NULL, 0);
}

SEC("kretprobe/mptcp_listen")
int BPF_KRETPROBE(kretprobe_mptcp_listen, int ret)
{
	return finish_kprobe_call(V6T_EVENT_LISTEN, ret);
}

#endif
