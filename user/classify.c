// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "classify.h"
#include "stack.h"

static const __u8 mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool v6t_addr_is_mapped(const __u8 addr[16])
{
	return memcmp(addr, mapped_prefix, sizeof(mapped_prefix)) == 0;
}

static bool all_zero(const __u8 *p, size_t len)
{
	while (len--) {
		if (*p++)
			return false;
	}
	return true;
}

bool v6t_addr_is_wildcard(__u16 family, const __u8 addr[16])
{
	if (family == AF_INET)
		return all_zero(addr, 4);
	if (v6t_addr_is_mapped(addr)) /* ::ffff:0.0.0.0 binds INADDR_ANY */
		return all_zero(addr + 12, 4);
	return all_zero(addr, 16);
}

bool v6t_event_has_peer(const struct v6t_event *e)
{
	if (e->type == V6T_EVENT_SOCKET)
		return e->state == V6T_TCP_ESTABLISHED;
	return e->type == V6T_EVENT_ACCEPT || e->type == V6T_EVENT_CONNECT;
}

bool v6t_event_mapped(const struct v6t_event *e)
{
	return e->family == AF_INET6 && v6t_event_has_peer(e) && v6t_addr_is_mapped(e->raddr);
}

const char *v6t_event_name(__u16 type)
{
	switch (type) {
	case V6T_EVENT_BIND:
		return "bind";
	case V6T_EVENT_ACCEPT:
		return "accept";
	case V6T_EVENT_CONNECT:
		return "connect";
	case V6T_EVENT_LISTEN:
		return "listen";
	case V6T_EVENT_SOCKET:
		return "socket";
	}
	return "unknown";
}

const char *v6t_state_name(__u8 state)
{
	switch (state) {
	case V6T_TCP_ESTABLISHED:
		return "established";
	case V6T_TCP_LISTEN:
		return "listen";
	case V6T_TCP_CLOSE:
		return "bound"; /* a bound UDP socket, as ss -lu lists it (UNCONN) */
	}
	return "other";
}

enum v6t_stack v6t_classify_stack(const struct v6t_event *e)
{
	return (enum v6t_stack)v6t_stack_rule(e, v6t_event_has_peer(e));
}

const char *v6t_stack_name(enum v6t_stack stack)
{
	switch (stack) {
	case V6T_STACK_V4:
		return "v4";
	case V6T_STACK_V6:
		return "v6";
	case V6T_STACK_DUAL:
		return "dual";
	}
	return "?";
}

bool v6t_port_listed(const __u16 *ports, size_t n, __u16 port)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ports[i] == port)
			return true;
	}
	return false;
}

const char *v6t_family_name(__u16 family)
{
	return family == AF_INET6 ? "inet6" : family == AF_INET ? "inet" : "other";
}

const char *v6t_proto_name(__u16 protocol)
{
	switch (protocol) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_MPTCP:
		return "mptcp";
	default:
		return "other";
	}
}

const char *v6t_netstat_proto(__u16 family, __u16 protocol)
{
	bool v6 = family == AF_INET6;

	switch (protocol) {
	case IPPROTO_TCP:
		return v6 ? "tcp6" : "tcp";
	case IPPROTO_UDP:
		return v6 ? "udp6" : "udp";
	case IPPROTO_MPTCP:
		return "mptcp"; /* as ss names it, whatever the family */
	default:
		/* not "raw": that is SOCK_RAW, and the type is not in the record */
		return v6 ? "other6" : "other";
	}
}

/*
 * a.b.c.d into out, NUL-terminated; returns the end. glibc's inet_ntop writes
 * IPv4 (and the tail of ::ffff:a.b.c.d) with sprintf, which was a fifth of the
 * formatters' time (perf, make bench): every accept and connect record of a
 * tcp6 socket talking IPv4 has three such addresses.
 */
static char *ipv4_string(const __u8 a[4], char *out)
{
	int i;

	for (i = 0; i < 4; i++) {
		unsigned int v = a[i];

		if (v >= 100)
			*out++ = (char)('0' + v / 100);
		if (v >= 10)
			*out++ = (char)('0' + v / 10 % 10);
		*out++ = (char)('0' + v % 10);
		*out++ = i < 3 ? '.' : '\0';
	}
	return out - 1;
}

void v6t_addr_string(__u16 family, const __u8 addr[16], char out[V6T_ADDR_STRLEN])
{
	if (family == AF_INET) {
		ipv4_string(addr, out);
	} else if (family == AF_INET6 && v6t_addr_is_mapped(addr)) {
		memcpy(out, "::ffff:", 7); /* as inet_ntop writes it (RFC 5952) */
		ipv4_string(addr + 12, out + 7);
	} else if (family != AF_INET6 || !inet_ntop(AF_INET6, addr, out, V6T_ADDR_STRLEN)) {
		strcpy(out, "?");
	}
}

void v6t_mapped_v4_string(const __u8 addr[16], char out[V6T_ADDR_STRLEN])
{
	ipv4_string(addr + 12, out);
}

const char *v6t_ret_error(__s32 ret, char *buf, size_t len)
{
	if (ret < -4095) { /* no errno: not negated, it could be INT_MIN */
		snprintf(buf, len, "E%lld", -(long long)ret);
		return buf;
	}
	return v6t_errno_name(-ret, buf, len);
}

const char *v6t_errno_name(int err, char *buf, size_t len)
{
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(buf, len, "E%d", err);
	return buf;
}
