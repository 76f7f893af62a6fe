/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An interface's flags through a socket of its network namespace. An
 * interface ioctl answers for the netns its socket was created in, without
 * rtnetlink: no netlink socket, no request and reply, and no wait on the
 * rtnl lock that a busy node's netns teardown holds for milliseconds
 * (issue 18: the lo check of every Add). Never prints. Interface: ifflags.h.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ifflags.h"
#include "netns.h"

int if_is_up(int fd, const char *ifname, bool *up)
{
	struct ifreq ifr;

	if (strlen(ifname) >= sizeof(ifr.ifr_name))
		return -EINVAL;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	*up = (ifr.ifr_flags & IFF_UP) != 0;
	return 0;
}

/* A socket of the netns entered: the cheapest kind, it never leaves this host. */
static int open_unix(void *arg)
{
	int *fd = arg;

	*fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return *fd < 0 ? -errno : 0;
}

int if_is_up_in(int nsfd, const char *ifname)
{
	int fd = -1, ret = netns_run_in(nsfd, open_unix, &fd);
	bool up = false;

	if (!ret)
		ret = if_is_up(fd, ifname, &up);
	if (fd >= 0)
		close(fd);
	return ret ? ret : up;
}
