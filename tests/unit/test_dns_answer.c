// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the DNS decision (ztunnel-emulator/dns/answer.h) and the
 * forwarding id table (forward.h), over tests/fixtures/registry/lab.yaml.
 * Queries are hand-assembled bytes and replies are read back with a small
 * decoder written here from RFC 1035 (names with compression pointers,
 * header flags, records), independent of ldns, plus one golden reply
 * compared byte for byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "answer.h"
#include "forward.h"
#include "registry.h"
#include "tap.h"

/* ---- an independent reader (RFC 1035 §4) --------------------------------- */

struct rr {
	char name[256];
	uint16_t type, class;
	uint32_t ttl;
	char data[256];		/* A/AAAA as text, CNAME as a name */
};

struct msg {
	uint16_t id, flags, qd, an, ns, ar;
	char qname[256];
	uint16_t qtype;
	struct rr an_rr[16];
};

#define F_QR 0x8000
#define F_AA 0x0400
#define F_TC 0x0200
#define F_RD 0x0100
#define F_RA 0x0080

static int rd_name(const uint8_t *m, size_t len, size_t *off, char *out)
{
	size_t o = *off, w = 0;
	int jumps = 0, jumped = 0;

	for (;;) {
		if (o >= len)
			return -1;
		uint8_t l = m[o];

		if ((l & 0xc0) == 0xc0) {
			if (o + 1 >= len || ++jumps > 20)
				return -1;
			if (!jumped)
				*off = o + 2;
			jumped = 1;
			o = (size_t)((l & 0x3f) << 8 | m[o + 1]);
			continue;
		}
		if (l == 0)
			break;
		if (o + 1 + l > len || w + l + 2 > 255)
			return -1;
		if (w)
			out[w++] = '.';
		memcpy(out + w, m + o + 1, l);
		w += l;
		o += 1 + l;
	}
	out[w] = '\0';
	if (!jumped)
		*off = o + 1;
	return 0;
}

static uint16_t u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static int decode(const uint8_t *m, size_t len, struct msg *d)
{
	size_t o = 12;

	memset(d, 0, sizeof(*d));
	if (len < 12)
		return -1;
	d->id = u16(m), d->flags = u16(m + 2), d->qd = u16(m + 4), d->an = u16(m + 6);
	d->ns = u16(m + 8), d->ar = u16(m + 10);
	if (d->qd == 1) {
		if (rd_name(m, len, &o, d->qname) < 0 || o + 4 > len)
			return -1;
		d->qtype = u16(m + o);
		o += 4;
	}
	for (int i = 0; i < d->an && i < 16; i++) {
		struct rr *r = &d->an_rr[i];
		uint16_t rdlen;
		size_t ro;

		if (rd_name(m, len, &o, r->name) < 0 || o + 10 > len)
			return -1;
		r->type = u16(m + o), r->class = u16(m + o + 2);
		r->ttl = (uint32_t)u16(m + o + 4) << 16 | u16(m + o + 6);
		rdlen = u16(m + o + 8);
		o += 10;
		if (o + rdlen > len)
			return -1;
		ro = o;
		if (r->type == 1 && rdlen == 4)
			inet_ntop(AF_INET, m + o, r->data, sizeof(r->data));
		else if (r->type == 28 && rdlen == 16)
			inet_ntop(AF_INET6, m + o, r->data, sizeof(r->data));
		else if (r->type == 5 && rd_name(m, len, &ro, r->data) < 0)
			return -1;
		o += rdlen;
	}
	return 0;
}

/* A query: id, flags, one question NAME/TYPE IN, optional EDNS OPT (size 1232) */
static size_t mkquery(uint8_t *b, uint16_t id, uint16_t flags, const char *name, uint16_t type,
		      int edns)
{
	size_t o = 12;
	const char *p = name, *dot;

	memset(b, 0, 12);
	b[0] = (uint8_t)(id >> 8), b[1] = (uint8_t)id, b[2] = (uint8_t)(flags >> 8);
	b[3] = (uint8_t)flags, b[5] = 1, b[11] = edns ? 1 : 0;
	while (*p) {
		dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		b[o++] = (uint8_t)l;
		memcpy(b + o, p, l);
		o += l;
		p += l + (dot ? 1 : 0);
	}
	b[o++] = 0;
	b[o++] = (uint8_t)(type >> 8), b[o++] = (uint8_t)type, b[o++] = 0, b[o++] = 1;
	if (edns) {	/* root, OPT(41), class = payload 1232, ttl 0, rdlen 0 */
		const uint8_t opt[] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 };

		memcpy(b + o, opt, sizeof(opt));
		o += sizeof(opt);
	}
	return o;
}

