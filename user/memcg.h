/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The memory a cgroup limit leaves this process: checked before loading, so
 * that a limit too small for it is one line on stderr, not a SIGKILL from the
 * OOM killer with nothing said (the loader's peak comes from the kernel's BTF,
 * parsed twice: 18 MiB on Linux 6.18, whose BTF is 5.3 MiB).
 */
#ifndef V6TRACE_MEMCG_H
#define V6TRACE_MEMCG_H

#include <stddef.h>
#include <stdint.h>

/*
 * The least room (limit - usage) of this process's memory cgroup and its
 * ancestors, cgroup v1's memory controller and cgroup v2 alike; where, the
 * cgroup that has it. -1: no limit, or none could be read.
 */
int64_t memcg_room(char *where, size_t len);

/* What loading needs, about: three times the kernel's BTF, and 2 MiB. */
int64_t memcg_needed(int64_t btf_size);

#endif
