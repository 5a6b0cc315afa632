// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests (no root): classification, decoding and both formatters. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>
#include <bpf/btf.h>
#include <sys/mman.h>
#include <unistd.h>
#include "array.h"
#include "cgroup.h"
#include "classify.h"
#include "containers.h"
#include "core_btf.h"
#include "format.h"
#include "helper_proto.h"
#include "metrics.h"
#include "stack.h"
#include "summary.h"

/* 2026-11-23T14:02:41.000000123Z, reached from a monotonic stamp of 5 s */
#define REALTIME_NS 1795442561000000123LL
static const struct format_opts fmt = {.mono_to_real_ns = REALTIME_NS - 5000000000LL};

static struct v6t_event make_bind(int family, const char *addr, int v6only, __u16 port, int ret)
{
	struct v6t_event e = {
		.ts_ns = 5000000000ULL,
		.cgroup_id = 4242,
		.pid = 100,
		.tid = 101,
		.uid = 1000,
		.netns = 4026531840u,
		.ret = ret,
		.type = V6T_EVENT_BIND,
		.family = (__u16)family,
		.protocol = IPPROTO_TCP,
		.lport = port,
		.v6only = (__u8)v6only,
	};

	strcpy(e.comm, "nginx");
	assert_int_equal(inet_pton(family, addr, e.laddr), 1);
	return e;
}

static struct v6t_event make_accept(const char *local, const char *peer)
{
	struct v6t_event e = make_bind(AF_INET6, local, 0, 8080, 0);

	e.type = V6T_EVENT_ACCEPT;
	e.rport = 51234;
	assert_int_equal(inet_pton(AF_INET6, peer, e.raddr), 1);
	return e;
}

static void test_record_layout(void **state)
{
	(void)state;
	/* the BPF side is compiled against the same header; its size is fixed */
	assert_int_equal(sizeof(struct v6t_event), 112);
	assert_int_equal(offsetof(struct v6t_event, ifindex), 100);
	assert_int_equal(offsetof(struct v6t_event, flags), 104);
	assert_int_equal(offsetof(struct v6t_event, laddr) % 8, 0);
}

static void test_classify_stack(void **state)
{
	struct v6t_event e;

	(void)state;
	e = make_bind(AF_INET, "0.0.0.0", 0, 80, 0);
	assert_int_equal(v6t_classify_stack(&e), V6T_STACK_V4);
	e = make_bind(AF_INET6, "::", 0, 80, 0);
	assert_int_equal(v6t_classify_stack(&e), V6T_STACK_DUAL);
	e = make_bind(AF_INET6, "::", 1, 80, 0);
	assert_int_equal(v6t_classify_stack(&e), V6T_STACK_V6);
	e = make_bind(AF_INET6, "::ffff:127.0.0.1", 0, 80, 0);
	assert_int_equal(v6t_classify_stack(&e), V6T_STACK_V4);
	e = make_bind(AF_INET6, "::1", 0, 80, 0);
	assert_int_equal(v6t_classify_stack(&e), V6T_STACK_V6);
	e = make_bind(AF_INET6, "2001:db8::1", 0, 80, 0);
	assert_int_equal(v6t_classify_stack(&e), V6T_STACK_V6);
	/* a failed dual-stack bind is still classified by what was asked */
	e = make_bind(AF_INET6, "::", 0, 80, -EADDRINUSE);
	assert_int_equal(v6t_classify_stack(&e), V6T_STACK_DUAL);
	e = make_accept("::ffff:127.0.0.1", "::ffff:10.1.2.3");
	assert_int_equal(v6t_classify_stack(&e), V6T_STACK_V4);
	e = make_accept("::1", "::1");
	assert_int_equal(v6t_classify_stack(&e), V6T_STACK_V6);
}

/*
 * The rule of bpf/stack.h, which the BPF programs compile too: whether a
 * record has a peer is the caller's (a kernel record's type; a snapshot
 * socket's state), the rest is the rule's.
 */
static void test_stack_rule(void **state)
{
	struct v6t_event e;

	(void)state;
	assert_int_equal(V6T_AF_INET6, AF_INET6);
	e = make_bind(AF_INET6, "::", 0, 80, 0);
	assert_int_equal(v6t_stack_rule(&e, 0), V6T_STACK_DUAL);
	e.v6only = 1;
	assert_int_equal(v6t_stack_rule(&e, 0), V6T_STACK_V6);
	e = make_bind(AF_INET6, "::ffff:0.0.0.0", 1, 80, 0); /* binds INADDR_ANY, v6only or not */
	assert_int_equal(v6t_stack_rule(&e, 0), V6T_STACK_V4);
	e = make_bind(AF_INET6, "::ffff:0:0:1", 0, 80, 0); /* not mapped: one word off */
	assert_int_equal(v6t_stack_rule(&e, 0), V6T_STACK_V6);
	e = make_bind(AF_INET6, "0:0:0:0:1::", 0, 80, 0);
	assert_int_equal(v6t_stack_rule(&e, 0), V6T_STACK_V6);
	e = make_bind(AF_INET, "127.0.0.1", 0, 80, 0);
	assert_int_equal(v6t_stack_rule(&e, 1), V6T_STACK_V4);
	/* with a peer, the peer decides, whatever the local address */
	e = make_accept("::", "::ffff:192.0.2.1");
	assert_int_equal(v6t_stack_rule(&e, 1), V6T_STACK_V4);
	assert_int_equal(v6t_stack_rule(&e, 0), V6T_STACK_DUAL);
	e = make_accept("::ffff:127.0.0.1", "2001:db8::2");
	assert_int_equal(v6t_stack_rule(&e, 1), V6T_STACK_V6);
	/* a snapshot socket has a peer when established, as user space says it */
	e = make_accept("::", "::ffff:10.0.0.1");
	e.type = V6T_EVENT_SOCKET;
	e.state = V6T_TCP_ESTABLISHED;
	assert_int_equal(v6t_classify_stack(&e), V6T_STACK_V4);
	e.state = V6T_TCP_LISTEN;
	assert_int_equal(v6t_classify_stack(&e), V6T_STACK_DUAL);
}

static void test_wildcard_and_mapped(void **state)
{
	__u8 a[16] = {0};

	(void)state;
	assert_true(v6t_addr_is_wildcard(AF_INET, a));
	assert_true(v6t_addr_is_wildcard(AF_INET6, a));
	inet_pton(AF_INET6, "::ffff:0.0.0.0", a);
	assert_true(v6t_addr_is_mapped(a));
	assert_true(v6t_addr_is_wildcard(AF_INET6, a));
	inet_pton(AF_INET6, "::ffff:1.2.3.4", a);
	assert_false(v6t_addr_is_wildcard(AF_INET6, a));
	inet_pton(AF_INET6, "::1", a);
	assert_false(v6t_addr_is_mapped(a));
	assert_false(v6t_addr_is_wildcard(AF_INET6, a));
	/* ::ffff:0:0/96 only: the deprecated ::a.b.c.d (compatible) is not mapped */
	inet_pton(AF_INET6, "::1.2.3.4", a);
	assert_false(v6t_addr_is_mapped(a));
}

static void test_names(void **state)
{
	char buf[16];

	(void)state;
	assert_string_equal(v6t_errno_name(EADDRINUSE, buf, sizeof(buf)), "EADDRINUSE");
	assert_string_equal(v6t_errno_name(EACCES, buf, sizeof(buf)), "EACCES");
	assert_string_equal(v6t_errno_name(4000, buf, sizeof(buf)), "E4000");
	assert_string_equal(v6t_netstat_proto(AF_INET6, IPPROTO_TCP), "tcp6");
	assert_string_equal(v6t_netstat_proto(AF_INET, IPPROTO_UDP), "udp");
	/* the record has no socket type: an unknown protocol is not called raw */
	assert_string_equal(v6t_netstat_proto(AF_INET, IPPROTO_ICMP), "other");
	assert_string_equal(v6t_netstat_proto(AF_INET6, IPPROTO_SCTP), "other6");
	assert_string_equal(v6t_netstat_proto(AF_INET6, IPPROTO_MPTCP), "mptcp");
	assert_string_equal(v6t_netstat_proto(AF_INET, IPPROTO_MPTCP), "mptcp");
	assert_string_equal(v6t_proto_name(IPPROTO_MPTCP), "mptcp");
	assert_string_equal(v6t_proto_name(IPPROTO_SCTP), "other");
	assert_string_equal(v6t_family_name(AF_INET6), "inet6");
}

static void expect_json_escape(const char *in, size_t len, const char *want, bool valid)
{
	struct strbuf sb = {0};

	assert_int_equal(json_escape(&sb, in, len), valid);
	assert_string_equal(sb.data ? sb.data : "", want);
	sb_free(&sb);
}

static void test_json_escape(void **state)
{
	(void)state;
	expect_json_escape("a\"b\\c\nd", 7, "a\\\"b\\\\c\\nd", true);
	expect_json_escape("\x01\x1f\x7f\t\r", 5, "\\u0001\\u001f\\u007f\\t\\r", true);
	expect_json_escape("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15,
			   "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", true);
	expect_json_escape("\xff", 1, "\\ufffd", false);
	expect_json_escape("\xc0\x80", 2, "\\ufffd\\ufffd", false);	       /* overlong NUL */
	expect_json_escape("\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd", false); /* surrogate */
	expect_json_escape("x\xe2\x82", 3, "x\\ufffd\\ufffd", false);	       /* truncated */
	expect_json_escape("\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd", false);
}

static void test_text_escape(void **state)
{
	struct strbuf sb = {0};

	(void)state;
	text_escape(&sb, "q\"b\\n\nx\x1b[31m\xc3\xa9", 14);
	assert_string_equal(sb.data, "q\"b\\\\n\\x0ax\\x1b[31m\\xc3\\xa9");
	sb_free(&sb);
}

static void test_comm_not_utf8(void **state)
{
	struct strbuf sb = {0};
	char comm[V6T_COMM_LEN] = "ab\xff";

	(void)state;
	json_comm(&sb, "comm", comm);
	assert_string_equal(sb.data, ",\"comm\":\"ab\\ufffd\",\"comm_hex\":\"6162ff\"");
	sb_free(&sb);
	/* 16 bytes and no NUL: the formatter must not read past the field */
	memset(comm, 'A', sizeof(comm));
	json_comm(&sb, "comm", comm);
	assert_string_equal(sb.data, ",\"comm\":\"AAAAAAAAAAAAAAAA\"");
	sb_free(&sb);
}

static void test_rfc3339(void **state)
{
	struct strbuf sb = {0};

	(void)state;
	rfc3339_utc(&sb, REALTIME_NS);
	assert_string_equal(sb.data, "2026-11-23T14:02:41.000000123Z");
	sb_reset(&sb);
	rfc3339_utc(&sb, 0);
	assert_string_equal(sb.data, "1970-01-01T00:00:00.000000000Z");
	sb_free(&sb);
}

