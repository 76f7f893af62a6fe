/* SPDX-License-Identifier: Apache-2.0 */
#include "sockdiag.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

struct mnl_socket *sd_open(void)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
	struct timeval tv = { .tv_sec = 1 };

	if (!nl)
		return NULL;
	/* the kernel answers at once; a bound wait keeps callers from ever hanging */
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		mnl_socket_close(nl);
		errno = e;
		return NULL;
	}
	return nl;
}

struct dump_ctx {
	int protocol;
	sd_cb cb;
	void *data;
	int stopped;
};

static void fill_addr(struct sockaddr_storage *ss, int family, const __be32 *addr, __be16 port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, addr, 16);
		s6->sin6_port = port;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, addr, 4);
		s4->sin_port = port;
	}
}

static int diag_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct sd_sock s;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return MNL_CB_ERROR;
	memset(&s, 0, sizeof(s));
	s.family = m->idiag_family;
	s.protocol = c->protocol;
	s.state = m->idiag_state;
	s.inode = m->idiag_inode;
	s.uid = m->idiag_uid;
	fill_addr(&s.local, s.family, m->id.idiag_src, m->id.idiag_sport);
	fill_addr(&s.remote, s.family, m->id.idiag_dst, m->id.idiag_dport);
	if (c->cb(&s, c->data)) {
		c->stopped = 1;
		return MNL_CB_STOP;
	}
	return MNL_CB_OK;
}

int sd_dump(struct mnl_socket *nl, int family, int protocol, uint32_t states, sd_cb cb, void *data)
{
	char buf[16384];
	struct nlmsghdr *nlh;
	struct inet_diag_req_v2 *req;
	struct dump_ctx c = { protocol, cb, data, 0 };
	unsigned int seq = (unsigned int)time(NULL), portid = mnl_socket_get_portid(nl);
	ssize_t n;
	int ret;

	memset(buf, 0, 256);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = (uint8_t)family;
	req->sdiag_protocol = (uint8_t)protocol;
	req->idiag_states = states;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	/* a dump ends with NLMSG_DONE: loop until mnl_cb_run says stop */
	do {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, diag_cb, &c);
	} while (ret > MNL_CB_STOP);
	if (ret < 0)
		return -errno;
	if (c.stopped) {
		/* drain the rest of the dump so the socket can be reused */
		do {
			n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
			if (n < 0)
				break;
			ret = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
		} while (ret > MNL_CB_STOP);
	}
	return 0;
}

void sd_format_addr(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, cap, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, cap, "%s:%u", a, ntohs(s4->sin_port));
	}
}
