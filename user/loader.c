// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "v6trace.skel.h"

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

/* The attach mode a program belongs to, from its section name; 0: any mode. */
static int program_mode(const struct bpf_program *prog)
{
	const char *sec = bpf_program__section_name(prog);

	if (!strcmp(sec, "raw_tracepoint/io_uring_submit_req"))
		return V6T_MODE_TRACEPOINT;
	if (!strncmp(sec, "raw_tracepoint/", 15))
		return 0; /* forks and exits (when following), io_uring completions */
	if (!strncmp(sec, "fexit/", 6) || !strncmp(sec, "fentry/", 7))
		return V6T_MODE_FENTRY;
	if (!strncmp(sec, "kprobe/", 7) || !strncmp(sec, "kretprobe/", 10))
		return V6T_MODE_KPROBE;
	return V6T_MODE_TRACEPOINT;
}

/*
 * What the running kernel's BTF says about the functions fentry and kprobe
 * mode hook: which inet_csk_accept() prototype it has and whether it has
 * MPTCP (see bpf/core_fixes.bpf.h for both).
 */
struct kernel_funcs {
	int accept_arity;      /* parameters of inet_csk_accept: 4 up to 6.9, 2 from 6.10 */
	bool mptcp;	       /* mptcp_bind and mptcp_listen exist (CONFIG_MPTCP) */
	int uring_args;	       /* arguments of the io_uring_complete tracepoint; -1: none */
	bool uring_submit_req; /* the io_uring_submit_req tracepoint (6.5+) */
	bool io_connect;       /* io_uring's io_connect() */
};

static bool btf_has_func(const struct btf *btf, const char *name)
{
	return btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) > 0;
}

/* Parameters of a function, or of a pointer-to-function typedef; -1 if absent. */
static int btf_arity(const struct btf *btf, const char *name, int kind)
{
	int id = btf__find_by_name_kind(btf, name, kind);
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, id) : NULL;

	t = t ? btf__type_by_id(btf, t->type) : NULL;
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);
	return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

