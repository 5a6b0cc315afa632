// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The hooks tracepoint mode could use, each doing nothing but return, for
 * `make bench` to price what they cost a process that makes no socket call
 * (tools/bench/hooks attaches the ones named on its command line), and
 * fexit_deliver, which only sends a record:
 *   exit_tp   syscalls:sys_exit_bind (what v6trace uses from Linux 5.15)
 *   enter_tp  syscalls:sys_enter_bind (what it adds on every kernel, to save
 *             the fd's socket and the sockaddr before the kernel takes them)
 *   exit_raw  raw_tracepoint raw_syscalls:sys_exit, filtered on the number
 *   exit_btf  tp_btf raw_syscalls:sys_exit, filtered on the number
 *   post_bind4, post_bind6  cgroup/post_bind4 and 6 on the cgroup v2 root:
 *             run after every successful bind only (a failed one is never
 *             seen), and no other system call pays for them
 *   bind4, bind6  cgroup/bind4 and 6 on the cgroup v2 root: every inet bind
 *             that passes the length check, with the kernel's copy of its
 *             sockaddr
 *   set_state tracepoint sock:inet_sock_set_state (TCP state changes)
 * and in the qemu guests, what fentry and kprobe modes cannot do with less:
 *   fexit_bind                  fexit on inet6_bind (one trampoline)
 *   kprobe_bind, kretprobe_bind a kprobe and a kretprobe on inet6_bind
 *   fexit_deliver               fexit on inet6_bind that delivers a record as
 *                               v6trace does, and does nothing else
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "v6trace.h"
#include "deliver.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#if defined(__TARGET_ARCH_x86)
#define SYSCALL_NR orig_ax
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR syscallno
#endif

__u64 hits;

SEC("tracepoint/syscalls/sys_exit_bind")
int exit_tp(void *ctx)
{
	hits++;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_bind")
int enter_tp(void *ctx)
{
	hits++;
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	const struct pt_regs *regs = (const void *)ctx->args[0];

	if (BPF_CORE_READ(regs, SYSCALL_NR) == cfg.nr_bind)
		hits++;
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(exit_btf, struct pt_regs *regs, long ret)
{
	if (regs->SYSCALL_NR == cfg.nr_bind)
		hits++;
	return 0;
}

SEC("cgroup/post_bind4")
int post_bind4(struct bpf_sock *ctx)
{
	hits++;
	return 1;
}

SEC("cgroup/post_bind6")
int post_bind6(struct bpf_sock *ctx)
{
	hits++;
	return 1;
}

/*
 * The hooks that see the kernel's own copy of a bind's sockaddr, and its
 * socket, before the protocol checks it (inet_bind(), inet6_bind()): what
 * tracepoint mode could use instead of reading user memory at sys_enter_bind
 * (issue 23); they run in every bind of the cgroup v2 tree.
 */
SEC("cgroup/bind4")
int bind4(struct bpf_sock_addr *ctx)
{
	hits++;
	return 1;
}

SEC("cgroup/bind6")
int bind6(struct bpf_sock_addr *ctx)
{
	hits++;
	return 1;
}

SEC("tracepoint/sock/inet_sock_set_state")
int set_state(void *ctx)
{
	hits++;
	return 0;
}

SEC("fexit/inet6_bind")
int BPF_PROG(fexit_bind, struct socket *sock, struct sockaddr *uaddr, int addr_len, int ret)
{
	hits++;
	return 0;
}

SEC("kprobe/inet6_bind")
int kprobe_bind(void *ctx)
{
	hits++;
	return 0;
}

SEC("kretprobe/inet6_bind")
int kretprobe_bind(void *ctx)
{
	hits++;
	return 0;
}

/*
 * The floor of what fentry mode's bind program must do for an event: a
 * timestamp, and the record sent as v6trace sends it (bpf/deliver.bpf.h:
 * reserved room, the same wake-up rule), to a reader that, like v6trace's,
 * waits for a wake-up or V6T_DRAIN_MS (hooks.c), and does nothing with it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} records SEC(".maps");

__u64 lost;

SEC("fexit/inet6_bind")
int BPF_PROG(fexit_deliver, struct socket *sock, struct sockaddr *uaddr, int addr_len, int ret)
{
	struct v6t_event e = {.ret = ret};

	e.ts_ns = bpf_ktime_get_ns();
	if (!deliver(&records, &e))
		__sync_fetch_and_add(&lost, 1);
	return 0;
}
