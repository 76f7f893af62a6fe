/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One mutual-TLS HTTP/2 connection on the daemon's loop: the non-blocking
 * TLS handshake, then nghttp2 fed from SSL_read and drained into SSL_write
 * (memory I/O: nghttp2 never sees the socket), epoll interest following
 * what OpenSSL and nghttp2 want, ztunnel's settings and PING keepalive.
 * Streams are stream.c's, what a request means is inbound.c's. Never enters
 * a netns. Interface: hbone_int.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "grow.h"
#include "hbone_int.h"
#include "log.h"
#include "outbio.h"
#include "sockaddr.h"
#include "sockdiag.h"

static void watch(struct hconn *c, uint32_t events)
{
	if (c->ev.fd < 0 || c->events == events)
		return;
	loop_modify(c->home->loop, &c->ev, events);
	c->events = events;
}

static void free_conn(struct loop_deferred *dd)
{
	struct hconn *c = container_of(dd, struct hconn, dead);

	free(c->out);
	free(c);
}

/* Sends what TLS wrote into c->net: 1 all sent, 0 the socket is full, -1 it failed. */
static int drain_tls(struct hconn *c)
{
	const char *p;
	size_t avail;
	ssize_t n;

	while (c->net && (avail = outbio_peek(c->net, &p)) > 0) {
		n = send(c->ev.fd, p, avail, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		outbio_take(c->net, (size_t)n);
	}
	return 1;
}

void hconn_close(struct hconn *c, const char *why)
{
	struct list_node *n;
	char src[64], dst[64];

	if (c->state == HC_CLOSED)
		return;
	if (why && c->state == HC_TLS && !c->client) {
		sd_format_addr(&c->remote, src, sizeof(src));
		sd_format_addr(&c->local, dst, sizeof(dst));
		log_limited(&c->home->fail_limit, LOG_WARN, "access",
			    "connection failed src.addr=%s dst.addr=%s direction=\"inbound\" error=\"%s\"",
			    src, dst, why);
	}
	c->state = HC_CLOSED;
	while ((n = c->streams.next) != &c->streams) {
		struct hstream *s = container_of(n, struct hstream, link);

		if (!s->error)
			s->error = why ? why : "connection closed";
		/* an outbound stream whose tunnel never opened failed (identity, TLS, connect) */
		if (c->client && !s->responded && !s->flag)
			s->flag = c->fail_flag ? c->fail_flag : "CONNECT";
		hstream_free(s);
	}
	if (c->h2)
		nghttp2_session_del(c->h2);
	c->h2 = NULL;
	drain_tls(c);	/* a TLS alert, a GOAWAY: best effort */
	SSL_free(c->ssl);
	c->ssl = NULL;
	BIO_free(c->net);
	c->net = NULL;
	close(c->ev.fd);
	c->ev.fd = -1;
	list_del(&c->link);
	loop_defer_free(c->home->loop, &c->dead, free_conn);
	hhome_left(c);	/* last: a Del may free the pod from here on */
}

/* ---- nghttp2 callbacks ------------------------------------------------------ */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct hstream *s;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST ||
	    ((struct hconn *)ud)->client)
		return 0;
	s = hstream_new(ud, f->hd.stream_id);
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;	/* the stream is reset */
	nghttp2_session_set_stream_user_data(h2, f->hd.stream_id, s);
	return 0;
}

