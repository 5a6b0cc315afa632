// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Tasks: a thread's saved arguments go when it exits; the forks of traced
 * processes are followed, and the pid table forgets the processes that exit.
 *
 * A part of the one compilation unit bpf/v6trace.bpf.c (one object, one
 * skeleton): it relies on what the parts included before it define.
 */
#ifndef V6TRACE_HOOKS_TASKS_BPF_H
#define V6TRACE_HOOKS_TASKS_BPF_H

/*
 * A thread leaves: its entry of saved arguments goes with it (kprobe mode,
 * and tracepoint mode before 5.15). sched_process_exit runs in the exiting
 * thread, once per thread. Most threads never made a traced call: a lookup,
 * which takes no lock, finds that first. bpf_map_delete_elem() takes the
 * bucket's lock whether or not the key is there, a cost every exit on the
 * machine would pay.
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

#endif
