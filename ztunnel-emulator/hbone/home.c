/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where HBONE connections run. The client ends, and every connection
 * without relay threads, on the main loop. A connection accepted on a pod's
 * 15008 (the inbound end of the tunnel, with its streams and their upstream
 * sockets) starts there too, beside the client end it talks to when both
 * pods are here: its TLS flights, CONNECTs and first bytes cross no thread.
 * Once it has carried HOME_AFTER_BYTES it is handed to a relay thread's
 * loop, the least loaded, as relay_pool.c hands plain relays: so the two
 * ends of a busy pod-to-pod tunnel move their bytes on two CPUs, as
 * ztunnel's worker threads do. A thread keeps its connections in a home of
 * its own (list, deadlines, timer); a Del waits until each thread has closed
 * the pod's connections (hbone_pod_drain).
 * Never touches struct daemon's pod table. Interface: hbone_int.h.
 */
#include <stdlib.h>

#include "daemon.h"
#include "hbone_int.h"

static long home_next(void *ctx)
{
	return hconn_timers(ctx, false);
}

static void home_run(void *ctx)
{
	hconn_timers(ctx, true);
}

void hhome_init(struct hhome *h, struct hbone *hb, struct loop *loop)
{
	h->hb = hb;
	h->loop = loop;
	list_init(&h->conns);
	h->timers_none = true;
	h->fail_limit = (struct log_limit)LOG_LIMIT_INIT(10, 5);
}

void hhome_close(struct hhome *h, const struct pod *p, const char *why)
{
	struct list_node *n, *next;

	for (n = h->conns.next; n != &h->conns; n = next) {
		struct hconn *c = container_of(n, struct hconn, link);

		next = n->next;
		if (!p || c->pod == p || c->dst.pod == p)
			hconn_close(c, why);
	}
}

static void guest_close_pod(void *ctx, const struct pod *p, const char *why)
{
	hhome_close(ctx, p, why);
}

/* The thread ends (every pod is gone by then): what is left closes, the home goes. */
static void guest_stop(void *ctx)
{
	struct hhome *h = ctx;

	hhome_close(h, NULL, "shutting down");
	list_del(&h->timer.node);
	free(h);	/* the connections' memory waits for the loop's deferred frees, which need no home */
}

/* The thread's home, made by its first connection; NULL when out of memory. */
static struct hhome *thread_home(struct hbone *hb, struct relay_home *rh)
{
	struct home_guest *g = relay_home_guest(rh);
	struct hhome *h;

	if (g->ctx)
		return g->ctx;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	hhome_init(h, hb, relay_home_loop(rh));
	loop_add_timer(h->loop, &h->timer, home_next, home_run, h);
	g->close_pod = guest_close_pod;
	g->stop = guest_stop;
	g->ctx = h;
	return h;
}

/* On the relay thread: the handed connection goes on there. */
static void adopt(struct home_call *call, struct relay_home *rh)
{
	struct hconn *c = container_of(call, struct hconn, call);
	struct hhome *h = thread_home(c->hb, rh), spare;

	if (!h) {
		/* out of memory: closed on a stand-in home, its memory freed by this loop */
		hhome_init(&spare, c->hb, relay_home_loop(rh));
		c->home = &spare;
		list_add_tail(&spare.conns, &c->link);
		hconn_close(c, "out of memory");
		return;
	}
	hconn_resume(h, c);
}

/*
 * The end of the main loop's turn: no event of this turn can name c or its
 * streams any more, so they leave its epoll and go. A connection closed
 * meanwhile (a Del, its peer) stays: its free was queued after this. So
 * does every one when no relay thread runs (c->moving stays set: no retry).
 */
static void move(struct loop_deferred *dd)
{
	struct hconn *c = container_of(dd, struct hconn, move);
	struct daemon *d = c->hb->d;
	struct relay_home *rh;

	if (c->state != HC_H2)
		return;
	rh = relay_pool_pick(d);
	if (!rh || relay_home_is_main(d, rh))
		return;
	hconn_unwatch(c);
	list_del(&c->link);
	c->home = NULL;
	/* the pod outlives it: a Del sees away > 0 and waits for the thread */
	c->away = rh;
	__atomic_add_fetch(&c->pod->hbone->away, 1, __ATOMIC_RELAXED);
	relay_home_load(rh, 1);
	c->call.fn = adopt;
	relay_pool_call(d, rh, &c->call);
}

void hhome_hand_over(struct hconn *c)
{
	if (c->client || c->moving || c->home != &c->hb->main)
		return;
	c->moving = true;
	loop_defer_free(c->home->loop, &c->move, move);
}

void hhome_left(struct hconn *c)
{
	if (!c->away)
		return;
	relay_home_load(c->away, -1);
	c->away = NULL;
	/* release: what the thread did to the pod happens before a Del sees 0 */
	__atomic_sub_fetch(&c->pod->hbone->away, 1, __ATOMIC_RELEASE);
}
