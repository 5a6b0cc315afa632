// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "netns.h"

bool netns_is_net(int fd)
{
	return ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET;
}

/* A namespace file that is still the namespace inode (of the device of ours) */
static int open_netns_file(const char *path, uint32_t inode, dev_t dev)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0 && (fstat(fd, &st) || st.st_ino != inode || st.st_dev != dev)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* A file of namespace inode among DIR/NAME<suffix>: /run/netns/NAME, /proc/PID/ns/net */
static int find_netns_file(const char *dir, const char *suffix, uint32_t inode, dev_t dev)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);
	int fd = -1;

	while (d && fd < 0 && (de = readdir(d))) {
		if (de->d_name[0] != '.' &&
		    snprintf(path, sizeof(path), "%s/%s%s", dir, de->d_name, suffix) < PATH_MAX)
			fd = open_netns_file(path, inode, dev);
	}
	if (d)
		closedir(d);
	return fd;
}

int netns_open_by_inode(const char *path, uint32_t inode)
{
	struct stat self;
	int fd = -1;

	if (stat("/proc/self/ns/net", &self))
		return -1;
	if (path)
		fd = open_netns_file(path, inode, self.st_dev);
	if (fd < 0)
		fd = find_netns_file("/run/netns", "", inode, self.st_dev);
	if (fd < 0)
		fd = find_netns_file("/proc", "/ns/net", inode, self.st_dev);
	return fd;
}

int netns_open_of_pid(uint32_t pid, uint32_t netns)
{
	char path[64];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &st) || st.st_ino != netns)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

bool netns_enter(uint32_t netns, uint32_t pid, uint32_t own_netns, int *fd)
{
	*fd = netns == own_netns ? -1 : netns_open_of_pid(pid, netns);
	return netns == own_netns || *fd >= 0;
}