/* ---- the decision -------------------------------------------------------- */

static struct registry *reg;
static struct dns_ctx ctx = { .cluster_domain = "cluster.local", .ipv6_enabled = true };
static const struct dns_client c_default = { .ns = "default" };

/* Decides NAME/TYPE for client C over UDP; decodes a reply into *m */
static enum dns_action ask(const struct dns_client *c, const char *name, uint16_t type,
			   struct dns_decision *d, struct msg *m)
{
	uint8_t q[512];
	size_t len = mkquery(q, 0xbeef, F_RD, name, type, 0);

	if (dns_decide(&ctx, c, q, len, false, d) < 0)
		return (enum dns_action)-1;
	memset(m, 0, sizeof(*m));
	if (d->action == DNS_REPLY && decode(d->reply, d->reply_len, m) < 0)
		diag("reply to %s does not decode", name);
	return d->action;
}

/* Expected bytes assembled by hand from dns.md and RFC 1035 §4.1.4 compression */
static void golden(const struct dns_client *c, const uint8_t *q, size_t qlen, const uint8_t *want,
		   size_t wlen, const char *what)
{
	struct dns_decision d;

	if (dns_decide(&ctx, c, q, qlen, false, &d) < 0 || d.action != DNS_REPLY) {
		fail("%s: no reply", what);
		return;
	}
	is_mem(d.reply, d.reply_len, want, wlen, "%s (golden bytes)", what);
	dns_decision_clear(&d);
}

#define QNAME_FQDN_SEARCH \
	4, 'e', 'c', 'h', 'o', 7, 'd', 'e', 'f', 'a', 'u', 'l', 't', 3, 's', 'v', 'c', \
	7, 'c', 'l', 'u', 's', 't', 'e', 'r', 5, 'l', 'o', 'c', 'a', 'l', \
	7, 'd', 'e', 'f', 'a', 'u', 'l', 't', 3, 's', 'v', 'c', \
	7, 'c', 'l', 'u', 's', 't', 'e', 'r', 5, 'l', 'o', 'c', 'a', 'l', 0

static void test_golden_more(void)
{
	static const uint8_t q_search[] = {
		0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		QNAME_FQDN_SEARCH, 0x00, 0x01, 0x00, 0x01,
	};
	/*
	 * CNAME owner: pointer to the question name (offset 12); target
	 * echo.default.svc.cluster.local = "echo" + pointer to the last
	 * "default.svc.cluster.local" of the question (offset 43 = 0x2b); the A
	 * record's owner points at that target (offset 86 = 0x56).
	 */
	static const uint8_t w_search[] = {
		0xab, 0xcd, 0x85, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
		QNAME_FQDN_SEARCH, 0x00, 0x01, 0x00, 0x01,
		0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x07,
		4, 'e', 'c', 'h', 'o', 0xc0, 0x2b,
		0xc0, 0x56, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x04, 10, 96, 0, 20,
	};
	static const uint8_t q_aaaa[] = {
		0x00, 0x07, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		4, 'e', 'c', 'h', 'o', 0, 0x00, 0x1c, 0x00, 0x01,
	};
	/* found, no IPv6 VIP: NOERROR, AA and RA, no records */
	static const uint8_t w_aaaa[] = {
		0x00, 0x07, 0x85, 0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		4, 'e', 'c', 'h', 'o', 0, 0x00, 0x1c, 0x00, 0x01,
	};
	/* unknown client: SERVFAIL (2), RD echoed, neither AA nor RA (hickory's error_msg) */
	static const uint8_t w_servfail[] = {
		0x00, 0x07, 0x81, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		4, 'e', 'c', 'h', 'o', 0, 0x00, 0x1c, 0x00, 0x01,
	};

	golden(&c_default, q_search, sizeof(q_search), w_search, sizeof(w_search),
	       "search domain stripped: CNAME to the stripped name, then A under it");
	golden(&c_default, q_aaaa, sizeof(q_aaaa), w_aaaa, sizeof(w_aaaa),
	       "echo AAAA: empty authoritative NOERROR");
	golden(NULL, q_aaaa, sizeof(q_aaaa), w_servfail, sizeof(w_servfail),
	       "unknown client: SERVFAIL with the question");
}

