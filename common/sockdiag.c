/* SPDX-License-Identifier: Apache-2.0 */
#include "sockdiag.h"
#include "nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

/* room for one exact lookup request (72 bytes), the slot each takes in a batch */
#define SD_LOOKUP_LEN 128
/* room for one reply: the socket (72 bytes + attributes) or an error quoting the request */
#define SD_REPLY_LEN 1024

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

struct mnl_socket *sd_open_lookup(void)
{
	/*
	 * As nl_route_open(): an exact lookup is answered before sendto()
	 * returns, so a non-blocking, kernel-bound socket reads it at once.
	 */
	return mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC | SOCK_NONBLOCK);
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

	nlh = nl_request(buf, 256, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, seq);
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = (uint8_t)family;
	req->sdiag_protocol = (uint8_t)protocol;
	req->idiag_states = states;
	/* a dump ends with NLMSG_DONE: nl_talk() loops until mnl_cb_run says stop */
	ret = nl_talk(nl, nlh, diag_cb, &c);
	if (ret)
		return ret;
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

static int one_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY || mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return MNL_CB_ERROR;
	*(uint32_t *)data = m->idiag_inode;
	return MNL_CB_OK;
}

/* An exact lookup request for the socket bound to local, at buf (zero-filled here). */
static struct nlmsghdr *put_lookup(char *buf, int protocol, const struct sockaddr_storage *local,
				   unsigned int seq)
{
	struct nlmsghdr *nlh;
	struct inet_diag_req_v2 *req;
	bool v6 = local->ss_family == AF_INET6;
	const void *addr = v6 ? (const void *)&((const struct sockaddr_in6 *)local)->sin6_addr :
				(const void *)&((const struct sockaddr_in *)local)->sin_addr;
	__be16 port = v6 ? ((const struct sockaddr_in6 *)local)->sin6_port :
			   ((const struct sockaddr_in *)local)->sin_port;

	/* no NLM_F_DUMP: the kernel looks the one socket up in its hash tables */
	nlh = nl_request(buf, SD_LOOKUP_LEN, SOCK_DIAG_BY_FAMILY, 0, seq);
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = (uint8_t)local->ss_family;
	req->sdiag_protocol = (uint8_t)protocol;
	req->idiag_states = ~0u;
	/*
	 * The local address goes in both src and dst: the TCP lookup reads the
	 * local side from src, the UDP one (swapped "for historical reasons" in
	 * udp_diag) from dst. The other side then names no connected socket,
	 * so the lookup falls through to the listening / unconnected one.
	 */
	memcpy(req->id.idiag_src, addr, v6 ? 16 : 4);
	memcpy(req->id.idiag_dst, addr, v6 ? 16 : 4);
	req->id.idiag_sport = port;
	req->id.idiag_dport = port;
	req->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	return nlh;
}

int sd_lookup(struct mnl_socket *nl, int protocol, const struct sockaddr_storage *local,
	      uint32_t *inode)
{
	char buf[8192];
	unsigned int seq = (unsigned int)time(NULL), portid = mnl_socket_get_portid(nl);
	struct nlmsghdr *nlh = put_lookup(buf, protocol, local, seq);
	ssize_t n;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	*inode = 0;
	/* a missing socket comes back as NLMSG_ERROR -ENOENT, which mnl_cb_run turns into errno */
	if (mnl_cb_run(buf, (size_t)n, seq, portid, one_cb, inode) < 0)
		return -errno;
	return 0;
}

/* q->inode / q->err from one reply datagram of a batch whose first seq is seq0. */
static int batch_reply(const char *buf, size_t len, unsigned int seq0, unsigned int portid,
		       struct sd_query *q, size_t n)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	size_t i;

	if (len < sizeof(*nlh) || nlh->nlmsg_seq - seq0 >= n)
		return -EPROTO;
	i = nlh->nlmsg_seq - seq0;
	q[i].inode = 0;
	q[i].err = mnl_cb_run(buf, len, nlh->nlmsg_seq, portid, one_cb, &q[i].inode) < 0 ? -errno : 0;
	return 0;
}

