/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bytes of the relays one loop owns (its "home": the main loop, or a
 * relay thread's): the upstream connect's completion, splice() through a
 * pipe per direction, half-closes passed on, the idle and connect timeouts,
 * the access log line. Runs on the home's thread only and never touches
 * struct daemon, the pod's list or the counters (relay.c does, on the main
 * thread, once the relay is handed back). Interface: relay_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access.h"
#include "log.h"
#include "relay_int.h"
#include "sockdiag.h"

/*
 * A 1 MiB pipe per direction, filled and drained a whole pipe at a time:
 * against the default 64 KiB it cuts the splice calls and wake-ups per byte
 * by 16 (make bench, 2-hop lab path: 691 -> 915-1057 MiB/s; 256 KiB and
 * 4 MiB were slower). Only a direction that filled its default pipe in one
 * splice is grown, and only while its pod's grown pipes stay within
 * POD_PIPE_BUDGET: a stalled reader pins a whole pipe of kernel memory, and
 * a privileged daemon is exempt from fs.pipe-user-pages-soft. If the kernel
 * refuses the size, the default pipe still works. The budget is shared by
 * the pod's relays on every thread: an atomic count. recv()/send() through
 * a 1 MiB buffer (socat's way) was measured against it (issue 18, make
 * bench section 5): 563 ms of daemon CPU per GiB and hop against 389-442.
 */
#define RELAY_PIPE_SIZE (1024 * 1024)
#define POD_PIPE_BUDGET (32u * RELAY_PIPE_SIZE)
#define PUMP_ROUNDS 16	/* then yield to the other connections */

void relay_q_remove(struct relay_queue *q, struct relay *r)
{
	if (r->qprev)
		r->qprev->qnext = r->qnext;
	else
		q->head = r->qnext;
	if (r->qnext)
		r->qnext->qprev = r->qprev;
	else
		q->tail = r->qprev;
	r->qprev = r->qnext = NULL;
}

void relay_q_append(struct relay_queue *q, struct relay *r)
{
	r->qnext = NULL;
	r->qprev = q->tail;
	if (q->tail)
		q->tail->qnext = r;
	else
		q->head = r;
	q->tail = r;
}

static struct relay_queue *queue_of(struct relay_home *h, const struct relay *r)
{
	return r->state == RS_CONNECTING ? &h->connecting : &h->open;
}

static void set_state(struct relay_home *h, struct relay *r, enum relay_state s)
{
	relay_q_remove(queue_of(h, r), r);
	r->state = s;
	clock_gettime(CLOCK_MONOTONIC, &r->active);
	relay_q_append(queue_of(h, r), r);
}

/* Traffic: the relay goes to the back of the idle queue. */
static void touch(struct relay_home *h, struct relay *r)
{
	if (r->qnext)
		set_state(h, r, r->state);
	else
		clock_gettime(CLOCK_MONOTONIC, &r->active);
}

static bool outbound(const struct relay *r)
{
	return r->l->spec->role == ROLE_OUTBOUND;
}

static void watch(struct relay_home *h, struct relay_end *e, uint32_t events)
{
	if (e->ev.fd < 0 || e->events == events)
		return;
	loop_modify(h->loop, &e->ev, events);
	e->events = events;
}

/* The pipe goes (its fds and its share of the pod's budget) once its direction is done. */
static void close_half(struct relay *r, struct half *h)
{
	if (h->pipe[0] >= 0)
		close(h->pipe[0]);
	if (h->pipe[1] >= 0)
		close(h->pipe[1]);
	h->pipe[0] = h->pipe[1] = -1;
	__atomic_sub_fetch(&r->pod->pipe_bytes, h->charged, __ATOMIC_RELAXED);
	h->charged = 0;
}

