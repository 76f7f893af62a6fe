/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_ZDS_ONESHOT_H
#define CNI_ZDS_ONESHOT_H

/* One blocking ZDS v1 connection to the daemon (zds_oneshot.c). */
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "zds.h"

/* One connection to the daemon. Every reason it gives starts with pfx. */
struct zconn {
	int sock;
	const char *path;
	int timeout_ms;
	const char *pfx;	/* "" or e.g. "pod \"uid\": " */
	int sigfd;		/* guard_signals()'s fd, or -1: waits end on SIGINT/SIGTERM/SIGHUP */
	int signo;		/* the signal that ended a wait, or 0 */
	/* zconn_call: run once the request is sent, while the daemon works on it (or NULL) */
	void (*while_waiting)(void *arg);
	void *wait_arg;
	uint8_t buf[ZDS_MAX_MSG];
};

/* zconn_call's outcomes besides the ack (0) */
enum { CALL_NACK = 1, CALL_NOT_SENT = -1, CALL_NO_ACK = -2 };

/* Connects (the daemon's hello is not read yet): 0, or -errno with why in *e. */
int zconn_connect(struct zconn *c, struct ze_err *e);
/* Reads and checks the daemon's hello: 0, or -errno with why in *e. */
int zconn_hello(struct zconn *c, struct ze_err *e);
/* Connects and checks the daemon's hello: 0, or -errno with why in *e. */
int zconn_open(struct zconn *c, struct ze_err *e);
void zconn_close(struct zconn *c);
/* The config_dump of the daemon at the other end of c: malloc'd, or NULL. */
char *zconn_dump(const struct zconn *c);
/*
 * Sends one request (carrying nsfd when it is >= 0) and waits for its ack:
 * 0 when acked; CALL_NACK with *nack the daemon's text (a view into c->buf);
 * CALL_NOT_SENT or CALL_NO_ACK with why the exchange failed in *e.
 * Nothing here prints: the verb does (common/err.h).
 */
int zconn_call(struct zconn *c, const uint8_t *msg, size_t len, int nsfd, const char *what,
	       struct zds_str *nack, struct ze_err *e);

#endif
