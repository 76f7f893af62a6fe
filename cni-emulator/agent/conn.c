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
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "fdpass.h"
#include "log.h"

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
	log_line(LOG_INFO, T_AGENT, "ztunnel disconnected, total connected: %zu conn=%lu%s%s",
		 a->nconns, c->id, why ? " reason=" : "", why ? why : "");
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
		log_line(LOG_ERROR, T_AGENT,
			 "ztunnel connection broken/unwritable, disposing of this connection conn=%lu error=\"%s\"",
			 c->id, strerror(-ret));
		zc_drop(c, "ztunnel connection broken/unwritable");
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

	if (zds_decode_hello(buf, len, &version, &why)) {
		log_line(LOG_ERROR, T_AGENT, "failed to read hello from ztunnel conn=%lu error=\"%s\"",
			 c->id, why);
		zc_drop(c, "bad hello");
		return;
	}
	log_line(LOG_INFO, T_AGENT, "received hello from ztunnel conn=%lu version=%s", c->id,
		 version == ZDS_VERSION_V1 ? "V1" : "NOT_USED");
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
		log_line(LOG_WARN, T_AGENT, "timed out waiting for valid ztunnel response: %s", err);
	} else if (resp.error.len) {
		snprintf(err, sizeof(err), "%.*s", (int)resp.error.len, resp.error.p);
		if (m->type == ZDS_REQ_SNAPSHOT_SENT)
			log_line(LOG_ERROR, T_AGENT, "snap-sent: got ack error: %s", err);
		else if (c->state == ZC_SNAPSHOT)
			log_line(LOG_ERROR, T_AGENT, "add-workload: got ack error: %s", err);
		else if (m->type == ZDS_REQ_ADD)
			log_line(LOG_ERROR, T_AGENT, "failed to add workload: %s", err);
		else
			log_line(LOG_ERROR, T_AGENT, "failed to delete workload: %s", err);
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
		log_line(LOG_WARN, T_AGENT, "error reading from ztunnel conn=%lu: %s", c->id,
			 strerror(-ret));
		zc_drop(c, "read error");
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
		log_line(LOG_WARN, T_AGENT, "ztunnel protocol error, unexpected message conn=%lu",
			 c->id);
		zc_drop(c, "unexpected message");
	}
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
	log_line(LOG_INFO, T_AGENT, "new ztunnel connected, total connected: %zu conn=%lu pid=%d",
		 a->nconns, c->id, (int)c->pid);
	return c;
}

/* A deadline passed: no Hello, no room or no ack in 5 s. */
void zc_expired(struct ztconn *c)
{
	struct zmsg *m;

	c->deadline = (struct timespec){ 0 };
	if (c->state == ZC_HELLO) {
		log_line(LOG_ERROR, T_AGENT, "failed to read hello from ztunnel conn=%lu: timed out",
			 c->id);
		zc_drop(c, "no hello in 5 s");
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
	log_line(LOG_WARN, T_AGENT,
		 "timed out waiting for valid ztunnel response: no ack in 5 s conn=%lu uid=%s", c->id,
		 m->uid ? m->uid : "");
	c->sent = false;
	list_del(&m->node);
	zmsg_answer(m, "timed out waiting for valid ztunnel response");
	zmsg_free(m);
	zc_pump(c);
}
