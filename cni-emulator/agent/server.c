/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the agent's ZDS server (roles.md §2): the listening socket, the
 * ordered list of ztunnel connections, each one's Hello, snapshot (Add with
 * the netns fd, Keep when the netns is not available, SnapshotSent) and
 * lock-step queue of requests with istio-cni's 5 s deadlines.
 * Never touches: rules, the control socket. Interface: agent.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "clock.h"
#include "fdpass.h"
#include "log.h"
#include "zds.h"

#define ACCEPT_INTERVAL_MS 200

enum zc_state { ZC_HELLO, ZC_SNAPSHOT, ZC_STEADY };

/* One request waiting for its turn, or for its ack. */
struct zmsg {
	struct list_node node;
	enum zds_req_type type;
	uint8_t buf[ZDS_MAX_MSG];
	size_t len;
	int fd;			/* Add: a dup of the pod's netns fd */
	char *uid;
	struct agent_job *job;	/* answered when this message is, or NULL */
};

struct zconn {
	struct list_node node;
	struct loop_src ev;
	struct agent *a;
	unsigned long id;
	pid_t pid;
	enum zc_state state;
	struct list_node queue;		/* struct zmsg; the head is in flight once sent */
	bool sent;			/* the head was written and awaits its ack */
	bool writing;			/* the head waits for room in the socket */
	struct timespec deadline;	/* Hello, write or ack deadline; 0 = none */
	struct loop_deferred dead;
};

/* The newest connection (Adds go there only), or NULL. */
static struct zconn *newest(struct agent *a)
{
	return list_empty(&a->conns) ? NULL : container_of(a->conns.prev, struct zconn, node);
}

/* The pod's state for GET /pods: acked by the newest connection or not. */
static void server_acked(struct agent *a, const char *uid, bool ok)
{
	struct apod *p = apod_find(a, uid);

	if (p)
		p->acked = ok;
}

static void zmsg_free(struct zmsg *m)
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
	free(container_of(d, struct zconn, dead));
}

static void set_deadline(struct zconn *c, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	timespec_add(&c->deadline, ms / 1000.0);
}

static void conn_drop(struct zconn *c, const char *why)
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

static struct zmsg *zmsg_new(enum zds_req_type type, const struct apod *p, const char *uid)
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
static void conn_pump(struct zconn *c)
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
		conn_drop(c, "ztunnel connection broken/unwritable");
		return;
	}
	loop_modify(&c->a->loop, &c->ev, EPOLLIN);
	c->sent = true;
	set_deadline(c, AGENT_DEADLINE_MS);
}

static void conn_enqueue(struct zconn *c, struct zmsg *m)
{
	list_add_tail(&c->queue, &m->node);
	conn_pump(c);
}

/* Moves every entry of from to the end of to. */
static void list_move_all(struct list_node *to, struct list_node *from)
{
	struct list_node *n;

	while (!list_empty(from)) {
		n = from->next;
		list_del(n);
		list_add_tail(to, n);
	}
}

/* The message a pod gets in a snapshot; the lab rule for a vanished netns first. */
static struct zmsg *snapshot_msg(const struct zconn *c, struct apod *p)
{
	if (p->nsfd >= 0 && !apod_netns_present(p))
		apod_release_fd(p);
	if (p->nsfd >= 0) {
		log_line(LOG_INFO, T_AGENT,
			 "sending pod to ztunnel as part of snapshot uid=%s name=%s namespace=%s conn=%lu",
			 p->uid, p->name, p->namespace_, c->id);
		return zmsg_new(ZDS_REQ_ADD, p, p->uid);
	}
	log_line(LOG_INFO, T_AGENT,
		 "netns is not available for pod, sending 'keep' to ztunnel uid=%s name=%s namespace=%s conn=%lu",
		 p->uid, p->name, p->namespace_, c->id);
	return zmsg_new(ZDS_REQ_KEEP, p, p->uid);
}

/*
 * istio-cni's snapshot: Add (+fd) per pod whose netns is there, else Keep;
 * then SnapshotSent; all before what was queued while the Hello was awaited.
 */
static void conn_snapshot(struct zconn *c)
{
	struct list_node snap, *n;
	struct zmsg *m;

	c->state = ZC_SNAPSHOT;
	list_init(&snap);
	list_for_each(n, &c->a->pods) {
		m = snapshot_msg(c, container_of(n, struct apod, node));
		if (!m)
			goto fail;
		list_add_tail(&snap, &m->node);
	}
	m = zmsg_new(ZDS_REQ_SNAPSHOT_SENT, NULL, NULL);
	if (!m)
		goto fail;
	list_add_tail(&snap, &m->node);
	list_move_all(&snap, &c->queue);
	list_move_all(&c->queue, &snap);
	conn_pump(c);
	return;
fail:
	while (!list_empty(&snap)) {
		m = container_of(snap.next, struct zmsg, node);
		list_del(&m->node);
		zmsg_free(m);
	}
	conn_drop(c, "cannot build the snapshot (out of memory or fds)");
}

