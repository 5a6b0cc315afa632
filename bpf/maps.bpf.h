// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The maps every hook shares (the ring buffer, the counters, the filters'
 * tables) and the end-of-tracing flag.
 *
 * A part of the one compilation unit bpf/v6trace.bpf.c (one object, one
 * skeleton): it relies on what the parts included before it define.
 */
#ifndef V6TRACE_MAPS_BPF_H
#define V6TRACE_MAPS_BPF_H

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

/* this CPU's slot; atomic because a program can interrupt another on one CPU */
static __always_inline void stat_inc(__u32 idx)
{
	__u32 key = bpf_get_smp_processor_id() * V6T_STAT_SLOTS + idx;
	__u64 *val = bpf_map_lookup_elem(&stats, &key);

	if (val)
		__sync_fetch_and_add(val, 1);
}

#endif
