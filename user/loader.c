// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>
#include <linux/perf_event.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "core_btf.h"
#include "loader.h"
#include "v6trace.skel.h"
#include "v6trace_nocast.skel.h"

static const char *const mode_names[] = {
	[V6T_MODE_FENTRY] = "fentry",
	[V6T_MODE_KPROBE] = "kprobe",
	[V6T_MODE_TRACEPOINT] = "tracepoint",
};

const char *mode_name(int mode)
{
	if (mode >= V6T_MODE_FENTRY && mode <= V6T_MODE_TRACEPOINT)
		return mode_names[mode];
	return "auto";
}

int mode_from_name(const char *name)
{
	int mode;

	if (!strcmp(name, "auto"))
		return 0;
	for (mode = V6T_MODE_FENTRY; mode <= V6T_MODE_TRACEPOINT; mode++) {
		if (!strcmp(name, mode_names[mode]))
			return mode;
	}
	return -1;
}

/*
 * What the running kernel's BTF says about the functions fentry and kprobe
 * mode hook: which inet_csk_accept() prototype it has and whether it has
 * MPTCP (see bpf/core_fixes.bpf.h for both); read once per start.
 */
struct kernel_funcs {
	int accept_arity;      /* parameters of inet_csk_accept: 4 up to 6.9, 2 from 6.10 */
	bool mptcp;	       /* mptcp_bind and mptcp_listen exist (CONFIG_MPTCP) */
	int uring_args;	       /* arguments of the io_uring_complete tracepoint; -1: none */
	bool uring_submit_req; /* the io_uring_submit_req tracepoint (6.5+) */
	bool io_connect;       /* io_uring's io_connect() */
	bool task_pt_regs;     /* the bpf_task_pt_regs() helper (5.15+): see tracepoint mode */
	bool rdonly_cast;      /* the bpf_rdonly_cast() kfunc (6.2+): see tracepoint mode */
	bool task_btf;	       /* the bpf_get_current_task_btf() helper (5.11+): see fill_task() */
	int inet_bind_id;      /* BTF id of inet_bind(), for probe_mode(); 0: absent */
	int task_id, file_id, socket_id,
		sock_id; /* BTF ids of the types bpf_rdonly_cast() casts to */
};

/* The kernel BTF types kernel_funcs needs, found in one pass over its 100,000-odd types. */
enum wanted_type {
	W_MPTCP_BIND,
	W_MPTCP_LISTEN,
	W_INET_CSK_ACCEPT,
	W_IO_CONNECT,
	W_INET_BIND,
	W_TRACE_URING_COMPLETE,
	W_TRACE_URING_SUBMIT_REQ,
	W_BPF_FUNC_ID,
	W_BPF_RDONLY_CAST,
	W_STRUCT_TASK,
	W_STRUCT_FILE,
	W_STRUCT_SOCKET,
	W_STRUCT_SOCK,
	W_COUNT,
};

static const struct {
	const char *name;
	int kind;
} wanted_types[W_COUNT] = {
	[W_MPTCP_BIND] = {"mptcp_bind", BTF_KIND_FUNC},
	[W_MPTCP_LISTEN] = {"mptcp_listen", BTF_KIND_FUNC},
	[W_INET_CSK_ACCEPT] = {"inet_csk_accept", BTF_KIND_FUNC},
	[W_IO_CONNECT] = {"io_connect", BTF_KIND_FUNC},
	[W_INET_BIND] = {"inet_bind", BTF_KIND_FUNC},
	[W_TRACE_URING_COMPLETE] = {"btf_trace_io_uring_complete", BTF_KIND_TYPEDEF},
	[W_TRACE_URING_SUBMIT_REQ] = {"btf_trace_io_uring_submit_req", BTF_KIND_TYPEDEF},
	[W_BPF_FUNC_ID] = {"bpf_func_id", BTF_KIND_ENUM},
	[W_BPF_RDONLY_CAST] = {"bpf_rdonly_cast", BTF_KIND_FUNC},
	[W_STRUCT_TASK] = {"task_struct", BTF_KIND_STRUCT},
	[W_STRUCT_FILE] = {"file", BTF_KIND_STRUCT},
	[W_STRUCT_SOCKET] = {"socket", BTF_KIND_STRUCT},
	[W_STRUCT_SOCK] = {"sock", BTF_KIND_STRUCT},
};

/* Notes the type's id if it is one of wanted_types not found yet. */
static void match_wanted(const struct btf_type *t, __u32 id, const char *name, int ids[W_COUNT])
{
	int w;

	for (w = 0; w < W_COUNT; w++) {
		if (!ids[w] && btf_kind(t) == wanted_types[w].kind &&
		    !strcmp(name, wanted_types[w].name))
			ids[w] = (int)id;
	}
}

/*
 * The one pass over the kernel's types: the ids of wanted_types, and with
 * names, a copy of every type a CO-RE relocation of the object may name
 * (core_btf.c); false if that copy failed.
 */
static bool walk_kernel_types(const struct btf *btf, int ids[W_COUNT], struct core_names *names,
			      struct core_btf *core)
{
	__u32 id, n = btf__type_cnt(btf), kinds_by_first[256] = {0};
	bool copied = true;
	int w;

	/* 56,000 functions: a name is compared only if a wanted one of its kind starts the same */
	for (w = 0; w < W_COUNT; w++) {
		unsigned char first = (unsigned char)wanted_types[w].name[0];

		ids[w] = 0;
		kinds_by_first[first] |= 1u << wanted_types[w].kind;
	}
	for (id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const char *name = t->name_off ? btf__name_by_offset(btf, t->name_off) : NULL;

		if (!name || !name[0])
			continue;
		if (kinds_by_first[(unsigned char)name[0]] & (1u << btf_kind(t)))
			match_wanted(t, id, name, ids);
		if (names && copied && core_names_has(names, t, name))
			copied = !core_btf_add(core, id);
	}
	return copied;
}