static int read_kernel_funcs(struct kernel_funcs *kf, char *err, size_t errlen)
{
	struct btf *btf;
	int n;

	btf = btf__load_vmlinux_btf();
	if (!btf) {
		snprintf(err, errlen, "cannot read kernel BTF: %s", strerror(errno));
		return -errno;
	}
	kf->mptcp = btf_has_func(btf, "mptcp_bind") && btf_has_func(btf, "mptcp_listen");
	kf->accept_arity = btf_arity(btf, "inet_csk_accept", BTF_KIND_FUNC);
	/* the typedef's first parameter is the tracepoint's private data, not an argument */
	n = btf_arity(btf, "btf_trace_io_uring_complete", BTF_KIND_TYPEDEF);
	kf->uring_args = n > 0 ? n - 1 : -1;
	kf->io_connect = btf_has_func(btf, "io_connect");
	kf->uring_submit_req =
		btf_arity(btf, "btf_trace_io_uring_submit_req", BTF_KIND_TYPEDEF) == 2;
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

/* Whether a program of the chosen mode fits the running kernel's functions. */
static bool program_fits(const struct v6trace_bpf *skel, const struct bpf_program *prog,
			 const struct kernel_funcs *kf)
{
	if (prog == skel->progs.fexit_inet_csk_accept_4)
		return kf->accept_arity == 4;
	if (prog == skel->progs.fexit_inet_csk_accept_2)
		return kf->accept_arity == 2;
	if (prog == skel->progs.raw_tp_io_uring_submit_req)
		return kf->uring_submit_req &&
		       program_fits(skel, skel->progs.raw_tp_io_uring_complete, kf);
	if (prog == skel->progs.fentry_io_connect || prog == skel->progs.fexit_io_connect)
		return kf->io_connect;
	/* a kprobe needs no BTF: see attach_uring_connect() */
	if (prog == skel->progs.kprobe_io_connect || prog == skel->progs.kretprobe_io_connect)
		return true;
	if (prog == skel->progs.raw_tp_io_uring_complete)
		return kf->uring_args == V6T_URING_COMPLETE_REQ_RES ||
		       kf->uring_args == V6T_URING_COMPLETE_CQE;
	if (prog == skel->progs.fexit_mptcp_bind || prog == skel->progs.fexit_mptcp_listen ||
	    prog == skel->progs.kprobe_mptcp_bind || prog == skel->progs.kretprobe_mptcp_bind ||
	    prog == skel->progs.kprobe_mptcp_listen || prog == skel->progs.kretprobe_mptcp_listen)
		return kf->mptcp;
	return true;
}

static int select_programs(struct tracer *t, int mode, bool follow_forks, char *err, size_t errlen)
{
	struct kernel_funcs kf = {.accept_arity = 0};
	struct bpf_program *prog;
	int ret = read_kernel_funcs(&kf, err, errlen);

	if (!ret && mode == V6T_MODE_FENTRY)
		ret = check_accept_arity(&kf, err, errlen);
	if (ret)
		return ret;
	t->skel->rodata->uring_complete_args = kf.uring_args > 0 ? (__u32)kf.uring_args : 0;
	t->skel->rodata->uring_connect_only = mode != V6T_MODE_TRACEPOINT;
	t->uring = program_fits(t->skel, t->skel->progs.raw_tp_io_uring_complete, &kf);
	bpf_object__for_each_program(prog, t->skel->obj)
	{
		int pmode = program_mode(prog);
		bool load = pmode ? pmode == mode : follow_forks;

		if (prog == t->skel->progs.raw_tp_io_uring_complete)
			load = true; /* every mode; what it reports depends on the mode */

		bpf_program__set_autoload(prog, load && program_fits(t->skel, prog, &kf));
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
static const char *attach_error(const struct bpf_program *prog, int e)
{
	if (e == 524 && program_mode(prog) == V6T_MODE_FENTRY)
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
static struct bpf_link *attach_uring_connect(struct tracer *t, struct bpf_program *prog)
{
	struct bpf_link *link = bpf_program__attach(prog);

	if (!link)
		link = bpf_program__attach_kprobe(prog, prog == t->skel->progs.kretprobe_io_connect,
						  "io_issue_sqe");
	return link;
}

static int attach_programs(struct tracer *t, char *err, size_t errlen)
{
	struct bpf_program *prog;
	size_t n = 0;

	bpf_object__for_each_program(prog, t->skel->obj) n++;
	t->links = calloc(n, sizeof(*t->links));
	if (!t->links) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	bpf_object__for_each_program(prog, t->skel->obj)
	{
		struct bpf_link *link;

		if (!bpf_program__autoload(prog))
			continue;
		if (prog == t->skel->progs.kprobe_io_connect ||
		    prog == t->skel->progs.kretprobe_io_connect) {
			link = attach_uring_connect(t, prog);
			if (!link)
				continue;
		} else {
			link = bpf_program__attach(prog);
		}
		if (!link) {
			int e = errno;

			snprintf(err, errlen, "attach %s: %s", bpf_program__section_name(prog),
				 attach_error(prog, e));
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
static int try_mode(struct tracer *t, const struct loader_opts *opts, int mode, char *err,
		    size_t errlen)
{
	int ret;

	t->skel = v6trace_bpf__open();
	if (!t->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(-ret));
		return ret;
	}
	t->skel->rodata->filter = opts->filter;
	t->skel->rodata->filter.by_pid = opts->npids > 0;
	t->skel->rodata->filter.by_port = opts->nports > 0;
	t->skel->rodata->filter.by_cgroup = opts->cgroup_fd >= 0;
	t->skel->rodata->wakeup_bytes = bpf_map__max_entries(t->skel->maps.events) / 4;
	if (opts->ringbuf_kb) {
		t->skel->rodata->wakeup_bytes = (__u64)opts->ringbuf_kb * 1024 / 4;
		ret = bpf_map__set_max_entries(t->skel->maps.events, opts->ringbuf_kb * 1024);
		if (ret) {
			snprintf(err, errlen, "ring buffer size: %s", strerror(-ret));
			goto fail;
		}
	}
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
	ret = select_programs(t, mode, opts->filter.children && opts->npids, err, errlen);
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

int tracer_start(struct tracer *t, const struct loader_opts *opts, char *err, size_t errlen)
{
	int mode, ret = -ENOTSUP;

	if (opts->mode) {
		ret = try_mode(t, opts, opts->mode, err, errlen);
		return ret;
	}
	for (mode = V6T_MODE_FENTRY; mode <= V6T_MODE_TRACEPOINT; mode++) {
		ret = try_mode(t, opts, mode, t->refused[mode], sizeof(t->refused[mode]));
		if (!ret)
			return 0;
	}
	snprintf(err, errlen, "no attach mode works: fentry: %s; kprobe: %s; tracepoint: %s",
		 t->refused[V6T_MODE_FENTRY], t->refused[V6T_MODE_KPROBE],
		 t->refused[V6T_MODE_TRACEPOINT]);
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
