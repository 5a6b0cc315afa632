// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * v6trace kernel side: bind and accept events from three kinds of hooks.
 *
 *   fentry:     fexit on inet_bind, inet6_bind, inet_csk_accept
 *   kprobe:     kprobe + kretprobe on the same three functions
 *   tracepoint: syscalls:sys_{enter,exit}_bind, sys_exit_accept{,4}; the fd is
 *               resolved to its struct socket in the kernel
 *
 * Whatever the hook, the event is filled from the socket after the call, by
 * the same helpers, so every mode reports the same record. The loader enables
 * exactly one mode's programs with bpf_program__set_autoload().
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "v6trace.h"
#include "core_fixes.bpf.h"

#define AF_INET	 2
#define AF_INET6 10
#define S_IFMT	 00170000
#define S_IFSOCK 0140000

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load. */
const volatile bool filter_pid = false;
/*
 * Wake the reader only once this much data waits in the ring buffer; user
 * space also drains it every V6T_DRAIN_MS. A wake-up per event (the default
 * of bpf_ringbuf_submit) costs an irq_work and a context switch per bind.
 */
const volatile __u64 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* resized by the loader (--ringbuf-kb) */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, V6T_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* tgids to trace when filter_pid is set (-p) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

/* Arguments saved at entry, keyed by thread id, read back at return. */
struct bind_args {
	const void *sock;  /* struct socket * (kprobe) */
	const void *uaddr; /* struct sockaddr *: kernel (kprobe) or user (tracepoint) */
	__s32 fd;	   /* tracepoint only */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct bind_args);
} inflight SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *val = bpf_map_lookup_elem(&stats, &idx);

	if (val)
		*val += 1;
}

static __always_inline bool pid_wanted(void)
{
	__u32 tgid;

	if (!filter_pid)
		return true;
	tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&pids, &tgid) != NULL;
}

static __always_inline struct v6t_event *event_reserve(__u16 type)
{
	struct v6t_event *e;
	__u64 id;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(V6T_STAT_LOST);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	id = bpf_get_current_pid_tgid();
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->type = type;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

static __always_inline void event_submit(struct v6t_event *e)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	stat_inc(V6T_STAT_EMITTED);
}

/* Family, protocol, v6only and netns: what every event reads of its socket. */
static __always_inline void fill_sock_common(struct v6t_event *e, const struct sock *sk)
{
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->protocol = sock_protocol(sk);
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (e->family == AF_INET6)
		e->v6only = sock_ipv6only(sk);
}

