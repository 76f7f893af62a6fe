/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the agent's ZDS server (roles.md §2): the listening socket (mode
 * 0600, the daemon's path safety), accepting ztunnels at istio-cni's rate,
 * the ordered list of connections and its deadline timer, and which
 * connection gets what: an Add to the newest only, a Del to all.
 * Never touches: one connection's conversation (conn.c), rules.
 * Interface: agent.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "clock.h"
#include "conn.h"
#include "lines.h"
#include "log_go.h"

#define ACCEPT_INTERVAL_MS 200

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
	int fd;

	(void)events;
	if (!accept_allowed(a))
		return;
	fd = accept4(src->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			golog(LOG_ERROR, SCOPE_AGENT, "failed to accept conn: accept unix %s: %s",
			      a->zsock.path, strerror(errno));
		return;
	}
	getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
	zc_new(a, fd, cred.pid);
}

static long timer_next(void *ctx)
{
	struct agent *a = ctx;
	struct list_node *n;
	long best = a->accept_paused ? ms_until(&a->accept_next) : -1, ms;
	struct ztconn *c;

	list_for_each(n, &a->conns) {
		c = container_of(n, struct ztconn, node);
		ms = zds_conn_next_ms(&c->zc);
		if (ms < 0)
			continue;
		if (best < 0 || ms < best)
			best = ms;
	}
	return best;
}

static void timer_run(void *ctx)
{
	struct agent *a = ctx;
	struct list_node *n, *next;
	struct timespec now;
	struct ztconn *c;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (a->accept_paused && expired(&a->accept_next, &now) && a->zserver.fd >= 0) {
		a->accept_paused = false;
		loop_modify(&a->loop, &a->zserver, EPOLLIN);
	}
	for (n = a->conns.next; n != &a->conns; n = next) {
		next = n->next;
		c = container_of(n, struct ztconn, node);
		if (zds_conn_expired(&c->zc, &now))
			zc_expired(c);
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
		golog(LOG_INFO, SCOPE_EMU, "removed stale socket\tpath=%s", a->zsock.path);
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
		zc_drop(container_of(a->conns.next, struct ztconn, node), "agent shutting down");
	if (a->zserver.fd >= 0) {
		close(a->zserver.fd);
		a->zserver.fd = -1;
		sockpath_remove(&a->zsock);
	}
}

int server_add(struct agent *a, struct apod *p, struct agent_job *job)
{
	struct ztconn *c = zc_newest(a);
	struct zmsg *m;

	if (!c)
		return -ENOTCONN;
	m = zmsg_new(ZDS_REQ_ADD, p, p->uid);
	if (!m)
		return -ENOMEM;
	line_add(c, p);
	m->job = job;
	if (job)
		job->waiting++;
	zc_enqueue(c, m);
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
		zc_enqueue(container_of(n, struct ztconn, node), m);
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
			pids[k++] = container_of(n, struct ztconn, node)->pid;
	}
	return k;
}