int sd_lookup_batch(struct mnl_socket *nl, struct sd_query *q, size_t n)
{
	char req[SD_BATCH_MAX * SD_LOOKUP_LEN], rep[SD_BATCH_MAX][SD_REPLY_LEN];
	struct iovec iov[SD_BATCH_MAX];
	struct mmsghdr mm[SD_BATCH_MAX];
	unsigned int seq0 = (unsigned int)time(NULL), portid = mnl_socket_get_portid(nl);
	size_t i, len = 0, got = 0;
	int k, ret;

	if (n > SD_BATCH_MAX)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		len += put_lookup(req + len, q[i].protocol, &q[i].local, seq0 + (unsigned int)i)->nlmsg_len;
		q[i].err = -EPROTO;	/* until its reply says otherwise */
	}
	/* the kernel handles each request in the datagram, and queues its reply, before sendto() returns */
	if (n && mnl_socket_sendto(nl, req, len) < 0)
		return -errno;
	while (got < n) {
		memset(mm, 0, sizeof(mm));
		for (i = 0; i < n - got; i++) {
			iov[i] = (struct iovec){ rep[i], SD_REPLY_LEN };
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		k = recvmmsg(mnl_socket_get_fd(nl), mm, (unsigned int)(n - got), MSG_DONTWAIT, NULL);
		if (k <= 0)
			return k < 0 ? -errno : -EPROTO;
		for (i = 0; i < (size_t)k; i++) {
			if (mm[i].msg_hdr.msg_flags & MSG_TRUNC)
				return -EMSGSIZE;
			ret = batch_reply(rep[i], mm[i].msg_len, seq0, portid, q, n);
			if (ret)
				return ret;
		}
		got += (size_t)k;
	}
	return 0;
}

struct owner_ctx {
	__be16 sport, dport;
	uint32_t uid;
	bool found;
};

static int owner_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct owner_ctx *o = data;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY || mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return MNL_CB_ERROR;
	/* the lookup falls back to a listener on the port: that is not the peer */
	if (m->idiag_state != TCP_LISTEN && m->id.idiag_sport == o->sport &&
	    m->id.idiag_dport == o->dport) {
		o->uid = m->idiag_uid;
		o->found = true;
	}
	return MNL_CB_OK;
}

/* An IPv4-mapped IPv6 address (a v4 client of a dual-stack server) as the v4 socket has it. */
static const void *diag_addr(const struct sockaddr_storage *ss, int *family, __be16 *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		*port = s6->sin6_port;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			*family = AF_INET;
			return &s6->sin6_addr.s6_addr[12];
		}
		*family = AF_INET6;
		return &s6->sin6_addr;
	}
	*family = AF_INET;
	*port = ((const struct sockaddr_in *)ss)->sin_port;
	return &((const struct sockaddr_in *)ss)->sin_addr;
}

int sd_tcp_owner(struct mnl_socket *nl, const struct sockaddr_storage *local,
		 const struct sockaddr_storage *remote, uint32_t *uid)
{
	char buf[8192];
	struct nlmsghdr *nlh;
	struct inet_diag_req_v2 *req;
	unsigned int seq = (unsigned int)time(NULL), portid = mnl_socket_get_portid(nl);
	struct owner_ctx o = { 0 };
	const void *la, *ra;
	int lf, rf;
	ssize_t n;

	la = diag_addr(local, &lf, &o.sport);
	ra = diag_addr(remote, &rf, &o.dport);
	if (lf != rf)
		return -ENOENT;
	nlh = nl_request(buf, 256, SOCK_DIAG_BY_FAMILY, 0, seq);
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = (uint8_t)lf;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = ~0u;
	memcpy(req->id.idiag_src, la, lf == AF_INET6 ? 16 : 4);
	memcpy(req->id.idiag_dst, ra, lf == AF_INET6 ? 16 : 4);
	req->id.idiag_sport = o.sport;
	req->id.idiag_dport = o.dport;
	req->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	if (mnl_cb_run(buf, (size_t)n, seq, portid, owner_cb, &o) < 0)
		return -errno;
	if (!o.found)
		return -ENOENT;
	*uid = o.uid;
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
