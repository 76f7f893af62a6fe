/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Istio's ZDS client role (--connect), as ztunnel's workload manager plays
 * it (roles.md 1): connect with backoff (10 ms doubled before each wait, at
 * most 15 s, forever), Hello, per-connection reset keeping the proxies, one
 * request at a time through wm.c, reconnect on end of stream or a read
 * error, exit 1 on a protocol error. Never changes the pod table itself; the
 * connection is ztunnel's side of a common/zds_conn.c endpoint (framing, fd
 * rules, the Hello). Interface: zds_client.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "fmt.h"
#include "log.h"
#include "wm.h"
#include "zds_client.h"
#include "zds_conn.h"

#define BACKOFF_FIRST_MS 10
#define BACKOFF_MAX_MS 15000

struct zds_client {
	struct zds_conn zc;	/* the connection, ztunnel's side; closed while not connected */
	struct wm_session wm;
	long backoff_ms;	/* the last wait; doubled before the next */
	struct timespec next_try;	/* monotonic: when to connect again */
	struct timespec blocked_since;	/* monotonic: when readiness was last lost */
	bool was_ready;
	int kind;		/* enum req_kind of the request being answered */
	bool served;		/* this connection carried a request */
	struct loop_timer timer;
	struct loop_deferred dead;	/* stopped: freed at the end of the loop turn */
};

static const struct zds_conn_ops client_ops;

bool zds_client_connected(const struct daemon *d)
{
	return d->client && zds_conn_is_open(&d->client->zc);
}

bool zds_client_ready(const struct daemon *d)
{
	const struct zds_client *c = d->client;

	return c && zds_conn_is_open(&c->zc) && wm_ready(d, &c->wm);
}

/* Readiness lost or regained: ztunnel logs the task's release. */
static void note_readiness(struct daemon *d)
{
	struct zds_client *c = d->client;
	bool now = zds_client_ready(d);
	struct timespec t;
	char dur[32];
	long ms;

	if (now == c->was_ready)
		return;
	c->was_ready = now;
	clock_gettime(CLOCK_MONOTONIC, &t);
	if (!now) {
		c->blocked_since = t;
		return;
	}
	ms = (t.tv_sec - c->blocked_since.tv_sec) * 1000 +
	     (t.tv_nsec - c->blocked_since.tv_nsec) / 1000000;
	duration_text(dur, sizeof(dur), ms);
	log_line(LOG_INFO, "ztunnel::readiness", "Task 'workload proxy manager' complete (%s), marking server ready",
		 dur);
}

/*
 * Closes the connection; the next try comes after wait_ms. A connection that
 * ended before carrying any request waits the connect backoff instead, so an
 * agent that accepts and hangs up at once cannot make the daemon spin.
 */
static void disconnect(struct daemon *d, long wait_ms)
{
	struct zds_client *c = d->client;

	if (!c->served && wait_ms < c->backoff_ms) {
		c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
		wait_ms = c->backoff_ms;
	}
	zds_conn_close(&c->zc);
	c->wm.snapshot_sent = false;
	clock_gettime(CLOCK_MONOTONIC, &c->next_try);
	timespec_add(&c->next_try, (double)wait_ms / 1000);
	note_readiness(d);
}

void zds_client_adopt(struct daemon *d, int fd)
{
	struct zds_client *c = d->client;
	char e[160];
	int ret;

	c->served = false;
	log_line(LOG_INFO, T_WM, "handling new stream");
	/* connection-scoped state only: the running proxies stay */
	wm_session_reset(d, &c->wm);
	ret = zds_conn_start(&c->zc, &d->loop, fd, ZDS_ZTUNNEL, 0, &client_ops, d);
	if (!ret)
		ret = zds_conn_hello(&c->zc);
	if (ret) {
		os_error_debug(e, sizeof(e), -ret);
		log_line(LOG_ERROR, T_WM, "node agent announcement failed (%s), retrying in %s", e,
			 "5ms");
		disconnect(d, 5);
	}
}

