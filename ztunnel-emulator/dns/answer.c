// SPDX-License-Identifier: Apache-2.0
/*
 * answer.c - one DNS query → reply, forward or drop (answer.h), following
 * ztunnel's src/dns/server.rs lookup() and handler.rs (dns.md).
 *
 * Owns: parsing the query and building every reply with ldns (never by
 * hand), the decision order, address selection (VIPs on the client's
 * network, or a headless service's endpoints), shuffling, TTL 30, AA.
 * Never touches: sockets, time, logs, metrics; the registry is read-only.
 * Interface: answer.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aliases.h"
#include "answer.h"
#include "registry.h"

#define DNS_TTL 30		/* ztunnel's DEFAULT_TTL_SECONDS */
#define ADDRS_MAX 64		/* more would not fit a UDP reply anyway */

/* ldns_pkt → malloc'ed wire bytes in d */
static int pack(ldns_pkt *p, struct dns_decision *d)
{
	if (ldns_pkt2wire(&d->reply, p, &d->reply_len) != LDNS_STATUS_OK)
		return -ENOMEM;
	d->action = DNS_REPLY;
	d->rcode = ldns_pkt_get_rcode(p);
	return 0;
}

/*
 * A reply skeleton for query Q (NULL when it did not parse: header only,
 * from the raw id/opcode/RD): QR, same id, opcode and RD, the question
 * echoed, EDNS echoed as hickory does (payload max(asked, 512), DO kept).
 */
static ldns_pkt *reply_for(const ldns_pkt *q, const uint8_t *raw, ldns_pkt_rcode rcode)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr_list *qs;

	if (!p)
		return NULL;
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rcode(p, rcode);
	if (!q) {
		ldns_pkt_set_id(p, LDNS_ID_WIRE(raw));
		ldns_pkt_set_opcode(p, (ldns_pkt_opcode)LDNS_OPCODE_WIRE(raw));
		ldns_pkt_set_rd(p, LDNS_RD_WIRE(raw));
		return p;
	}
	ldns_pkt_set_id(p, ldns_pkt_id(q));
	ldns_pkt_set_opcode(p, ldns_pkt_get_opcode(q));
	ldns_pkt_set_rd(p, ldns_pkt_rd(q));
	qs = ldns_pkt_question(q);
	for (size_t i = 0; i < ldns_rr_list_rr_count(qs); i++) {
		ldns_rr *c = ldns_rr_clone(ldns_rr_list_rr(qs, i));

		if (!c || !ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, c)) {
			ldns_rr_free(c);
			ldns_pkt_free(p);
			return NULL;
		}
	}
	if (ldns_pkt_edns(q)) {
		uint16_t sz = ldns_pkt_edns_udp_size(q);

		ldns_pkt_set_edns_udp_size(p, sz < DNS_UDP_MIN ? DNS_UDP_MIN : sz);
		ldns_pkt_set_edns_version(p, ldns_pkt_edns_version(q));
		ldns_pkt_set_edns_do(p, ldns_pkt_edns_do(q));
	}
	return p;
}

/* An error reply (FORMERR, NOTIMP, SERVFAIL): no AA, no RA, as hickory's error_msg */
static int error_reply(const ldns_pkt *q, const uint8_t *raw, ldns_pkt_rcode rcode,
		       const char *result, struct dns_decision *d)
{
	ldns_pkt *p = reply_for(q, raw, rcode);
	int r;

	if (!p)
		return -ENOMEM;
	r = pack(p, d);
	ldns_pkt_free(p);
	d->result = result;
	return r;
}

static int push_rr(ldns_pkt *p, const ldns_rdf *owner, ldns_rr_type type, ldns_rdf *rdata)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *o = ldns_rdf_clone(owner);

	if (!rr || !o || !rdata) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(o);
		ldns_rdf_deep_free(rdata);
		return -ENOMEM;
	}
	ldns_rr_set_owner(rr, o);
	ldns_rr_set_ttl(rr, DNS_TTL);
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	if (!ldns_rr_push_rdf(rr, rdata)) {
		ldns_rdf_deep_free(rdata);
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	if (!ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr)) {
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	return 0;
}

/* What a match resolved to, before it becomes a packet */
struct found {
	const struct reg_service *svc;
	const char *name;		/* the asked name, original case */
	size_t stripped;		/* CNAME to name[0:stripped] when > 0 */
	struct reg_ip addrs[ADDRS_MAX];
	int n;
};

