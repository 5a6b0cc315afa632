/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The event record shared by the BPF programs and the user-space loader.
 *
 * It compiles on its own from both sides: the BPF side gets the __u* types from
 * vmlinux.h, user space from <linux/types.h>. No pointers, fixed-width fields,
 * explicit padding, so both compilers agree on the layout (checked by the
 * _Static_assert below and again in the unit tests).
 *
 * Byte order: ports are in host byte order; addresses are in network byte order,
 * as the kernel stores them. An AF_INET address occupies addr[0..3] and the rest
 * of the 16 bytes is zero.
 */
#ifndef V6TRACE_H
#define V6TRACE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define V6T_COMM_LEN 16

enum v6t_event_type {
	V6T_EVENT_BIND = 1,
	V6T_EVENT_ACCEPT = 2,
	V6T_EVENT_CONNECT = 3, /* inet6 TCP only */
	V6T_EVENT_LISTEN = 4,
	V6T_EVENT_SOCKET = 5, /* user space only: a socket of the --snapshot */
};

/* Which kernel hook produced the event; the user side reports it once. */
enum v6t_mode {
	V6T_MODE_FENTRY = 1,
	V6T_MODE_KPROBE = 2,
	V6T_MODE_TRACEPOINT = 3,
};

/*
 * User space drains the ring buffer at least this often; the BPF side wakes
 * it sooner only when a quarter of the buffer is filled (see wakeup_bytes).
 */
#define V6T_DRAIN_MS 100

/*
 * Counters kept by the BPF side, per CPU, in a memory-mapped array that user
 * space reads without a system call (it has no capabilities left to make one
 * on kernels that refuse bpf() to unprivileged callers): the counter s of CPU
 * c is element c * V6T_STAT_SLOTS + s, one cache line per CPU.
 */
#define V6T_STAT_SLOTS 8
enum v6t_stat {
	/*
	 * No count of the events sent: user space counts those it reads, and
	 * an atomic add per event is cost with no reader.
	 */
	V6T_STAT_LOST = 0,	  /* no room in the ring buffer: event dropped */
	V6T_STAT_FILTERED = 1,	  /* inet events a filter dropped before the ring buffer */
	V6T_STAT_UNFOLLOWED = 2,  /* forks of traced processes the pid table had no room for */
	V6T_STAT_FOLLOWED = 3,	  /* forks of traced processes added to the pid table */
	V6T_STAT_EXITED = 4,	  /* traced processes that exited (left the pid table) */
	V6T_STAT_CALLS_BEGUN = 5, /* calls saved at entry for their return (kprobe, tracepoint) */
	V6T_STAT_CALLS_ENDED = 6, /* saved calls whose return was seen */
	V6T_STAT_MAX,
};

/* Which IP versions a socket serves (bind, listen) or speaks (accept, connect). */
enum v6t_stack {
	V6T_STACK_V4 = 0,
	V6T_STACK_V6 = 1,
	V6T_STACK_DUAL = 2,
};

/*
 * Arguments of the io_uring_complete tracepoint that tracepoint mode can use
 * (the loader counts them in the kernel's BTF; see core_fixes.bpf.h).
 */
#define V6T_URING_COMPLETE_REQ_RES 7 /* (ctx, req, user_data, res, cflags, extra1, extra2) */
#define V6T_URING_COMPLETE_CQE	   3 /* (ctx, req, cqe) */

#define V6T_MAX_PIDS  8192
#define V6T_MAX_PORTS 64

/*
 * What the kernel side keeps; set by the loader before load (read-only data,
 * so the verifier prunes the checks of every filter that is off).
 */
struct v6t_filter {
	__u32 uid;		 /* by_uid: the process's real uid */
	__u32 netns;		 /* by_netns: inode of the socket's network namespace */
	char comm[V6T_COMM_LEN]; /* by_comm: the whole comm, NUL-padded */
	__u8 by_pid;		 /* the tgid is in the pids map */
	__u8 by_comm;
	__u8 by_uid;
	__u8 by_cgroup; /* the task is in the cgroup of the cgroups map, or below it */
	__u8 by_netns;
	__u8 by_port;	   /* the local or the peer port is in the ports map */
	__u8 family;	   /* AF_INET or AF_INET6; 0: both */
	__u8 stacks;	   /* bit (1 << enum v6t_stack) per stack kept; 0: all */
	__u8 mapped;	   /* only events whose peer is ::ffff:a.b.c.d */
	__u8 children;	   /* add the forks of traced processes to the pids map */
	__u8 all_connects; /* every inet6 TCP connect, not only those to mapped addresses */
	/*
	 * Whether any task filter (by_pid, by_comm, by_uid, by_cgroup), any
	 * socket filter (family, by_netns, by_port, stacks, mapped) is on: with
	 * none, each group's checks are one dead branch the verifier removes,
	 * not one per filter.
	 */
	__u8 task_any;
	__u8 sock_any;
	__u8 pad[3];
};