static void connect_failed(struct daemon *d, int err)
{
	struct zds_client *c = d->client;
	char e[160], dur[32];

	c->backoff_ms *= 2;	/* doubled before the first wait: 20 ms, 40 ms ... */
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	os_error_debug(e, sizeof(e), err);
	duration_text(dur, sizeof(dur), c->backoff_ms);
	if (d->cfg.lines->connect_text == CONNECT_TEXT_124)
		log_line(LOG_WARN, T_WM,
			 "failed to connect to the Istio CNI node agent over \"%s\", is the node agent healthy? details: %s. retrying in %s",
			 d->cfg.socket_path, e, dur);
	else if (d->cfg.lines->connect_text == CONNECT_TEXT_123)
		log_line(LOG_WARN, T_WM, "failed to connect to server \"%s\": %s. retrying in %s",
			 d->cfg.socket_path, e, dur);
	else
		log_line(LOG_WARN, T_WM, "failed to connect to server: %s. retrying in %s", e, dur);
	clock_gettime(CLOCK_MONOTONIC, &c->next_try);
	timespec_add(&c->next_try, (double)c->backoff_ms / 1000);
}

static void try_connect(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(d->cfg.socket_path) >= sizeof(sa.sun_path)) {
		connect_failed(d, ENAMETOOLONG);
		return;
	}
	strcpy(sa.sun_path, d->cfg.socket_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		connect_failed(d, errno);
		return;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		connect_failed(d, err);
		return;
	}
	zds_client_adopt(d, fd);
}

/* Sends an Ack (counted under the request's kind); false once the connection is gone. */
static bool send_ack(struct daemon *d, const char *error)
{
	struct zds_client *c = d->client;
	char e[160];
	int ret;

	d->stats.requests[c->kind][error && *error ? RES_NACK : RES_ACK]++;
	ret = zds_conn_ack(&c->zc, error);
	if (!ret)
		return true;
	os_error_debug(e, sizeof(e), -ret);
	log_line(LOG_WARN, T_WM, "process stream ended: SendMessageError(%s)", e);
	disconnect(d, 0);
	return false;
}

/* A read or fd-rule failure: nacked, then the connection ends and a new one starts. */
static void read_failure(struct daemon *d, const char *why)
{
	char text[ZDS_MAX_MSG];

	zds_conn_nack_text(text, sizeof(text), ZDS_NACK_READ, why);
	log_line(LOG_ERROR, T_WM, "failed to read message: %s", why);
	if (send_ack(d, text)) {
		log_line(LOG_WARN, T_WM, "process stream ended: ReceiveMessageError(\"%s\")", why);
		disconnect(d, 0);
	}
}

/* ztunnel >= 1.23 exits 1; --protocol-errors close reconnects instead, and says so. */
static void protocol_error(struct daemon *d, const char *what)
{
	char err[ZDS_MAX_MSG], text[ZDS_MAX_MSG];

	/* ztunnel 1.21-1.22's ProtocolError carried no text */
	if (*what)
		snprintf(err, sizeof(err), "ProtocolError(\"%s\")", what);
	else
		snprintf(err, sizeof(err), "ProtocolError");
	zds_conn_nack_text(text, sizeof(text), ZDS_NACK_PROCESS, err);
	log_line(LOG_ERROR, T_WM, "failed to process message: %s", err);
	send_ack(d, text);
	if (!d->cfg.protocol_errors_exit) {
		/* the release's own behaviour says nothing more; an override says so */
		log_line(LOG_WARN, T_WM, "process stream ended: %s%s", err,
			 d->cfg.rel->protocol_errors_exit ?
			 " (--protocol-errors close: reconnecting instead of exiting)" : "");
		disconnect(d, 0);
		return;
	}
	log_line(LOG_ERROR, T_WM, "protocol mismatch error while processing stream, shutting down");
	log_line(LOG_ERROR, T_EMU, "WorkloadProxyManager run error: %s", err);
	d->exit_status = 1;
	loop_stop(&d->loop);
}

static void send_reply(struct daemon *d, const struct wm_reply *r, const struct zds_request *req)
{
	char text[ZDS_MAX_MSG], q[400];

	switch (r->verdict) {
	case WM_ACK:
		note_readiness(d);	/* recomputed before the ack, as ztunnel does */
		send_ack(d, NULL);
		break;
	case WM_NACK:
		log_quote(q, sizeof(q), req->uid.p, req->uid.len);
		if (d->cfg.lines->new_texts) {
			log_line(LOG_ERROR, T_WM, "failed to start proxy: %s uid=%s", r->text, q);
			log_line(LOG_INFO, T_WM, "scheduling retry uids=[%s]", q);
		} else {
			log_line(LOG_ERROR, T_WM, "failed to start proxy: %s", r->text);
			log_line(LOG_INFO, T_WM, "scheduling retry");
		}
		note_readiness(d);
		zds_conn_nack_text(text, sizeof(text), ZDS_NACK_START, r->text);
		send_ack(d, text);
		break;
	case WM_PROTOCOL_ERROR:
		protocol_error(d, r->text);
		break;
	}
}

