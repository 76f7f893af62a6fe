/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_RD_INTERNAL_H
#define CNI_RD_INTERNAL_H

/* What the files of redirect/ share among themselves; callers use redirect.h. */
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "redirect.h"

struct rd_line {
	const char *table;
	const char *text;
	bool dns;	/* only with DNS capture */
};

/* rules.c: the lines of a variant, up to { NULL }. */
const struct rd_line *rd_variant_lines(enum rd_variant v);
/* The chain a "-A CHAIN ..." line appends to: its length, or 0. */
size_t rd_rule_chain(const char *rule, const char **chain);
/* How many rules a variant appends to table and chain. */
size_t rd_expected_in(enum rd_variant v, bool dns, const char *table, const char *chain,
		   size_t chainlen);
/* Does the variant declare chain in table? */
bool rd_expected_decl(enum rd_variant v, bool dns, const char *table, const char *chain);


/* iptables.c */
/*
 * The ISTIO-related lines of `iptables-save -c` output appended to r
 * (which starts empty): 0, or -ENOMEM. Lines it does not know are skipped.
 */
int rd_parse_save(const char *text, struct rd_rules *r);
int rd_remove_all_chains(int nsfd, enum rd_family f, bool *had, char *err, size_t cap);
/* How many of istio-cni's own chains (ISTIO_PRERT/ISTIO_OUTPUT of mangle, nat, raw) r declares. */
size_t rd_own_chain_count(const struct rd_rules *r);
/* iptables-save / iptables-restore, or the ip6tables ones */
const char *rd_tool_name(enum rd_family f, bool restore);
int rd_check_present(const struct rd_rules *r, enum rd_variant v, bool dns, char *err, size_t cap);

/* policy.c */
int rd_policy_change(int nsfd, bool add, const struct rd_state *what, struct rd_state *done,
		  char *err, size_t cap);

#endif
