/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the native nftables backend (istio-cni >= 1.28): the ruleset loaded
 * in one `nft -f -` transaction inside the pod's netns, read back with
 * `nft -j list ruleset inet`, identified exactly, removed in one transaction
 * that deletes the three istio-ambient tables and nothing else. Never
 * touches: netlink (policy.c), fork/exec (tool.c), other nft tables.
 * Interface: rd_internal.h (rd_nft_backend).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rd_internal.h"
#include "tool.h"

/* f: the inet tables carry both families, so either reads them */
static int nft_read(int nsfd, enum rd_family f, struct rd_rules *r, char *err, size_t cap)
{
	static const char *const args[] = { "-j", "list", "ruleset", "inet", NULL };

	(void)f;
	return rd_tool_read(nsfd, "nft", args, rd_nft_parse, "`nft -j list ruleset inet`",
			    "not nft's JSON", r, err, cap);
}

/* Does the variant have table (with dns as given)? */
static bool has_table(enum rd_variant v, bool dns, const char *table)
{
	const struct rd_nft_line *l;

	for (l = rd_nft_lines(v); l->table; l++)
		if ((!l->dns || dns) && !strcmp(l->table, table))
			return true;
	return false;
}

/* The next rule line of the variant at or after l in chain c, or NULL. */
static const struct rd_nft_line *next_rule(const struct rd_nft_line *l, bool dns,
					   const struct rd_nft_line *c)
{
	for (; l->table; l++)
		if ((!l->dns || dns) && l->rule && !strcmp(l->table, c->table) &&
		    !strcmp(l->chain, c->chain))
			return l;
	return NULL;
}

/* Are the rules of chain c in r exactly the variant's, in order? */
static bool chain_matches(const struct rd_rules *r, enum rd_variant v, bool dns,
			  const struct rd_nft_line *c)
{
	const struct rd_nft_line *l = rd_nft_lines(v);
	bool hook = c->text != NULL;
	char want[1100];
	size_t i;

	for (i = 0; i < r->n; i++) {
		const struct rd_entry *e = &r->e[i];

		if (!e->rule || strcmp(e->table, c->table) || strcmp(e->chain, c->chain))
			continue;
		/* a base chain's hook comes first, then its rules, as nft lists them */
		if (hook) {
			snprintf(want, sizeof(want), "%s: %s", c->chain, c->listed);
			hook = false;
		} else {
			l = next_rule(l, dns, c);
			if (!l)
				return false;
			snprintf(want, sizeof(want), "%s: %s", l->chain, l->listed);
			l++;
		}
		if (strcmp(e->rule, want))
			return false;
	}
	return !hook && !next_rule(l, dns, c);
}

/* Does r hold exactly the variant: its tables, chains, hooks and rules, nothing else? */
static bool matches(const struct rd_rules *r, enum rd_variant v, bool dns)
{
	const struct rd_nft_line *l;
	size_t want = 0, i;

	for (i = 0; i < RD_NFT_TABLES; i++) {
		if (!has_table(v, dns, rd_nft_tables[i]))
			continue;
		if (rd_count_in(r, rd_nft_tables[i], "", true) != 1)
			return false;
		want++;
	}
	for (l = rd_nft_lines(v); l->table; l++) {
		if (l->dns && !dns)
			continue;
		want += 1 + (!l->rule && l->text);
		if (!l->rule && (rd_count_in(r, l->table, l->chain, true) != 1 ||
				 !chain_matches(r, v, dns, l)))
			return false;
	}
	return want == r->n;
}

static int nft_identify(const struct rd_rules *r, enum rd_variant *v, bool *dns_capture)
{
	if (!r->n)
		return -ENOENT;
	return rd_identify_by(r, matches, v, dns_capture);
}

/* Appends to what at *len as snprintf does, ", "-separated. */
#define ADD(...)                                                                           \
	(*len += (size_t)snprintf(what + *len, *len < cap ? cap - *len : 0, "%s",             \
				  *len ? ", " : ""),                                         \
	 *len += (size_t)snprintf(what + *len, *len < cap ? cap - *len : 0, __VA_ARGS__))

