// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * v6trace kernel side: bind, listen, accept and connect events from three
 * kinds of hooks.
 *
 *   fentry:     fexit on inet_bind, inet6_bind, inet_listen, inet_csk_accept,
 *               inet_stream_connect, and mptcp_bind, mptcp_listen where the
 *               kernel has MPTCP (see core_fixes.bpf.h)
 *   kprobe:     kprobe + kretprobe on the same functions
 *   tracepoint: syscalls:sys_enter_{bind,listen,connect}, which save the
 *               fd's socket and the caller's sockaddr, and
 *               syscalls:sys_exit_{bind,listen,connect,accept,accept4}, one
 *               program (before 5.15, one per call); the fd is resolved to
 *               its struct socket in the kernel; and io_uring's
 *               io_uring_complete for the requests that never enter those
 *               system calls
 *
 * Whatever the hook, the event is filled from the socket after the call, by
 * the same helpers, so every mode reports the same record. The loader enables
 * exactly one mode's programs with bpf_program__set_autoload(), plus the two
 * raw tracepoints that follow forks when a process tree is traced.
 *
 * Every filter is decided here, before the ring buffer: the process filters
 * (pid, comm, uid, cgroup) as soon as the hook runs, the socket filters
 * (family, netns, port, stack, mapped peer) once the socket is read.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "v6trace.h"
#include "abi.bpf.h"
#include "config.bpf.h"
#include "core_fixes.bpf.h"
#include "deliver.bpf.h"
#include "stack.h"

#define AF_INET	     2
#define AF_INET6     10
#define S_IFMT	     00170000
#define S_IFSOCK     0140000
#define IPPROTO_TCP  6
#define EADDRINUSE   98
#define EINPROGRESS  115
#define EOPNOTSUPP   95
#define EAFNOSUPPORT 97

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Set by user space (through the memory-mapped .bss, no system call) when
 * tracing ends: no new call is traced from then on, while those already
 * saved at entry still report at their return. Then the links go.
 */
volatile bool stopping = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* resized by the loader (--ringbuf-kb) */
} events SEC(".maps");

/* see enum v6t_stat; sized by the loader to V6T_STAT_SLOTS per possible CPU */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, V6T_STAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* tgids to trace (-p, -- COMMAND), and with filter.children their forks */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, V6T_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

/* local or peer ports to trace (-P) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, V6T_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u8);
} ports SEC(".maps");

/* slot 0: the cgroup v2 directory of -c */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroups SEC(".maps");

/*
 * Arguments saved at entry, keyed by thread id, read back at return. A thread
 * is in one system call at a time; kind guards against reading back what
 * another call left (one whose return was missed while attaching). nested
 * counts calls on MPTCP subflows inside the saved one (up to 6.5 mptcp_bind()
 * calls inet6_bind() on its subflow, and on 6.1 an MPTCP connect passes
 * through inet_stream_connect() again for it): their returns are not ours.
 *
 * A thread's entry stays in the map between its calls, with kind 0, and is
 * written in place by the next: a lookup costs a fraction of an insertion
 * and a deletion, which took most of kprobe mode's time per call (make bench,
 * the guests). It is deleted when the thread exits (raw_tp_thread_exit), so
 * the map holds the live threads that have made a traced call: past
 * 10240 of them, a new thread's calls are not traced.
 */
/* The sockaddr a bind or connect was given, as far as it could be read. */
struct asked_addr {
	struct v6t_sockaddr_in6 sa;
	__s32 len; /* the call's addrlen */
	__u8 got;  /* bytes of sa read: 28, 24, 16, or 0 (unreadable: EFAULT) */
	__u8 pad[3];
};

struct call_args {
	/*
	 * kprobe: the struct socket; tracepoint: the struct sock the fd named at
	 * the call's entry (NULL: none, the fd was no socket)
	 */
	const void *sock;
	const void *uaddr;	 /* struct sockaddr *: kernel (kprobe) or user (tracepoint) */
	struct asked_addr asked; /* tracepoint: *uaddr as read at the call's entry */
	__s32 fd;		 /* tracepoint only */
	__u16 kind;		 /* enum v6t_event_type; 0: no call saved */
	__u16 nested;		 /* subflow calls entered and not yet returned */
	__u8 user;		 /* tracepoint mode's: sock is a struct sock, uaddr user memory */
	__u8 was_bound;		 /* tracepoint: the sock had a local port at entry */
	__u8 was_inet;		 /* tracepoint: the sock was an inet or inet6 one */
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct call_args);
} inflight SEC(".maps");

/* this CPU's slot; atomic because a program can interrupt another on one CPU */
static __always_inline void stat_inc(__u32 idx)
{
	__u32 key = bpf_get_smp_processor_id() * V6T_STAT_SLOTS + idx;
	__u64 *val = bpf_map_lookup_elem(&stats, &key);

	if (val)
		__sync_fetch_and_add(val, 1);
}

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