/* The answer: [CNAME asked → stripped] then the address records, TTL 30, AA, RA */
static int build_answer(const ldns_pkt *q, const struct found *f, bool tcp,
			struct dns_decision *d)
{
	ldns_rdf *asked = ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(q), 0));
	ldns_rdf *target = NULL;
	ldns_pkt *p = reply_for(q, NULL, LDNS_RCODE_NOERROR);
	size_t limit = DNS_UDP_MIN;
	char cname[DNS_NAME_MAX + 2];
	int i, r = -ENOMEM;

	if (!p)
		return -ENOMEM;
	ldns_pkt_set_aa(p, true);
	ldns_pkt_set_ra(p, true);
	if (f->n > 0 && f->stripped) {
		snprintf(cname, sizeof(cname), "%.*s.", (int)f->stripped, f->name);
		if (!(target = ldns_dname_new_frm_str(cname)) ||
		    push_rr(p, asked, LDNS_RR_TYPE_CNAME, ldns_rdf_clone(target)) < 0)
			goto out;
	}
	for (i = 0; i < f->n; i++) {
		const struct reg_ip *ip = &f->addrs[i];
		bool v4 = ip->af == AF_INET;

		if (push_rr(p, target ? target : asked, v4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA,
			    ldns_rdf_new_frm_data(v4 ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA,
						  v4 ? 4 : 16, ip->addr)) < 0)
			goto out;
	}
	d->endpoints = f->n;
	if ((r = pack(p, d)) < 0)
		goto out;
	if (ldns_pkt_edns(q) && ldns_pkt_edns_udp_size(q) > limit)
		limit = ldns_pkt_edns_udp_size(q);
	if (!tcp && d->reply_len > limit) {
		/* too big for UDP: TC and no records, the client retries over TCP */
		free(d->reply);
		d->reply = NULL;
		ldns_rr_list_deep_free(ldns_pkt_answer(p));
		ldns_pkt_set_answer(p, ldns_rr_list_new());
		ldns_pkt_set_ancount(p, 0);
		ldns_pkt_set_tc(p, true);
		d->endpoints = 0;
		r = pack(p, d);
	}
out:
	ldns_rdf_deep_free(target);
	ldns_pkt_free(p);
	return r;
}