static void conn_hello(struct zconn *c, const uint8_t *buf, size_t len)
{
	const char *why = NULL;
	uint64_t version = 0;

	if (zds_decode_hello(buf, len, &version, &why)) {
		log_line(LOG_ERROR, T_AGENT, "failed to read hello from ztunnel conn=%lu error=\"%s\"",
			 c->id, why);
		conn_drop(c, "bad hello");
		return;
	}
	log_line(LOG_INFO, T_AGENT, "received hello from ztunnel conn=%lu version=%s", c->id,
		 version == ZDS_VERSION_V1 ? "V1" : "NOT_USED");
	conn_snapshot(c);
}

/* An ack for the head of the queue; the next request goes out. */
static void conn_ack(struct zconn *c, const uint8_t *buf, size_t len)
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
		server_acked(c->a, m->uid, c == newest(c->a) && !err[0]);
	if (m->type == ZDS_REQ_SNAPSHOT_SENT)
		c->state = ZC_STEADY;
	zmsg_answer(m, err[0] ? err : NULL);
	zmsg_free(m);
	c->deadline = (struct timespec){ 0 };
	conn_pump(c);
}

static void conn_ready(struct loop_src *src, uint32_t events)
{
	struct zconn *c = container_of(src, struct zconn, ev);
	uint8_t buf[ZDS_MAX_MSG];
	struct fdpass_msg m;
	int ret;

	if ((events & EPOLLOUT) && c->writing) {
		conn_pump(c);
		if (c->ev.fd < 0 || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			return;
	}
	ret = fdpass_recv(c->ev.fd, buf, sizeof(buf), MSG_DONTWAIT, &m);
	if (ret == -EAGAIN)
		return;
	if (ret) {
		log_line(LOG_WARN, T_AGENT, "error reading from ztunnel conn=%lu: %s", c->id,
			 strerror(-ret));
		conn_drop(c, "read error");
		return;
	}
	fdpass_close_fds(&m);	/* ztunnel never sends an fd */
	if (m.len == 0) {
		conn_drop(c, NULL);
		return;
	}
	if (c->state == ZC_HELLO)
		conn_hello(c, buf, m.len);
	else if (c->sent)
		conn_ack(c, buf, m.len);
	else {
		log_line(LOG_WARN, T_AGENT, "ztunnel protocol error, unexpected message conn=%lu",
			 c->id);
		conn_drop(c, "unexpected message");
	}
}

/* istio-cni's accept limiter (>= 1.24: 5 per second, burst 1): true when one may go now. */
static bool accept_allowed(struct agent *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!expired(&a->accept_next, &now)) {
		if (!a->accept_paused)
			loop_modify(&a->loop, &a->zserver, 0);
		a->accept_paused = true;
		return false;
	}
	a->accept_next = now;
	timespec_add(&a->accept_next, ACCEPT_INTERVAL_MS / 1000.0);
	return true;
}