static void copy_header(char *dst, size_t cap, const uint8_t *v, size_t n, bool *bad)
{
	if (dst[0] || n >= cap || memchr(v, '\0', n)) {
		*bad = true;
		return;
	}
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct hstream *s = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);

	(void)flags;
	(void)ud;
	if (!s || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (namelen == 7 && !memcmp(name, ":method", 7))
		copy_header(s->method, sizeof(s->method), value, valuelen, &s->bad_header);
	else if (namelen == 10 && !memcmp(name, ":authority", 10))
		copy_header(s->authority, sizeof(s->authority), value, valuelen, &s->bad_header);
	else if (namelen == 7 && !memcmp(name, ":status", 7) && valuelen == 3)
		s->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
	return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct hconn *c = ud;
	struct hstream *s = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);

	if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK)) {
		c->ping_out = false;
		hconn_deadline(c->home, &c->next_ping);	/* due before the PONG's deadline was */
		return 0;
	}
	if (f->hd.type == NGHTTP2_GOAWAY)
		c->goaway = true;
	if (!s)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST &&
	    !s->connecting && !s->responded)
		inbound_request(s);
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_RESPONSE &&
	    c->client && !s->responded)
		outbound_response(s);
	if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		s->peer_eof = true;
	return 0;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
		   size_t len, void *ud)
{
	struct hstream *s = nghttp2_session_get_stream_user_data(h2, id);

	(void)flags;
	(void)ud;
	if (!s) {
		nghttp2_session_consume(h2, id, len);
		return 0;
	}
	return hstream_data(s, data, len);
}

/*
 * A refusal (400, 503) is sent with END_STREAM; the client may still be
 * sending, so the stream is reset (NO_ERROR) once the response is out. Not
 * at once: nghttp2 would send the RST_STREAM before the HEADERS.
 */
static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct hstream *s = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);

	if (s && !((struct hconn *)ud)->client && f->hd.type == NGHTTP2_HEADERS && s->status != 200 &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t code, void *ud)
{
	struct hstream *s = nghttp2_session_get_stream_user_data(h2, id);

	(void)ud;
	if (!s)
		return 0;
	if (code != NGHTTP2_NO_ERROR && !s->error)
		s->error = "stream reset";
	nghttp2_session_set_stream_user_data(h2, id, NULL);
	/* END_STREAM arrived with the last DATA: what is buffered still goes out first */
	if (!s->error && s->ev.fd >= 0 && s->wlen) {
		s->h2_closed = s->peer_eof = true;
		return 0;
	}
	hstream_free(s);
	return 0;
}

/*
 * Room in c->out for n more bytes: it grows from HB_OUT_FIRST while
 * frames come, up to HB_OUT_BUF (a new connection's frames need a few
 * hundred bytes). What fits of n.
 */
static size_t out_room(struct hconn *c, size_t n)
{
	size_t cap = grow_cap(c->outcap, c->outlen + n, HB_OUT_FIRST, HB_OUT_BUF);
	uint8_t *b;

	if (cap > c->outcap && (b = realloc(c->out, cap))) {
		c->out = b;
		c->outcap = cap;
	}
	return c->outcap - c->outlen < n ? c->outcap - c->outlen : n;
}

/* nghttp2's output is gathered in c->out and written with one SSL_write. */
static ssize_t on_send(nghttp2_session *h2, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct hconn *c = ud;

	(void)h2;
	(void)flags;
	len = out_room(c, len);
	if (!len)
		return NGHTTP2_ERR_WOULDBLOCK;
	memcpy(c->out + c->outlen, data, len);
	c->outlen += len;
	return (ssize_t)len;
}

/* A DATA frame whose payload is still in the stream's rbuf (NGHTTP2_DATA_FLAG_NO_COPY). */
static int on_send_data(nghttp2_session *h2, nghttp2_frame *f, const uint8_t *hd, size_t len,
			nghttp2_data_source *src, void *ud)
{
	struct hconn *c = ud;
	struct hstream *s = src->ptr;

	(void)h2;
	if (out_room(c, 9 + len) < 9 + len)
		return NGHTTP2_ERR_WOULDBLOCK;
	memcpy(c->out + c->outlen, hd, 9);
	memcpy(c->out + c->outlen + 9, s->rbuf + s->roff, len);
	c->outlen += 9 + len;
	(void)f;	/* no padding is ever asked for */
	hstream_sent(s, len);
	return 0;
}

/*
 * DATA frames as large as the peer allows (ztunnel: 1 MiB), and as one
 * write can take, but no larger than what the stream holds: nghttp2 sizes
 * its frame buffer by this answer, even though the payload is never copied
 * there (NO_COPY), and 16 KiB does for any frame of a small write.
 */