/* Whether an enum type has a value of that name. */
static bool btf_has_enum_value(const struct btf *btf, int id, const char *value)
{
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	const struct btf_enum *v;
	int i;

	for (i = 0, v = t ? btf_enum(t) : NULL; t && i < btf_vlen(t); i++, v++) {
		if (!strcmp(btf__name_by_offset(btf, v->name_off), value))
			return true;
	}
	return false;
}

/* Parameters of a function, or of a pointer-to-function typedef; -1 if absent. */
static int btf_arity(const struct btf *btf, int id)
{
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, id) : NULL;

	t = t ? btf__type_by_id(btf, t->type) : NULL;
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);
	return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

/*
 * Which object to open, and where libbpf finds the kernel types it relocates
 * the programs against: a memory file the loader fills from its own pass over
 * the kernel's BTF (core_btf.c), or with fd -1 the kernel's BTF itself.
 */
struct core_target {
	int fd;
	char path[32]; /* /proc/self/fd/N */
	bool no_cast;  /* the build without bpf_rdonly_cast() (before 6.2) */
};

/* Two builds of one source, one skeleton: what the skeleton maps must agree. */
_Static_assert(sizeof(*((struct v6trace_bpf *)0)->rodata) ==
		       sizeof(*((struct v6trace_nocast_bpf *)0)->rodata),
	       "the two builds' read-only data differ");
_Static_assert(sizeof(*((struct v6trace_bpf *)0)->bss) ==
		       sizeof(*((struct v6trace_nocast_bpf *)0)->bss),
	       "the two builds' .bss differ");
_Static_assert(sizeof(((struct v6trace_bpf *)0)->maps) ==
			       sizeof(((struct v6trace_nocast_bpf *)0)->maps) &&
		       sizeof(((struct v6trace_bpf *)0)->progs) ==
			       sizeof(((struct v6trace_nocast_bpf *)0)->progs),
	       "the two builds' maps or programs differ");

/*
 * The object: the build whose programs cast with bpf_rdonly_cast(), or with
 * ct->no_cast the one without (see can_cast in bpf/core_fixes.bpf.h), opened
 * through the first one's skeleton.
 */
static struct v6trace_bpf *open_object(const struct core_target *ct)
{
	LIBBPF_OPTS(bpf_object_open_opts, o, .btf_custom_path = ct->fd >= 0 ? ct->path : NULL);
	struct v6trace_bpf *obj;
	int err;

	if (!ct->no_cast)
		return v6trace_bpf__open_opts(&o);
	obj = calloc(1, sizeof(*obj));
	if (!obj) {
		errno = ENOMEM;
		return NULL;
	}
	err = v6trace_bpf__create_skeleton(obj);
	if (!err) {
		obj->skeleton->data =
			(void *)v6trace_nocast_bpf__elf_bytes(&obj->skeleton->data_sz);
		err = bpf_object__open_skeleton(obj->skeleton, &o);
	}
	if (err) {
		v6trace_bpf__destroy(obj);
		errno = -err;
		return NULL;
	}
	return obj;
}

/* While loading, the heap neither gives memory back nor serves big blocks with mmaps of their own. */
#define LOADING_HEAP_HOLD (32 << 20)

/* madvise(2) on the whole pages inside [p, p + len). */
static void advise_pages_inside(const void *p, size_t len, int advice)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)p, end = start + len;

	if (page <= 0)
		return;
	start = (start + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	end &= ~((uintptr_t)page - 1);
	if (end > start)
		madvise((void *)start, end - start, advice);
}

/*
 * Faults in len bytes of heap in one system call (MADV_POPULATE_WRITE, 5.14;
 * before, it does nothing), then frees them to the heap, where the kernel
 * BTF's parses take them. A page first written costs a fault each; populated
 * in one call, the pages cost the kernel a fraction of that.
 */
static void populate_heap(size_t len)
{
	void *p = len < LOADING_HEAP_HOLD ? malloc(len) : NULL;

	if (p)
		advise_pages_inside(p, len, MADV_POPULATE_WRITE);
	free(p);
}

/*
 * The kernel's BTF, parsed by libbpf (from /sys/kernel/btf/vmlinux, or a
 * vmlinux image it finds).
 *
 * The heap is populated first for both parses, this one and libbpf's when it
 * loads the programs (see tracer_start()): the file read, its copy, and an
 * offset per type, 2 1/8 times the BTF: the start to attached is shorter
 * (make bench, "startup").
 *
 * Since 6.16 ("btf: Allow mmap of vmlinux btf") the file can be mapped, as
 * libbpf 1.6 does, instead of read a page per read(). Not done: it starts a
 * little sooner, but the parse then leaves the heap fragmented, and the
 * tracer stays more resident once attached.
 */
static struct btf *load_kernel_btf(void)
{
	struct stat st;

	if (!stat("/sys/kernel/btf/vmlinux", &st) && st.st_size > 0)
		populate_heap(2 * (size_t)st.st_size + (size_t)st.st_size / 8);
	return btf__load_vmlinux_btf();
}

/*
 * Reads kf; with names, also writes the CO-RE target to ct's file, and
 * *core_filled says whether all of it went in.
 */
