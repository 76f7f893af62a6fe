/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_DNS_ALIASES_H
#define ZE_DNS_ALIASES_H

/*
 * The names one query is looked up under, in ztunnel's order: the name as
 * asked, its Kubernetes expansions by label count, then for each search
 * domain (<ns>.svc.<cd>, svc.<cd>, <cd>) the name with it stripped and that
 * name's expansions; duplicates skipped. Names are dotted text without the
 * trailing dot; comparisons are case-insensitive.
 * Owns: only this string work. Never touches wire format, registry, sockets.
 */
#include <stdbool.h>
#include <stddef.h>

#define DNS_NAME_MAX 253	/* text form, no trailing dot */
#define DNS_ALIASES_MAX 16	/* 1 + 2 + 3 × (1 + 2) at most */

struct dns_alias {
	char name[DNS_NAME_MAX + 1];
	size_t stripped;	/* 0: not from a search domain; else the stripped name's length */
};

struct dns_aliases {
	struct dns_alias v[DNS_ALIASES_MAX];
	size_t n;
};

struct dns_alias_ctx {
	char cluster_domain[DNS_NAME_MAX + 1];	/* cluster.local */
	char svc_domain[DNS_NAME_MAX + 1];	/* svc.cluster.local */
	char ns_domain[DNS_NAME_MAX + 1];	/* <ns>.svc.cluster.local */
};

/* -EINVAL for an empty namespace or domain, -ENAMETOOLONG */
int dns_alias_ctx_init(struct dns_alias_ctx *c, const char *client_ns, const char *cluster_domain);
/* Fills A for NAME (the asked name, original case kept): 0, or -ENAMETOOLONG */
int dns_aliases(const char *name, const struct dns_alias_ctx *c, struct dns_aliases *a);

#endif