/*
 * An Add: its lines, stamped and in order, leave in one write just after its
 * answer and its time (request received -> answer sent) goes to the Add
 * histogram, as zds_server.c's.
 */
static void handle_add(struct daemon *d, struct zds_in *in)
{
	struct zds_client *c = d->client;
	struct timespec t0, t1;
	struct wm_reply r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	log_batch_begin();
	c->kind = REQ_ADD;
	wm_add(d, &c->wm, &in->req, in->netns_fd, &r);
	send_reply(d, &r, &in->req);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_batch_end();
	stats_observe_add(&d->stats, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

static void handle_request(struct daemon *d, struct zds_in *in)
{
	struct zds_client *c = d->client;
	struct wm_reply r;

	if (in->req.type == ZDS_REQ_ADD) {
		handle_add(d, in);
		return;
	}
	/* any other request's log lines leave in one write, before its answer */
	log_batch_begin();
	switch (in->req.type) {
	case ZDS_REQ_DEL:
		c->kind = REQ_DEL;
		wm_del(d, &c->wm, &in->req, &r);
		break;
	case ZDS_REQ_KEEP:
		c->kind = REQ_KEEP;
		wm_keep(d, &c->wm, &in->req, &r);
		break;
	default:
		c->kind = REQ_SNAPSHOT;
		wm_snapshot_sent(d, &c->wm, &r);
		break;
	}
	log_batch_end();
	send_reply(d, &r, &in->req);
}

static void on_message(struct zds_conn *zc, enum zds_msg type, const struct zds_event *ev)
{
	struct daemon *d = zc->ctx;
	struct zds_client *c = d->client;

	if (type == ZDS_MSG_BAD) {
		c->kind = REQ_INVALID;
		read_failure(d, ev->in->why);
		return;
	}
	c->served = true;
	c->backoff_ms = BACKOFF_FIRST_MS;
	if (ev->in->other_cmsgs)
		log_line(LOG_WARN, T_WM, "ignoring %zu non-SCM_RIGHTS control message(s)", ev->in->other_cmsgs);
	handle_request(d, ev->in);
}

static void on_close(struct zds_conn *zc, enum zds_end how, const char *why)
{
	if (how == ZDS_END_EOF)
		log_line(LOG_INFO, T_WM, "process stream ended with eof");
	else
		log_line(LOG_WARN, T_WM, "process stream ended: ReceiveMessageError(\"%s\")", why);
	disconnect(zc->ctx, 0);
}

static const struct zds_conn_ops client_ops = { .on_message = on_message, .on_close = on_close };

void zds_client_read(struct daemon *d)
{
	zds_conn_dispatch(&d->client->zc, EPOLLIN);
}

static long timer_next(void *ctx)
{
	struct daemon *d = ctx;

	return zds_conn_is_open(&d->client->zc) ? -1 : ms_until(&d->client->next_try);
}

/* Every turn: a connect when one is due; readiness changed by a pending pod's retry. */
static void timer_run(void *ctx)
{
	struct daemon *d = ctx;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!zds_conn_is_open(&d->client->zc) && expired(&d->client->next_try, &now))
		try_connect(d);
	if (zds_conn_is_open(&d->client->zc))
		note_readiness(d);
}

int zds_client_start(struct daemon *d)
{
	struct zds_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->zc.ev.fd = -1;
	c->backoff_ms = BACKOFF_FIRST_MS;
	c->wm.istio_rules = true;
	clock_gettime(CLOCK_MONOTONIC, &c->next_try);
	c->blocked_since = c->next_try;
	d->client = c;
	loop_add_timer(&d->loop, &c->timer, timer_next, timer_run, d);
	return 0;
}

static void free_client(struct loop_deferred *dd)
{
	free(container_of(dd, struct zds_client, dead));
}

/* Called from a source's callback or at exit, never from a timer's run (the list is walked). */
void zds_client_stop(struct daemon *d)
{
	struct zds_client *c = d->client;

	if (!c)
		return;
	zds_conn_close(&c->zc);
	list_del(&c->timer.node);
	d->client = NULL;
	/* a later event of this batch may still name it */
	loop_defer_free(&d->loop, &c->dead, free_client);
}