static int read_kernel_funcs(struct kernel_funcs *kf, struct core_names *names,
			     const struct core_target *ct, bool *core_filled, char *err,
			     size_t errlen)
{
	struct core_btf core = {0};
	int ids[W_COUNT], n;
	struct btf *btf;

	btf = load_kernel_btf();
	if (!btf) {
		snprintf(err, errlen, "cannot read kernel BTF: %s", strerror(errno));
		return -errno;
	}
	if (names && core_btf_new(&core, btf))
		names = NULL;
	*core_filled = walk_kernel_types(btf, ids, names, &core) && names &&
		       !core_btf_write(&core, ct->fd);
	core_btf_free(&core);
	kf->mptcp = ids[W_MPTCP_BIND] && ids[W_MPTCP_LISTEN];
	kf->accept_arity = btf_arity(btf, ids[W_INET_CSK_ACCEPT]);
	/* the typedef's first parameter is the tracepoint's private data, not an argument */
	n = btf_arity(btf, ids[W_TRACE_URING_COMPLETE]);
	kf->uring_args = n > 0 ? n - 1 : -1;
	kf->io_connect = ids[W_IO_CONNECT];
	kf->uring_submit_req = btf_arity(btf, ids[W_TRACE_URING_SUBMIT_REQ]) == 2;
	kf->task_pt_regs = btf_has_enum_value(btf, ids[W_BPF_FUNC_ID], "BPF_FUNC_task_pt_regs");
	kf->rdonly_cast = ids[W_BPF_RDONLY_CAST];
	kf->task_btf = btf_has_enum_value(btf, ids[W_BPF_FUNC_ID], "BPF_FUNC_get_current_task_btf");
	kf->inet_bind_id = ids[W_INET_BIND];
	kf->task_id = ids[W_STRUCT_TASK];
	kf->file_id = ids[W_STRUCT_FILE];
	kf->socket_id = ids[W_STRUCT_SOCKET];
	kf->sock_id = ids[W_STRUCT_SOCK];
	btf__free(btf);
	return 0;
}

/* fexit reads the return value after the last parameter: the count must be known */
static int check_accept_arity(const struct kernel_funcs *kf, char *err, size_t errlen)
{
	if (kf->accept_arity < 0) {
		snprintf(err, errlen, "inet_csk_accept is not in the kernel's BTF");
		return -ENOENT;
	}
	if (kf->accept_arity != 2 && kf->accept_arity != 4) {
		snprintf(err, errlen, "inet_csk_accept has %d parameters; known: 2 or 4",
			 kf->accept_arity);
		return -ENOTSUP;
	}
	return 0;
}

/*
 * What the kernel offers that a program may need or may have to do without,
 * in the terms of the table below: one bit each, from struct kernel_funcs.
 */
enum kernel_fact {
	KF_MPTCP = 1u << 0,	       /* mptcp_bind and mptcp_listen exist */
	KF_ACCEPT_4ARGS = 1u << 1,     /* inet_csk_accept(sk, flags, err, kern): up to 6.9 */
	KF_ACCEPT_2ARGS = 1u << 2,     /* inet_csk_accept(sk, arg): from 6.10 */
	KF_TASK_PT_REGS = 1u << 3,     /* bpf_task_pt_regs() (5.15+) */
	KF_RDONLY_CAST = 1u << 4,      /* bpf_rdonly_cast() (6.2+) */
	KF_IO_CONNECT = 1u << 5,       /* io_uring's io_connect() has BTF (fentry can hook it) */
	KF_URING_COMPLETE = 1u << 6,   /* io_uring_complete has one of the known layouts */
	KF_URING_SUBMIT_REQ = 1u << 7, /* the io_uring_submit_req tracepoint (6.5+) */
};

static unsigned int kernel_facts(const struct kernel_funcs *kf)
{
	return (kf->mptcp ? KF_MPTCP : 0) | (kf->accept_arity == 4 ? KF_ACCEPT_4ARGS : 0) |
	       (kf->accept_arity == 2 ? KF_ACCEPT_2ARGS : 0) |
	       (kf->task_pt_regs ? KF_TASK_PT_REGS : 0) | (kf->rdonly_cast ? KF_RDONLY_CAST : 0) |
	       (kf->io_connect ? KF_IO_CONNECT : 0) |
	       (kf->uring_args == V6T_URING_COMPLETE_REQ_RES ||
				kf->uring_args == V6T_URING_COMPLETE_CQE
			? KF_URING_COMPLETE
			: 0) |
	       (kf->uring_submit_req ? KF_URING_SUBMIT_REQ : 0);
}

/* The modes a program is loaded in: one bit per enum v6t_mode. */
#define IN_FENTRY     (1u << V6T_MODE_FENTRY)
#define IN_KPROBE     (1u << V6T_MODE_KPROBE)
#define IN_TRACEPOINT (1u << V6T_MODE_TRACEPOINT)
#define IN_ANY_MODE   (IN_FENTRY | IN_KPROBE | IN_TRACEPOINT)

/* What of the command line a program serves; it is left out when that is not asked for. */
enum prog_serves {
	SERVES_TRACING,	  /* every run */
	SERVES_FOLLOWING, /* --children, -- COMMAND: the forks of traced processes */
	SERVES_PID_TABLE, /* -p, -- COMMAND: the pid table forgets the processes that exit */
};

/* How a program is attached, when libbpf's attach by section name is not the whole story. */
enum prog_attach {
	ATTACH_BY_SECTION,
	/* to each of sys_exit_tracepoints: one program for five system calls */
	ATTACH_SYS_EXITS,
	/*
	 * kprobe (or kretprobe) on io_uring's io_connect(), else on io_issue_sqe(),
	 * else not at all: see attach_uring_connect()
	 */
	ATTACH_URING_CONNECT_ENTRY,
	ATTACH_URING_CONNECT_RETURN,
};

