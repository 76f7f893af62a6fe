/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One HTTP/2 CONNECT stream tunnelled to a TCP socket: DATA from the peer
 * is written to the socket and only then consumed (so the 4 MiB stream
 * window is the backpressure), bytes read from the socket go out through a
 * deferred data source, a TCP half-close becomes END_STREAM and END_STREAM a
 * shutdown(SHUT_WR). A socket error resets the stream. Never decides what a
 * request may do (inbound.c does). Interface: hbone_int.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access.h"
#include "clock.h"
#include "daemon.h"
#include "grow.h"
#include "hbone_int.h"
#include "sockdiag.h"

static void free_stream(struct loop_deferred *dd)
{
	struct hstream *s = container_of(dd, struct hstream, dead);

	free(s->wbuf);
	free(s->rbuf);
	free(s);
}

struct hstream *hstream_new(struct hconn *c, int32_t id)
{
	struct hstream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->c = c;
	s->id = id;
	s->ev.fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	access_new_id(s->id_text);
	list_add_tail(&c->streams, &s->link);
	c->nstreams++;
	return s;
}

/* A stream's access_rec (access.h): addresses into src, dst, hb. */
static void stream_rec(const struct hstream *s, struct access_rec *a, char *src, char *dst, char *hb)
{
	const struct hconn *c = s->c;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	sd_format_addr(c->client ? &s->client : &c->remote, src, 64);
	sd_format_addr(c->client ? &c->remote : &c->local, dst, 64);
	if (s->target.ss_family)
		sd_format_addr(&s->target, hb, 64);
	else
		snprintf(hb, 64, "-");
	*a = (struct access_rec){ .pod = c->pod, .outbound = c->client, .hbone = true, .src = src,
				  .dst = dst, .hbone_addr = hb, .sent = s->sent, .recv = s->recv,
				  .error = s->error };
	a->ns = (long long)(now.tv_sec - s->start.tv_sec) * 1000000000LL + (now.tv_nsec - s->start.tv_nsec);
	memcpy(a->id, s->id_text, sizeof(a->id));
}

/* 1.21's lines when the stream starts (its target known); later releases log at the end only. */
void hstream_log_start(const struct hstream *s)
{
	char src[64], dst[64], hb[64];
	struct access_rec a;

	if (s->c->hb->d->cfg.rel->access_log)
		return;
	stream_rec(s, &a, src, dst, hb);
	access_start(s->c->hb->d, &a);
}

/* The end's lines: the access target (hbone/inbound.c, outbound.c), or 1.21's. */
static void log_end(const struct hstream *s)
{
	char src[64], dst[64], hb[64];
	struct access_rec a;

	if (!s->c->hb->d->cfg.rel->access_log) {
		stream_rec(s, &a, src, dst, hb);
		access_end(s->c->hb->d, &a);
	} else if (s->c->client) {
		outbound_log(s);
	} else {
		inbound_log(s);
	}
}

void hstream_free(struct hstream *s)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	/* outbound: a client whose tunnel failed is reset, as ztunnel does */
	if (s->ev.fd >= 0 && s->c->client && (s->status != 200 || s->error))
		setsockopt(s->ev.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (s->ev.fd >= 0)
		close(s->ev.fd);
	s->ev.fd = -1;
	if (s->counted) {
		__atomic_sub_fetch(&s->c->hb->nstreams, 1, __ATOMIC_RELAXED);
		if (s->c->pod->hbone)
			__atomic_sub_fetch(&s->c->pod->hbone->nstreams, 1, __ATOMIC_RELAXED);
		s->counted = false;
	}
	log_end(s);
	metrics_stream_end(s);
	list_del(&s->link);
	if (--s->c->nstreams == 0) {
		struct timespec idle;

		clock_gettime(CLOCK_MONOTONIC, &s->c->idle_since);
		idle = s->c->idle_since;
		timespec_add(&idle, POOL_IDLE_MS / 1000.0);
		hconn_deadline(s->c->home, &idle);
	}
	loop_defer_free(s->c->home->loop, &s->dead, free_stream);
}

