// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "facts.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(errno));
	exit(1);
}

unsigned long netns_inode(void)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		die("stat /proc/self/ns/net");
	return (unsigned long)st.st_ino;
}

static void comm_hex(char out[33])
{
	char comm[17] = "";
	size_t i;

	if (prctl(PR_GET_NAME, comm))
		die("PR_GET_NAME");
	for (i = 0; comm[i] && i < 16; i++)
		sprintf(out + 2 * i, "%02x", (unsigned char)comm[i]);
	out[2 * i] = '\0';
}

void record_head(const char *scenario, const char *event)
{
	char hex[33];

	comm_hex(hex);
	printf("{\"scenario\":\"%s\",\"event\":\"%s\",\"pid\":%d,\"tid\":%ld,\"uid\":%u,"
	       "\"comm_hex\":\"%s\",\"netns\":%lu",
	       scenario, event, getpid(), (long)syscall(SYS_gettid), getuid(), hex, netns_inode());
}

void sockaddr_text(const struct sockaddr_storage *ss, char *addr, size_t len, unsigned int *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, addr, (socklen_t)len);
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, addr, (socklen_t)len);
		*port = ntohs(s4->sin_port);
	}
}

socklen_t sockaddr_of(int family, const char *addr, unsigned int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			die(addr);
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			die(addr);
		return sizeof(*s4);
	}
}

unsigned int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN];
	unsigned int port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		die("getsockname");
	sockaddr_text(&ss, addr, sizeof(addr), &port);
	return port;
}

int v6only_of(int fd)
{
	int val = 0;
	socklen_t len = sizeof(val);

	if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &val, &len))
		die("getsockopt IPV6_V6ONLY");
	return val;
}

const char *proto_of(int fd)
{
	int val = 0;
	socklen_t len = sizeof(val);

	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &val, &len))
		die("getsockopt SO_PROTOCOL");
	switch (val) {
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

int somaxconn(void)
{
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
	int val = 4096;

	if (f) {
		if (fscanf(f, "%d", &val) != 1)
			val = 4096;
		fclose(f);
	}
	return val;
}

void loopback_up(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		die("socket");
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		die("SIOCGIFFLAGS lo");
	if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			die("SIOCSIFFLAGS lo");
	}
	close(fd);
}