static void test_json_bind(void **state)
{
	struct strbuf sb = {0};
	struct v6t_event e = make_bind(AF_INET6, "::", 0, 8080, 0);

	(void)state;
	format_event_json(&sb, &e, NULL, &fmt);
	assert_string_equal(
		sb.data,
		"{\"v\":1,\"ts\":\"2026-11-23T14:02:41.000000123Z\",\"event\":\"bind\",\"pid\":100,"
		"\"tid\":101,\"uid\":1000,\"comm\":\"nginx\",\"netns\":4026531840,\"cgroup_id\":4242,"
		"\"cgroup\":null,\"container\":null,\"container_name\":null,\"container_image\":null,"
		"\"container_runtime\":null,\"pod_name\":null,\"pod_namespace\":null,\"pod_uid\":null,"
		"\"pod_container\":null,\"family\":\"inet6\",\"proto\":\"tcp\",\"addr\":\"::\",\"port\":8080,"
		"\"v6only\":false,\"wildcard\":true,\"stack\":\"dual\",\"addr_source\":\"socket\",\"ret\":0}\n");
	sb_reset(&sb);
	e = make_bind(AF_INET, "0.0.0.0", 0, 8080, -EADDRINUSE);
	format_event_json(&sb, &e, &(struct event_info){.holder_lookup = HOLDER_NONE}, &fmt);
	assert_non_null(strstr(
		sb.data,
		"\"family\":\"inet\",\"proto\":\"tcp\",\"addr\":\"0.0.0.0\","
		"\"port\":8080,\"wildcard\":true,\"stack\":\"v4\",\"addr_source\":\"kernel\","
		"\"ret\":-98,\"error\":\"EADDRINUSE\",\"holder_lookup\":"
		"\"none\",\"held_by\":null}\n"));
	/* no answer is not "none": each way a lookup ends is said */
	sb_reset(&sb);
	format_event_json(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, "\"holder_lookup\":\"unfinished\",\"held_by\":null}\n"));
	sb_reset(&sb);
	format_event_json(&sb, &e, &(struct event_info){.holder_lookup = HOLDER_SKIPPED}, &fmt);
	assert_non_null(strstr(sb.data, "\"holder_lookup\":\"skipped\",\"held_by\":null}\n"));
	/* a namespace that could not be looked in, a helper that died: each its own answer */
	sb_reset(&sb);
	format_event_json(&sb, &e, &(struct event_info){.holder_lookup = HOLDER_UNKNOWN}, &fmt);
	assert_non_null(strstr(sb.data, "\"holder_lookup\":\"unknown\",\"held_by\":null}\n"));
	sb_reset(&sb);
	format_event_json(&sb, &e, &(struct event_info){.holder_lookup = HOLDER_UNAVAILABLE}, &fmt);
	assert_non_null(strstr(sb.data, "\"holder_lookup\":\"unavailable\",\"held_by\":null}\n"));
	assert_null(strstr(sb.data, "v6only")); /* inet6 only */
	sb_reset(&sb);
	e.ret = INT32_MIN; /* not an errno; found by the fuzzer: it used to be negated */
	format_event_json(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, "\"ret\":-2147483648,\"error\":\"E2147483648\"}\n"));
	sb_free(&sb);
}

static void test_json_accept(void **state)
{
	struct strbuf sb = {0};
	struct v6t_event e = make_accept("::ffff:127.0.0.1", "::ffff:192.0.2.7");

	(void)state;
	format_event_json(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, "\"event\":\"accept\""));
	assert_non_null(strstr(sb.data,
			       "\"local\":\"::ffff:127.0.0.1\",\"local_port\":8080,"
			       "\"peer\":\"::ffff:192.0.2.7\",\"peer_port\":51234,"
			       "\"mapped\":true,\"peer_v4\":\"192.0.2.7\",\"stack\":\"v4\"}\n"));
	sb_reset(&sb);
	e = make_accept("2001:db8::1", "2001:db8::2");
	format_event_json(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, "\"peer\":\"2001:db8::2\",\"peer_port\":51234,"
					"\"mapped\":false,\"stack\":\"v6\"}\n"));
	sb_free(&sb);
}

static void test_json_hostile_comm(void **state)
{
	struct strbuf sb = {0};
	struct v6t_event e = make_bind(AF_INET, "0.0.0.0", 0, 53, 0);

	(void)state;
	strcpy(e.comm, "\",\"pid\":1}\n{");
	format_event_json(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, "\"comm\":\"\\\",\\\"pid\\\":1}\\n{\""));
	/* one record, one line */
	assert_ptr_equal(strchr(sb.data, '\n'), sb.data + sb.len - 1);
	sb_free(&sb);
}

static void test_text_rows(void **state)
{
	struct strbuf sb = {0};
	struct format_opts opts = fmt;
	struct v6t_event e = make_bind(AF_INET6, "::", 1, 443, 0);

	(void)state;
	format_text_header(&sb, &opts);
	format_event_text(&sb, &e, NULL, &opts);
	e = make_bind(AF_INET, "0.0.0.0", 0, 80, -EADDRINUSE);
	format_event_text(&sb, &e, &(struct event_info){.holder_lookup = HOLDER_NONE}, &opts);
	format_event_text(&sb, &e, &(struct event_info){.holder_lookup = HOLDER_SKIPPED}, &opts);
	format_event_text(&sb, &e, &(struct event_info){.holder_lookup = HOLDER_UNKNOWN}, &opts);
	format_event_text(&sb, &e, &(struct event_info){.holder_lookup = HOLDER_UNAVAILABLE},
			  &opts);
	e = make_accept("::ffff:127.0.0.1", "::ffff:127.0.0.1");
	strcpy(e.comm, "a\nb");
	format_event_text(&sb, &e, NULL, &opts);
	assert_string_equal(
		sb.data,
		"PID     COMM             EVENT   PROTO LOCAL                          PEER      "
		"             STACK RESULT\n"
		"100     nginx            bind    tcp6  [::]:443                       -        "
		"              v6    ok\n"
		"100     nginx            bind    tcp   0.0.0.0:80                     -         "
		"             v4    EADDRINUSE held by nobody\n"
		"100     nginx            bind    tcp   0.0.0.0:80                     -         "
		"             v4    EADDRINUSE held by ? (lookup skipped)\n"
		"100     nginx            bind    tcp   0.0.0.0:80                     -         "
		"             v4    EADDRINUSE held by ? (lookup unknown)\n"
		"100     nginx            bind    tcp   0.0.0.0:80                     -         "
		"             v4    EADDRINUSE held by ? (lookup unavailable)\n"
		"100     a\\x0ab           accept  tcp6  [::ffff:127.0.0.1]:8080        "
		"127.0.0.1:51234        v4    mapped\n");
	sb_free(&sb);
}

static void test_summary(void **state)
{
	struct summary s = {0};
	struct strbuf sb = {0};
	struct v6t_event e;

	(void)state;
	e = make_bind(AF_INET6, "::", 0, 80, 0);
	summary_add(&s, &e);
	e = make_bind(AF_INET, "0.0.0.0", 0, 80, -EADDRINUSE);
	summary_add(&s, &e);
	e = make_accept("::ffff:127.0.0.1", "::ffff:127.0.0.1");
	summary_add(&s, &e);
	e = make_bind(AF_INET, "0.0.0.0", 0, 81, 0);
	e.pid = 7;
	summary_add(&s, &e);
	s.lost = 3;
	s.filtered = 9;
	summary_format_json(&s, &sb, REALTIME_NS);
	assert_string_equal(
		sb.data,
		"{\"v\":1,\"ts\":\"2026-11-23T14:02:41.000000123Z\",\"event\":\"summary\","
		"\"events\":4,\"lost\":3,\"filtered\":9,\"unfollowed\":0,\"unwritten\":0,\"unfinished\":0,"
		"\"lookups\":{\"found\":0,\"none\":0,\"unfinished\":0,\"skipped\":0,\"unknown\":0,"
		"\"unavailable\":0},\"processes\":["
		"{\"pid\":7,\"comm\":\"nginx\",\"binds_v4\":1,\"binds_v6\":0,\"binds_dual\":0,"
		"\"binds_failed\":0,\"listens\":0,\"accepts\":0,\"accepts_mapped\":0,\"connects\":0,"
		"\"connects_mapped\":0,\"events\":1},"
		"{\"pid\":100,\"comm\":\"nginx\",\"binds_v4\":0,\"binds_v6\":0,\"binds_dual\":1,"
		"\"binds_failed\":1,\"listens\":0,\"accepts\":1,\"accepts_mapped\":1,\"connects\":0,"
		"\"connects_mapped\":0,\"events\":3}],\"processes_folded\":0,\"folded\":{\"events\":0,"
		"\"binds_v4\":0,\"binds_v6\":0,\"binds_dual\":0,\"binds_failed\":0,\"listens\":0,"
		"\"accepts\":0,\"accepts_mapped\":0,\"connects\":0,\"connects_mapped\":0}}\n");
	sb_free(&sb);
	summary_free(&s);
}

/* How EADDRINUSE holder lookups ended: each answer under its own name, in both outputs. */
static void test_summary_lookups(void **state)
{
	struct summary s = {0};
	struct strbuf sb = {0};
	int k;

	(void)state;
	summary_format_text(&s, &sb);
	assert_null(strstr(sb.data, "EADDRINUSE holders")); /* none asked: no line */
	for (k = HOLDER_FOUND; k < HOLDER_LOOKUP_ANSWERS; k++)
		s.lookups[k] = (uint64_t)(10 + k);
	sb_reset(&sb);
	summary_format_text(&s, &sb);
	assert_non_null(strstr(sb.data, "v6trace: EADDRINUSE holders: 12 found, 13 none, "
					"14 unfinished, 15 skipped, 16 unknown, 17 unavailable\n"));
	sb_reset(&sb);
	summary_format_json(&s, &sb, REALTIME_NS);
	assert_non_null(strstr(sb.data, ",\"lookups\":{\"found\":12,\"none\":13,\"unfinished\":14,"
					"\"skipped\":15,\"unknown\":16,\"unavailable\":17},"
					"\"processes\":["));
	sb_free(&sb);
	summary_free(&s);
}

/* A process's events under several names (a renamed thread, an exec): the first is comm. */
static void test_summary_names(void **state)
{
	static const char *const names[] = {"java", "acceptor", "java", "a\nb", "t4", "t5",
					    "t6",   "t7",	"t8",	"t9",	"t10"};
	struct summary s = {0};
	struct strbuf sb = {0};
	struct v6t_event e = make_bind(AF_INET6, "::", 0, 80, 0);
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		strcpy(e.comm, names[i]);
		summary_add(&s, &e);
	}
	summary_format_json(&s, &sb, REALTIME_NS);
	assert_non_null(strstr(sb.data, "{\"pid\":100,\"comm\":\"java\",\"comms\":[\"java\","
					"\"acceptor\"],\"binds_v4\""));
	sb_reset(&sb);
	summary_format_text(&s, &sb);
	assert_non_null(strstr(sb.data, "\n100     java                  0      0      3      0 "
					"      0       0        0      0 also=acceptor\n"));
	for (; i < sizeof(names) / sizeof(names[0]); i++) {
		strcpy(e.comm, names[i]);
		summary_add(&s, &e);
	}
	sb_reset(&sb);
	summary_format_json(&s, &sb, REALTIME_NS);
	assert_non_null(strstr(sb.data, "\"comm\":\"java\",\"comms\":[\"java\",\"acceptor\","
					"\"a\\nb\",\"t4\",\"t5\",\"t6\",\"t7\",\"t8\"],"
					"\"comms_truncated\":true,\"binds_v4\""));
	sb_reset(&sb);
	summary_format_text(&s, &sb);
	assert_non_null(strstr(sb.data, " also=acceptor,a\\x0ab,t4,t5,t6,t7,t8,...\n"));
	sb_free(&sb);
	summary_free(&s);
}

/* "KEY":N of the first KEY at or after p, or -1 */
static long long json_number(const char *p, const char *key)
{
	char pat[64];
	const char *at;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	at = strstr(p, pat);
	return at ? strtoll(at + strlen(pat), NULL, 10) : -1;
}

/* The sum of KEY over every process row, and the folded remainder's KEY. */
static void summary_sums(const char *json, const char *key, long long *rows, long long *folded)
{
	const char *p = strstr(json, "\"processes\":["),
		   *end = strstr(json, "\"processes_folded\"");
	char pat[64];

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	*rows = 0;
	while ((p = strstr(p, pat)) && p < end) {
		*rows += strtoll(p + strlen(pat), NULL, 10);
		p += strlen(pat);
	}
	*folded = json_number(strstr(json, "\"folded\":{"), key);
}

/*
 * A run that sees thousands of pids keeps SUMMARY_MAX_PROCESSES rows: the
 * others are folded, their counts kept, so every total still adds up; the
 * busiest process keeps its row.
 */
