/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: one ztunnel connection of the agent's ZDS server (roles.md §2), the
 * node agent's side of a common/zds_conn.c endpoint (which frames, keeps the
 * lock-step queue and its 5 s deadlines): the requests built for it, and
 * istio-cni's answers to the Hello, an ack or nack, a missed deadline, a
 * message nobody asked for, and the connection's end. Never touches: the
 * socket itself (zds_conn.c), the listening socket (server.c), what goes in
 * a snapshot (snapshot.c). Interface: conn.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
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
	zds_out_release(&m->out);
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

/* The request taken out of the lock-step, answered with err (NULL: success) and freed. */
static void zmsg_finish(struct zds_out *o, const char *err)
{
	struct zmsg *m = container_of(o, struct zmsg, out);

	zmsg_answer(m, err);
	zmsg_free(m);
}

static void free_conn(struct loop_deferred *d)
{
	free(container_of(d, struct ztconn, dead));
}

void zc_drop(struct ztconn *c, const char *why)
{
	struct agent *a = c->a;
	struct zds_out *o;

	while ((o = zds_conn_take(&c->zc)))
		zmsg_finish(o, why ? why : "ztunnel disconnected");
	list_del(&c->node);
	a->nconns--;
	/* istio-cni's handleConn: deleteConn's line, then the close (defers run last
	 * first), then the caller logs the error it returned; for all but EOF and its
	 * own shutdown */
	line_disconnected(c);
	zds_conn_close(&c->zc);
	if (why && !a->stopping)
		line_conn_failed(c, why);
	loop_defer_free(&a->loop, &c->dead, free_conn);
}

/* m's request (m->uid its uid): 0, or -1 (out of memory or fds; m still freeable). */
int zmsg_fill(struct zmsg *m, enum zds_req_type type, const struct apod *p)
{
	struct zds_request req = { .type = type, .uid = zds_str_c(m->uid) };
	int fd = -1;

	if (type == ZDS_REQ_ADD) {
		req.has_workload_info = true;
		req.info.name = zds_str_c(p->name);
		req.info.namespace_ = zds_str_c(p->namespace_);
		req.info.service_account = zds_str_c(p->service_account);
		fd = fcntl(p->nsfd, F_DUPFD_CLOEXEC, 3);
	}
	if (zds_out_init(&m->out, &req, fd) < 0 || (type == ZDS_REQ_ADD && fd < 0))
		return -1;
	return 0;
}

struct zmsg *zmsg_new(enum zds_req_type type, const struct apod *p, const char *uid)
{
	struct zmsg *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->out.fd = -1;
	m->uid = uid ? strdup(uid) : NULL;
	if ((uid && !m->uid) || zmsg_fill(m, type, p)) {
		zmsg_free(m);
		return NULL;
	}
	return m;
}

void zc_enqueue(struct ztconn *c, struct zmsg *m)
{
	zds_conn_send(&c->zc, &m->out);
}

static void zc_hello(struct ztconn *c, const struct zds_event *ev)
{
	line_hello(c, ev->version == ZDS_VERSION_V1 ? "V1" : "NOT_USED");
	zc_snapshot(c);
}