/* An abortive close: the peer gets a RST, as ztunnel resets a client whose upstream failed. */
void relay_reset_fd(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

void relay_log_access(const struct daemon *d, const struct relay *r, const char *error, bool start)
{
	char src[64], dst[64];
	struct access_rec a = {
		.pod = r->pod, .outbound = outbound(r), .src = src, .dst = dst,
		.sent = r->up.bytes, .recv = r->down.bytes, .error = error,
		/* no upstream yet: it failed before it had a destination */
		.early = error && r->upstream.ev.fd < 0 && r->state != RS_OPEN,
	};
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	a.ns = (long long)(now.tv_sec - r->start.tv_sec) * 1000000000LL + (now.tv_nsec - r->start.tv_nsec);
	memcpy(a.id, r->id, sizeof(a.id));
	sd_format_addr(&r->src, src, sizeof(src));
	sd_format_addr(&r->dst, dst, sizeof(dst));
	if (start)
		access_start(d, &a);
	else
		access_end(d, &a);
}

void relay_close_fds(const struct daemon *d, struct relay *r, const char *error, bool rst)
{
	relay_log_access(d, r, error, false);
	r->failed = error != NULL;
	if (rst)
		relay_reset_fd(r->client.ev.fd);
	close(r->client.ev.fd);
	r->client.ev.fd = -1;
	if (r->upstream.ev.fd >= 0) {
		if (rst)
			relay_reset_fd(r->upstream.ev.fd);
		close(r->upstream.ev.fd);
		r->upstream.ev.fd = -1;
	}
	close_half(r, &r->up);
	close_half(r, &r->down);
}

void relay_finish(struct relay_home *h, struct relay *r, const char *error, bool rst)
{
	relay_q_remove(queue_of(h, r), r);
	__atomic_sub_fetch(&h->count, 1, __ATOMIC_RELAXED);
	h->ended(h, r, error, rst);
}

static int open_half(struct half *h)
{
	int size;

	if (pipe2(h->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	size = fcntl(h->pipe[1], F_GETPIPE_SZ);
	h->size = size > 0 ? (size_t)size : 64 * 1024;
	return 0;
}

/* One splice filled the pipe: the direction carries bulk data, a bigger pipe pays. */
static void grow_half(struct relay *r, struct half *h)
{
	size_t *budget = &r->pod->pipe_bytes;
	int size;

	h->grow_tried = true;
	/* reserve first: relays of the pod on other threads grow theirs too */
	if (__atomic_add_fetch(budget, RELAY_PIPE_SIZE, __ATOMIC_RELAXED) > POD_PIPE_BUDGET) {
		__atomic_sub_fetch(budget, RELAY_PIPE_SIZE, __ATOMIC_RELAXED);
		return;
	}
	size = fcntl(h->pipe[1], F_SETPIPE_SZ, RELAY_PIPE_SIZE);
	if (size <= 0 || (size_t)size <= h->size) {
		__atomic_sub_fetch(budget, RELAY_PIPE_SIZE, __ATOMIC_RELAXED);
		return;
	}
	h->size = (size_t)size;
	h->charged = (size_t)size;
	if ((size_t)size != RELAY_PIPE_SIZE)
		__atomic_add_fetch(budget, (size_t)size - RELAY_PIPE_SIZE, __ATOMIC_RELAXED);
}

/*
 * Until a direction has its pipe, a peek tells data (make the pipe) from an
 * EOF or nothing yet: an idle connection holds no pipe. 1 data, 0 EOF, -errno.
 */
static int first_data(struct half *h, int from)
{
	char c;
	ssize_t n = recv(from, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	int ret;

	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	ret = open_half(h);
	return ret ? ret : 1;
}

/* Moves bytes from -> pipe -> to until either side would block. 0, or -errno. */
static int pump(struct relay *r, struct half *h, int from, int to)
{
	ssize_t n;
	int round;

	for (round = 0; round < PUMP_ROUNDS; round++) {
		if (h->pending) {
			n = splice(h->pipe[0], NULL, to, NULL, h->pending,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			h->pending -= (size_t)n;
			h->bytes += (uint64_t)n;
			continue;
		}
		if (h->eof) {
			/* pass the half-close on; the direction needs no pipe any more */
			if (!h->shut && shutdown(to, SHUT_WR) < 0 && errno != ENOTCONN)
				return -errno;
			h->shut = true;
			close_half(r, h);
			return 0;
		}
		if (h->pipe[0] < 0) {
			n = first_data(h, from);
			if (n < 0)
				return n == -EAGAIN ? 0 : (int)n;
		} else {
			n = splice(from, NULL, h->pipe[1], NULL, h->size,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			h->pending = (size_t)n;
			if (n > 0 && (size_t)n == h->size && !h->grow_tried)
				grow_half(r, h);
		}
		if (n == 0) {
			/* not a round: the half-close must still be passed on in this call */
			h->eof = true;
			round--;
		}
	}
	return 0;
}

static void update_interest(struct relay_home *h, struct relay *r)
{
	/* read a side only while its pipe is empty; write it while the other pipe holds bytes */
	watch(h, &r->client,
	      (!r->up.eof && !r->up.pending ? EPOLLIN : 0) | (r->down.pending ? EPOLLOUT : 0));
	watch(h, &r->upstream,
	      (!r->down.eof && !r->down.pending ? EPOLLIN : 0) | (r->up.pending ? EPOLLOUT : 0));
}

static void os_text(char *buf, size_t cap, int err)
{
	snprintf(buf, cap, "%s (os error %d)", strerror(err), err);
}

static void connected(struct relay_home *h, struct relay *r)
{
	char e[128];
	int err = 0;
	socklen_t el = sizeof(err);

	getsockopt(r->upstream.ev.fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		os_text(e, sizeof(e), err);
		relay_finish(h, r, e, true);
		return;
	}
	set_state(h, r, RS_OPEN);
}

/*
 * Whether an event on one end can move direction h: its source end was
 * readable (or failed), or h holds bytes or a half-close to pass on (its
 * end was ready to write). The other direction's source is left
 * alone: level-triggered epoll reports it when it has something, so a bulk
 * transfer does not pay a peek per wake-up at the idle direction.
 */
static bool may_move(const struct half *h, bool from_ready)
{
	return from_ready || h->pending || (h->eof && !h->shut);
}

static void relay_ready(struct loop_src *src, uint32_t events)
{
	struct relay_home *h = src->ctx;
	struct relay_end *e = container_of(src, struct relay_end, ev);
	struct relay *r = e->r;
	bool all = (events & (EPOLLERR | EPOLLHUP)) != 0, readable;
	char err[128];
	int ret = 0;

	if (r->state == RS_CONNECTING) {
		if (e != &r->upstream)
			return;	/* the client waits for the upstream connect */
		connected(h, r);
		if (r->client.ev.fd < 0)
			return;
		all = true;	/* the client may have sent already */
	}
	touch(h, r);
	readable = all || (events & EPOLLIN);
	if (may_move(&r->up, readable && e == &r->client))
		ret = pump(r, &r->up, r->client.ev.fd, r->upstream.ev.fd);
	if (!ret && may_move(&r->down, readable && e == &r->upstream))
		ret = pump(r, &r->down, r->upstream.ev.fd, r->client.ev.fd);
	if (ret) {
		os_text(err, sizeof(err), -ret);
		relay_finish(h, r, err, true);
		return;
	}
	if (r->up.shut && r->down.shut) {
		relay_finish(h, r, NULL, false);
		return;
	}
	update_interest(h, r);
}

void relay_home_adopt(struct relay_home *h, struct relay *r)
{
	char e[128];
	int ret;

	relay_q_append(&h->connecting, r);
	r->upstream.events = EPOLLOUT;
	ret = loop_watch(h->loop, &r->upstream.ev, EPOLLOUT, relay_ready, h);
	/* the client is read once the upstream is connected */
	if (!ret)
		ret = loop_watch(h->loop, &r->client.ev, 0, relay_ready, h);
	if (!ret)
		return;
	os_text(e, sizeof(e), -ret);
	relay_finish(h, r, e, true);
}

void relay_home_close_pod(struct relay_home *h, const struct pod *p, const char *why)
{
	struct relay_queue *qs[] = { &h->connecting, &h->open };
	struct relay *r, *next;
	size_t i;

	for (i = 0; i < 2; i++)
		for (r = qs[i]->head; r; r = next) {
			next = r->qnext;
			if (r->pod == p)
				relay_finish(h, r, why, true);
		}
}

static double since(const struct timespec *t, const struct timespec *now)
{
	return (double)(now->tv_sec - t->tv_sec) + (double)(now->tv_nsec - t->tv_nsec) / 1e9;
}

static void home_expire(void *ctx)
{
	struct relay_home *h = ctx;
	struct timespec now;
	char why[128];

	clock_gettime(CLOCK_MONOTONIC, &now);
	while (h->connecting.head &&
	       since(&h->connecting.head->active, &now) >= h->cfg->relay_connect_timeout) {
		snprintf(why, sizeof(why), "connect timed out after %gs (see --relay-connect-timeout)",
			 h->cfg->relay_connect_timeout);
		relay_finish(h, h->connecting.head, why, true);
	}
	while (h->open.head && since(&h->open.head->active, &now) >= h->cfg->relay_idle_timeout) {
		snprintf(why, sizeof(why), "idle for %gs (see --relay-idle-timeout)",
			 h->cfg->relay_idle_timeout);
		relay_finish(h, h->open.head, why, true);
	}
}

static long ms_left(const struct timespec *t, double timeout)
{
	struct timespec now;
	double left;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left = timeout - since(t, &now);
	/* round up so the wake-up is never before the deadline */
	return left <= 0 ? 0 : (long)(left * 1000) + 1;
}

static long home_next_ms(void *ctx)
{
	const struct relay_home *h = ctx;
	long ms = -1, t;

	if (h->connecting.head)
		ms = ms_left(&h->connecting.head->active, h->cfg->relay_connect_timeout);
	if (h->open.head) {
		t = ms_left(&h->open.head->active, h->cfg->relay_idle_timeout);
		if (ms < 0 || t < ms)
			ms = t;
	}
	return ms;
}

void relay_home_init(struct relay_home *h, struct loop *loop, const struct config *cfg,
		     void (*ended)(struct relay_home *, struct relay *, const char *, bool), void *ctx)
{
	memset(h, 0, sizeof(*h));
	h->loop = loop;
	h->cfg = cfg;
	h->ended = ended;
	h->ctx = ctx;
	loop_add_timer(loop, &h->timer, home_next_ms, home_expire, h);
}