static void test_summary_folds(void **state)
{
	static const char *const keys[] = {"events",	    "binds_v4",	    "binds_v6",
					   "binds_dual",    "binds_failed", "accepts",
					   "accepts_mapped"};
	struct summary s = {0};
	struct strbuf sb = {0};
	struct v6t_event e;
	long long rows, folded;
	unsigned int i;

	(void)state;
	e = make_accept("::ffff:127.0.0.1", "::ffff:127.0.0.1");
	e.pid = 1;
	for (i = 0; i < 50; i++)
		summary_add(&s, &e); /* the busy server */
	for (i = 0; i < 3000; i++) {
		e = make_bind(i % 2 ? AF_INET6 : AF_INET, i % 2 ? "::" : "0.0.0.0", 0, 80,
			      i % 7 ? 0 : -EADDRINUSE);
		e.pid = 1000 + i;
		summary_add(&s, &e);
	}
	assert_int_equal(s.nrows, SUMMARY_MAX_PROCESSES);
	assert_int_equal(s.processes_folded, 3001 - SUMMARY_MAX_PROCESSES);
	summary_format_json(&s, &sb, REALTIME_NS);
	assert_true(sb.len <= SUMMARY_MAX_BYTES);
	assert_int_equal(json_number(sb.data, "events"), 3050);
	assert_int_equal(json_number(sb.data, "processes_folded"), 3001 - SUMMARY_MAX_PROCESSES);
	assert_non_null(strstr(sb.data, "[{\"pid\":1,\"comm\":\"nginx\",\"binds_v4\":0,"));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		long long want = !strcmp(keys[i], "events")	    ? 3050
				 : !strcmp(keys[i], "binds_v4")	    ? 1285
				 : !strcmp(keys[i], "binds_v6")	    ? 0
				 : !strcmp(keys[i], "binds_dual")   ? 1286
				 : !strcmp(keys[i], "binds_failed") ? 429
								    : 50;

		summary_sums(sb.data, keys[i], &rows, &folded);
		assert_int_equal(rows + folded, want);
	}
	sb_reset(&sb);
	summary_format_text(&s, &sb);
	assert_non_null(strstr(sb.data, "\n1       nginx                 0      0      0      0 "
					"      0      50        0     50\n"));
	assert_non_null(strstr(sb.data, "\n-       (2745 more)"));
	sb_free(&sb);
	summary_free(&s);
}

/*
 * Rows whose names escape at their longest (8 names of 15 control bytes)
 * do not fit 256 to a record: the summary still stays within
 * SUMMARY_MAX_BYTES (one syslog datagram), folding what does not fit.
 */