/* Counts an inet event a task filter dropped; false if it was dropped. */
static __always_inline bool task_passes(void)
{
	if (stopping) /* tracing has ended: not an event, not filtered */
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
 * Sends an event whose socket fields are filled, if the socket filters keep
 * it: the process fields are added here, and nothing a filter drops ever
 * takes room in the ring buffer (deliver.bpf.h).
 */
static __always_inline void event_emit(struct v6t_event *e)
{
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
 * Where the emitters apply the task filters: once the socket is known to be
 * one reported, so that only those count as filtered.
 *   FILTER_DONE:  the caller applied them
 *   FILTER_NOW:   here, and nothing new is traced once tracing ends
 *   FILTER_SAVED: here, for a call saved at its entry: it still reports after
 *                 tracing ends (see stopping)
 */
enum task_filter { FILTER_DONE, FILTER_NOW, FILTER_SAVED };

static __always_inline bool task_filter_passes(enum task_filter when)
{
	if (when == FILTER_DONE)
		return true;
	if (when == FILTER_NOW)
		return task_passes();
	if (task_wanted())
		return true;
	stat_inc(V6T_STAT_FILTERED);
	return false;
}

/*
 * A call whose socket is not known (V6T_FLAG_SOCKET_UNKNOWN): the fd named
 * other sockets during it, and none of those seen can have been the one it
 * acted on. Reported, so that a bind is never missing, with nothing of the
 * socket.
 */
static __always_inline int emit_unknown_socket(__u16 type, __u32 flags, int ret,
					       enum task_filter when)
{
	struct v6t_event e = {.type = type, .ret = ret};

	if (!task_filter_passes(when))
		return 0;
	/* no address either: the caller's memory is not the address of a socket not known */
	e.flags = (flags & V6T_FLAG_FD_CHANGED) | V6T_FLAG_SOCKET_UNKNOWN | V6T_FLAG_ADDR_UNKNOWN;
	event_emit(&e);
	return 0;
}

/*
 * The emitters read the socket after the call. asked: the sockaddr the call
 * was given; flags: what the caller knows of the facts (enum v6t_event_flag).
 */
static __always_inline int emit_bind(const struct sock *sk, bool btf,
				     const struct asked_addr *asked, __u32 flags, int ret,
				     enum task_filter when)
{
	struct v6t_event e = {.type = V6T_EVENT_BIND};
	const struct sock_common *skc;
	struct skc_copy copy;

	skc = sock_common_of(sk, btf, &copy);
	if (!skc)
		return 0;
	fill_sock_common(&e, sk, btf, skc);
	if (!family_traced(e.family) || !task_filter_passes(when))
		return 0;
	e.ret = ret;
	if (ret == 0) {
		read_local(
			&e,
			skc); /* the socket's own word: what user memory said no longer matters */
		flags &= ~(V6T_FLAG_ADDR_USER | V6T_FLAG_ADDR_CHANGED);
	} else {
		flags |= read_requested(&e, asked);
		if (flags & V6T_FLAG_ADDR_UNKNOWN)
			flags &= ~(V6T_FLAG_ADDR_USER | V6T_FLAG_ADDR_CHANGED);
	}
	e.flags = flags;
	event_emit(&e);
	return 0;
}

static __always_inline int emit_accept(const struct sock *sk, bool btf)
{
	struct v6t_event e = {.type = V6T_EVENT_ACCEPT};
	const struct sock_common *skc;
	struct skc_copy copy;

	skc = sock_common_of(sk, btf, &copy);
	if (!skc)
		return 0;
	fill_sock_common(&e, sk, btf, skc);
	if (!family_traced(e.family))
		return 0;
	if (!task_passes())
		return 0;
	e.protocol = accepted_protocol(sk, btf, e.protocol);
	read_local(&e, skc);
	e.rport = bpf_ntohs(skc->skc_dport);
	if (e.family == AF_INET6)
		__builtin_memcpy(e.raddr, &skc->skc_v6_daddr, 16);
	else
		__builtin_memcpy(e.raddr, &skc->skc_daddr, 4);
	event_emit(&e);
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
static __always_inline int emit_connect(const struct sock *sk, bool btf,
					const struct asked_addr *asked, __u32 flags, int ret,
					enum task_filter when)
{
	struct v6t_event e = {.type = V6T_EVENT_CONNECT};
	const struct sock_common *skc;
	struct skc_copy copy;

	skc = sock_common_of(sk, btf, &copy);
	if (!skc)
		return 0;
	fill_sock_common(&e, sk, btf, skc);
	if (e.family != AF_INET6 || !protocol_is_stream(e.protocol) || !task_filter_passes(when))
		return 0;
	/* one after the other: a load merged from both would mix pointer types (the verifier) */
	__builtin_memcpy(e.raddr, &asked->sa.sin6_addr, 16);
	e.rport = bpf_ntohs(asked->sa.sin6_port);
	if ((flags & V6T_FLAG_ADDR_USER) && skc->skc_dport) {
		__builtin_memcpy(e.raddr, &skc->skc_v6_daddr, 16);
		e.rport = bpf_ntohs(skc->skc_dport);
		flags &= ~(V6T_FLAG_ADDR_USER | V6T_FLAG_ADDR_CHANGED);
	}
	read_local(&e, skc);
	/* a refused connect gives its port back (inet_num 0); getsockname() still says inet_sport */
	if (!e.lport)
		e.lport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	e.ret = ret;
	e.flags = flags;
	event_emit(&e);
	return 0;
}

static __always_inline int emit_listen(const struct sock *sk, bool btf, __u32 flags, int ret,
				       enum task_filter when)
{
	struct v6t_event e = {.type = V6T_EVENT_LISTEN};
	const struct sock_common *skc;
	struct skc_copy copy;

	skc = sock_common_of(sk, btf, &copy);
	if (!skc)
		return 0;
	fill_sock_common(&e, sk, btf, skc);
	if (!family_traced(e.family) || !protocol_is_stream(e.protocol) ||
	    !task_filter_passes(when))
		return 0;
	read_local(&e, skc);
	e.ret = ret;
	e.flags = flags;
	e.backlog = listen_backlog(sk, btf, e.protocol);
	event_emit(&e);
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

/* threads inside io_uring's io_connect(), whose inet_stream_connect() calls are attempts */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} uring_connecting SEC(".maps");

static __always_inline bool in_uring_connect(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	return bpf_map_lookup_elem(&uring_connecting, &tid) != NULL;
}

static __always_inline int uring_connect_enter(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u8 one = 1;

	bpf_map_update_elem(&uring_connecting, &tid, &one, BPF_ANY);
	return 0;
}

static __always_inline int uring_connect_leave(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&uring_connecting, &tid);
	return 0;
}

/* ---- fentry mode ------------------------------------------------------- */

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

	if (!sk || sock_is_mptcp_subflow(sk, true) || !task_passes())
		return 0;
	if (ret) /* the kernel's copy of the sockaddr */
		read_asked(&asked, uaddr, false, addr_len);
	return emit_bind(sk, true, &asked, 0, ret, FILTER_DONE);
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
	return emit_accept(child, true);
}

/* From Linux 6.10: (sk, struct proto_accept_arg *arg). */
SEC("fexit/inet_csk_accept")
int BPF_PROG(fexit_inet_csk_accept_2, struct sock *sk, void *arg, struct sock *child)
{
	return emit_accept(child, true);
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
	if (!asked_dest_wanted(&asked) || sock_is_mptcp_subflow(sk, true) || in_uring_connect() ||
	    !task_passes())
		return 0;
	return emit_connect(sk, true, &asked, 0, ret, FILTER_DONE);
}

static __always_inline int fexit_listen(struct socket *sock, int ret)
{
	const struct sock *sk = sock->sk;

	if (!sk || sock_is_mptcp_subflow(sk, true) || !task_passes())
		return 0;
	return emit_listen(sk, true, 0, ret, FILTER_DONE);
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

/* ---- kprobe mode ------------------------------------------------------- */

/* Entry of a call on an inet socket: saved for the return, if wanted. */
static __always_inline int stash_call(__u16 kind, const void *sock, const void *uaddr, int addrlen)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call_args new = {.sock = sock, .uaddr = uaddr, .fd = -1, .kind = kind}, *args;

	if (!task_passes())
		return 0;
	new.asked.len = addrlen;
	args = bpf_map_lookup_elem(&inflight, &tid);
	if (args)
		*args = new;
	else if (bpf_map_update_elem(&inflight, &tid, &new, BPF_ANY))
		return 0;
	stat_inc(V6T_STAT_CALLS_BEGUN);
	return 0;
}

/*
 * kprobe mode's entry of bind, listen and connect. An MPTCP subflow is not the
 * user's socket: its call is counted as nested in the user's one, if any.
 */
static __always_inline int stash_socket_call(__u16 kind, const struct socket *sock,
					     const void *uaddr, int addrlen)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call_args *outer;

	if (!socket_is_mptcp_subflow(sock))
		return stash_call(kind, sock, uaddr, addrlen);
	outer = bpf_map_lookup_elem(&inflight, &tid);
	if (outer && outer->kind)
		outer->nested++;
	return 0;
}

