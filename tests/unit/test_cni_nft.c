/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cni-emulator/redirect/ nftables backend without a netns: the `nft -f` text
 * of each variant against golden text (the redirect one is istio-cni 1.28's
 * cni/pkg/nftables/testdata/default_ipv6.golden with its spacing evened and
 * the real IPv6 SNAT address), the removal transaction, and the reader of
 * `nft -j list` output: rendering and exact identification. Linked from the
 * program's own objects (libcni.a).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rd_internal.h"
#include "redirect.h"
#include "tap.h"

/* the mangle table's start, the same in both variants */
#define MANGLE_HEAD \
	"add table inet istio-ambient-mangle\n" \
	"flush table inet istio-ambient-mangle\n" \
	"add chain inet istio-ambient-mangle prerouting { type filter hook prerouting priority -150 ; }\n" \
	"add chain inet istio-ambient-mangle output { type route hook output priority -150 ; }\n" \
	"add chain inet istio-ambient-mangle istio-prerouting\n" \
	"add chain inet istio-ambient-mangle istio-output\n" \
	"add rule inet istio-ambient-mangle prerouting jump istio-prerouting\n" \
	"add rule inet istio-ambient-mangle output jump istio-output\n" \
	"add rule inet istio-ambient-mangle istio-prerouting meta mark & 0xfff == 0x539 counter ct mark set ct mark & 0xfffff000 | 0x111\n"

static const char redirect_golden[] =
	"add table inet istio-ambient-nat\n"
	"flush table inet istio-ambient-nat\n"
	"add chain inet istio-ambient-nat prerouting { type nat hook prerouting priority -100 ; }\n"
	"add chain inet istio-ambient-nat output { type nat hook output priority -100 ; }\n"
	"add chain inet istio-ambient-nat istio-prerouting\n"
	"add chain inet istio-ambient-nat istio-output\n"
	"add rule inet istio-ambient-nat output jump istio-output\n"
	"add rule inet istio-ambient-nat prerouting jump istio-prerouting\n"
	"add rule inet istio-ambient-nat istio-prerouting meta l4proto tcp ip saddr 169.254.7.127 counter accept\n"
	"add rule inet istio-ambient-nat istio-prerouting meta l4proto tcp ip6 saddr fd16:9254:7127:1337:ffff:ffff:ffff:ffff counter accept\n"
	"add rule inet istio-ambient-nat istio-output meta l4proto tcp ip daddr 169.254.7.127 counter accept\n"
	"add rule inet istio-ambient-nat istio-output meta l4proto tcp ip6 daddr fd16:9254:7127:1337:ffff:ffff:ffff:ffff counter accept\n"
	"add rule inet istio-ambient-nat istio-prerouting ip daddr != 127.0.0.1/32 tcp dport != 15008 mark and 0xfff != 0x539 counter redirect to :15006\n"
	"add rule inet istio-ambient-nat istio-prerouting ip6 daddr != ::1/128 tcp dport != 15008 mark and 0xfff != 0x539 counter redirect to :15006\n"
	"add rule inet istio-ambient-nat istio-output oifname != lo mark and 0xfff != 0x539 udp dport 53 counter redirect to :15053\n"
	"add rule inet istio-ambient-nat istio-output ip daddr != 127.0.0.1/32 tcp dport 53 mark and 0xfff != 0x539 counter redirect to :15053\n"
	"add rule inet istio-ambient-nat istio-output ip6 daddr != ::1/128 tcp dport 53 mark and 0xfff != 0x539 counter redirect to :15053\n"
	"add rule inet istio-ambient-nat istio-output meta l4proto tcp mark and 0xfff == 0x111 counter accept\n"
	"add rule inet istio-ambient-nat istio-output oifname lo ip daddr != 127.0.0.1/32 counter accept\n"
	"add rule inet istio-ambient-nat istio-output oifname lo ip6 daddr != ::1/128 counter accept\n"
	"add rule inet istio-ambient-nat istio-output meta l4proto tcp ip daddr != 127.0.0.1/32 mark and 0xfff != 0x539 counter redirect to :15001\n"
	"add rule inet istio-ambient-nat istio-output meta l4proto tcp ip6 daddr != ::1/128 mark and 0xfff != 0x539 counter redirect to :15001\n"
	MANGLE_HEAD
	"add rule inet istio-ambient-mangle istio-output ct mark and 0xfff == 0x111 counter meta mark set ct mark\n"
	"add table inet istio-ambient-raw\n"
	"flush table inet istio-ambient-raw\n"
	"add chain inet istio-ambient-raw prerouting { type filter hook prerouting priority -300 ; }\n"
	"add chain inet istio-ambient-raw output { type filter hook output priority -300 ; }\n"
	"add chain inet istio-ambient-raw istio-prerouting\n"
	"add chain inet istio-ambient-raw istio-output\n"
	"add rule inet istio-ambient-raw prerouting jump istio-prerouting\n"
	"add rule inet istio-ambient-raw output jump istio-output\n"
	"add rule inet istio-ambient-raw istio-output udp dport 53 meta mark and 0xfff == 0x539 counter ct zone set 1\n"
	"add rule inet istio-ambient-raw istio-prerouting udp sport 53 meta mark and 0xfff != 0x539 counter ct zone set 1\n";