static ssize_t on_data_length(nghttp2_session *h2, uint8_t type, int32_t id, int32_t swin,
			      int32_t cwin, uint32_t max_frame, void *ud)
{
	const struct hstream *s = nghttp2_session_get_stream_user_data(h2, id);
	ssize_t n = (ssize_t)max_frame;

	(void)type;
	(void)ud;
	if (s && n > (ssize_t)s->rlen)
		n = s->rlen ? (ssize_t)s->rlen : 1;	/* 0: the END_STREAM alone */
	if (n > swin)
		n = swin;
	if (n > cwin)
		n = cwin;
	if (n > HB_OUT_BUF - 9)
		n = HB_OUT_BUF - 9;
	return n > 0 ? n : 1;
}

static int new_session(struct hconn *c)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	int ret;

	if (nghttp2_session_callbacks_new(&cb))
		return -1;
	if (nghttp2_option_new(&opt)) {
		nghttp2_session_callbacks_del(cb);
		return -1;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	nghttp2_session_callbacks_set_send_data_callback(cb, on_send_data);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cb, on_data_length);
	/* flow control follows what the app has taken: bytes are consumed once written */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_send_header_block_length(opt, H2_SERVER_MAX_HEADERS);
	if (c->client) {
		nghttp2_option_set_max_send_header_block_length(opt, H2_CLIENT_MAX_HEADERS);
		ret = nghttp2_session_client_new2(&c->h2, cb, c, opt);
	} else {
		ret = nghttp2_session_server_new2(&c->h2, cb, c, opt);
	}
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	return ret ? -1 : 0;
}

/* ztunnel's server settings (hbone.md), the 16 MiB connection window, first PING in 10 s. */
static int start_h2(struct hconn *c)
{
	static const nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_FRAME_SIZE, H2_MAX_FRAME },
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_SERVER_MAX_STREAMS },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_SERVER_MAX_HEADERS },
	};

	static const nghttp2_settings_entry civ[] = {
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_FRAME_SIZE, H2_MAX_FRAME },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_CLIENT_MAX_HEADERS },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};

	if (new_session(c) ||
	    (c->client ? nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, civ,
						 sizeof(civ) / sizeof(civ[0])) :
			 nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv,
						 sizeof(iv) / sizeof(iv[0]))) ||
	    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW))
		return -1;
	c->state = HC_H2;
	clock_gettime(CLOCK_MONOTONIC, &c->next_ping);
	timespec_add(&c->next_ping, H2_PING_EVERY_MS / 1000.0);
	hconn_deadline(c->home, &c->next_ping);
	return 0;
}

/* ---- I/O -------------------------------------------------------------------- */

/* A client's connect to IP:15008 failed: the why, else NULL. */
static const char *connect_failed(struct hconn *c, char *why, size_t cap)
{
	char to[64];
	int err = 0;
	socklen_t el = sizeof(err);

	if (!c->client || getsockopt(c->ev.fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || !err)
		return NULL;
	sd_format_addr(&c->remote, to, sizeof(to));
	snprintf(why, cap, "cannot connect to %s: %s", to, strerror(err));
	return why;
}

static int read_all(struct hconn *c);

/* TLS is up: HTTP/2 starts on the connection's home. */
static void handshake_done(struct hconn *c)
{
	if (start_h2(c)) {
		hconn_close(c, "cannot start HTTP/2");
		return;
	}
	if (c->client)
		outbound_ready(c);
	/*
	 * The peer's first frames (its SETTINGS, a CONNECT) may have come
	 * with its last handshake flight and sit read ahead in OpenSSL's
	 * buffer, where epoll cannot see them: read them now.
	 */
	if (read_all(c) < 0) {
		hconn_close(c, NULL);
		return;
	}
	hconn_flush(c);
}

static void handshake(struct hconn *c)
{
	char why[256];
	int ret, err, sent;

	if (SSL_in_before(c->ssl) && connect_failed(c, why, sizeof(why))) {
		c->fail_flag = "CONNECT";
		hconn_close(c, why);
		return;
	}
	ret = SSL_do_handshake(c->ssl);
	err = SSL_get_error(c->ssl, ret);
	/* done: the last flight leaves with the first HTTP/2 frames (hconn_flush), one send */
	sent = ret == 1 ? 1 : drain_tls(c);
	if (sent < 0) {
		c->fail_flag = "CONNECT";
		hconn_close(c, "connection reset during the TLS handshake");
		return;
	}

	if (ret == 1) {
		handshake_done(c);
		return;
	}
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		watch(c, (err == SSL_ERROR_WANT_READ ? EPOLLIN : 0) | (sent ? 0 : EPOLLOUT));
		return;
	}
	tls_error(c->ssl, ret, why, sizeof(why));
	c->fail_flag = c->peer.mismatch ? "IDENTITY_ERROR" : "TLS_FAILURE";
	hconn_close(c, why);
}

