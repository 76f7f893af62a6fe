// SPDX-License-Identifier: Apache-2.0
/*
 * forward.c - the in-flight table of forwarded DNS queries (forward.h).
 *
 * Owns: slots, random upstream ids (getrandom), id rewriting with ldns's
 * LDNS_ID_SET, matching an upstream reply to its query by id and question.
 * Never touches: sockets, clocks, logging; never prints.
 * Interface: forward.h.
 */
#include <errno.h>
#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "answer.h"
#include "forward.h"

int dns_idmap_init(struct dns_idmap *m, size_t cap)
{
	memset(m, 0, sizeof(*m));
	if (cap == 0 || cap > 4096)
		return -EINVAL;
	if (!(m->slots = calloc(cap, sizeof(*m->slots))))
		return -ENOMEM;
	m->cap = cap;
	return 0;
}

void dns_pending_clear(struct dns_pending *p)
{
	free(p->query);
	memset(p, 0, sizeof(*p));
}

void dns_idmap_free(struct dns_idmap *m)
{
	for (size_t i = 0; m->slots && i < m->cap; i++)
		dns_pending_clear(&m->slots[i]);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static struct dns_pending *by_id(const struct dns_idmap *m, uint16_t id)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].query && m->slots[i].upstream_id == id)
			return &m->slots[i];
	return NULL;
}

/* A random id not in flight; the table holds at most 4096 of 65536 */
static uint16_t fresh_id(const struct dns_idmap *m)
{
	uint16_t id = 0;

	for (;;) {
		if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
			id = (uint16_t)(id * 31421u + 6927u);	/* no entropy yet: a full-period LCG */
		if (!by_id(m, id))
			return id;
	}
}

int dns_idmap_add(struct dns_idmap *m, const uint8_t *q, size_t len,
		  const struct sockaddr *client, socklen_t client_len, int tag,
		  uint64_t deadline_ms, const struct dns_pending **p)
{
	struct dns_pending *s = NULL;

	*p = NULL;
	if (len < LDNS_HEADER_SIZE || len > 65535 || client_len > sizeof(s->client))
		return -EINVAL;
	if (m->n == m->cap)
		return -EBUSY;
	for (size_t i = 0; i < m->cap && !s; i++)
		if (!m->slots[i].query)
			s = &m->slots[i];
	if (!s || !(s->query = malloc(len)))
		return -ENOMEM;
	memcpy(s->query, q, len);
	s->query_len = len;
	s->client_id = LDNS_ID_WIRE(q);
	s->upstream_id = fresh_id(m);
	LDNS_ID_SET(s->query, s->upstream_id);
	if (client && client_len)
		memcpy(&s->client, client, client_len);
	s->client_len = client_len;
	s->tag = tag;
	s->deadline_ms = deadline_ms;
	m->n++;
	*p = s;
	return 0;
}

/* R answers the same single question as Q (name case-insensitively, type, class) */
static bool same_question(const uint8_t *q, size_t qlen, const uint8_t *r, size_t rlen)
{
	ldns_pkt *qp = NULL, *rp = NULL;
	bool same = false;

	if (ldns_wire2pkt(&qp, q, qlen) == LDNS_STATUS_OK &&
	    ldns_wire2pkt(&rp, r, rlen) == LDNS_STATUS_OK && ldns_pkt_qr(rp) &&
	    ldns_pkt_qdcount(qp) == 1 && ldns_pkt_qdcount(rp) == 1) {
		ldns_rr *a = ldns_rr_list_rr(ldns_pkt_question(qp), 0);
		ldns_rr *b = ldns_rr_list_rr(ldns_pkt_question(rp), 0);

		same = ldns_rr_get_type(a) == ldns_rr_get_type(b) &&
		       ldns_rr_get_class(a) == ldns_rr_get_class(b) &&
		       ldns_dname_compare(ldns_rr_owner(a), ldns_rr_owner(b)) == 0;
	}
	ldns_pkt_free(qp);
	ldns_pkt_free(rp);
	return same;
}

int dns_idmap_take_reply(struct dns_idmap *m, uint8_t *r, size_t len, struct dns_pending *out)
{
	struct dns_pending *s;

	if (len < LDNS_HEADER_SIZE)
		return -EINVAL;
	if (!(s = by_id(m, LDNS_ID_WIRE(r))))
		return -ENOENT;
	if (!same_question(s->query, s->query_len, r, len))
		return -EINVAL;
	LDNS_ID_SET(r, s->client_id);
	*out = *s;
	memset(s, 0, sizeof(*s));
	m->n--;
	return 0;
}

int dns_idmap_cancel(struct dns_idmap *m, uint16_t upstream_id, struct dns_pending *out)
{
	struct dns_pending *s = by_id(m, upstream_id);

	if (!s)
		return -ENOENT;
	*out = *s;
	memset(s, 0, sizeof(*s));
	m->n--;
	return 0;
}

int dns_idmap_expire(struct dns_idmap *m, uint64_t now_ms, struct dns_pending *out)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].query && m->slots[i].deadline_ms <= now_ms) {
			*out = m->slots[i];
			memset(&m->slots[i], 0, sizeof(m->slots[i]));
			m->n--;
			return 1;
		}
	return 0;
}

uint64_t dns_idmap_next_deadline(const struct dns_idmap *m)
{
	uint64_t t = UINT64_MAX;

	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].query && m->slots[i].deadline_ms < t)
			t = m->slots[i].deadline_ms;
	return t;
}

int dns_pending_servfail(const struct dns_pending *p, uint8_t **out, size_t *out_len)
{
	int r = dns_servfail(p->query, p->query_len, out, out_len);

	if (r == 0)
		LDNS_ID_SET(*out, p->client_id);
	return r;
}
