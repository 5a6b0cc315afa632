// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "classify.h"
#include "containers.h"
#include "format.h"

/* ---- string buffer ----------------------------------------------------- */

static void sb_reserve(struct strbuf *sb, size_t more)
{
	size_t need = sb->len + more + 1;
	char *data;

	if (need <= sb->cap)
		return;
	if (need < 256)
		need = 256;
	if (need < sb->cap * 2)
		need = sb->cap * 2;
	data = realloc(sb->data, need);
	if (!data) {
		fputs("v6trace: out of memory\n", stderr);
		exit(1);
	}
	sb->data = data;
	sb->cap = need;
}

void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->data)
		sb->data[0] = '\0';
}

void sb_free(struct strbuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
}

void sb_append(struct strbuf *sb, const char *s, size_t len)
{
	sb_reserve(sb, len);
	memcpy(sb->data + sb->len, s, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

void sb_puts(struct strbuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	size_t room;
	va_list ap;
	int n;

	sb_reserve(sb, 64);
	room = sb->cap - sb->len;
	va_start(ap, fmt);
	n = vsnprintf(sb->data + sb->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= room) { /* did not fit: grow and format again */
		sb_reserve(sb, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
}

/* Decimal digits without printf: the JSON formatter's hot path. */
static void sb_u64(struct strbuf *sb, unsigned long long v)
{
	char digits[24], *p = digits + sizeof(digits);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sb_append(sb, p, (size_t)(digits + sizeof(digits) - p));
}

static void sb_i64(struct strbuf *sb, long long v)
{
	if (v < 0) {
		sb_append(sb, "-", 1);
		sb_u64(sb, 0ULL - (unsigned long long)v);
	} else {
		sb_u64(sb, (unsigned long long)v);
	}
}

/* ,"key":<unsigned> and ,"key":"<text that needs no escaping>" */
#define sb_lit(sb, lit) sb_append(sb, lit, sizeof(lit) - 1)
#define json_uint(sb, key, v)                                                                      \
	do {                                                                                       \
		sb_lit(sb, ",\"" key "\":");                                                       \
		sb_u64(sb, v);                                                                     \
	} while (0)
#define json_str(sb, key, v)                                                                       \
	do {                                                                                       \
		sb_lit(sb, ",\"" key "\":\"");                                                     \
		sb_puts(sb, v);                                                                    \
		sb_lit(sb, "\"");                                                                  \
	} while (0)
#define json_raw(sb, key, v)                                                                       \
	do {                                                                                       \
		sb_lit(sb, ",\"" key "\":");                                                       \
		sb_puts(sb, v);                                                                    \
	} while (0)

/* ---- escaping ---------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (RFC 3629), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t n, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0; /* overlong, out of range, or a surrogate */
	return n;
}

bool json_escape(struct strbuf *sb, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	bool valid = true;
	size_t i = 0, n;

	while (i < len) {
		unsigned char c = p[i];
		size_t run = i;

		/* copy a run of characters that need no escaping in one go */
		while (run < len && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' &&
		       p[run] != '\\')
			run++;
		if (run > i) {
			sb_append(sb, (const char *)p + i, run - i);
			i = run;
			continue;
		}
		switch (c) {
		case '"':
			sb_puts(sb, "\\\"");
			break;
		case '\\':
			sb_puts(sb, "\\\\");
			break;
		case '\n':
			sb_puts(sb, "\\n");
			break;
		case '\r':
			sb_puts(sb, "\\r");
			break;
		case '\t':
			sb_puts(sb, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				sb_printf(sb, "\\u%04x", c);
			} else if (c < 0x80) {
				sb_append(sb, (const char *)&c, 1);
			} else if ((n = utf8_seq_len(p + i, len - i)) != 0) {
				sb_append(sb, (const char *)p + i, n);
				i += n;
				continue;
			} else {
				sb_puts(sb, "\\ufffd");
				valid = false;
			}
		}
		i++;
	}
	return valid;
}

void text_escape(struct strbuf *sb, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\')
			sb_puts(sb, "\\\\");
		else if (c >= 0x20 && c < 0x7f)
			sb_append(sb, (const char *)&c, 1);
		else
			sb_printf(sb, "\\x%02x", c);
	}
}

static size_t comm_len(const char comm[V6T_COMM_LEN])
{
	return strnlen(comm, V6T_COMM_LEN);
}

void json_comm(struct strbuf *sb, const char *key, const char comm[V6T_COMM_LEN])
{
	size_t len = comm_len(comm), i;

	sb_lit(sb, ",\"");
	sb_puts(sb, key);
	sb_lit(sb, "\":\"");
	if (json_escape(sb, comm, len)) {
		sb_puts(sb, "\"");
		return;
	}
	sb_printf(sb, "\",\"%s_hex\":\"", key);
	for (i = 0; i < len; i++)
		sb_printf(sb, "%02x", (unsigned char)comm[i]);
	sb_puts(sb, "\"");
}

void text_comm(struct strbuf *sb, const char comm[V6T_COMM_LEN])
{
	text_escape(sb, comm, comm_len(comm));
}

void rfc3339_utc(struct strbuf *sb, int64_t realtime_ns)
{
	/* gmtime_r + strftime per record dominated the formatter: events come in
	 * bursts within one second, so keep the last second's text. */
	static __thread time_t cached_sec = -1;
	static __thread char date[32];
	time_t sec = (time_t)(realtime_ns / 1000000000);
	long nsec = (long)(realtime_ns % 1000000000);
	char frac[11];
	struct tm tm;
	int i;

	if (nsec < 0) {
		nsec += 1000000000;
		sec -= 1;
	}
	if (sec != cached_sec) {
		if (!gmtime_r(&sec, &tm) || !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm))
			strcpy(date, "1970-01-01T00:00:00");
		cached_sec = sec;
	}
	sb_puts(sb, date);
	frac[0] = '.';
	for (i = 9; i >= 1; i--, nsec /= 10)
		frac[i] = (char)('0' + nsec % 10);
	frac[10] = 'Z';
	sb_append(sb, frac, sizeof(frac));
}

/* ---- records ----------------------------------------------------------- */

static int64_t event_realtime(const struct v6t_event *e, const struct format_opts *opts)
{
	return (int64_t)e->ts_ns + opts->mono_to_real_ns;
}

void json_record_head(struct strbuf *sb, int64_t realtime_ns, const char *event)
{
	sb_lit(sb, "{\"v\":");
	sb_u64(sb, V6T_JSON_VERSION);
	sb_lit(sb, ",\"ts\":\"");
	rfc3339_utc(sb, realtime_ns);
	sb_lit(sb, "\"");
	json_str(sb, "event", event);
}

static const char *json_bool(bool b)
{
	return b ? "true" : "false";
}

/* ,"key":"escaped" or ,"key":null */
static void json_str_or_null(struct strbuf *sb, const char *key, const char *val)
{
	sb_lit(sb, ",\"");
	sb_puts(sb, key);
	if (!val) {
		sb_lit(sb, "\":null");
		return;
	}
	sb_lit(sb, "\":\"");
	json_escape(sb, val, strlen(val));
	sb_lit(sb, "\"");
}

/* The call's socket is not known (V6T_FLAG_SOCKET_UNKNOWN): nor is anything of it. */
static bool socket_unknown(const struct v6t_event *e)
{
	return e->type != V6T_EVENT_SOCKET && (e->flags & V6T_FLAG_SOCKET_UNKNOWN);
}

/* A bind's local address and port are not known (V6T_FLAG_ADDR_UNKNOWN). */
static bool local_unknown(const struct v6t_event *e)
{
	return e->type == V6T_EVENT_BIND && (e->flags & V6T_FLAG_ADDR_UNKNOWN);
}

/*
 * The container id and its names: container_name, container_image,
 * container_runtime, pod_name, pod_namespace, pod_uid, pod_container (null:
 * unknown, or not in a container).
 */
static void json_container(struct strbuf *sb, const struct event_info *info)
{
	const struct container_info *n = info && info->container ? info->names : NULL;

	json_str_or_null(sb, "container", info ? info->container : NULL);
	json_str_or_null(sb, "container_name", n ? n->name : NULL);
	json_str_or_null(sb, "container_image", n ? n->image : NULL);
	json_str_or_null(sb, "container_runtime", n ? container_runtime_name(n->runtime) : NULL);
	json_str_or_null(sb, "pod_name", n ? n->pod_name : NULL);
	json_str_or_null(sb, "pod_namespace", n ? n->pod_namespace : NULL);
	json_str_or_null(sb, "pod_uid", n ? n->pod_uid : NULL);
	json_str_or_null(sb, "pod_container", n ? n->pod_container : NULL);
}

static void json_process(struct strbuf *sb, const struct v6t_event *e,
			 const struct event_info *info)
{
	bool unknown = socket_unknown(e);

	json_uint(sb, "pid", e->pid);
	json_uint(sb, "tid", e->tid);
	json_uint(sb, "uid", e->uid);
	json_comm(sb, "comm", e->comm);
	if (unknown)
		sb_lit(sb, ",\"netns\":null");
	else
		json_uint(sb, "netns", e->netns);
	json_uint(sb, "cgroup_id", e->cgroup_id);
	json_str_or_null(sb, "cgroup", info ? info->cgroup : NULL);
	json_container(sb, info);
	json_str_or_null(sb, "family", unknown ? NULL : v6t_family_name(e->family));
	json_str_or_null(sb, "proto", unknown ? NULL : v6t_proto_name(e->protocol));
}

/*
 * Where a bind's address (connect: the peer's) was read: "socket" (a bind's
 * socket after the call), "kernel" (the kernel's copy of the sockaddr; a
 * connect's: or the socket's own peer), "user" (the caller's memory:
 * tracepoint mode's failed binds and connects without a peer), null when
 * not known; "addr_changed" with "user"; "fd_changed" only when
 * the fd named another socket during the call. See enum v6t_event_flag.
 */
static void json_provenance(struct strbuf *sb, const struct v6t_event *e)
{
	const char *source = "kernel";

	if (e->flags & V6T_FLAG_ADDR_UNKNOWN)
		source = NULL;
	else if (e->flags & V6T_FLAG_ADDR_USER)
		source = "user";
	else if (e->type == V6T_EVENT_BIND && e->ret == 0)
		source = "socket";
	json_str_or_null(sb, "addr_source", source);
	if (e->flags & V6T_FLAG_ADDR_USER)
		json_raw(sb, "addr_changed", json_bool(e->flags & V6T_FLAG_ADDR_CHANGED));
	if (e->flags & V6T_FLAG_FD_CHANGED)
		sb_lit(sb, ",\"fd_changed\":true");
}

/* The class of a holder: what its socket serves, as a bind of it would be. */
static enum v6t_stack holder_stack(const struct holder *h)
{
	struct v6t_event e = {.type = V6T_EVENT_BIND, .family = h->family, .v6only = h->v6only};

	memcpy(e.laddr, h->addr, sizeof(e.laddr));
	return v6t_classify_stack(&e);
}

const char *v6t_holder_lookup_name(enum holder_lookup status)
{
	switch (status) {
	case HOLDER_FOUND:
		return "found";
	case HOLDER_NONE:
		return "none";
	case HOLDER_UNFINISHED:
		return "unfinished";
	case HOLDER_SKIPPED:
		return "skipped";
	case HOLDER_UNKNOWN:
		return "unknown";
	case HOLDER_UNAVAILABLE:
		return "unavailable";
	default:
		return NULL;
	}
}

/* How an EADDRINUSE bind's lookup ended, whatever the caller left unset. */
static enum holder_lookup lookup_of(const struct event_info *info)
{
	enum holder_lookup status = info ? info->holder_lookup : HOLDER_NOT_ASKED;

	if (status == HOLDER_FOUND && !info->held_by)
		return HOLDER_NONE;
	if (status == HOLDER_NOT_ASKED || status == HOLDER_WAITING ||
	    status >= HOLDER_LOOKUP_ANSWERS)
		return HOLDER_UNFINISHED; /* written without an answer */
	return status;
}

/* holder_lookup, and held_by: the holder, or null for the three other answers */
static void json_holder(struct strbuf *sb, const struct event_info *info)
{
	enum holder_lookup status = lookup_of(info);
	const struct holder *h = status == HOLDER_FOUND ? info->held_by : NULL;
	char addr[V6T_ADDR_STRLEN];

	json_str(sb, "holder_lookup", v6t_holder_lookup_name(status));
	if (!h) {
		sb_lit(sb, ",\"held_by\":null");
		return;
	}
	sb_lit(sb, ",\"held_by\":{\"pid\":");
	if (h->pid) {
		sb_u64(sb, h->pid);
		json_comm(sb, "comm", h->comm);
	} else {
		sb_lit(sb, "null,\"comm\":null");
	}
	v6t_addr_string(h->family, h->addr, addr);
	json_str(sb, "addr", addr);
	json_uint(sb, "port", h->port);
	json_str(sb, "stack", v6t_stack_name(holder_stack(h)));
	sb_lit(sb, "}");
}

static void json_result(struct strbuf *sb, const struct v6t_event *e)
{
	char ebuf[24];

	sb_lit(sb, ",\"ret\":");
	sb_i64(sb, e->ret);
	if (e->ret < 0)
		json_str(sb, "error", v6t_ret_error(e->ret, ebuf, sizeof(ebuf)));
}

/* ,"ifindex":N,"scope":"eth0" (or null): only for a socket bound to an interface */
static void json_scope(struct strbuf *sb, const struct v6t_event *e, const struct event_info *info)
{
	if (!e->ifindex)
		return;
	json_uint(sb, "ifindex", e->ifindex);
	json_str_or_null(sb, "scope", info ? info->ifname : NULL);
}

/* bind, listen, and listening or bound sockets: the local end and what it serves */
static void json_local_fields(struct strbuf *sb, const struct v6t_event *e,
			      const struct event_info *info)
{
	char addr[V6T_ADDR_STRLEN];

	if (local_unknown(e)) { /* nothing the kernel took: no address, so no class either */
		sb_lit(sb, ",\"addr\":null,\"port\":null");
		if (e->family == AF_INET6 && !socket_unknown(e))
			json_raw(sb, "v6only", json_bool(e->v6only));
		sb_lit(sb, ",\"wildcard\":null,\"stack\":null");
		return;
	}
	v6t_addr_string(e->family, e->laddr, addr);
	json_str(sb, "addr", addr);
	json_uint(sb, "port", e->lport);
	json_scope(sb, e, info);
	if (e->family == AF_INET6)
		json_raw(sb, "v6only", json_bool(e->v6only));
	json_raw(sb, "wildcard", json_bool(v6t_addr_is_wildcard(e->family, e->laddr)));
	json_str(sb, "stack", v6t_stack_name(v6t_classify_stack(e)));
}

/* accept, connect, established sockets: both ends and the IP version on the wire */
static void json_peer_fields(struct strbuf *sb, const struct v6t_event *e,
			     const struct event_info *info)
{
	char local[V6T_ADDR_STRLEN], peer[V6T_ADDR_STRLEN], v4[V6T_ADDR_STRLEN];
	bool mapped = v6t_event_mapped(e);

	if (socket_unknown(e)) {
		sb_lit(sb, ",\"local\":null,\"local_port\":null,\"peer\":null,\"peer_port\":null,"
			   "\"mapped\":null,\"stack\":null");
		return;
	}
	v6t_addr_string(e->family, e->laddr, local);
	v6t_addr_string(e->family, e->raddr, peer);
	json_str(sb, "local", local);
	json_uint(sb, "local_port", e->lport);
	json_scope(sb, e, info);
	json_str(sb, "peer", peer);
	json_uint(sb, "peer_port", e->rport);
	json_raw(sb, "mapped", json_bool(mapped));
	if (mapped) {
		v6t_mapped_v4_string(e->raddr, v4);
		json_str(sb, "peer_v4", v4);
	}
	json_str(sb, "stack", v6t_stack_name(v6t_classify_stack(e)));
}

/* A socket of the snapshot: its owner (if found), not a calling process. */
static void json_socket(struct strbuf *sb, const struct v6t_event *e, const struct event_info *info)
{
	if (e->pid) {
		json_uint(sb, "pid", e->pid);
		json_comm(sb, "comm", e->comm);
	} else {
		sb_lit(sb, ",\"pid\":null,\"comm\":null");
	}
	json_uint(sb, "uid", e->uid);
	json_uint(sb, "netns", e->netns);
	json_uint(sb, "inode", info ? info->inode : 0);
	json_container(sb, info);
	json_str(sb, "family", v6t_family_name(e->family));
	json_str(sb, "proto", v6t_proto_name(e->protocol));
	json_str(sb, "state", v6t_state_name(e->state));
	if (v6t_event_has_peer(e))
		json_peer_fields(sb, e, info);
	else
		json_local_fields(sb, e, info);
}

void format_event_json(struct strbuf *sb, const struct v6t_event *e, const struct event_info *info,
		       const struct format_opts *opts)
{
	json_record_head(sb, event_realtime(e, opts), v6t_event_name(e->type));
	if (e->type == V6T_EVENT_SOCKET) {
		json_socket(sb, e, info);
		sb_puts(sb, "}\n");
		return;
	}
	json_process(sb, e, info);
	switch (e->type) {
	case V6T_EVENT_BIND:
		json_local_fields(sb, e, info);
		json_provenance(sb, e);
		json_result(sb, e);
		if (e->ret == -EADDRINUSE)
			json_holder(sb, info);
		break;
	case V6T_EVENT_LISTEN:
		json_local_fields(sb, e, info);
		if (e->flags & V6T_FLAG_FD_CHANGED)
			sb_lit(sb, ",\"fd_changed\":true");
		json_uint(sb, "backlog", e->backlog);
		json_result(sb, e);
		break;
	case V6T_EVENT_ACCEPT:
		json_peer_fields(sb, e, info);
		break;
	case V6T_EVENT_CONNECT:
		json_peer_fields(sb, e, info);
		json_provenance(sb, e);
		json_result(sb, e);
		break;
	}
	sb_puts(sb, "}\n");
}

void format_start_json(struct strbuf *sb, const struct start_info *info)
{
	json_record_head(sb, info->realtime_ns, "start");
	sb_puts(sb, ",\"version\":\"");
	json_escape(sb, info->version, strlen(info->version));
	sb_printf(sb, "\",\"mode\":\"%s\",\"kernel\":\"", info->mode);
	json_escape(sb, info->kernel, strlen(info->kernel));
	sb_puts(sb, "\",\"bindv6only\":");
	if (info->bindv6only < 0)
		sb_puts(sb, "null");
	else
		sb_printf(sb, "%d", info->bindv6only);
	sb_puts(sb, "}\n");
}

void format_lost_json(struct strbuf *sb, int64_t realtime_ns, uint64_t count)
{
	json_record_head(sb, realtime_ns, "lost");
	sb_printf(sb, ",\"count\":%llu}\n", (unsigned long long)count);
}

/* ---- text ---------------------------------------------------------------- */

/* PID COMM EVENT PROTO LOCAL PEER STACK RESULT; COMM is written separately (escaped) */
#define TEXT_PID  "%-7s "
#define TEXT_COMM 16
#define TEXT_REST " %-7s %-5s %-30s %-22s %-5s %s"

void format_text_header(struct strbuf *sb, const struct format_opts *opts)
{
	if (opts->timestamps)
		sb_printf(sb, "%-15s ", "TIME");
	sb_printf(sb, TEXT_PID "%-16s" TEXT_REST "\n", "PID", "COMM", "EVENT", "PROTO", "LOCAL",
		  "PEER", "STACK", "RESULT");
}

/* 0.0.0.0:80 or [::]:80 */
static void endpoint_string(char *out, size_t len, __u16 family, const __u8 addr[16], __u16 port)
{
	char a[V6T_ADDR_STRLEN];

	v6t_addr_string(family, addr, a);
	snprintf(out, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

/*
 * The local end, with the interface a socket is bound to as ss writes it:
 * 0.0.0.0%eth0:80, and inside the brackets for inet6 (RFC 4007):
 * [fe80::1%eth0]:80. The name is escaped; the index when it is unknown.
 */
static void local_endpoint(char *out, size_t len, const struct v6t_event *e,
			   const struct event_info *info)
{
	char a[V6T_ADDR_STRLEN];
	struct strbuf scope = {0};

	if (!e->ifindex) {
		endpoint_string(out, len, e->family, e->laddr, e->lport);
		return;
	}
	if (info && info->ifname)
		text_escape(&scope, info->ifname, strnlen(info->ifname, V6T_IFNAME_LEN));
	else
		sb_printf(&scope, "%u", e->ifindex);
	v6t_addr_string(e->family, e->laddr, a);
	snprintf(out, len, e->family == AF_INET6 ? "[%s%%%s]:%u" : "%s%%%s:%u", a, scope.data,
		 e->lport);
	sb_free(&scope);
}

static void text_time(struct strbuf *sb, int64_t realtime_ns)
{
	time_t sec = (time_t)(realtime_ns / 1000000000);
	struct tm tm;
	char hms[16];

	if (!localtime_r(&sec, &tm) || !strftime(hms, sizeof(hms), "%H:%M:%S", &tm))
		strcpy(hms, "??:??:??");
	sb_printf(sb, "%s.%06ld ", hms, (long)(realtime_ns % 1000000000) / 1000);
}

void text_comm_column(struct strbuf *sb, const char comm[V6T_COMM_LEN])
{
	size_t start = sb->len;

	text_comm(sb, comm);
	while (sb->len - start < TEXT_COMM)
		sb_append(sb, " ", 1);
}

/*
 * " held by PID COMM [::]:80 dual"; " held by nobody" when nothing holds the
 * port any more; " held by ? (lookup unfinished)", "(lookup skipped)", "(lookup
 * unknown)" (its namespace could not be looked in) or "(lookup unavailable)".
 */
static void text_holder(struct strbuf *sb, const struct event_info *info)
{
	enum holder_lookup status = lookup_of(info);
	const struct holder *h = status == HOLDER_FOUND ? info->held_by : NULL;
	char where[64];

	if (!h) {
		if (status == HOLDER_NONE)
			sb_lit(sb, " held by nobody");
		else if (status == HOLDER_SKIPPED)
			sb_lit(sb, " held by ? (lookup skipped)");
		else if (status == HOLDER_UNKNOWN)
			sb_lit(sb, " held by ? (lookup unknown)");
		else if (status == HOLDER_UNAVAILABLE)
			sb_lit(sb, " held by ? (lookup unavailable)");
		else
			sb_lit(sb, " held by ? (lookup unfinished)");
		return;
	}
	sb_lit(sb, " held by ");
	if (h->pid) {
		sb_u64(sb, h->pid);
		sb_lit(sb, " ");
		text_comm(sb, h->comm);
	} else {
		sb_lit(sb, "? ?");
	}
	endpoint_string(where, sizeof(where), h->family, h->addr, h->port);
	sb_printf(sb, " %s %s", where, v6t_stack_name(holder_stack(h)));
}

/*
 * What the record knows less well than the kernel, when it is the exception
 * (enum v6t_event_flag; JSON says where every address came from):
 * " addr-changed" (the caller's sockaddr changed during the call),
 * " fd-changed", " socket=?".
 */
static void text_provenance(struct strbuf *sb, const struct v6t_event *e)
{
	if (e->type == V6T_EVENT_SOCKET)
		return;
	if ((e->flags & V6T_FLAG_ADDR_USER) && (e->flags & V6T_FLAG_ADDR_CHANGED))
		sb_lit(sb, " addr-changed");
	if (e->flags & V6T_FLAG_FD_CHANGED)
		sb_lit(sb, " fd-changed");
	if (e->flags & V6T_FLAG_SOCKET_UNKNOWN)
		sb_lit(sb, " socket=?");
}

/*
 * " container=NAME" (the runtime's name, else the pod's name of it, else the
 * first 12 characters of the id) and " pod=NAMESPACE/NAME" when known.
 */
static void text_container(struct strbuf *sb, const struct event_info *info)
{
	const struct container_info *n = info && info->container ? info->names : NULL;
	const char *name = n ? (n->name ? n->name : n->pod_container) : NULL;

	if (!info || !info->container)
		return;
	sb_lit(sb, " container=");
	if (name)
		text_escape(sb, name, strlen(name));
	else
		text_escape(sb, info->container, strnlen(info->container, V6T_SHORT_ID_LEN));
	if (n && n->pod_name) {
		sb_lit(sb, " pod=");
		if (n->pod_namespace) {
			text_escape(sb, n->pod_namespace, strlen(n->pod_namespace));
			sb_lit(sb, "/");
		}
		text_escape(sb, n->pod_name, strlen(n->pod_name));
	}
}

void format_event_text(struct strbuf *sb, const struct v6t_event *e, const struct event_info *info,
		       const struct format_opts *opts)
{
	char pid[16] = "-", local[128], peer[64] = "-", result[48] = "ok", v4[V6T_ADDR_STRLEN];
	char ebuf[24];
	bool mapped = v6t_event_mapped(e);

	if (opts->timestamps)
		text_time(sb, event_realtime(e, opts));
	if (e->pid)
		snprintf(pid, sizeof(pid), "%u", e->pid);
	if (local_unknown(e) || socket_unknown(e))
		strcpy(local, "?");
	else
		local_endpoint(local, sizeof(local), e, info);
	if (mapped) {
		v6t_mapped_v4_string(e->raddr, v4);
		snprintf(peer, sizeof(peer), "%s:%u", v4, e->rport);
	} else if (socket_unknown(e) && v6t_event_has_peer(e)) {
		strcpy(peer, "?");
	} else if (v6t_event_has_peer(e)) {
		endpoint_string(peer, sizeof(peer), e->family, e->raddr, e->rport);
	}
	if (e->type == V6T_EVENT_SOCKET)
		snprintf(result, sizeof(result), "%s",
			 mapped ? "mapped" : v6t_state_name(e->state));
	else if (e->type != V6T_EVENT_ACCEPT && e->ret < 0)
		snprintf(result, sizeof(result), "%s%s", mapped ? "mapped," : "",
			 v6t_ret_error(e->ret, ebuf, sizeof(ebuf)));
	else if (mapped)
		strcpy(result, "mapped");
	sb_printf(sb, TEXT_PID, pid);
	if (e->type == V6T_EVENT_SOCKET && !e->pid)
		sb_printf(sb, "%-16s", "-");
	else
		text_comm_column(sb, e->comm);
	sb_printf(sb, TEXT_REST, v6t_event_name(e->type),
		  socket_unknown(e) ? "?" : v6t_netstat_proto(e->family, e->protocol), local, peer,
		  local_unknown(e) || socket_unknown(e) ? "?"
							: v6t_stack_name(v6t_classify_stack(e)),
		  result);
	if (e->type == V6T_EVENT_LISTEN && e->ret == 0)
		sb_printf(sb, " backlog=%u", e->backlog);
	if (e->type == V6T_EVENT_BIND && e->ret == -EADDRINUSE)
		text_holder(sb, info);
	text_container(sb, info);
	text_provenance(sb, e); /* last: the columns and the holder keep their places */
	sb_lit(sb, "\n");
}