/* What r lacks or has besides, compared with variant v: tables, then chains. */
static void differences(const struct rd_rules *r, enum rd_variant v, bool dns, char *what,
			size_t cap)
{
	const struct rd_nft_line *l;
	size_t n = 0, *len = &n, i;

	what[0] = '\0';
	for (i = 0; i < RD_NFT_TABLES; i++) {
		bool want = has_table(v, dns, rd_nft_tables[i]);
		size_t have = rd_count_in(r, rd_nft_tables[i], "", true);

		if (want && !have)
			ADD("table %s missing", rd_nft_tables[i]);
		else if (!want && have)
			ADD("table %s is not part of it", rd_nft_tables[i]);
	}
	for (l = rd_nft_lines(v); l->table; l++) {
		if (l->rule || (l->dns && !dns) || !rd_count_in(r, l->table, "", true))
			continue;
		if (!rd_count_in(r, l->table, l->chain, true))
			ADD("%s chain %s missing", l->table, l->chain);
		else if (!chain_matches(r, v, dns, l))
			ADD("%s chain %s differs", l->table, l->chain);
	}
	for (i = 0; i < r->n; i++) {
		const struct rd_nft_line *m;
		bool known = !r->e[i].chain[0] || r->e[i].rule;

		for (m = rd_nft_lines(v); m->table && !known; m++)
			known = !m->rule && (!m->dns || dns) && !strcmp(m->table, r->e[i].table) &&
				!strcmp(m->chain, r->e[i].chain);
		if (!known)
			ADD("%s chain %s is not part of it", r->e[i].table, r->e[i].chain);
	}
	if (!what[0])
		snprintf(what, cap, "rules differ from it");
}

static int nft_check(const struct rd_rules *r, enum rd_variant v, bool dns, char *err, size_t cap)
{
	enum rd_variant found;
	bool found_dns;
	char what[1024];

	if (!r->n)
		return 0;
	/* a complete known variant stays as it is (the caller says which it found) */
	if (!nft_identify(r, &found, &found_dns))
		return 1;
	differences(r, v, dns, what, sizeof(what));
	return ze_reason(err, cap, -EEXIST,
			 "nft tables inet istio-ambient-* already present but not a complete %s "
			 "variant%s (%s); nothing installed: remove them first (del --netns "
			 "--backend nftables)", rd_variant_name(v), dns ? "" : " without DNS capture",
			 what);
}

static int nft_install(int nsfd, enum rd_family f, enum rd_variant v, bool dns, char *err,
		       size_t cap)
{
	static const char *const args[] = { "-f", "-", NULL };
	char text[8192];
	int len = rd_nft_text(v, dns, text, sizeof(text));

	(void)f;	/* inet: the IPv6 rules are in the same tables, always (as istio-cni's) */
	if (len < 0)
		return ze_reason(err, cap, len, "the nft ruleset does not fit in %zu bytes", sizeof(text));
	/* one transaction: nft commits all of it or nothing, so a failure leaves no table */
	return rd_run_toolv(nsfd, "nft", args, text, NULL, err, cap);
}

static size_t nft_own(const struct rd_rules *r, char *names, size_t cap)
{
	size_t i, n = 0, len = 0;

	names[0] = '\0';
	for (i = 0; i < r->n; i++) {
		if (r->e[i].chain[0] || r->e[i].rule)
			continue;
		len += (size_t)snprintf(names + len, len < cap ? cap - len : 0, "%stable inet %s",
					n++ ? ", " : "", r->e[i].table);
	}
	return n;
}

static int nft_remove(int nsfd, enum rd_family f, bool *had, char *err, size_t cap)
{
	static const char *const args[] = { "-f", "-", NULL };
	struct rd_rules r;
	char text[512], names[256];
	int ret = nft_read(nsfd, f, &r, err, cap), len;

	if (had)
		*had = false;
	if (ret)
		return ret;
	if (had)
		*had = nft_own(&r, names, sizeof(names)) > 0;
	rd_rules_free(&r);
	len = rd_nft_remove_text(text, sizeof(text));
	if (len < 0)
		return ze_reason(err, cap, len, "the removal does not fit in %zu bytes", sizeof(text));
	return rd_run_toolv(nsfd, "nft", args, text, NULL, err, cap);
}

const struct rd_backend rd_nft_backend = {
	.kind = RD_NFTABLES,
	.objects = "nft tables inet istio-ambient-*",
	.inet = true,
	.read = nft_read,
	.identify = nft_identify,
	.check = nft_check,
	.install = nft_install,
	.remove = nft_remove,
	.own = nft_own,
};
