// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * io_uring: its requests never enter the system calls.
 *
 * A part of the one compilation unit bpf/v6trace.bpf.c (one object, one
 * skeleton): it relies on what the parts included before it define.
 */
#ifndef V6TRACE_HOOKS_URING_BPF_H
#define V6TRACE_HOOKS_URING_BPF_H

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
	return sock ? emit_accept((struct emit_args){.sk = BPF_CORE_READ(sock, sk),
						     .filter = FILTER_NOW})
		    : 0;
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
	if (!asked_dest_wanted(&asked))
		return 0;
	return emit_connect((struct emit_args){.sk = BPF_CORE_READ(sock, sk),
					       .asked = &asked,
					       .flags = V6T_FLAG_ADDR_USER,
					       .ret = res,
					       .filter = FILTER_NOW});
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
	return emit_bind((struct emit_args){
		.sk = BPF_CORE_READ(sock, sk), .asked = &asked, .ret = res, .filter = FILTER_NOW});
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
	if (!sock || !family_traced(socket_family(sock)))
		return 0;
	if (opcode == IORING_OP_BIND)
		return uring_bind(req, sock, res);
	return emit_listen((struct emit_args){
		.sk = BPF_CORE_READ(sock, sk), .ret = res, .filter = FILTER_NOW});
}

#endif
