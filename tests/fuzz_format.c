// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: arbitrary ring-buffer records, cgroup paths, container
 * ids, container and pod names and holder names through the decoder's checks
 * and both formatters, and cgroup paths through the pod uid parser.
 * Every JSON record must parse with a real JSON parser (json-c, strict, UTF-8
 * validated) as one object; every text line must be one line of printable
 * ASCII. Any violation aborts, which libFuzzer reports with the input.
 *
 *   make fuzz                  a long run (FUZZ_TIME seconds)
 *   (make test runs a short one)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <json-c/json.h>
#include "classify.h"
#include "containers.h"
#include "format.h"
#include "summary.h"

static void check_json(const struct strbuf *sb)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;
	const char *nl = memchr(sb->data, '\n', sb->len);

	if (!tok || !nl || (size_t)(nl - sb->data) + 1 != sb->len) {
		fprintf(stderr, "JSON record is not exactly one line: %.*s\n", (int)sb->len,
			sb->data);
		abort();
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, sb->data, (int)sb->len - 1);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != sb->len - 1 ||
	    !json_object_is_type(obj, json_type_object)) {
		fprintf(stderr, "invalid JSON (%s): %.*s\n",
			json_tokener_error_desc(json_tokener_get_error(tok)), (int)sb->len,
			sb->data);
		abort();
	}
	json_object_put(obj);
	json_tokener_free(tok);
}

/* lines: how many lines sb must be; each must end with its newline */
static void check_text(const struct strbuf *sb, bool one_line)
{
	size_t i;

	for (i = 0; i < sb->len; i++) {
		unsigned char c = (unsigned char)sb->data[i];

		if ((c < 0x20 || c >= 0x7f) && !(c == '\n' && (i == sb->len - 1 || !one_line))) {
			fprintf(stderr, "byte 0x%02x at %zu of a text line: %.*s\n", c, i,
				(int)sb->len, sb->data);
			abort();
		}
	}
	if (!sb->len || sb->data[sb->len - 1] != '\n') {
		fprintf(stderr, "text line without its newline\n");
		abort();
	}
}

/* v6trace's address strings are inet_ntop's, byte for byte */
static void check_addr(int family, const __u8 addr[16])
{
	char ours[V6T_ADDR_STRLEN], libc[V6T_ADDR_STRLEN];

	v6t_addr_string((__u16)family, addr, ours);
	if (!inet_ntop(family, addr, libc, sizeof(libc)) || strcmp(ours, libc)) {
		fprintf(stderr, "address: ours %s, inet_ntop %s\n", ours, libc);
		abort();
	}
}

/* Up to max bytes of the input, as a NUL-terminated string (may hold anything). */
static const char *take(const uint8_t **p, size_t *left, char *buf, size_t max)
{
	size_t n;

	if (!*left)
		return NULL;
	n = **p % max;
	(*p)++;
	(*left)--;
	if (n > *left)
		n = *left;
	memcpy(buf, *p, n);
	buf[n] = '\0';
	*p += n;
	*left -= n;
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct format_opts opts = {.timestamps = true};
	char cgroup[256], container[80], ifname[V6T_IFNAME_LEN], names[7][64];
	char uid[V6T_POD_UID_LEN + 1];
	struct container_info ci = {0};
	struct summary sum = {0};
	struct strbuf sb = {0};
	struct v6t_event e;
	struct holder h = {0};
	struct event_info info = {0};
	const uint8_t *p = data + sizeof(e);
	size_t left;

	if (size < sizeof(e)) /* the loop skips short records; counted, never decoded */
		return 0;
	memcpy(&e, data, sizeof(e));
	left = size - sizeof(e);
	info.cgroup = take(&p, &left, cgroup, sizeof(cgroup));
	info.container = take(&p, &left, container, sizeof(container));
	info.ifname = take(&p, &left, ifname, sizeof(ifname));
	/* the names as any runtime's file may hold them: any bytes but NUL */
	ci.name = (char *)take(&p, &left, names[0], sizeof(names[0]));
	ci.image = (char *)take(&p, &left, names[1], sizeof(names[1]));
	ci.pod_name = (char *)take(&p, &left, names[2], sizeof(names[2]));
	ci.pod_namespace = (char *)take(&p, &left, names[3], sizeof(names[3]));
	ci.pod_uid = (char *)take(&p, &left, names[4], sizeof(names[4]));
	ci.pod_container = (char *)take(&p, &left, names[5], sizeof(names[5]));
	if (take(&p, &left, names[6], sizeof(names[6])))
		ci.runtime = (enum container_runtime)((unsigned char)names[6][0] % 6);
	info.names = &ci;
	if (pod_uid_of(info.cgroup, uid) && (strlen(uid) != V6T_POD_UID_LEN ||
					     strspn(uid, "0123456789abcdef-") != V6T_POD_UID_LEN)) {
		fprintf(stderr, "pod uid %s of %s\n", uid, info.cgroup);
		abort();
	}
	if (left >= 20) {
		memcpy(&h, p, 20); /* pid, comm, family: any bytes */
		p += 20;
		left -= 20;
		info.held_by = &h;
		info.holder_lookup = HOLDER_FOUND;
	}
	info.inode = e.ifindex;
	check_addr(AF_INET, e.laddr);
	check_addr(AF_INET6, e.laddr);
	check_addr(AF_INET6, e.raddr);

	format_event_json(&sb, &e, &info, &opts);
	check_json(&sb);
	sb_reset(&sb);
	format_event_text(&sb, &e, &info, &opts);
	check_text(&sb, true);
	sb_reset(&sb);

	summary_add(&sum, &e);
	sum.lost = e.ts_ns;
	summary_format_json(&sum, &sb, (int64_t)e.ts_ns);
	check_json(&sb);
	sb_reset(&sb);
	summary_format_text(&sum, &sb);
	check_text(&sb, false);
	summary_free(&sum);
	sb_free(&sb);
	return 0;
}
