/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wm.c: the workload manager — what ZDS Add, Del, Keep and SnapshotSent do to
 * the pod table, per session (a connection's snapshot state). Transport-free:
 * it returns a reply and never sends, reads or closes a connection; the ZDS
 * side (zds_server.c) words and sends it. Interface: this header.
 */
#ifndef ZT_WM_H
#define ZT_WM_H

#include <stdbool.h>
#include <stdint.h>

#include "zds.h"

struct daemon;

enum wm_verdict {
	WM_ACK,
	WM_NACK,		/* text: why the proxy could not start ("failure to start proxy : ...") */
	WM_PROTOCOL_ERROR,	/* text: the violation; the session must end */
};

struct wm_reply {
	enum wm_verdict verdict;
	char text[512];
};

/*
 * One peer's view: which pods it sent (serial), whether its snapshot is
 * complete. istio_rules: the connection of the client role (--connect), where
 * ztunnel's own rules hold — a Del before SnapshotSent only forgets the uid
 * (ztunnel >= 1.25) and readiness waits for the snapshot. The listening
 * (walk-thru) role serves one-shot clients: a Del drains at once there.
 */
struct wm_session {
	uint64_t serial;
	bool snapshot_sent;
	bool istio_rules;
};

/* Add takes fd (the pod's netns, already checked to be one) on every path. */
void wm_add(struct daemon *d, struct wm_session *s, const struct zds_request *req, int fd,
	    struct wm_reply *r);
void wm_del(struct daemon *d, struct wm_session *s, const struct zds_request *req,
	    struct wm_reply *r);
/* A new connection of the client role: snapshot set emptied, pending pods forgotten, proxies kept. */
void wm_session_reset(struct daemon *d, struct wm_session *s);
/* ztunnel's readiness for a session: SnapshotSent received and nothing pending. */
bool wm_ready(const struct daemon *d, const struct wm_session *s);
void wm_keep(struct daemon *d, struct wm_session *s, const struct zds_request *req,
	     struct wm_reply *r);
void wm_snapshot_sent(struct daemon *d, struct wm_session *s, struct wm_reply *r);

#endif
