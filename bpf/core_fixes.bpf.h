/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every kernel layout difference the BPF side has to survive lives here, each
 * fix a small getter with the kernel change that made it necessary.
 */
#ifndef V6TRACE_CORE_FIXES_BPF_H
#define V6TRACE_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>
#include "config.bpf.h"

/*
 * Linux 5.6 (commit bf9765145b85, "sock: Make sk_protocol a 16-bit value")
 * turned sk_protocol from an 8-bit bitfield into a plain __u16. The bitfield
 * read relocates byte offset, size and shifts against the running kernel, so
 * the one read below is right for both layouts: a plain load where sk is a
 * BTF-typed pointer (btf: fexit's arguments), else a probe read.
 */
static __always_inline __u16 sock_protocol(const struct sock *sk, bool btf)
{
	return btf ? BPF_CORE_READ_BITFIELD(sk, sk_protocol)
		   : BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
}

/*
 * skc_ipv6only is a one-bit field of struct sock_common on every kernel we
 * support, whose bit offset differs between builds: it is read with the
 * relocated byte offset, size and shifts of the running kernel, from a
 * sock_common the program can load from (a BTF-typed one, or a copy: see
 * sock_common_of()). Both setsockopt(IPV6_V6ONLY) and the namespace's
 * net.ipv6.bindv6only default (applied at socket creation) end up here.
 */
