/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the iptables side: `iptables-save -c` parsed into rd_rules, which
 * variant a netns holds (exact identification), removal of istio-cni's own
 * chains only (fault 12), the check before an apply. Never touches: netlink,
 * fork/exec (tool.c does). Interface: redirect.h, rd_internal.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rd_internal.h"
#include "tool.h"

static bool is_istio_chain(const char *s, size_t len)
{
	return len > 6 && !strncmp(s, "ISTIO_", 6);
}

/* " -j ISTIO_..." or " -g ISTIO_..." in the rule's len bytes: a jump into one of the chains */
static bool jumps_to_istio(const char *rule, size_t len)
{
	return memmem(rule, len, " -j ISTIO_", 10) || memmem(rule, len, " -g ISTIO_", 10);
}

int rd_entry_add(struct rd_rules *r, size_t *cap, const char *table, const char *chain,
		 size_t chainlen, uint64_t packets, uint64_t bytes, const char *rule,
		       size_t rulelen)
{
	struct rd_entry *e;

	if (r->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;

		e = realloc(r->e, ncap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		r->e = e;
		*cap = ncap;
	}
	e = &r->e[r->n];
	memset(e, 0, sizeof(*e));
	snprintf(e->table, sizeof(e->table), "%s", table);
	snprintf(e->chain, sizeof(e->chain), "%.*s", (int)chainlen, chain);
	e->packets = packets;
	e->bytes = bytes;
	if (rule) {
		e->rule = strndup(rule, rulelen);
		if (!e->rule)
			return -ENOMEM;
	}
	r->n++;
	return 0;
}

/* "[pkts:bytes]" at s: 0 with the counters and *end after it, or -EINVAL */
static int parse_counters(const char *s, uint64_t *packets, uint64_t *bytes, const char **end)
{
	char *e;

	if (*s != '[')
		return -EINVAL;
	errno = 0;
	*packets = strtoull(s + 1, &e, 10);
	if (errno || *e != ':')
		return -EINVAL;
	*bytes = strtoull(e + 1, &e, 10);
	if (errno || *e != ']')
		return -EINVAL;
	*end = e + 1;
	return 0;
}

/* The ISTIO-related lines of `iptables-save -c` output. */
int rd_parse_save(const char *text, struct rd_rules *r)
{
	char table[16] = "";
	const char *s, *nl, *p, *chain;
	uint64_t packets, bytes;
	size_t len, clen, cap = 0;
	int ret;

	for (s = text; *s; s = *nl ? nl + 1 : nl) {
		nl = strchrnul(s, '\n');
		len = (size_t)(nl - s);
		packets = bytes = 0;
		if (*s == '*') {
			snprintf(table, sizeof(table), "%.*s", (int)(len - 1), s + 1);
		} else if (*s == ':') {
			/* ":CHAIN POLICY [pkts:bytes]" */
			clen = strcspn(s + 1, " \n");
			if (!is_istio_chain(s + 1, clen))
				continue;
			p = memchr(s, '[', len);
			if (p && parse_counters(p, &packets, &bytes, &p))
				packets = bytes = 0;
			ret = rd_entry_add(r, &cap, table, s + 1, clen, packets, bytes, NULL, 0);
			if (ret)
				return ret;
		} else if (*s == '[' || *s == '-') {
			p = s;
			if (*s == '[') {
				if (parse_counters(s, &packets, &bytes, &p) || *p != ' ')
					continue;
				p++;
			}
			len = (size_t)(nl - p);
			clen = rd_rule_chain(p, &chain);
			if (!clen || (!is_istio_chain(chain, clen) && !jumps_to_istio(p, len)))
				continue;
			ret = rd_entry_add(r, &cap, table, chain, clen, packets, bytes, p, len);
			if (ret)
				return ret;
		}
	}
	return 0;
}

const char *rd_tool_name(enum rd_family f, bool restore)
{
	if (f == RD_IPV6)
		return restore ? "ip6tables-restore" : "ip6tables-save";
	return restore ? "iptables-restore" : "iptables-save";
}

int rd_ipt_read(int nsfd, enum rd_family f, struct rd_rules *r, char *err, size_t cap)
{
	static const char *const args[] = { "-c", NULL };
	const char *tool = rd_tool_name(f, false);

	return rd_tool_read(nsfd, tool, args, rd_parse_save, tool, NULL, r, err, cap);
}

void rd_rules_free(struct rd_rules *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->e[i].rule);
	free(r->e);
	r->e = NULL;
	r->n = 0;
}

size_t rd_chain_count(const struct rd_rules *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		n += !r->e[i].rule;
	return n;
}

/*
 * Does r hold exactly a variant's chains and rules? Each rule of the variant
 * must match one rule of r in the same table, compared as rd_rule_norm()
 * text, each used once; nothing may be left over. (Counting rules per chain
 * took a set that lost its --to-ports 15001 rule and gained another for a
 * variant it is not.)
 */
