/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/zds_conn.c's endpoint on a real loop (common/loop.c), each role
 * against a raw peer on a SOCK_SEQPACKET socketpair that speaks in zds.md's
 * bytes (written out here, not encoded by the code under test): ztunnel's
 * side gets typed requests, bad datagrams and the end of the stream; the
 * agent's side waits for the Hello, keeps its requests in lock-step, and
 * hands each Ack back with the request it answers. No fd left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "zds_conn.h"

static const char add_u[] = "\x0a\x0e\x0a\x01u\x12\x09\x0a\x01n\x12\x01" "d\x1a\x01s";

/* What the callbacks saw last. */
static struct {
	int messages, closes;
	enum zds_msg type;
	enum zds_end how;
	int req_type;
	char why[256], error[256];
	struct zds_out *out;
	uint64_t version;
	bool next_sent;	/* ACK: the next request was written before the owner heard */
} seen;

static void on_message(struct zds_conn *c, enum zds_msg type, const struct zds_event *ev)
{
	seen.messages++;
	seen.type = type;
	seen.why[0] = seen.error[0] = '\0';
	if (ev->in) {
		seen.req_type = ev->in->req.type;
		snprintf(seen.why, sizeof(seen.why), "%s", ev->in->why);
		if (ev->in->netns_fd >= 0)
			close(ev->in->netns_fd);	/* the callee's */
	}
	if (ev->why)
		snprintf(seen.why, sizeof(seen.why), "%s", ev->why);
	if (ev->error)
		snprintf(seen.error, sizeof(seen.error), "%s", ev->error);
	seen.out = ev->out;
	seen.version = ev->version;
	seen.next_sent = c->sent;
	if (type == ZDS_MSG_REQUEST)
		zds_conn_ack(c, NULL);
}

static void on_close(struct zds_conn *c, enum zds_end how, const char *why)
{
	(void)why;
	seen.closes++;
	seen.how = how;
	zds_conn_close(c);
}

static const struct zds_conn_ops ops = { .on_message = on_message, .on_close = on_close };

static void pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		_exit(1);
	}
}

/* Raw bytes with at most one fd from the peer. */
static void send_raw(int sock, const char *bytes, size_t len, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = (void *)bytes, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, 0) < 0)
		perror("sendmsg");
}

/* One datagram the peer got (its fd, if any, closed): its length, or -1. */
static ssize_t recv_raw(int sock, uint8_t *buf, size_t cap, int *nfds)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	*nfds = 0;
	for (cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k, count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (k = 0; k < count; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
			close(fd);
			(*nfds)++;
		}
	}
	return n;
}

static void turn(struct loop *l)
{
	loop_turn(l);
}

/* A fresh socketpair, sv[0] the endpoint's in role; the callbacks' record cleared. */
static int start(struct zds_conn *c, struct loop *l, enum zds_role role, int sv[2])
{
	pair(sv);
	memset(&seen, 0, sizeof(seen));
	return zds_conn_start(c, l, sv[0], role, role == ZDS_AGENT ? 1000 : 0, &ops, NULL);
}

/* The peer's next datagram is want (len bytes); returns how many fds came with it. */
static int expect(int sock, const char *want, size_t len, const char *desc)
{
	uint8_t buf[64];
	int nfds;
	ssize_t n = recv_raw(sock, buf, sizeof(buf), &nfds);

	is_mem(buf, n < 0 ? 0 : (size_t)n, want, len, "%s", desc);
	return nfds;
}

static void test_ztunnel_side(struct loop *l, int netns)
{
	struct zds_conn c;
	int sv[2];

	is_int(start(&c, l, ZDS_ZTUNNEL, sv), 0, "ztunnel: endpoint started");
	is_int(zds_conn_hello(&c), 0, "ztunnel: hello sent");
	expect(sv[1], "\x08\x01", 2, "ztunnel: the peer reads the hello 08 01");

	send_raw(sv[1], add_u, sizeof(add_u) - 1, netns);
	turn(l);
	ok(seen.messages == 1 && seen.type == ZDS_MSG_REQUEST && seen.req_type == ZDS_REQ_ADD,
	   "ztunnel: an Add with its netns fd arrives as a request");
	expect(sv[1], "\x0a\x00", 2, "ztunnel: the callback's ack on the wire 0a 00");

	send_raw(sv[1], add_u, sizeof(add_u) - 1, -1);
	turn(l);
	ok(seen.messages == 2 && seen.type == ZDS_MSG_BAD, "ztunnel: an Add without an fd is a bad datagram");
	is_str(seen.why, "No control message", "ztunnel: ... with ztunnel's reason");

	close(sv[1]);
	turn(l);
	ok(seen.closes == 1 && seen.how == ZDS_END_EOF, "ztunnel: the peer hung up: on_close, end of stream");
	ok(!zds_conn_is_open(&c), "ztunnel: closed by the callback");
	loop_run_deferred(l);
}

