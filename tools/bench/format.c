// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Formatter throughput for `make bench`: formats N bind and accept records
 * with the JSON and the text formatter (no I/O) on the calling thread and
 * prints records per second of CPU time, one line per formatter:
 *   formatter=json records=N records_per_s=X
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "format.h"

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sample_events(struct v6t_event ev[2])
{
	memset(ev, 0, 2 * sizeof(*ev));
	ev[0].type = V6T_EVENT_BIND;
	ev[0].family = AF_INET6;
	ev[0].protocol = 6;
	ev[0].lport = 8080;
	ev[0].pid = ev[0].tid = 123456;
	ev[0].netns = 4026531840u;
	ev[0].cgroup_id = 9876;
	strcpy(ev[0].comm, "nginx: worker");
	ev[1] = ev[0];
	ev[1].type = V6T_EVENT_ACCEPT;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", ev[1].laddr);
	inet_pton(AF_INET6, "::ffff:192.0.2.77", ev[1].raddr);
	ev[1].rport = 51234;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000, i;
	struct format_opts opts = { .mono_to_real_ns = 1795442561000000000LL };
	struct strbuf sb = { 0 };
	struct v6t_event ev[2];
	int json;

	sample_events(ev);
	for (json = 1; json >= 0; json--) {
		double t0 = cpu_s(), t;
		size_t bytes = 0;

		for (i = 0; i < n; i++) {
			ev[i & 1].ts_ns = (unsigned long long)i * 1000;
			if (json)
				format_event_json(&sb, &ev[i & 1], NULL, &opts);
			else
				format_event_text(&sb, &ev[i & 1], NULL, &opts);
			bytes += sb.len;
			sb_reset(&sb);
		}
		t = cpu_s() - t0;
		printf("formatter=%s records=%ld records_per_s=%.0f bytes_per_record=%.0f\n",
		       json ? "json" : "text", n, n / t, (double)bytes / n);
	}
	sb_free(&sb);
	return 0;
}