/*
 * Every load-time knob of the BPF side, in its read-only data: the loader
 * sets them all in one place before load (user/loader.c, set_config()), and
 * the verifier then treats each as a constant and drops the branches it
 * rules out.
 */
struct v6t_config {
	struct v6t_filter filter;
	/* wake the reader once this much waits in the ring buffer (deliver.bpf.h) */
	__u64 wakeup_bytes;
	/* the system call numbers tp_sys_exit tells its five calls apart by */
	__s32 nr_bind, nr_connect, nr_listen, nr_accept, nr_accept4;
	/* arguments of io_uring_complete in this kernel (core_fixes.bpf.h); 0: not traced */
	__u32 uring_complete_args;
	/* the kernel's BTF ids of the types bpf_rdonly_cast() casts to (core_fixes.bpf.h) */
	__u32 task_struct_btf_id, file_btf_id, socket_btf_id, sock_btf_id;
	/*
	 * fentry and kprobe modes see io_uring's bind, listen and accept in the
	 * inet functions, but its connect as attempts (EINPROGRESS, then a
	 * retry whose result io_uring rewrites): there, io_uring_complete
	 * reports connects only.
	 */
	__u8 uring_connect_only;
	__u8 task_btf;	       /* bpf_get_current_task_btf() exists (5.11+): see fill_task() */
	__u8 have_rdonly_cast; /* the bpf_rdonly_cast() kfunc exists (6.2+) */
	__u8 pad[5];
};

/*
 * What an event knows of its own facts, where that is less than the kernel's
 * word (see bpf/hooks_tracepoint.bpf.h). 0: every field is read
 * from the socket after the call or from the kernel's copy of its sockaddr.
 */
enum v6t_event_flag {
	/*
	 * bind: laddr and lport are not known: the sockaddr could not be read
	 * (EFAULT), or the kernel refused its family or length (an inet6
	 * socket given a sockaddr_in or AF_UNSPEC, an inet one given a
	 * sockaddr_in6, a short addrlen), so it never had an address to act on.
	 */
	V6T_FLAG_ADDR_UNKNOWN = 1 << 0,
	/*
	 * bind: laddr/lport, connect: raddr/rport are the caller's sockaddr as
	 * read from its memory at the call's entry (tracepoint mode), not the
	 * kernel's copy or the socket's state: another thread can change that
	 * memory between the tracer's read and the kernel's.
	 */
	V6T_FLAG_ADDR_USER = 1 << 1,
	/* ... and it read differently at the call's exit: it changed during the call */
	V6T_FLAG_ADDR_CHANGED = 1 << 2,
	/*
	 * tracepoint mode: the fd named another socket at the call's exit than
	 * at its entry (another thread's dup2() or close()): the socket reported
	 * is the one at entry unless it cannot have been the one the call acted
	 * on (a bind that succeeded on a socket already bound at entry, a listen
	 * that succeeded on one not listening after), then the one at exit.
	 */
	V6T_FLAG_FD_CHANGED = 1 << 3,
	/*
	 * ... and neither can have been it: which socket the call acted on is
	 * not known. family, protocol, netns and the addresses are then 0.
	 */
	V6T_FLAG_SOCKET_UNKNOWN = 1 << 4,
};

struct v6t_event {
	__u64 ts_ns;	 /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cgroup_id; /* bpf_get_current_cgroup_id() (cgroup v2) */
	__u32 pid;	 /* tgid */
	__u32 tid;
	__u32 uid;
	__u32 netns;	/* inode of the socket's network namespace */
	__s32 ret;	/* bind, connect, listen: 0 or -errno; accept: 0 */
	__u16 type;	/* enum v6t_event_type */
	__u16 family;	/* AF_INET or AF_INET6 (of the socket) */
	__u16 protocol; /* IPPROTO_* of the socket */
	__u16 lport;	/* local port, host order (bind: the bound or requested port) */
	__u16 rport;	/* peer port, host order (accept, connect) */
	__u8 v6only;	/* skc_ipv6only of the socket after the call */
	__u8 state;	/* socket events: the TCP_* state (user space) */
	__u8 laddr[16]; /* local address, network order */
	__u8 raddr[16]; /* peer address, network order (accept; connect: as requested) */
	char comm[V6T_COMM_LEN];
	__u32 backlog; /* listen: the accept queue limit after the call (capped by somaxconn) */
	/*
	 * The interface the socket is bound to after the call (skc_bound_dev_if:
	 * a link-local address's scope, SO_BINDTODEVICE, an accepted or connected
	 * link-local connection); a failed bind: the sin6_scope_id it asked for
	 * with a link-local address. 0: none.
	 */
	__u32 ifindex;
	__u32 flags; /* enum v6t_event_flag */
	__u32 pad;
};

#ifndef __cplusplus
_Static_assert(sizeof(struct v6t_event) == 112, "struct v6t_event layout changed");
_Static_assert(sizeof(struct v6t_config) == 96, "struct v6t_config layout changed");
_Static_assert(V6T_STAT_MAX <= V6T_STAT_SLOTS, "more counters than slots per CPU");
#endif

#endif /* V6TRACE_H */
