/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One ZDS endpoint on the event loop in either transport role, ztunnel's
 * side or the node agent's: the framing, strict fd ownership and ztunnel's
 * fd rules, the Hello, the request/Ack lock-step and its deadline, the nack
 * wording; the owner gets typed callbacks. Never touches a pod, a daemon or
 * an agent; never prints. Interface: zds_conn.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "fdpass.h"
#include "netns.h"
#include "zds_conn.h"

void zds_conn_nack_text(char *dst, size_t cap, const char *prefix, const char *reason)
{
	snprintf(dst, cap, "%s : %s", prefix, reason);
}

int zds_conn_send_hello(int fd)
{
	uint8_t hello[8];
	ssize_t n = zds_encode_hello(hello, sizeof(hello), ZDS_VERSION_V1);

	return n < 0 ? (int)n : fdpass_send(fd, hello, (size_t)n, NULL, 0, MSG_DONTWAIT);
}

int zds_conn_send_ack(int fd, const char *error)
{
	uint8_t buf[ZDS_MAX_MSG];
	size_t len = error ? strlen(error) : 0;
	ssize_t n;

	/* a nack longer than the peer's 1024-byte buffer would be truncated there */
	if (len > ZDS_MAX_MSG - 8)
		len = ZDS_MAX_MSG - 8;
	n = zds_encode_ack(buf, sizeof(buf), error, len);
	return n < 0 ? (int)n : fdpass_send(fd, buf, (size_t)n, NULL, 0, MSG_DONTWAIT);
}

/*
 * MSG_CTRUNC also comes when the kernel finds no free fd for what was sent
 * (fault 17): if this process could not take even FDPASS_MAX_FDS more fds,
 * the fault is its own, and why names the limit. The probe dups fd.
 */
