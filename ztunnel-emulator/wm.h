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

/* One peer's view: which pods it sent (serial), whether its snapshot is complete. */
struct wm_session {
	uint64_t serial;
	bool snapshot_sent;
};

/* Add takes fd (the pod's netns, already checked to be one) on every path. */
void wm_add(struct daemon *d, struct wm_session *s, const struct zds_request *req, int fd,
	    struct wm_reply *r);
void wm_del(struct daemon *d, const struct zds_request *req, struct wm_reply *r);
void wm_keep(struct daemon *d, struct wm_session *s, const struct zds_request *req,
	     struct wm_reply *r);
void wm_snapshot_sent(struct daemon *d, struct wm_session *s, struct wm_reply *r);

#endif