static bool matches(const struct rd_rules *r, enum rd_variant v, bool dns)
{
	const struct rd_line *l;
	bool used[256] = { false };
	char want[1024], have[1024];
	size_t lines = 0, k;

	if (r->n > sizeof(used) / sizeof(used[0]))
		return false;
	for (l = rd_variant_lines(v); l->table; l++) {
		if (l->dns && !dns)
			continue;
		lines++;
		if (!strncmp(l->text, "-N ", 3)) {
			if (rd_count_in(r, l->table, l->text + 3, true) != 1)
				return false;
			continue;
		}
		rd_rule_norm(l->text, want, sizeof(want));
		for (k = 0; k < r->n; k++) {
			if (used[k] || !r->e[k].rule || strcmp(r->e[k].table, l->table))
				continue;
			rd_rule_norm(r->e[k].rule, have, sizeof(have));
			if (!strcmp(want, have))
				break;
		}
		if (k == r->n)
			return false;
		used[k] = true;
	}
	/* nothing besides: no other ISTIO_* chain, no rule in a table the variant leaves alone */
	return lines == r->n;
}

int rd_ipt_identify(const struct rd_rules *r, enum rd_variant *v, bool *dns_capture)
{
	if (!rd_chain_count(r))
		return -ENOENT;
	return rd_identify_by(r, matches, v, dns_capture);
}

/*
 * Istio's own objects, as istio-cni's DeleteInpodRules names them: the chains
 * ISTIO_PRERT and ISTIO_OUTPUT of mangle, nat and raw. Any other ISTIO_* chain
 * (filter ISTIO_AUDIT, nat ISTIO_CUSTOM) belongs to someone else.
 */
static bool own_table(const char *table)
{
	return !strcmp(table, "mangle") || !strcmp(table, "nat") || !strcmp(table, "raw");
}

static bool own_chain(const char *table, const char *chain)
{
	return own_table(table) && (!strcmp(chain, "ISTIO_PRERT") || !strcmp(chain, "ISTIO_OUTPUT"));
}

/* The chain a rule jumps or goes to ("-j NAME" / "-g NAME" as a whole word), or false. */
static bool rule_target(const char *rule, char *target, size_t cap)
{
	const char *p = strstr(rule, " -j ");

	if (!p)
		p = strstr(rule, " -g ");
	if (!p)
		return false;
	p += 4;
	snprintf(target, cap, "%.*s", (int)strcspn(p, " "), p);
	return true;
}

/* "-A CHAIN -j ISTIO_X": the exact jump istio-cni adds and deletes, nothing else in it. */
static bool exact_jump(const char *rule, const char *target)
{
	const char *chain, *rest;
	size_t clen = rd_rule_chain(rule, &chain);

	if (!clen)
		return false;
	rest = chain + clen;
	return !strncmp(rest, " -j ", 4) && !strcmp(rest + 4, target);
}

/*
 * Removes Istio's own objects in r, one block per table: -D each exact jump
 * into ISTIO_PRERT/ISTIO_OUTPUT (every copy), then -F and -X those chains.
 * Foreign chains and the rules that jump to them stay. A table where another
 * rule still refers to one of Istio's chains is left as it is (-X would fail
 * and roll the table back) and named in err; the other tables are done.
 */
static int remove_chains(int nsfd, enum rd_family fam, const struct rd_rules *r, char *err,
			 size_t cap)
{
	static const char *const tables[] = { "mangle", "nat", "raw" };
	char *text = NULL, target[32];
	size_t len = 0, t, k, n;
	int ret = 0, conflict = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	if (!f)
		return ze_reason(err, cap, -ENOMEM, "out of memory");
	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		const struct rd_entry *blocker = NULL;

		for (k = 0, n = 0; k < r->n; k++) {
			const struct rd_entry *e = &r->e[k];

			if (strcmp(e->table, tables[t]))
				continue;
			n += !e->rule && own_chain(e->table, e->chain);
			if (e->rule && !own_chain(e->table, e->chain) &&
			    rule_target(e->rule, target, sizeof(target)) &&
			    own_chain(e->table, target) && !exact_jump(e->rule, target) && !blocker)
				blocker = e;
		}
		if (!n)
			continue;
		if (blocker) {
			if (!conflict)
				conflict = ze_reason(err, cap, -EBUSY,
						"%s: '%s' also refers to an Istio chain and is not "
						"istio-cni's; left the %s table as it is",
						blocker->table, blocker->rule, blocker->table);
			continue;
		}
		fprintf(f, "*%s\n", tables[t]);
		for (k = 0; k < r->n; k++) {
			const struct rd_entry *e = &r->e[k];

			if (!strcmp(e->table, tables[t]) && e->rule && !own_chain(e->table, e->chain) &&
			    rule_target(e->rule, target, sizeof(target)) && own_chain(e->table, target))
				fprintf(f, "-D%s\n", e->rule + 2);
		}
		for (k = 0; k < r->n; k++)
			if (!strcmp(r->e[k].table, tables[t]) && !r->e[k].rule &&
			    own_chain(r->e[k].table, r->e[k].chain))
				fprintf(f, "-F %s\n", r->e[k].chain);
		for (k = 0; k < r->n; k++)
			if (!strcmp(r->e[k].table, tables[t]) && !r->e[k].rule &&
			    own_chain(r->e[k].table, r->e[k].chain))
				fprintf(f, "-X %s\n", r->e[k].chain);
		fprintf(f, "COMMIT\n");
	}
	if (fclose(f) || !text) {
		free(text);
		return ze_reason(err, cap, -ENOMEM, "out of memory");
	}
	if (len)
		ret = rd_run_tool(nsfd, rd_tool_name(fam, true), "--noflush", text, NULL, err, cap);
	free(text);
	return ret ? ret : conflict;
}