/*
 * One row per program of the object: a new hook is one more row. A program
 * is loaded when the mode being tried is one of its modes, the run asks for
 * what it serves, and the kernel has every fact of needs and none of lacks.
 */
struct prog_row {
	size_t skel_off;    /* offsetof(struct v6trace_bpf, progs.NAME) */
	unsigned int modes; /* IN_* */
	enum prog_serves serves;
	unsigned int needs, lacks; /* enum kernel_fact */
	enum prog_attach attach;
};

#define PROG(prog) .skel_off = offsetof(struct v6trace_bpf, progs.prog)

static const struct prog_row prog_table[] = {
	/* fentry mode: fexit on the socket calls, their arguments BTF-typed */
	{PROG(fexit_inet_bind), .modes = IN_FENTRY},
	{PROG(fexit_inet6_bind), .modes = IN_FENTRY},
	{PROG(fexit_mptcp_bind), .modes = IN_FENTRY, .needs = KF_MPTCP},
	/* fexit reads the return value after the last parameter: one per prototype */
	{PROG(fexit_inet_csk_accept_4), .modes = IN_FENTRY, .needs = KF_ACCEPT_4ARGS},
	{PROG(fexit_inet_csk_accept_2), .modes = IN_FENTRY, .needs = KF_ACCEPT_2ARGS},
	{PROG(fexit_inet_stream_connect), .modes = IN_FENTRY},
	{PROG(fexit_inet_listen), .modes = IN_FENTRY},
	{PROG(fexit_mptcp_listen), .modes = IN_FENTRY, .needs = KF_MPTCP},

	/* kprobe mode: the same functions, arguments saved at entry for the return */
	{PROG(kprobe_inet_bind), .modes = IN_KPROBE},
	{PROG(kretprobe_inet_bind), .modes = IN_KPROBE},
	{PROG(kprobe_inet6_bind), .modes = IN_KPROBE},
	{PROG(kretprobe_inet6_bind), .modes = IN_KPROBE},
	{PROG(kprobe_mptcp_bind), .modes = IN_KPROBE, .needs = KF_MPTCP},
	{PROG(kretprobe_mptcp_bind), .modes = IN_KPROBE, .needs = KF_MPTCP},
	{PROG(kretprobe_inet_csk_accept), .modes = IN_KPROBE},
	{PROG(kprobe_inet_stream_connect), .modes = IN_KPROBE},
	{PROG(kretprobe_inet_stream_connect), .modes = IN_KPROBE},
	{PROG(kprobe_inet_listen), .modes = IN_KPROBE},
	{PROG(kretprobe_inet_listen), .modes = IN_KPROBE},
	{PROG(kprobe_mptcp_listen), .modes = IN_KPROBE, .needs = KF_MPTCP},
	{PROG(kretprobe_mptcp_listen), .modes = IN_KPROBE, .needs = KF_MPTCP},

	/*
	 * tracepoint mode: the entries of bind, connect and listen on every
	 * kernel; their exits and accept's by one program from 5.15 (its loads
	 * BTF-typed from 6.2), else by one program per system call
	 */
	{PROG(tp_sys_enter_bind), .modes = IN_TRACEPOINT},
	{PROG(tp_sys_enter_connect), .modes = IN_TRACEPOINT},
	{PROG(tp_sys_enter_listen), .modes = IN_TRACEPOINT},
	{PROG(tp_sys_exit), .modes = IN_TRACEPOINT, .needs = KF_TASK_PT_REGS,
	 .lacks = KF_RDONLY_CAST, .attach = ATTACH_SYS_EXITS},
	{PROG(tp_sys_exit_btf), .modes = IN_TRACEPOINT, .needs = KF_TASK_PT_REGS | KF_RDONLY_CAST,
	 .attach = ATTACH_SYS_EXITS},
	{PROG(tp_sys_exit_bind), .modes = IN_TRACEPOINT, .lacks = KF_TASK_PT_REGS},
	{PROG(tp_sys_exit_connect), .modes = IN_TRACEPOINT, .lacks = KF_TASK_PT_REGS},
	{PROG(tp_sys_exit_listen), .modes = IN_TRACEPOINT, .lacks = KF_TASK_PT_REGS},
	{PROG(tp_sys_exit_accept), .modes = IN_TRACEPOINT, .lacks = KF_TASK_PT_REGS},
	{PROG(tp_sys_exit_accept4), .modes = IN_TRACEPOINT, .lacks = KF_TASK_PT_REGS},

	/*
	 * io_uring: its completions in every mode (what they report depends on
	 * the mode: cfg.uring_connect_only), a bind's address at submission in
	 * tracepoint mode, and the io_connect() marks that keep fentry and
	 * kprobe mode from reporting io_uring's connect attempts
	 */
	{PROG(raw_tp_io_uring_complete), .modes = IN_ANY_MODE, .needs = KF_URING_COMPLETE},
	{PROG(raw_tp_io_uring_submit_req), .modes = IN_TRACEPOINT,
	 .needs = KF_URING_SUBMIT_REQ | KF_URING_COMPLETE},
	{PROG(fentry_io_connect), .modes = IN_FENTRY, .needs = KF_IO_CONNECT},
	{PROG(fexit_io_connect), .modes = IN_FENTRY, .needs = KF_IO_CONNECT},
	/* a kprobe needs no BTF, and has a fallback: see attach_uring_connect() */
	{PROG(kprobe_io_connect), .modes = IN_KPROBE, .attach = ATTACH_URING_CONNECT_ENTRY},
	{PROG(kretprobe_io_connect), .modes = IN_KPROBE, .attach = ATTACH_URING_CONNECT_RETURN},

	/* tasks: the saved arguments of a thread that exits (the modes that save them) */
	{PROG(raw_tp_thread_exit), .modes = IN_KPROBE | IN_TRACEPOINT},
	{PROG(raw_tp_sched_process_fork), .modes = IN_ANY_MODE, .serves = SERVES_FOLLOWING},
	/* -p without --children too: a pid that exits leaves the table, so a process
	 * that gets the number next is not traced as if it were it */
	{PROG(raw_tp_sched_process_exit), .modes = IN_ANY_MODE, .serves = SERVES_PID_TABLE},
};