const char *hstream_hold(struct hstream *s, char *why, size_t cap)
{
	struct hconn *c = s->c;

	if (relay_over_cap(c->hb->d, c->pod, why, cap))
		return why;
	s->counted = true;
	__atomic_add_fetch(&c->hb->nstreams, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->pod->hbone->nstreams, 1, __ATOMIC_RELAXED);
	return NULL;
}

void hstream_interest(struct hstream *s)
{
	uint32_t ev = (!s->rlen && !s->tcp_eof && !s->h2_closed ? EPOLLIN : 0) |
		      (s->wlen ? EPOLLOUT : 0);

	if (s->ev.fd < 0 || s->connecting || ev == s->events)
		return;
	loop_modify(s->c->home->loop, &s->ev, ev);
	s->events = ev;
}

static void reset_stream(struct hstream *s, const char *why)
{
	if (!s->error)
		s->error = why;
	if (s->ev.fd >= 0 && !s->c->client)
		close(s->ev.fd);
	if (!s->c->client)
		s->ev.fd = -1;
	nghttp2_submit_rst_stream(s->c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CONNECT_ERROR);
}

/* Room for len more bytes in wbuf: 0, or -1 past twice the stream window (or out of memory). */
static int wbuf_room(struct hstream *s, size_t len)
{
	size_t cap;
	uint8_t *b;

	if (s->woff && s->woff + s->wlen + len > s->wcap) {
		memmove(s->wbuf, s->wbuf + s->woff, s->wlen);
		s->woff = 0;
	}
	if (s->wlen + len <= s->wcap)
		return 0;
	/* the stream window bounds it: nothing is consumed before it is written */
	cap = grow_cap(s->wcap, s->wlen + len, 65536, 2 * (size_t)H2_STREAM_WINDOW);
	if (cap < s->wlen + len || !(b = realloc(s->wbuf, cap)))
		return -1;
	s->wbuf = b;
	s->wcap = cap;
	return 0;
}

/* Queued, and written (one send for all a read brought) when the connection's streams are pumped. */
int hstream_data(struct hstream *s, const uint8_t *data, size_t len)
{
	if (wbuf_room(s, len)) {
		reset_stream(s, "peer overran the stream window");
		return 0;
	}
	memcpy(s->wbuf + s->woff + s->wlen, data, len);
	s->wlen += len;
	return 0;
}

ssize_t hstream_read_cb(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
			uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct hstream *s = src->ptr;
	size_t n;

	(void)h2;
	(void)id;
	(void)ud;
	(void)buf;
	if (s->rlen) {
		/* the bytes stay in rbuf: hstream_send_data() puts them after the frame header */
		n = s->rlen < length ? s->rlen : length;
		*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
		return (ssize_t)n;
	}
	if (s->tcp_eof || s->ev.fd < 0) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return 0;
	}
	s->deferred = true;
	return NGHTTP2_ERR_DEFERRED;
}

void hstream_sent(struct hstream *s, size_t n)
{
	s->roff += n;
	s->rlen -= n;
	if (!s->rlen) {
		s->roff = 0;
		hstream_interest(s);
	}
}

