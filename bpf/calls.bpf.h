// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A thread's state across a call: the arguments saved at a call's entry for
 * its return (kprobe and tracepoint mode), the mark of a thread inside
 * io_uring's io_connect(), and the socket behind an fd.
 *
 * A part of the one compilation unit bpf/v6trace.bpf.c (one object, one
 * skeleton): it relies on what the parts included before it define.
 */
#ifndef V6TRACE_CALLS_BPF_H
#define V6TRACE_CALLS_BPF_H

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
 * and a deletion per call, the largest part of kprobe mode's cost when it
 * did so (doc/performance.md). It is deleted when the thread exits (raw_tp_thread_exit), so
 * the map holds the live threads that have made a traced call: past
 * 10240 of them, a new thread's calls are not traced.
 */
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

/* Entry of a call on an inet socket: saved for the return, if wanted. */
static __always_inline int stash_call(__u16 kind, const void *sock, const void *uaddr, int addrlen)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call_args new = {.sock = sock, .uaddr = uaddr, .fd = -1, .kind = kind}, *args;

	if (!task_filter_passes(FILTER_NOW))
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

#endif
