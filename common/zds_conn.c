/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One ZDS endpoint's wire side in either transport role: the Hello, one
 * datagram read with strict fd ownership and ztunnel's fd rules, the Ack and
 * the nack wording. Never touches a pod, a loop or a daemon; never prints.
 * Interface: zds_conn.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

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