#define N_PROGS (sizeof(prog_table) / sizeof(prog_table[0]))
_Static_assert(N_PROGS * sizeof(struct bpf_program *) == sizeof(((struct v6trace_bpf *)0)->progs),
	       "every program of the object has one row in prog_table");

static struct bpf_program *row_program(const struct v6trace_bpf *skel, const struct prog_row *row)
{
	return *(struct bpf_program *const *)((const char *)skel + row->skel_off);
}

static const struct prog_row *program_row(const struct v6trace_bpf *skel,
					  const struct bpf_program *prog)
{
	size_t i;

	for (i = 0; i < N_PROGS; i++) {
		if (row_program(skel, &prog_table[i]) == prog)
			return &prog_table[i];
	}
	return NULL;
}

/* Whether the running kernel has what the row needs and not what it cannot run with. */
static bool row_fits(const struct prog_row *row, unsigned int facts)
{
	return (facts & row->needs) == row->needs && !(facts & row->lacks);
}

/* The system calls whose exit tp_sys_exit reports (see bpf/hooks_tracepoint.bpf.h). */
static const char *const sys_exit_tracepoints[] = {
	"sys_exit_bind",   "sys_exit_connect", "sys_exit_listen",
	"sys_exit_accept", "sys_exit_accept4",
};
#define N_SYS_EXIT (sizeof(sys_exit_tracepoints) / sizeof(sys_exit_tracepoints[0]))

/*
 * Every load-time knob of the BPF side (struct v6t_config), from the options,
 * the kernel's functions, the mode and the ring buffer's size.
 */
static void set_config(struct v6t_config *c, const struct loader_opts *opts,
		       const struct kernel_funcs *kf, int mode, __u32 ringbuf_bytes)
{
	struct v6t_config n = {.filter = opts->filter};
	struct v6t_filter *f = &n.filter;

	f->by_pid = opts->npids > 0;
	f->by_port = opts->nports > 0;
	f->by_cgroup = opts->cgroup_fd >= 0;
	f->task_any = f->by_pid || f->by_uid || f->by_comm || f->by_cgroup;
	f->sock_any = f->family || f->by_netns || f->by_port || f->stacks || f->mapped;
	n.wakeup_bytes = ringbuf_bytes / 4;
	n.nr_bind = SYS_bind;
	n.nr_connect = SYS_connect;
	n.nr_listen = SYS_listen;
	n.nr_accept = SYS_accept;
	n.nr_accept4 = SYS_accept4;
	n.uring_complete_args = kf->uring_args > 0 ? (__u32)kf->uring_args : 0;
	n.task_struct_btf_id = (__u32)kf->task_id;
	n.file_btf_id = (__u32)kf->file_id;
	n.socket_btf_id = (__u32)kf->socket_id;
	n.sock_btf_id = (__u32)kf->sock_id;
	n.uring_connect_only = mode != V6T_MODE_TRACEPOINT;
	n.task_btf = kf->task_btf;
	n.have_rdonly_cast = kf->rdonly_cast;
	*c = n;
}

static int select_programs(struct tracer *t, const struct kernel_funcs *kf, int mode,
			   bool follow_forks, bool tracks_pids, char *err, size_t errlen)
{
	unsigned int facts = kernel_facts(kf);
	struct bpf_program *prog;

	if (mode == V6T_MODE_FENTRY) {
		int ret = check_accept_arity(kf, err, errlen);

		if (ret)
			return ret;
	}
	t->uring = facts & KF_URING_COMPLETE;
	bpf_object__for_each_program(prog, t->skel->obj)
	{
		const struct prog_row *row = program_row(t->skel, prog);
		bool load;

		if (!row) { /* a program added to the object without its row */
			snprintf(err, errlen, "program %s is not in the loader's table",
				 bpf_program__name(prog));
			return -EINVAL;
		}
		load = (row->modes & (1u << mode)) && row_fits(row, facts);
		if (row->serves == SERVES_FOLLOWING)
			load = load && follow_forks;
		else if (row->serves == SERVES_PID_TABLE)
			load = load && tracks_pids;
		bpf_program__set_autoload(prog, load);
	}
	return 0;
}

static int fill_filter_maps(struct tracer *t, const struct loader_opts *opts, char *err,
			    size_t errlen)
{
	__u32 zero = 0, cgfd = (__u32)opts->cgroup_fd;
	__u8 one = 1;
	size_t i;

	for (i = 0; i < opts->npids; i++) {
		__u32 pid = opts->pids[i];

		if (bpf_map__update_elem(t->skel->maps.pids, &pid, sizeof(pid), &one, sizeof(one),
					 BPF_ANY))
			goto fail;
	}
	for (i = 0; i < opts->nports; i++) {
		__u16 port = opts->ports[i];

		if (bpf_map__update_elem(t->skel->maps.ports, &port, sizeof(port), &one,
					 sizeof(one), BPF_ANY))
			goto fail;
	}
	if (opts->cgroup_fd >= 0 && bpf_map__update_elem(t->skel->maps.cgroups, &zero, sizeof(zero),
							 &cgfd, sizeof(cgfd), BPF_ANY))
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot set up the filters: %s", strerror(errno));
	return -errno;
}

