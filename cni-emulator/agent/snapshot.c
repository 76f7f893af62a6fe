/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: what a new ztunnel connection is sent first (roles.md §2): an Add
 * with the netns fd for every pod whose netns is still at its path, a Keep
 * for one whose netns is gone (its fd released: the lab rule for a vanished
 * netns), then SnapshotSent. Never touches: sockets (the endpoint writes).
 * Interface: conn.h.
 */
#include "conn.h"
#include "log.h"
#include "lines.h"

/* The message a pod gets in a snapshot; the lab rule for a vanished netns first. */
static struct zmsg *snapshot_msg(const struct ztconn *c, struct apod *p)
{
	if (p->nsfd >= 0 && !apod_netns_present(p))
		apod_release_fd(p);
	line_snapshot_pod(c, p, p->nsfd < 0);
	return zmsg_new(p->nsfd >= 0 ? ZDS_REQ_ADD : ZDS_REQ_KEEP, p, p->uid);
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
	log_batch_begin();	/* a line per pod: written a few KiB at a time, not one by one */
	list_for_each(n, &c->a->pods) {
		m = snapshot_msg(c, container_of(n, struct apod, node));
		if (!m) {
			log_batch_end();
			goto fail;
		}
		list_add_tail(&snap, &m->out.node);
	}
	log_batch_end();
	m = zmsg_new(ZDS_REQ_SNAPSHOT_SENT, NULL, NULL);
	if (!m)
		goto fail;
	list_add_tail(&snap, &m->out.node);
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