static bool out_of_fds(int fd, char *why, size_t cap)
{
	int probe[FDPASS_MAX_FDS], n, i;
	struct rlimit rl;

	for (n = 0; n < FDPASS_MAX_FDS; n++) {
		probe[n] = fcntl(fd, F_DUPFD_CLOEXEC, 0);
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

static enum zds_read bad(struct zds_in *in, struct fdpass_msg *m, const char *why)
{
	fdpass_close_fds(m);
	if (why != in->why)
		snprintf(in->why, sizeof(in->why), "%s", why);
	return ZDS_READ_BAD;
}

/* The datagram as a request with the fds its type needs. */
static enum zds_read judge(struct zds_in *in, struct fdpass_msg *m)
{
	const char *why = NULL;
	int type;

	if (m->nfds > 1) {
		snprintf(in->why, sizeof(in->why), "Expected 1 FD, got %zu", m->nfds);
		return bad(in, m, in->why);
	}
	if (zds_decode_request(in->buf, m->len, &in->req, &why)) {
		snprintf(in->why, sizeof(in->why), "failed to decode message: %s", why);
		return bad(in, m, in->why);
	}
	if (in->req.type == ZDS_REQ_NONE)
		return bad(in, m, "unknown or missing request payload");
	if (in->req.type == ZDS_REQ_ADD && m->nfds == 0)
		return bad(in, m, "No control message");
	if (in->req.type != ZDS_REQ_ADD && m->nfds)
		return bad(in, m, "Unexpected control message");
	if (in->req.type != ZDS_REQ_ADD)
		return ZDS_READ_REQUEST;
	type = ns_fd_type(m->fds[0]);
	if (type == CLONE_NEWNET) {
		in->netns_fd = m->fds[0];
		return ZDS_READ_REQUEST;
	}
	if (type < 0)
		return bad(in, m, "the fd is not a namespace file");
	snprintf(in->why, sizeof(in->why), "the fd is a %s namespace, not a network namespace",
		 ns_type_name(type));
	return bad(in, m, in->why);
}

enum zds_read zds_conn_read(int fd, struct zds_in *in)
{
	struct fdpass_msg m;
	int ret;

	in->netns_fd = -1;
	in->other_cmsgs = 0;
	in->why[0] = '\0';
	ret = fdpass_recv(fd, in->buf, sizeof(in->buf), MSG_DONTWAIT, &m);
	if (ret == -EAGAIN || ret == -EINTR)
		return ZDS_READ_AGAIN;
	if (ret == -ENOBUFS && out_of_fds(fd, in->why, sizeof(in->why)))
		return ZDS_READ_BAD;
	if (ret == -EMSGSIZE || ret == -ENOBUFS || ret == -EBADMSG) {
		snprintf(in->why, sizeof(in->why), "%s",
			 ret == -EMSGSIZE ? "message truncated: longer than 1024 bytes" :
			 ret == -ENOBUFS ? "control message truncated: too many file descriptors" :
					   "malformed control message");
		return ZDS_READ_BAD;
	}
	if (ret) {
		snprintf(in->why, sizeof(in->why), "%s", strerror(-ret));
		return ZDS_READ_FAILED;
	}
	if (m.len == 0) {
		fdpass_close_fds(&m);
		return ZDS_READ_EOF;
	}
	in->other_cmsgs = m.other_cmsgs;
	return judge(in, &m);
}

/* Waits for one datagram (no fds allowed): its length, or -errno. */
static int recv_one(int fd, int timeout_ms, uint8_t *buf, size_t cap, char *why, size_t wcap)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct fdpass_msg m;
	int ret;

	ret = poll(&pfd, 1, timeout_ms);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	ret = fdpass_recv(fd, buf, cap, MSG_DONTWAIT, &m);
	if (ret == -ECONNRESET)
		return -EPIPE;
	if (ret)
		return ret;
	if (m.len == 0) {
		fdpass_close_fds(&m);
		return -EPIPE;
	}
	if (m.nfds) {
		fdpass_close_fds(&m);
		snprintf(why, wcap, "a message with %zu file descriptor(s)", m.nfds);
		return -EPROTO;
	}
	return (int)m.len;
}

int zds_conn_recv_hello(int fd, int timeout_ms, uint64_t *version, char *why, size_t cap)
{
	uint8_t buf[ZDS_MAX_MSG];
	const char *what = NULL;
	int n = recv_one(fd, timeout_ms, buf, sizeof(buf), why, cap);

	if (n < 0)
		return n;
	if (zds_decode_hello(buf, (size_t)n, version, &what)) {
		snprintf(why, cap, "not a ZdsHello: %s", what);
		return -EPROTO;
	}
	return 0;
}

int zds_conn_send_request(int fd, const struct zds_request *req, int netns_fd)
{
	uint8_t buf[ZDS_MAX_MSG];
	ssize_t n = zds_encode_request(buf, sizeof(buf), req);

	if (n < 0)
		return (int)n;
	return fdpass_send(fd, buf, (size_t)n, netns_fd >= 0 ? &netns_fd : NULL, netns_fd >= 0 ? 1 : 0,
			   MSG_DONTWAIT);
}

int zds_conn_recv_ack(int fd, int timeout_ms, char *text, size_t cap)
{
	uint8_t buf[ZDS_MAX_MSG];
	struct zds_response r;
	const char *what = NULL;
	int n = recv_one(fd, timeout_ms, buf, sizeof(buf), text, cap);

	if (n < 0)
		return n;
	if (zds_decode_response(buf, (size_t)n, &r, &what) || !r.has_ack) {
		snprintf(text, cap, "not an Ack: %s", what ? what : "no ack payload");
		return -EPROTO;
	}
	snprintf(text, cap, "%.*s", (int)r.error.len, r.error.p ? r.error.p : "");
	return 0;
}

int zds_conn_probe(int fd)
{
	uint8_t buf[ZDS_MAX_MSG];
	char why[64];
	int n = recv_one(fd, 10, buf, sizeof(buf), why, sizeof(why));

	if (n == -ETIMEDOUT)
		return 0;
	return n == -EPIPE ? -EPIPE : -EPROTO;
}

/* ---- the endpoint on the loop -------------------------------------------- */

static void set_deadline(struct zds_conn *c)
{
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	timespec_add(&c->deadline, c->timeout_ms / 1000.0);
}

static void loop_ready(struct loop_src *src, uint32_t events)
{
	zds_conn_dispatch(container_of(src, struct zds_conn, ev), events);
}

int zds_conn_start(struct zds_conn *c, struct loop *l, int fd, enum zds_role role, long timeout_ms,
		   const struct zds_conn_ops *ops, void *ctx)
{
	c->ev.fd = fd;
	c->loop = l;
	c->role = role;
	c->ops = ops;
	c->ctx = ctx;
	c->timeout_ms = timeout_ms;
	c->deadline = (struct timespec){ 0 };
	c->hello_seen = c->sent = c->writing = false;
	list_init(&c->queue);
	if (role == ZDS_AGENT && timeout_ms > 0)
		set_deadline(c);	/* for the Hello */
	c->events = EPOLLIN;
	return loop_watch(l, &c->ev, EPOLLIN, loop_ready, ctx);
}

/* Room to write wanted or not: one epoll_ctl when that changes, none per request. */
static void want_write(struct zds_conn *c, bool on)
{
	uint32_t events = on ? EPOLLIN | EPOLLOUT : EPOLLIN;

	if (events != c->events && !loop_modify(c->loop, &c->ev, events))
		c->events = events;
}

void zds_conn_close(struct zds_conn *c)
{
	if (c->ev.fd >= 0)
		close(c->ev.fd);
	c->ev.fd = -1;
	c->sent = c->writing = false;
	c->deadline = (struct timespec){ 0 };
}

int zds_conn_hello(struct zds_conn *c)
{
	return zds_conn_send_hello(c->ev.fd);
}

int zds_conn_ack(struct zds_conn *c, const char *error)
{
	return zds_conn_send_ack(c->ev.fd, error);
}

int zds_out_init(struct zds_out *o, const struct zds_request *req, int fd)
{
	uint8_t buf[ZDS_MAX_MSG];
	ssize_t n = zds_encode_request(buf, sizeof(buf), req);

	o->type = req->type;
	o->fd = fd;
	o->len = 0;
	o->buf = n < 0 ? NULL : malloc((size_t)n ? (size_t)n : 1);
	if (n < 0)
		return (int)n;
	if (!o->buf)
		return -ENOMEM;
	memcpy(o->buf, buf, (size_t)n);
	o->len = (size_t)n;
	return 0;
}

void zds_out_release(struct zds_out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	free(o->buf);
	o->buf = NULL;
	o->len = 0;
}

/* Writes the head of the queue if it may go; a failed write ends the connection (on_close). */
void zds_conn_pump(struct zds_conn *c)
{
	struct zds_out *o;
	int ret;

	if (c->ev.fd < 0 || c->sent || list_empty(&c->queue) || !c->hello_seen)
		return;
	o = container_of(c->queue.next, struct zds_out, node);
	ret = fdpass_send(c->ev.fd, o->buf, o->len, &o->fd, o->fd >= 0 ? 1 : 0,
			  MSG_DONTWAIT | MSG_NOSIGNAL);
	if (ret == -EAGAIN) {
		/* a full socket: wait for room, one timeout at most */
		if (!c->writing)
			set_deadline(c);
		c->writing = true;
		want_write(c, true);
		return;
	}
	c->writing = false;
	if (ret) {
		c->ops->on_close(c, ZDS_END_WRITE, strerror(-ret));
		return;
	}
	want_write(c, false);
	c->sent = true;
	set_deadline(c);	/* for its Ack */
}

void zds_conn_send(struct zds_conn *c, struct zds_out *o)
{
	list_add_tail(&c->queue, &o->node);
	zds_conn_pump(c);
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

void zds_conn_send_first(struct zds_conn *c, struct list_node *outs)
{
	list_move_all(outs, &c->queue);
	list_move_all(&c->queue, outs);
	zds_conn_pump(c);
}

struct zds_out *zds_conn_take(struct zds_conn *c)
{
	struct zds_out *o;

	if (list_empty(&c->queue))
		return NULL;
	o = container_of(c->queue.next, struct zds_out, node);
	list_del(&o->node);
	c->sent = false;
	return o;
}

long zds_conn_next_ms(const struct zds_conn *c)
{
	if (!c->deadline.tv_sec && !c->deadline.tv_nsec)
		return -1;
	return ms_until(&c->deadline);
}

bool zds_conn_expired(struct zds_conn *c, const struct timespec *now)
{
	if ((!c->deadline.tv_sec && !c->deadline.tv_nsec) || !expired(&c->deadline, now))
		return false;
	c->deadline = (struct timespec){ 0 };
	return true;
}

/* ztunnel's side: one datagram judged and handed over. */
static void ztunnel_ready(struct zds_conn *c)
{
	struct zds_event ev = { 0 };
	struct zds_in in;

	ev.in = &in;
	switch (zds_conn_read(c->ev.fd, &in)) {
	case ZDS_READ_AGAIN:
		return;
	case ZDS_READ_EOF:
		c->ops->on_close(c, ZDS_END_EOF, NULL);
		return;
	case ZDS_READ_FAILED:
		c->ops->on_close(c, ZDS_END_READ, in.why);
		return;
	case ZDS_READ_BAD:
		c->ops->on_message(c, ZDS_MSG_BAD, &ev);
		return;
	case ZDS_READ_REQUEST:
		c->ops->on_message(c, ZDS_MSG_REQUEST, &ev);
		return;
	}
}

/*
 * The Ack of the request in flight: the owner hears of it, then the next
 * request is written. Not the other way round: with the next request out
 * first, the owner's work on the last overlapped ztunnel's on the next, the
 * two processes ran on different vCPUs and each turn paid two wake-ups of
 * a halted vCPU (67-77 us per round trip on an idle VM, against 4 us when
 * one wakes the other on its own vCPU); in turn, the snapshot ran at half
 * the rate (tests/bench's lock-step floor).
 */
static void agent_ack(struct zds_conn *c, const uint8_t *buf, size_t len)
{
	struct zds_event ev = { .error = "" };
	struct zds_response resp;
	char err[ZDS_MAX_MSG];

	ev.out = zds_conn_take(c);
	c->deadline = (struct timespec){ 0 };
	if (zds_decode_response(buf, len, &resp, &ev.why) || !resp.has_ack) {
		if (!ev.why)
			ev.why = "no ack";
	} else {
		ev.why = NULL;
		snprintf(err, sizeof(err), "%.*s", (int)resp.error.len, resp.error.p ? resp.error.p : "");
		ev.error = err;
	}
	c->ops->on_message(c, ZDS_MSG_ACK, &ev);
	zds_conn_pump(c);	/* closed by the owner meanwhile: nothing */
}

/* The agent's side: the Hello, then the Ack of the request in flight. */
static void agent_message(struct zds_conn *c, const uint8_t *buf, size_t len)
{
	struct zds_event ev = { .error = "" };

	if (c->hello_seen && c->sent) {
		agent_ack(c, buf, len);
	} else if (c->hello_seen) {
		c->ops->on_message(c, ZDS_MSG_UNASKED, &ev);
	} else if (zds_decode_hello(buf, len, &ev.version, &ev.why)) {
		c->ops->on_message(c, ZDS_MSG_BAD_HELLO, &ev);
	} else {
		c->hello_seen = true;
		c->deadline = (struct timespec){ 0 };
		c->ops->on_message(c, ZDS_MSG_HELLO, &ev);
		zds_conn_pump(c);
	}
}

static void agent_ready(struct zds_conn *c, uint32_t events)
{
	uint8_t buf[ZDS_MAX_MSG];
	struct fdpass_msg m;
	int ret;

	if ((events & EPOLLOUT) && c->writing) {
		zds_conn_pump(c);
		if (c->ev.fd < 0 || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			return;
	}
	ret = fdpass_recv(c->ev.fd, buf, sizeof(buf), MSG_DONTWAIT, &m);
	if (ret == -EAGAIN)
		return;
	if (ret) {
		c->ops->on_close(c, ZDS_END_READ, strerror(-ret));
		return;
	}
	fdpass_close_fds(&m);	/* ztunnel never sends an fd */
	if (m.len == 0) {
		c->ops->on_close(c, ZDS_END_EOF, NULL);
		return;
	}
	agent_message(c, buf, m.len);
}

void zds_conn_dispatch(struct zds_conn *c, uint32_t events)
{
	if (c->ev.fd < 0)
		return;
	if (c->role == ZDS_ZTUNNEL)
		ztunnel_ready(c);
	else
		agent_ready(c, events);
}
