/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one load-time configuration of the BPF side (struct v6t_config in
 * v6trace.h), set by the loader before load. Read-only data, so every
 * cfg.* read is a constant to the verifier. (Named cfg: vmlinux.h has a type named config.)
 */
#ifndef V6TRACE_CONFIG_BPF_H
#define V6TRACE_CONFIG_BPF_H

#include "v6trace.h"

const volatile struct v6t_config cfg = {
	.nr_bind = -1,
	.nr_connect = -1,
	.nr_listen = -1,
	.nr_accept = -1,
	.nr_accept4 = -1,
};

#endif