/* Peer -> socket, then the half-close: 0 or -errno. */
static int write_side(struct hstream *s)
{
	ssize_t n;

	if (s->wlen) {
		n = send(s->ev.fd, s->wbuf + s->woff, s->wlen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		s->woff = (size_t)n == s->wlen ? 0 : s->woff + (size_t)n;
		s->wlen -= (size_t)n;
		s->sent += (uint64_t)n;
		/* after the stream's close this still returns the connection's window */
		nghttp2_session_consume(s->c->h2, s->id, (size_t)n);
	}
	if (!s->wlen && s->peer_eof && !s->tcp_shut) {
		if (shutdown(s->ev.fd, SHUT_WR) < 0 && errno != ENOTCONN)
			return -errno;
		s->tcp_shut = true;
	}
	return 0;
}

/* Socket -> the data source's buffer, one read while it is empty: 0 or -errno. */
static int read_side(struct hstream *s)
{
	ssize_t n;

	if (s->rlen || s->tcp_eof)
		return 0;
	if (!s->rbuf || (s->rfull && s->rcap < STREAM_BUF_MAX)) {
		/* a bulk sender: larger reads, larger DATA frames (the buffer is empty here) */
		size_t cap = s->rbuf ? 2 * s->rcap : STREAM_BUF_MIN;
		uint8_t *b = realloc(s->rbuf, cap);

		if (!b && !s->rbuf)
			return -ENOMEM;
		if (b) {
			s->rbuf = b;
			s->rcap = cap;
		}
	}
	n = recv(s->ev.fd, s->rbuf, s->rcap, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	s->rfull = (size_t)n == s->rcap;
	if (n == 0)
		s->tcp_eof = true;
	s->rlen = (size_t)n;
	s->recv += (uint64_t)n;
	return 0;
}

void hstream_pump(struct hstream *s)
{
	int ret;

	if (s->ev.fd < 0 || s->connecting || !s->responded)
		return;
	if (s->h2_closed) {
		if (write_side(s) || (!s->wlen && s->tcp_shut))
			hstream_free(s);
		else
			hstream_interest(s);
		return;
	}
	ret = write_side(s);
	if (!ret)
		ret = read_side(s);
	if (ret) {
		reset_stream(s, strerror(-ret));
		return;
	}
	if (s->deferred && (s->rlen || s->tcp_eof)) {
		s->deferred = false;
		nghttp2_session_resume_data(s->c->h2, s->id);
	}
	hstream_interest(s);
}

static void stream_ready(struct loop_src *src, uint32_t events)
{
	struct hstream *s = src->ctx;
	struct hconn *c = s->c;

	(void)events;
	if (c->state != HC_H2)
		return;
	if (s->connecting)
		inbound_connected(s);
	else
		hstream_pump(s);
	hconn_flush(c);
}

/* Watches the upstream socket while its connect is in flight: 0 or -errno. */
int hstream_watch(struct hstream *s)
{
	s->events = 0;
	return loop_watch(s->c->home->loop, &s->ev, 0, stream_ready, s);
}

/* The TCP side on c's new home, as it was watched on the old one; -1: reset. */
int hstream_rewatch(struct hstream *s)
{
	if (s->ev.fd < 0 || !loop_watch(s->c->home->loop, &s->ev, s->events, stream_ready, s))
		return 0;
	reset_stream(s, "cannot watch the upstream");
	return -1;
}

int hstream_watch_connect(struct hstream *s)
{
	s->connecting = true;
	s->events = EPOLLOUT;
	return loop_watch(s->c->home->loop, &s->ev, EPOLLOUT, stream_ready, s);
}

int hstream_open(struct hstream *s)
{
	static const nghttp2_nv ok[] = { { (uint8_t *)":status", (uint8_t *)"200", 7, 3,
					    NGHTTP2_NV_FLAG_NONE } };
	nghttp2_data_provider dp = { .source.ptr = s, .read_callback = hstream_read_cb };

	s->status = 200;
	s->connecting = false;
	s->responded = true;
	metrics_stream_open(s);
	if (nghttp2_submit_response(s->c->h2, s->id, ok, 1, &dp)) {
		reset_stream(s, "cannot respond");
		return -1;
	}
	s->events = 0;
	hstream_interest(s);
	return 0;
}

void hstream_refuse(struct hstream *s, int status, const char *why)
{
	char code[8];
	nghttp2_nv nv = { (uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE };

	snprintf(code, sizeof(code), "%03u", (unsigned)status % 1000);
	s->status = status;
	s->connecting = false;
	s->responded = true;
	if (!s->error)
		s->error = why;
	/* every 503 is an upstream that could not be reached: istio_tcp_connections_failed */
	if (status == 503 && !s->flag)
		s->flag = "CONNECT";
	if (s->ev.fd >= 0)
		close(s->ev.fd);
	s->ev.fd = -1;
	/* conn.c resets the request side once this is sent (RFC 9113 8.1) */
	nghttp2_submit_response(s->c->h2, s->id, &nv, 1, NULL);
}
