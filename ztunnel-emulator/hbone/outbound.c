/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Outbound HBONE (hbone.md "Outbound on 15001"): a connection whose original
 * destination is a pod enrolled in this daemon goes as one CONNECT stream
 * over mutual-TLS HTTP/2 to that pod's IP:15008, dialled from the source
 * pod's netns (mark 1337, no source binding), the server's certificate
 * required to carry the destination's identity. Connections are pooled per
 * (source pod, destination pod, address) up to 100 streams. Everything else
 * stays plain TCP (relay.c). Never touches the inbound checks.
 * Interface: hbone.h (hbone_outbound), hbone_int.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "hbone.h"
#include "hbone_int.h"
#include "log.h"
#include "proxy.h"
#include "sockaddr.h"
#include "sockdiag.h"

#define ADDRS_FRESH_S 2.0	/* a pod's addresses are re-read after this */

static void add_addr(struct hbone_pod *hp, int family, const void *a)
{
	struct sockaddr_storage *ss;

	if (hp->naddrs == POD_MAX_ADDRS)
		return;
	ss = &hp->addrs[hp->naddrs++];
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)family;
	if (family == AF_INET)
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, a, 4);
	else
		memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, a, 16);
}

/* One RTM_NEWADDR reply batch into hp: 1 at the end of the dump, 0 more to come, -1 error. */
static int parse_addrs(struct hbone_pod *hp, const char *buf, size_t len)
{
	const struct nlmsghdr *nh;

	for (nh = (const void *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
		const struct ifaddrmsg *ifa = NLMSG_DATA(nh);
		const struct rtattr *rta;
		int rl;

		if (nh->nlmsg_type == NLMSG_DONE)
			return 1;
		if (nh->nlmsg_type == NLMSG_ERROR)
			return -1;
		if (nh->nlmsg_type != RTM_NEWADDR || ifa->ifa_scope == RT_SCOPE_HOST)
			continue;
		rl = (int)IFA_PAYLOAD(nh);
		for (rta = IFA_RTA(ifa); RTA_OK(rta, rl); rta = RTA_NEXT(rta, rl))
			if (rta->rta_type == IFA_ADDRESS &&
			    RTA_PAYLOAD(rta) == (ifa->ifa_family == AF_INET ? 4u : 16u))
				add_addr(hp, ifa->ifa_family, RTA_DATA(rta));
	}
	return 0;
}

/* The pod's interface addresses (not lo's), read through a netlink socket made in its netns. */
static void refresh_addrs(struct daemon *d, struct pod *p)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
	} req = { .nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETADDR,
			  .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 } };
	char buf[8192];
	struct pollfd pfd;
	int fd = pod_socket(d, p, AF_NETLINK, SOCK_RAW), ret = 0;
	ssize_t n;

	clock_gettime(CLOCK_MONOTONIC, &p->hbone->fetched);
	if (fd < 0)
		return;
	p->hbone->naddrs = 0;
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
		ret = -1;
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (!ret && poll(&pfd, 1, 100) == 1) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		ret = parse_addrs(p->hbone, buf, (size_t)n);
	}
	close(fd);
}

static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
}

/*
 * The enrolled pod (with a certificate) that holds this address, or NULL.
 * Hook for the registry (issue 16): a --registry workload with protocol
 * HBONE would be looked up here too.
 */
static struct pod *mesh_pod_of(struct daemon *d, const struct sockaddr_storage *dst)
{
	struct timespec now;
	struct pod *p;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (p = d->pods.head; p; p = p->next) {
		struct timespec due;

		if (p->state != POD_UP || !pod_leaf(p))
			continue;
		due = p->hbone->fetched;
		timespec_add(&due, ADDRS_FRESH_S);
		if (!p->hbone->fetched.tv_sec || expired(&due, &now))
			refresh_addrs(d, p);
		for (i = 0; i < p->hbone->naddrs; i++)
			if (same_ip(&p->hbone->addrs[i], dst))
				return p;
	}
	return NULL;
}

/* A pooled connection for (src, dst, address) with room for a stream, or NULL. */
static struct hconn *pooled(struct hbone *hb, struct pod *src, struct pod *dst,
			    const struct sockaddr_storage *to)
{
	struct list_node *n;

	for (n = hb->conns.next; n != &hb->conns; n = n->next) {
		struct hconn *c = container_of(n, struct hconn, link);

		if (c->client && c->state != HC_CLOSED && !c->goaway && c->pod == src &&
		    c->dst_pod == dst && same_ip(&c->remote, to) && c->nstreams < POOL_MAX_STREAMS)
			return c;
	}
	return NULL;
}

