/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: reading `nft -j list ruleset` output (jansson): the objects of the
 * three istio-ambient tables into rd_rules, each rule rendered back into the
 * text `nft list` prints for it (counter values apart), so that exact
 * identification compares text with nft_rules.c's data. Never touches: a
 * netns, a tool, other tables. Interface: rd_internal.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rd_internal.h"

struct out {
	char buf[1024];
	size_t len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->len < sizeof(o->buf) ? sizeof(o->buf) - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

/* Anything the renderer does not know: its JSON, so that it never matches by accident. */
static void put_raw(struct out *o, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	put(o, "%s", s ? s : "?");
	free(s);
}

static bool is_ifname(const char *key)
{
	return !strcmp(key, "iifname") || !strcmp(key, "oifname");
}

/* meta/ct/payload selectors and & | expressions; hex: operands of & and | as nft prints them */
static void put_expr(struct out *o, const json_t *v, bool hex, bool quote)
{
	const json_t *x;
	const char *key;
	size_t i;

	if (json_is_integer(v)) {
		if (hex)
			put(o, "0x%08" PRIx64, (uint64_t)json_integer_value(v));
		else
			put(o, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_string(v)) {
		put(o, quote ? "\"%s\"" : "%s", json_string_value(v));
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			put(o, i ? "," : "");
			put_expr(o, x, hex, quote);
		}
	} else if ((x = json_object_get(v, "meta")) &&
		   (key = json_string_value(json_object_get(x, "key")))) {
		put(o, is_ifname(key) ? "%s" : "meta %s", key);
	} else if ((x = json_object_get(v, "ct")) &&
		   (key = json_string_value(json_object_get(x, "key")))) {
		put(o, "ct %s", key);
	} else if ((x = json_object_get(v, "payload")) && json_is_string(json_object_get(x, "protocol"))) {
		put(o, "%s %s", json_string_value(json_object_get(x, "protocol")),
		    json_string_value(json_object_get(x, "field")) ?: "?");
	} else if (((x = json_object_get(v, "&")) || (x = json_object_get(v, "|"))) &&
		   json_array_size(x) == 2) {
		put_expr(o, json_array_get(x, 0), true, false);
		put(o, " %s ", json_object_get(v, "&") ? "&" : "|");
		put_expr(o, json_array_get(x, 1), true, false);
	} else {
		put_raw(o, v);
	}
}

/* Is this selector an interface name (its strings are quoted)? */
static bool names_ifname(const json_t *left)
{
	const json_t *m = json_object_get(left, "meta");

	return m && is_ifname(json_string_value(json_object_get(m, "key")) ?: "");
}

static void put_match(struct out *o, const json_t *m)
{
	const json_t *left = json_object_get(m, "left"), *right = json_object_get(m, "right");
	const char *op = json_string_value(json_object_get(m, "op")) ?: "?";
	bool binop = json_object_get(left, "&") || json_object_get(left, "|");

	put_expr(o, left, false, false);
	/* nft leaves "==" (and "in" for a list) out, except after a & or | */
	if (strcmp(op, "==") && strcmp(op, "in"))
		put(o, " %s", op);
	else if (binop)
		put(o, " %s", op);
	put(o, " ");
	put_expr(o, right, binop, names_ifname(left));
}

/* One statement of a rule; the counter's values go to *packets and *bytes. */
static void put_stmt(struct out *o, const json_t *s, uint64_t *packets, uint64_t *bytes)
{
	const char *name;
	json_t *v;

	if (json_object_size(s) != 1) {
		put_raw(o, s);
		return;
	}
	name = json_object_iter_key(json_object_iter((json_t *)s));
	v = json_object_get(s, name);
	if (!strcmp(name, "match")) {
		put_match(o, v);
	} else if (!strcmp(name, "counter")) {
		*packets = (uint64_t)json_integer_value(json_object_get(v, "packets"));
		*bytes = (uint64_t)json_integer_value(json_object_get(v, "bytes"));
		put(o, "counter");
	} else if (json_is_null(v) &&
		   (!strcmp(name, "accept") || !strcmp(name, "drop") || !strcmp(name, "return"))) {
		put(o, "%s", name);
	} else if ((!strcmp(name, "jump") || !strcmp(name, "goto")) &&
		   json_is_string(json_object_get(v, "target"))) {
		put(o, "%s %s", name, json_string_value(json_object_get(v, "target")));
	} else if ((!strcmp(name, "redirect") || !strcmp(name, "tproxy")) &&
		   json_is_integer(json_object_get(v, "port")) && !json_object_get(v, "addr")) {
		put(o, "%s", name);
		if (json_is_string(json_object_get(v, "family")))
			put(o, " %s", json_string_value(json_object_get(v, "family")));
		put(o, " to :%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(v, "port")));
		if (json_object_size(v) > 1 + !!json_object_get(v, "family"))
			put_raw(o, v);
	} else if (!strcmp(name, "mangle") && json_object_size(v) == 2) {
		put_expr(o, json_object_get(v, "key"), false, false);
		put(o, " set ");
		put_expr(o, json_object_get(v, "value"), false, false);
	} else {
		put_raw(o, s);
	}
}

/* One entry, with the whole of chain and rule (the iptables reader's rd_entry_add). */
static int entry_add(struct rd_rules *r, size_t *cap, const char *table, const char *chain,
		     const char *rule, uint64_t packets, uint64_t bytes)
{
	return rd_entry_add(r, cap, table, chain, strlen(chain), packets, bytes, rule,
			    rule ? strlen(rule) : 0);
}

/* The table an object of the listing belongs to, when it is one of the three. */
static const char *own_table(const json_t *obj, const char *key)
{
	const char *family = json_string_value(json_object_get(obj, "family"));
	const char *name = json_string_value(json_object_get(obj, key));
	size_t i;

	if (!family || !name || strcmp(family, "inet"))
		return NULL;
	for (i = 0; i < RD_NFT_TABLES; i++)
		if (!strcmp(name, rd_nft_tables[i]))
			return rd_nft_tables[i];
	return NULL;
}

/* One chain: its declaration, and for a base chain its hook as the first "rule". */
static int add_chain(struct rd_rules *r, size_t *cap, const char *table, const json_t *c)
{
	const char *name = json_string_value(json_object_get(c, "name")) ?: "?";
	struct out o = { .len = 0 };
	int ret = entry_add(r, cap, table, name, NULL, 0, 0);

	if (ret || !json_object_get(c, "hook"))
		return ret;
	put(&o, "%s: type %s hook %s priority %" JSON_INTEGER_FORMAT "; policy %s;", name,
	    json_string_value(json_object_get(c, "type")) ?: "?",
	    json_string_value(json_object_get(c, "hook")) ?: "?",
	    json_integer_value(json_object_get(c, "prio")),
	    json_string_value(json_object_get(c, "policy")) ?: "accept");
	return entry_add(r, cap, table, name, o.buf, 0, 0);
}

static int add_rule(struct rd_rules *r, size_t *cap, const char *table, const json_t *rule)
{
	const char *chain = json_string_value(json_object_get(rule, "chain")) ?: "?";
	const json_t *exprs = json_object_get(rule, "expr"), *s;
	struct out o = { .len = 0 };
	uint64_t packets = 0, bytes = 0;
	size_t i;

	put(&o, "%s:", chain);
	json_array_foreach(exprs, i, s) {
		put(&o, " ");
		put_stmt(&o, s, &packets, &bytes);
	}
	if (o.len >= sizeof(o.buf))
		return -ENOBUFS;
	return entry_add(r, cap, table, chain, o.buf, packets, bytes);
}

int rd_nft_parse(const char *text, struct rd_rules *r)
{
	json_t *root = json_loads(text, JSON_DECODE_ANY, NULL), *list, *item, *obj;
	const char *table;
	size_t i, cap = 0;
	int ret = 0;

	list = json_object_get(root, "nftables");
	if (!json_is_array(list)) {
		json_decref(root);
		return -EINVAL;
	}
	json_array_foreach(list, i, item) {
		if ((obj = json_object_get(item, "table")) && (table = own_table(obj, "name")))
			ret = entry_add(r, &cap, table, "", NULL, 0, 0);
		else if ((obj = json_object_get(item, "chain")) && (table = own_table(obj, "table")))
			ret = add_chain(r, &cap, table, obj);
		else if ((obj = json_object_get(item, "rule")) && (table = own_table(obj, "table")))
			ret = add_rule(r, &cap, table, obj);
		if (ret)
			break;
	}
	json_decref(root);
	return ret;
}
