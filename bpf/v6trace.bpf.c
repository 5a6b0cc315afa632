// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * v6trace kernel side: bind, listen, accept and connect events from three
 * kinds of hooks.
 *
 *   fentry:     fexit on inet_bind, inet6_bind, inet_listen, inet_csk_accept,
 *               inet_stream_connect, and mptcp_bind, mptcp_listen where the
 *               kernel has MPTCP (see core_fixes.bpf.h)
 *   kprobe:     kprobe + kretprobe on the same functions
 *   tracepoint: syscalls:sys_enter_{bind,listen,connect}, which save the
 *               fd's socket and the caller's sockaddr, and
 *               syscalls:sys_exit_{bind,listen,connect,accept,accept4}, one
 *               program (before 5.15, one per call); the fd is resolved to
 *               its struct socket in the kernel; and io_uring's
 *               io_uring_complete for the requests that never enter those
 *               system calls
 *
 * Whatever the hook, the event is filled from the socket after the call, by
 * the same helpers, so every mode reports the same record. The loader enables
 * exactly one mode's programs with bpf_program__set_autoload(), plus the two
 * raw tracepoints that follow forks when a process tree is traced.
 *
 * Every filter is decided here, before the ring buffer: the process filters
 * (pid, comm, uid, cgroup) as soon as the hook runs, the socket filters
 * (family, netns, port, stack, mapped peer) once the socket is read.
 *
 * One compilation unit, so one object and one skeleton, in parts included
 * in this order, each using what those before it define:
 *   maps.bpf.h              the shared maps and the end-of-tracing flag
 *   emit.bpf.h              filters, socket and sockaddr reads, the emitters
 *   calls.bpf.h             a thread's saved call, the socket behind an fd
 *   hooks_fentry.bpf.h      the programs of each attach mode, in the order
 *   hooks_kprobe.bpf.h      the object lists them (the loader attaches in
 *   hooks_tracepoint.bpf.h  that order; user/loader.c's prog_table has a
 *   hooks_uring.bpf.h       row for each)
 *   hooks_tasks.bpf.h
 * What differs between kernels is in core_fixes.bpf.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "v6trace.h"
#include "abi.bpf.h"
#include "config.bpf.h"
#include "core_fixes.bpf.h"
#include "deliver.bpf.h"
#include "stack.h"

#define AF_INET	     2
#define AF_INET6     10
#define S_IFMT	     00170000
#define S_IFSOCK     0140000
#define IPPROTO_TCP  6
#define EADDRINUSE   98
#define EINPROGRESS  115
#define EOPNOTSUPP   95
#define EAFNOSUPPORT 97

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "maps.bpf.h"
#include "emit.bpf.h"
#include "calls.bpf.h"
#include "hooks_fentry.bpf.h"
#include "hooks_kprobe.bpf.h"
#include "hooks_tracepoint.bpf.h"
#include "hooks_uring.bpf.h"
#include "hooks_tasks.bpf.h"
