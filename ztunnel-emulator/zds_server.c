/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ZDS server role: accepting peers (SO_PEERCRED judged by admission.c
 * first, limits, the FIFO of connections awaiting a first request), framing
 * and fd rules of each datagram, the nack wording, and handing decoded
 * requests to the workload manager (wm.c). Never changes the pod table
 * itself; the socket file is zsock.c's. Interface: zds_server.h.
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
#include "zds_server.h"

#define ERRMSG_MAX 512

/* The connection that has waited longest for its first request, or NULL. */
static struct conn *oldest_waiting(const struct daemon *d)
{
	return list_empty(&d->waiting) ? NULL : container_of(d->waiting.next, struct conn, wait);
}

static void free_conn(struct loop_deferred *dd)
{
	free(container_of(dd, struct conn, dead));
}

void zds_conn_close(struct daemon *d, struct conn *c, const char *why)
{
	log_line(LOG_INFO, T_WM, "connection from pid=%d uid=%u closed: %s", (int)c->pid,
		 (unsigned)c->uid, why);
	if (!c->got_request)
		list_del(&c->wait);
	list_del(&c->link);
	d->n_conns--;
	if (!c->privileged)
		d->n_unpriv_conns--;
	close(c->ev.fd);
	c->ev.fd = -1;
	/* freed after the current batch of events, which may still name it */
	loop_defer_free(&d->loop, &c->dead, free_conn);
}

static void conn_ready(struct loop_src *src, uint32_t events)
{
	(void)events;
	zds_server_read(src->ctx, container_of(src, struct conn, ev));
}

