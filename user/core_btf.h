/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The kernel types libbpf relocates the programs against (see core_btf.c). */
#ifndef V6TRACE_CORE_BTF_H
#define V6TRACE_CORE_BTF_H

#include <search.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct btf;
struct btf_type;

/* The names of the BPF object's own types, without CO-RE flavours. */
struct core_names {
	char **name;
	size_t count;
	/* bit min(length, 63) of lengths[first byte]: what a name must pass before the table */
	__u64 lengths[256];
	struct hsearch_data table;
	bool table_made;
};

int core_names_init(struct core_names *names, const struct btf *local);
/* Whether a kernel type could be a CO-RE relocation's target: by kind and name. */
bool core_names_has(struct core_names *names, const struct btf_type *t, const char *name);
void core_names_free(struct core_names *names);

/* A BTF of kernel types copied with what they hold by value. */
struct core_btf {
	const struct btf *vmlinux;
	struct btf *btf;
	__u32 *map; /* kernel type id -> id in btf */
};

int core_btf_new(struct core_btf *cb, const struct btf *vmlinux);
/* Copies the kernel type id and what it holds by value; 0 or -errno. */
int core_btf_add(struct core_btf *cb, __u32 id);
/* Writes the raw BTF to fd; 0 or -errno. */
int core_btf_write(const struct core_btf *cb, int fd);
void core_btf_free(struct core_btf *cb);

#endif
