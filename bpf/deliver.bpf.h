/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How an event record goes to user space: v6trace's programs, and the floor
 * make bench prices it by (tools/bench/hooks.bpf.c), send it with this code.
 */
#ifndef V6TRACE_DELIVER_BPF_H
#define V6TRACE_DELIVER_BPF_H

#include "config.bpf.h"

/*
 * When to wake the reader, which also drains the ring buffer every
 * V6T_DRAIN_MS. Waking it is an irq_work: a self-interrupt (under a
 * hypervisor, an exit to it) and a context switch; one per record (the
 * default of bpf_ringbuf_output) cost more than the rest of the program. So:
 * once wakeup_bytes wait (the loader makes that a quarter of the buffer),
 * then every WAKE_EVERY-th record while they still do (two CPUs can step
 * over one mark together); and at every record once three quarters wait:
 * a reader that far behind is short of CPU, and the wake-ups slow its
 * producers down before the buffer overflows (tests/deploy.py: a flood with
 * two tracers on two CPUs loses nothing so, and lost 0.6 % with a wake-up
 * every quarter only).
 */
#define WAKE_EVERY   16
#define RECORD_BYTES (sizeof(struct v6t_event) + 8) /* and the ring buffer's header */

static __always_inline __u64 wakeup_flag(__u64 waiting)
{
	if (waiting >= 3 * cfg.wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	if (waiting >= cfg.wakeup_bytes &&
	    (waiting - cfg.wakeup_bytes) / RECORD_BYTES % WAKE_EVERY == 0)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/*
 * Copies the record into reserved room of the ring buffer and commits it;
 * false if there was no room. The copy is the program's own loads and
 * stores: bpf_ringbuf_output() copies with the kernel's memcpy(), and it and
 * its helper call cost more for a record this small (make bench).
 */
static __always_inline bool deliver(void *ringbuf, const struct v6t_event *e)
{
	__u64 waiting = bpf_ringbuf_query(ringbuf, BPF_RB_AVAIL_DATA) + sizeof(*e);
	struct v6t_event *rec = bpf_ringbuf_reserve(ringbuf, sizeof(*rec), 0);

	if (!rec)
		return false;
	*rec = *e;
	bpf_ringbuf_submit(rec, wakeup_flag(waiting));
	return true;
}

#endif