static void test_golden(void)
{
	/* dns.md: pod-a (default) asks `echo` A → one A 10.96.0.20, TTL 30, aa */
	static const uint8_t query[] = {
		0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x04, 'e', 'c', 'h', 'o', 0x00, 0x00, 0x01, 0x00, 0x01,
	};
	static const uint8_t want[] = {
		0x12, 0x34, 0x85, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x04, 'e', 'c', 'h', 'o', 0x00, 0x00, 0x01, 0x00, 0x01,
		0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x04,
		10, 96, 0, 20,
	};
	struct dns_decision d;

	ok(dns_decide(&ctx, &c_default, query, sizeof(query), false, &d) == 0 &&
	   d.action == DNS_REPLY, "echo A: answered");
	is_mem(d.reply, d.reply_len, want, sizeof(want),
	       "echo A: QR AA RD RA, question echoed, A 10.96.0.20 TTL 30 (golden bytes)");
	is_str(d.result, "success", "result success");
	is_int(d.endpoints, 1, "one endpoint");
	is_str(d.domain, "echo", "domain for the log");
	is_str(d.qtype_name, "A", "query type for the log");
	dns_decision_clear(&d);
	test_golden_more();
}

static void test_answers(void)
{
	struct dns_decision d;
	struct msg m;
	const char *fqdn = "echo.default.svc.cluster.local.default.svc.cluster.local";

	ask(&c_default, fqdn, 1, &d, &m);
	ok(d.action == DNS_REPLY && m.an == 2 && m.an_rr[0].type == 5 &&
	   !strcmp(m.an_rr[0].name, fqdn) &&
	   !strcmp(m.an_rr[0].data, "echo.default.svc.cluster.local") && m.an_rr[1].type == 1 &&
	   !strcmp(m.an_rr[1].name, "echo.default.svc.cluster.local") &&
	   !strcmp(m.an_rr[1].data, "10.96.0.20") && m.an_rr[0].ttl == 30 && (m.flags & F_AA),
	   "search domain stripped: CNAME asked → echo.default.svc.cluster.local, then its A");
	dns_decision_clear(&d);

	ask(&c_default, "echo", 28, &d, &m);
	ok(d.action == DNS_REPLY && m.an == 0 && (m.flags & 0xf) == 0 && (m.flags & F_AA) &&
	   !strcmp(d.result, "no records"), "echo AAAA (IPv4 VIPs only): empty NOERROR, aa");
	dns_decision_clear(&d);

	ask(&c_default, "v6", 1, &d, &m);
	ok(d.action == DNS_REPLY && m.an == 0 && (m.flags & 0xf) == 0 &&
	   !strcmp(d.result, "service does not support this record type"),
	   "v6 A (ipFamilies IPv6): empty NOERROR");
	dns_decision_clear(&d);

	ask(&c_default, "cart.shop", 1, &d, &m);
	ok(d.action == DNS_REPLY && m.an == 2 && !strcmp(m.an_rr[0].name, "cart.shop") &&
	   ((!strcmp(m.an_rr[0].data, "10.96.0.30") && !strcmp(m.an_rr[1].data, "10.96.0.31")) ||
	    (!strcmp(m.an_rr[0].data, "10.96.0.31") && !strcmp(m.an_rr[1].data, "10.96.0.30"))),
	   "cart.shop from default: both VIPs of the default network, not remote's");
	dns_decision_clear(&d);

	int orders = 0;
	for (int i = 0; i < 64; i++) {
		ask(&c_default, "cart.shop.svc", 1, &d, &m);
		orders |= m.an == 2 && !strcmp(m.an_rr[0].data, "10.96.0.30") ? 1 : 2;
		dns_decision_clear(&d);
	}
	is_int(orders, 3, "VIPs are shuffled (both orders seen in 64 asks)");

	ask(&c_default, "cart.shop.svc.cluster.local", 28, &d, &m);
	ok(m.an == 1 && !strcmp(m.an_rr[0].data, "fd00:96::30") && m.an_rr[0].type == 28,
	   "cart AAAA: the IPv6 VIP");
	dns_decision_clear(&d);
	ctx.ipv6_enabled = false;
	ask(&c_default, "cart.shop.svc.cluster.local", 28, &d, &m);
	ok(d.action == DNS_REPLY && m.an == 0, "... IPv6 disabled: empty NOERROR");
	dns_decision_clear(&d);
	ctx.ipv6_enabled = true;

	ask(&c_default, "WWW.example.com", 1, &d, &m);
	ok(m.an == 1 && m.an_rr[0].type == 1 && !strcmp(m.an_rr[0].name, "WWW.example.com") &&
	   !strcmp(m.an_rr[0].data, "10.96.0.40"), "*.example.com answers WWW.example.com as asked");
	dns_decision_clear(&d);

	ask(&c_default, "db.shop", 1, &d, &m);
	ok(m.an == 2 && (m.flags & F_AA) &&
	   ((!strcmp(m.an_rr[0].data, "198.18.0.2") && !strcmp(m.an_rr[1].data, "198.18.0.3")) ||
	    (!strcmp(m.an_rr[0].data, "198.18.0.3") && !strcmp(m.an_rr[1].data, "198.18.0.2"))),
	   "headless db.shop: its endpoint workloads' IPs");
	dns_decision_clear(&d);

	const struct dns_client c_shop = { .ns = "shop" };
	ask(&c_shop, "db", 1, &d, &m);
	ok(m.an == 2, "db from namespace shop: <svc> → <svc>.shop.svc.cluster.local");
	dns_decision_clear(&d);
	ask(&c_shop, "db.shop.svc.cluster.local.svc.cluster.local", 1, &d, &m);
	ok(m.an == 3 && m.an_rr[0].type == 5 && !strcmp(m.an_rr[0].data, "db.shop.svc.cluster.local"),
	   "svc.<cd> stripped too: CNAME then the two A");
	dns_decision_clear(&d);
}