static void test_summary_record_limit(void **state)
{
	struct summary s = {0};
	struct strbuf sb = {0};
	struct v6t_event e = make_bind(AF_INET6, "::", 0, 80, 0);
	long long rows, folded;
	unsigned int i, j;

	(void)state;
	for (i = 0; i < SUMMARY_MAX_PROCESSES; i++) {
		e.pid = 10 + i;
		for (j = 0; j < 9; j++) {
			memset(e.comm, 1 + (int)j, V6T_COMM_LEN - 1);
			e.comm[V6T_COMM_LEN - 1] = '\0';
			summary_add(&s, &e);
		}
	}
	assert_int_equal(s.processes_folded, 0);
	summary_format_json(&s, &sb, REALTIME_NS);
	assert_true(sb.len <= SUMMARY_MAX_BYTES);
	assert_true(sb.len > SUMMARY_MAX_BYTES - 2048); /* it was filled, not emptied */
	assert_true(json_number(sb.data, "processes_folded") > 0);
	assert_int_equal(sb.data[sb.len - 1], '\n');
	assert_non_null(strstr(sb.data, "\"comms_truncated\":true"));
	summary_sums(sb.data, "events", &rows, &folded);
	assert_int_equal(rows + folded, SUMMARY_MAX_PROCESSES * 9);
	sb_free(&sb);
	summary_free(&s);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void remove_tree(const char *root)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static uint64_t ino_at(int dirfd, const char *name)
{
	struct stat st;

	assert_int_equal(fstatat(dirfd, name, &st, 0), 0);
	return st.st_ino;
}

/*
 * The walk names a directory 45 levels deep whose path is longer than
 * PATH_MAX (a cgroup2 tree stands in: ordinary directories have inodes too),
 * says gone for one removed before its event was read, and after a walk for
 * nothing waits (CGROUP_REWALK_FACTOR times that walk, CGROUP_REWALK_MIN_NS
 * at least) before the next.
 */
static void test_cgroup_walk(void **state)
{
	char root[] = "/tmp/v6t-cgroup-XXXXXX", name[128];
	struct cgroup_names c;
	const struct cgroup_name *n;
	uint64_t deep, gone_id, late;
	size_t expect_len = 0;
	int64_t t0, wait;
	int fd, i, depth = 45;

	(void)state;
	assert_non_null(mkdtemp(root));
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	memset(name, 'd', 100);
	for (i = 0; i < depth; i++) { /* 45 x 101 bytes: past PATH_MAX */
		snprintf(name + 100, sizeof(name) - 100, "%02d", i);
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		int sub = openat(fd, name, O_RDONLY | O_DIRECTORY);

		assert_true(sub >= 0);
		close(fd);
		fd = sub;
		expect_len += 1 + strlen(name);
	}
	deep = ino_at(fd, ".");
	assert_int_equal(mkdirat(fd, "gone", 0755), 0);
	gone_id = ino_at(fd, "gone");
	assert_int_equal(unlinkat(fd, "gone", AT_REMOVEDIR), 0);

	cgroup_names_init_at(&c, root);
	t0 = mono_ns();
	n = cgroup_name_of(&c, deep, 0, 0, t0 - 1000, t0);
	assert_non_null(n->path);
	assert_true(expect_len > PATH_MAX);
	assert_int_equal(strlen(n->path), expect_len);
	assert_non_null(strstr(n->path, "/dddd"));
	assert_string_equal(n->path + expect_len - 3, "d44");
	assert_int_equal(c.walks, 1);
	/* the cache answers the next one */
	n = cgroup_name_of(&c, deep, 0, 0, t0, t0 + 1);
	assert_non_null(n->path);
	assert_int_equal(c.walks, 1);
	/* made, bound in and removed before its event was read: gone, and said so once */
	n = cgroup_name_of(&c, gone_id, 0, 0, t0 - 1000, t0 + 2);
	assert_null(n->path);
	assert_int_equal(c.gone, 1);
	assert_int_equal(c.walks, 1);
	/* a cgroup made after the walk: a walk finds it (cgroup2 never reuses an id; this file
	 * system may: "spare" takes the removed one's inode) */
	assert_int_equal(mkdirat(fd, "spare", 0755), 0);
	assert_int_equal(mkdirat(fd, "late", 0755), 0);
	late = ino_at(fd, "late");
	assert_true(late != gone_id);
	n = cgroup_name_of(&c, late, 0, 0, t0 + 10, t0 + 20);
	assert_non_null(n->path);
	assert_string_equal(n->path + strlen(n->path) - 5, "/late");
	assert_int_equal(c.walks, 2);
	/* an id no walk finds: that walk sets the wait; within it, nothing walks */
	n = cgroup_name_of(&c, 999999999, 0, 0, t0 + 30, t0 + 40);
	assert_null(n->path);
	assert_int_equal(c.walks, 3);
	wait = c.no_walk_before_ns - (t0 + 40);
	assert_true(wait >= CGROUP_REWALK_MIN_NS);
	assert_true(wait >= (CGROUP_REWALK_FACTOR + 1) * c.last_walk_took_ns);
	assert_int_equal(mkdirat(fd, "later", 0755), 0);
	n = cgroup_name_of(&c, ino_at(fd, "later"), 0, 0, t0 + 50, t0 + 60);
	assert_null(n->path);
	assert_int_equal(c.walks, 3);
	n = cgroup_name_of(&c, ino_at(fd, "later"), 0, 0, t0 + 50, t0 + 40 + wait);
	assert_non_null(n->path);
	assert_int_equal(c.walks, 4);
	/* past CGROUP_PATH_MAX (a record must fit a datagram): found, not named, no wait */
	for (; i < 82; i++) {
		int sub;

		snprintf(name + 100, sizeof(name) - 100, "%02d", i);
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		sub = openat(fd, name, O_RDONLY | O_DIRECTORY);
		assert_true(sub >= 0);
		close(fd);
		fd = sub;
	}
	n = cgroup_name_of(&c, ino_at(fd, "."), 0, 0, t0 + 50 + wait, t0 + 60 + wait);
	assert_null(n->path);
	assert_int_equal(c.walks, 5);
	assert_int_equal(c.gone, 2); /* "gone" and 999999999, not this one */
	assert_int_equal(c.no_walk_before_ns, t0 + 40 + wait);
	cgroup_names_free(&c);
	close(fd);
	remove_tree(root);
}

/* However many cgroups come and go, the cache holds CGROUP_CACHE_SIZE names. */
static void test_cgroup_cache_bounded(void **state)
{
	char root[] = "/tmp/v6t-cgroup-XXXXXX", name[32];
	struct cgroup_names c;
	const struct cgroup_name *n;
	uint64_t first = 0;
	int64_t t = mono_ns();
	int fd, i;

	(void)state;
	assert_non_null(mkdtemp(root));
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (i = 0; i < 3 * CGROUP_CACHE_SIZE; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(mkdirat(fd, name, 0755), 0);
	}
	cgroup_names_init_at(&c, root);
	for (i = 0; i < 3 * CGROUP_CACHE_SIZE; i++) {
		uint64_t id;

		snprintf(name, sizeof(name), "c%d", i);
		id = ino_at(fd, name);
		if (!i)
			first = id;
		n = cgroup_name_of(&c, id, 0, 0, t, t + i);
		assert_non_null(n->path);
		assert_string_equal(n->path + 1, name);
		assert_true(c.cached <= CGROUP_CACHE_SIZE);
	}
	assert_int_equal(c.cached, CGROUP_CACHE_SIZE);
	assert_int_equal(c.walks, 1); /* one walk named them all */
	/* the first was forgotten, and is named again */
	n = cgroup_name_of(&c, first, 0, 0, t, t + 1);
	assert_non_null(n->path);
	assert_string_equal(n->path, "/c0");
	cgroup_names_free(&c);
	close(fd);
	remove_tree(root);
}

/* Where cgroup2 is mounted, this process's own cgroup is named from /proc. */
static void test_cgroup_from_proc(void **state)
{
	char mount[256];
	struct cgroup_names c;
	const struct cgroup_name *n;
	char line[4096] = "";
	FILE *f;
	int64_t t = mono_ns();
	int dirfd;

	(void)state;
	if (!cgroup2_mount(mount, sizeof(mount)))
		skip();
	f = fopen("/proc/self/cgroup", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) && strncmp(line, "0::", 3))
		;
	fclose(f);
	assert_memory_equal(line, "0::", 3);
	line[strcspn(line, "\n")] = '\0';
	cgroup_names_init(&c);
	dirfd = open(mount, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	n = cgroup_name_of(&c, ino_at(dirfd, line[4] ? line + 4 : "."), (uint32_t)getpid(),
			   (uint32_t)getpid(), t, t);
	assert_non_null(n->path);
	assert_string_equal(n->path, line + 3);
	assert_int_equal(c.from_proc, 1);
	assert_int_equal(c.walks, 0);
	close(dirfd);
	cgroup_names_free(&c);
}

/* A bind whose socket or address is not known is counted, but in no stack column. */
static void test_summary_unknown_stack(void **state)
{
	struct summary s = {0};
	struct strbuf sb = {0};
	struct v6t_event e = make_bind(AF_INET, "0.0.0.0", 0, 80, 0);

	(void)state;
	e.flags = V6T_FLAG_SOCKET_UNKNOWN | V6T_FLAG_ADDR_UNKNOWN;
	summary_add(&s, &e);
	e = make_bind(AF_INET6, "::", 0, 81, 0);
	e.flags = V6T_FLAG_ADDR_UNKNOWN;
	summary_add(&s, &e);
	summary_format_json(&s, &sb, REALTIME_NS);
	assert_non_null(strstr(sb.data, "\"binds_v4\":0,\"binds_v6\":0,\"binds_dual\":0,"));
	assert_non_null(strstr(sb.data, "\"events\":2,"));
	sb_free(&sb);
	summary_free(&s);
}

/* Label values escaped as the exposition format wants (issue 25, 5). */
static void test_metrics_escape(void **state)
{
	struct strbuf sb = {0};

	(void)state;
	metrics_label_escape(&sb, "a\\b\"c\nd", 7);
	assert_string_equal(sb.data, "a\\\\b\\\"c\\nd");
	sb_free(&sb);
}

/* A series whose value is v: the line "series v" is in the exposition. */
static void assert_series(const char *text, const char *series, const char *value)
{
	char line[512];

	snprintf(line, sizeof(line), "\n%s %s\n", series, value);
	if (!strstr(text, line))
		fail_msg("no line '%s %s' in:\n%s", series, value, text);
}

/* Every line a comment or NAME{LABELS} VALUE with only printable ASCII. */
static void assert_exposition_clean(const char *text)
{
	const char *p;

	for (p = text; *p; p++)
		assert_true((*p >= 0x20 && *p < 0x7f) || *p == '\n');
	assert_true(p > text && p[-1] == '\n');
}

static struct metrics_listener listener_of(uint32_t netns, const char *proto, uint16_t port,
					   enum v6t_stack stack, const char *addr, uint32_t pid)
{
	struct metrics_listener l = {
		.netns = netns, .proto = proto, .port = port, .stack = stack, .pid = pid};

	snprintf(l.addr, sizeof(l.addr), "%s", addr);
	return l;
}

static void test_metrics_format(void **state)
{
	struct metrics_counters c = {0};
	struct metrics_listener v[5] = {
		listener_of(5, "tcp", 80, V6T_STACK_DUAL, "::", 7),
		listener_of(5, "tcp", 80, V6T_STACK_DUAL, "::", 7),
		listener_of(4, "udp", 53, V6T_STACK_V4, "0.0.0.0", 0),
		listener_of(4, "tcp", 22, V6T_STACK_V6, "::", 9),
		/* the same labels in another namespace: a series of its own */
		listener_of(4, "tcp", 80, V6T_STACK_DUAL, "::", 7),
	};
	struct metrics_state st = {.version = "1.0",
				   .mode = "tracepoint",
				   .listed = true,
				   .listed_ns = 1500000000LL,
				   .listeners = v,
				   .nlisteners = 5};
	struct strbuf sb = {0};
	struct v6t_event e;

	(void)state;
	/* a hostile name: a quote, a backslash, a newline, invalid UTF-8 */
	memcpy(v[0].comm, "q\"b\\\n\xff", 7);
	memcpy(v[1].comm, v[0].comm, sizeof(v[0].comm));
	strcpy(v[0].container, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	strcpy(v[1].container, v[0].container);
	/* the names the records carry, a hostile one escaped as the text output does */
	v[0].container_name = strdup("w\"e\\b\n\xff");
	v[0].pod_namespace = strdup("default");
	v[0].pod_name = strdup("web-0");
	v[1].container_name = strdup(v[0].container_name);
	v[1].pod_namespace = strdup("default");
	v[1].pod_name = strdup("web-0");
	strcpy(v[3].comm, "sshd");
	e = make_bind(AF_INET6, "::", 0, 80, 0);
	metrics_count(&c, &e);
	e = make_bind(AF_INET6, "::", 0, 80, -EADDRINUSE);
	metrics_count(&c, &e);
	e.flags = V6T_FLAG_ADDR_UNKNOWN;
	metrics_count(&c, &e);
	e = make_accept("::ffff:127.0.0.1", "::ffff:127.0.0.1");
	metrics_count(&c, &e);
	metrics_format(&sb, &c, &st);
	assert_exposition_clean(sb.data);
	assert_series(
		sb.data,
		"v6trace_listener_sockets{proto=\"tcp\",port=\"80\",stack=\"dual\","
		"address=\"::\",netns=\"5\",pid=\"7\",comm=\"q\\\"b\\\\\\\\\\\\x0a\\\\xff\",container=\""
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
		"container_name=\"w\\\"e\\\\\\\\b\\\\x0a\\\\xff\",pod_namespace=\"default\",pod_name=\"web-0\"}",
		"2");
	assert_series(sb.data,
		      "v6trace_listener_sockets{proto=\"udp\",port=\"53\",stack=\"v4\","
		      "address=\"0.0.0.0\",netns=\"4\",pid=\"\",comm=\"\",container=\"\","
		      "container_name=\"\",pod_namespace=\"\",pod_name=\"\"}",
		      "1");
	assert_series(sb.data,
		      "v6trace_listener_sockets{proto=\"tcp\",port=\"80\",stack=\"dual\","
		      "address=\"::\",netns=\"4\",pid=\"7\",comm=\"\",container=\"\","
		      "container_name=\"\",pod_namespace=\"\",pod_name=\"\"}",
		      "1");
	/* sorted by port: 22 before 53 before 80 */
	assert_true(strstr(sb.data, "port=\"22\"") < strstr(sb.data, "port=\"53\""));
	assert_true(strstr(sb.data, "port=\"53\"") < strstr(sb.data, "port=\"80\""));
	assert_series(sb.data, "v6trace_binds_total{stack=\"dual\",result=\"ok\"}", "1");
	assert_series(sb.data, "v6trace_binds_total{stack=\"dual\",result=\"EADDRINUSE\"}", "1");
	assert_series(sb.data, "v6trace_binds_total{stack=\"unknown\",result=\"EADDRINUSE\"}", "1");
	assert_series(sb.data, "v6trace_accepts_total{mapped=\"true\"}", "1");
	assert_series(sb.data, "v6trace_accepts_total{mapped=\"false\"}", "0");
	assert_series(sb.data, "v6trace_events_total", "4");
	assert_series(sb.data, "v6trace_listeners_omitted", "0");
	assert_series(sb.data, "v6trace_listeners_listed_timestamp_seconds", "1.500");
	assert_series(sb.data, "v6trace_build_info{version=\"1.0\",mode=\"tracepoint\"}", "1");

	/* a failed listing: no listener series at all, rather than stale ones */
	sb_reset(&sb);
	st.listed = false;
	metrics_format(&sb, &c, &st);
	assert_null(strstr(sb.data, "v6trace_listener_sockets{"));
	sb_free(&sb);
	metrics_listeners_clear(v, sizeof(v) / sizeof(v[0]));
}

/* Bounded: at most METRICS_MAX_LISTENERS series, at most METRICS_MAX_RESULTS results. */
static void test_metrics_bounded(void **state)
{
	size_t n = METRICS_MAX_LISTENERS + 5, i, series = 0;
	struct metrics_listener *v = calloc(n, sizeof(*v));
	struct metrics_state st = {.version = "1", .mode = "m", .listed = true, .listed_ns = 1};
	struct metrics_counters c = {0};
	struct strbuf sb = {0};
	const char *p;
	int err;

	(void)state;
	assert_non_null(v);
	for (i = 0; i < n; i++)
		v[i] = listener_of(1, "tcp", (uint16_t)(i + 1), V6T_STACK_V4, "0.0.0.0", 0);
	st.listeners = v;
	st.nlisteners = n;
	for (err = 1; err <= METRICS_MAX_RESULTS + 10; err++) {
		struct v6t_event e = make_bind(AF_INET, "0.0.0.0", 0, 80, -err);

		metrics_count(&c, &e);
	}
	metrics_format(&sb, &c, &st);
	for (p = sb.data; (p = strstr(p, "\nv6trace_listener_sockets{")); p++)
		series++;
	assert_int_equal(series, METRICS_MAX_LISTENERS);
	assert_series(sb.data, "v6trace_listeners_omitted", "5");
	/* the lowest ports are kept, the highest left out */
	assert_non_null(strstr(sb.data, "port=\"1000\""));
	assert_null(strstr(sb.data, "port=\"1001\""));
	assert_series(sb.data, "v6trace_binds_total{stack=\"v4\",result=\"other\"}", "10");
	sb_free(&sb);
	free(v);
}

/* The file is replaced whole: a reader sees the old one or the new one. */
static void test_metrics_write_file(void **state)
{
	char dir[] = "/tmp/v6trace-metrics-XXXXXX", path[64], buf[16], err[256];
	struct stat st;
	FILE *f;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/v6trace.prom", dir);
	assert_int_equal(metrics_write_file(path, "old\n", 4, err, sizeof(err)), 0);
	assert_int_equal(metrics_write_file(path, "new\n", 4, err, sizeof(err)), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "new\n", 4);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	unlink(path);
	assert_int_equal(rmdir(dir), 0); /* no temporary file left behind */
	snprintf(path, sizeof(path), "%s/none/v6trace.prom", dir);
	assert_int_equal(metrics_write_file(path, "x\n", 2, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "none"));
}

/* What a record knows less well than the kernel is said, never filled in (issue 23, 7-8). */
static void test_json_provenance(void **state)
{
	struct strbuf sb = {0};
	struct v6t_event e = make_bind(AF_INET6, "::", 0, 8080, 0);

	(void)state;
	e.ret = -EAFNOSUPPORT; /* an inet6 socket given a sockaddr_in */
	e.flags = V6T_FLAG_ADDR_UNKNOWN;
	format_event_json(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, "\"family\":\"inet6\",\"proto\":\"tcp\",\"addr\":null,"
					"\"port\":null,\"v6only\":false,\"wildcard\":null,"
					"\"stack\":null,\"addr_source\":null,\"ret\":-97,"));
	sb_reset(&sb);
	format_event_text(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, " ? "));
	assert_null(strstr(sb.data, "[::]"));
	assert_null(strstr(sb.data, "dual"));

	sb_reset(&sb);
	e = make_bind(AF_INET, "127.0.0.1", 0, 8080, 0);
	e.ret = -EADDRINUSE;
	e.flags = V6T_FLAG_ADDR_USER | V6T_FLAG_ADDR_CHANGED | V6T_FLAG_FD_CHANGED;
	format_event_json(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, "\"addr\":\"127.0.0.1\",\"port\":8080,\"wildcard\":false,"
					"\"stack\":\"v4\",\"addr_source\":\"user\","
					"\"addr_changed\":true,\"fd_changed\":true,\"ret\":-98,"));
	sb_reset(&sb);
	format_event_text(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(
		sb.data, " EADDRINUSE held by ? (lookup unfinished) addr-changed fd-changed\n"));

	sb_reset(&sb);
	memset(&e, 0, sizeof(e));
	e.type = V6T_EVENT_BIND;
	e.pid = e.tid = 100;
	e.flags = V6T_FLAG_SOCKET_UNKNOWN | V6T_FLAG_ADDR_UNKNOWN | V6T_FLAG_FD_CHANGED;
	format_event_json(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, "\"netns\":null,"));
	assert_non_null(strstr(sb.data,
			       "\"family\":null,\"proto\":null,\"addr\":null,\"port\":null,"
			       "\"wildcard\":null,\"stack\":null,\"addr_source\":null,"
			       "\"fd_changed\":true,\"ret\":0}"));
	sb_reset(&sb);
	format_event_text(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, " fd-changed socket=?"));
	sb_free(&sb);
}

static void test_connect_listen(void **state)
{
	struct strbuf sb = {0};
	struct v6t_event e = make_accept("::ffff:127.0.0.1", "::ffff:192.0.2.7");

	(void)state;
	e.type = V6T_EVENT_CONNECT;
	e.ret = -EINPROGRESS;
	format_event_json(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, "\"event\":\"connect\""));
	assert_non_null(strstr(
		sb.data, "\"peer\":\"::ffff:192.0.2.7\",\"peer_port\":51234,"
			 "\"mapped\":true,\"peer_v4\":\"192.0.2.7\",\"stack\":\"v4\","
			 "\"addr_source\":\"kernel\",\"ret\":-115,\"error\":\"EINPROGRESS\"}\n"));
	sb_reset(&sb);
	format_event_text(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, " connect tcp6  [::ffff:127.0.0.1]:8080        "
					"192.0.2.7:51234        v4    mapped,EINPROGRESS\n"));
	sb_reset(&sb);

	e = make_bind(AF_INET6, "::", 1, 443, 0);
	e.type = V6T_EVENT_LISTEN;
	e.backlog = 4096;
	format_event_json(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, "\"event\":\"listen\""));
	assert_non_null(strstr(sb.data, "\"addr\":\"::\",\"port\":443,\"v6only\":true,"
					"\"wildcard\":true,\"stack\":\"v6\",\"backlog\":4096,"
					"\"ret\":0}\n"));
	sb_reset(&sb);
	format_event_text(&sb, &e, NULL, &fmt);
	assert_non_null(strstr(sb.data, " listen  tcp6  [::]:443 "));
	assert_non_null(strstr(sb.data, " v6    ok backlog=4096\n"));
	sb_free(&sb);
}

