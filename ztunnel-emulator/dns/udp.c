/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS proxy's datagram path: queries read from a pod's 15053 UDP
 * listeners, answered at once or forwarded to every upstream from the pod's
 * upstream socket (the first matching reply wins, id mapped back by
 * forward.c), SERVFAIL at the deadline. Interface: dns/server.h, dnsd.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "dnsd.h"
#include "log.h"
#include "server.h"

#define UDP_BATCH 64

static void send_to_client(struct dns_pod *dp, int listener, const uint8_t *m, size_t len,
			   const struct sockaddr_storage *to, socklen_t tolen)
{
	struct listener *l = &dp->pod->listeners[listener];

	if (l->ev.fd >= 0)
		(void)sendto(l->ev.fd, m, len, MSG_DONTWAIT, (const struct sockaddr *)to, tolen);
}

/* Sends SF (SERVFAIL, freed here) to the client, logs the failure and counts it. */
static void fail_reply(struct dns_pod *dp, int listener, const char *qtype, const char *domain,
		       uint8_t *sf, size_t sf_len, const struct sockaddr_storage *to, socklen_t tolen,
		       const char *why)
{
	char result[128];

	if (sf)
		send_to_client(dp, listener, sf, sf_len, to, tolen);
	free(sf);
	snprintf(result, sizeof(result), "forwarding failed (%s)", why);
	dns_log_query(dp, qtype, domain, result, 0);
	dns_count_forward(dp->d, qtype, false, true, 0);
}

static void fail_pending(struct dns_pod *dp, const struct dns_pending *p, const char *why)
{
	struct dns_meta *m = &dp->meta[p->tag];
	uint8_t *sf = NULL;
	size_t sf_len = 0;

	if (dns_pending_servfail(p, &sf, &sf_len))
		sf = NULL;
	fail_reply(dp, m->listener, m->qtype, m->domain, sf, sf_len, &p->client, p->client_len, why);
	m->used = false;
}

static int family_index(int family)
{
	return family == AF_INET6 ? 1 : 0;
}

static void upstream_ready(struct loop_src *src, uint32_t events);

/* The pod's upstream socket of FAMILY, made on first use: 0 or -errno. */
static int ensure_upstream(struct dns_pod *dp, int family)
{
	struct loop_src *s = &dp->up[family_index(family)];
	int fd, ret;

	if (s->fd >= 0)
		return 0;
	fd = dns_upstream_socket(dp, family, SOCK_DGRAM);
	if (fd < 0)
		return fd;
	s->fd = fd;
	ret = loop_watch(&dp->d->loop, s, EPOLLIN, upstream_ready, dp);
	if (ret) {
		close(fd);
		s->fd = -1;
	}
	return ret;
}

/* Sends P's query to every upstream: how many took it; *err the last error. */
static int send_upstreams(struct dns_pod *dp, const struct dns_pending *p, int *err)
{
	const struct dns_opts *o = &dp->d->cfg.dns;
	int sent = 0, ret;
	size_t i;

	*err = -EDESTADDRREQ;
	for (i = 0; i < o->n_up; i++) {
		int fam = o->up[i].sa.ss_family;

		ret = ensure_upstream(dp, fam);
		if (!ret && sendto(dp->up[family_index(fam)].fd, p->query, p->query_len, MSG_DONTWAIT,
				   (const struct sockaddr *)&o->up[i].sa, o->up[i].len) < 0)
			ret = -errno;
		if (ret)
			*err = ret;
		else
			sent++;
	}
	return sent;
}

static int free_meta(const struct dns_pod *dp)
{
	for (int i = 0; i < DNS_INFLIGHT_MAX; i++)
		if (!dp->meta[i].used)
			return i;
	return -1;
}

static void forward(struct dns_pod *dp, int listener, const uint8_t *q, size_t len,
		    const struct sockaddr_storage *from, socklen_t flen, const struct dns_decision *dec)
{
	const struct dns_pending *p;
	struct dns_pending gone;
	int tag = free_meta(dp), err, ret;
	struct dns_meta *m;

	ret = tag < 0 ? -EBUSY :
	      dns_idmap_add(&dp->map, q, len, (const struct sockaddr *)from, flen, tag,
			    dns_now_ms() + (uint64_t)(dp->d->cfg.dns.timeout * 1000), &p);
	if (ret) {
		uint8_t *sf = NULL;
		size_t sf_len = 0;

		if (dns_servfail(q, len, &sf, &sf_len))
			sf = NULL;
		fail_reply(dp, listener, dec->qtype_name, dec->domain, sf, sf_len, from, flen,
			   ret == -EBUSY ? "too many queries in flight" : strerror(-ret));
		return;
	}
	m = &dp->meta[tag];
	*m = (struct dns_meta){ .used = true, .listener = listener, .start_us = dns_now_us() };
	snprintf(m->qtype, sizeof(m->qtype), "%s", dec->qtype_name);
	snprintf(m->domain, sizeof(m->domain), "%s", dec->domain);
	dns_pod_activate(dp);
	if (send_upstreams(dp, p, &err) == 0 && dns_idmap_cancel(&dp->map, p->upstream_id, &gone) == 0) {
		fail_pending(dp, &gone, err == -EDESTADDRREQ ? "no upstream resolver" : strerror(-err));
		dns_pending_clear(&gone);
	}
}