static __always_inline void read_local(struct v6t_event *e, const struct sock *sk)
{
	e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (e->family == AF_INET6)
		BPF_CORE_READ_INTO(&e->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
	else
		BPF_CORE_READ_INTO(&e->laddr, sk, __sk_common.skc_rcv_saddr);
}

/*
 * A failed bind leaves the socket unbound: report the address and port that
 * were asked for. The sockaddr is kernel memory under fexit/kprobe (already
 * copied by the syscall) and user memory under the syscall tracepoints.
 */
static __always_inline void read_requested(struct v6t_event *e, const void *uaddr, bool user)
{
	struct sockaddr_in6 sa = {};
	long err;

	if (!uaddr)
		return;
	if (user)
		err = bpf_probe_read_user(&sa, sizeof(sa), uaddr);
	else
		err = bpf_probe_read_kernel(&sa, sizeof(sa), uaddr);
	if (err) /* a short user buffer: fall back to the 16-byte sockaddr_in */
		err = user ? bpf_probe_read_user(&sa, sizeof(struct sockaddr_in), uaddr)
			   : bpf_probe_read_kernel(&sa, sizeof(struct sockaddr_in), uaddr);
	if (err)
		return;
	e->lport = bpf_ntohs(sa.sin6_port);
	if (e->family == AF_INET6 && sa.sin6_family == AF_INET6)
		__builtin_memcpy(e->laddr, &sa.sin6_addr, 16);
	else
		__builtin_memcpy(e->laddr, &((struct sockaddr_in *)&sa)->sin_addr, 4);
}

static __always_inline bool family_traced(__u16 family)
{
	return family == AF_INET || family == AF_INET6;
}

static __always_inline int emit_bind(const struct socket *sock, const void *uaddr, bool user,
				     int ret)
{
	const struct sock *sk = BPF_CORE_READ(sock, sk);
	struct v6t_event *e;
	__u16 family;

	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (!family_traced(family))
		return 0;
	e = event_reserve(V6T_EVENT_BIND);
	if (!e)
		return 0;
	fill_sock_common(e, sk);
	e->ret = ret;
	if (ret == 0)
		read_local(e, sk);
	else
		read_requested(e, uaddr, user);
	event_submit(e);
	return 0;
}

static __always_inline int emit_accept(const struct sock *sk)
{
	struct v6t_event *e;
	__u16 family;

	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (!family_traced(family))
		return 0;
	e = event_reserve(V6T_EVENT_ACCEPT);
	if (!e)
		return 0;
	fill_sock_common(e, sk);
	read_local(e, sk);
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (e->family == AF_INET6)
		BPF_CORE_READ_INTO(&e->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	else
		BPF_CORE_READ_INTO(&e->raddr, sk, __sk_common.skc_daddr);
	event_submit(e);
	return 0;
}

/* ---- fentry mode ------------------------------------------------------- */

SEC("fexit/inet_bind")
int BPF_PROG(fexit_inet_bind, struct socket *sock, struct sockaddr *uaddr, int addr_len, int ret)
{
	if (!pid_wanted())
		return 0;
	return emit_bind(sock, uaddr, false, ret);
}

SEC("fexit/inet6_bind")
int BPF_PROG(fexit_inet6_bind, struct socket *sock, struct sockaddr *uaddr, int addr_len, int ret)
{
	if (!pid_wanted())
		return 0;
	return emit_bind(sock, uaddr, false, ret);
}

/* Up to Linux 6.9: (sk, flags, err, kern); see core_fixes.bpf.h. */
SEC("fexit/inet_csk_accept")
int BPF_PROG(fexit_inet_csk_accept_4, struct sock *sk, int flags, int *err, bool kern,
	     struct sock *child)
{
	if (!pid_wanted())
		return 0;
	return emit_accept(child);
}

/* From Linux 6.10: (sk, struct proto_accept_arg *arg). */
SEC("fexit/inet_csk_accept")
int BPF_PROG(fexit_inet_csk_accept_2, struct sock *sk, void *arg, struct sock *child)
{
	if (!pid_wanted())
		return 0;
	return emit_accept(child);
}

/* ---- kprobe mode ------------------------------------------------------- */

static __always_inline int stash_bind(const void *sock, const void *uaddr, int fd)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct bind_args args = {.sock = sock, .uaddr = uaddr, .fd = fd};

	if (!pid_wanted())
		return 0;
	bpf_map_update_elem(&inflight, &tid, &args, BPF_ANY);
	return 0;
}

static __always_inline struct bind_args *stashed_bind(__u32 *tid)
{
	*tid = (__u32)bpf_get_current_pid_tgid();
	return bpf_map_lookup_elem(&inflight, tid);
}

static __always_inline int kretprobe_bind(int ret)
{
	struct bind_args *args;
	__u32 tid;

	args = stashed_bind(&tid);
	if (!args)
		return 0;
	emit_bind(args->sock, args->uaddr, false, ret);
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

SEC("kprobe/inet_bind")
int BPF_KPROBE(kprobe_inet_bind, struct socket *sock, struct sockaddr *uaddr)
{
	return stash_bind(sock, uaddr, -1);
}

SEC("kretprobe/inet_bind")
int BPF_KRETPROBE(kretprobe_inet_bind, int ret)
{
	return kretprobe_bind(ret);
}

SEC("kprobe/inet6_bind")
int BPF_KPROBE(kprobe_inet6_bind, struct socket *sock, struct sockaddr *uaddr)
{
	return stash_bind(sock, uaddr, -1);
}

SEC("kretprobe/inet6_bind")
int BPF_KRETPROBE(kretprobe_inet6_bind, int ret)
{
	return kretprobe_bind(ret);
}

SEC("kretprobe/inet_csk_accept")
int BPF_KRETPROBE(kretprobe_inet_csk_accept, struct sock *child)
{
	if (!pid_wanted())
		return 0;
	return emit_accept(child);
}

/* ---- tracepoint mode --------------------------------------------------- */

/* current->files->fdt->fd[fd]->private_data, if fd is a socket. */
static __always_inline const struct socket *socket_of_fd(long fd)
{
	const struct task_struct *task = (const void *)bpf_get_current_task();
	const struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;
	umode_t mode;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(file, private_data);
}

SEC("tracepoint/syscalls/sys_enter_bind")
int tp_sys_enter_bind(struct trace_event_raw_sys_enter *ctx)
{
	return stash_bind(NULL, (const void *)ctx->args[1], (int)ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tp_sys_exit_bind(struct trace_event_raw_sys_exit *ctx)
{
	const struct socket *sock;
	struct bind_args *args;
	__u32 tid;

	args = stashed_bind(&tid);
	if (!args)
		return 0;
	sock = socket_of_fd(args->fd);
	if (sock)
		emit_bind(sock, args->uaddr, true, (int)ctx->ret);
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

static __always_inline int tp_exit_accept(long ret)
{
	const struct socket *sock;

	if (ret < 0 || !pid_wanted())
		return 0;
	sock = socket_of_fd(ret);
	if (!sock)
		return 0;
	return emit_accept(BPF_CORE_READ(sock, sk));
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tp_sys_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return tp_exit_accept(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tp_sys_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return tp_exit_accept(ctx->ret);
}
