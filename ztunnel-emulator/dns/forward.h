/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_DNS_FORWARD_H
#define ZE_DNS_FORWARD_H

/*
 * The socket-free half of forwarding: which client each in-flight upstream
 * query belongs to. A forwarded query gets a fresh random id (so replies
 * from the upstream cannot be confused between clients that picked the same
 * id, and a blind spoofer must guess it); the reply's id is put back to the
 * client's and only accepted when it is a response to the same question.
 * Queries past their deadline come out of dns_idmap_expire() for a SERVFAIL.
 *
 * Owns: the table (bounded: a full table refuses, -EBUSY), id choice,
 * id rewriting with ldns's wire macros, matching replies.
 * Never touches: sockets, clocks (the caller passes milliseconds), logging.
 * Lookups are O(capacity): the table is per pod and small (e.g. 256).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct dns_pending {
	uint16_t upstream_id;		/* id on the upstream side */
	uint16_t client_id;		/* the client's own id */
	struct sockaddr_storage client;	/* where the reply goes (UDP) */
	socklen_t client_len;
	int tag;			/* the caller's: e.g. a TCP connection; opaque here */
	uint64_t deadline_ms;
	uint8_t *query;			/* the query as sent upstream (upstream id in it) */
	size_t query_len;
};

struct dns_idmap {
	struct dns_pending *slots;	/* query == NULL: free */
	size_t cap, n;
};

int dns_idmap_init(struct dns_idmap *m, size_t cap);	/* -EINVAL, -ENOMEM */
void dns_idmap_free(struct dns_idmap *m);

/*
 * Records query Q[LEN] from CLIENT and gives it a fresh upstream id; the
 * bytes to send are then p->query (id rewritten). Returns 0 and *p (owned
 * by the table), -EBUSY when full, -EINVAL for less than a header, -ENOMEM.
 */
int dns_idmap_add(struct dns_idmap *m, const uint8_t *q, size_t len,
		  const struct sockaddr *client, socklen_t client_len, int tag,
		  uint64_t deadline_ms, const struct dns_pending **p);

/*
 * An upstream reply R[LEN]: when its id is in flight and it answers the same
 * question (and class/type), its id is set back to the client's in place and
 * the entry moves to *out (dns_pending_clear it). -ENOENT: no such id (late,
 * or never asked); -EINVAL: not a response to that question (dropped, the
 * query stays in flight).
 */
int dns_idmap_take_reply(struct dns_idmap *m, uint8_t *r, size_t len, struct dns_pending *out);

/* The entry with upstream id ID (its sends all failed) moves to *out: 0, or -ENOENT. */
int dns_idmap_cancel(struct dns_idmap *m, uint16_t upstream_id, struct dns_pending *out);

/* One entry whose deadline is ≤ NOW moves to *out: 1; none: 0. */
int dns_idmap_expire(struct dns_idmap *m, uint64_t now_ms, struct dns_pending *out);
/* The earliest deadline, UINT64_MAX when nothing is in flight (the loop's timer). */
uint64_t dns_idmap_next_deadline(const struct dns_idmap *m);

/* The SERVFAIL the client gets for P (timed out or failed): its own id. */
int dns_pending_servfail(const struct dns_pending *p, uint8_t **out, size_t *out_len);
void dns_pending_clear(struct dns_pending *p);

#endif
