/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Outbound HBONE (hbone.md "Outbound on 15001"): a connection whose original
 * destination is a pod enrolled in this daemon, or a --registry workload with
 * protocol HBONE, goes as one CONNECT stream over mutual-TLS HTTP/2 to that
 * IP:15008, dialled from the source pod's netns (mark 1337, no source
 * binding), the server's certificate required to carry the destination's
 * SPIFFE identity. Connections are pooled per (source pod and identity,
 * destination address, destination identity) up to 100 streams. Streams
 * count against the relay caps. Everything else stays plain TCP (relay.c).
 * Never touches the inbound checks.
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
#include "dns/registry.h"
#include "dns/server.h"
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

/* The enrolled pod (with a certificate) that holds this address, or NULL. */
static struct pod *local_pod_of(struct daemon *d, const struct sockaddr_storage *dst)
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

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* A --registry workload with protocol HBONE at this address: its identity (hbone.md). */
static bool registry_dest(struct daemon *d, const struct sockaddr_storage *dst, struct hdest *out)
{
	const struct registry *reg = dns_registry(d);
	const struct reg_workload *w;
	const void *a = dst->ss_family == AF_INET ?
				(const void *)&((const struct sockaddr_in *)dst)->sin_addr :
				(const void *)&((const struct sockaddr_in6 *)dst)->sin6_addr;

	w = reg ? registry_workload_by_ip(reg, dst->ss_family, a) : NULL;
	if (!w || w->protocol != REG_PROTO_HBONE)
		return false;
	/* ztunnel's defaults: the daemon's trust domain, service account "default" */
	snprintf(out->identity, sizeof(out->identity), "spiffe://%s/ns/%s/sa/%s",
		 w->trust_domain && *w->trust_domain ? w->trust_domain : d->hbone->ca.trust_domain,
		 w->namespace, w->service_account && *w->service_account ? w->service_account : "default");
	copy(out->name, sizeof(out->name), w->name);
	copy(out->namespace_, sizeof(out->namespace_), w->namespace);
	out->pod = NULL;
	return true;
}

/* Whether dst is a mesh workload (a pod of this daemon first, then the registry): *out. */
static bool mesh_dest_of(struct daemon *d, const struct sockaddr_storage *dst, struct hdest *out)
{
	struct pod *p = local_pod_of(d, dst);

	if (!p)
		return registry_dest(d, dst, out);
	out->pod = p;
	copy(out->identity, sizeof(out->identity), pod_identity(p));
	copy(out->name, sizeof(out->name), p->name);
	copy(out->namespace_, sizeof(out->namespace_), p->namespace_);
	return true;
}

/*
 * A pooled connection with room for a stream, or NULL. The key: the source
 * pod (its netns and so its address; its one certificate for its life, so
 * its identity), the destination address and the destination identity.
 */
static struct hconn *pooled(struct hbone *hb, struct pod *src, const struct hdest *dst,
			    const struct sockaddr_storage *to)
{
	struct list_node *n;

	for (n = hb->main.conns.next; n != &hb->main.conns; n = n->next) {
		struct hconn *c = container_of(n, struct hconn, link);

		if (c->client && c->state != HC_CLOSED && !c->goaway && c->pod == src &&
		    same_ip(&c->remote, to) && !strcmp(c->dst.identity, dst->identity) &&
		    c->nstreams < POOL_MAX_STREAMS)
			return c;
	}
	return NULL;
}

/* A new connection from src's netns to to (IP:15008): NULL on failure. */
static struct hconn *dial(struct daemon *d, struct pod *src, const struct hdest *dst,
			  const struct sockaddr_storage *to)
{
	int fd = pod_tcp_socket(d, src, to->ss_family);
	socklen_t len = to->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
						    sizeof(struct sockaddr_in);

	if (fd < 0)
		return NULL;
	/* marked: the source pod's rules let ztunnel's own traffic through; no bind() */
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
 * plain text instead: the client is reset and the failure logged (and
 * counted failed with flags, unless NULL: a relay cap, as relay.c refuses).
 */
static bool refuse(struct daemon *d, struct listener *l, int fd, const struct hdest *dst,
		   const struct sockaddr_storage *to, const char *why, const char *flags)
{
	static struct log_limit limit = LOG_LIMIT_INIT(5, 5);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct tcp_who w = { .source = true, .src_name = l->pod->name,
			     .src_ns = l->pod->namespace_, .src_id = pod_identity(l->pod),
			     .dst_name = dst->name, .dst_ns = dst->namespace_, .dst_id = dst->identity };
	char a[64];

	sd_format_addr(to, a, sizeof(a));
	log_limited(&limit, LOG_WARN, "access",
		    "connection failed dst.addr=%s direction=\"outbound\" error=\"%s\"", a, why);
	if (flags)
		metrics_failed(d->hbone, &w, flags);
	else
		l->refused++;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return true;
}

/* The client's stream on c, its connect under way or queued. */
static void start_stream(struct hconn *c, struct hstream *s, int fd,
			 const struct sockaddr_storage *dst)
{
	socklen_t sl = sizeof(struct sockaddr_storage);

	s->ev.fd = fd;
	s->target = *dst;
	getpeername(fd, (struct sockaddr *)&s->client, &sl);
	sa_unmap(&s->client);
	hstream_log_start(s);
	if (hstream_watch(s)) {
		s->error = "cannot watch the client";
		hstream_free(s);
		return;
	}
	if (c->state == HC_H2) {
		outbound_ready(c);
		hconn_flush(c);
	}
}

bool hbone_outbound(struct daemon *d, struct listener *l, int fd)
{
	struct sockaddr_storage dst, to;
	struct hdest dest;
	struct hconn *c;
	struct hstream *s;
	char why[160];

	if (!d->hbone || !d->cfg.hbone_outbound || !pod_leaf(l->pod))
		return false;
	sa_original_dst(fd, &dst);
	if (!mesh_dest_of(d, &dst, &dest))
		return false;
	to = dst;
	set_port(&to, 15008);
	if (relay_over_cap(d, l->pod, why, sizeof(why)))
		return refuse(d, l, fd, &dest, &dst, why, NULL);
	c = pooled(d->hbone, l->pod, &dest, &to);
	if (!c)
		c = dial(d, l->pod, &dest, &to);
	if (!c)
		return refuse(d, l, fd, &dest, &dst, "cannot open an HBONE connection", "CONNECT");
	s = hstream_new(c, -1);
	if (!s)
		return refuse(d, l, fd, &dest, &dst, "out of memory", "CONNECT");
	(void)hstream_hold(s, why, sizeof(why));	/* checked above, nothing ran since: it holds */
	start_stream(c, s, fd, &dst);
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
	s->flag = "CONNECT";
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
		 log_quote(dw, sizeof(dw), c->dst.name, strlen(c->dst.name)),
		 log_quote(dn, sizeof(dn), c->dst.namespace_, strlen(c->dst.namespace_)),
		 c->dst.identity, (unsigned long long)s->recv, (unsigned long long)s->sent, ms,
		 err);
}
