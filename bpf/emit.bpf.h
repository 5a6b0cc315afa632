// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The emitters and what they share: the task and socket filters, the reads
 * of a socket and of the sockaddr a call was given, and the one record each
 * event becomes, whatever the hook.
 *
 * A part of the one compilation unit bpf/v6trace.bpf.c (one object, one
 * skeleton): it relies on what the parts included before it define.
 */
#ifndef V6TRACE_EMIT_BPF_H
#define V6TRACE_EMIT_BPF_H

/* The sockaddr a bind or connect was given, as far as it could be read. */
struct asked_addr {
	struct v6t_sockaddr_in6 sa;
	__s32 len; /* the call's addrlen */
	__u8 got;  /* bytes of sa read: 28, 24, 16, or 0 (unreadable: EFAULT) */
	__u8 pad[3];
};

/* ---- filters ------------------------------------------------------------ */

static __always_inline bool comm_matches(void)
{
	char comm[V6T_COMM_LEN];
	int i;

	bpf_get_current_comm(comm, sizeof(comm));
	for (i = 0; i < V6T_COMM_LEN; i++) {
		if (comm[i] != cfg.filter.comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

/* The filters on the calling process: -p/--children/--, --comm, -u, -c. */
static __always_inline bool task_wanted(void)
{
	__u32 tgid;

	if (!cfg.filter.task_any)
		return true;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (cfg.filter.by_pid && !bpf_map_lookup_elem(&pids, &tgid))
		return false;
	if (cfg.filter.by_uid && (__u32)bpf_get_current_uid_gid() != cfg.filter.uid)
		return false;
	if (cfg.filter.by_comm && !comm_matches())
		return false;
	if (cfg.filter.by_cgroup && bpf_current_task_under_cgroup(&cgroups, 0) != 1)
		return false;
	return true;
}

/*
 * Where a call stands with the task filters when its event is emitted:
 *   FILTER_NOW:      they apply now, and nothing new is traced once tracing
 *                    has ended (see stopping)
 *   FILTER_SAVED:    they apply now to a call saved at its entry, before
 *                    tracing ended: it still reports
 *   FILTER_AT_ENTRY: they applied when the call was saved (kprobe mode's
 *                    stash_call(), which saves no call of a task not traced)
 */
enum task_filter { FILTER_NOW, FILTER_SAVED, FILTER_AT_ENTRY };

/*
 * The task filters, applied by event_emit() once the socket is known to be
 * one reported (so that only those count as filtered), and by kprobe mode's
 * entries. False if the event is not sent; counted if a filter dropped it.
 */
static __always_inline bool task_filter_passes(enum task_filter when)
{
	if (when == FILTER_AT_ENTRY)
		return true;
	if (when == FILTER_NOW && stopping) /* tracing has ended: not an event, not filtered */
		return false;
	if (task_wanted())
		return true;
	stat_inc(V6T_STAT_FILTERED);
	return false;
}

/* accept and connect events have a peer, bind and listen do not */
static __always_inline bool has_peer(const struct v6t_event *e)
{
	return e->type == V6T_EVENT_ACCEPT || e->type == V6T_EVENT_CONNECT;
}

/* The rule both sides compile (stack.h); a kernel record's peer is its type's. */
static __always_inline __u8 event_stack(const struct v6t_event *e)
{
	return v6t_stack_rule(e, has_peer(e));
}

static __always_inline bool port_listed(__u16 port)
{
	return bpf_map_lookup_elem(&ports, &port) != NULL;
}

/* The filters on the socket: -4/-6, --netns, -P, --stack, --mapped. */
static __always_inline bool sock_wanted(const struct v6t_event *e)
{
	if (!cfg.filter.sock_any)
		return true;
	if (cfg.filter.family && e->family != cfg.filter.family)
		return false;
	if (cfg.filter.by_netns && e->netns != cfg.filter.netns)
		return false;
	if (cfg.filter.by_port && !port_listed(e->lport) && !(e->rport && port_listed(e->rport)))
		return false;
	/* an address not known has no stack to keep it by */
	if (cfg.filter.stacks &&
	    ((e->flags & V6T_FLAG_ADDR_UNKNOWN) || !(cfg.filter.stacks & (1 << event_stack(e)))))
		return false;
	if (cfg.filter.mapped &&
	    !(e->family == AF_INET6 && has_peer(e) && v6t_word_addr_mapped(e->raddr)))
		return false;
	return true;
}

/*
 * Sends an event whose socket fields are filled, if the task filters and the
 * socket filters keep it: the process fields are added here, and nothing a
 * filter drops ever takes room in the ring buffer (deliver.bpf.h).
 */
static __always_inline void event_emit(struct v6t_event *e, enum task_filter when)
{
	if (!task_filter_passes(when))
		return;
	if (!sock_wanted(e)) {
		stat_inc(V6T_STAT_FILTERED);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	fill_task(e);
	if (!deliver(&events, e))
		stat_inc(V6T_STAT_LOST);
}

/*
 * A copy of a socket's struct sock_common (its family, ports, addresses,
 * v6only, bound interface and namespace): one probe read instead of one per
 * field, each then read from the copy at its CO-RE relocated offset. Large
 * enough for every kernel's (136 bytes on 5.10 to 7.2, x86_64 and arm64).
 */
struct skc_copy {
	__u8 bytes[192];
};

/*
 * The sock_common of sk, where the emitters read it: in sk itself when sk is
 * a BTF-typed pointer (btf: fexit's arguments and what they point to), read
 * with plain loads the verifier guards; else in a copy.
 */
static __always_inline const struct sock_common *sock_common_of(const struct sock *sk, bool btf,
								struct skc_copy *c)
{
	__u32 size = bpf_core_type_size(struct sock_common);

	if (!sk)
		return NULL;
	if (btf)
		return &sk->__sk_common;
	if (size > sizeof(c->bytes) || bpf_probe_read_kernel(c->bytes, size, sk))
		return NULL;
	return (const void *)c->bytes;
}

/* Family, protocol, v6only and netns: what every event reads of its socket. */
static __always_inline void fill_sock_common(struct v6t_event *e, const struct sock *sk, bool btf,
					     const struct sock_common *skc)
{
	e->family = skc->skc_family;
	e->protocol = sock_protocol(sk, btf);
	if (btf)
		e->netns = skc->skc_net.net->ns.inum;
	else
		e->netns = BPF_CORE_READ(skc->skc_net.net, ns.inum);
	e->ifindex = skc->skc_bound_dev_if;
	if (e->family == AF_INET6)
		e->v6only = sock_common_ipv6only(skc);
}

/* fe80::/10, and ff01::/16 and ff02::/16: what inet6_bind() takes sin6_scope_id for */
static __always_inline bool addr_needs_scope(const __u8 *a)
{
	return (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
	       (a[0] == 0xff && ((a[1] & 0x0f) == 1 || (a[1] & 0x0f) == 2));
}

static __always_inline void read_local(struct v6t_event *e, const struct sock_common *skc)
{
	e->lport = skc->skc_num;
	if (e->family == AF_INET6)
		__builtin_memcpy(e->laddr, &skc->skc_v6_rcv_saddr, 16);
	else
		__builtin_memcpy(e->laddr, &skc->skc_rcv_saddr, 4);
}

/*
 * Reads the sockaddr of a bind or connect: all of a sockaddr_in6 if it can,
 * else the 24 bytes inet6_bind() needs at least, else a sockaddr_in (a short
 * buffer at the end of a mapping); got 0 if none could be read (EFAULT).
 */
static __always_inline void read_asked(struct asked_addr *a, const void *uaddr, bool user,
				       __s32 len)
{
	a->len = len;
	a->got = 0;
	if (!uaddr)
		return;
	if (!(user ? bpf_probe_read_user(&a->sa, 28, uaddr)
		   : bpf_probe_read_kernel(&a->sa, 28, uaddr)))
		a->got = 28;
	else if (!(user ? bpf_probe_read_user(&a->sa, 24, uaddr)
			: bpf_probe_read_kernel(&a->sa, 24, uaddr)))
		a->got = 24;
	else if (!(user ? bpf_probe_read_user(&a->sa, 16, uaddr)
			: bpf_probe_read_kernel(&a->sa, 16, uaddr)))
		a->got = 16;
}

/*
 * A failed bind leaves the socket unbound: report the address and port that
 * were asked for, as the kernel's own checks read them, or none where they
 * refuse the sockaddr before any address is taken (V6T_FLAG_ADDR_UNKNOWN).
 * The rules, the same from 5.10 to 7.2: move_addr_to_kernel() refuses an
 * addrlen above sizeof(struct sockaddr_storage) (EINVAL) and an unreadable
 * one (EFAULT); inet6_bind() an addrlen below SIN6_LEN_RFC2133 (24: EINVAL),
 * then in __inet6_bind() any sin6_family but AF_INET6 (EAFNOSUPPORT), and it
 * takes sin6_scope_id only from a whole sockaddr_in6; inet_bind() an addrlen
 * below sizeof(struct sockaddr_in) (EINVAL), then in __inet_bind() any family
 * but AF_INET (EAFNOSUPPORT) except AF_UNSPEC with INADDR_ANY, which it binds
 * as AF_INET to 0.0.0.0 "for compatibility".
 */
static __always_inline __u32 read_requested(struct v6t_event *e, const struct asked_addr *a)
{
	const struct v6t_sockaddr_in *sin = (const void *)&a->sa;

	if (a->len > 128)
		return V6T_FLAG_ADDR_UNKNOWN;
	if (e->family == AF_INET6) {
		if (a->len < 24 || a->got < 24 || a->sa.sin6_family != AF_INET6)
			return V6T_FLAG_ADDR_UNKNOWN;
		e->lport = bpf_ntohs(a->sa.sin6_port);
		__builtin_memcpy(e->laddr, &a->sa.sin6_addr, 16);
		if (a->len >= 28 && a->got >= 28 && a->sa.sin6_scope_id &&
		    addr_needs_scope(e->laddr))
			e->ifindex = a->sa.sin6_scope_id;
		return 0;
	}
	if (a->len < 16 || a->got < 16 ||
	    (sin->sin_family != AF_INET && (sin->sin_family != 0 || sin->sin_addr != 0)))
		return V6T_FLAG_ADDR_UNKNOWN;
	e->lport = bpf_ntohs(sin->sin_port);
	__builtin_memcpy(e->laddr, &sin->sin_addr, 4);
	return 0;
}

static __always_inline bool family_traced(__u16 family)
{
	return family == AF_INET || family == AF_INET6;
}

/* TCP, and MPTCP (whose user-facing socket listens, accepts and connects too) */
static __always_inline bool protocol_is_stream(__u16 protocol)
{
	return protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP;
}

/*
 * What the emitters are told of a call, by name at each call site:
 *   sk:     the socket, read after the call
 *   btf:    sk is a BTF-typed pointer (fexit's arguments, or cast to its
 *           type): read with plain loads the verifier guards, else with
 *           probe reads
 *   asked:  the sockaddr the call was given (bind, connect)
 *   flags:  what the caller knows of the facts (enum v6t_event_flag)
 *   ret:    the call's result
 *   filter: where the call stands with the task filters
 */
struct emit_args {
	const struct sock *sk;
	const struct asked_addr *asked;
	__u32 flags;
	int ret;
	bool btf;
	enum task_filter filter;
};

/* What every event reads of its socket first; NULL if the socket cannot be read. */
static __always_inline const struct sock_common *
event_sock(struct v6t_event *e, const struct emit_args *a, struct skc_copy *copy)
{
	const struct sock_common *skc = sock_common_of(a->sk, a->btf, copy);

	if (skc)
		fill_sock_common(e, a->sk, a->btf, skc);
	return skc;
}

/*
 * A call whose socket is not known (V6T_FLAG_SOCKET_UNKNOWN): the fd named
 * other sockets during it, and none of those seen can have been the one it
 * acted on. Reported, so that a bind is never missing, with nothing of the
 * socket.
 */
static __always_inline int emit_unknown_socket(__u16 type, struct emit_args a)
{
	struct v6t_event e = {.type = type, .ret = a.ret};

	/* no address either: the caller's memory is not the address of a socket not known */
	e.flags = (a.flags & V6T_FLAG_FD_CHANGED) | V6T_FLAG_SOCKET_UNKNOWN | V6T_FLAG_ADDR_UNKNOWN;
	event_emit(&e, a.filter);
	return 0;
}

/* The emitters read the socket after the call (struct emit_args). */
static __always_inline int emit_bind(struct emit_args a)
{
	struct v6t_event e = {.type = V6T_EVENT_BIND};
	const struct sock_common *skc;
	struct skc_copy copy;

	skc = event_sock(&e, &a, &copy);
	if (!skc)
		return 0;
	if (!family_traced(e.family))
		return 0;
	e.ret = a.ret;
	if (a.ret == 0) {
		/* the socket's own word: what user memory said no longer matters */
		read_local(&e, skc);
		a.flags &= ~(V6T_FLAG_ADDR_USER | V6T_FLAG_ADDR_CHANGED);
	} else {
		a.flags |= read_requested(&e, a.asked);
		if (a.flags & V6T_FLAG_ADDR_UNKNOWN)
			a.flags &= ~(V6T_FLAG_ADDR_USER | V6T_FLAG_ADDR_CHANGED);
	}
	e.flags = a.flags;
	event_emit(&e, a.filter);
	return 0;
}

static __always_inline int emit_accept(struct emit_args a)
{
	struct v6t_event e = {.type = V6T_EVENT_ACCEPT};
	const struct sock_common *skc;
	struct skc_copy copy;

	skc = event_sock(&e, &a, &copy);
	if (!skc)
		return 0;
	if (!family_traced(e.family))
		return 0;
	e.protocol = accepted_protocol(a.sk, a.btf, e.protocol);
	read_local(&e, skc);
	e.rport = bpf_ntohs(skc->skc_dport);
	if (e.family == AF_INET6)
		__builtin_memcpy(e.raddr, &skc->skc_v6_daddr, 16);
	else
		__builtin_memcpy(e.raddr, &skc->skc_daddr, 4);
	event_emit(&e, a.filter);
	return 0;
}

/*
 * connect on an inet6 socket: is the destination one we report? By default
 * only IPv4-mapped ones (an inet6 socket talking IPv4); every one with
 * filter.all_connects. Not a filter: what it leaves out is not counted.
 */
static __always_inline bool asked_dest_wanted(const struct asked_addr *a)
{
	/* inet6_stream_connect() -> tcp_v6_connect(): addr_len < SIN6_LEN_RFC2133 is EINVAL */
	if (a->got < 24 || a->len < 24 || a->sa.sin6_family != AF_INET6)
		return false;
	return cfg.filter.all_connects || v6t_word_addr_mapped(a->sa.sin6_addr.in6_u.u6_addr8);
}

/*
 * The destination as requested (what the caller asked for, even on failure),
 * the local end as the socket holds it after the call. In tracepoint mode
 * (V6T_FLAG_ADDR_USER) the socket's own peer replaces the caller's memory
 * once the kernel has set it (tcp_v6_connect() sets sk_v6_daddr and
 * inet_dport before it sends the SYN; a failed one clears inet_dport).
 */
static __always_inline int emit_connect(struct emit_args a)
{
	/* not a.sk inside BPF_CORE_READ: its access records would keep a whole in memory */
	const struct inet_sock *inet = (const void *)a.sk;
	struct v6t_event e = {.type = V6T_EVENT_CONNECT};
	const struct sock_common *skc;
	struct skc_copy copy;

	skc = event_sock(&e, &a, &copy);
	if (!skc)
		return 0;
	if (e.family != AF_INET6 || !protocol_is_stream(e.protocol))
		return 0;
	/* one after the other: a load merged from both would mix pointer types (the verifier) */
	__builtin_memcpy(e.raddr, &a.asked->sa.sin6_addr, 16);
	e.rport = bpf_ntohs(a.asked->sa.sin6_port);
	if ((a.flags & V6T_FLAG_ADDR_USER) && skc->skc_dport) {
		__builtin_memcpy(e.raddr, &skc->skc_v6_daddr, 16);
		e.rport = bpf_ntohs(skc->skc_dport);
		a.flags &= ~(V6T_FLAG_ADDR_USER | V6T_FLAG_ADDR_CHANGED);
	}
	read_local(&e, skc);
	/* a refused connect gives its port back (inet_num 0); getsockname() still says inet_sport */
	if (!e.lport)
		e.lport = bpf_ntohs(BPF_CORE_READ(inet, inet_sport));
	e.ret = a.ret;
	e.flags = a.flags;
	event_emit(&e, a.filter);
	return 0;
}

static __always_inline int emit_listen(struct emit_args a)
{
	struct v6t_event e = {.type = V6T_EVENT_LISTEN};
	const struct sock_common *skc;
	struct skc_copy copy;

	skc = event_sock(&e, &a, &copy);
	if (!skc)
		return 0;
	if (!family_traced(e.family) || !protocol_is_stream(e.protocol))
		return 0;
	read_local(&e, skc);
	e.ret = a.ret;
	e.flags = a.flags;
	e.backlog = listen_backlog(a.sk, a.btf, e.protocol);
	event_emit(&e, a.filter);
	return 0;
}

/*
 * The sock of a struct socket that a kprobe or io_uring's tracepoints get as
 * an untyped pointer, read through the socket cast to its BTF type (from
 * Linux 6.2, have_rdonly_cast; see core_fixes.bpf.h): the sock is then
 * BTF-typed too, and the emitters read it with loads (btf true), not a probe
 * read per field.
 */
static __always_inline const struct sock *sock_of_cast(const struct socket *sock)
{
	return ((const struct socket *)bpf_rdonly_cast((void *)sock, cfg.socket_btf_id))->sk;
}

/* The family of a socket, 0 if it has no sock. */
static __always_inline __u16 socket_family(const struct socket *sock)
{
	const struct sock *sk;

	if (can_cast) {
		sk = sock_of_cast(sock);
		return sk ? sk->__sk_common.skc_family : 0;
	}
	sk = BPF_CORE_READ(sock, sk);
	return sk ? BPF_CORE_READ(sk, __sk_common.skc_family) : 0;
}

/* An MPTCP subflow's socket, seen inside mptcp_bind()/mptcp_listen() up to 6.5. */
static __always_inline bool socket_is_mptcp_subflow(const struct socket *sock)
{
	const struct sock *sk;

	if (can_cast) {
		sk = sock_of_cast(sock);
		return sk && sock_is_mptcp_subflow(sk, true);
	}
	sk = BPF_CORE_READ(sock, sk);
	return sk && sock_is_mptcp_subflow(sk, false);
}

#endif