/*
 * The saved arguments of this thread's call of that kind, taken (kind 0);
 * NULL at the return of a nested subflow call, which leaves them be. Only
 * this thread writes its entry (its next call), so they stay valid for the
 * rest of the program.
 */
static __always_inline const struct call_args *stashed_call(__u16 kind)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call_args *args = bpf_map_lookup_elem(&inflight, &tid);
	bool ok;

	if (!args || !args->kind)
		return NULL;
	if (args->nested) {
		args->nested--;
		return NULL;
	}
	ok = args->kind == kind;
	args->kind = 0;
	stat_inc(V6T_STAT_CALLS_ENDED);
	return ok ? args : NULL;
}

/* file->private_data, if the file is a socket. */
static __always_inline const struct socket *socket_of_file(const struct file *file)
{
	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(file, private_data);
}

/* current->files->fdt->fd[fd]->private_data, if fd is a socket. */
static __always_inline const struct socket *socket_of_fd(long fd)
{
	const struct task_struct *task = (const void *)bpf_get_current_task();
	const struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return NULL;
	return socket_of_file(file);
}

/*
 * The same, from Linux 5.11 (bpf_get_current_task_btf()): the task's BTF-typed
 * pointers are walked with plain loads, which the verifier guards, instead of
 * a probe read each. The fd table is indexed by a variable: a probe read.
 */