/* How many of Istio's own chains r declares. */
size_t rd_own_chain_count(const struct rd_rules *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		n += !r->e[i].rule && own_chain(r->e[i].table, r->e[i].chain);
	return n;
}

/* Names Istio's own chains in r ("mangle ISTIO_PRERT, ..."): how many. */
size_t rd_ipt_own(const struct rd_rules *r, char *names, size_t cap)
{
	size_t i, n = 0, len = 0;

	names[0] = '\0';
	for (i = 0; i < r->n; i++)
		if (!r->e[i].rule && own_chain(r->e[i].table, r->e[i].chain))
			len += (size_t)snprintf(names + len, len < cap ? cap - len : 0, "%s%s %s",
						n++ ? ", " : "", r->e[i].table, r->e[i].chain);
	return n;
}

/* Reads and removes Istio's own chains; *had says whether there were any. */
int rd_remove_all_chains(int nsfd, enum rd_family f, bool *had, char *err, size_t cap)
{
	struct rd_rules r;
	int ret = rd_ipt_read(nsfd, f, &r, err, cap);

	if (had)
		*had = false;
	if (ret)
		return ret;
	if (had)
		*had = rd_own_chain_count(&r) > 0;
	ret = remove_chains(nsfd, f, &r, err, cap);
	rd_rules_free(&r);
	return ret;
}

/*
 * What rd_apply finds before installing: 0 nothing of Istio's, 1 a complete
 * known variant (left as is), or -EEXIST with err naming a foreign ISTIO_*
 * chain or what a half-present set lacks compared with variant v.
 */
int rd_check_present(const struct rd_rules *r, enum rd_variant v, bool dns, char *err,
			 size_t cap)
{
	const struct rd_line *l, *m;
	enum rd_variant found;
	bool found_dns, dup;
	char name[32], what[1024];
	const char *chain;
	size_t i, len = 0, clen, have, want;

	for (i = 0; i < r->n; i++)
		if (!r->e[i].rule && !own_chain(r->e[i].table, r->e[i].chain))
			return ze_reason(err, cap, -EEXIST,
				    "%s %s is not one of istio-cni's chains (ISTIO_PRERT and "
				    "ISTIO_OUTPUT of mangle, nat and raw); nothing installed: rename "
				    "or remove it first", r->e[i].table, r->e[i].chain);
	if (!rd_own_chain_count(r))
		return 0;
	if (!rd_ipt_identify(r, &found, &found_dns))
		return 1;
	what[0] = '\0';
	/* per chain the variant touches: missing, or how many of its rules are there */
	for (l = rd_variant_lines(v); l->table; l++) {
		if (l->dns && !dns)
			continue;
		if (!strncmp(l->text, "-N ", 3)) {
			if (!rd_count_in(r, l->table, l->text + 3, true))
				len += (size_t)snprintf(what + len, len < sizeof(what) ? sizeof(what) - len : 0,
							"%s%s %s missing", len ? ", " : "", l->table,
							l->text + 3);
			continue;
		}
		clen = rd_rule_chain(l->text, &chain);
		for (m = rd_variant_lines(v), dup = false; m < l && !dup; m++) {
			const char *c2;

			dup = (!m->dns || dns) && !strcmp(m->table, l->table) &&
			      rd_rule_chain(m->text, &c2) == clen && !strncmp(c2, chain, clen);
		}
		if (dup)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)clen, chain);
		have = rd_count_in(r, l->table, name, false);
		want = rd_expected_in(v, dns, l->table, chain, clen);
		if (have != want)
			len += (size_t)snprintf(what + len, len < sizeof(what) ? sizeof(what) - len : 0,
						"%s%s %s has %zu of %zu %s", len ? ", " : "",
						l->table, name, have, want,
						strncmp(name, "ISTIO_", 6) ? "jumps" : "rules");
	}
	/* and Istio chains this variant does not have (raw without DNS capture, nat ISTIO_PRERT for tproxy) */
	for (i = 0; i < r->n; i++)
		if (!r->e[i].rule && !rd_expected_decl(v, dns, r->e[i].table, r->e[i].chain))
			len += (size_t)snprintf(what + len, len < sizeof(what) ? sizeof(what) - len : 0,
						"%s%s %s is not part of it", len ? ", " : "",
						r->e[i].table, r->e[i].chain);
	if (!what[0])
		snprintf(what, sizeof(what), "rules differ from it");
	return ze_reason(err, cap, -EEXIST,
		    "ISTIO_* chains already present but not a complete %s variant%s (%s); nothing "
		    "installed: remove them first (del --netns)",
		    rd_variant_name(v), dns ? "" : " without DNS capture", what);
}