static void test_held_by(void **state)
{
	struct strbuf sb = {0};
	struct v6t_event e = make_bind(AF_INET, "0.0.0.0", 0, 80, -EADDRINUSE);
	struct holder h = {.pid = 77, .family = AF_INET6, .port = 80, .v6only = 0};
	struct event_info info = {.holder_lookup = HOLDER_FOUND, .held_by = &h};

	(void)state;
	strcpy(h.comm, "x\"y\n"); /* a hostile holder name is escaped too */
	format_event_json(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, "\"held_by\":{\"pid\":77,\"comm\":\"x\\\"y\\n\","
					"\"addr\":\"::\",\"port\":80,\"stack\":\"dual\"}}\n"));
	sb_reset(&sb);
	format_event_text(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, " EADDRINUSE held by 77 x\"y\\x0a [::]:80 dual\n"));
	sb_reset(&sb);
	h.pid = 0; /* found the socket, not its process */
	format_event_json(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, "\"held_by\":{\"pid\":null,\"comm\":null,"));
	sb_free(&sb);
}

static void test_socket_records(void **state)
{
	struct strbuf sb = {0};
	struct v6t_event e = make_accept("::ffff:10.0.0.1", "::ffff:10.0.0.2");
	struct event_info info = {.inode = 1234};

	(void)state;
	e.type = V6T_EVENT_SOCKET;
	e.state = V6T_TCP_ESTABLISHED;
	format_event_json(&sb, &e, &info, &fmt);
	assert_non_null(strstr(
		sb.data, "\"event\":\"socket\",\"pid\":100,\"comm\":\"nginx\","
			 "\"uid\":1000,\"netns\":4026531840,\"inode\":1234,"
			 "\"container\":null,\"container_name\":null,\"container_image\":null,"
			 "\"container_runtime\":null,\"pod_name\":null,\"pod_namespace\":null,"
			 "\"pod_uid\":null,\"pod_container\":null,"
			 "\"family\":\"inet6\",\"proto\":\"tcp\",\"state\":\"established\","
			 "\"local\":\"::ffff:10.0.0.1\""));
	assert_non_null(strstr(sb.data, "\"mapped\":true,\"peer_v4\":\"10.0.0.2\""));
	sb_reset(&sb);
	e = make_bind(AF_INET6, "::", 0, 53, 0);
	e.type = V6T_EVENT_SOCKET;
	e.protocol = IPPROTO_UDP;
	e.state = V6T_TCP_CLOSE;
	e.pid = 0; /* no owner found */
	format_event_json(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, "\"pid\":null,\"comm\":null,"));
	assert_non_null(strstr(sb.data,
			       "\"state\":\"bound\",\"addr\":\"::\",\"port\":53,"
			       "\"v6only\":false,\"wildcard\":true,\"stack\":\"dual\"}\n"));
	sb_reset(&sb);
	format_event_text(&sb, &e, &info, &fmt);
	assert_string_equal(sb.data, "-       -                socket  udp6  [::]:53            "
				     "            -                      dual  bound\n");
	sb_free(&sb);
}

/* A socket bound to an interface: its index and name, escaped; the index alone if unnamed. */
static void test_scoped(void **state)
{
	struct strbuf sb = {0};
	struct v6t_event e = make_bind(AF_INET6, "fe80::1", 1, 80, 0);
	struct event_info info = {.ifname = "v\"eth\n0"};

	(void)state;
	e.ifindex = 6;
	format_event_json(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, "\"addr\":\"fe80::1\",\"port\":80,\"ifindex\":6,"
					"\"scope\":\"v\\\"eth\\n0\",\"v6only\":true,"));
	sb_reset(&sb);
	format_event_text(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, " bind    tcp6  [fe80::1%v\"eth\\x0a0]:80        -  "));
	sb_reset(&sb);
	info.ifname = NULL; /* the process was gone: its namespace could not be entered */
	format_event_json(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, "\"port\":80,\"ifindex\":6,\"scope\":null,"));
	sb_reset(&sb);
	format_event_text(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, " [fe80::1%6]:80 "));
	sb_reset(&sb);
	e = make_accept("fe80::1", "fe80::2");
	e.ifindex = 6;
	info.ifname = "eth0";
	format_event_json(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, "\"local\":\"fe80::1\",\"local_port\":8080,\"ifindex\":6,"
					"\"scope\":\"eth0\",\"peer\":\"fe80::2\","));
	sb_reset(&sb);
	e = make_bind(AF_INET, "0.0.0.0", 0, 80, 0); /* SO_BINDTODEVICE, as ss writes it */
	e.ifindex = 2;
	format_event_text(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, " tcp   0.0.0.0%eth0:80 "));
	sb_reset(&sb);
	e.ifindex = 0; /* not bound to an interface: no key */
	format_event_json(&sb, &e, &info, &fmt);
	assert_null(strstr(sb.data, "ifindex"));
	assert_null(strstr(sb.data, "scope"));
	sb_free(&sb);
}

/* The IPv4 fast path writes exactly what inet_ntop writes. */
static void test_addr_strings(void **state)
{
	char ours[V6T_ADDR_STRLEN], libc[V6T_ADDR_STRLEN];
	__u8 a[16] = {0};
	unsigned int v, pos;

	(void)state;
	for (pos = 0; pos < 4; pos++) {
		for (v = 0; v < 256; v++) {
			memset(a, 0, sizeof(a));
			a[pos] = (__u8)v;
			a[(pos + 1) % 4] = (__u8)(255 - v);
			v6t_addr_string(AF_INET, a, ours);
			inet_ntop(AF_INET, a, libc, sizeof(libc));
			assert_string_equal(ours, libc);
			/* the same four bytes as ::ffff:a.b.c.d */
			memmove(a + 12, a, 4);
			memset(a, 0, 12);
			a[10] = a[11] = 0xff;
			v6t_addr_string(AF_INET6, a, ours);
			inet_ntop(AF_INET6, a, libc, sizeof(libc));
			assert_string_equal(ours, libc);
			v6t_mapped_v4_string(a, ours);
			inet_ntop(AF_INET, a + 12, libc, sizeof(libc));
			assert_string_equal(ours, libc);
		}
	}
}

#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_container_ids(void **state)
{
	static const char *const with[] = {
		"/system.slice/docker-" CID ".scope",
		"/docker/" CID,
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1f2e_3d4c.slice/"
		"cri-containerd-" CID ".scope",
		"/kubepods/besteffort/pod1f2e3d4c-0000-4000-8000-000000000000/" CID,
		"/machine.slice/libpod-" CID ".scope/container",
		"/system.slice/crio-" CID ".scope",
	};
	static const char *const without[] = {
		"/", "/system.slice/nginx.service", "/user.slice/user-1000.slice/session-3.scope",
		/* 63 and 65 hex digits, upper case: not ids */
		"/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
		"/docker/" CID "0",
		"/docker/0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", ""};
	char out[V6T_CONTAINER_ID_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
		assert_true(container_id_of(with[i], out));
		assert_string_equal(out, CID);
	}
	for (i = 0; i < sizeof(without) / sizeof(without[0]); i++) {
		assert_false(container_id_of(without[i], out));
		assert_string_equal(out, "");
	}
}

static void test_event_info(void **state)
{
	struct strbuf sb = {0};
	struct v6t_event e = make_bind(AF_INET, "0.0.0.0", 0, 80, 0);
	struct event_info info = {
		.cgroup =
			"/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef01234"
			"56789abcdef.scope\"\n",
		.container = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	};

	(void)state;
	format_event_json(&sb, &e, &info, &fmt);
	/* a hostile cgroup name is escaped like everything else */
	assert_non_null(strstr(sb.data,
			       "\"cgroup\":\"/system.slice/docker-0123456789abcdef01234"
			       "56789abcdef0123456789abcdef0123456789abcdef.scope\\\"\\n\","
			       "\"container\":\"0123456789abcdef0123456789abcdef0123456789abcd"
			       "ef0123456789abcdef\",\"container_name\":null,"));
	assert_ptr_equal(strchr(sb.data, '\n'), sb.data + sb.len - 1);
	sb_reset(&sb);
	format_event_text(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, " ok container=0123456789ab\n"));
	sb_free(&sb);
}

/* ---- the CO-RE target (core_btf.c) --------------------------------------- */

/* The object's names, without flavours; only the kinds a relocation is rooted at. */
static void test_core_names(void **state)
{
	struct btf *local = btf__new_empty(), *kern = btf__new_empty();
	struct core_names names;
	int i32, sock, flav, func, fsock;

	(void)state;
	assert_non_null(local);
	assert_non_null(kern);
	i32 = btf__add_int(local, "int", 4, BTF_INT_SIGNED);
	assert_true(btf__add_struct(local, "sock", 8) > 0);
	assert_int_equal(btf__add_field(local, "x", i32, 0, 0), 0);
	assert_true(btf__add_struct(local, "mptcp_sock___v66", 4) > 0);
	/* libbpf's rule: the last X___Y, X and Y not underscores */
	assert_true(btf__add_struct(local, "foo___a___", 4) > 0);
	assert_true(btf__add_struct(local, "___bar", 4) > 0);
	assert_true(btf__add_struct(local, NULL, 4) > 0); /* anonymous */
	assert_true(btf__add_func(local, "only_a_func", BTF_FUNC_STATIC,
				  btf__add_func_proto(local, i32)) > 0);
	assert_int_equal(core_names_init(&names, local), 0);

	sock = btf__add_struct(kern, "sock", 8);
	flav = btf__add_struct(kern, "mptcp_sock", 4);
	func = btf__add_func(kern, "only_a_func", BTF_FUNC_STATIC, btf__add_func_proto(kern, 0));
	fsock = btf__add_struct(kern, "sock___other", 8);
	assert_true(core_names_has(&names, btf__type_by_id(kern, sock), "sock"));
	assert_true(core_names_has(&names, btf__type_by_id(kern, flav), "mptcp_sock"));
	assert_true(core_names_has(&names, btf__type_by_id(kern, fsock), "sock___other"));
	assert_false(core_names_has(&names, btf__type_by_id(kern, func), "only_a_func"));
	assert_false(core_names_has(&names, btf__type_by_id(kern, sock), "mptcp_socks"));
	assert_false(core_names_has(&names, btf__type_by_id(kern, sock), "socket"));
	assert_true(core_names_has(&names, btf__type_by_id(kern, sock), "foo"));
	assert_true(core_names_has(&names, btf__type_by_id(kern, sock), "foo___a"));
	assert_true(core_names_has(&names, btf__type_by_id(kern, sock), "___bar"));
	assert_false(core_names_has(&names, btf__type_by_id(kern, sock), "bar"));
	core_names_free(&names);
	btf__free(local);
	btf__free(kern);
}

/*
 * A copy keeps names, sizes and offsets (bitfields too), follows what a type
 * holds by value, and cuts pointers to void *; what is reached twice is
 * copied once; the raw BTF written out parses back the same.
 */