static __always_inline __u8 sock_common_ipv6only(const struct sock_common *skc)
{
	return BPF_CORE_READ_BITFIELD(skc, skc_ipv6only);
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

/*
 * Linux 5.15 (commit dd6e10fbd9fb, "bpf: Add bpf_task_pt_regs() helper") is
 * where the loader switches tracepoint mode from one exit program per system
 * call to one program for the five (tp_sys_exit), looking for the helper in
 * the kernel's BTF (enum bpf_func_id). That program once read the calls'
 * arguments from the user registers saved at entry, so no sys_enter_*
 * program ran; read at the exit, the fd and the sockaddr were what another
 * thread had left there by then, not what the kernel acted on (issue 23).
 * bind, connect and listen are now saved at their entry on every kernel, and
 * the registers are no longer read; the switch stays, as the single program
 * costs the verifier one check of its BTF-typed loads instead of five.
 */
/*
 * Linux 6.2 (commit a35b9af4ec2c, "bpf: Add a kfunc for generic type cast")
 * added bpf_rdonly_cast(): it gives an untyped kernel pointer a BTF type, and
 * the fields behind it are then read with plain loads the verifier guards,
 * as through fexit's arguments, instead of one probe read each. Tracepoint
 * mode finds a call's socket through the fd table's untyped file pointer and
 * file->private_data: with the cast, that socket's fields cost a load each
 * (tp_sys_exit_btf), without it a probe read each (tp_sys_exit). The loader
 * picks one by looking for the kfunc in the kernel's BTF. kprobe mode casts
 * the struct socket and struct sock its probes get (have_rdonly_cast, set by
 * the loader: the verifier drops the other branch), and every mode the
 * current task (fill_task()). Linux 6.9 made the first parameter const;
 * libbpf's compatibility check ignores qualifiers.
 */
extern void *bpf_rdonly_cast(void *obj, __u32 btf_id) __ksym __weak;
/*
 * The kernel's BTF ids of the types cast to, which the verifier needs as
 * constants: set by the loader (cfg.*_btf_id). It relocates the programs against a copy of
 * the kernel's types whose ids are not the kernel's (user/core_btf.c), so
 * bpf_core_type_id_kernel() cannot be used for them.
 */

/*
 * The process fields of an event, in the cheapest way the running kernel
 * offers; the loader sets which from its BTF (enum bpf_func_id, the kfunc;
 * a CO-RE relocation of that enum cost libbpf a walk over the kernel's BTF
 * at every start), and the verifier drops the branches the kernel cannot
 * take.
 *  - From 6.2 (have_rdonly_cast): the current task cast with
 *    bpf_rdonly_cast(), every field a load, the uid and the cgroup too:
 *    cred->uid is what bpf_get_current_uid_gid() returns (its from_kuid() in
 *    the initial user namespace is the identity), and css_set->dfl_cgrp->kn->id
 *    what bpf_get_current_cgroup_id() returns. Two helper calls fewer per event.
 *    The pointers loaded out of the cast task are untrusted, read with
 *    probe-protected loads, so the verifier does not search the kernel's BTF
 *    for them, as it does, per program and at every start, for a pointer
 *    loaded out of a trusted task.
 *  - From 5.11 (task_btf, bpf_get_current_task_btf()): pid, tgid and comm are
 *    loads; the uid and the cgroup are the helpers'.
 *  - Before: the helpers.
 * pid, tgid and comm are what bpf_get_current_pid_tgid() and
 * bpf_get_current_comm() return; the comm's bytes after its NUL are not
 * cleared, and readers stop at the NUL.
 */

/*
 * Whether the programs cast (have_rdonly_cast), in the build that can. The
 * loader opens one of two builds of this file: before Linux 6.2 the one
 * built with V6T_NO_CAST, whose programs hold no bpf_rdonly_cast() call.
 * libbpf 1.1 leaves an unresolved weak kfunc's id 0, and 5.13 to 5.15 refuse
 * a program with such a call even in code the verifier would remove as dead
 * ("kernel btf_id 0 is not a function"; 5.16 let it through, 5.10 knows no
 * kfuncs). tp_sys_exit_btf, which the loader loads only from 6.2, casts in
 * both builds.
 */
#ifdef V6T_NO_CAST
#define can_cast false
#else
#define can_cast cfg.have_rdonly_cast
#endif

static __always_inline void fill_task(struct v6t_event *e)
{
	const struct task_struct *task;
	__u64 id;

	if (can_cast) {
		task = bpf_rdonly_cast((void *)bpf_get_current_task(), cfg.task_struct_btf_id);
		e->uid = task->cred->uid.val;
		e->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	} else {
		e->uid = (__u32)bpf_get_current_uid_gid();
		e->cgroup_id = bpf_get_current_cgroup_id();
		task = cfg.task_btf ? bpf_get_current_task_btf() : NULL;
	}
	if (task) {
		e->pid = task->tgid;
		e->tid = task->pid;
		*(__u64 *)&e->comm[0] = *(const __u64 *)&task->comm[0];
		*(__u64 *)&e->comm[8] = *(const __u64 *)&task->comm[8];
		return;
	}
	id = bpf_get_current_pid_tgid();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/*
 * MPTCP (Linux 5.6+, what Go >= 1.24 listens with) keeps a struct mptcp_sock
 * (sk_protocol IPPROTO_MPTCP) on the user's socket and does the TCP work on
 * kernel "subflow" sockets: plain TCP socks whose tcp_sock.is_mptcp bit is
 * set when the "mptcp" ULP is attached (subflow_ulp_init()). Up to 6.5,
 * mptcp_bind() and mptcp_listen() call inet_bind()/inet6_bind()/inet_listen()
 * on the first subflow's struct socket; from 6.6 (the series "mptcp: get rid
 * of msk->subflow", which added inet_bind_sk(), inet6_bind_sk() and
 * __inet_listen_sk() for it) they call those helpers on the subflow sock
 * directly and never pass through the proto_ops functions. So the MPTCP
 * socket is traced at mptcp_bind()/mptcp_listen() on every kernel (the loader
 * loads those programs when the running kernel's BTF has them), and a
 * subflow seen in inet_bind()/inet6_bind()/inet_listen() up to 6.5 is skipped,
 * lest one bind be reported twice. The is_mptcp bit exists only in kernels
 * built with CONFIG_MPTCP (Debian's 5.10 is not): there, no sock is a subflow.
 */
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

/*
 * The is_mptcp bit of a TCP sock; false on a kernel without MPTCP. Subflows
 * are kernel sockets (mptcp_subflow_create_socket() makes them with
 * sock_create_kern(), and their accepted children are clones), so a user's
 * socket is told apart by sk_kern_sock alone: with btf (sk is BTF-typed) a
 * plain load. tcp_sock lies beyond struct sock, where the verifier does not
 * let a struct sock pointer load: is_mptcp is always a probe read.
 */
static __always_inline bool tcp_is_mptcp_subflow(const struct sock *sk, bool btf)
{
	const struct tcp_sock *tp = (const void *)sk;
	__u8 kern;

	if (!bpf_core_field_exists(tp->is_mptcp))
		return false;
	kern = btf ? BPF_CORE_READ_BITFIELD(sk, sk_kern_sock)
		   : BPF_CORE_READ_BITFIELD_PROBED(sk, sk_kern_sock);
	return kern && BPF_CORE_READ_BITFIELD_PROBED(tp, is_mptcp);
}

static __always_inline bool sock_is_mptcp_subflow(const struct sock *sk, bool btf)
{
	const struct tcp_sock *tp = (const void *)sk;

	return bpf_core_field_exists(tp->is_mptcp) && sock_protocol(sk, btf) == IPPROTO_TCP &&
	       tcp_is_mptcp_subflow(sk, btf);
}

/*
 * The protocol user space sees on an accepted socket (protocol: the child's
 * sk_protocol): inet_csk_accept() of an MPTCP listener returns the TCP
 * subflow; mptcp_stream_accept() hands the caller its MPTCP socket when the
 * peer spoke MPTCP (the subflow's is_mptcp bit) and the plain TCP socket when
 * the peer fell back to TCP.
 */
static __always_inline __u16 accepted_protocol(const struct sock *child, bool btf, __u16 protocol)
{
	return protocol == IPPROTO_TCP && tcp_is_mptcp_subflow(child, btf) ? IPPROTO_MPTCP
									   : protocol;
}

/*
 * The accept queue limit of a listener (protocol: its sk_protocol). An MPTCP
 * socket listens through its first subflow (mptcp_sock.first, Linux 5.7+),
 * which holds the backlog; listen() on the mptcp_sock itself leaves its own
 * sk_max_ack_backlog alone.
 */
static __always_inline __u32 listen_backlog(const struct sock *sk, bool btf, __u16 protocol)
{
	const struct mptcp_sock *msk = (const void *)sk;
	const struct sock *first;

	if (protocol == IPPROTO_MPTCP && bpf_core_type_exists(struct mptcp_sock) &&
	    bpf_core_field_exists(msk->first)) {
		first = BPF_CORE_READ(msk, first);
		if (first)
			return BPF_CORE_READ(first, sk_max_ack_backlog);
	}
	return btf ? sk->sk_max_ack_backlog : BPF_CORE_READ(sk, sk_max_ack_backlog);
}

/*
 * io_uring's io_uring_complete tracepoint, what tracepoint mode sees of
 * IORING_OP_ACCEPT, _CONNECT (5.5) and _BIND, _LISTEN (6.11), which never
 * enter a system call. Its arguments changed twice; the loader counts them in
 * the running kernel's BTF (btf_trace_io_uring_complete) and sets
 * uring_complete_args. Read from the BTF of Debian's kernels:
 *   5.10:            (ctx, user_data, res, cflags): no request; not used
 *   6.1, 6.12:       (ctx, req, user_data, res, cflags, extra1, extra2)
 *   6.18, 7.2:       (ctx, req, cqe)
 * The request's result is then res, or cqe->res.
 */

static __always_inline int uring_complete_res(const __u64 *args, __u32 layout)
{
	const struct io_uring_cqe *cqe;

	if (layout == V6T_URING_COMPLETE_REQ_RES)
		return (int)args[3];
	cqe = (const void *)args[2];
	return BPF_CORE_READ(cqe, res);
}

/*
 * The address an IORING_OP_BIND asked for, copied into the request's async
 * data at prep: into a bare struct sockaddr_storage on newer kernels (6.18,
 * and Debian's 6.12.95 with the stable backport: measured), into the addr
 * field of a struct io_async_msghdr on the first ones that had the op (6.11).
 * The BTF has no type or function that tells the two apart. Both places are
 * kept at io_uring_submit_req (after prep; by the completion the async data
 * may be gone, and the file is not assigned before the issue); at the
 * completion the bare one is the address when its family is the socket's,
 * else the io_async_msghdr one when its family is; else it is not known. The
 * bare layout wins a tie: in it the other place lies past the 128-byte
 * allocation, in the next slab object, often the previous bind's sockaddr of
 * the same family (seen: 1 run of the matrix in 5 on 6.12). In the older
 * layout those first bytes are the low bytes of an iovec pointer: only there
 * (6.11) could a coincidence of them make a wrong address.
 */
struct uring_bind_addrs {
	struct v6t_sockaddr_in6 bare;	/* async_data as a sockaddr_storage */
	struct v6t_sockaddr_in6 msghdr; /* async_data as a struct io_async_msghdr */
};

static __always_inline bool uring_bind_addrs_read(const struct io_kiocb *req,
						  struct uring_bind_addrs *out)
{
	const struct io_async_msghdr *io = BPF_CORE_READ(req, async_data);

	if (!io)
		return false;
	bpf_probe_read_kernel(&out->bare, sizeof(out->bare), io);
	bpf_probe_read_kernel(&out->msghdr, sizeof(out->msghdr), &io->addr);
	return true;
}

static __always_inline const struct v6t_sockaddr_in6 *
uring_bind_addr(const struct uring_bind_addrs *a, __u16 family)
{
	if (a->bare.sin6_family == family)
		return &a->bare;
	return a->msghdr.sin6_family == family ? &a->msghdr : NULL;
}

#endif /* V6TRACE_CORE_FIXES_BPF_H */