static void server_ready(struct loop_src *src, uint32_t events)
{
	struct agent *a = src->ctx;
	struct ucred cred = { 0 };
	socklen_t cl = sizeof(cred);
	struct zconn *c;
	int fd;

	(void)events;
	if (!accept_allowed(a))
		return;
	fd = accept4(src->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_line(LOG_WARN, T_AGENT, "accept on %s: %s", a->zsock.path,
				 strerror(errno));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
	c->a = a;
	c->pid = cred.pid;
	c->id = ++a->next_conn_id;
	list_init(&c->queue);
	c->ev.fd = fd;
	if (loop_watch(&a->loop, &c->ev, EPOLLIN, conn_ready, c)) {
		close(fd);
		free(c);
		return;
	}
	list_add_tail(&a->conns, &c->node);
	a->nconns++;
	set_deadline(c, AGENT_DEADLINE_MS);	/* for the Hello */
	log_line(LOG_INFO, T_AGENT, "new ztunnel connected, total connected: %zu conn=%lu pid=%d",
		 a->nconns, c->id, (int)c->pid);
}

static long timer_next(void *ctx)
{
	struct agent *a = ctx;
	struct list_node *n;
	long best = a->accept_paused ? ms_until(&a->accept_next) : -1, ms;
	struct zconn *c;

	list_for_each(n, &a->conns) {
		c = container_of(n, struct zconn, node);
		if (!c->deadline.tv_sec && !c->deadline.tv_nsec)
			continue;
		ms = ms_until(&c->deadline);
		if (best < 0 || ms < best)
			best = ms;
	}
	return best;
}

/* A deadline passed: no Hello, no room or no ack in 5 s. */
static void conn_expired(struct zconn *c)
{
	struct zmsg *m;

	c->deadline = (struct timespec){ 0 };
	if (c->state == ZC_HELLO) {
		log_line(LOG_ERROR, T_AGENT, "failed to read hello from ztunnel conn=%lu: timed out",
			 c->id);
		conn_drop(c, "no hello in 5 s");
		return;
	}
	if (c->state == ZC_SNAPSHOT || c->writing) {
		/* istio-cni: a transport error in the snapshot ends the connection */
		conn_drop(c, c->writing ? "write timed out" : "ack timed out during the snapshot");
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
	conn_pump(c);
}

static void timer_run(void *ctx)
{
	struct agent *a = ctx;
	struct list_node *n, *next;
	struct timespec now;
	struct zconn *c;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (a->accept_paused && expired(&a->accept_next, &now) && a->zserver.fd >= 0) {
		a->accept_paused = false;
		loop_modify(&a->loop, &a->zserver, EPOLLIN);
	}
	for (n = a->conns.next; n != &a->conns; n = next) {
		next = n->next;
		c = container_of(n, struct zconn, node);
		if ((c->deadline.tv_sec || c->deadline.tv_nsec) && expired(&c->deadline, &now))
			conn_expired(c);
	}
}

int server_start(struct agent *a, char *why, size_t cap)
{
	char warn[512];
	int dirfd, fd;

	list_init(&a->conns);
	fd = sockpath_init(&a->zsock, a->cfg.zds_path, why, cap);
	if (fd < 0)
		return fd;
	dirfd = sockpath_open_dir(&a->zsock, false, why, cap);
	if (dirfd < 0)
		return dirfd;
	fd = sockpath_claim(dirfd, &a->zsock, why, cap);
	if (fd == 1)
		log_line(LOG_INFO, T_AGENT, "removed stale socket %s", a->zsock.path);
	if (fd >= 0)
		fd = sockpath_listen(&a->zsock, dirfd, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
				     0600, (gid_t)-1, 128, why, cap);
	close(dirfd);
	(void)warn;
	if (fd < 0)
		return fd;
	a->zserver.fd = fd;
	loop_add_timer(&a->loop, &a->conn_timer, timer_next, timer_run, a);
	return loop_watch(&a->loop, &a->zserver, EPOLLIN, server_ready, a);
}

/* Closes every connection (ztunnel sees EOF and keeps its proxies) and the socket. */
void server_stop(struct agent *a)
{
	while (!list_empty(&a->conns))
		conn_drop(container_of(a->conns.next, struct zconn, node), "agent shutting down");
	if (a->zserver.fd >= 0) {
		close(a->zserver.fd);
		a->zserver.fd = -1;
		sockpath_remove(&a->zsock);
	}
}

int server_add(struct agent *a, struct apod *p, struct agent_job *job)
{
	struct zconn *c = newest(a);
	struct zmsg *m;

	if (!c)
		return -ENOTCONN;
	m = zmsg_new(ZDS_REQ_ADD, p, p->uid);
	if (!m)
		return -ENOMEM;
	log_line(LOG_INFO, T_AGENT,
		 "sending pod add to ztunnel uid=%s name=%s namespace=%s serviceAccount=%s conn=%lu",
		 p->uid, p->name, p->namespace_, p->service_account, c->id);
	m->job = job;
	if (job)
		job->waiting++;
	conn_enqueue(c, m);
	return 0;
}

void server_del(struct agent *a, const char *uid, struct agent_job *job)
{
	struct list_node *n, *next;
	struct zmsg *m;

	if (job)
		job->waiting++;	/* held until every Del is queued */
	for (n = a->conns.next; n != &a->conns; n = next) {
		next = n->next;
		m = zmsg_new(ZDS_REQ_DEL, NULL, uid);
		if (!m)
			continue;
		m->job = job;
		if (job)
			job->waiting++;
		conn_enqueue(container_of(n, struct zconn, node), m);
	}
	if (job && --job->waiting == 0)
		job->done(job);
}

size_t server_peer_pids(struct agent *a, pid_t *pids, size_t cap)
{
	struct list_node *n;
	size_t k = 0;

	list_for_each(n, &a->conns) {
		if (k < cap)
			pids[k++] = container_of(n, struct zconn, node)->pid;
	}
	return k;
}