void zds_server_accept(struct daemon *d)
{
	uint8_t hello[8];
	struct ucred cred = { 0 };
	socklen_t cl = sizeof(cred);
	char why[160];
	enum admit verdict;
	struct conn *c;
	ssize_t n;
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
	verdict = admission_check(d, &cred, why, sizeof(why));
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
	c->ev.fd = fd;
	c->wm.serial = d->next_serial;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->privileged = peer_privileged(cred.uid);
	ret = loop_watch(&d->loop, &c->ev, EPOLLIN, conn_ready, d);
	if (ret) {
		log_line(LOG_WARN, T_WM, "cannot watch a new connection: %s", strerror(-ret));
		close(fd);
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
	n = zds_encode_hello(hello, sizeof(hello), ZDS_VERSION_V1);
	ret = fdpass_send(fd, hello, (size_t)n, NULL, 0, MSG_DONTWAIT);
	if (ret)
		zds_conn_close(d, c, "failed to send hello");
}

/* Sends the Ack (counted under the request's kind); false when the connection had to be closed. */
static bool send_ack(struct daemon *d, struct conn *c, const char *error)
{
	uint8_t buf[ZDS_MAX_MSG];
	size_t len = error ? strlen(error) : 0;
	ssize_t n;
	int ret;

	d->stats.requests[c->kind][len ? RES_NACK : RES_ACK]++;
	/* a nack longer than the peer's 1024-byte buffer would be truncated there */
	if (len > ZDS_MAX_MSG - 8)
		len = ZDS_MAX_MSG - 8;
	n = zds_encode_ack(buf, sizeof(buf), error, len);
	ret = n < 0 ? (int)n : fdpass_send(c->ev.fd, buf, (size_t)n, NULL, 0, MSG_DONTWAIT);
	if (ret) {
		char why[128];

		snprintf(why, sizeof(why), "failed to send ack: %s", strerror(-ret));
		zds_conn_close(d, c, why);
		return false;
	}
	return true;
}

static void nack_and_close(struct daemon *d, struct conn *c, const char *prefix, const char *msg)
{
	/* malformed or oversized requests, sent in a loop, must not flood the log */
	static struct log_limit lim = LOG_LIMIT_INIT(1, 20);
	char text[ZDS_MAX_MSG];

	snprintf(text, sizeof(text), "%s : %s", prefix, msg);
	log_limited(&lim, LOG_ERROR, T_WM, "%s", text);
	if (send_ack(d, c, text))
		zds_conn_close(d, c, prefix);
}

static void protocol_error(struct daemon *d, struct conn *c, const char *what)
{
	char msg[ERRMSG_MAX];

	/*
	 * Real ztunnel exits(1) on a protocol error; serving many clients, the
	 * emulator closes only the offending connection.
	 */
	snprintf(msg, sizeof(msg), "ProtocolError(\"%s\")", what);
	nack_and_close(d, c, "failure to process message", msg);
}

static void start_failure(struct daemon *d, struct conn *c, const char *why)
{
	char text[ZDS_MAX_MSG];

	snprintf(text, sizeof(text), "failure to start proxy : %s", why);
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

/*
 * MSG_CTRUNC also comes when the kernel finds no free fd for what was sent
 * (fault 17): if the daemon could not take even FDPASS_MAX_FDS more fds, the
 * fault is its own, and why names the limit. The probe dups what is there.
 */
static bool out_of_fds(const struct daemon *d, char *why, size_t cap)
{
	int probe[FDPASS_MAX_FDS], n, i;
	struct rlimit rl;

	for (n = 0; n < FDPASS_MAX_FDS; n++) {
		probe[n] = fcntl(d->loop.epfd, F_DUPFD_CLOEXEC, 0);
		if (probe[n] < 0)
			break;
	}
	for (i = 0; i < n; i++)
		close(probe[i]);
	if (n == FDPASS_MAX_FDS || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return false;
	snprintf(why, cap, "daemon out of file descriptors (limit %llu)", (unsigned long long)rl.rlim_cur);
	return true;
}

/*
 * One datagram off the connection, with the read failures answered: true
 * when m holds a message to decode (t0: when it came).
 */
static bool receive(struct daemon *d, struct conn *c, uint8_t *buf, struct fdpass_msg *m,
		    struct timespec *t0)
{
	char text[ERRMSG_MAX];
	int ret;

	ret = fdpass_recv(c->ev.fd, buf, ZDS_MAX_MSG, MSG_DONTWAIT, m);
	if (ret == -EAGAIN || ret == -EINTR)
		return false;
	clock_gettime(CLOCK_MONOTONIC, t0);
	c->kind = REQ_INVALID;	/* until it is known to be a well-formed request */
	if (ret == -ENOBUFS && out_of_fds(d, text, sizeof(text))) {
		nack_and_close(d, c, "failure to read message", text);
		return false;
	}
	if (ret == -EMSGSIZE || ret == -ENOBUFS || ret == -EBADMSG) {
		nack_and_close(d, c, "failure to read message",
			       ret == -EMSGSIZE ? "message truncated: longer than 1024 bytes" :
			       ret == -ENOBUFS ? "control message truncated: too many file descriptors" :
						 "malformed control message");
		return false;
	}
	if (ret) {
		zds_conn_close(d, c, strerror(-ret));
		return false;
	}
	if (m->len == 0) {
		/* SOCK_SEQPACKET: an empty datagram and end of stream read the same */
		fdpass_close_fds(m);
		zds_conn_close(d, c, "end of stream");
		return false;
	}
	if (m->other_cmsgs)
		log_line(LOG_WARN, T_WM, "ignoring %zu non-SCM_RIGHTS control message(s)", m->other_cmsgs);
	if (!c->got_request) {
		c->got_request = true;
		list_del(&c->wait);
	}
	return true;
}

/* The message as a request with the fds its type needs: true, or false once nacked. */
static bool decode(struct daemon *d, struct conn *c, const uint8_t *buf, struct fdpass_msg *m,
		   struct zds_request *req)
{
	const char *why = NULL;
	char text[ERRMSG_MAX];

	if (m->nfds > 1) {
		snprintf(text, sizeof(text), "Expected 1 FD, got %zu", m->nfds);
		fdpass_close_fds(m);
		nack_and_close(d, c, "failure to read message", text);
		return false;
	}
	if (zds_decode_request(buf, m->len, req, &why)) {
		fdpass_close_fds(m);
		snprintf(text, sizeof(text), "failed to decode message: %s", why);
		nack_and_close(d, c, "failure to read message", text);
		return false;
	}
	if (req->type == ZDS_REQ_NONE) {
		fdpass_close_fds(m);
		nack_and_close(d, c, "failure to read message", "unknown or missing request payload");
		return false;
	}
	if (req->type == ZDS_REQ_ADD && m->nfds == 0) {
		nack_and_close(d, c, "failure to read message", "No control message");
		return false;
	}
	if (req->type != ZDS_REQ_ADD && m->nfds) {
		fdpass_close_fds(m);
		nack_and_close(d, c, "failure to read message", "Unexpected control message");
		return false;
	}
	return true;
}

/* An Add's fd, if it is a network namespace: fd, or -1 once closed and nacked. */
static int add_netns_fd(struct daemon *d, struct conn *c, int fd)
{
	char text[ERRMSG_MAX];
	int ret = ns_fd_type(fd);

	if (ret == CLONE_NEWNET)
		return fd;
	close(fd);
	if (ret < 0)
		snprintf(text, sizeof(text), "the fd is not a namespace file");
	else
		snprintf(text, sizeof(text), "the fd is a %s namespace, not a network namespace",
			 ns_type_name(ret));
	nack_and_close(d, c, "failure to read message", text);
	return -1;
}

void zds_server_read(struct daemon *d, struct conn *c)
{
	uint8_t buf[ZDS_MAX_MSG];
	struct fdpass_msg m;
	struct zds_request req;
	struct wm_reply r;
	struct timespec t0, t1;
	int fd;

	if (!receive(d, c, buf, &m, &t0) || !decode(d, c, buf, &m, &req))
		return;
	switch (req.type) {
	case ZDS_REQ_ADD:
		fd = add_netns_fd(d, c, m.fds[0]);
		if (fd < 0)
			return;
		c->kind = REQ_ADD;	/* a well-formed Add from here on; before, a read failure */
		wm_add(d, &c->wm, &req, fd, &r);
		send_reply(d, c, &r);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		stats_observe_add(&d->stats, (double)(t1.tv_sec - t0.tv_sec) +
						     (t1.tv_nsec - t0.tv_nsec) / 1e9);
		break;
	case ZDS_REQ_DEL:
		c->kind = REQ_DEL;
		wm_del(d, &req, &r);
		send_reply(d, c, &r);
		break;
	case ZDS_REQ_KEEP:
		c->kind = REQ_KEEP;
		wm_keep(d, &c->wm, &req, &r);
		send_reply(d, c, &r);
		break;
	case ZDS_REQ_SNAPSHOT_SENT:
		c->kind = REQ_SNAPSHOT;
		wm_snapshot_sent(d, &c->wm, &r);
		send_reply(d, c, &r);
		break;
	default:
		break;
	}
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
		zds_conn_close(d, c, why);
	}
}

/* At shutdown: every connection closed and freed, silently. */
void zds_server_drop_all(struct daemon *d)
{
	while (!list_empty(&d->conns)) {
		struct conn *c = container_of(d->conns.next, struct conn, link);

		list_del(&c->link);
		close(c->ev.fd);
		free(c);
	}
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
