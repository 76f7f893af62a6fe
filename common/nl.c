/* SPDX-License-Identifier: Apache-2.0 */
#include "nl.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct mnl_socket *nl_route_open(void)
{
	/*
	 * Non-blocking and unbound (the kernel binds on the first send): rtnetlink
	 * answers a request before sendto() returns, so the reply is already
	 * queued when we read it - nothing to wait for, two syscalls saved.
	 */
	return mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

struct nlmsghdr *nl_request(char *buf, size_t zero, uint16_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, zero);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	return nlh;
}

void nl_close(struct mnl_socket *nl)
{
	if (nl)
		mnl_socket_close(nl);
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	bool *up = data;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_ERROR;
	*up = (ifi->ifi_flags & IFF_UP) != 0;
	return MNL_CB_OK;
}

int nl_link_is_up(struct mnl_socket *nl, const char *ifname, bool *up)
{
	char buf[8192]; /* one RTM_NEWLINK reply, statistics skipped */
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	unsigned int seq = (unsigned int)time(NULL);
	ssize_t n;
	int ret;

	if (strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	/* no NLM_F_ACK: the one reply is the link, or an error for a missing one */
	nlh = nl_request(buf, 256, RTM_GETLINK, 0, seq);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	/* only the link itself, not its statistics */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	*up = false;
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	/* portid 0: the socket was bound by the kernel, skip the sender check */
	ret = mnl_cb_run(buf, (size_t)n, seq, 0, link_cb, up);
	return ret < 0 ? -errno : 0;
}