static __always_inline const struct socket *socket_of_fd_btf(const struct task_struct *task,
							     long fd)
{
	const struct fdtable *fdt = task->files->fdt;
	struct file *file = NULL;

	if (fd < 0 || fd >= fdt->max_fds ||
	    bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]))
		return NULL;
	return socket_of_file(file);
}

/*
 * Return of a call saved by stash_call() in kprobe mode: the struct socket
 * and the kernel's copy of the sockaddr were saved. kind is a constant at
 * every call site, so only one emitter is kept.
 */
static __always_inline int emit_finished(__u16 kind, const struct sock *sk, bool btf,
					 const struct asked_addr *asked, int ret)
{
	if (kind == V6T_EVENT_BIND)
		return emit_bind(sk, btf, asked, 0, ret, FILTER_DONE);
	if (kind == V6T_EVENT_CONNECT)
		return emit_connect(sk, btf, asked, 0, ret, FILTER_DONE);
	return emit_listen(sk, btf, 0, ret, FILTER_DONE);
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
		return emit_finished(kind, sock_of_cast(sock), true, &asked, ret);
	return emit_finished(kind, BPF_CORE_READ(sock, sk), false, &asked, ret);
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
		return emit_accept(bpf_rdonly_cast(child, cfg.sock_btf_id), true);
	return emit_accept(child, false);
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

/* ---- tracepoint mode --------------------------------------------------- */

/*
 * The system call tracepoints see a call's fd and the caller's sockaddr, not
 * what the kernel took of them. Read only at the exit (as up to issue 23),
 * another thread could dup2() another socket over the fd, or rewrite the
 * sockaddr, during the call, and make a record name a bind that never
 * happened (971 to 9667 in a test) or a port the kernel never saw. So bind,
 * connect and listen are saved at their entry, before the kernel's fdget()
 * and move_addr_to_kernel(): the fd's sock and a copy of the sockaddr. At the
 * exit (sys_exit_saved()):
 *  - the socket reported is the entry's, compared with the fd's at exit
 *    (V6T_FLAG_FD_CHANGED). A success the entry's cannot have had was
 *    another socket's: the exit's if that is another, else none known
 *    (V6T_FLAG_SOCKET_UNKNOWN), still reported, so no bind goes missing.
 *    A failure is the entry's socket's unless that one cannot have failed so
 *    (could_have_failed()); another failure of another socket (the fd
 *    swapped and swapped back, or swapped in the few instructions between
 *    the entry tracepoint and fdget()) is reported on the entry's: nothing
 *    here tells them apart.
 *  - a successful bind's address is the socket's own; a failed one's can only
 *    be the caller's memory (V6T_FLAG_ADDR_USER), read again at the exit
 *    (V6T_FLAG_ADDR_CHANGED when it differs; a change undone within the call
 *    is invisible to any reader of user memory). No tracepoint fires between
 *    move_addr_to_kernel() and the protocol's bind on 5.10 to 7.2; what sees
 *    the kernel's copy is the LSM hook socket_bind (BPF LSM: not on the host)
 *    and the cgroup inet bind hooks (cgroup/bind4, bind6), not used: they
 *    would run in every bind of the machine's cgroup v2 tree and need it
 *    mounted.
 * Cost: an entry program per bind, connect (to an address reported) and
 * listen, and sys_enter's tracepoint enabled for every system call (make
 * bench, "sys_enter+exit_bind").
 */

/*
 * One program for the five system calls (tp_sys_exit_btf from Linux 6.2,
 * tp_sys_exit before): the loader attaches it to
 * sys_exit_{bind,connect,listen,accept,accept4} and sets their numbers (cfg.nr_*). The
 * verifier then checks its loads of the task's BTF-typed pointers once, not
 * once per tracepoint (each costs it a search of the kernel's BTF).
 */

/*
 * A syscalls:sys_exit_* record, as its tracefs format says (an ABI): the
 * number is an int, and the 4 bytes after it are not written.
 */
struct syscall_exit_record {
	__u64 common;
	int nr;
	long ret;
};

/*
 * The sock of the socket at fd in the task's fd table, from Linux 6.2: the
 * file and the socket are cast to their BTF types (bpf_rdonly_cast(), see
 * core_fixes.bpf.h), and everything behind them is read with plain loads. The
 * fd table is indexed by a variable: a probe read.
 */
static __always_inline const struct sock *sock_of_fd_cast(const struct task_struct *task, long fd)
{
	const struct fdtable *fdt;

	task = bpf_rdonly_cast((void *)task, cfg.task_struct_btf_id);
	fdt = task->files->fdt;
	const struct socket *sock;
	struct file *file = NULL;

	if (fd < 0 || fd >= fdt->max_fds ||
	    bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]) || !file)
		return NULL;
	file = bpf_rdonly_cast(file, cfg.file_btf_id);
	if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = bpf_rdonly_cast(file->private_data, cfg.socket_btf_id);
	return sock->sk;
}