static const char tproxy_golden[] =
	MANGLE_HEAD
	"add rule inet istio-ambient-mangle istio-prerouting meta l4proto tcp ip saddr 169.254.7.127 counter accept\n"
	"add rule inet istio-ambient-mangle istio-prerouting meta l4proto tcp ip6 saddr fd16:9254:7127:1337:ffff:ffff:ffff:ffff counter accept\n"
	"add rule inet istio-ambient-mangle istio-prerouting iifname lo meta l4proto tcp ip daddr != 127.0.0.1/32 counter accept\n"
	"add rule inet istio-ambient-mangle istio-prerouting iifname lo meta l4proto tcp ip6 daddr != ::1/128 counter accept\n"
	"add rule inet istio-ambient-mangle istio-prerouting tcp dport 15008 mark and 0xfff != 0x539 counter tproxy to :15008 meta mark set mark and 0xfffff000 or 0x111 accept\n"
	"add rule inet istio-ambient-mangle istio-prerouting meta l4proto tcp ct state related,established counter accept\n"
	"add rule inet istio-ambient-mangle istio-prerouting meta l4proto tcp ip daddr != 127.0.0.1/32 mark and 0xfff != 0x539 counter tproxy ip to :15006 meta mark set mark and 0xfffff000 or 0x111 accept\n"
	"add rule inet istio-ambient-mangle istio-prerouting meta l4proto tcp ip6 daddr != ::1/128 mark and 0xfff != 0x539 counter tproxy ip6 to :15006 meta mark set mark and 0xfffff000 or 0x111 accept\n"
	"add rule inet istio-ambient-mangle istio-output ct mark and 0xfff == 0x111 counter meta mark set ct mark\n"
	"add table inet istio-ambient-nat\n"
	"flush table inet istio-ambient-nat\n"
	"add chain inet istio-ambient-nat output { type nat hook output priority -100 ; }\n"
	"add chain inet istio-ambient-nat istio-output\n"
	"add rule inet istio-ambient-nat output jump istio-output\n"
	"add rule inet istio-ambient-nat istio-output meta l4proto tcp ip daddr 169.254.7.127 counter accept\n"
	"add rule inet istio-ambient-nat istio-output meta l4proto tcp ip6 daddr fd16:9254:7127:1337:ffff:ffff:ffff:ffff counter accept\n"
	"add rule inet istio-ambient-nat istio-output oifname != lo udp dport 53 counter redirect to :15053\n"
	"add rule inet istio-ambient-nat istio-output meta l4proto tcp mark and 0xfff == 0x111 counter accept\n"
	"add rule inet istio-ambient-nat istio-output oifname lo ip daddr != 127.0.0.1/32 counter accept\n"
	"add rule inet istio-ambient-nat istio-output oifname lo ip6 daddr != ::1/128 counter accept\n"
	"add rule inet istio-ambient-nat istio-output meta l4proto tcp ip daddr != 127.0.0.1/32 mark and 0xfff != 0x539 counter redirect to :15001\n"
	"add rule inet istio-ambient-nat istio-output meta l4proto tcp ip6 daddr != ::1/128 mark and 0xfff != 0x539 counter redirect to :15001\n";

static void test_text(void)
{
	char text[8192];
	int n;

	n = rd_nft_text(RD_REDIRECT, true, text, sizeof(text));
	ok(n > 0 && (size_t)n == strlen(text), "redirect: nft text written");
	is_str(text, redirect_golden, "redirect: istio-cni 1.28's golden nft transaction");
	n = rd_nft_text(RD_TPROXY, true, text, sizeof(text));
	ok(n > 0, "tproxy: nft text written");
	is_str(text, tproxy_golden, "tproxy: the project's translation, golden");

	n = rd_nft_text(RD_REDIRECT, false, text, sizeof(text));
	ok(n > 0 && !strstr(text, "15053") && !strstr(text, "istio-ambient-raw"),
	   "redirect without DNS capture: no 15053 rule, no raw table");
	ok(strstr(text, "add table inet istio-ambient-nat\nflush table inet istio-ambient-nat\n") != NULL,
	   "each table is added and flushed first (a re-run replaces, never duplicates)");
	n = rd_nft_text(RD_TPROXY, false, text, sizeof(text));
	ok(n > 0 && !strstr(text, "15053"), "tproxy without DNS capture: no 15053 rule");
	is_int(rd_nft_text(RD_REDIRECT, true, text, 100), -ENOBUFS, "a short buffer: -ENOBUFS");

	n = rd_nft_remove_text(text, sizeof(text));
	is_str(text,
	       "add table inet istio-ambient-nat\ndelete table inet istio-ambient-nat\n"
	       "add table inet istio-ambient-mangle\ndelete table inet istio-ambient-mangle\n"
	       "add table inet istio-ambient-raw\ndelete table inet istio-ambient-raw\n",
	       "removal: add then delete each of the three tables, nothing else");
	ok(n > 0, "removal text written");
}

