/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zds_server.c: the daemon's ZDS server role — peers accepted and admitted,
 * datagrams framed and checked, requests handed to wm.c and its replies
 * worded and sent, idle peers closed. Never touches the pod table directly.
 * Interface: this header.
 */
#ifndef ZT_ZDS_SERVER_H
#define ZT_ZDS_SERVER_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "list.h"
#include "loop.h"
#include "wm.h"
#include "zds_conn.h"

struct daemon;

/* One peer served (in d->conns); only zds_server.c and the fuzzer look inside. */
struct conn {
	struct zds_conn zc;	/* the endpoint, ztunnel's side (common/zds_conn.h) */
	struct wm_session wm;	/* serial: every accepted stream gets the next */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool got_request;
	bool privileged;	/* root or the daemon's own user (admission.h) */
	int kind;		/* enum req_kind of the request being answered */
	struct timespec deadline;	/* for the first request */
	struct list_node wait;	/* in d->waiting until its first request */
	struct list_node link;	/* in d->conns */
	struct loop_deferred dead;	/* closed: freed at the end of the loop turn */
};

/* The listening socket is readable: one peer accepted (or turned away). */
void zds_server_accept(struct daemon *d);
/* A connection is readable: one request read and answered. */
void zds_server_read(struct daemon *d, struct conn *c);
/* Closes peers that sent no request within --timeout of the hello. */
void zds_server_expire(struct daemon *d);
/* Logs why, closes the connection; its memory waits for the end of the event batch. */
void zds_server_close(struct daemon *d, struct conn *c, const char *why);
/* Before any peer: watches the listening socket (zsock.c made it) and the idle deadlines; 0 or -errno. */
int zds_server_start(struct daemon *d);
/* Drain: every connection closed (logged, freed after the batch), the socket closed and removed. */
void zds_server_stop(struct daemon *d);
/* At shutdown: every connection closed and freed, silently. */
void zds_server_drop_all(struct daemon *d);

#endif
