/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_RD_INTERNAL_H
#define CNI_RD_INTERNAL_H

/* What the files of redirect/ share among themselves; callers use redirect.h. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* How many entries of r are in table and chain: chain declarations (decl, rule NULL) or rules. */
size_t rd_count_in(const struct rd_rules *r, const char *table, const char *chain, bool decl);
/*
 * Which variant r is exactly, as match (a backend's) judges: tproxy, then
 * redirect, each with DNS capture first. 0 with *v and *dns_capture, or
 * -ENOMSG. Both backends' identify.
 */
int rd_identify_by(const struct rd_rules *r, bool (*match)(const struct rd_rules *, enum rd_variant, bool),
		   enum rd_variant *v, bool *dns_capture);

/* tool.c */
/*
 * Runs tool args in nsfd (rd_run_toolv) and parses its stdout into r (which
 * starts empty) with parse. 0, or -errno with err saying why: the tool's
 * failure, or "reading WHAT output: " and einval (or strerror) when parse
 * refuses it; r is then empty. Both backends' readers.
 */
int rd_tool_read(int nsfd, const char *tool, const char *const args[],
		 int (*parse)(const char *, struct rd_rules *), const char *what, const char *einval,
		 struct rd_rules *r, char *err, size_t cap);


/* iptables.c */
/*
 * Appends an entry to r (*cap: its allocated room, grown by doubling):
 * chainlen bytes of chain, rulelen of rule (NULL: a chain declaration).
 * 0, or -ENOMEM. Both backends' readers fill r through it.
 */
int rd_entry_add(struct rd_rules *r, size_t *cap, const char *table, const char *chain,
		 size_t chainlen, uint64_t packets, uint64_t bytes, const char *rule,
		 size_t rulelen);
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

/*
 * The backend of the in-pod rules, one per program run (rd_set_backend());
 * policy routing is apart (policy.c) and the same for both.
 */
struct rd_backend {
	enum rd_backend_kind kind;
	/* what a pod holds of this backend, for messages: "ISTIO_* chains" */
	const char *objects;
	/*
	 * One set of objects carries both families (nftables' inet tables): f
	 * is ignored and only RD_IPV4 is installed or removed. Else (iptables)
	 * each family has its own, through its own tool.
	 */
	bool inet;
	int (*read)(int nsfd, enum rd_family f, struct rd_rules *r, char *err, size_t cap);
	int (*identify)(const struct rd_rules *r, enum rd_variant *v, bool *dns);
	/* before an install: 0 nothing there, 1 that variant complete, -EEXIST with err */
	int (*check)(const struct rd_rules *r, enum rd_variant v, bool dns, char *err, size_t cap);
	/* installs the rules; nothing is left behind on failure */
	int (*install)(int nsfd, enum rd_family f, enum rd_variant v, bool dns, char *err,
		       size_t cap);
	/* removes the backend's own objects only; *had says whether there were any */
	int (*remove)(int nsfd, enum rd_family f, bool *had, char *err, size_t cap);
	/* names the backend's own objects in r ("" when none): how many */
	size_t (*own)(const struct rd_rules *r, char *names, size_t cap);
};

extern const struct rd_backend rd_iptables_backend, rd_nft_backend;

/* iptables.c, behind rd_iptables_backend */
int rd_ipt_read(int nsfd, enum rd_family f, struct rd_rules *r, char *err, size_t cap);
int rd_ipt_identify(const struct rd_rules *r, enum rd_variant *v, bool *dns_capture);
size_t rd_ipt_own(const struct rd_rules *r, char *names, size_t cap);

/* nft_rules.c: the native nftables ruleset as data */
#define RD_NFT_TABLES 3
extern const char *const rd_nft_tables[RD_NFT_TABLES];	/* nat, mangle, raw (inet) */

struct rd_nft_line {
	const char *table, *chain;
	/* a rule: its `nft -f` text; a chain: its base-chain spec, NULL for a regular one */
	const char *text;
	/* as nft_json.c renders it from `nft -j list` (a base chain: "type ... policy accept;") */
	const char *listed;
	bool rule;
	bool dns;	/* only with DNS capture */
};

/* The lines of a variant, up to { NULL }; a table's lines are contiguous. */
const struct rd_nft_line *rd_nft_lines(enum rd_variant v);
/* The `nft -f` input of a variant / of the removal: its length, or -ENOBUFS. */
int rd_nft_text(enum rd_variant v, bool dns_capture, char *buf, size_t cap);
int rd_nft_remove_text(char *buf, size_t cap);

/* nft_json.c */
/*
 * The objects of the three istio-ambient tables in `nft -j list ruleset`
 * output, appended to r (which starts empty): a table as an entry with
 * chain "" and rule NULL, a chain with rule NULL, a base chain's hook as a
 * rule "CHAIN: type ...; policy ...;", each rule as "CHAIN: TEXT" with its
 * counter. 0, -EINVAL (not nft's JSON), or -ENOMEM.
 */
int rd_nft_parse(const char *json, struct rd_rules *r);

/* policy.c */
int rd_policy_change(int nsfd, bool add, const struct rd_state *what, struct rd_state *done,
		  char *err, size_t cap);

#endif
