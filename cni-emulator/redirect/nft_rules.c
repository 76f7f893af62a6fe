/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: istio-cni's native nftables ruleset as data (shared/reference/
 * inpod-rules.md "Native nftables backend"): the three inet tables, their
 * base chains and rules, per variant, as `nft -f` input and as the text
 * nft_json.c renders from `nft -j list`; the `nft -f` text of an install
 * and of the removal. Never touches: a netns, a tool. Interface: rd_internal.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rd_internal.h"

#define NAT "istio-ambient-nat"
#define MANGLE "istio-ambient-mangle"
#define RAW "istio-ambient-raw"

#define V6_SNAT "fd16:9254:7127:1337:ffff:ffff:ffff:ffff"
#define NOT_ZT "mark and 0xfff != 0x539"
#define NOT_ZT_L "meta mark & 0x00000fff != 0x00000539"
#define CONNMARK_L "meta mark & 0x00000fff == 0x00000111"

/* the base chains: `add chain` spec and how it is read back (priority as a number) */
#define BASE(t, c, type, hook, prio)                                                       \
	{ t, c, "{ type " type " hook " hook " priority " #prio " ; }",                     \
	  "type " type " hook " hook " priority " #prio "; policy accept;", false, false }
#define CHAIN(t, c) { t, c, NULL, NULL, false, false }
#define RULE(t, c, text, listed) { t, c, text, listed, true, false }
#define DNS_RULE(t, c, text, listed) { t, c, text, listed, true, true }
#define JUMP(t, c, to) RULE(t, c, "jump " to, "jump " to)

/* The mangle table both variants share the start of; the connmark restore on output. */
#define MANGLE_CHAINS                                                                      \
	BASE(MANGLE, "prerouting", "filter", "prerouting", -150),                          \
	BASE(MANGLE, "output", "route", "output", -150),                                   \
	CHAIN(MANGLE, "istio-prerouting"), CHAIN(MANGLE, "istio-output"),                  \
	JUMP(MANGLE, "prerouting", "istio-prerouting"),                                    \
	JUMP(MANGLE, "output", "istio-output"),                                            \
	RULE(MANGLE, "istio-prerouting",                                                   \
	     "meta mark & 0xfff == 0x539 counter ct mark set ct mark & 0xfffff000 | 0x111",    \
	     "meta mark & 0x00000fff == 0x00000539 counter ct mark set ct mark & 0xfffff111 | 0x00000111")
#define MANGLE_OUTPUT                                                                      \
	RULE(MANGLE, "istio-output", "ct mark and 0xfff == 0x111 counter meta mark set ct mark", \
	     "ct mark & 0x00000fff == 0x00000111 counter meta mark set ct mark")

/* nat istio-output from the SNAT accept to the 15001 redirect, as in Istio's golden files */
#define NAT_OUTPUT_TAIL                                                                    \
	RULE(NAT, "istio-output", "meta l4proto tcp mark and 0xfff == 0x111 counter accept",  \
	     "meta l4proto tcp " CONNMARK_L " counter accept"),                                \
	RULE(NAT, "istio-output", "oifname lo ip daddr != 127.0.0.1/32 counter accept",      \
	     "oifname \"lo\" ip daddr != 127.0.0.1 counter accept"),                           \
	RULE(NAT, "istio-output", "oifname lo ip6 daddr != ::1/128 counter accept",          \
	     "oifname \"lo\" ip6 daddr != ::1 counter accept"),                                \
	RULE(NAT, "istio-output",                                                          \
	     "meta l4proto tcp ip daddr != 127.0.0.1/32 " NOT_ZT " counter redirect to :15001", \
	     "meta l4proto tcp ip daddr != 127.0.0.1 " NOT_ZT_L " counter redirect to :15001"), \
	RULE(NAT, "istio-output",                                                          \
	     "meta l4proto tcp ip6 daddr != ::1/128 " NOT_ZT " counter redirect to :15001",    \
	     "meta l4proto tcp ip6 daddr != ::1 " NOT_ZT_L " counter redirect to :15001")

#define SNAT_ACCEPT(c, dir)                                                                \
	RULE(NAT, c, "meta l4proto tcp ip " dir " 169.254.7.127 counter accept",             \
	     "meta l4proto tcp ip " dir " 169.254.7.127 counter accept"),                      \
	RULE(NAT, c, "meta l4proto tcp ip6 " dir " " V6_SNAT " counter accept",              \
	     "meta l4proto tcp ip6 " dir " " V6_SNAT " counter accept")

/*
 * Istio >= 1.28 with global.nativeNftables (cni/pkg/nftables, default_ipv6
 * golden): the v6 twins are always there, as with ambient.ipv6 on (its
 * default); in a pod without IPv6 they match nothing.
 */
static const struct rd_nft_line redirect_lines[] = {
	BASE(NAT, "prerouting", "nat", "prerouting", -100),
	BASE(NAT, "output", "nat", "output", -100),
	CHAIN(NAT, "istio-prerouting"), CHAIN(NAT, "istio-output"),
	JUMP(NAT, "output", "istio-output"),
	JUMP(NAT, "prerouting", "istio-prerouting"),
	SNAT_ACCEPT("istio-prerouting", "saddr"),
	SNAT_ACCEPT("istio-output", "daddr"),
	RULE(NAT, "istio-prerouting",
	     "ip daddr != 127.0.0.1/32 tcp dport != 15008 " NOT_ZT " counter redirect to :15006",
	     "ip daddr != 127.0.0.1 tcp dport != 15008 " NOT_ZT_L " counter redirect to :15006"),
	RULE(NAT, "istio-prerouting",
	     "ip6 daddr != ::1/128 tcp dport != 15008 " NOT_ZT " counter redirect to :15006",
	     "ip6 daddr != ::1 tcp dport != 15008 " NOT_ZT_L " counter redirect to :15006"),
	DNS_RULE(NAT, "istio-output", "oifname != lo " NOT_ZT " udp dport 53 counter redirect to :15053",
		 "oifname != \"lo\" " NOT_ZT_L " udp dport 53 counter redirect to :15053"),
	DNS_RULE(NAT, "istio-output",
		 "ip daddr != 127.0.0.1/32 tcp dport 53 " NOT_ZT " counter redirect to :15053",
		 "ip daddr != 127.0.0.1 tcp dport 53 " NOT_ZT_L " counter redirect to :15053"),
	DNS_RULE(NAT, "istio-output",
		 "ip6 daddr != ::1/128 tcp dport 53 " NOT_ZT " counter redirect to :15053",
		 "ip6 daddr != ::1 tcp dport 53 " NOT_ZT_L " counter redirect to :15053"),
	NAT_OUTPUT_TAIL,
	MANGLE_CHAINS,
	MANGLE_OUTPUT,
	{ RAW, "prerouting", "{ type filter hook prerouting priority -300 ; }",
	  "type filter hook prerouting priority -300; policy accept;", false, true },
	{ RAW, "output", "{ type filter hook output priority -300 ; }",
	  "type filter hook output priority -300; policy accept;", false, true },
	{ RAW, "istio-prerouting", NULL, NULL, false, true },
	{ RAW, "istio-output", NULL, NULL, false, true },
	DNS_RULE(RAW, "prerouting", "jump istio-prerouting", "jump istio-prerouting"),
	DNS_RULE(RAW, "output", "jump istio-output", "jump istio-output"),
	DNS_RULE(RAW, "istio-output", "udp dport 53 meta mark and 0xfff == 0x539 counter ct zone set 1",
		 "udp dport 53 meta mark & 0x00000fff == 0x00000539 counter ct zone set 1"),
	DNS_RULE(RAW, "istio-prerouting", "udp sport 53 meta mark and 0xfff != 0x539 counter ct zone set 1",
		 "udp sport 53 " NOT_ZT_L " counter ct zone set 1"),
	{ NULL, NULL, NULL, NULL, false, false },
};

#define TPROXY_MARK "meta mark set mark and 0xfffff000 or 0x111 accept"
#define TPROXY_MARK_L "meta mark set meta mark & 0xfffff111 | 0x00000111 accept"

/*
 * The tproxy variant (Istio 1.21-1.23) had no nftables backend: this is the
 * project's translation of its iptables rules into the same three-table
 * layout (TPROXY in mangle prerouting, REDIRECT for outbound in nat output,
 * no raw table), v6 twins included.
 */
static const struct rd_nft_line tproxy_lines[] = {
	MANGLE_CHAINS,
	RULE(MANGLE, "istio-prerouting", "meta l4proto tcp ip saddr 169.254.7.127 counter accept",
	     "meta l4proto tcp ip saddr 169.254.7.127 counter accept"),
	RULE(MANGLE, "istio-prerouting", "meta l4proto tcp ip6 saddr " V6_SNAT " counter accept",
	     "meta l4proto tcp ip6 saddr " V6_SNAT " counter accept"),
	RULE(MANGLE, "istio-prerouting", "iifname lo meta l4proto tcp ip daddr != 127.0.0.1/32 counter accept",
	     "iifname \"lo\" meta l4proto tcp ip daddr != 127.0.0.1 counter accept"),
	RULE(MANGLE, "istio-prerouting", "iifname lo meta l4proto tcp ip6 daddr != ::1/128 counter accept",
	     "iifname \"lo\" meta l4proto tcp ip6 daddr != ::1 counter accept"),
	RULE(MANGLE, "istio-prerouting",
	     "tcp dport 15008 " NOT_ZT " counter tproxy to :15008 " TPROXY_MARK,
	     "tcp dport 15008 " NOT_ZT_L " counter tproxy to :15008 " TPROXY_MARK_L),
	RULE(MANGLE, "istio-prerouting", "meta l4proto tcp ct state related,established counter accept",
	     "meta l4proto tcp ct state established,related counter accept"),
	RULE(MANGLE, "istio-prerouting",
	     "meta l4proto tcp ip daddr != 127.0.0.1/32 " NOT_ZT " counter tproxy ip to :15006 " TPROXY_MARK,
	     "meta l4proto tcp ip daddr != 127.0.0.1 " NOT_ZT_L " counter tproxy ip to :15006 " TPROXY_MARK_L),
	RULE(MANGLE, "istio-prerouting",
	     "meta l4proto tcp ip6 daddr != ::1/128 " NOT_ZT " counter tproxy ip6 to :15006 " TPROXY_MARK,
	     "meta l4proto tcp ip6 daddr != ::1 " NOT_ZT_L " counter tproxy ip6 to :15006 " TPROXY_MARK_L),
	MANGLE_OUTPUT,
	BASE(NAT, "output", "nat", "output", -100),
	CHAIN(NAT, "istio-output"),
	JUMP(NAT, "output", "istio-output"),
	SNAT_ACCEPT("istio-output", "daddr"),
	DNS_RULE(NAT, "istio-output", "oifname != lo udp dport 53 counter redirect to :15053",
		 "oifname != \"lo\" udp dport 53 counter redirect to :15053"),
	NAT_OUTPUT_TAIL,
	{ NULL, NULL, NULL, NULL, false, false },
};

const char *const rd_nft_tables[RD_NFT_TABLES] = { NAT, MANGLE, RAW };

const struct rd_nft_line *rd_nft_lines(enum rd_variant v)
{
	return v == RD_REDIRECT ? redirect_lines : tproxy_lines;
}

/* Appends to buf at *len as snprintf does (the length grows past cap: checked at the end). */
#define PUT(...) (*len += (size_t)snprintf(buf + *len, *len < cap ? cap - *len : 0, __VA_ARGS__))

static void table_text(const struct rd_nft_line *l, bool dns, char *buf, size_t cap, size_t *len)
{
	const char *table = l->table;

	/* as knftables does: add + flush, then refill, so a re-run replaces and never duplicates */
	PUT("add table inet %s\nflush table inet %s\n", table, table);
	for (; l->table && !strcmp(l->table, table); l++) {
		if (l->dns && !dns)
			continue;
		if (l->rule)
			PUT("add rule inet %s %s %s\n", table, l->chain, l->text);
		else if (l->text)
			PUT("add chain inet %s %s %s\n", table, l->chain, l->text);
		else
			PUT("add chain inet %s %s\n", table, l->chain);
	}
}

int rd_nft_text(enum rd_variant v, bool dns_capture, char *buf, size_t cap)
{
	const struct rd_nft_line *l = rd_nft_lines(v);
	const char *table = NULL;
	size_t n = 0, *len = &n;

	for (; l->table; l++) {
		if ((table && !strcmp(table, l->table)) || (l->dns && !dns_capture))
			continue;
		table = l->table;
		table_text(l, dns_capture, buf, cap, len);
	}
	if (n >= cap)
		return -ENOBUFS;
	return (int)n;
}

int rd_nft_remove_text(char *buf, size_t cap)
{
	size_t n = 0, *len = &n, i;

	/* add before delete: a table that is not there cannot fail the batch */
	for (i = 0; i < RD_NFT_TABLES; i++)
		PUT("add table inet %s\ndelete table inet %s\n", rd_nft_tables[i], rd_nft_tables[i]);
	if (n >= cap)
		return -ENOBUFS;
	return (int)n;
}
