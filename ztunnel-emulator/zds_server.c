/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ZDS server role: accepting peers (SO_PEERCRED judged by admission.c
 * first, limits, the FIFO of connections awaiting a first request), each
 * one a common/zds_conn.c endpoint (ztunnel's side: framing, fd rules), the
 * nack wording, and handing decoded requests to the workload manager
 * (wm.c). Never changes the pod table itself; the socket file is zsock.c's.
 * Interface: zds_server.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
#include "clock.h"
#include "daemon.h"
#include "fdpass.h"
#include "listeners.h"
#include "log.h"
#include "netns.h"
#include "wm.h"
#include "zds.h"
#include "zds_conn.h"
#include "zds_server.h"

#define ERRMSG_MAX 512

/* The connection that has waited longest for its first request, or NULL. */
static struct conn *oldest_waiting(const struct daemon *d)
{
	return list_empty(&d->waiting) ? NULL : container_of(d->waiting.next, struct conn, wait);
}

/* How many of the connections served come from uid (admission's per-user cap). */
static size_t conns_of(const void *ctx, uid_t uid)
{
	const struct daemon *d = ctx;
	const struct list_node *l;
	size_t n = 0;

	list_for_each(l, &d->conns)
		n += container_of(l, struct conn, link)->uid == uid;
	return n;
}

static void free_conn(struct loop_deferred *dd)
{
	free(container_of(dd, struct conn, dead));
}

void zds_server_close(struct daemon *d, struct conn *c, const char *why)
{
	log_line(LOG_INFO, T_WM, "connection from pid=%d uid=%u closed: %s", (int)c->pid,
		 (unsigned)c->uid, why);
	if (!c->got_request)
		list_del(&c->wait);
	list_del(&c->link);
	d->n_conns--;
	if (!c->privileged)
		d->n_unpriv_conns--;
	zds_conn_close(&c->zc);
	/* freed after the current batch of events, which may still name it */
	loop_defer_free(&d->loop, &c->dead, free_conn);
}

static const struct zds_conn_ops server_ops;

void zds_server_accept(struct daemon *d)
{
	struct ucred cred = { 0 };
	socklen_t cl = sizeof(cred);
	struct admission_load load;
	char why[160];
	enum admit verdict;
	struct conn *c;
	int fd, ret;

	fd = accept_or_drop(d, d->server.fd, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (fd != -EAGAIN && fd != -EINTR && fd != -ECONNABORTED && fd != -EMFILE)
			log_line(LOG_WARN, T_WM, "accept failed: %s", strerror(-fd));
		return;
	}
	d->next_serial++;	/* every stream, served or not */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
		cred.uid = (uid_t)-1;	/* unknown: never allowed */
	load = (struct admission_load){ d->n_conns, d->n_unpriv_conns, conns_of, d };
	verdict = admission_check(&d->cfg, &load, &cred, why, sizeof(why));
	if (verdict != ADMIT_OK) {
		admission_turn_away(fd, &cred, verdict, why);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_line(LOG_WARN, T_WM, "out of memory accepting a connection");
		close(fd);
		return;
	}
	c->wm.serial = d->next_serial;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->privileged = peer_privileged(cred.uid);
	ret = zds_conn_start(&c->zc, &d->loop, fd, ZDS_ZTUNNEL, 0, &server_ops, d);
	if (ret) {
		log_line(LOG_WARN, T_WM, "cannot watch a new connection: %s", strerror(-ret));
		zds_conn_close(&c->zc);
		free(c);
		return;
	}
	list_add(&d->conns, &c->link);
	d->n_conns++;
	if (!c->privileged)
		d->n_unpriv_conns++;

	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	timespec_add(&c->deadline, d->cfg.timeout);
	/* every peer gets the same --timeout, so appending keeps the FIFO in deadline order */
	list_add_tail(&d->waiting, &c->wait);

	/* tracing-style fields after the message: seeds/000's grep still matches */
	log_line(LOG_INFO, T_WM, "handling new stream pid=%d uid=%u gid=%u", (int)c->pid,
		 (unsigned)c->uid, (unsigned)c->gid);
	ret = zds_conn_hello(&c->zc);
	if (ret)
		zds_server_close(d, c, "failed to send hello");
}

/* Sends the Ack (counted under the request's kind); false when the connection had to be closed. */
static bool send_ack(struct daemon *d, struct conn *c, const char *error)
{
	int ret;

	d->stats.requests[c->kind][error && *error ? RES_NACK : RES_ACK]++;
	ret = zds_conn_ack(&c->zc, error);
	if (ret) {
		char why[128];

		snprintf(why, sizeof(why), "failed to send ack: %s", strerror(-ret));
		zds_server_close(d, c, why);
		return false;
	}
	return true;
}

static void nack_and_close(struct daemon *d, struct conn *c, const char *prefix, const char *msg)
{
	/* malformed or oversized requests, sent in a loop, must not flood the log */
	static struct log_limit lim = LOG_LIMIT_INIT(1, 20);
	char text[ZDS_MAX_MSG];

	zds_conn_nack_text(text, sizeof(text), prefix, msg);
	log_limited(&lim, LOG_ERROR, T_WM, "%s", text);
	if (send_ack(d, c, text))
		zds_server_close(d, c, prefix);
}

static void protocol_error(struct daemon *d, struct conn *c, const char *what)
{
	char msg[ERRMSG_MAX];

	/*
	 * Real ztunnel exits(1) on a protocol error; serving many clients, the
	 * listening role closes only the offending connection.
	 */
	snprintf(msg, sizeof(msg), "ProtocolError(\"%s\")", what);
	nack_and_close(d, c, ZDS_NACK_PROCESS, msg);
}

static void start_failure(struct daemon *d, struct conn *c, const char *why)
{
	char text[ZDS_MAX_MSG];

	zds_conn_nack_text(text, sizeof(text), ZDS_NACK_START, why);
	log_line(LOG_ERROR, T_SM, "%s", text);
	send_ack(d, c, text);
}

/* The workload manager's answer, worded and sent as ztunnel does. */
static void send_reply(struct daemon *d, struct conn *c, const struct wm_reply *r)
{
	switch (r->verdict) {
	case WM_ACK:
		send_ack(d, c, NULL);
		break;
	case WM_NACK:
		start_failure(d, c, r->text);
		break;
	case WM_PROTOCOL_ERROR:
		protocol_error(d, c, r->text);
		break;
	}
}

/* A datagram that broke the framing or the fd rules: nacked, then closed. */
static void bad_request(struct daemon *d, struct conn *c, struct zds_in *in)
{
	c->kind = REQ_INVALID;
	if (in->other_cmsgs)
		log_line(LOG_WARN, T_WM, "ignoring %zu non-SCM_RIGHTS control message(s)", in->other_cmsgs);
	nack_and_close(d, c, ZDS_NACK_READ, in->why);
}

/* A well-formed request: handed to the workload manager, its reply sent. */
static void handle_request(struct daemon *d, struct conn *c, struct zds_in *in)
{
	struct wm_reply r;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	c->kind = REQ_INVALID;	/* until it is known to be a well-formed request */
	if (in->other_cmsgs)
		log_line(LOG_WARN, T_WM, "ignoring %zu non-SCM_RIGHTS control message(s)", in->other_cmsgs);
	if (!c->got_request) {
		c->got_request = true;
		list_del(&c->wait);
	}
	/* the request's log lines leave in one write (an Add's after its answer, below) */
	log_batch_begin();
	switch (in->req.type) {
	case ZDS_REQ_ADD:
		c->kind = REQ_ADD;	/* a well-formed Add from here on; before, a read failure */
		wm_add(d, &c->wm, &in->req, in->netns_fd, &r);
		/*
		 * The Add's lines, stamped and in order, go out in one write just
		 * after its ack, as ztunnel's log writer thread writes them after
		 * the event (issue 18: a file write of 3-10 us less for the client)
		 */
		send_reply(d, c, &r);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		log_batch_end();
		stats_observe_add(&d->stats, (double)(t1.tv_sec - t0.tv_sec) +
						     (t1.tv_nsec - t0.tv_nsec) / 1e9);
		break;
	case ZDS_REQ_DEL:
		c->kind = REQ_DEL;
		wm_del(d, &c->wm, &in->req, &r);
		log_batch_end();
		send_reply(d, c, &r);
		break;
	case ZDS_REQ_KEEP:
		c->kind = REQ_KEEP;
		wm_keep(d, &c->wm, &in->req, &r);
		log_batch_end();
		send_reply(d, c, &r);
		break;
	case ZDS_REQ_SNAPSHOT_SENT:
		c->kind = REQ_SNAPSHOT;
		wm_snapshot_sent(d, &c->wm, &r);
		log_batch_end();
		send_reply(d, c, &r);
		break;
	default:
		log_batch_end();
		break;
	}
}

static void on_message(struct zds_conn *zc, enum zds_msg type, const struct zds_event *ev)
{
	struct conn *c = container_of(zc, struct conn, zc);

	if (type == ZDS_MSG_REQUEST)
		handle_request(zc->ctx, c, ev->in);
	else
		bad_request(zc->ctx, c, ev->in);
}

static void on_close(struct zds_conn *zc, enum zds_end how, const char *why)
{
	zds_server_close(zc->ctx, container_of(zc, struct conn, zc), how == ZDS_END_EOF ? "end of stream" : why);
}

static const struct zds_conn_ops server_ops = { .on_message = on_message, .on_close = on_close };

void zds_server_read(struct daemon *d, struct conn *c)
{
	(void)d;
	zds_conn_dispatch(&c->zc, EPOLLIN);
}

void zds_server_expire(struct daemon *d)
{
	struct timespec now;
	struct conn *c;
	char why[96];

	clock_gettime(CLOCK_MONOTONIC, &now);
	while ((c = oldest_waiting(d)) && expired(&c->deadline, &now)) {
		snprintf(why, sizeof(why), "no request within %gs of the hello", d->cfg.timeout);
		log_line(LOG_WARN, T_WM, "closing idle connection from pid=%d", (int)c->pid);
		zds_server_close(d, c, why);
	}
}

/* At shutdown: every connection closed and freed, silently. */
void zds_server_drop_all(struct daemon *d)
{
	while (!list_empty(&d->conns)) {
		struct conn *c = container_of(d->conns.next, struct conn, link);

		list_del(&c->link);
		zds_conn_close(&c->zc);
		free(c);
	}
}

void zds_server_stop(struct daemon *d)
{
	while (!list_empty(&d->conns))
		zds_server_close(d, container_of(d->conns.next, struct conn, link), "draining");
	if (d->server.fd >= 0)
		close(d->server.fd);
	d->server.fd = -1;
	sockpath_remove(&d->sock);
}

static void server_ready(struct loop_src *src, uint32_t events)
{
	(void)events;
	zds_server_accept(src->ctx);
}

static long timer_next(void *ctx)
{
	struct conn *c = oldest_waiting(ctx);

	return c ? ms_until(&c->deadline) : -1;
}

static void timer_run(void *ctx)
{
	zds_server_expire(ctx);
}

int zds_server_start(struct daemon *d)
{
	list_init(&d->conns);
	list_init(&d->waiting);
	loop_add_timer(&d->loop, &d->conn_timer, timer_next, timer_run, d);
	return loop_watch(&d->loop, &d->server, EPOLLIN, server_ready, d);
}
