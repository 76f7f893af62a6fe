/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The workload certificates by SPIFFE identity: one leaf per identity,
 * shared by the pods that have it and freed with the last of them, as
 * ztunnel's SecretManager keys its certificates on the identity and forgets
 * one when the node's last workload with it goes (hbone.md "Certificates").
 * So an Add whose identity already has a leaf issues nothing (issue 18: a
 * new key and signature cost ~460 us of CPU per Add, after its ack). Never
 * touches sockets, connections or the log. Interface: hbone_int.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hbone_int.h"

struct hcert {
	struct hcerts *table;
	struct hcert *next;	/* in its bucket */
	struct ca_leaf *leaf;	/* NULL until issued, or while issuing fails */
	size_t refs;		/* pods holding it */
	char identity[];
};

static size_t bucket(const struct hcerts *t, const char *identity)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	while (*identity) {
		h ^= (unsigned char)*identity++;
		h *= 1099511628211ULL;
	}
	return h & (t->nb - 1);
}

/* Doubles the buckets (starts at 16): 0, or -ENOMEM with the table as it was. */
static int grow(struct hcerts *t)
{
	size_t nb = t->nb ? t->nb * 2 : 16, i;
	struct hcert **b = calloc(nb, sizeof(*b)), **old = t->b, *c, *next;
	size_t old_nb = t->nb;

	if (!b)
		return -ENOMEM;
	t->b = b;
	t->nb = nb;
	for (i = 0; i < old_nb; i++)
		for (c = old[i]; c; c = next) {
			next = c->next;
			c->next = b[bucket(t, c->identity)];
			b[bucket(t, c->identity)] = c;
		}
	free(old);
	return 0;
}

struct hcert *hcert_get(struct hcerts *t, const char *identity)
{
	size_t len = strlen(identity);
	struct hcert *c;

	if (t->nb)
		for (c = t->b[bucket(t, identity)]; c; c = c->next)
			if (!strcmp(c->identity, identity)) {
				c->refs++;
				return c;
			}
	if (t->n >= t->nb && grow(t) < 0)
		return NULL;
	c = calloc(1, sizeof(*c) + len + 1);
	if (!c)
		return NULL;
	memcpy(c->identity, identity, len + 1);
	c->table = t;
	c->refs = 1;
	c->next = t->b[bucket(t, identity)];
	t->b[bucket(t, identity)] = c;
	t->n++;
	return c;
}

void hcert_put(struct hcert *c)
{
	struct hcerts *t;
	struct hcert **slot;

	if (!c || --c->refs)
		return;
	t = c->table;
	for (slot = &t->b[bucket(t, c->identity)]; *slot != c; slot = &(*slot)->next)
		;
	*slot = c->next;
	ca_leaf_free(c->leaf);
	free(c);
	/* the last identity gone: the buckets go too (memory back after deleting all) */
	if (!--t->n) {
		free(t->b);
		t->b = NULL;
		t->nb = 0;
	}
}

struct ca_leaf *hcert_issue(const struct ca *ca, struct hcert *c, char *why, size_t cap)
{
	if (!c->leaf)
		c->leaf = ca_issue(ca, c->identity, why, cap);
	return c->leaf;
}