/* A new connection from src's netns to to (IP:15008): NULL on failure. */
static struct hconn *dial(struct daemon *d, struct pod *src, struct pod *dst,
			  const struct sockaddr_storage *to)
{
	int fd = pod_socket(d, src, to->ss_family, SOCK_STREAM);
	socklen_t len = to->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
						    sizeof(struct sockaddr_in);

	if (fd < 0)
		return NULL;
	/* 0x539: the source pod's rules let ztunnel's own traffic through; no bind() */
	if (d->cfg.mark)
		setsockopt(fd, SOL_SOCKET, SO_MARK, &d->cfg.mark, sizeof(d->cfg.mark));
	if (connect(fd, (const struct sockaddr *)to, len) < 0 && errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}
	return hconn_start_client(d->hbone, src, dst, to, fd);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

/*
 * A mesh destination that cannot be tunnelled is refused, never sent in
 * plain text instead: the client is reset and the failure logged.
 */
static bool refuse(int fd, const struct sockaddr_storage *dst, const char *why)
{
	static struct log_limit limit = LOG_LIMIT_INIT(5, 5);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char a[64];

	sd_format_addr(dst, a, sizeof(a));
	log_limited(&limit, LOG_WARN, "access",
		    "connection failed dst.addr=%s direction=\"outbound\" error=\"%s\"", a, why);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return true;
}

bool hbone_outbound(struct daemon *d, struct listener *l, int fd)
{
	struct sockaddr_storage dst, to;
	struct pod *dpod;
	struct hconn *c;
	struct hstream *s;
	socklen_t sl = sizeof(struct sockaddr_storage);

	if (!d->hbone || !d->cfg.hbone_outbound || !pod_leaf(l->pod))
		return false;
	sa_original_dst(fd, &dst);
	dpod = mesh_pod_of(d, &dst);
	if (!dpod)
		return false;
	to = dst;
	set_port(&to, 15008);
	c = pooled(d->hbone, l->pod, dpod, &to);
	if (!c)
		c = dial(d, l->pod, dpod, &to);
	if (!c)
		return refuse(fd, &dst, "cannot open an HBONE connection");
	s = hstream_new(c, -1);
	if (!s)
		return refuse(fd, &dst, "out of memory");
	s->ev.fd = fd;
	s->target = dst;
	getpeername(fd, (struct sockaddr *)&s->client, &sl);
	sa_unmap(&s->client);
	hstream_log_start(s);
	if (hstream_watch(s)) {
		s->error = "cannot watch the client";
		hstream_free(s);
		return true;
	}
	if (c->state == HC_H2) {
		outbound_ready(c);
		hconn_flush(c);
	}
	return true;
}

/* traceparent: version 00, random trace and parent ids, not sampled (hbone.md). */
static void traceparent(char *buf, size_t cap)
{
	unsigned char r[24];
	char hex[49];
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0x5a, sizeof(r));
	for (i = 0; i < sizeof(r); i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	snprintf(buf, cap, "00-%.32s-%.16s-00", hex, hex + 32);
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }

/* The CONNECT ztunnel sends: :authority IP:PORT, forwarded, baggage, traceparent. */
static void submit(struct hstream *s)
{
	const struct pod *src = s->c->pod;
	char auth[64], client[64], fwd[96], bag[600], tp[64];
	int32_t id;

	sd_format_addr(&s->target, auth, sizeof(auth));
	sd_format_addr(&s->client, client, sizeof(client));
	snprintf(fwd, sizeof(fwd), "for=\"%s\"", client);
	snprintf(bag, sizeof(bag), "k8s.namespace.name=%s,k8s.pod.name=%s",
		 *src->namespace_ ? src->namespace_ : "default", src->name);
	/* a received name with a control character or comma cannot go in a header */
	if (strcspn(bag, "\r\n\t") != strlen(bag))
		snprintf(bag, sizeof(bag), "k8s.namespace.name=default");
	traceparent(tp, sizeof(tp));
	{
		nghttp2_nv nv[] = { NV(":method", "CONNECT"), NV(":authority", auth),
				    NV("forwarded", fwd), NV("baggage", bag), NV("traceparent", tp) };
		nghttp2_data_provider dp = { .source.ptr = s, .read_callback = hstream_read_cb };

		id = nghttp2_submit_request(s->c->h2, NULL, nv, sizeof(nv) / sizeof(nv[0]), &dp, s);
	}
	if (id < 0) {
		s->error = nghttp2_strerror(id);
		hstream_free(s);
		return;
	}
	s->id = id;
}

void outbound_ready(struct hconn *c)
{
	struct list_node *n, *next;

	for (n = c->streams.next; n != &c->streams; n = next) {
		struct hstream *s = container_of(n, struct hstream, link);

		next = n->next;
		if (s->id < 0)
			submit(s);
	}
}

void outbound_response(struct hstream *s)
{
	if (s->status == 200) {
		s->responded = true;
		metrics_stream_open(s);
		hstream_interest(s);
		return;
	}
	s->error = s->status == 503 ? "upstream answered 503" :
		   s->status == 400 ? "upstream answered 400" : "upstream refused the CONNECT";
	nghttp2_submit_rst_stream(s->c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
}

void outbound_log(const struct hstream *s)
{
	const struct hconn *c = s->c;
	struct timespec now;
	char src[64], dst[64], hb[64], sw[300], sn[300], dw[300], dn[300], err[300];
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(now.tv_sec - s->start.tv_sec) * 1000 + (now.tv_nsec - s->start.tv_nsec) / 1000000;
	sd_format_addr(&s->client, src, sizeof(src));
	sd_format_addr(&c->remote, dst, sizeof(dst));
	sd_format_addr(&s->target, hb, sizeof(hb));
	err[0] = '\0';
	if (s->error)
		snprintf(err, sizeof(err), " error=\"%s\"", s->error);
	log_line(s->error ? LOG_ERROR : LOG_INFO, "access",
		 "connection complete src.addr=%s src.workload=%s src.namespace=%s src.identity=\"%s\" dst.addr=%s dst.hbone_addr=%s dst.workload=%s dst.namespace=%s dst.identity=\"%s\" direction=\"outbound\" bytes_sent=%llu bytes_recv=%llu duration=\"%ldms\"%s",
		 src, log_quote(sw, sizeof(sw), c->pod->name, strlen(c->pod->name)),
		 log_quote(sn, sizeof(sn), c->pod->namespace_, strlen(c->pod->namespace_)),
		 pod_identity(c->pod), dst, hb,
		 log_quote(dw, sizeof(dw), c->dst_pod->name, strlen(c->dst_pod->name)),
		 log_quote(dn, sizeof(dn), c->dst_pod->namespace_, strlen(c->dst_pod->namespace_)),
		 pod_identity(c->dst_pod), (unsigned long long)s->recv, (unsigned long long)s->sent, ms,
		 err);
}