static void test_forward_and_errors(void)
{
	struct dns_decision d;
	struct msg m;
	uint8_t q[512];
	size_t len;

	ok(ask(&c_default, "example.org", 1, &d, &m) == DNS_FORWARD &&
	   !strcmp(d.result, "forwarded"), "example.org: forwarded");
	dns_decision_clear(&d);
	ok(ask(&c_default, "echo", 15, &d, &m) == DNS_FORWARD, "echo MX: forwarded (not A/AAAA)");
	dns_decision_clear(&d);
	ok(ask(&c_default, "ext.example.org", 1, &d, &m) == DNS_FORWARD,
	   "a service without VIPs outside svc.<cd>: forwarded");
	dns_decision_clear(&d);
	ok(ask(&c_default, "private.secret", 1, &d, &m) == DNS_FORWARD,
	   "visibility Namespace from another namespace: forwarded");
	dns_decision_clear(&d);
	ok(ask(&c_default, "echo.default.svc.cluster.local.example", 1, &d, &m) == DNS_FORWARD,
	   "≥ 5 labels are not expanded");
	dns_decision_clear(&d);

	{
		/* one label "echo.default" (a dot byte inside it) is not echo.default */
		static const uint8_t q1[] = {
			0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
			12, 'e', 'c', 'h', 'o', '.', 'd', 'e', 'f', 'a', 'u', 'l', 't', 0, 0, 1, 0, 1,
		};
		ok(dns_decide(&ctx, &c_default, q1, sizeof(q1), false, &d) == 0 &&
		   d.action == DNS_FORWARD, "a label holding a dot byte is not two labels: forwarded");
		dns_decision_clear(&d);
	}
	{
		/* labels 63, 63, 63, 61: 255 bytes on the wire, the most there is */
		static const int lens[] = { 63, 63, 63, 61 };
		uint8_t q2[300] = { 0, 2, 1, 0, 0, 1 };
		size_t o = 12;

		for (int l = 0; l < 4; l++) {
			q2[o++] = (uint8_t)lens[l];
			memset(q2 + o, 'x', (size_t)lens[l]);
			o += (size_t)lens[l];
		}
		q2[o++] = 0;
		q2[o++] = 0, q2[o++] = 1, q2[o++] = 0, q2[o++] = 1;
		ok(dns_decide(&ctx, &c_default, q2, o, false, &d) == 0 && d.action == DNS_FORWARD,
		   "a name of the maximum length: forwarded, no crash");
		dns_decision_clear(&d);
	}

	ok(ask(NULL, "echo", 1, &d, &m) == DNS_REPLY && (m.flags & 0xf) == 2 && m.id == 0xbeef &&
	   m.qd == 1 && !strcmp(m.qname, "echo") && !(m.flags & F_AA) && (m.flags & F_QR),
	   "unknown client: SERVFAIL, same id, question echoed");
	dns_decision_clear(&d);

	len = mkquery(q, 7, F_RD, "echo", 1, 0);
	ok(dns_decide(&ctx, &c_default, q, 11, false, &d) == 0 && d.action == DNS_DROP &&
	   strstr(d.why, "header"), "11 bytes: dropped (%s)", d.why);
	q[2] |= 0x80;
	ok(dns_decide(&ctx, &c_default, q, len, false, &d) == 0 && d.action == DNS_DROP,
	   "a response sent as a query: dropped");
	q[2] &= 0x7f;
	ok(dns_decide(&ctx, &c_default, q, 14, false, &d) == 0 && d.action == DNS_REPLY &&
	   d.rcode == 1 && decode(d.reply, d.reply_len, &m) == 0 && m.id == 7 && m.qd == 0 &&
	   (m.flags & 0xf) == 1, "a question cut short: FORMERR with the id, no question");
	dns_decision_clear(&d);
	q[5] = 2;
	ok(dns_decide(&ctx, &c_default, q, len, false, &d) == 0 && d.action == DNS_REPLY &&
	   d.rcode == 1, "qdcount 2 (one present): FORMERR");
	dns_decision_clear(&d);
	q[5] = 1;
	q[2] = 0x10;	/* opcode 2, STATUS */
	ok(dns_decide(&ctx, &c_default, q, len, false, &d) == 0 && d.action == DNS_REPLY &&
	   d.rcode == 4, "opcode STATUS: NOTIMP");
	dns_decision_clear(&d);

	len = mkquery(q, 9, F_RD, "echo", 1, 1);
	ok(dns_decide(&ctx, &c_default, q, len, false, &d) == 0 && decode(d.reply, d.reply_len, &m) == 0 &&
	   m.an == 1 && m.ar == 1, "an EDNS query gets an OPT record back");
	dns_decision_clear(&d);
}

