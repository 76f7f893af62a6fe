/* SPDX-License-Identifier: Apache-2.0 */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

int ns_fd_type(int fd)
{
	struct statfs sfs;
	int t = ioctl(fd, NS_GET_NSTYPE);

	if (t >= 0)
		return t;
	if (errno != ENOTTY && errno != EINVAL)
		return -errno;
	/*
	 * Kernels before 4.11 lack NS_GET_NSTYPE; an nsfs file there cannot be
	 * typed, so trust it and let setns(CLONE_NEWNET) reject a wrong kind.
	 */
	if (fstatfs(fd, &sfs) == 0 && sfs.f_type == NSFS_MAGIC)
		return CLONE_NEWNET;
	return -ENOTTY;
}

const char *ns_type_name(int nstype)
{
	switch (nstype) {
	case CLONE_NEWNET:
		return "net";
	case CLONE_NEWUTS:
		return "uts";
	case CLONE_NEWIPC:
		return "ipc";
	case CLONE_NEWNS:
		return "mnt";
	case CLONE_NEWPID:
		return "pid";
	case CLONE_NEWUSER:
		return "user";
	case CLONE_NEWCGROUP:
		return "cgroup";
#ifdef CLONE_NEWTIME
	case CLONE_NEWTIME:
		return "time";
#endif
	default:
		return "unknown";
	}
}

int netns_check_fd(int fd)
{
	int t = ns_fd_type(fd);

	if (t < 0)
		return t;
	return t == CLONE_NEWNET ? 0 : -EINVAL;
}

int netns_fd_id(int fd, struct netns_id *id)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static const char *netns_dir_name(const char *path)
{
	static const char *const dirs[] = { "/run/netns/", "/var/run/netns/" };
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		size_t n = strlen(dirs[i]);

		const char *rest = path + n;

		if (!strncmp(path, dirs[i], n) && *rest && !strchr(rest, '/') && strcmp(rest, ".") &&
		    strcmp(rest, ".."))
			return rest;
	}
	return NULL;
}

int netns_resolve(const char *spec, char *path, size_t cap, const char **name)
{
	int n;

	*name = NULL;
	if (!*spec || !strcmp(spec, ".") || !strcmp(spec, ".."))
		return -EINVAL;
	if (strchr(spec, '/')) {
		n = snprintf(path, cap, "%s", spec);
		*name = netns_dir_name(spec);
	} else if (all_digits(spec)) {
		n = snprintf(path, cap, "/proc/%s/ns/net", spec);
	} else {
		n = snprintf(path, cap, "/run/netns/%s", spec);
		*name = spec;
	}
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	return 0;
}

int netns_open_path(const char *path, int *nstype)
{
	/* O_NONBLOCK: a FIFO given as NETNS must fail the check, not hang the open */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int t;

	if (fd < 0)
		return -errno;
	t = ns_fd_type(fd);
	if (t == CLONE_NEWNET)
		return fd;
	close(fd);
	if (t < 0)
		return t;
	if (nstype)
		*nstype = t;
	return -EINVAL;
}

int netns_open_current(void)
{
	/* thread-self: setns() is per thread; the process's view may differ */
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int netns_current_id(struct netns_id *id)
{
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st) < 0)
		return -errno;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

int netns_enter(int fd)
{
	return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

int netns_return(int fd, const struct netns_id *home)
{
	struct netns_id id;
	int ret = netns_fd_id(fd, &id);

	if (ret)
		return ret;
	if (!netns_id_eq(&id, home))
		return -EIO;
	return netns_enter(fd);
}

int netns_run_in(int nsfd, int (*fn)(void *), void *arg)
{
	int own = netns_open_current(), ret, back;

	if (own < 0)
		return own;
	ret = netns_enter(nsfd);
	if (ret) {
		close(own);
		return ret;
	}
	ret = fn(arg);
	back = netns_enter(own);
	close(own);
	return back ? -ENOTRECOVERABLE : ret;
}