/* what nft 1.0.6 prints for `nft -j list ruleset inet` (one foreign table, parts of ours) */
static const char listing[] =
	"{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\", \"json_schema_version\": 1}},"
	"{\"table\": {\"family\": \"inet\", \"name\": \"audit\", \"handle\": 1}},"
	"{\"table\": {\"family\": \"inet\", \"name\": \"istio-ambient-mangle\", \"handle\": 2}},"
	"{\"chain\": {\"family\": \"inet\", \"table\": \"audit\", \"name\": \"out\", \"handle\": 1}},"
	"{\"chain\": {\"family\": \"inet\", \"table\": \"istio-ambient-mangle\", \"name\": \"prerouting\","
	" \"handle\": 1, \"type\": \"filter\", \"hook\": \"prerouting\", \"prio\": -150, \"policy\": \"accept\"}},"
	"{\"rule\": {\"family\": \"inet\", \"table\": \"audit\", \"chain\": \"out\", \"handle\": 2,"
	" \"expr\": [{\"accept\": null}]}},"
	"{\"rule\": {\"family\": \"inet\", \"table\": \"istio-ambient-mangle\", \"chain\": \"prerouting\","
	" \"handle\": 7, \"expr\": [{\"match\": {\"op\": \"==\", \"left\": {\"&\": [{\"meta\": {\"key\": \"mark\"}}, 4095]},"
	" \"right\": 1337}}, {\"counter\": {\"packets\": 12, \"bytes\": 3456}}, {\"mangle\": {\"key\": {\"ct\":"
	" {\"key\": \"mark\"}}, \"value\": {\"|\": [{\"&\": [{\"ct\": {\"key\": \"mark\"}}, 4294963473]}, 273]}}}]}},"
	"{\"rule\": {\"family\": \"inet\", \"table\": \"istio-ambient-mangle\", \"chain\": \"prerouting\","
	" \"handle\": 8, \"expr\": [{\"match\": {\"op\": \"!=\", \"left\": {\"meta\": {\"key\": \"oifname\"}},"
	" \"right\": \"lo\"}}, {\"match\": {\"op\": \"in\", \"left\": {\"ct\": {\"key\": \"state\"}},"
	" \"right\": [\"established\", \"related\"]}}, {\"counter\": {\"packets\": 0, \"bytes\": 0}},"
	" {\"tproxy\": {\"family\": \"ip\", \"port\": 15006}}, {\"accept\": null}]}}]}";

static void test_parse(void)
{
	struct rd_rules r = { NULL, 0 };
	enum rd_variant v;
	bool dns;

	is_int(rd_nft_parse(listing, &r), 0, "nft -j listing parsed");
	is_int(r.n, 5, "only istio-ambient objects kept: table, chain, hook, two rules");
	if (r.n == 5) {
		ok(!r.e[0].rule && !strcmp(r.e[0].table, "istio-ambient-mangle") && !r.e[0].chain[0],
		   "the table as an entry with no chain");
		is_str(r.e[2].rule, "prerouting: type filter hook prerouting priority -150; policy accept;",
		       "a base chain's hook and priority");
		is_str(r.e[3].rule,
		       "prerouting: meta mark & 0x00000fff == 0x00000539 counter ct mark set ct mark & "
		       "0xfffff111 | 0x00000111", "a rule rendered as nft lists it");
		ok(r.e[3].packets == 12 && r.e[3].bytes == 3456, "its counter read");
		is_str(r.e[4].rule,
		       "prerouting: oifname != \"lo\" ct state established,related counter tproxy ip to "
		       ":15006 accept", "interface names quoted, sets joined, tproxy with its family");
	}
	rd_set_backend(RD_NFTABLES);
	is_int(rd_identify(&r, &v, &dns), -ENOMSG, "a partial set: no variant");
	rd_rules_free(&r);
	is_int(rd_identify(&r, &v, &dns), -ENOENT, "no table: nothing installed");
	rd_set_backend(RD_IPTABLES);
	is_int(rd_nft_parse("[]", &r), -EINVAL, "not nft's JSON: -EINVAL");
	rd_rules_free(&r);
}

int main(void)
{
	test_text();
	test_parse();
	return done_testing();
}
