/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: istio-cni's rules as data (shared/reference/inpod-rules.md): the
 * tproxy and redirect variants, with and without DNS capture, and what they
 * declare per table and chain. Never touches: a netns, a tool, netlink.
 * Interface: redirect.h (public), rd_internal.h (the line tables).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/* text with the IPv4 loopback and SNAT addresses as the IPv6 ones, appended at buf + len */
static size_t put_family(char *buf, size_t len, size_t cap, const char *text, enum rd_family f)
{
	static const char *const from[] = { "127.0.0.1/32", RD_SNAT4 };
	static const char *const to[] = { "::1/128", RD_SNAT6 };
	const char *p = text, *hit;
	size_t i, best;

	while (*p) {
		hit = NULL;
		best = 0;
		for (i = 0; f == RD_IPV6 && i < sizeof(from) / sizeof(from[0]); i++) {
			const char *h = strstr(p, from[i]);

			if (h && (!hit || h < hit)) {
				hit = h;
				best = i;
			}
		}
		if (!hit) {
			len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s", p);
			break;
		}
		len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%.*s%s",
					(int)(hit - p), p, to[best]);
		p = hit + strlen(from[best]);
	}
	return len;
}

int rd_rules_text_family(enum rd_variant v, enum rd_family f, bool dns_capture, char *buf,
			 size_t cap)
{
	const struct rd_line *l, *lines = rd_variant_lines(v);
	const char *table = NULL;
	size_t len = 0;

	/* one "*table ... COMMIT" block per table; a table with no line left is omitted */
	for (l = lines; l->table; l++) {
		if (l->dns && !dns_capture)
			continue;
		if (!table || strcmp(table, l->table)) {
			len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s*%s\n",
						table ? "COMMIT\n" : "", l->table);
			table = l->table;
		}
		len = put_family(buf, len, cap, l->text, f);
		len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "\n");
	}
	if (table)
		len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "COMMIT\n");
	if (len >= cap)
		return -ENOBUFS;
	return (int)len;
}

int rd_rules_text(enum rd_variant v, bool dns_capture, char *buf, size_t cap)
{
	return rd_rules_text_family(v, RD_IPV4, dns_capture, buf, cap);
}

#define NORM_MAX_OPTS 32

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One option group ("! -d ADDR", "--mark 0x539/0xfff") as it compares; "" to drop it. */
static void norm_opt(char *o, size_t cap)
{
	static const struct { const char *from, *to; } addr[] = {
		{ "127.0.0.1", "127.0.0.1/32" }, { "::1", "127.0.0.1/32" },
		{ "::1/128", "127.0.0.1/32" }, { RD_SNAT4, RD_SNAT4 "/32" },
		{ RD_SNAT6, RD_SNAT4 "/32" }, { RD_SNAT6 "/128", RD_SNAT4 "/32" },
	};
	char *flag = o[0] == '!' ? o + 2 : o, *arg = strchr(flag, ' ');
	char tmp[128];
	size_t i;

	if (!strcmp(o, "-m tcp") || !strcmp(o, "-m udp") || !strcmp(o, "--on-ip 0.0.0.0") ||
	    !strcmp(o, "--on-ip ::")) {
		o[0] = '\0';
		return;
	}
	if (!strncmp(flag, "--to-port ", 10)) {
		snprintf(tmp, sizeof(tmp), "%.*s--to-ports %s", (int)(flag - o), o, flag + 10);
		snprintf(o, cap, "%s", tmp);
		return;
	}
	if (!arg || (strncmp(flag, "-s ", 3) && strncmp(flag, "-d ", 3)))
		return;
	for (i = 0; i < sizeof(addr) / sizeof(addr[0]); i++)
		if (!strcmp(arg + 1, addr[i].from)) {
			snprintf(tmp, sizeof(tmp), "%.*s%s", (int)(arg + 1 - o), o, addr[i].to);
			snprintf(o, cap, "%s", tmp);
			return;
		}
	/* another host address: the prefix iptables-save adds */
	if (!strchr(arg + 1, '/')) {
		size_t l = strlen(o);

		snprintf(o + l, cap > l ? cap - l : 0, "/%s", strchr(arg + 1, ':') ? "128" : "32");
	}
}

size_t rd_rule_norm(const char *rule, char *out, size_t cap)
{
	char copy[1024], opts[NORM_MAX_OPTS][128], *sorted[NORM_MAX_OPTS], *tok, *save = NULL;
	size_t n = 0, i, len = 0;

	snprintf(copy, sizeof(copy), "%s", rule);
	/* a group starts at "-x" or "! -x" and takes the words that do not start with '-' */
	for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		bool starts = tok[0] == '-' || tok[0] == '!';
		bool after_bang = n && !strcmp(opts[n - 1], "!");

		if ((starts && !after_bang) || !n) {
			if (n == NORM_MAX_OPTS)
				break;
			snprintf(opts[n++], sizeof(opts[0]), "%s", tok);
		} else {
			size_t l = strlen(opts[n - 1]);

			snprintf(opts[n - 1] + l, sizeof(opts[0]) - l, " %s", tok);
		}
	}
	for (i = 0; i < n; i++) {
		norm_opt(opts[i], sizeof(opts[i]));
		sorted[i] = opts[i];
	}
	qsort(sorted, n, sizeof(sorted[0]), cmp_str);
	if (cap)
		out[0] = '\0';
	for (i = 0; i < n; i++)
		if (sorted[i][0])
			len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s%s",
						len ? " " : "", sorted[i]);
	return len;
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

int rd_identify_by(const struct rd_rules *r, bool (*match)(const struct rd_rules *, enum rd_variant, bool),
		   enum rd_variant *v, bool *dns_capture)
{
	static const enum rd_variant all[] = { RD_TPROXY, RD_REDIRECT };
	size_t i;
	int dns;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		for (dns = 1; dns >= 0; dns--) {
			if (match(r, all[i], dns)) {
				*v = all[i];
				*dns_capture = dns;
				return 0;
			}
		}
	}
	return -ENOMSG;
}

size_t rd_count_in(const struct rd_rules *r, const char *table, const char *chain, bool decl)
{
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		n += !strcmp(r->e[i].table, table) && !strcmp(r->e[i].chain, chain) &&
		     !r->e[i].rule == decl;
	return n;
}
