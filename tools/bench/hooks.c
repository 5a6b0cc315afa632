// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attaches the programs of tools/bench/hooks.bpf.c named on the command line,
 * prints "ready" and waits for SIGINT or SIGTERM: `make bench` prices each
 * hook tracepoint mode could use.
 *   hooks exit_tp|enter_tp|exit_raw|exit_btf|post_bind4|post_bind6|bind4|bind6|set_state|
 *         fexit_bind|kprobe_bind|kretprobe_bind|fexit_deliver ...
 * The cgroup programs are attached to the root of the cgroup v2 hierarchy,
 * wherever it is mounted (/sys/fs/cgroup/unified on a hybrid host).
 * fexit_deliver's records are read as v6trace reads its own (woken by the
 * program, or every V6T_DRAIN_MS) and dropped; at exit, how many could not be
 * reserved is said on stderr (the floor is a floor only if none).
 */
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "v6trace.h" /* before the skeleton: its read-only data is a struct v6t_config */
#include "hooks.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int drop_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;
}

static int named(int argc, char **argv, const char *name)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], name))
			return 1;
	}
	return 0;
}

/* The root of the cgroup v2 hierarchy, opened; -1 if none is mounted. */
static int cgroup2_root(void)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	int fd = -1;

	while (f && (m = getmntent(f))) {
		if (!strcmp(m->mnt_type, "cgroup2")) {
			fd = open(m->mnt_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			break;
		}
	}
	if (f)
		endmntent(f);
	return fd;
}

int main(int argc, char **argv)
{
	struct hooks_bpf *skel = hooks_bpf__open();
	struct ring_buffer *records = NULL;
	struct bpf_program *prog;

	if (!skel) {
		perror("hooks: open");
		return 1;
	}
	skel->rodata->cfg.nr_bind = SYS_bind;
	skel->rodata->cfg.wakeup_bytes = bpf_map__max_entries(skel->maps.records) / 4;
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, named(argc, argv, bpf_program__name(prog)));
	if (hooks_bpf__load(skel)) {
		perror("hooks: load");
		return 1;
	}
	bpf_object__for_each_program(prog, skel->obj)
	{
		struct bpf_link *link = NULL;

		if (!bpf_program__autoload(prog))
			continue;
		if (!strncmp(bpf_program__section_name(prog), "cgroup/", 7)) {
			int cg = cgroup2_root();

			if (cg >= 0)
				link = bpf_program__attach_cgroup(prog, cg);
			else
				errno = ENOENT;
		} else {
			link = bpf_program__attach(prog);
		}
		if (!link) {
			fprintf(stderr, "hooks: attach %s: %s\n", bpf_program__name(prog),
				strerror(errno));
			return 1;
		}
	}
	if (named(argc, argv, "fexit_deliver")) {
		records =
			ring_buffer__new(bpf_map__fd(skel->maps.records), drop_record, NULL, NULL);
		if (!records) {
			perror("hooks: ring buffer");
			return 1;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		if (records)
			ring_buffer__poll(records, V6T_DRAIN_MS);
		else
			pause();
	}
	if (skel->bss->lost)
		fprintf(stderr, "hooks: %llu records could not be reserved\n",
			(unsigned long long)skel->bss->lost);
	ring_buffer__free(records);
	hooks_bpf__destroy(skel);
	return 0;
}
