/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the DNS proxy's query handling
 * (ztunnel-emulator/dns/answer.c over a fixed registry) and, for inputs
 * whose first byte says so, the registry's YAML loader. The first byte
 * picks the mode: bit 0 known/unknown client, bit 1 UDP/TCP, bit 2 IPv6 on,
 * bit 7 YAML instead of DNS. Invariants checked on every decision:
 *   - a reply carries the query's id, has QR set and parses back (ldns);
 *   - a UDP reply to a query without EDNS fits 512 bytes;
 *   - a drop always has a reason; a forward never comes with bytes.
 * A loaded registry is freed (ASan checks the leaks).
 */
#include <ldns/ldns.h>
#include <string.h>

#include "answer.h"
#include "fuzz_common.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char lab_yaml[] =
	"workloads:\n"
	"- {namespace: shop, name: db-0, workloadIps: [\"198.18.0.3\", \"fd00::3\"],\n"
	"   services: {\"shop/db.shop.svc.cluster.local\": {5432: 5432}}}\n"
	"services:\n"
	"- {name: echo, namespace: default, hostname: echo.default.svc.cluster.local,\n"
	"   vips: [\"/10.96.0.20\", \"/fd00:96::20\"], ports: {80: 8080}}\n"
	"- {name: db, namespace: shop, hostname: db.shop.svc.cluster.local, vips: [], ports: {}}\n"
	"- {name: w, namespace: default, hostname: \"*.example.com\", vips: [\"/10.96.0.40\"],\n"
	"   ports: {}}\n"
	"- {name: v4, namespace: default, hostname: v4.default.svc.cluster.local,\n"
	"   vips: [\"/10.96.0.50\"], ports: {}, ipFamilies: IPv4}\n";

static struct registry *lab(void)
{
	static struct registry *reg;
	struct reg_error err;

	if (!reg && registry_load_mem(lab_yaml, sizeof(lab_yaml) - 1, "lab", &reg, &err) < 0) {
		fprintf(stderr, "fuzz_dns: %s\n", err.why);
		abort();
	}
	return reg;
}

static void fuzz_yaml(const uint8_t *data, size_t size)
{
	struct registry *reg = NULL;
	struct reg_error err;
	int r = registry_load_mem((const char *)data, size, "f", &reg, &err);

	FUZZ_CHECK((r == 0) == (reg != NULL), "r=%d", r);
	FUZZ_CHECK(r == 0 || (err.why[0] && !strchr(err.why, '\n')), "reason: %s", err.why);
	registry_free(reg);
}

static void check_reply(const struct dns_decision *d, const uint8_t *q, size_t len, bool tcp)
{
	ldns_pkt *p = NULL, *qp = NULL;

	FUZZ_CHECK(d->reply && d->reply_len >= LDNS_HEADER_SIZE, "reply of %zu", d->reply_len);
	FUZZ_CHECK(ldns_wire2pkt(&p, d->reply, d->reply_len) == LDNS_STATUS_OK,
		   "our reply does not parse");
	FUZZ_CHECK(ldns_pkt_id(p) == LDNS_ID_WIRE(q) && ldns_pkt_qr(p), "id or QR");
	if (!tcp && ldns_wire2pkt(&qp, q, len) == LDNS_STATUS_OK && !ldns_pkt_edns(qp))
		FUZZ_CHECK(d->reply_len <= DNS_UDP_MIN, "UDP reply of %zu bytes", d->reply_len);
	ldns_pkt_free(qp);
	ldns_pkt_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct dns_client known = { .ns = "default" };
	struct dns_ctx ctx = { .reg = lab(), .cluster_domain = "cluster.local" };
	struct dns_decision d;
	bool tcp;

	if (size < 1)
		return 0;
	if (data[0] & 0x80) {
		fuzz_yaml(data + 1, size - 1);
		return 0;
	}
	tcp = data[0] & 2;
	ctx.ipv6_enabled = data[0] & 4;
	if (dns_decide(&ctx, (data[0] & 1) ? NULL : &known, data + 1, size - 1, tcp, &d) < 0)
		return 0;	/* -ENOMEM */
	switch (d.action) {
	case DNS_REPLY:
		check_reply(&d, data + 1, size - 1, tcp);
		break;
	case DNS_FORWARD:
		FUZZ_CHECK(!d.reply, "forward with bytes");
		break;
	case DNS_DROP:
		FUZZ_CHECK(!d.reply && d.why[0], "drop without a reason");
		break;
	}
	dns_decision_clear(&d);
	return 0;
}
