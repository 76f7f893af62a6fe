/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_DNS_ANSWER_H
#define ZE_DNS_ANSWER_H

/*
 * What the per-pod DNS proxy does with one query (dns.md "How one query is
 * handled"): reply itself (an authoritative answer from the registry, an
 * empty NOERROR, SERVFAIL for an unknown client, FORMERR/NOTIMP for a bad
 * query), forward the query unchanged, or drop it.
 *
 * Owns: DNS parsing and building (ldns), Kubernetes aliases, search-domain
 * stripping, wildcards, address selection, truncation for UDP.
 * Never touches: sockets, clocks, logging or metrics: the caller sends the
 * bytes, forwards, logs `result` and counts. Nothing here prints.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct registry;

struct dns_client {
	const char *ns;			/* the asking pod's namespace */
	const char *network;		/* its network; NULL or "" is the default */
};

struct dns_ctx {
	const struct registry *reg;	/* may be NULL: nothing is answered, all forwarded */
	const char *cluster_domain;	/* NULL: "cluster.local" */
	const char *preferred_ns;	/* PREFERED_SERVICE_NAMESPACE, may be NULL */
	bool ipv6_enabled;		/* false: AAAA for a known name is an empty NOERROR */
};

enum dns_action {
	DNS_REPLY,			/* send d->reply back to the client */
	DNS_FORWARD,			/* relay the query to the upstream resolver */
	DNS_DROP,			/* say nothing (d->why tells why; count it) */
};

struct dns_decision {
	enum dns_action action;
	uint8_t *reply;			/* DNS_REPLY: wire bytes, malloc'ed; dns_decision_clear() */
	size_t reply_len;
	int rcode;			/* DNS_REPLY: LDNS_RCODE_* of the reply */
	uint16_t id;			/* the query's id (0 if too short to have one) */
	uint16_t qtype;			/* 0 when there is no question */
	char qtype_name[16];		/* "A", "AAAA", "TYPE65"...: for logs and metric labels */
	char domain[256];		/* the name asked, no trailing dot (for logs) */
	const char *result;		/* ztunnel's access-log result, or ours for errors */
	int endpoints;			/* address records in the answer */
	char why[96];			/* DNS_DROP and FORMERR/NOTIMP: the reason */
};

/* The reply limit over UDP without EDNS (RFC 1035) */
#define DNS_UDP_MIN 512

/*
 * Decides what to do with query Q[LEN] from CLIENT (NULL: a pod the registry
 * does not know → SERVFAIL). TCP: the reply goes over TCP (no truncation).
 * Returns 0 with *d filled in, or -ENOMEM (then d->action is DNS_DROP).
 */
int dns_decide(const struct dns_ctx *ctx, const struct dns_client *client, const uint8_t *q,
	       size_t len, bool tcp, struct dns_decision *d);
void dns_decision_clear(struct dns_decision *d);

/*
 * A SERVFAIL reply to query Q[LEN] (same id, question and RD): what the
 * client gets when its forwarded query failed or timed out. Returns 0 and a
 * malloc'ed *out, -EINVAL for a query that does not parse, or -ENOMEM.
 */
int dns_servfail(const uint8_t *q, size_t len, uint8_t **out, size_t *out_len);

#endif