static void shuffle(struct reg_ip *a, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = ldns_get_random() % (i + 1);
		struct reg_ip t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

/* The question's name as text without the trailing dot; -ENAMETOOLONG if cut */
static int qname_text(const ldns_rr *qr, char *buf, size_t cap)
{
	char *s = ldns_rdf2str(ldns_rr_owner(qr));
	size_t n;
	int r = 0;

	if (!s)
		return -ENOMEM;
	n = strlen(s);
	if (n > 1 && s[n - 1] == '.')
		s[--n] = '\0';
	if (n >= cap)
		r = -ENAMETOOLONG;
	snprintf(buf, cap, "%s", s);
	free(s);
	return r;
}

/* The service's addresses of the asked family the client can reach (get_addresses) */
static void addresses(const struct dns_ctx *ctx, const struct dns_client *client, int af,
		      struct found *f)
{
	const struct reg_service *s = f->svc;
	const char *net = client->network ? client->network : "";
	int r;

	f->n = 0;
	if (af == AF_INET6 && !ctx->ipv6_enabled)
		return;
	if (s->n_vips == 0) {	/* headless: the endpoints' own IPs */
		r = registry_endpoint_ips(ctx->reg, s, af, f->addrs, ADDRS_MAX);
		f->n = r > 0 ? r : 0;
	}
	for (size_t i = 0; i < s->n_vips && f->n < ADDRS_MAX; i++)
		if (s->vips[i].ip.af == af && !strcmp(s->vips[i].network, net))
			f->addrs[f->n++] = s->vips[i].ip;
	shuffle(f->addrs, f->n);
}

/* Looks the asked name up under every alias; 1 found, 0 not, -errno */
static int find(const struct dns_ctx *ctx, const struct dns_client *client, const char *name,
		struct found *f, bool *wildcard)
{
	struct dns_alias_ctx ac;
	struct dns_aliases al;
	struct reg_query rq = { .client_ns = client->ns, .preferred_ns = ctx->preferred_ns,
				.svc_domain = ac.svc_domain };
	int r;

	r = dns_alias_ctx_init(&ac, client->ns,
			       ctx->cluster_domain ? ctx->cluster_domain : "cluster.local");
	if (r < 0 || (r = dns_aliases(name, &ac, &al)) < 0)
		return r;
	for (size_t i = 0; i < al.n; i++) {
		f->svc = registry_match(ctx->reg, al.v[i].name, &rq, wildcard);
		if (f->svc) {
			f->name = name;
			f->stripped = *wildcard ? 0 : al.v[i].stripped;
			return 1;
		}
	}
	return 0;
}

/* Steps 2-5 for a parsed query with one question from a known client */
static int lookup(const struct dns_ctx *ctx, const struct dns_client *client, const ldns_pkt *q,
		  bool tcp, struct dns_decision *d)
{
	ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	ldns_rr_type type = ldns_rr_get_type(qr);
	int af = type == LDNS_RR_TYPE_A ? AF_INET : AF_INET6;
	struct found f = { 0 };
	char name[DNS_NAME_MAX + 1];
	bool wildcard = false;

	d->action = DNS_FORWARD;
	d->result = "forwarded";
	if ((type != LDNS_RR_TYPE_A && type != LDNS_RR_TYPE_AAAA) ||
	    ldns_rr_get_class(qr) != LDNS_RR_CLASS_IN || !ctx->reg)
		return 0;
	/* escaped bytes or dots: not a hostname any registry entry has */
	if (qname_text(qr, name, sizeof(name)) < 0 || strchr(name, '\\') || !strcmp(name, "."))
		return 0;
	if (find(ctx, client, name, &f, &wildcard) <= 0)
		return 0;	/* no match, or a name too long to have aliases */
	/* from here ztunnel is authoritative: empty NOERROR, never NXDOMAIN */
	if ((af == AF_INET6 && (!ctx->ipv6_enabled || f.svc->ip_families == REG_FAM_IPV4)) ||
	    (af == AF_INET && f.svc->ip_families == REG_FAM_IPV6)) {
		f.n = 0;
		d->result = "service does not support this record type";
	} else {
		addresses(ctx, client, af, &f);
		d->result = f.n ? "success" : "no records";
	}
	return build_answer(q, &f, tcp, d);
}

static void describe(const ldns_pkt *q, struct dns_decision *d)
{
	ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	char *s;

	if (!qr)
		return;
	d->qtype = (uint16_t)ldns_rr_get_type(qr);
	if ((s = ldns_rr_type2str(ldns_rr_get_type(qr)))) {
		snprintf(d->qtype_name, sizeof(d->qtype_name), "%s", s);
		free(s);
	}
	qname_text(qr, d->domain, sizeof(d->domain));	/* for logs: cut is fine */
}

int dns_decide(const struct dns_ctx *ctx, const struct dns_client *client, const uint8_t *q,
	       size_t len, bool tcp, struct dns_decision *d)
{
	ldns_pkt *pkt = NULL;
	int r = 0;

	memset(d, 0, sizeof(*d));
	d->action = DNS_DROP;
	if (len < LDNS_HEADER_SIZE) {
		snprintf(d->why, sizeof(d->why), "%zu bytes: shorter than a DNS header", len);
		return 0;
	}
	d->id = LDNS_ID_WIRE(q);
	if (LDNS_QR_WIRE(q)) {
		/* hickory answers FORMERR; silence avoids an error ping-pong with a peer */
		snprintf(d->why, sizeof(d->why), "a response, not a query");
		return 0;
	}
	if (ldns_wire2pkt(&pkt, q, len) != LDNS_STATUS_OK) {
		snprintf(d->why, sizeof(d->why), "does not parse");
		return error_reply(NULL, q, LDNS_RCODE_FORMERR, "malformed", d);
	}
	describe(pkt, d);
	if (ldns_pkt_get_opcode(pkt) != LDNS_PACKET_QUERY) {
		snprintf(d->why, sizeof(d->why), "opcode %d", (int)ldns_pkt_get_opcode(pkt));
		r = error_reply(pkt, q, LDNS_RCODE_NOTIMPL, "not implemented", d);
	} else if (ldns_pkt_qdcount(pkt) != 1) {
		snprintf(d->why, sizeof(d->why), "%u questions", ldns_pkt_qdcount(pkt));
		r = error_reply(pkt, q, LDNS_RCODE_FORMERR, "malformed", d);
	} else if (!client || !client->ns || !*client->ns) {
		r = error_reply(pkt, q, LDNS_RCODE_SERVFAIL, "unknown source", d);
	} else {
		r = lookup(ctx, client, pkt, tcp, d);
	}
	ldns_pkt_free(pkt);
	if (r < 0)
		dns_decision_clear(d);
	return r;
}

void dns_decision_clear(struct dns_decision *d)
{
	free(d->reply);
	d->reply = NULL;
	d->reply_len = 0;
	d->action = DNS_DROP;
}

int dns_servfail(const uint8_t *q, size_t len, uint8_t **out, size_t *out_len)
{
	struct dns_decision d = { 0 };
	ldns_pkt *pkt = NULL;
	int r;

	*out = NULL;
	*out_len = 0;
	if (len < LDNS_HEADER_SIZE || ldns_wire2pkt(&pkt, q, len) != LDNS_STATUS_OK)
		return -EINVAL;
	r = error_reply(pkt, q, LDNS_RCODE_SERVFAIL, "forwarding failed", &d);
	ldns_pkt_free(pkt);
	if (r == 0) {
		*out = d.reply;
		*out_len = d.reply_len;
	}
	return r;
}
