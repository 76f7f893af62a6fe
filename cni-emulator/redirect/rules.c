/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: istio-cni's rules as data (shared/reference/inpod-rules.md): the
 * tproxy and redirect variants, with and without DNS capture, and what they
 * declare per table and chain. Never touches: a netns, a tool, netlink.
 * Interface: redirect.h (public), rd_internal.h (the line tables).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rd_internal.h"

/* Istio 1.21-1.23 (seeds/000); iptables commands turned into restore input, order kept per table */
static const struct rd_line tproxy_lines[] = {
	{ "mangle", "-N ISTIO_PRERT", false },
	{ "mangle", "-N ISTIO_OUTPUT", false },
	{ "mangle", "-A PREROUTING -j ISTIO_PRERT", false },
	{ "mangle", "-A OUTPUT -j ISTIO_OUTPUT", false },
	{ "mangle", "-A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff", false },
	{ "mangle", "-A ISTIO_PRERT -s 169.254.7.127 -p tcp -m tcp -j ACCEPT", false },
	{ "mangle", "-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -i lo -j ACCEPT", false },
	{ "mangle", "-A ISTIO_PRERT -p tcp -m tcp --dport 15008 -m mark ! --mark 0x539/0xfff -j TPROXY --on-port 15008 --tproxy-mark 0x111/0xfff", false },
	{ "mangle", "-A ISTIO_PRERT -p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", false },
	{ "mangle", "-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j TPROXY --on-port 15006 --tproxy-mark 0x111/0xfff", false },
	{ "mangle", "-A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff", false },
	{ "nat", "-N ISTIO_OUTPUT", false },
	{ "nat", "-A OUTPUT -j ISTIO_OUTPUT", false },
	{ "nat", "-A ISTIO_OUTPUT -d 169.254.7.127 -p tcp -m tcp -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT ! -o lo -p udp -m udp --dport 53 -j REDIRECT --to-port 15053", true },
	{ "nat", "-A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001", false },
	{ NULL, NULL, false },
};

/* Istio >= 1.24: istio-cni's own iptables-restore input; DNS capture off drops 15053 and raw */
static const struct rd_line redirect_lines[] = {
	{ "mangle", "-N ISTIO_PRERT", false },
	{ "mangle", "-N ISTIO_OUTPUT", false },
	{ "mangle", "-A PREROUTING -j ISTIO_PRERT", false },
	{ "mangle", "-A OUTPUT -j ISTIO_OUTPUT", false },
	{ "mangle", "-A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff", false },
	{ "mangle", "-A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff", false },
	{ "nat", "-N ISTIO_PRERT", false },
	{ "nat", "-N ISTIO_OUTPUT", false },
	{ "nat", "-A OUTPUT -j ISTIO_OUTPUT", false },
	{ "nat", "-A PREROUTING -j ISTIO_PRERT", false },
	{ "nat", "-A ISTIO_PRERT -s 169.254.7.127 -p tcp -m tcp -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT -d 169.254.7.127 -p tcp -m tcp -j ACCEPT", false },
	{ "nat", "-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006", false },
	{ "nat", "-A ISTIO_OUTPUT ! -o lo -p udp -m mark ! --mark 0x539/0xfff -m udp --dport 53 -j REDIRECT --to-port 15053", true },
	{ "nat", "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp --dport 53 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15053", true },
	{ "nat", "-A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001", false },
	{ "raw", "-N ISTIO_OUTPUT", true },
	{ "raw", "-N ISTIO_PRERT", true },
	{ "raw", "-A PREROUTING -j ISTIO_PRERT", true },
	{ "raw", "-A OUTPUT -j ISTIO_OUTPUT", true },
	{ "raw", "-A ISTIO_OUTPUT -p udp -m mark --mark 0x539/0xfff -m udp --dport 53 -j CT --zone 1", true },
	{ "raw", "-A ISTIO_PRERT -p udp -m mark ! --mark 0x539/0xfff -m udp --sport 53 -j CT --zone 1", true },
	{ NULL, NULL, false },
};

const struct rd_line *rd_variant_lines(enum rd_variant v)
{
	return v == RD_REDIRECT ? redirect_lines : tproxy_lines;
}

const char *rd_variant_name(enum rd_variant v)
{
	return v == RD_REDIRECT ? "redirect" : "tproxy";
}

int rd_variant_parse(const char *s, enum rd_variant *v)
{
	if (!strcmp(s, "tproxy"))
		*v = RD_TPROXY;
	else if (!strcmp(s, "redirect"))
		*v = RD_REDIRECT;
	else
		return -EINVAL;
	return 0;
}

int rd_rules_text(enum rd_variant v, bool dns_capture, char *buf, size_t cap)
{
	const struct rd_line *l, *lines = rd_variant_lines(v);
	const char *table = NULL;
	size_t len = 0;
	int n;

	/* one "*table ... COMMIT" block per table; a table with no line left is omitted */
	for (l = lines; l->table; l++) {
		if (l->dns && !dns_capture)
			continue;
		if (!table || strcmp(table, l->table)) {
			n = snprintf(buf + len, len < cap ? cap - len : 0, "%s*%s\n", table ? "COMMIT\n" : "",
				     l->table);
			len += (size_t)n;
			table = l->table;
		}
		n = snprintf(buf + len, len < cap ? cap - len : 0, "%s\n", l->text);
		len += (size_t)n;
	}
	if (table) {
		n = snprintf(buf + len, len < cap ? cap - len : 0, "COMMIT\n");
		len += (size_t)n;
	}
	if (len >= cap)
		return -ENOBUFS;
	return (int)len;
}

/* The chain a "-A CHAIN ..." line appends to: its length, or 0. */
size_t rd_rule_chain(const char *rule, const char **chain)
{
	*chain = rule;
	if (strncmp(rule, "-A ", 3))
		return 0;
	*chain = rule + 3;
	return strcspn(*chain, " ");
}

/* How many rules a variant appends to table and chain. */
size_t rd_expected_in(enum rd_variant v, bool dns, const char *table, const char *chain,
			  size_t chainlen)
{
	const struct rd_line *l;
	const char *c;
	size_t n = 0;

	for (l = rd_variant_lines(v); l->table; l++)
		if ((!l->dns || dns) && !strcmp(l->table, table) &&
		    rd_rule_chain(l->text, &c) == chainlen && !strncmp(c, chain, chainlen))
			n++;
	return n;
}

/* Does the variant declare chain in table? */
bool rd_expected_decl(enum rd_variant v, bool dns, const char *table, const char *chain)
{
	const struct rd_line *l;

	for (l = rd_variant_lines(v); l->table; l++)
		if ((!l->dns || dns) && !strcmp(l->table, table) && !strncmp(l->text, "-N ", 3) &&
		    !strcmp(l->text + 3, chain))
			return true;
	return false;
}