/*
 * The sock of the socket at fd in the calling task's fd table, NULL if none:
 * cast (from Linux 6.2) through BTF types, else from the task's BTF-typed
 * pointers (5.11, task_btf), else with probe reads.
 */
static __always_inline const struct sock *sock_of_fd(long fd, bool cast)
{
	const struct socket *sock;

	if (cast)
		return sock_of_fd_cast(bpf_get_current_task_btf(), fd);
	sock = cfg.task_btf ? socket_of_fd_btf(bpf_get_current_task_btf(), fd) : socket_of_fd(fd);
	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* What tracepoint mode checks of a sock at a call's entry and exit. */
struct sock_state {
	__u16 family;
	__u16 num;   /* skc_num: the local port, 0 while unbound */
	__u16 dport; /* skc_dport: the peer's port, 0 while there is none */
	__u8 state;  /* skc_state: TCP_* (unix sockets use the same numbers) */
};

static __always_inline void read_sock_state(const struct sock *sk, bool cast, struct sock_state *st)
{
	const struct sock_common *skc;

	if (cast) {
		skc = &((const struct sock *)bpf_rdonly_cast((void *)sk, cfg.sock_btf_id))
			       ->__sk_common;
		st->family = skc->skc_family;
		st->num = skc->skc_num;
		st->dport = skc->skc_dport;
		st->state = skc->skc_state;
		return;
	}
	skc = &sk->__sk_common;
	st->family = BPF_CORE_READ(skc, skc_family);
	st->num = BPF_CORE_READ(skc, skc_num);
	st->dport = BPF_CORE_READ(skc, skc_dport);
	st->state = BPF_CORE_READ(skc, skc_state);
}

/*
 * Entry of bind, connect or listen: the fd's sock and the caller's sockaddr,
 * before the kernel's fdget() and move_addr_to_kernel() (see "tracepoint
 * mode" below), written in place into the thread's entry. Every call is
 * saved, whatever the task: the task filters are applied at the exit, as for
 * accept. A connect is saved only when its destination is one reported.
 */
static __always_inline int sys_enter_call(__u16 kind, long fd, const void *uaddr, long addrlen)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct asked_addr asked = {};
	struct call_args *args;
	struct sock_state st = {};
	const struct sock *sk;

	if (stopping)
		return 0;
	/* most connects are not reported: they cost a read of their sockaddr only */
	if (kind != V6T_EVENT_LISTEN) {
		read_asked(&asked, uaddr, true, (__s32)addrlen);
		if (kind == V6T_EVENT_CONNECT && !asked_dest_wanted(&asked))
			return 0;
	}
	args = bpf_map_lookup_elem(&inflight, &tid);
	if (!args) {
		struct call_args fresh = {};

		bpf_map_update_elem(&inflight, &tid, &fresh, BPF_NOEXIST);
		args = bpf_map_lookup_elem(&inflight, &tid);
		if (!args)
			return 0;
	}
	args->asked = asked;
	sk = sock_of_fd(fd, can_cast);
	if (sk)
		read_sock_state(sk, can_cast, &st);
	args->sock = sk;
	args->uaddr = uaddr;
	args->fd = (__s32)fd;
	args->nested = 0;
	args->user = 1;
	args->was_bound = st.num != 0;
	args->was_inet = family_traced(st.family);
	args->kind = kind;
	stat_inc(V6T_STAT_CALLS_BEGUN);
	return 0;
}

/* Whether the caller's sockaddr reads differently at the call's exit. */
static __always_inline __u32 asked_changed(const struct call_args *args)
{
	struct asked_addr now = {};
	const __u32 *a = (const void *)&args->asked.sa, *b = (const void *)&now.sa;
	__u32 diff = 0;
	int i;

	read_asked(&now, args->uaddr, true, args->asked.len);
	if (now.got != args->asked.got)
		return V6T_FLAG_ADDR_CHANGED;
#pragma unroll
	for (i = 0; i < 7; i++) {
		if (i * 4 < now.got)
			diff |= a[i] ^ b[i];
	}
	return diff ? V6T_FLAG_ADDR_CHANGED : 0;
}

/*
 * Whether a call that succeeded can have acted on sk, the sock its fd named at
 * entry: a bind leaves the socket it bound with a port, and cannot bind one
 * bound already or of a family its sockaddr's does not fit (inet: AF_INET or
 * AF_UNSPEC; inet6: AF_INET6; any other: neither); a listen leaves its socket
 * listening; a connect its socket with a peer.
 */
