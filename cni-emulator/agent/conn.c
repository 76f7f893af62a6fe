/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: one ztunnel connection of the agent's ZDS server (roles.md §2): the
 * Hello with its 5 s deadline, the lock-step queue of requests (one in
 * flight, written within 5 s, acked within 5 s), istio-cni's answers to a
 * nack, a missed deadline or a message nobody asked for, and the connection's
 * end. Never touches: the listening socket (server.c), what goes in a
 * snapshot (snapshot.c). Interface: conn.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "fdpass.h"
#include "lines.h"
#include "log_go.h"

struct ztconn *zc_newest(struct agent *a)
{
	return list_empty(&a->conns) ? NULL : container_of(a->conns.prev, struct ztconn, node);
}

/* The pod's state for GET /pods: acked by the newest connection or not. */
static void server_acked(struct agent *a, const char *uid, bool ok)
{
	struct apod *p = apod_find(a, uid);

	if (p)
		p->acked = ok;
}

void zmsg_free(struct zmsg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->uid);
	free(m);
}

/* Answers m's job (if any) with an error, or counts its success. */
static void zmsg_answer(struct zmsg *m, const char *err)
{
	struct agent_job *j = m->job;

	m->job = NULL;
	if (!j)
		return;
	if (err && j->status < 400) {
		j->status = 500;
		snprintf(j->body, sizeof(j->body), "%s\n", err);
	}
	if (--j->waiting == 0)
		j->done(j);
}

static void free_conn(struct loop_deferred *d)
{
	free(container_of(d, struct ztconn, dead));
}

static void set_deadline(struct ztconn *c, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	timespec_add(&c->deadline, ms / 1000.0);
}

void zc_drop(struct ztconn *c, const char *why)
{
	struct agent *a = c->a;
	struct zmsg *m;

	while (!list_empty(&c->queue)) {
		m = container_of(c->queue.next, struct zmsg, node);
		list_del(&m->node);
		zmsg_answer(m, why ? why : "ztunnel disconnected");
		zmsg_free(m);
	}
	list_del(&c->node);
	a->nconns--;
	close(c->ev.fd);
	c->ev.fd = -1;
	line_disconnected(c);
	/* istio-cni's handleConn returns an error for all but EOF and its own shutdown */
	if (why && !a->stopping)
		line_conn_failed(c, why);
	loop_defer_free(&a->loop, &c->dead, free_conn);
}

struct zmsg *zmsg_new(enum zds_req_type type, const struct apod *p, const char *uid)
{
	struct zds_request req = { .type = type };
	struct zmsg *m = calloc(1, sizeof(*m));
	ssize_t n;

	if (!m)
		return NULL;
	m->fd = -1;
	m->type = type;
	m->uid = uid ? strdup(uid) : NULL;
	req.uid = zds_str_c(uid);
	if (type == ZDS_REQ_ADD) {
		req.has_workload_info = true;
		req.info.name = zds_str_c(p->name);
		req.info.namespace_ = zds_str_c(p->namespace_);
		req.info.service_account = zds_str_c(p->service_account);
		m->fd = fcntl(p->nsfd, F_DUPFD_CLOEXEC, 3);
	}
	n = zds_encode_request(m->buf, sizeof(m->buf), &req);
	if (n < 0 || (uid && !m->uid) || (type == ZDS_REQ_ADD && m->fd < 0)) {
		zmsg_free(m);
		return NULL;
	}
	m->len = (size_t)n;
	return m;
}

/* Writes the head of c's queue if nothing is in flight. */
void zc_pump(struct ztconn *c)
{
	struct zmsg *m;
	char err[128];
	int ret;

	if (c->sent || list_empty(&c->queue) || c->state == ZC_HELLO)
		return;
	m = container_of(c->queue.next, struct zmsg, node);
	ret = fdpass_send(c->ev.fd, m->buf, m->len, &m->fd, m->fd >= 0 ? 1 : 0,
			  MSG_DONTWAIT | MSG_NOSIGNAL);
	if (ret == -EAGAIN) {
		/* a full socket: wait for room, 5 s at most */
		if (!c->writing)
			set_deadline(c, AGENT_DEADLINE_MS);
		c->writing = true;
		loop_modify(&c->a->loop, &c->ev, EPOLLIN | EPOLLOUT);
		return;
	}
	c->writing = false;
	if (ret) {
		snprintf(err, sizeof(err), "write unix: sendmsg: %s", strerror(-ret));
		if (c->state == ZC_STEADY)
			line_send_error(c, err, true);
		zc_drop(c, err);
		return;
	}
	loop_modify(&c->a->loop, &c->ev, EPOLLIN);
	c->sent = true;
	set_deadline(c, AGENT_DEADLINE_MS);
}

void zc_enqueue(struct ztconn *c, struct zmsg *m)
{
	list_add_tail(&c->queue, &m->node);
	zc_pump(c);
}

static void zc_hello(struct ztconn *c, const uint8_t *buf, size_t len)
{
	const char *why = NULL;
	uint64_t version = 0;
	char reason[256];

	if (zds_decode_hello(buf, len, &version, &why)) {
		snprintf(reason, sizeof(reason), "failed to read hello from ztunnel: %s", why);
		zc_drop(c, reason);
		return;
	}
	line_hello(c, version == ZDS_VERSION_V1 ? "V1" : "NOT_USED");
	zc_snapshot(c);
}

