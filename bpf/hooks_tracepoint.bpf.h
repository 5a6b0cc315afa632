// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tracepoint mode: the system calls' entry and exit tracepoints.
 *
 * A part of the one compilation unit bpf/v6trace.bpf.c (one object, one
 * skeleton): it relies on what the parts included before it define.
 */
#ifndef V6TRACE_HOOKS_TRACEPOINT_BPF_H
#define V6TRACE_HOOKS_TRACEPOINT_BPF_H

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
 * before the kernel's fdget() and move_addr_to_kernel() (see the comment
 * that opens this file), written in place into the thread's entry. Every call is
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
	struct emit_args saved;
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
		return emit_unknown_socket(kind, (struct emit_args){.flags = flags,
								    .ret = (int)ret,
								    .filter = FILTER_SAVED});
	}
	if (cast)
		sk = bpf_rdonly_cast((void *)sk, cfg.sock_btf_id);
	saved = (struct emit_args){.sk = sk,
				   .btf = cast,
				   .asked = &args->asked,
				   .flags = flags,
				   .ret = (int)ret,
				   .filter = FILTER_SAVED};
	if (kind == V6T_EVENT_BIND)
		return emit_bind(saved);
	if (kind == V6T_EVENT_CONNECT)
		return emit_connect(saved);
	return emit_listen(saved);
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
	return sk ? emit_accept((struct emit_args){.sk = sk, .btf = cast, .filter = FILTER_NOW})
		  : 0;
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
	return emit_accept((struct emit_args){.sk = BPF_CORE_READ(sock, sk), .filter = FILTER_NOW});
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

#endif