static void one_query(struct dns_pod *dp, int listener, const uint8_t *q, size_t len,
		      const struct sockaddr_storage *from, socklen_t flen)
{
	struct dns_decision dec;

	dns_decide_query(dp, q, len, false, &dec);
	if (dec.action == DNS_REPLY)
		send_to_client(dp, listener, dec.reply, dec.reply_len, from, flen);
	else if (dec.action == DNS_FORWARD)
		forward(dp, listener, q, len, from, flen, &dec);
	dns_decision_clear(&dec);
}

/* The port our upstream socket of FROM's family sends from, 0 if none. */
static uint16_t upstream_port(const struct dns_pod *dp, const struct sockaddr_storage *from)
{
	const struct loop_src *s = &dp->up[family_index(from->ss_family)];
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);

	if (s->fd < 0 || getsockname(s->fd, (struct sockaddr *)&me, &len) < 0)
		return 0;
	return me.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&me)->sin6_port :
					  ((struct sockaddr_in *)&me)->sin_port;
}

/*
 * Our own forwarded query came back to 15053: the pod's rules redirect
 * UDP/53 without sparing mark 1337 (the tproxy variant of Istio 1.21-1.23).
 * Those releases forwarded from ztunnel's own netns; so does this pod from
 * now on, starting with the query that looped.
 */
static bool looped(struct dns_pod *dp, const uint8_t *q, size_t len,
		   const struct sockaddr_storage *from)
{
	uint16_t port = from->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)from)->sin6_port :
						      ((const struct sockaddr_in *)from)->sin_port;
	struct dns_pending p = { .query = (uint8_t *)q, .query_len = len };
	int err;

	if (dp->from_daemon || !port || port != upstream_port(dp, from))
		return false;
	log_line(LOG_WARN, "dns", "pod %s: its rules send the proxy's own queries to upstream port 53 back to 15053 (a UDP/53 redirect without the mark 0x539 exemption, as the tproxy variant has); forwarding its queries from the daemon's network namespace, as Istio 1.21-1.23 did",
		 dp->pod->name);
	dp->from_daemon = true;
	dns_udp_close(dp);
	send_upstreams(dp, &p, &err);
	return true;
}

void dns_udp_ready(struct daemon *d, struct listener *l)
{
	static struct log_limit limit = LOG_LIMIT_INIT(10, 5);
	uint8_t buf[DNS_QUERY_MAX + 1];
	struct sockaddr_storage from;
	struct dns_pod *dp = dns_pod_get(d, l->pod);
	socklen_t flen;
	ssize_t n;
	int i;

	for (i = 0; i < UDP_BATCH; i++) {
		flen = sizeof(from);
		n = recvfrom(l->ev.fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&from, &flen);
		if (n < 0)
			break;
		l->accepted++;
		if (!d->dns || !dp) {	/* no DNS state (a fuzzer's daemon), or out of memory */
			if (d->dns)
				d->dns->dropped++;
			continue;
		}
		if (n > DNS_QUERY_MAX) {
			d->dns->dropped++;
			log_limited(&limit, LOG_DEBUG, "dns", "dropped a query from pod %s over udp: %zd bytes, more than %d",
				    l->pod->name, n, DNS_QUERY_MAX);
			continue;
		}
		if (!looped(dp, buf, (size_t)n, &from))
			one_query(dp, (int)(l - l->pod->listeners), buf, (size_t)n, &from, flen);
	}
}

static bool from_upstream(const struct dns_opts *o, const struct sockaddr_storage *ss)
{
	for (size_t i = 0; i < o->n_up; i++)
		if (o->up[i].sa.ss_family == ss->ss_family &&
		    !memcmp(&o->up[i].sa, ss, o->up[i].len))
			return true;
	return false;
}

static void one_reply(struct dns_pod *dp, uint8_t *r, size_t len)
{
	struct dns_pending p;
	struct dns_meta *m;

	if (dns_idmap_take_reply(&dp->map, r, len, &p))
		return;	/* late, a second upstream's, or not an answer to it */
	m = &dp->meta[p.tag];
	send_to_client(dp, m->listener, r, len, &p.client, p.client_len);
	dns_log_query(dp, m->qtype, m->domain, "forwarded", 0);
	dns_count_forward(dp->d, m->qtype, false, false, (double)(dns_now_us() - m->start_us) / 1e6);
	m->used = false;
	dns_pending_clear(&p);
}

static void upstream_ready(struct loop_src *src, uint32_t events)
{
	struct dns_pod *dp = src->ctx;
	static uint8_t buf[65536];
	struct sockaddr_storage from;
	socklen_t flen;
	ssize_t n;
	int i;

	(void)events;
	for (i = 0; i < UDP_BATCH && src->fd >= 0; i++) {
		flen = sizeof(from);
		memset(&from, 0, sizeof(from));
		n = recvfrom(src->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
				break;
			if (errno == EAGAIN)
				break;
			continue;
		}
		if (from_upstream(&dp->d->cfg.dns, &from))
			one_reply(dp, buf, (size_t)n);
	}
}

void dns_udp_expire(struct dns_pod *dp, uint64_t now)
{
	struct dns_pending p;

	while (dns_idmap_expire(&dp->map, now, &p) == 1) {
		fail_pending(dp, &p, "timed out");
		dns_pending_clear(&p);
	}
}

void dns_udp_close(struct dns_pod *dp)
{
	for (int i = 0; i < 2; i++) {
		if (dp->up[i].fd >= 0)
			close(dp->up[i].fd);
		dp->up[i].fd = -1;
	}
}
