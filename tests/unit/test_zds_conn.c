/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/zds_conn.c over a SOCK_SEQPACKET socketpair, both ends: the bytes
 * on the wire against zds.md's golden vectors (written out here, not
 * encoded by the code under test), ztunnel's fd rules and nack reasons, the
 * request side's lock-step reads and the idle probe, and no fd left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "zds_conn.h"

static int zt = -1, cni = -1;	/* ztunnel's end, the node agent's end */

static void pair(void)
{
	int sv[2];

	if (zt >= 0)
		close(zt);
	if (cni >= 0)
		close(cni);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		_exit(1);
	}
	zt = sv[0];
	cni = sv[1];
}

/* Raw bytes (with up to two fds) from the agent's end. */
static void send_raw(const char *bytes, size_t len, int fd1, int fd2)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { .iov_base = (void *)bytes, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[2] = { fd1, fd2 }, n = (fd1 >= 0) + (fd2 >= 0);

	if (n) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	if (sendmsg(cni, &mh, 0) < 0)
		perror("sendmsg");
}

static void bad(const char *bytes, size_t len, int fd1, int fd2, const char *why, const char *desc)
{
	struct zds_in in;

	send_raw(bytes, len, fd1, fd2);
	is_int(zds_conn_read(zt, &in), ZDS_READ_BAD, "%s: a read failure", desc);
	is_str(in.why, why, "%s: '%s'", desc, why);
	is_int(in.netns_fd, -1, "%s: no fd handed over", desc);
}

int main(void)
{
	static const char add_u[] = "\x0a\x0e\x0a\x01u\x12\x09\x0a\x01n\x12\x01" "d\x1a\x01s";
	int base = count_fds(), netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uint8_t raw[64];
	char text[128];
	struct zds_in in;
	struct zds_request req;
	uint64_t version = 0;

	pair();
	/* Hello out (ztunnel) and in (the agent) */
	is_int(zds_conn_send_hello(zt), 0, "hello sent");
	is_mem(raw, (size_t)recv(cni, raw, sizeof(raw), MSG_PEEK), "\x08\x01", 2, "hello bytes 08 01");
	is_int(zds_conn_recv_hello(cni, 1000, &version, text, sizeof(text)), 0, "hello read by the agent");
	is_int(version, 1, "hello: version V1");
	is_int(zds_conn_read(zt, &in), ZDS_READ_AGAIN, "nothing to read: again");

	/* an Add with its netns fd, encoded by the agent side */
	memset(&req, 0, sizeof(req));
	req.type = ZDS_REQ_ADD;
	req.uid = zds_str_c("u");
	req.has_workload_info = true;
	req.info.name = zds_str_c("n");
	req.info.namespace_ = zds_str_c("d");
	req.info.service_account = zds_str_c("s");
	is_int(zds_conn_send_request(cni, &req, netns), 0, "Add sent with the netns fd");
	is_mem(raw, (size_t)recv(zt, raw, sizeof(raw), MSG_PEEK), add_u, sizeof(add_u) - 1,
	       "Add bytes as zds.md's golden vector");
	is_int(zds_conn_read(zt, &in), ZDS_READ_REQUEST, "Add read: a request");
	is_int(in.req.type, ZDS_REQ_ADD, "... an Add");
	ok(in.netns_fd >= 0, "... with the netns fd, now the reader's");
	close(in.netns_fd);

	/* Ack and nack, out and in */
	is_int(zds_conn_send_ack(zt, NULL), 0, "ack sent");
	is_mem(raw, (size_t)recv(cni, raw, sizeof(raw), MSG_PEEK), "\x0a\x00", 2, "ack bytes 0a 00");
	is_int(zds_conn_recv_ack(cni, 1000, text, sizeof(text)), 0, "ack read");
	is_str(text, "", "ack: no error");
	is_int(zds_conn_send_ack(zt, "x"), 0, "nack sent");
	is_mem(raw, (size_t)recv(cni, raw, sizeof(raw), MSG_PEEK), "\x0a\x03\x0a\x01x", 5,
	       "nack bytes 0a 03 0a 01 78");
	is_int(zds_conn_recv_ack(cni, 1000, text, sizeof(text)), 0, "nack read");
	is_str(text, "x", "nack: its text");
	is_int(zds_conn_recv_ack(cni, 20, text, sizeof(text)), -ETIMEDOUT, "no ack: -ETIMEDOUT");
	zds_conn_nack_text(text, sizeof(text), ZDS_NACK_READ, "No control message");
	is_str(text, "failure to read message : No control message", "nack wording");

	/* ztunnel's fd rules */
	bad(add_u, sizeof(add_u) - 1, -1, -1, "No control message", "Add without an fd");
	bad("\x1a\x00", 2, netns, -1, "Unexpected control message", "SnapshotSent with an fd");
	bad(add_u, sizeof(add_u) - 1, netns, netns, "Expected 1 FD, got 2", "Add with two fds");
	bad(add_u, sizeof(add_u) - 1, null, -1, "the fd is not a namespace file", "Add with /dev/null");
	bad("\x0a", 1, -1, -1, "failed to decode message: truncated varint", "a truncated field");
	bad("\x20\x01", 2, -1, -1, "unknown or missing request payload", "no payload");

	/* the idle probe and end of stream */
	is_int(zds_conn_probe(cni), 0, "probe: a quiet peer is alive");
	zds_conn_send_ack(zt, NULL);
	is_int(zds_conn_probe(cni), -EPROTO, "probe: an unasked message");
	close(zt);
	zt = -1;
	is_int(zds_conn_probe(cni), -EPIPE, "probe: end of stream");
	pair();
	close(cni);
	cni = -1;
	is_int(zds_conn_read(zt, &in), ZDS_READ_EOF, "the agent hung up: end of stream");

	close(zt);
	close(netns);
	close(null);
	is_int(count_fds(), base, "no fd left behind");
	return done_testing();
}
