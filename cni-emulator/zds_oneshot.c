/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: one blocking ZDS v1 connection to the daemon for add, del, keep and
 * sync: connect, hello, one request and its ack at a time, with deadlines.
 * Never touches: netns, rules, pod state. Interface: zds_oneshot.h.
 */
#include "zds_oneshot.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "inspect/admin.h"
#include "fdpass.h"
#include "guard.h"
#include "uds.h"

/*
 * Waits up to the step's timeout for events on the socket, or for a signal
 * when c->sigfd is set: 0 ready, -ETIMEDOUT, -EINTR with c->signo set.
 * Without a signalfd it is one poll(): the one-shot verbs install no signal
 * handler, so nothing cuts the wait short (a stop and continue restarts it
 * with the time left) and the clock is never read. A one-shot add's first
 * clock read was a page fault (the vDSO's data page) and a libc page more,
 * for nothing (issue 18).
 */
static int zconn_wait(struct zconn *c, short events)
{
	struct pollfd pf[2] = { { c->sock, events, 0 }, { c->sigfd, POLLIN, 0 } };
	struct timespec t0, now;
	long left;
	int n;

	if (c->sigfd < 0) {
		n = poll(pf, 1, c->timeout_ms);
		return n > 0 ? 0 : n == 0 ? -ETIMEDOUT : -errno;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = c->timeout_ms - ((now.tv_sec - t0.tv_sec) * 1000 +
					(now.tv_nsec - t0.tv_nsec) / 1000000);
		n = poll(pf, 2, left > 0 ? (int)left : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (pf[1].revents && (c->signo = guard_signal(c->sigfd)))
			return -EINTR;
		if (pf[0].revents)
			return 0;
		if (!n)
			return -ETIMEDOUT;
	}
}

static int recv_step(struct zconn *c, const char *what, size_t *len, struct ze_err *e)
{
	struct fdpass_msg m;
	int ret = zconn_wait(c, POLLIN);

	if (!ret)
		ret = fdpass_recv(c->sock, c->buf, ZDS_MAX_MSG, MSG_DONTWAIT, &m);
	if (ret == -EINTR)
		return ze_fail(e, ret, "%s%s: interrupted by %s while waiting for the %s", c->pfx,
			       c->path, strsignal(c->signo), what);
	/*
	 * A daemon that closes with our request unread (turning us away) resets
	 * the connection, yet what it sent before is still queued: read that.
	 */
	if (ret == -ECONNRESET && fdpass_recv(c->sock, c->buf, ZDS_MAX_MSG, MSG_DONTWAIT, &m) == 0 &&
	    m.len)
		ret = 0;
	if (ret == -ETIMEDOUT)
		return ze_fail(e, ret, "%s%s: timed out after %gs waiting for the %s", c->pfx,
			       c->path, c->timeout_ms / 1000.0, what);
	if (ret == -EMSGSIZE)
		return ze_fail(e, ret, "%s%s: the %s is longer than %d bytes", c->pfx, c->path, what,
			       ZDS_MAX_MSG);
	if (ret)
		return ze_fail(e, ret, "%s%s: receiving the %s: %s", c->pfx, c->path, what,
			       strerror(-ret));
	if (m.nfds) {
		fdpass_close_fds(&m);
		return ze_fail(e, -EPROTO, "%s%s: the %s unexpectedly carried file descriptors",
			       c->pfx, c->path, what);
	}
	if (m.len == 0)
		return ze_fail(e, -ECONNRESET, "%s%s: the daemon closed the connection before the %s",
			       c->pfx, c->path, what);
	*len = m.len;
	return 0;
}

/*
 * EACCES, with who may connect: its own function (never inlined), so that
 * the hint's 4 KiB is no part of every connect's stack (issue 18: each
 * stack page below what exec() touched is a page fault for a one-shot add).
 */
static __attribute__((noinline, cold)) int connect_eacces(struct zconn *c, struct ze_err *e)
{
	char hint[4400];

	guard_explain_eacces(c->path, hint, sizeof(hint));
	return ze_fail(e, -EACCES, "%sconnect to %s: %s%s", c->pfx, c->path, strerror(EACCES),
		       hint);
}

/* Connects (the daemon's hello is not read yet): 0, or -errno with why in *e. */
int zconn_connect(struct zconn *c, struct ze_err *e)
{
	c->sock = uds_connect(c->path);
	if (c->sock < 0) {
		int err = -c->sock;

		if (err == ENOENT || err == ECONNREFUSED)
			return ze_fail(e, -err, "%sconnect to %s: %s (is ztunnel-emulator running?)",
				       c->pfx, c->path, strerror(err));
		if (err == EPROTOTYPE)
			return ze_fail(e, -err, "%sconnect to %s: not a ZDS (SOCK_SEQPACKET) socket", c->pfx,
				       c->path);
		if (err == EACCES)
			return connect_eacces(c, e);
		return ze_fail(e, -err, "%sconnect to %s: %s", c->pfx, c->path, strerror(err));
	}
	return 0;
}

/* Reads and checks the daemon's hello: 0, or -errno with why in *e. */
int zconn_hello(struct zconn *c, struct ze_err *e)
{
	const char *why = NULL;
	uint64_t version;
	size_t len;
	int ret = recv_step(c, "hello", &len, e);

	if (ret)
		return ret;
	if (zds_decode_hello(c->buf, len, &version, &why))
		return ze_fail(e, -EPROTO, "%s%s: malformed hello: %s", c->pfx, c->path, why);
	if (version != ZDS_VERSION_V1)
		return ze_fail(e, -EPROTO, "%s%s: unsupported ZDS version %llu in the hello (want 1)",
			       c->pfx, c->path, (unsigned long long)version);
	return 0;
}

/* Connects and checks the daemon's hello: 0, or -errno with why in *e. */
int zconn_open(struct zconn *c, struct ze_err *e)
{
	int ret = zconn_connect(c, e);

	return ret ? ret : zconn_hello(c, e);
}

void zconn_close(struct zconn *c)
{
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
}

/*
 * The config_dump of the daemon at the other end of c (found from its pid,
 * see dump_find_admin()): malloc'd, or NULL when it cannot be read (another
 * user's daemon, no admin endpoint). Only for messages that must be true.
 */
char *zconn_dump(const struct zconn *c)
{
	struct url u;
	char *body = NULL;

	if (dump_find_admin(guard_peer_pid(c->sock), DUMP_ADMIN_FDS, c->timeout_ms, &u, &body))
		return NULL;
	return body;
}

/*
 * A daemon that turns a client away (not allowed, too many connections)
 * sends the Hello, a nack saying why, and closes before any request: the
 * nack is still queued here. True with *nack set when it was.
 */
static bool queued_nack(struct zconn *c, struct zds_str *nack)
{
	struct zds_response resp;
	struct fdpass_msg m;
	const char *why = NULL;

	if (fdpass_recv(c->sock, c->buf, ZDS_MAX_MSG, MSG_DONTWAIT, &m))
		return false;
	fdpass_close_fds(&m);
	if (!m.len || zds_decode_response(c->buf, m.len, &resp, &why) || !resp.has_ack ||
	    !resp.error.len)
		return false;
	*nack = resp.error;
	return true;
}

/*
 * Sends one request (carrying nsfd when it is >= 0) and waits for its ack:
 * 0 when acked; CALL_NACK with *nack the daemon's text (a view into c->buf);
 * CALL_NOT_SENT or CALL_NO_ACK with why the exchange failed in *e.
 */
int zconn_call(struct zconn *c, const uint8_t *msg, size_t len, int nsfd, const char *what,
	       struct zds_str *nack, struct ze_err *e)
{
	struct zds_response resp;
	const char *why = NULL;
	size_t n;
	/*
	 * The socket has room for a request: the wait is for one that does not
	 * (a syscall less), or for a signal that came before it was sent (--redirect).
	 */
	int ret = c->sigfd < 0 ? fdpass_send(c->sock, msg, len, &nsfd, nsfd >= 0, MSG_DONTWAIT) :
				 -EAGAIN;

	if (ret == -EAGAIN && !(ret = zconn_wait(c, POLLOUT)))
		ret = fdpass_send(c->sock, msg, len, &nsfd, nsfd >= 0, MSG_DONTWAIT);
	if (ret == -EINTR) {
		ze_fail(e, ret, "%s%s: interrupted by %s before the %s was sent", c->pfx, c->path,
			strsignal(c->signo), what);
		return CALL_NOT_SENT;
	}
	if (ret == -ETIMEDOUT) {
		ze_fail(e, ret, "%s%s: timed out after %gs sending the %s", c->pfx, c->path,
			c->timeout_ms / 1000.0, what);
		return CALL_NOT_SENT;
	}
	if ((ret == -EPIPE || ret == -ECONNRESET) && queued_nack(c, nack))
		return CALL_NACK;
	if (ret == -EPIPE || ret == -ECONNRESET) {
		ze_fail(e, ret, "%s%s: the daemon closed the connection before the %s was sent",
			c->pfx, c->path, what);
		return CALL_NOT_SENT;
	}
	if (ret) {
		ze_fail(e, ret, "%s%s: sending the %s: %s", c->pfx, c->path, what, strerror(-ret));
		return CALL_NOT_SENT;
	}
	if (c->while_waiting)
		c->while_waiting(c->wait_arg);
	if (recv_step(c, "ack", &n, e))
		return CALL_NO_ACK;
	if (zds_decode_response(c->buf, n, &resp, &why)) {
		ze_fail(e, -EPROTO, "%s%s: malformed response: %s", c->pfx, c->path, why);
		return CALL_NO_ACK;
	}
	if (!resp.has_ack) {
		ze_fail(e, -EPROTO, "%s%s: the response carries no ack", c->pfx, c->path);
		return CALL_NO_ACK;
	}
	*nack = resp.error;
	return resp.error.len ? CALL_NACK : 0;
}