static void test_core_btf_copy(void **state)
{
	struct btf *kern = btf__new_empty(), *back;
	const struct btf_member *m;
	const struct btf_type *t;
	struct core_btf cb;
	int i32, inner, other, outer, arr, td, ptr, fd;
	char path[32];
	__u32 n;

	(void)state;
	i32 = btf__add_int(kern, "int", 4, BTF_INT_SIGNED);
	other = btf__add_struct(kern, "other", 4);
	assert_int_equal(btf__add_field(kern, "o", i32, 0, 0), 0);
	inner = btf__add_struct(kern, "inner", 8);
	assert_int_equal(btf__add_field(kern, "a", i32, 0, 0), 0);
	assert_int_equal(btf__add_field(kern, "b", i32, 35, 3), 0); /* a bitfield */
	arr = btf__add_array(kern, i32, i32, 4);
	td = btf__add_typedef(kern, "inner_t", inner);
	ptr = btf__add_ptr(kern, other);
	outer = btf__add_struct(kern, "outer", 48);
	assert_int_equal(btf__add_field(kern, "in", inner, 0, 0), 0);
	assert_int_equal(btf__add_field(kern, "p", ptr, 64, 0), 0);
	assert_int_equal(btf__add_field(kern, "arr", arr, 128, 0), 0);
	assert_int_equal(btf__add_field(kern, "td", td, 256, 0), 0);

	assert_int_equal(core_btf_new(&cb, kern), 0);
	assert_int_equal(core_btf_add(&cb, (__u32)outer), 0);
	assert_int_equal(core_btf_add(&cb, (__u32)inner), 0); /* already there */
	n = btf__type_cnt(cb.btf);
	/* void, outer, inner, int, the pointer, the array, the typedef: not "other" */
	assert_int_equal(n, 7);
	assert_true(btf__find_by_name_kind(cb.btf, "other", BTF_KIND_STRUCT) < 0);

	t = btf__type_by_id(cb.btf,
			    (__u32)btf__find_by_name_kind(cb.btf, "outer", BTF_KIND_STRUCT));
	assert_int_equal(t->size, 48);
	assert_int_equal(btf_vlen(t), 4);
	m = btf_members(t);
	assert_string_equal(btf__name_by_offset(cb.btf, m[0].name_off), "in");
	assert_string_equal(
		btf__name_by_offset(cb.btf, btf__type_by_id(cb.btf, m[0].type)->name_off), "inner");
	assert_true(btf_is_ptr(btf__type_by_id(cb.btf, m[1].type)));
	assert_int_equal(btf__type_by_id(cb.btf, m[1].type)->type, 0);
	assert_int_equal(btf_member_bit_offset(t, 1), 64);
	assert_true(btf_is_array(btf__type_by_id(cb.btf, m[2].type)));
	assert_int_equal(btf_array(btf__type_by_id(cb.btf, m[2].type))->nelems, 4);
	assert_int_equal(btf__resolve_size(cb.btf, m[2].type), 16);
	assert_int_equal(btf__resolve_size(cb.btf, m[3].type), 8);

	t = btf__type_by_id(cb.btf, m[0].type);
	assert_int_equal(btf_member_bit_offset(t, 1), 35);
	assert_int_equal(btf_member_bitfield_size(t, 1), 3);

	fd = memfd_create("core-btf-test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(core_btf_write(&cb, fd), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	back = btf__parse(path, NULL);
	assert_non_null(back);
	assert_int_equal(btf__type_cnt(back), n);
	assert_true(btf__find_by_name_kind(back, "inner_t", BTF_KIND_TYPEDEF) > 0);
	btf__free(back);
	close(fd);
	core_btf_free(&cb);
	btf__free(kern);
}

/* ---- the growable array (array.h) ---------------------------------------- */

struct u32s ARRAY_OF(uint32_t);

/* Push keeps order and zeroes, insert opens a slot, max bounds, overflow is refused. */
static void test_array(void **state)
{
	struct u32s a = {0};
	uint32_t *p;
	size_t i, cap;

	(void)state;
	for (i = 0; i < 100; i++) {
		p = array_push(&a);
		assert_non_null(p);
		assert_int_equal(*p, 0);
		*p = (uint32_t)i * 2;
	}
	assert_int_equal(a.n, 100);
	assert_true(a.cap >= 100);
	for (i = 0; i < 100; i++)
		assert_int_equal(a.v[i], i * 2);
	p = array_insert_max(&a, 1, 0);
	assert_non_null(p);
	*p = 1;
	assert_int_equal(a.n, 101);
	assert_int_equal(a.v[0], 0);
	assert_int_equal(a.v[1], 1);
	assert_int_equal(a.v[2], 2);
	assert_int_equal(a.v[100], 198);
	p = array_insert_max(&a, a.n, 0); /* at the end */
	assert_non_null(p);
	*p = 7;
	assert_int_equal(a.v[101], 7);
	/* beyond max: refused, the array unchanged */
	cap = a.cap;
	assert_null(array_push_max(&a, a.n));
	assert_null(array_insert_max(&a, 0, a.n));
	assert_int_equal(a.n, 102);
	assert_int_equal(a.cap, cap);
	assert_int_equal(a.v[0], 0);
	/* a size that overflows is refused, not wrapped */
	assert_false(array_reserve(&a, SIZE_MAX / 2, 0));
	assert_int_equal(a.cap, cap);
	array_free(&a);
	assert_null(a.v);
	assert_int_equal(a.n, 0);
	/* a bound that is not a power of two is reached exactly */
	for (i = 0; i < 20; i++)
		assert_non_null(array_push_max(&a, 20));
	assert_null(array_push_max(&a, 20));
	assert_int_equal(a.cap, 20);
	array_free(&a);
}

/* ---- the lookup helper's messages (user/helper_proto.h) ---------------- */

static void test_helper_proto(void **state)
{
	struct v6t_event e = {.netns = 4026531840u,
			      .pid = 42,
			      .uid = 1000,
			      .ifindex = 3,
			      .family = AF_INET6,
			      .protocol = IPPROTO_TCP,
			      .lport = 8080};
	struct holder_questions_msg qm;
	struct holder_answers_msg am;
	struct listeners_request_msg lq;
	struct listeners_reply_msg lr;
	struct holder_question q[2];
	struct refused_bind back;
	size_t len;

	(void)state;
	e.laddr[15] = 1;
	q[0] = holder_question_of(7, HELPER_WANT_HOLDER | HELPER_WANT_IFNAME, &e);
	q[1] = holder_question_of(8, HELPER_WANT_IFNAME, &e);
	back = q[0].bind;
	assert_int_equal(q[0].id, 7);
	assert_int_equal(back.netns, e.netns);
	assert_int_equal(back.pid, 42);
	assert_int_equal(back.uid, 1000);
	assert_int_equal(back.ifindex, 3);
	assert_int_equal(back.family, AF_INET6);
	assert_int_equal(back.protocol, IPPROTO_TCP);
	assert_int_equal(back.port, 8080);
	assert_memory_equal(back.addr, e.laddr, 16);
	/* the tracer's own lookup (no helper) reads the event the same way */
	back = refused_bind_of(&e);
	assert_int_equal(back.netns, e.netns);
	assert_int_equal(back.pid, 42);
	assert_int_equal(back.port, 8080);
	assert_memory_equal(back.addr, e.laddr, 16);

	len = helper_encode_questions(&qm, q, 2);
	assert_int_equal(helper_decode_questions(&qm, len), 2);
	assert_int_equal(qm.q[1].id, 8);
	/* short, long, truncated header, another kind, a count too large */
	assert_int_equal(helper_decode_questions(&qm, len - 1), -EBADMSG);
	assert_int_equal(helper_decode_questions(&qm, len + sizeof(q[0])), -EBADMSG);
	assert_int_equal(helper_decode_questions(&qm, 3), -EBADMSG);
	assert_int_equal(helper_decode_questions(&qm, 0), -EBADMSG);
	assert_int_equal(helper_decode_answers((const void *)&qm, len), -EBADMSG);
	qm.h.count = HOLDER_PER_MESSAGE + 1;
	assert_int_equal(helper_decode_questions(
				 &qm, sizeof(qm.h) + sizeof(q[0]) * (HOLDER_PER_MESSAGE + 1)),
			 -EBADMSG);
	/* at most a message's worth is encoded */
	assert_int_equal(helper_encode_questions(&qm, q, 1), sizeof(qm.h) + sizeof(q[0]));

	memset(&am, 0, sizeof(am));
	am.a[0].id = 7;
	am.a[0].found = 1;
	len = helper_encode_answers(&am, 1);
	assert_int_equal(helper_decode_answers(&am, len), 1);
	assert_int_equal(helper_decode_answers(&am, len - 4), -EBADMSG);
	assert_int_equal(helper_decode_questions((const void *)&am, len), -EBADMSG);

	len = helper_encode_listeners_request(&lq, 5, 4026531840u, 42);
	assert_int_equal(len, sizeof(lq));
	assert_int_equal(helper_decode_listeners_request(&lq, len), 0);
	assert_int_equal(lq.id, 5);
	assert_int_equal(helper_decode_listeners_request(&lq, len - 1), -EBADMSG);
	lq.h.kind = HELPER_MSG_LISTENERS_REPLY;
	assert_int_equal(helper_decode_listeners_request(&lq, len), -EBADMSG);

	memset(&lr, 0, sizeof(lr));
	len = helper_encode_listeners_reply(&lr, 0);
	assert_int_equal(helper_decode_listeners_reply(&lr, len), 0);
	len = helper_encode_listeners_reply(&lr, LISTENERS_PER_MESSAGE);
	assert_int_equal(len, sizeof(lr));
	assert_int_equal(helper_decode_listeners_reply(&lr, len), LISTENERS_PER_MESSAGE);
	assert_int_equal(helper_decode_listeners_reply(&lr, len - 1), -EBADMSG);
}

/* ---- container names (user/containers.c) ---------------------------------- */

#define DOCKER_ID     "dc662692f6516b141664a26b177d0342693d51be6732c3009f3228ff8ca8306b"
#define DOCKER_K8S_ID "9634f585632f439d2ce1f7548014faa227e7b1a9bb7b0d10b02043b4639c4952"
#define PODMAN_ID     "cb34a10296db3e0ce082548d4ae9ff2b41b86eda873b1997ecb6720e36ea2af0"
#define CTRD_ID	      "d1f86b0d3aa28d0f215c2d449ae9d7421eedca494d658a613ebf8cb66e94ceb6"
#define CRIO_ID	      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HOSTILE_ID    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

/* mkdir -p root/dir */
static void make_dirs(const char *root, const char *dir)
{
	char path[PATH_MAX], *p;

	snprintf(path, sizeof(path), "%s/%s", root, dir);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

/* root/dir/name := len bytes of data */
static void write_at(const char *root, const char *dir, const char *name, const char *data,
		     size_t len)
{
	char path[PATH_MAX];
	int fd;

	make_dirs(root, dir);
	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* A fixture of tests/fixtures/containers, whole or its first len bytes (0: whole) */
static void copy_fixture(const char *root, const char *dir, const char *name, const char *fixture,
			 size_t len)
{
	char path[PATH_MAX], buf[65536];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "tests/fixtures/containers/%s", fixture);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	write_at(root, dir, name, buf, len && len < (size_t)n ? len : (size_t)n);
}

#define DOCKER_DIR(id) "var/lib/docker/containers/" id
#define PODMAN_STORE   "var/lib/containers/storage"
#define CTRD_DIR(id)   "run/containerd/io.containerd.runtime.v2.task/k8s.io/" id
#define CRIO_DIR(id)   "run/containers/storage/overlay-containers/" id "/userdata"

static void assert_str_or_null(const char *got, const char *want)
{
	if (!want)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
}

static void assert_names(const struct container_info *i, enum container_runtime runtime,
			 const char *name, const char *image, const char *pod_name,
			 const char *pod_namespace, const char *pod_uid, const char *pod_container)
{
	assert_int_equal(i->runtime, runtime);
	assert_str_or_null(i->name, name);
	assert_str_or_null(i->image, image);
	assert_str_or_null(i->pod_name, pod_name);
	assert_str_or_null(i->pod_namespace, pod_namespace);
	assert_str_or_null(i->pod_uid, pod_uid);
	assert_str_or_null(i->pod_container, pod_container);
}

/* container_lookup() with the runtimes' directories below root */
static bool lookup_at(const char *root, const char *id, const char *cgroup_path,
		      struct container_info *out)
{
	struct container_dirs d;
	bool found;

	container_dirs_open(&d, root);
	found = container_lookup(&d, id, cgroup_path, out);
	container_dirs_close(&d);
	return found;
}

/* The pod uid of a kubelet's cgroup path, both drivers; nothing else is one. */
static void test_pod_uid(void **state)
{
	static const char *const with[][2] = {
		{"/kubepods.slice/kubepods-burstable.slice/"
		 "kubepods-burstable-pod1b2c3d4e_0000_4000_8000_00000000abcd.slice/"
		 "cri-containerd-" CTRD_ID ".scope",
		 "1b2c3d4e-0000-4000-8000-00000000abcd"},
		{"/kubepods.slice/kubepods-pod1b2c3d4e_0000_4000_8000_00000000abcd.slice/crio-" CTRD_ID
		 ".scope",
		 "1b2c3d4e-0000-4000-8000-00000000abcd"},
		{"/kubepods/besteffort/pod2c3d4e5f-1111-4111-8111-0000000000ef/" CTRD_ID,
		 "2c3d4e5f-1111-4111-8111-0000000000ef"},
		{"/kubepods/pod2c3d4e5f-1111-4111-8111-0000000000ef/" CTRD_ID,
		 "2c3d4e5f-1111-4111-8111-0000000000ef"},
		{"/kubepods/pod2c3d4e5f-1111-4111-8111-0000000000ef",
		 "2c3d4e5f-1111-4111-8111-0000000000ef"},
	};
	static const char *const without[] = {
		"/docker/" CTRD_ID,
		"/pod2c3d4e5f-1111-4111-8111-0000000000ef/" CTRD_ID, /* not below kubepods */
		"/kubepods/besteffort/podXYZ/" CTRD_ID,
		"/kubepods/besteffort/pod2C3D4E5F-1111-4111-8111-0000000000EF/" CTRD_ID,
		"/kubepods/besteffort/pod2c3d4e5f-1111-4111-8111-0000000000efab/" CTRD_ID,
		"/kubepods/besteffort/pod2c3d4e5f-1111-4111-8111-0000000000e/" CTRD_ID,
		"/kubepods/besteffort/pod2c3d4e5f11111-4111-8111-0000000000ef/" CTRD_ID,
		"/kubepods.slice/kubepods-burstable.slice/x-pod1b2c3d4e_0000_4000_8000_00000000abcd",
		"/kubepods.slice/other-pod1b2c3d4e_0000_4000_8000_00000000abcd.slice",
		"/kubepods/pod",
		"",
	};
	char out[V6T_POD_UID_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
		assert_true(pod_uid_of(with[i][0], out));
		assert_string_equal(out, with[i][1]);
	}
	for (i = 0; i < sizeof(without) / sizeof(without[0]); i++) {
		assert_false(pod_uid_of(without[i], out));
		assert_string_equal(out, "");
	}
	assert_false(pod_uid_of(NULL, out));
}

/* Each runtime's real files (tests/fixtures/containers) give the names they hold. */
static void test_container_runtimes(void **state)
{
	char root[] = "/tmp/v6t-containers-XXXXXX";
	struct container_info i;

	(void)state;
	assert_non_null(mkdtemp(root));
	copy_fixture(root, DOCKER_DIR(DOCKER_ID), "config.v2.json", "docker-config.v2.json", 0);
	copy_fixture(root, DOCKER_DIR(DOCKER_K8S_ID), "config.v2.json", "docker-k8s-config.v2.json",
		     0);
	copy_fixture(root, PODMAN_STORE "/overlay-containers", "containers.json",
		     "podman-containers.json", 0);
	copy_fixture(root, PODMAN_STORE "/overlay-images", "images.json", "podman-images.json", 0);
	copy_fixture(root, PODMAN_STORE "/overlay-containers/" PODMAN_ID "/userdata", "config.json",
		     "podman-config.json", 0);
	copy_fixture(root, CTRD_DIR(CTRD_ID), "config.json", "containerd-config.json", 0);
	copy_fixture(root, CRIO_DIR(CRIO_ID), "config.json", "crio-config.json", 0);

	assert_true(lookup_at(root, DOCKER_ID, "/docker/" DOCKER_ID, &i));
	assert_string_equal(i.id, DOCKER_ID);
	assert_names(&i, CONTAINER_RUNTIME_DOCKER, "web-names", "v6t-names-test:1", NULL, NULL,
		     NULL, NULL);
	container_info_clear(&i);
	assert_true(lookup_at(root, DOCKER_K8S_ID, "/docker/" DOCKER_K8S_ID, &i));
	assert_names(&i, CONTAINER_RUNTIME_DOCKER, "k8s_web_pod-a_default_uid1_0",
		     "v6t-names-test:1", "pod-a", "team-ns", "1b2c3d4e-0000-4000-8000-00000000abcd",
		     "web");
	container_info_clear(&i);
	assert_true(lookup_at(root, PODMAN_ID, "/libpod_parent/libpod-" PODMAN_ID, &i));
	assert_names(&i, CONTAINER_RUNTIME_PODMAN, "pweb", "localhost/v6t-names-test:1", NULL, NULL,
		     NULL, NULL);
	container_info_clear(&i);
	/* the kubelet's uid in the cgroup path wins over the runtime's */
	assert_true(lookup_at(
		root, CTRD_ID,
		"/kubepods/besteffort/pod9c3d4e5f-1111-4111-8111-0000000000ef/" CTRD_ID, &i));
	assert_names(&i, CONTAINER_RUNTIME_CONTAINERD, NULL, "docker.io/library/v6t-names-test:1",
		     "pod-b", "team-ns", "9c3d4e5f-1111-4111-8111-0000000000ef", "api");
	container_info_clear(&i);
	assert_true(lookup_at(root, CTRD_ID, NULL, &i));
	assert_string_equal(i.pod_uid, "2c3d4e5f-1111-4111-8111-0000000000ef");
	container_info_clear(&i);
	assert_true(lookup_at(root, CRIO_ID, NULL, &i));
	assert_names(&i, CONTAINER_RUNTIME_CRIO,
		     "k8s_proxy_pod-c_edge_3d4e5f60-2222-4222-8222-000000000123_0",
		     "registry.example/proxy:2.1", "pod-c", "edge",
		     "3d4e5f60-2222-4222-8222-000000000123", "proxy");
	container_info_clear(&i);
	/* no runtime's file: unknown, not a guess; but the kubelet's uid is the path's */
	assert_false(lookup_at(root, HOSTILE_ID, "/docker/" HOSTILE_ID, &i));
	assert_names(&i, CONTAINER_RUNTIME_UNKNOWN, NULL, NULL, NULL, NULL, NULL, NULL);
	container_info_clear(&i);
	assert_false(lookup_at(root, HOSTILE_ID,
			       "/kubepods/pod9c3d4e5f-1111-4111-8111-0000000000ef/" HOSTILE_ID,
			       &i));
	assert_names(&i, CONTAINER_RUNTIME_UNKNOWN, NULL, NULL, NULL, NULL,
		     "9c3d4e5f-1111-4111-8111-0000000000ef", NULL);
	container_info_clear(&i);
	/* what is not an id never becomes a path */
	assert_false(lookup_at(root, "../../../etc", NULL, &i));
	assert_false(lookup_at(root, DOCKER_ID "0", NULL, &i));
	/* the node's root given with a trailing slash */
	{
		struct container_names c;
		char slash[sizeof(root) + 1];
		const struct container_info *n;

		snprintf(slash, sizeof(slash), "%s/", root);
		container_names_init_at(&c, slash);
		n = container_info_of(&c, DOCKER_ID, NULL, 0);
		assert_non_null(n);
		assert_string_equal(n->name, "web-names");
		container_names_free(&c);
	}
	remove_tree(root);
}

/* The docker file as given, with each of the hostile things done to it */
static void hostile_docker(const char *root, const char *json)
{
	write_at(root, DOCKER_DIR(HOSTILE_ID), "config.v2.json", json, strlen(json));
}

/* Files that are huge, truncated, of the wrong types, deep, not regular, or hostile text. */
static void test_container_hostile_files(void **state)
{
	char root[] = "/tmp/v6t-containers-XXXXXX", path[PATH_MAX], *big;
	struct container_info i;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(root));
	/* truncated: not JSON, so nothing (a docker that is writing it: asked again later) */
	copy_fixture(root, DOCKER_DIR(HOSTILE_ID), "config.v2.json", "docker-config.v2.json", 1000);
	assert_false(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_names(&i, CONTAINER_RUNTIME_UNKNOWN, NULL, NULL, NULL, NULL, NULL, NULL);
	container_info_clear(&i);
	/* JSON followed by more */
	hostile_docker(root, "{\"Name\":\"/a\"}{\"Name\":\"/b\"}");
	assert_false(lookup_at(root, HOSTILE_ID, NULL, &i));
	container_info_clear(&i);
	/* not an object */
	hostile_docker(root, "[\"Name\",\"/a\"]");
	assert_false(lookup_at(root, HOSTILE_ID, NULL, &i));
	container_info_clear(&i);
	/* the wrong types: docker's, but each name unknown */
	hostile_docker(root, "{\"Name\":5,\"Config\":{\"Image\":[\"x\"],\"Labels\":\"l\"}}");
	assert_true(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_names(&i, CONTAINER_RUNTIME_DOCKER, NULL, NULL, NULL, NULL, NULL, NULL);
	container_info_clear(&i);
	hostile_docker(root, "{\"Name\":null,\"Config\":[1],\"Labels\":{}}");
	assert_true(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_names(&i, CONTAINER_RUNTIME_DOCKER, NULL, NULL, NULL, NULL, NULL, NULL);
	container_info_clear(&i);
	/* a NUL inside a name: unknown, not cut short; control characters: kept (escaped on
	 * output, see test_container_output) */
	hostile_docker(root,
		       "{\"Name\":\"/a\\u0000b\",\"Config\":{\"Image\":\"x\\u001b[31m\\n\\\"y\"}}");
	assert_true(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_names(&i, CONTAINER_RUNTIME_DOCKER, NULL, "x\033[31m\n\"y", NULL, NULL, NULL, NULL);
	container_info_clear(&i);
	/* "/" alone: no name */
	hostile_docker(root, "{\"Name\":\"/\"}");
	assert_true(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_null(i.name);
	container_info_clear(&i);
	/* a name longer than CONTAINER_VALUE_MAX: unknown */
	big = malloc(CONTAINER_FILE_MAX + 2);
	assert_non_null(big);
	n = (size_t)snprintf(big, 32, "{\"Name\":\"/");
	memset(big + n, 'a', CONTAINER_VALUE_MAX + 1);
	strcpy(big + n + CONTAINER_VALUE_MAX + 1, "\"}");
	hostile_docker(root, big);
	assert_true(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_null(i.name);
	container_info_clear(&i);
	/* CONTAINER_VALUE_MAX itself is kept */
	strcpy(big + n + CONTAINER_VALUE_MAX, "\"}");
	hostile_docker(root, big);
	assert_true(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_int_equal(strlen(i.name), CONTAINER_VALUE_MAX);
	container_info_clear(&i);
	/* an image reference may be longer than a name: up to CONTAINER_IMAGE_MAX */
	n = (size_t)snprintf(big, 64, "{\"Name\":\"/x\",\"Config\":{\"Image\":\"");
	memset(big + n, 'i', CONTAINER_IMAGE_MAX);
	strcpy(big + n + CONTAINER_IMAGE_MAX, "\"}}");
	hostile_docker(root, big);
	assert_true(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_int_equal(strlen(i.image), CONTAINER_IMAGE_MAX);
	container_info_clear(&i);
	memset(big + n, 'i', CONTAINER_IMAGE_MAX + 1);
	strcpy(big + n + CONTAINER_IMAGE_MAX + 1, "\"}}");
	hostile_docker(root, big);
	assert_true(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_null(i.image);
	assert_string_equal(i.name, "x");
	container_info_clear(&i);
	/* nested past json-c's depth limit */
	n = (size_t)snprintf(big, 64, "{\"Name\":\"/deep\",\"Config\":{\"Labels\":");
	memset(big + n, '[', 5000);
	memset(big + n + 5000, ']', 5000);
	strcpy(big + n + 10000, "}}");
	hostile_docker(root, big);
	assert_false(lookup_at(root, HOSTILE_ID, NULL, &i));
	container_info_clear(&i);
	/* larger than CONTAINER_FILE_MAX: not read at all (valid JSON padded with spaces) */
	memset(big, ' ', CONTAINER_FILE_MAX + 1);
	memcpy(big, "{\"Name\":\"/huge\"}", 16);
	big[CONTAINER_FILE_MAX + 1] = '\0';
	hostile_docker(root, big);
	assert_false(lookup_at(root, HOSTILE_ID, NULL, &i));
	container_info_clear(&i);
	big[CONTAINER_FILE_MAX] = '\0'; /* exactly the limit: read */
	hostile_docker(root, big);
	assert_true(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_string_equal(i.name, "huge");
	container_info_clear(&i);
	free(big);
	/* a FIFO (nobody writes it: a blocking open would hang) and a symlink: not read */
	snprintf(path, sizeof(path), "%s/" DOCKER_DIR(HOSTILE_ID) "/config.v2.json", root);
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_false(lookup_at(root, HOSTILE_ID, NULL, &i));
	container_info_clear(&i);
	unlink(path);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_false(lookup_at(root, HOSTILE_ID, NULL, &i));
	container_info_clear(&i);
	unlink(path);
	/* podman: metadata that is not JSON, names that are not strings, an empty store */
	write_at(root, PODMAN_STORE "/overlay-containers", "containers.json",
		 "[{\"id\":\"" HOSTILE_ID "\",\"names\":[7],\"metadata\":\"{not json\","
		 "\"image\":\"nope\"}]",
		 strlen("[{\"id\":\"" HOSTILE_ID "\",\"names\":[7],\"metadata\":\"{not json\","
			"\"image\":\"nope\"}]"));
	assert_true(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_names(&i, CONTAINER_RUNTIME_PODMAN, NULL, NULL, NULL, NULL, NULL, NULL);
	container_info_clear(&i);
	write_at(root, PODMAN_STORE "/overlay-containers", "containers.json", "{}", 2);
	assert_false(lookup_at(root, HOSTILE_ID, NULL, &i));
	container_info_clear(&i);
	/* containerd: a bundle without annotations is containerd's, with no names */
	write_at(root, CTRD_DIR(HOSTILE_ID), "config.json", "{\"annotations\":7}", 17);
	assert_true(lookup_at(root, HOSTILE_ID, NULL, &i));
	assert_names(&i, CONTAINER_RUNTIME_CONTAINERD, NULL, NULL, NULL, NULL, NULL, NULL);
	container_info_clear(&i);
	remove_tree(root);
}

/* Looked up once when first seen, a miss asked again later (not per event), the cache bounded. */
static void test_container_cache(void **state)
{
	char root[] = "/tmp/v6t-containers-XXXXXX", id[V6T_CONTAINER_ID_LEN + 1];
	const int64_t s = 1000000000LL;
	const struct container_info *n;
	struct container_names c;
	int k;

	(void)state;
	assert_non_null(mkdtemp(root));
	container_names_init_at(&c, root);
	assert_null(container_info_of(&c, NULL, NULL, 0));
	assert_null(container_info_of(&c, "", NULL, 0));
	assert_null(container_info_of(&c, "xyz", NULL, 0));
	n = container_info_of(&c, DOCKER_ID, NULL, 10 * s);
	assert_non_null(n);
	assert_string_equal(n->id, DOCKER_ID);
	assert_null(n->name);
	assert_int_equal(c.lookups, 1);
	/* its file appears a moment after its first bind */
	copy_fixture(root, DOCKER_DIR(DOCKER_ID), "config.v2.json", "docker-config.v2.json", 0);
	n = container_info_of(&c, DOCKER_ID, NULL, 10 * s + s / 2);
	assert_null(n->name); /* within the wait: the cache's answer */
	assert_int_equal(c.lookups, 1);
	n = container_info_of(&c, DOCKER_ID, NULL, 11 * s);
	assert_string_equal(n->name, "web-names");
	assert_int_equal(c.lookups, 2);
	for (k = 0; k < 100; k++)
		n = container_info_of(&c, DOCKER_ID, NULL, 12 * s + k);
	assert_string_equal(n->name, "web-names");
	assert_int_equal(c.lookups, 2);
	/* a miss waits twice as long each time: 1 s, 2 s, 4 s */
	n = container_info_of(&c, HOSTILE_ID, NULL, 20 * s);
	assert_int_equal(c.lookups, 3);
	n = container_info_of(&c, HOSTILE_ID, NULL, 21 * s);
	assert_int_equal(c.lookups, 4);
	n = container_info_of(&c, HOSTILE_ID, NULL, 22 * s);
	assert_int_equal(c.lookups, 4);
	n = container_info_of(&c, HOSTILE_ID, NULL, 23 * s);
	assert_int_equal(c.lookups, 5);
	/* bounded: 1000 ids later the first is read again, the cache holds 256 at most */
	for (k = 0; k < 1000; k++) {
		snprintf(id, sizeof(id), "%08x%056d", (unsigned int)k * 2654435761u, k);
		assert_non_null(container_info_of(&c, id, NULL, 30 * s));
	}
	assert_int_equal(c.lookups, 1005);
	n = container_info_of(&c, DOCKER_ID, NULL, 31 * s);
	assert_string_equal(n->name, "web-names");
	assert_int_equal(c.lookups, 1006);
	assert_int_equal(sizeof(c.cache) / sizeof(c.cache[0]), 256);
	container_names_free(&c);
	remove_tree(root);
}

static void test_container_filters(void **state)
{
	struct container_info i = {
		.id = DOCKER_ID, .name = "web", .pod_name = "pod-a", .pod_namespace = "team-ns"};
	struct container_info bare = {.id = PODMAN_ID};

	(void)state;
	assert_true(container_matches(&i, "web"));
	assert_true(container_matches(&i, DOCKER_ID));
	assert_true(container_matches(&i, "dc662692f651"));
	assert_false(container_matches(&i, "dc662692f65")); /* shorter than docker ps shows */
	assert_false(container_matches(&i, "we"));
	assert_false(container_matches(&i, "web2"));
	assert_false(container_matches(&i, DOCKER_ID "0"));
	assert_false(container_matches(&bare, "web"));
	assert_true(container_matches(&bare, "cb34a10296db"));
	assert_false(container_matches(NULL, "web"));
	assert_true(pod_matches(&i, "pod-a"));
	assert_true(pod_matches(&i, "team-ns/pod-a"));
	assert_false(pod_matches(&i, "other/pod-a"));
	assert_false(pod_matches(&i, "team-n/pod-a"));
	assert_false(pod_matches(&i, "team-ns/pod"));
	assert_false(pod_matches(&bare, "pod-a"));
	assert_false(pod_matches(NULL, "pod-a"));
	assert_true(container_wanted(NULL, NULL, NULL));
	assert_false(container_wanted(NULL, "web", NULL));
	assert_true(container_wanted(&i, "web", "team-ns/pod-a"));
	assert_false(container_wanted(&i, "web", "team-ns/pod-b"));
}

/* The names in JSON (escaped, null when unknown) and in text (escaped, short). */
static void test_container_output(void **state)
{
	struct strbuf sb = {0};
	struct v6t_event e = make_bind(AF_INET6, "::", 0, 80, 0);
	struct container_info names = {.id = DOCKER_ID,
				       .runtime = CONTAINER_RUNTIME_CONTAINERD,
				       .image = "x\033[31m\n\"y",
				       .pod_name = "pod-b",
				       .pod_namespace = "team-ns",
				       .pod_uid = "2c3d4e5f-1111-4111-8111-0000000000ef",
				       .pod_container = "a\tpi"};
	struct event_info info = {
		.cgroup = "/docker/" DOCKER_ID, .container = DOCKER_ID, .names = &names};

	(void)state;
	format_event_json(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data,
			       "\"container\":\"" DOCKER_ID "\",\"container_name\":null,"
			       "\"container_image\":\"x\\u001b[31m\\n\\\"y\","
			       "\"container_runtime\":\"containerd\",\"pod_name\":\"pod-b\","
			       "\"pod_namespace\":\"team-ns\","
			       "\"pod_uid\":\"2c3d4e5f-1111-4111-8111-0000000000ef\","
			       "\"pod_container\":\"a\\tpi\",\"family\""));
	sb_reset(&sb);
	format_event_text(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, " container=a\\x09pi pod=team-ns/pod-b\n"));
	sb_reset(&sb);
	names.name = "w\neb";
	format_event_text(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, " container=w\\x0aeb pod=team-ns/pod-b\n"));
	sb_reset(&sb);
	info.names = NULL; /* no runtime's file: the short id, and null names */
	format_event_text(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, " container=dc662692f651\n"));
	sb_reset(&sb);
	format_event_json(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, "\"container\":\"" DOCKER_ID "\",\"container_name\":null,"
					"\"container_image\":null,\"container_runtime\":null,"
					"\"pod_name\":null,\"pod_namespace\":null,\"pod_uid\":null,"
					"\"pod_container\":null,\"family\""));
	sb_reset(&sb);
	/* a snapshot row names its owner's container too */
	e.type = V6T_EVENT_SOCKET;
	e.state = V6T_TCP_LISTEN;
	info.names = &names;
	info.inode = 7;
	format_event_json(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, "\"inode\":7,\"container\":\"" DOCKER_ID
					"\",\"container_name\":\"w\\neb\""));
	sb_free(&sb);
}

/*
 * The largest bind record there can be (an EADDRINUSE bind with its holder,
 * a CGROUP_PATH_MAX path, every name at its limit, every byte escaped to
 * \u00XX) still fits one syslog datagram.
 */
static void test_container_record_bound(void **state)
{
	static char cgroup[CGROUP_PATH_MAX + 1], value[CONTAINER_IMAGE_MAX + 1];
	static char image[CONTAINER_IMAGE_MAX + 1];
	struct v6t_event e = make_bind(AF_INET6, "fe80::1", 1, 80, -EADDRINUSE);
	struct holder h = {.pid = 1, .family = AF_INET6};
	struct container_info names = {.id = DOCKER_ID, .runtime = CONTAINER_RUNTIME_CRIO};
	struct event_info info = {
		.cgroup = cgroup,
		.container = DOCKER_ID,
		.names = &names,
		.holder_lookup = HOLDER_FOUND,
		.held_by = &h,
		.ifname = "\001\001\001\001\001\001\001\001\001\001\001\001\001\001\001"};
	struct strbuf sb = {0};

	(void)state;
	memset(cgroup, 1, CGROUP_PATH_MAX);
	memset(value, 1, CONTAINER_VALUE_MAX);
	memset(image, 1, CONTAINER_IMAGE_MAX);
	memset(e.comm, 1, sizeof(e.comm) - 1);
	memset(h.comm, 1, sizeof(h.comm) - 1);
	e.ifindex = 4294967295u;
	names.name = names.pod_name = names.pod_namespace = names.pod_uid = names.pod_container =
		value;
	names.image = image;
	format_event_json(&sb, &e, &info, &fmt);
	assert_non_null(strstr(sb.data, "\"pod_container\":\"\\u0001"));
	print_message("the largest bind record: %zu bytes of %d\n", sb.len, SUMMARY_MAX_BYTES);
	assert_true(sb.len <= SUMMARY_MAX_BYTES);
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_layout),
		cmocka_unit_test(test_classify_stack),
		cmocka_unit_test(test_stack_rule),
		cmocka_unit_test(test_wildcard_and_mapped),
		cmocka_unit_test(test_addr_strings),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_text_escape),
		cmocka_unit_test(test_comm_not_utf8),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_json_bind),
		cmocka_unit_test(test_json_accept),
		cmocka_unit_test(test_json_hostile_comm),
		cmocka_unit_test(test_text_rows),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_summary_lookups),
		cmocka_unit_test(test_summary_names),
		cmocka_unit_test(test_summary_folds),
		cmocka_unit_test(test_summary_record_limit),
		cmocka_unit_test(test_container_ids),
		cmocka_unit_test(test_cgroup_walk),
		cmocka_unit_test(test_cgroup_cache_bounded),
		cmocka_unit_test(test_cgroup_from_proc),
		cmocka_unit_test(test_connect_listen),
		cmocka_unit_test(test_json_provenance),
		cmocka_unit_test(test_summary_unknown_stack),
		cmocka_unit_test(test_held_by),
		cmocka_unit_test(test_socket_records),
		cmocka_unit_test(test_scoped),
		cmocka_unit_test(test_event_info),
		cmocka_unit_test(test_core_names),
		cmocka_unit_test(test_core_btf_copy),
		cmocka_unit_test(test_array),
		cmocka_unit_test(test_helper_proto),
		cmocka_unit_test(test_pod_uid),
		cmocka_unit_test(test_container_runtimes),
		cmocka_unit_test(test_container_hostile_files),
		cmocka_unit_test(test_container_cache),
		cmocka_unit_test(test_container_filters),
		cmocka_unit_test(test_container_output),
		cmocka_unit_test(test_container_record_bound),
		cmocka_unit_test(test_metrics_escape),
		cmocka_unit_test(test_metrics_format),
		cmocka_unit_test(test_metrics_bounded),
		cmocka_unit_test(test_metrics_write_file),
	};

	return cmocka_run_group_tests_name("unit", tests, NULL, NULL);
}