/* An ack for the head of the queue; the next request goes out. */
static void zc_ack(struct ztconn *c, const uint8_t *buf, size_t len)
{
	struct zmsg *m = container_of(c->queue.next, struct zmsg, node);
	struct zds_response resp;
	const char *why = NULL;
	char err[600];

	c->sent = false;
	list_del(&m->node);
	if (zds_decode_response(buf, len, &resp, &why) || !resp.has_ack) {
		snprintf(err, sizeof(err), "invalid ztunnel response: %s", why ? why : "no ack");
		line_send_error(c, err, false);
	} else if (resp.error.len) {
		snprintf(err, sizeof(err), "%.*s", (int)resp.error.len, resp.error.p);
		if (m->type == ZDS_REQ_SNAPSHOT_SENT)
			line_snapshot_sent_nack(c, err);
		else if (c->state == ZC_SNAPSHOT)
			line_snapshot_nack(c, m->uid, err);
		else if (m->type == ZDS_REQ_ADD)
			line_add_nack(c, m->uid, err);
		else	/* istio-cni does not read a Del's ack: the emulator says it */
			golog(LOG_ERROR, SCOPE_EMU, "failed to delete workload: %s\tuid=%s", err,
			      m->uid ? m->uid : "");
	} else {
		err[0] = '\0';
	}
	if (m->type == ZDS_REQ_ADD)
		server_acked(c->a, m->uid, c == zc_newest(c->a) && !err[0]);
	if (m->type == ZDS_REQ_SNAPSHOT_SENT)
		c->state = ZC_STEADY;
	zmsg_answer(m, err[0] ? err : NULL);
	zmsg_free(m);
	c->deadline = (struct timespec){ 0 };
	zc_pump(c);
}

static void zc_ready(struct loop_src *src, uint32_t events)
{
	struct ztconn *c = container_of(src, struct ztconn, ev);
	uint8_t buf[ZDS_MAX_MSG];
	struct fdpass_msg m;
	int ret;

	if ((events & EPOLLOUT) && c->writing) {
		zc_pump(c);
		if (c->ev.fd < 0 || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			return;
	}
	ret = fdpass_recv(c->ev.fd, buf, sizeof(buf), MSG_DONTWAIT, &m);
	if (ret == -EAGAIN)
		return;
	if (ret) {
		char reason[128];

		snprintf(reason, sizeof(reason), "read unix: %s", strerror(-ret));
		zc_drop(c, reason);
		return;
	}
	fdpass_close_fds(&m);	/* ztunnel never sends an fd */
	if (m.len == 0) {
		zc_drop(c, NULL);
		return;
	}
	if (c->state == ZC_HELLO)
		zc_hello(c, buf, m.len);
	else if (c->sent)
		zc_ack(c, buf, m.len);
	else {
		line_unexpected_message(c);
		zc_drop(c, "ztunnel protocol error, unexpected message");
	}
}

/* A random (version 4) UUID, as istio-cni gives each connection; from the clock if need be. */
static void make_uuid(char out[37], unsigned long id)
{
	uint8_t b[16];
	struct timespec ts;
	size_t i;

	if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		for (i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)((ts.tv_nsec >> (i % 4 * 8)) ^ (id >> (i % 8 * 8)) ^ (i * 37u));
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

struct ztconn *zc_new(struct agent *a, int fd, pid_t pid)
{
	struct ztconn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return NULL;
	}
	c->a = a;
	c->pid = pid;
	c->id = ++a->next_conn_id;
	list_init(&c->queue);
	c->ev.fd = fd;
	if (loop_watch(&a->loop, &c->ev, EPOLLIN, zc_ready, c)) {
		close(fd);
		free(c);
		return NULL;
	}
	list_add_tail(&a->conns, &c->node);
	a->nconns++;
	set_deadline(c, AGENT_DEADLINE_MS);	/* for the Hello */
	make_uuid(c->uuid, c->id);
	line_connected(c);
	return c;
}

/* A deadline passed: no Hello, no room or no ack in 5 s. */
void zc_expired(struct ztconn *c)
{
	struct zmsg *m;

	c->deadline = (struct timespec){ 0 };
	if (c->state == ZC_HELLO) {
		zc_drop(c, "failed to read hello from ztunnel: i/o timeout (no hello in 5 s)");
		return;
	}
	if (c->state == ZC_SNAPSHOT || c->writing) {
		/* istio-cni: a transport error in the snapshot ends the connection */
		zc_drop(c, c->writing ? "write timed out" : "ack timed out during the snapshot");
		return;
	}
	if (!c->sent)
		return;
	/* steady state: istio-cni warns and keeps the connection */
	m = container_of(c->queue.next, struct zmsg, node);
	line_send_error(c, "read unix: i/o timeout (no ack in 5 s)", false);
	c->sent = false;
	list_del(&m->node);
	zmsg_answer(m, "timed out waiting for valid ztunnel response");
	zmsg_free(m);
	zc_pump(c);
}
