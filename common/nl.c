/* SPDX-License-Identifier: Apache-2.0 */
#include "nl.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "netns.h"

/* room for a dump's batch of messages */
#define NL_BUF 32768

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

static int open_route_sock(void *arg)
{
	struct mnl_socket **nl = arg;

	*nl = nl_route_open();
	return *nl ? 0 : -errno;
}

int nl_open_in(int nsfd, struct mnl_socket **nl)
{
	int ret;

	*nl = NULL;
	ret = netns_run_in(nsfd, open_route_sock, nl);
	if (ret == -ENOTRECOVERABLE) {
		nl_close(*nl);
		*nl = NULL;
	}
	return ret;
}

unsigned int nl_next_seq(void)
{
	static unsigned int seq;

	if (!seq)
		seq = (unsigned int)time(NULL);
	return ++seq;
}

int nl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh,
	    int (*cb)(const struct nlmsghdr *nlh, void *data), void *data)
{
	char buf[NL_BUF];
	unsigned int portid = mnl_socket_get_portid(nl), seq = nlh->nlmsg_seq;
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
	} while (ret > MNL_CB_STOP);
	return ret < 0 ? -errno : 0;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (type == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int link_query_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { NULL };
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct nl_link_q *q = data;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	q->index = (uint32_t)ifi->ifi_index;
	q->flags = ifi->ifi_flags;
	if (tb[IFLA_IFNAME])
		snprintf(q->name, sizeof(q->name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	return MNL_CB_OK;
}

int nl_link(struct mnl_socket *nl, struct nl_link_q *q)
{
	char buf[512];
	struct nlmsghdr *nlh = nl_request(buf, 512, RTM_GETLINK, NLM_F_ACK, nl_next_seq());
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	if (q->index)
		ifi->ifi_index = (int)q->index;
	else
		mnl_attr_put_strz(nlh, IFLA_IFNAME, q->name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return nl_talk(nl, nlh, link_query_cb, q);
}
