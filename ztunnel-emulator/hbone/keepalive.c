/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The deadlines of HBONE connections, run from the loop's timer: TLS
 * handshakes that take too long, PINGs every 10 s with the connection
 * dropped when no acknowledgement comes within 20 s (ztunnel's keepalive),
 * upstream connects past --relay-connect-timeout (503), and pooled client
 * connections unused for 5 minutes. Never reads or writes a socket itself
 * (conn.c flushes). Interface: hbone_int.h (hconn_timers).
 */
#include <stdbool.h>
#include <time.h>

#include "clock.h"
#include "hbone_int.h"

static long min_ms(long a, long b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* Upstream connects that take too long get their 503 (ztunnel's 10 s, --relay-connect-timeout). */
static long stream_deadlines(struct hconn *c, const struct timespec *now, bool run)
{
	struct list_node *n, *next;
	long best = -1;

	for (n = c->streams.next; n != &c->streams && c->state == HC_H2; n = next) {
		struct hstream *s = container_of(n, struct hstream, link);

		next = n->next;
		if (!s->connecting)
			continue;
		if (run && expired(&s->connect_due, now))
			hstream_refuse(s, 503, "upstream connect timed out");
		else
			best = min_ms(best, ms_until(&s->connect_due));
	}
	return best;
}

static void send_ping(struct hconn *c, const struct timespec *now)
{
	nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL);
	c->ping_out = true;
	c->pong_due = *now;
	timespec_add(&c->pong_due, H2_PONG_WITHIN_MS / 1000.0);
	c->next_ping = *now;
	timespec_add(&c->next_ping, H2_PING_EVERY_MS / 1000.0);
}

/* ms until this connection's next deadline (-1: none); with run, what is due is done. */
static long conn_timer(struct hconn *c, const struct timespec *now, bool run)
{
	struct timespec hs = c->start;
	long best;

	if (c->state == HC_TLS) {
		timespec_add(&hs, TLS_HANDSHAKE_MS / 1000.0);
		if (run && expired(&hs, now)) {
			hconn_close(c, "TLS handshake timed out");
			return -1;
		}
		return ms_until(&hs);
	}
	if (c->state != HC_H2)
		return -1;
	if (c->client && !c->nstreams) {
		struct timespec idle = c->idle_since;

		timespec_add(&idle, POOL_IDLE_MS / 1000.0);
		if (run && expired(&idle, now)) {
			hconn_close(c, NULL);
			return -1;
		}
		best = ms_until(&idle);
	} else {
		best = -1;
	}
	if (run && c->ping_out && expired(&c->pong_due, now)) {
		hconn_close(c, "no PING acknowledgement within 20s");
		return -1;
	}
	if (run && !c->ping_out && expired(&c->next_ping, now)) {
		send_ping(c, now);
		hconn_flush(c);
	}
	best = min_ms(best, stream_deadlines(c, now, run));
	if (c->state != HC_H2)
		return -1;
	if (run)
		hconn_flush(c);
	if (c->state != HC_H2)
		return -1;
	return min_ms(best, ms_until(c->ping_out ? &c->pong_due : &c->next_ping));
}

/*
 * Walks the connections only when the earliest deadline is due: the loop
 * asks every turn (twice), a walk over many pooled connections is not free,
 * and a new deadline only lowers timers_due (hconn_deadline). Asking (run
 * false) never walks. The walk recomputes the earliest one; a deadline set
 * during it lowers the result again.
 */
long hconn_timers(struct hhome *h, bool run)
{
	struct list_node *n, *next;
	struct timespec now;
	long best = -1;

	if (h->timers_none)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!run || !expired(&h->timers_due, &now))
		return ms_until(&h->timers_due);
	h->timers_none = true;
	for (n = h->conns.next; n != &h->conns; n = next) {
		next = n->next;
		best = min_ms(best, conn_timer(container_of(n, struct hconn, link), &now, run));
	}
	if (best >= 0) {
		timespec_add(&now, best / 1000.0);
		hconn_deadline(h, &now);
	}
	return best;
}