/* ENOTSUPP (524) is the kernel's own errno, which strerror() does not know. */
static const char *attach_error(int mode, int e)
{
	if (e == 524 && mode == V6T_MODE_FENTRY)
		return "this kernel cannot attach fentry/fexit to its functions on this "
		       "architecture (ENOTSUPP; arm64 can from Linux 6.4)";
	return e == 524 ? "not supported by this kernel (ENOTSUPP)" : strerror(e);
}

/*
 * The kprobes on io_uring's io_connect() mark the connect attempts that are
 * io_uring's. Where the compiler inlined io_connect() (Debian's arm64 5.10)
 * there is no symbol to probe: they then mark io_issue_sqe(), which issues
 * every request (only a connect request reaches inet_stream_connect() there).
 * NULL, not an error, where neither exists (a kernel without io_uring).
 */
static struct bpf_link *attach_uring_connect(struct bpf_program *prog, bool retprobe)
{
	struct bpf_link *link = bpf_program__attach(prog);

	if (!link)
		link = bpf_program__attach_kprobe(prog, retprobe, "io_issue_sqe");
	return link;
}

/* tp_sys_exit, on each of its tracepoints */
static int attach_sys_exit(struct tracer *t, struct bpf_program *prog, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < N_SYS_EXIT; i++) {
		struct bpf_link *link =
			bpf_program__attach_tracepoint(prog, "syscalls", sys_exit_tracepoints[i]);

		if (!link) {
			int e = errno;

			snprintf(err, errlen, "attach tracepoint/syscalls/%s: %s",
				 sys_exit_tracepoints[i], strerror(e));
			return -e;
		}
		t->links[t->nlinks++] = link;
	}
	return 0;
}

/* In the object's order, as libbpf loaded them: the programs select_programs() chose. */
static int attach_programs(struct tracer *t, char *err, size_t errlen)
{
	struct bpf_program *prog;
	size_t n = N_SYS_EXIT;

	bpf_object__for_each_program(prog, t->skel->obj) n++;
	t->links = calloc(n, sizeof(*t->links));
	if (!t->links) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	bpf_object__for_each_program(prog, t->skel->obj)
	{
		const struct prog_row *row = program_row(t->skel, prog);
		struct bpf_link *link;
		int ret, e;

		if (!bpf_program__autoload(prog))
			continue;
		switch (row->attach) {
		case ATTACH_SYS_EXITS:
			ret = attach_sys_exit(t, prog, err, errlen);
			if (ret)
				return ret;
			continue;
		case ATTACH_URING_CONNECT_ENTRY:
		case ATTACH_URING_CONNECT_RETURN:
			link = attach_uring_connect(prog,
						    row->attach == ATTACH_URING_CONNECT_RETURN);
			if (!link)
				continue;
			break;
		case ATTACH_BY_SECTION:
		default:
			link = bpf_program__attach(prog);
			break;
		}
		if (!link) {
			e = errno;
			snprintf(err, errlen, "attach %s: %s", bpf_program__section_name(prog),
				 attach_error(row->modes == IN_FENTRY ? V6T_MODE_FENTRY : 0, e));
			return -e;
		}
		t->links[t->nlinks++] = link;
	}
	return 0;
}

void tracer_stop_producing(struct tracer *t)
{
	if (t->skel && t->skel->bss)
		__atomic_store_n(&t->skel->bss->stopping, true, __ATOMIC_RELEASE);
}

void tracer_detach(struct tracer *t)
{
	size_t i;

	for (i = 0; i < t->nlinks; i++)
		bpf_link__destroy(t->links[i]);
	free(t->links);
	t->links = NULL;
	t->nlinks = 0;
}

static void tracer_release(struct tracer *t)
{
	tracer_detach(t);
	if (t->stats)
		munmap((void *)t->stats, t->stats_len);
	t->stats = NULL;
	v6trace_bpf__destroy(t->skel);
	t->skel = NULL;
}

/*
 * libbpf finds a tracepoint's id under tracefs, which many hosts (this one's
 * CI among them) do not mount by default. Mount it where libbpf looks first.
 */
static int ensure_tracefs(char *err, size_t errlen)
{
	static const char dir[] = "/sys/kernel/tracing";

	if (!access("/sys/kernel/tracing/events", F_OK) ||
	    !access("/sys/kernel/debug/tracing/events", F_OK))
		return 0;
	/* EBUSY: another tracer (a second v6trace, say) mounted it a moment ago */
	if (mount("nodev", dir, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) &&
	    (errno != EBUSY || access("/sys/kernel/tracing/events", F_OK))) {
		int e = errno;

		snprintf(err, errlen, "tracefs is not mounted and mounting it on %s failed: %s",
			 dir, strerror(e));
		return -e;
	}
	return 0;
}

static int map_stats(struct tracer *t, char *err, size_t errlen)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *mem;

	t->stats_len = ((size_t)t->ncpus * V6T_STAT_SLOTS * sizeof(__u64) + page - 1) / page * page;
	mem = mmap(NULL, t->stats_len, PROT_READ, MAP_SHARED, bpf_map__fd(t->skel->maps.stats), 0);
	if (mem == MAP_FAILED) {
		snprintf(err, errlen, "cannot map the counters: %s", strerror(errno));
		return -errno;
	}
	t->stats = mem;
	return 0;
}