/* The ack of the request that was in flight; the endpoint then writes the next. */
static void zc_ack(struct ztconn *c, const struct zds_event *ev)
{
	struct zmsg *m = container_of(ev->out, struct zmsg, out);
	char err[600];
	bool snapshot_done;

	if (ev->why) {
		snprintf(err, sizeof(err), "invalid ztunnel response: %s", ev->why);
		line_send_error(c, err, false);
	} else if (ev->error[0]) {
		snprintf(err, sizeof(err), "%s", ev->error);
		if (m->out.type == ZDS_REQ_SNAPSHOT_SENT)
			line_snapshot_sent_nack(c, err);
		else if (c->state == ZC_SNAPSHOT)
			line_snapshot_nack(c, m->uid, err);
		else if (m->out.type == ZDS_REQ_ADD)
			line_add_nack(c, m->uid, err);
		else	/* istio-cni does not read a Del's ack: the emulator says it */
			golog(LOG_ERROR, SCOPE_EMU, "failed to delete workload: %s\tuid=%s", err,
			      m->uid ? m->uid : "");
	} else {
		err[0] = '\0';
	}
	if (m->out.type == ZDS_REQ_ADD)
		server_acked(c->a, m->uid, c == zc_newest(c->a) && !err[0]);
	snapshot_done = m->out.type == ZDS_REQ_SNAPSHOT_SENT;
	if (snapshot_done)
		c->state = ZC_STEADY;
	zmsg_finish(&m->out, err[0] ? err : NULL);
	if (snapshot_done)
		malloc_trim(0);	/* a big snapshot's thousands of messages back to the system */
	else if (c->state == ZC_SNAPSHOT && zds_conn_is_open(&c->zc))
		zc_snapshot_ahead(c);	/* before the next one is written */
}

static void zc_message(struct zds_conn *zc, enum zds_msg type, const struct zds_event *ev)
{
	struct ztconn *c = container_of(zc, struct ztconn, zc);
	char reason[256];

	switch (type) {
	case ZDS_MSG_HELLO:
		zc_hello(c, ev);
		break;
	case ZDS_MSG_BAD_HELLO:
		snprintf(reason, sizeof(reason), "failed to read hello from ztunnel: %s", ev->why);
		zc_drop(c, reason);
		break;
	case ZDS_MSG_ACK:
		zc_ack(c, ev);
		break;
	default:
		line_unexpected_message(c);
		zc_drop(c, "ztunnel protocol error, unexpected message");
		break;
	}
}

static void zc_closed(struct zds_conn *zc, enum zds_end how, const char *why)
{
	struct ztconn *c = container_of(zc, struct ztconn, zc);

	char reason[300];

	if (how == ZDS_END_WRITE) {
		snprintf(reason, sizeof(reason), "write unix: sendmsg: %s", why);
		if (c->state == ZC_STEADY)
			line_send_error(c, reason, true);
		zc_drop(c, reason);
	} else if (how == ZDS_END_READ) {
		snprintf(reason, sizeof(reason), "read unix: %s", why);
		zc_drop(c, reason);
	} else {
		zc_drop(c, NULL);
	}
}

static const struct zds_conn_ops zc_ops = { .on_message = zc_message, .on_close = zc_closed };

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
	/* the Hello's deadline starts now */
	if (zds_conn_start(&c->zc, &a->loop, fd, ZDS_AGENT, AGENT_DEADLINE_MS, &zc_ops, c)) {
		zds_conn_close(&c->zc);
		free(c);
		return NULL;
	}
	list_add_tail(&a->conns, &c->node);
	a->nconns++;
	make_uuid(c->uuid, c->id);
	line_connected(c);
	return c;
}

/* A deadline passed: no Hello, no room or no ack in 5 s. */
void zc_expired(struct ztconn *c)
{
	struct zmsg *m;

	if (c->state == ZC_HELLO) {
		zc_drop(c, "failed to read hello from ztunnel: i/o timeout (no hello in 5 s)");
		return;
	}
	if (c->state == ZC_SNAPSHOT || c->zc.writing) {
		/* istio-cni: a transport error in the snapshot ends the connection */
		zc_drop(c, c->zc.writing ? "write timed out" : "ack timed out during the snapshot");
		return;
	}
	if (!c->zc.sent)
		return;
	/* steady state: istio-cni warns and keeps the connection */
	m = container_of(zds_conn_take(&c->zc), struct zmsg, out);
	line_send_error(c, "read unix: i/o timeout (no ack in 5 s)", false);
	zmsg_finish(&m->out, "timed out waiting for valid ztunnel response");
	zds_conn_pump(&c->zc);
}
