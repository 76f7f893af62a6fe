/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zds_conn.c: one ZDS endpoint's wire side, the same whichever end of the
 * socket listened — the Hello, one datagram read with strict fd ownership
 * and ztunnel's fd rules, the Ack/nack out with the exact nack wording.
 * Never touches a pod, a loop or a daemon; never prints. Interface: this header.
 */
#ifndef ZE_ZDS_CONN_H
#define ZE_ZDS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "zds.h"

/* ztunnel's nack prefixes; the text is "<prefix> : <reason>" */
#define ZDS_NACK_READ "failure to read message"
#define ZDS_NACK_PROCESS "failure to process message"
#define ZDS_NACK_START "failure to start proxy"

enum zds_read {
	ZDS_READ_AGAIN,		/* nothing to read yet */
	ZDS_READ_REQUEST,	/* in->req holds a request; an Add's netns fd is in->netns_fd */
	ZDS_READ_EOF,		/* end of stream (or an empty datagram: SOCK_SEQPACKET cannot tell) */
	ZDS_READ_BAD,		/* nack "failure to read message : <in->why>", then close */
	ZDS_READ_FAILED,	/* the transport failed (in->why): close */
};

/* One request as read. req's strings point into buf. */
struct zds_in {
	uint8_t buf[ZDS_MAX_MSG];
	struct zds_request req;
	int netns_fd;		/* an Add's network namespace, now the caller's; else -1 */
	size_t other_cmsgs;	/* non-SCM_RIGHTS control messages ignored (worth a warning) */
	char why[256];
};

/*
 * Reads one datagram from fd (non-blocking) and judges it as ztunnel does:
 * an Add carries exactly one fd, a network namespace; no other request
 * carries any. Every received fd is closed on every path but the Add's.
 */
enum zds_read zds_conn_read(int fd, struct zds_in *in);

/* Hello V1 (08 01) out: 0 or -errno. */
int zds_conn_send_hello(int fd);
/* An Ack: error NULL or "" for success, else the nack text (cut to what the peer can read). */
int zds_conn_send_ack(int fd, const char *error);
/* "<prefix> : <reason>" into dst. */
void zds_conn_nack_text(char *dst, size_t cap, const char *prefix, const char *reason);

/*
 * The request side (the node agent's), strict lock-step. Each wait is at most
 * timeout_ms; -ETIMEDOUT when nothing came, -EPIPE at end of stream, -EPROTO
 * when what came is not the expected message (why says what it was).
 */
int zds_conn_recv_hello(int fd, int timeout_ms, uint64_t *version, char *why, size_t cap);
/* One request; netns_fd goes with an Add (-1: none). 0 or -errno. */
int zds_conn_send_request(int fd, const struct zds_request *req, int netns_fd);
/* The Ack of the last request: 0 with text "" (success) or the nack's text. */
int zds_conn_recv_ack(int fd, int timeout_ms, char *text, size_t cap);
/*
 * istio-cni's idle probe: a read with a 10 ms deadline. 0 when the peer is
 * quiet (alive), -EPIPE at end of stream, -EPROTO when it sent something
 * unasked (consumed; the connection should be dropped).
 */
int zds_conn_probe(int fd);

#endif