/* Opens, loads and attaches one mode's programs: the only honest probe. */
static int try_mode(struct tracer *t, const struct loader_opts *opts, const struct kernel_funcs *kf,
		    const struct core_target *ct, int mode, char *err, size_t errlen)
{
	int ret;

	if (!t->skel) /* the first try's is open already */
		t->skel = open_object(ct);
	if (!t->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(-ret));
		return ret;
	}
	if (opts->ringbuf_kb) {
		ret = bpf_map__set_max_entries(t->skel->maps.events, opts->ringbuf_kb * 1024);
		if (ret) {
			snprintf(err, errlen, "ring buffer size: %s", strerror(-ret));
			goto fail;
		}
	}
	set_config(&t->skel->rodata->cfg, opts, kf, mode,
		   bpf_map__max_entries(t->skel->maps.events));
	t->ncpus = libbpf_num_possible_cpus();
	if (t->ncpus <= 0) {
		ret = t->ncpus ? t->ncpus : -EINVAL;
		snprintf(err, errlen, "cannot count the CPUs: %s", strerror(-ret));
		goto fail;
	}
	ret = bpf_map__set_max_entries(t->skel->maps.stats, (__u32)t->ncpus * V6T_STAT_SLOTS);
	if (ret) {
		snprintf(err, errlen, "stats map size: %s", strerror(-ret));
		goto fail;
	}
	if (mode == V6T_MODE_TRACEPOINT) {
		ret = ensure_tracefs(err, errlen);
		if (ret)
			goto fail;
	}
	ret = select_programs(t, kf, mode, opts->filter.children && opts->npids, opts->npids > 0,
			      err, errlen);
	if (ret)
		goto fail;
	ret = v6trace_bpf__load(t->skel);
	if (ret) {
		snprintf(err, errlen, "load: %s", strerror(-ret));
		goto fail;
	}
	ret = fill_filter_maps(t, opts, err, errlen);
	if (ret)
		goto fail;
	ret = map_stats(t, err, errlen);
	if (ret)
		goto fail;
	ret = attach_programs(t, err, errlen);
	if (ret)
		goto fail;
	t->mode = mode;
	return 0;
fail:
	tracer_release(t);
	return ret;
}

/* r0 = 0; exit: the program probe_mode() loads */
static const struct bpf_insn return_zero[] = {
	{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
	{.code = BPF_JMP | BPF_EXIT},
};

/* An fexit program on inet_bind(), loaded and attached. */
static int probe_fentry(const struct kernel_funcs *kf, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_TRACE_FEXIT,
		    .attach_btf_id = (__u32)kf->inet_bind_id);
	int prog, link, e;

	if (!kf->inet_bind_id) {
		snprintf(err, errlen, "inet_bind is not in the kernel's BTF");
		return -ENOENT;
	}
	prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", return_zero, 2, &o);
	if (prog < 0) {
		snprintf(err, errlen, "load: %s", strerror(-prog));
		return prog;
	}
	link = bpf_raw_tracepoint_open(NULL, prog);
	e = link < 0 ? -link : 0;
	if (e)
		snprintf(err, errlen, "attach fexit/inet_bind: %s",
			 attach_error(V6T_MODE_FENTRY, e));
	else
		close(link);
	close(prog);
	return -e;
}

/* A kprobe on inet_bind(), through the kprobe PMU as libbpf attaches one. */
static int probe_kprobe(char *err, size_t errlen)
{
	struct perf_event_attr attr = {.size = sizeof(attr),
				       .config1 = (__u64)(uintptr_t) "inet_bind"};
	int prog, event, type = -1, e = 0;
	FILE *f = fopen("/sys/bus/event_source/devices/kprobe/type", "re");

	if (!f || fscanf(f, "%d", &type) != 1) {
		if (f)
			fclose(f);
		snprintf(err, errlen, "attach kprobe/inet_bind: no kprobe PMU in this kernel");
		return -ENOENT;
	}
	fclose(f);
	attr.type = (__u32)type;
	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", return_zero, 2, NULL);
	if (prog < 0) {
		snprintf(err, errlen, "load: %s", strerror(-prog));
		return prog;
	}
	event = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (event < 0 || ioctl(event, PERF_EVENT_IOC_SET_BPF, prog) < 0) {
		e = errno;
		snprintf(err, errlen, "attach kprobe/inet_bind: %s",
			 attach_error(V6T_MODE_KPROBE, e));
	}
	if (event >= 0)
		close(event);
	close(prog);
	return -e;
}

/*
 * In auto mode, whether the kernel can offer a mode at all, found by loading
 * and attaching one tiny program to one of its hooks (as libbpf-tools'
 * fentry_can_attach() does) before the whole object is loaded for it:
 * loading every program of a mode only to be refused at the end would make
 * the start on a host that has neither fentry nor kprobes pay for two
 * verifications of a whole object. A mode that passes is still tried whole.
 */
static int probe_mode(const struct kernel_funcs *kf, int mode, char *err, size_t errlen)
{
	if (mode == V6T_MODE_FENTRY)
		return probe_fentry(kf, err, errlen);
	if (mode == V6T_MODE_KPROBE)
		return probe_kprobe(err, errlen);
	return 0;
}

/*
 * Every system call of every task takes the kernel's slow path while any
 * syscall tracepoint is enabled: what tracepoint mode costs the whole machine.
 */
static void warn_slow_path(void)
{
	fprintf(stderr, "v6trace: tracepoint mode: while it runs, every system call on this "
			"machine takes the kernel's slower traced path (its cost: "
			"doc/performance.md)\n");
}

/*
 * The object is opened before the kernel's BTF is read: the pass over the
 * kernel's types copies those the object's own BTF names (core_btf.c).
 */