static __always_inline bool could_have_succeeded(__u16 kind, const struct sock *sk, bool cast,
						 const struct call_args *args, bool at_entry)
{
	__u16 asked = args->asked.got ? args->asked.sa.sin6_family : 0xffff;
	struct sock_state st = {};

	if (!sk)
		return false;
	read_sock_state(sk, cast, &st);
	if (kind == V6T_EVENT_LISTEN)
		return st.state == TCP_LISTEN;
	if (kind == V6T_EVENT_CONNECT)
		return st.dport != 0;
	if ((at_entry && args->was_bound) || !st.num) /* of the exit's, the entry is not known */
		return false;
	if (asked == 0xffff) /* not read at entry: nothing to hold against it */
		return true;
	if (st.family == AF_INET6)
		return asked == AF_INET6;
	if (st.family == AF_INET)
		return asked == AF_INET || asked == 0;
	return asked != AF_INET && asked != AF_INET6;
}

/*
 * Whether a call that failed with ret can have failed on sk, the sock its fd
 * named at entry: a stream socket's listen never fails with EOPNOTSUPP (that
 * is sock_no_listen(), a UDP socket's), and a bind given its own family's
 * sockaddr never with EAFNOSUPPORT.
 */
static __always_inline bool could_have_failed(__u16 kind, const struct sock *sk, bool cast,
					      const struct call_args *args, long ret)
{
	struct sock_state st = {};

	if (!sk)
		return false;
	if (kind == V6T_EVENT_CONNECT || (ret != -EOPNOTSUPP && ret != -EAFNOSUPPORT))
		return true;
	read_sock_state(sk, cast, &st);
	if (kind == V6T_EVENT_LISTEN)
		return ret != -EOPNOTSUPP || !family_traced(st.family);
	return ret != -EAFNOSUPPORT || !args->asked.got || !family_traced(st.family) ||
	       args->asked.sa.sin6_family != st.family;
}

/*
 * Exit of a call saved by sys_enter_call(). The socket reported is the one
 * the fd named at entry, unless that one cannot have had the call's result:
 * then the one the fd names at exit, if another that can, else none known.
 */
static __always_inline int sys_exit_saved(__u16 kind, long ret, bool cast)
{
	const struct call_args *args = stashed_call(kind);
	const struct sock *entry, *exit, *sk;
	bool ok = ret == 0 || (kind == V6T_EVENT_CONNECT && ret == -EINPROGRESS);
	__u32 flags = 0;

	if (!args)
		return 0;
	entry = args->sock;
	exit = sock_of_fd(args->fd, cast);
	if (exit != entry)
		flags |= V6T_FLAG_FD_CHANGED;
	sk = entry;
	if (ok ? !could_have_succeeded(kind, entry, cast, args, true)
	       : !could_have_failed(kind, entry, cast, args, ret)) {
		flags |= V6T_FLAG_FD_CHANGED;
		sk = NULL;
		if (exit != entry && (ok ? could_have_succeeded(kind, exit, cast, args, false)
					 : could_have_failed(kind, exit, cast, args, ret)))
			sk = exit;
	}
	/* a successful bind's address is the socket's: the caller's memory is not read again */
	if (kind == V6T_EVENT_CONNECT || (kind == V6T_EVENT_BIND && !ok))
		flags |= V6T_FLAG_ADDR_USER | asked_changed(args);
	if (!sk) {
		/*
		 * not ours: a failed listen or connect (of a socket that cannot
		 * listen, say), a listen begun on no inet socket, a bind of
		 * another family's sockaddr
		 */
		if ((!ok && kind != V6T_EVENT_BIND) ||
		    (kind == V6T_EVENT_LISTEN && !args->was_inet) ||
		    (kind == V6T_EVENT_BIND && args->asked.got &&
		     args->asked.sa.sin6_family != AF_INET &&
		     args->asked.sa.sin6_family != AF_INET6 && args->asked.sa.sin6_family != 0))
			return 0;
		return emit_unknown_socket(kind, flags, (int)ret, FILTER_SAVED);
	}
	if (cast)
		sk = bpf_rdonly_cast((void *)sk, cfg.sock_btf_id);
	if (kind == V6T_EVENT_BIND)
		return emit_bind(sk, cast, &args->asked, flags, (int)ret, FILTER_SAVED);
	if (kind == V6T_EVENT_CONNECT)
		return emit_connect(sk, cast, &args->asked, flags, (int)ret, FILTER_SAVED);
	return emit_listen(sk, cast, flags, (int)ret, FILTER_SAVED);
}

/*
 * The five calls at their exit; bind, connect and listen as saved at their
 * entry. cast: the sockets are read through BTF types (tp_sys_exit_btf), else
 * with a probe read per field (tp_sys_exit).
 */