static void test_agent_side(struct loop *l, int netns)
{
	struct zds_request snap_req = { .type = ZDS_REQ_SNAPSHOT_SENT };
	struct zds_request add_req = {
		.type = ZDS_REQ_ADD, .uid = zds_str_c("u"), .has_workload_info = true,
		.info = { .name = zds_str_c("n"), .namespace_ = zds_str_c("d"),
			  .service_account = zds_str_c("s") },
	};
	struct zds_request del_req = { .type = ZDS_REQ_DEL, .uid = zds_str_c("u") };
	struct zds_out snap, add, del;
	struct timespec later;
	struct zds_conn c;
	uint8_t buf[64];
	int sv[2], nfds;

	is_int(start(&c, l, ZDS_AGENT, sv), 0, "agent: endpoint started");
	ok(zds_conn_next_ms(&c) >= 0, "agent: the Hello's deadline runs");
	is_int(zds_out_init(&snap, &snap_req, -1), 0, "agent: SnapshotSent encoded");
	zds_conn_send(&c, &snap);
	is_int(recv_raw(sv[1], buf, sizeof(buf), &nfds), -1, "agent: nothing goes out before the Hello");

	send_raw(sv[1], "\x08\x01", 2, -1);
	turn(l);
	ok(seen.type == ZDS_MSG_HELLO && seen.version == 1, "agent: the Hello arrives, version V1");
	expect(sv[1], "\x1a\x00", 2, "agent: then the queued request goes out (1a 00)");
	ok(c.sent, "agent: ... and awaits its Ack");

	is_int(zds_out_init(&add, &add_req, fcntl(netns, F_DUPFD_CLOEXEC, 3)), 0, "agent: an Add encoded");
	zds_conn_send(&c, &add);
	is_int(recv_raw(sv[1], buf, sizeof(buf), &nfds), -1, "agent: lock-step: the Add waits for the Ack");

	send_raw(sv[1], "\x0a\x00", 2, -1);
	turn(l);
	ok(seen.type == ZDS_MSG_ACK && seen.out == &snap && !seen.error[0] && !seen.why[0],
	   "agent: the Ack comes back with the request it answers, no error");
	ok(!seen.next_sent, "agent: the owner hears of the Ack before the next request is written");
	zds_out_release(&snap);
	nfds = expect(sv[1], add_u, sizeof(add_u) - 1, "agent: the Add goes out next");
	is_int(nfds, 1, "agent: ... with its netns fd");

	send_raw(sv[1], "\x0a\x03\x0a\x01x", 5, -1);
	turn(l);
	ok(seen.type == ZDS_MSG_ACK && seen.out == &add, "agent: the nack answers the Add");
	is_str(seen.error, "x", "agent: ... with its text");
	zds_out_release(&add);

	send_raw(sv[1], "\x0a\x00", 2, -1);
	turn(l);
	is_int(seen.type, ZDS_MSG_UNASKED, "agent: an Ack nobody asked for is reported");

	zds_out_init(&del, &del_req, -1);
	zds_conn_send(&c, &del);
	recv_raw(sv[1], buf, sizeof(buf), &nfds);
	clock_gettime(CLOCK_MONOTONIC, &later);
	later.tv_sec += 5;
	ok(zds_conn_expired(&c, &later), "agent: no Ack within the timeout: expired");
	ok(zds_conn_take(&c) == &del && !c.sent, "agent: the owner takes the unanswered request back");
	zds_out_release(&del);

	close(sv[1]);
	turn(l);
	ok(seen.closes == 1 && seen.how == ZDS_END_EOF, "agent: the peer hung up: on_close, end of stream");
	loop_run_deferred(l);
}

int main(void)
{
	int base = count_fds(), netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	struct loop l;

	is_int(loop_init(&l), 0, "loop");
	test_ztunnel_side(&l, netns);
	test_agent_side(&l, netns);
	loop_close(&l);
	close(netns);
	is_int(count_fds(), base, "no fd left behind");
	return done_testing();
}
