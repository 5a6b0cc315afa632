// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The BPF programs a process holds, with the time the kernel spent in each,
 * for `make bench` (on the host and in the qemu guests, which have no bpftool):
 *   progstats PID
 * prints one line per program of PID (held by a program or a link fd),
 *   name=NAME id=ID run_time_ns=T run_cnt=N
 * T and N count only while kernel.bpf_stats_enabled is 1. The ids come from
 * /proc/PID/fdinfo; the names from the program's BTF, as the kernel keeps
 * only their first 15 characters. Static, so the qemu guests can run it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

#define MAX_PROGS 256

/* The prog_id line of an fdinfo file; 0 if it is not a BPF program. */
static unsigned int prog_id_of(const char *path)
{
	unsigned int id = 0;
	char line[256];
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "prog_id: %u", &id) == 1)
			break;
	}
	fclose(f);
	return id;
}

/* The program's whole name: its entry function in its BTF, else the kernel's 15 characters. */
static void print_name(int fd, const struct bpf_prog_info *info)
{
	struct bpf_func_info func = {0};
	struct bpf_prog_info again = {0};
	__u32 len = sizeof(again);
	const struct btf_type *t;
	struct btf *btf;

	again.nr_func_info = 1;
	again.func_info_rec_size = sizeof(func);
	again.func_info = (unsigned long)&func;
	if (info->btf_id && info->nr_func_info && !bpf_obj_get_info_by_fd(fd, &again, &len)) {
		btf = btf__load_from_kernel_by_id(info->btf_id);
		t = btf ? btf__type_by_id(btf, func.type_id) : NULL;
		if (t) {
			printf("name=%s", btf__name_by_offset(btf, t->name_off));
			btf__free(btf);
			return;
		}
		btf__free(btf);
	}
	printf("name=%s", info->name);
}

static int print_prog(unsigned int id)
{
	struct bpf_prog_info info = {0};
	__u32 len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return -1;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		close(fd);
		return -1;
	}
	print_name(fd, &info);
	printf(" id=%u run_time_ns=%llu run_cnt=%llu\n", id, (unsigned long long)info.run_time_ns,
	       (unsigned long long)info.run_cnt);
	close(fd);
	return 0;
}

static int seen_before(unsigned int *ids, size_t *n, unsigned int id)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (ids[i] == id)
			return 1;
	}
	if (*n < MAX_PROGS)
		ids[(*n)++] = id;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int ids[MAX_PROGS];
	char dir[64], path[320];
	struct dirent *d;
	size_t n = 0;
	DIR *fds;

	if (argc != 2 || atoi(argv[1]) <= 0) {
		fprintf(stderr, "usage: progstats PID\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "/proc/%d/fdinfo", atoi(argv[1]));
	fds = opendir(dir);
	if (!fds) {
		perror(dir);
		return 1;
	}
	while ((d = readdir(fds))) {
		unsigned int id;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		id = prog_id_of(path);
		if (id && !seen_before(ids, &n, id) && print_prog(id))
			fprintf(stderr, "progstats: program %u: cannot read its info\n", id);
	}
	closedir(fds);
	return 0;
}