static __always_inline int sys_exit(struct syscall_exit_record *ctx, bool cast)
{
	long ret = ctx->ret;
	int nr = ctx->nr;
	const struct sock *sk;

	if (nr == cfg.nr_bind)
		return sys_exit_saved(V6T_EVENT_BIND, ret, cast);
	if (nr == cfg.nr_connect)
		return sys_exit_saved(V6T_EVENT_CONNECT, ret, cast);
	if (nr == cfg.nr_listen)
		return sys_exit_saved(V6T_EVENT_LISTEN, ret, cast);
	if (stopping || ret < 0)
		return 0;
	/* accept, accept4: the new socket */
	sk = sock_of_fd(ret, cast);
	return sk ? emit_accept(sk, cast) : 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tp_sys_exit(struct syscall_exit_record *ctx)
{
	return sys_exit(ctx, false);
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tp_sys_exit_btf(struct syscall_exit_record *ctx)
{
	return sys_exit(ctx, true);
}

/*
 * A syscalls:sys_enter_* record, as its tracefs format says (an ABI): the
 * number is an int, each argument a long from offset 16.
 */
struct syscall_enter_record {
	__u64 common;
	int nr;
	long args[6];
};

/* The entries of bind, connect and listen, on every kernel (see above). */
SEC("tracepoint/syscalls/sys_enter_bind")
int tp_sys_enter_bind(struct syscall_enter_record *ctx)
{
	return sys_enter_call(V6T_EVENT_BIND, ctx->args[0], (const void *)ctx->args[1],
			      ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int tp_sys_enter_connect(struct syscall_enter_record *ctx)
{
	return sys_enter_call(V6T_EVENT_CONNECT, ctx->args[0], (const void *)ctx->args[1],
			      ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_listen")
int tp_sys_enter_listen(struct syscall_enter_record *ctx)
{
	return sys_enter_call(V6T_EVENT_LISTEN, ctx->args[0], NULL, 0);
}

/* Up to Linux 5.14 (no bpf_task_pt_regs(), see the loader): one program per exit. */
SEC("tracepoint/syscalls/sys_exit_bind")
int tp_sys_exit_bind(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit_saved(V6T_EVENT_BIND, ctx->ret, false);
}

static __always_inline int saved_exit_accept(long ret)
{
	const struct socket *sock;

	if (stopping || ret < 0)
		return 0;
	sock = socket_of_fd(ret);
	if (!sock)
		return 0;
	return emit_accept(BPF_CORE_READ(sock, sk), false);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tp_sys_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return saved_exit_accept(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tp_sys_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return saved_exit_accept(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int tp_sys_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit_saved(V6T_EVENT_CONNECT, ctx->ret, false);
}

SEC("tracepoint/syscalls/sys_exit_listen")
int tp_sys_exit_listen(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit_saved(V6T_EVENT_LISTEN, ctx->ret, false);
}

SEC("fentry/io_connect")
int BPF_PROG(fentry_io_connect)
{
	return uring_connect_enter();
}

SEC("fexit/io_connect")
int BPF_PROG(fexit_io_connect)
{
	return uring_connect_leave();
}

SEC("kprobe/io_connect")
int BPF_KPROBE(kprobe_io_connect)
{
	return uring_connect_enter();
}

SEC("kretprobe/io_connect")
int BPF_KRETPROBE(kretprobe_io_connect)
{
	return uring_connect_leave();
}

/*
 * io_uring requests, in tracepoint mode: their completion, in the task that
 * ran them (the submitter, or an io-wq worker sharing its files and memory).
 * fentry and kprobe modes see them in inet_bind() and the rest, which
 * io_uring calls as the system calls do. IORING_OP_* values are UAPI.
 */
/* what each IORING_OP_BIND in flight asked for, by request (core_fixes.bpf.h) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct uring_bind_addrs);
} uring_binds SEC(".maps");

#define IORING_OP_ACCEPT  13
#define IORING_OP_CONNECT 16
#define IORING_OP_BIND	  56
#define IORING_OP_LISTEN  57

static __always_inline const struct socket *uring_socket(const struct io_kiocb *req)
{
	return socket_of_file(BPF_CORE_READ(req, file));
}

/* A direct-descriptor accept (file_slot) returns a slot, not an fd: not resolved. */
static __always_inline int uring_accept(const struct io_kiocb *req, int res)
{
	const struct io_accept *acc = (const void *)req;
	const struct socket *sock;

	if (res < 0 || BPF_CORE_READ(acc, file_slot))
		return 0;
	sock = socket_of_fd(res);
	return sock ? emit_accept(BPF_CORE_READ(sock, sk), false) : 0;
}

static __always_inline int uring_connect(const struct io_kiocb *req, int res)
{
	const struct io_connect *conn = (const void *)req;
	const void *uaddr = BPF_CORE_READ(conn, addr);
	const struct socket *sock = uring_socket(req);
	struct asked_addr asked;

	if (!sock || socket_family(sock) != AF_INET6)
		return 0;
	/* the request's sockaddr pointer: the caller's memory, read at the completion */
	read_asked(&asked, uaddr, true, BPF_CORE_READ(conn, addr_len));
	if (!asked_dest_wanted(&asked) || !task_passes())
		return 0;
	return emit_connect(BPF_CORE_READ(sock, sk), false, &asked, V6T_FLAG_ADDR_USER, res,
			    FILTER_DONE);
}

/* Keeps the address of a bind for its completion (6.11+, where the op exists). */
SEC("raw_tracepoint/io_uring_submit_req")
int raw_tp_io_uring_submit_req(struct v6t_raw_tp_args *ctx)
{
	const struct io_kiocb *req = (const void *)ctx->args[0];
	struct uring_bind_addrs addrs = {};
	__u64 key = (__u64)req;

	if (BPF_CORE_READ(req, opcode) != IORING_OP_BIND || !uring_bind_addrs_read(req, &addrs))
		return 0;
	bpf_map_update_elem(&uring_binds, &key, &addrs, BPF_ANY);
	return 0;
}

/* A bind request's completion, with the address it asked for if known. */
static __always_inline int uring_bind(const struct io_kiocb *req, const struct socket *sock,
				      int res)
{
	__u64 key = (__u64)req;
	struct uring_bind_addrs *addrs = bpf_map_lookup_elem(&uring_binds, &key);
	const struct v6t_sockaddr_in6 *sa = NULL;
	struct asked_addr asked = {};

	if (addrs) {
		sa = uring_bind_addr(addrs, socket_family(sock));
		if (sa) { /* the kernel's copy, at prep; its length is not kept */
			asked.sa = *sa;
			asked.got = asked.len = sizeof(*sa);
		}
	}
	bpf_map_delete_elem(&uring_binds, &key);
	return emit_bind(BPF_CORE_READ(sock, sk), false, &asked, 0, res, FILTER_DONE);
}

SEC("raw_tracepoint/io_uring_complete")
int raw_tp_io_uring_complete(struct v6t_raw_tp_args *ctx)
{
	const struct io_kiocb *req = (const void *)ctx->args[1];
	const struct socket *sock;
	__u8 opcode;
	int res;

	if (cfg.uring_complete_args != V6T_URING_COMPLETE_REQ_RES &&
	    cfg.uring_complete_args != V6T_URING_COMPLETE_CQE)
		return 0;
	opcode = BPF_CORE_READ(req, opcode);
	if (opcode != IORING_OP_ACCEPT && opcode != IORING_OP_CONNECT && opcode != IORING_OP_BIND &&
	    opcode != IORING_OP_LISTEN)
		return 0;
	res = uring_complete_res(ctx->args, cfg.uring_complete_args);
	if (opcode == IORING_OP_ACCEPT)
		return cfg.uring_connect_only ? 0 : uring_accept(req, res);
	if (opcode == IORING_OP_CONNECT)
		return uring_connect(req, res);
	if (cfg.uring_connect_only)
		return 0;
	sock = uring_socket(req);
	if (!sock || !family_traced(socket_family(sock)) || !task_passes())
		return 0;
	if (opcode == IORING_OP_BIND)
		return uring_bind(req, sock, res);
	return emit_listen(BPF_CORE_READ(sock, sk), false, 0, res, FILTER_DONE);
}

/*
 * A thread leaves: its entry of saved arguments goes with it (kprobe mode,
 * and tracepoint mode before 5.15). sched_process_exit runs in the exiting
 * thread, once per thread. Most threads never made a traced call: a lookup,
 * which takes no lock, finds that first. bpf_map_delete_elem() takes the
 * bucket's lock whether or not the key is there; called for every exit, it
 * measured 10 to 14 us per exit in the guests (make bench at e62c376, TCG).
 */
SEC("raw_tracepoint/sched_process_exit")
int raw_tp_thread_exit(struct v6t_raw_tp_args *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (bpf_map_lookup_elem(&inflight, &tid))
		bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

/* ---- following forks (--children, -- COMMAND), in every mode ------------ */

SEC("raw_tracepoint/sched_process_fork")
int raw_tp_sched_process_fork(struct v6t_raw_tp_args *ctx)
{
	const struct task_struct *parent = (const void *)ctx->args[0];
	const struct task_struct *child = (const void *)ctx->args[1];
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (ptgid == ctgid || !bpf_map_lookup_elem(&pids, &ptgid)) /* a thread, or untraced */
		return 0;
	if (bpf_map_update_elem(&pids, &ctgid, &one, BPF_NOEXIST))
		stat_inc(V6T_STAT_UNFOLLOWED);
	else
		stat_inc(V6T_STAT_FOLLOWED);
	return 0;
}

/*
 * The last thread of a traced process leaves: forget its tgid, so that a new
 * process reusing the number is not traced. sched_process_exit fires after
 * do_exit() has decremented signal->live.
 */
SEC("raw_tracepoint/sched_process_exit")
int raw_tp_sched_process_exit(struct v6t_raw_tp_args *ctx)
{
	const struct task_struct *task = (const void *)ctx->args[0];
	__u32 tgid;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	if (!bpf_map_delete_elem(&pids, &tgid))
		stat_inc(V6T_STAT_EXITED);
	return 0;
}
