/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 15008's CONNECT requests, in ztunnel's order (hbone.md "Inbound on
 * 15008"): not CONNECT 400; an authority neither IP:port nor host:port 400;
 * a hostname (no service to resolve it) 503; an IP not this connection's
 * local address 400; 15001/15006/15008 503; then the upstream connect from
 * inside the pod's netns, mark 1337, from the client's address
 * (IP_TRANSPARENT) as 15006 does: failure 503, success 200. And the access
 * line each stream ends with. Never touches TLS or nghttp2 directly.
 * Interface: hbone_int.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "hbone_int.h"
#include "log.h"
#include "proxy.h"
#include "sockaddr.h"
#include "sockdiag.h"

/* "1.2.3.4:80" or "[::1]:80" into ss: 1; "host:port": 0; anything else: -1. */
static int parse_authority(const char *a, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	char host[256];
	const char *colon = strrchr(a, ':');
	size_t hl;
	char *end;
	unsigned long port;

	if (!colon || colon == a || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	port = strtoul(colon + 1, &end, 10);
	hl = (size_t)(colon - a);
	if (port == 0 || port > 65535 || hl >= sizeof(host))
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (a[0] == '[' && colon[-1] == ']' && hl > 2) {
		memcpy(host, a + 1, hl - 2);
		host[hl - 2] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? 1 : -1;
	}
	memcpy(host, a, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		return 1;
	}
	/* a DNS name: letters, digits, '-', '.' */
	return strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == hl
		       ? 0 : -1;
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

/* From the client's own address, so the app sees the real source (as relay.c inbound). */
static void bind_client(struct hconn *c, int fd)
{
	struct sockaddr_storage src = c->remote;
	bool v6 = src.ss_family == AF_INET6;
	int one = 1;

	if (v6)
		((struct sockaddr_in6 *)&src)->sin6_port = 0;
	else
		((struct sockaddr_in *)&src)->sin_port = 0;
	if (setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one,
		       sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&src, sa_len(&src)) < 0)
		log_line(LOG_WARN, T_HBONE_IN, "cannot connect from the client's address (%s): the app sees ztunnel's address instead",
			 strerror(errno));
}

/* The connect finished (or failed) already: a pod on this node answers within connect(). */
static bool connect_done(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && p.revents;
}

static void connect_upstream(struct hstream *s)
{
	struct hconn *c = s->c;
	struct daemon *d = c->hb->d;
	int fd = pod_tcp_socket(d, c->pod, s->target.ss_family);

	if (fd < 0) {
		hstream_refuse(s, 503, "cannot make the upstream socket");
		return;
	}
	s->ev.fd = fd;
	if (d->cfg.transparent)
		bind_client(c, fd);
	if ((connect(fd, (struct sockaddr *)&s->target, sa_len(&s->target)) < 0 &&
	     errno != EINPROGRESS) || hstream_watch_connect(s)) {
		hstream_refuse(s, 503, "upstream connect failed");
		return;
	}
	/* then the 200 leaves with this turn's frames (the SETTINGS), not a turn later */
	if (connect_done(fd)) {
		inbound_connected(s);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->connect_due);
	timespec_add(&s->connect_due, d->cfg.relay_connect_timeout);
	hconn_deadline(s->c->home, &s->connect_due);
}

void inbound_request(struct hstream *s)
{
	int kind = parse_authority(s->authority, &s->target);
	char why[160];
	uint16_t port;

	if (s->bad_header || strcmp(s->method, "CONNECT")) {
		hstream_refuse(s, 400, "method is not CONNECT");
		return;
	}
	if (kind < 0) {
		hstream_refuse(s, 400, "invalid authority");
		return;
	}
	if (kind == 0) {
		hstream_refuse(s, 503, "next hop not found: no service for a hostname");
		return;
	}
	if (!same_ip(&s->target, &s->c->local)) {
		hstream_refuse(s, 400, "ip mismatch");
		return;
	}
	port = sa_port(&s->target);
	if (port == 15001 || port == 15006 || port == 15008) {
		hstream_refuse(s, 503, "attempted recursive call to ourselves");
		return;
	}
	/* the app connection counts as a relay of this pod (--max-relays-per-pod, --max-relays) */
	if (hstream_hold(s, why, sizeof(why))) {
		hstream_refuse(s, 503, "over the relay caps (--max-relays-per-pod, --max-relays)");
		return;
	}
	hstream_log_start(s);
	connect_upstream(s);
}

void inbound_connected(struct hstream *s)
{
	int err = 0;
	socklen_t el = sizeof(err);

	getsockopt(s->ev.fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		s->error = strerror(err);
		hstream_refuse(s, 503, s->error);
		return;
	}
	hstream_open(s);
}

void inbound_log(const struct hstream *s)
{
	const struct hconn *c = s->c;
	const struct pod *p = c->pod;
	struct timespec now;
	char src[64], dst[64], hb[64], name[300], ns[300], err[300];
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(now.tv_sec - s->start.tv_sec) * 1000 + (now.tv_nsec - s->start.tv_nsec) / 1000000;
	sd_format_addr(&c->remote, src, sizeof(src));
	sd_format_addr(&c->local, dst, sizeof(dst));
	if (s->target.ss_family)
		sd_format_addr(&s->target, hb, sizeof(hb));
	else
		snprintf(hb, sizeof(hb), "%s", "-");
	err[0] = '\0';
	if (s->error)
		snprintf(err, sizeof(err), " error=\"%s\"", s->error);
	log_line(s->error ? LOG_ERROR : LOG_INFO, "access",
		 "connection complete src.addr=%s src.identity=\"%s\" dst.addr=%s dst.hbone_addr=%s dst.workload=%s dst.namespace=%s dst.identity=\"%s\" direction=\"inbound\" bytes_sent=%llu bytes_recv=%llu duration=\"%ldms\"%s",
		 src, c->peer.identity, dst, hb, log_quote(name, sizeof(name), p->name, strlen(p->name)),
		 log_quote(ns, sizeof(ns), p->namespace_, strlen(p->namespace_)),
		 pod_identity(p), (unsigned long long)s->sent,
		 (unsigned long long)s->recv, ms, err);
}