static void test_truncation(void)
{
	/* 40 VIPs: 40 × 16 + header > 512 over UDP */
	char yaml[4096];
	size_t n = (size_t)snprintf(yaml, sizeof(yaml), "services:\n- name: big\n  namespace: default\n"
				    "  hostname: big.default.svc.cluster.local\n  ports: {}\n  vips: [");
	struct registry *big;
	struct reg_error err;
	struct dns_ctx c2 = ctx;
	struct dns_decision d;
	struct msg m;
	uint8_t q[512];
	size_t len = mkquery(q, 3, F_RD, "big", 1, 0);

	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "%s\"/10.97.0.%d\"", i ? "," : "", i);
	n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "]\n");
	if (registry_load_mem(yaml, n, "big", &big, &err) < 0) {
		fail("big registry: %s", err.why);
		return;
	}
	c2.reg = big;
	ok(dns_decide(&c2, &c_default, q, len, false, &d) == 0 && d.reply_len <= 512 &&
	   decode(d.reply, d.reply_len, &m) == 0 && (m.flags & F_TC) && m.an == 0,
	   "40 A records over UDP: TC set, no records, within 512 bytes");
	dns_decision_clear(&d);
	ok(dns_decide(&c2, &c_default, q, len, true, &d) == 0 && decode(d.reply, d.reply_len, &m) == 0 &&
	   !(m.flags & F_TC) && m.an == 40, "... over TCP: all 40");
	dns_decision_clear(&d);
	registry_free(big);
}

/* ---- forwarding: the id table --------------------------------------------- */

#define INFLIGHT 200