static int start_mode(struct tracer *t, const struct loader_opts *opts, char *err, size_t errlen)
{
	struct core_target ct = {.fd = memfd_create("v6trace-core-btf", MFD_CLOEXEC)};
	struct core_names names = {0};
	struct kernel_funcs kf;
	bool core_filled = false;
	int mode, ret;

	snprintf(ct.path, sizeof(ct.path), "/proc/self/fd/%d", ct.fd);
	if (ct.fd >= 0 && access(ct.path, R_OK)) { /* no /proc: libbpf could not read it */
		close(ct.fd);
		ct.fd = -1;
	}
	t->skel = open_object(&ct);
	if (!t->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(-ret));
		goto out;
	}
	ret = ct.fd >= 0 ? core_names_init(&names, bpf_object__btf(t->skel->obj)) : -EBADF;
	ret = read_kernel_funcs(&kf, ret ? NULL : &names, &ct, &core_filled, err, errlen);
	core_names_free(&names);
	if (!core_filled) { /* libbpf walks the kernel's BTF itself */
		v6trace_bpf__destroy(t->skel);
		t->skel = NULL;
		if (ct.fd >= 0)
			close(ct.fd);
		ct.fd = -1;
	}
	if (!ret && !kf.rdonly_cast) { /* before 6.2: the other build (the copy fits both) */
		v6trace_bpf__destroy(t->skel);
		t->skel = NULL;
		ct.no_cast = true;
	}
	if (ret)
		goto out;
	if (opts->mode) {
		ret = try_mode(t, opts, &kf, &ct, opts->mode, err, errlen);
		goto out;
	}
	for (mode = V6T_MODE_FENTRY; mode <= V6T_MODE_TRACEPOINT; mode++) {
		ret = probe_mode(&kf, mode, t->refused[mode], sizeof(t->refused[mode]));
		if (!ret)
			ret = try_mode(t, opts, &kf, &ct, mode, t->refused[mode],
				       sizeof(t->refused[mode]));
		if (!ret)
			goto out;
	}
	snprintf(err, errlen, "no attach mode works: fentry: %s; kprobe: %s; tracepoint: %s",
		 t->refused[V6T_MODE_FENTRY], t->refused[V6T_MODE_KPROBE],
		 t->refused[V6T_MODE_TRACEPOINT]);
out:
	if (ret && t->skel) {
		v6trace_bpf__destroy(t->skel);
		t->skel = NULL;
	}
	if (ct.fd >= 0)
		close(ct.fd);
	return ret;
}

/*
 * The two builds of the object are embedded in the binary, and libbpf reads
 * the one it opens in place: once it is loaded, the pages they cover are
 * dropped from the process (they stay in the page cache, and come back on a
 * read). Page faults map the pages around the one read, so the build not
 * opened would stay resident too.
 */
static void drop_object_pages(const void *(*elf_bytes)(size_t *))
{
	size_t len = 0;
	const void *start = elf_bytes(&len);

	advise_pages_inside(start, len, MADV_DONTNEED);
}

/*
 * A -p process that exited after the command line was read and before the
 * exit program was attached is still in the pid table: forget it now, while
 * the table can still be written, or whoever gets its number next is traced.
 */
static void forget_gone_pids(struct tracer *t, const struct loader_opts *opts)
{
	size_t i;

	for (i = 0; i < opts->npids; i++) {
		__u32 pid = opts->pids[i];

		if (kill((pid_t)pid, 0) && errno == ESRCH)
			bpf_map__delete_elem(t->skel->maps.pids, &pid, sizeof(pid), 0);
	}
}

int tracer_start(struct tracer *t, const struct loader_opts *opts, char *err, size_t errlen)
{
	int ret;

	/*
	 * The kernel's BTF is parsed twice, the loader's copy freed before
	 * libbpf's is made. glibc serves each allocation above its mmap
	 * threshold (128 KiB at first) with an mmap of its own, faulted in
	 * afresh and unmapped when freed. With the threshold at 32 MiB (the
	 * highest mallopt(3) documents for 64-bit) and the heap not trimmed
	 * while loading, libbpf's parse reuses the pages the loader's faulted in
	 * instead of faulting in its own; the trim threshold alone gains nothing.
	 * Restored after (the threshold fixed at its first value, no longer
	 * raised by what is freed), before malloc_trim() gives the heap back.
	 */
	mallopt(M_MMAP_THRESHOLD, LOADING_HEAP_HOLD);
	mallopt(M_TRIM_THRESHOLD, LOADING_HEAP_HOLD);
	ret = start_mode(t, opts, err, errlen);
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
	mallopt(M_TRIM_THRESHOLD, 128 << 10);

	/*
	 * What loading took (the kernel's BTF, parsed twice: libbpf frees its
	 * copy after load, read_kernel_funcs() its own) goes back to the system.
	 */
	if (!ret)
		forget_gone_pids(t, opts);
	malloc_trim(0);
	drop_object_pages(v6trace_bpf__elf_bytes);
	drop_object_pages(v6trace_nocast_bpf__elf_bytes);
	if (!ret && t->mode == V6T_MODE_TRACEPOINT)
		warn_slow_path();
	return ret;
}

int tracer_ringbuf_fd(const struct tracer *t)
{
	return bpf_map__fd(t->skel->maps.events);
}

int tracer_read_stats(const struct tracer *t, uint64_t stats[V6T_STAT_MAX])
{
	int cpu, i;

	if (!t->stats)
		return -EINVAL;
	for (i = 0; i < V6T_STAT_MAX; i++) {
		stats[i] = 0;
		for (cpu = 0; cpu < t->ncpus; cpu++)
			stats[i] += t->stats[(size_t)cpu * V6T_STAT_SLOTS + (size_t)i];
	}
	return 0;
}

void tracer_stop(struct tracer *t)
{
	tracer_release(t);
}