/* Reads what TLS holds into nghttp2: 0, or -1 when the connection is over. */
static int read_all(struct hconn *c)
{
	uint8_t buf[16384];
	int n, err;

	for (;;) {
		n = SSL_read(c->ssl, buf, sizeof(buf));
		if (n <= 0)
			break;
		c->tls_bytes += (unsigned)n;
		if (nghttp2_session_mem_recv(c->h2, buf, (size_t)n) < 0)
			return -1;
		if (c->state != HC_H2)
			return -1;
	}
	err = SSL_get_error(c->ssl, n);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return 0;
	ERR_clear_error();
	return -1;	/* close_notify, EOF or an error */
}

static void pump_streams(struct hconn *c)
{
	struct list_node *n, *next;

	for (n = c->streams.next; n != &c->streams; n = next) {
		next = n->next;
		hstream_pump(container_of(n, struct hstream, link));
		if (c->state != HC_H2)
			return;
	}
}

static void conn_ready(struct loop_src *src, uint32_t events)
{
	struct hconn *c = src->ctx;

	(void)events;
	if (c->state == HC_TLS) {
		handshake(c);
		return;
	}
	if (read_all(c) < 0) {
		hconn_close(c, NULL);
		return;
	}
	pump_streams(c);
	if (c->state == HC_H2)
		hconn_flush(c);
}

/* Encrypts c->out's unwritten bytes into c->net: 0 (all, or c->net is full), -1 failed. */
static int write_out(struct hconn *c)
{
	int w;

	while (c->outoff < c->outlen) {
		w = SSL_write(c->ssl, c->out + c->outoff, (int)(c->outlen - c->outoff));
		if (w <= 0) {
			if (SSL_get_error(c->ssl, w) == SSL_ERROR_WANT_WRITE)
				return 0;
			ERR_clear_error();
			return -1;
		}
		c->outoff += (size_t)w;
		c->tls_bytes += (unsigned)w;
	}
	c->outoff = c->outlen = 0;
	return 0;
}

/*
 * nghttp2's frames -> c->out (up to 256 KiB) -> SSL_write into c->net ->
 * one send() of many records (with whatever TLS left in c->net: the
 * handshake's last flight), until nghttp2 has nothing left or the socket is
 * full. A partial SSL_write leaves the rest in place (same bytes, a larger
 * retry is allowed); c->out and c->net bound what waits for the socket.
 */
void hconn_flush(struct hconn *c)
{
	size_t before;
	bool more;
	int sent = 1, rv;

	while (c->state == HC_H2) {
		before = c->outlen;
		rv = nghttp2_session_send(c->h2);
		if (rv) {
			hconn_close(c, nghttp2_strerror(rv));
			return;
		}
		/*
		 * nghttp2 may have more than c->out took; and when c->out began
		 * with bytes c->net had no room for, a frame that did not fit
		 * beside them waits in nghttp2 (WOULDBLOCK) with nothing added:
		 * once they are out, it goes (else it waited for the next event,
		 * up to the 10 s PING)
		 */
		more = c->outlen > before || (before && nghttp2_session_want_write(c->h2));
		if (c->outlen && write_out(c) < 0) {
			sent = -1;
			break;
		}
		sent = drain_tls(c);
		if (sent <= 0 || (!more && !c->outlen))
			break;
	}
	if (c->state != HC_H2)
		return;
	if (sent < 0 ||
	    (sent && !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))) {
		hconn_close(c, NULL);
		return;
	}
	watch(c, EPOLLIN | (sent ? 0 : EPOLLOUT));
	if (c->tls_bytes >= HOME_AFTER_BYTES)
		hhome_hand_over(c);
}