static void test_idmap(void)
{
	struct dns_idmap map;
	const struct dns_pending *p;
	struct dns_pending got;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint16_t up[INFLIGHT];
	uint8_t q[512], r[512];
	size_t len;
	int good = 1, i;
	char name[32];

	ok(dns_idmap_init(&map, INFLIGHT) == 0, "table of %d", INFLIGHT);
	/* every client uses id 1: only the upstream ids tell them apart */
	for (i = 0; i < INFLIGHT; i++) {
		snprintf(name, sizeof(name), "q%d.example.org", i);
		len = mkquery(q, 1, F_RD, name, 1, 0);
		sa.sin_port = htons((uint16_t)(10000 + i));
		if (dns_idmap_add(&map, q, len, (struct sockaddr *)&sa, sizeof(sa), i,
				  1000 + (uint64_t)i, &p) < 0) {
			good = 0;
			break;
		}
		up[i] = p->upstream_id;
		good &= u16(p->query) == p->upstream_id && p->client_id == 1;
		for (int j = 0; j < i; j++)
			good &= up[j] != up[i];
	}
	ok(good, "%d queries in flight, each with its own upstream id in the bytes sent", INFLIGHT);
	len = mkquery(q, 1, F_RD, "x", 1, 0);
	ok(dns_idmap_add(&map, q, len, NULL, 0, 0, 0, &p) == -EBUSY, "full: -EBUSY");
	is_int(dns_idmap_next_deadline(&map), 1000, "next deadline: the earliest");

	/* replies in reverse order, as an upstream may send them */
	good = 1;
	for (i = INFLIGHT - 1; i >= 10; i--) {
		snprintf(name, sizeof(name), "q%d.example.org", i);
		len = mkquery(r, up[i], F_QR | F_RD | F_RA, name, 1, 0);
		if (dns_idmap_take_reply(&map, r, len, &got) < 0) {
			good = 0;
			break;
		}
		good &= u16(r) == 1 && got.tag == i &&
			ntohs(((struct sockaddr_in *)&got.client)->sin_port) == 10000 + i;
		dns_pending_clear(&got);
	}
	ok(good, "replies in any order go back to the right client, with its own id");
	len = mkquery(r, up[INFLIGHT - 1], F_QR, "q199.example.org", 1, 0);
	is_int(dns_idmap_take_reply(&map, r, len, &got), -ENOENT, "a second reply: -ENOENT");
	len = mkquery(r, up[5], F_QR, "evil.example.org", 1, 0);
	is_int(dns_idmap_take_reply(&map, r, len, &got), -EINVAL,
	       "a reply to another question: -EINVAL, query stays");
	len = mkquery(r, up[5], 0, "q5.example.org", 1, 0);
	is_int(dns_idmap_take_reply(&map, r, len, &got), -EINVAL, "a query, not a response: -EINVAL");
	len = mkquery(r, up[5], F_QR, "Q5.EXAMPLE.org", 1, 0);
	ok(dns_idmap_take_reply(&map, r, len, &got) == 0 && got.tag == 5,
	   "names compare case-insensitively (0x20 mixing upstreams)");
	dns_pending_clear(&got);

	ok(dns_idmap_expire(&map, 1003, &got) == 1 && got.deadline_ms <= 1003, "one expired entry out");
	{
		uint8_t *sf;
		size_t sflen;
		struct msg m;

		ok(dns_pending_servfail(&got, &sf, &sflen) == 0 && decode(sf, sflen, &m) == 0 &&
		   m.id == 1 && (m.flags & 0xf) == 2 && (m.flags & F_QR) && (m.flags & F_RD) &&
		   m.qd == 1 && strstr(m.qname, ".example.org"),
		   "timed out: SERVFAIL with the client's id and question");
		free(sf);
	}
	dns_pending_clear(&got);
	i = 0;
	while (dns_idmap_expire(&map, 1003, &got) == 1) {
		i++;
		dns_pending_clear(&got);
	}
	is_int(i, 3, "deadlines ≤ 1003: the other three of 0..3");
	is_int(map.n, 5, "five still in flight");
	is_int(dns_idmap_next_deadline(&map), 1004, "next deadline moves on");
	dns_idmap_free(&map);
	ok(dns_servfail((const uint8_t *)"abc", 3, &(uint8_t *){ NULL }, &len) == -EINVAL,
	   "dns_servfail of a non-query: -EINVAL");
}

int main(void)
{
	char exe[PATH_MAX], path[PATH_MAX + 64];
	struct reg_error err;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = '\0';
	snprintf(path, sizeof(path), "%s/../fixtures/registry/lab.yaml", dirname(exe));
	if (registry_load(path, &reg, &err) < 0) {
		fail("lab.yaml: %s", err.why);
		return done_testing();
	}
	ctx.reg = reg;
	test_golden();
	test_answers();
	test_forward_and_errors();
	test_truncation();
	test_idmap();
	registry_free(reg);
	return done_testing();
}
