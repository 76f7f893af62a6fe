/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: what a new ztunnel connection is sent first (roles.md §2): an Add
 * with the netns fd for every pod whose netns is still at its path, a Keep
 * for one whose netns is gone (its fd released: the lab rule for a vanished
 * netns), then SnapshotSent. Never touches: sockets (the endpoint writes).
 * Interface: conn.h.
 *
 * The snapshot is queued at once, one stub (the pod's uid) per pod, and each
 * stub is built (netns checked, line logged, fd dup'ed, request encoded) a
 * few requests before it is due, when an Ack comes: building all 4,000 up
 * front kept ztunnel waiting for the first one for as long (issue 18, item
 * 3). The next request goes out once that is done (zds_conn.c's agent_ack).
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "lines.h"

/* Stubs built in one go (their lines in one write) once fewer than 2 requests are ready. */
#define SNAP_AHEAD 4

/* The stub's request, from its pod as it is now; 1: the pod is gone, -1: out of memory or fds. */
static int snapshot_build(struct ztconn *c, struct zmsg *m)
{
	struct apod *p = apod_find(c->a, m->uid);

	if (!p)
		return 1;
	if (p->nsfd >= 0 && !apod_netns_present(p))
		apod_release_fd(p);
	line_snapshot_pod(c, p, p->nsfd < 0);
	m->stub = false;
	return zmsg_fill(m, p->nsfd >= 0 ? ZDS_REQ_ADD : ZDS_REQ_KEEP, p);
}

static struct zmsg *snapshot_stub(const struct apod *p)
{
	struct zmsg *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->out.fd = -1;
	m->stub = true;
	m->uid = strdup(p->uid);
	if (!m->uid) {
		free(m);
		return NULL;
	}
	return m;
}

/* Builds the stubs at the head of q: 0, or -1 (out of memory or fds). */
static int build_ahead(struct ztconn *c, struct list_node *q)
{
	struct list_node *n, *next;
	struct zmsg *m;
	int ready = 0, built = 0, ret;

	for (n = q->next; n != q && ready < 1 + SNAP_AHEAD; n = next) {
		next = n->next;
		m = container_of(n, struct zmsg, out.node);
		if (m->stub) {
			if (ready >= 2 && !built)
				break;	/* the one in flight and the next are ready: not yet */
			ret = snapshot_build(c, m);
			if (ret < 0)
				return -1;
			if (ret > 0) {	/* unenrolled since the snapshot began: nothing to send */
				list_del(&m->out.node);
				zmsg_free(m);
				continue;
			}
			built++;
		}
		ready++;
	}
	return 0;
}

static int build_ahead_logged(struct ztconn *c, struct list_node *q)
{
	int ret;

	log_batch_begin();	/* the stubs' lines: one write */
	ret = build_ahead(c, q);
	log_batch_end();
	return ret;
}

/* Keeps the next requests of the snapshot built (on each Ack, before the next is written). */
void zc_snapshot_ahead(struct ztconn *c)
{
	if (build_ahead_logged(c, &c->zc.queue))
		zc_drop(c, "cannot build the snapshot (out of memory or fds)");
}

/*
 * istio-cni's snapshot: Add (+fd) per pod whose netns is there, else Keep;
 * then SnapshotSent; all before what was queued while the Hello was awaited.
 */
void zc_snapshot(struct ztconn *c)
{
	struct list_node snap, *n;
	struct zmsg *m;

	c->state = ZC_SNAPSHOT;
	list_init(&snap);
	list_for_each(n, &c->a->pods) {
		m = snapshot_stub(container_of(n, struct apod, node));
		if (!m)
			goto fail;
		list_add_tail(&snap, &m->out.node);
	}
	m = zmsg_new(ZDS_REQ_SNAPSHOT_SENT, NULL, NULL);
	if (!m)
		goto fail;
	list_add_tail(&snap, &m->out.node);
	if (build_ahead_logged(c, &snap))
		goto fail;
	zds_conn_send_first(&c->zc, &snap);
	return;
fail:
	while (!list_empty(&snap)) {
		m = container_of(snap.next, struct zmsg, out.node);
		list_del(&m->out.node);
		zmsg_free(m);
	}
	zc_drop(c, "cannot build the snapshot (out of memory or fds)");
}