/*
 * The parts of a new connection both roles share, on the main loop (a
 * server's moves later: hhome_hand_over); NULL when out of memory (fd closed).
 */
static struct hconn *conn_new(struct hbone *hb, struct pod *p, int fd)
{
	struct hconn *c = calloc(1, sizeof(*c));
	struct timespec hs;

	if (!c) {
		close(fd);
		return NULL;
	}
	c->hb = hb;
	c->pod = p;
	c->ev.fd = fd;
	c->home = &hb->main;
	list_init(&c->streams);
	list_add_tail(&c->home->conns, &c->link);
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	c->idle_since = c->start;
	hs = c->start;
	timespec_add(&hs, TLS_HANDSHAKE_MS / 1000.0);
	hconn_deadline(c->home, &hs);
	return c;
}

static int conn_watch(struct hconn *c, uint32_t events)
{
	c->events = events;
	return loop_watch(c->home->loop, &c->ev, events, conn_ready, c);
}

void hconn_start_server(struct hbone *hb, struct pod *p, int fd)
{
	struct hconn *c = conn_new(hb, p, fd);
	socklen_t sl;

	if (!c)
		return;
	sl = sizeof(c->local);
	getsockname(fd, (struct sockaddr *)&c->local, &sl);
	sl = sizeof(c->remote);
	getpeername(fd, (struct sockaddr *)&c->remote, &sl);
	sa_unmap(&c->local);
	sa_unmap(&c->remote);
	c->peer.want_td = hb->ca.trust_domain;
	/* the leaf lives as long as the pod, which outlives its connections */
	c->ssl = tls_new(hb->server, p->hbone->leaf, &c->peer, fd, &c->net);
	if (!c->ssl || conn_watch(c, EPOLLIN)) {
		hconn_close(c, "cannot start TLS");
		return;
	}
	SSL_set_accept_state(c->ssl);
	handshake(c);
}

void hconn_unwatch(struct hconn *c)
{
	struct list_node *n;

	loop_unwatch(c->home->loop, &c->ev);
	list_for_each(n, &c->streams) {
		struct hstream *s = container_of(n, struct hstream, link);

		if (s->ev.fd >= 0)
			loop_unwatch(c->home->loop, &s->ev);
	}
}

void hconn_resume(struct hhome *home, struct hconn *c)
{
	struct list_node *n, *next;
	struct timespec now;

	c->home = home;
	list_add_tail(&home->conns, &c->link);
	if (conn_watch(c, c->events)) {
		hconn_close(c, "cannot watch the connection");
		return;
	}
	for (n = c->streams.next; n != &c->streams; n = next) {
		next = n->next;
		hstream_rewatch(container_of(n, struct hstream, link));
	}
	/* its deadlines (PING, upstream connects) join the home's at the next walk */
	clock_gettime(CLOCK_MONOTONIC, &now);
	hconn_deadline(home, &now);
	/* what the old loop had not read yet: epoll reports it again, OpenSSL's buffer not */
	conn_ready(&c->ev, 0);
}

struct hconn *hconn_start_client(struct hbone *hb, struct pod *src, const struct hdest *dst,
				 const struct sockaddr_storage *to, int fd)
{
	struct hconn *c = conn_new(hb, src, fd);

	if (!c)
		return NULL;
	c->client = true;
	c->dst = *dst;
	c->remote = *to;
	c->peer.want_identity = c->dst.identity;
	c->ssl = tls_new(hb->client, src->hbone->leaf, &c->peer, fd, &c->net);
	/* the connect is in flight: the handshake starts once the socket is writable */
	if (!c->ssl || conn_watch(c, EPOLLOUT)) {
		hconn_close(c, "cannot start TLS");
		return NULL;
	}
	SSL_set_connect_state(c->ssl);
	return c;
}
