// SPDX-License-Identifier: Apache-2.0
/*
 * aliases.c - the names a query is looked up under (dns.md "Aliases tried
 * for a name"; ztunnel src/dns/server.rs get_aliases, to_kube_fqdns,
 * name_util.rs trim_domain).
 *
 * Owns: string work on dotted names (no trailing dot, plain labels only).
 * Never touches: DNS wire format, the registry, sockets; never prints.
 * Interface: aliases.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "aliases.h"

static size_t count_labels(const char *name)
{
	size_t n = *name ? 1 : 0;

	for (; *name; name++)
		n += *name == '.';
	return n;
}

/* NAME ends in ".<domain>" (case-insensitive) with at least one label before it */
static bool has_domain(const char *name, const char *domain)
{
	size_t nl = strlen(name), dl = strlen(domain);

	return dl && nl > dl + 1 && name[nl - dl - 1] == '.' && !strcasecmp(name + nl - dl, domain);
}

static int add(struct dns_aliases *a, const char *a1, const char *a2, size_t stripped)
{
	char buf[DNS_NAME_MAX + 1];
	int n = snprintf(buf, sizeof(buf), "%s%s%s", a1, *a2 ? "." : "", a2);

	if (n < 0 || (size_t)n > DNS_NAME_MAX)
		return 0;	/* too long to be a name: cannot match anything */
	for (size_t i = 0; i < a->n; i++)
		if (!strcasecmp(a->v[i].name, buf))
			return 0;
	if (a->n == DNS_ALIASES_MAX)
		return -ENOSPC;
	memcpy(a->v[a->n].name, buf, (size_t)n + 1);
	a->v[a->n].stripped = stripped;
	a->n++;
	return 0;
}

/* The Kubernetes expansions of NAME by its label count (to_kube_fqdns). */
static int kube_fqdns(struct dns_aliases *a, const char *name, size_t stripped,
		      const struct dns_alias_ctx *c)
{
	size_t labels = count_labels(name);
	bool ends_svc = labels > 1 && has_domain(name, "svc");
	int r = 0;

	switch (labels) {
	case 1:	/* <svc> → <svc>.<ns>.svc.<cd> */
		r = add(a, name, c->ns_domain, stripped);
		break;
	case 2:	/* <svc>.<ns> → +svc.<cd>; <pod>.<subdomain> → +<ns>.svc.<cd> */
		if ((r = add(a, name, c->svc_domain, stripped)) == 0)
			r = add(a, name, c->ns_domain, stripped);
		break;
	case 3:	/* <svc>.<ns>.svc → +<cd>; <pod>.<sub>.<ns> → +svc.<cd> */
		if (ends_svc)
			r = add(a, name, c->cluster_domain, stripped);
		if (r == 0)
			r = add(a, name, c->svc_domain, stripped);
		break;
	case 4:	/* <pod>.<sub>.<ns>.svc → +<cd> */
		if (ends_svc)
			r = add(a, name, c->cluster_domain, stripped);
		break;
	default:	/* already qualified, or not a Kubernetes name */
		break;
	}
	return r;
}

int dns_alias_ctx_init(struct dns_alias_ctx *c, const char *client_ns, const char *cluster_domain)
{
	int n1, n2;

	if (!client_ns || !*client_ns || !cluster_domain || !*cluster_domain)
		return -EINVAL;
	snprintf(c->cluster_domain, sizeof(c->cluster_domain), "%s", cluster_domain);
	n1 = snprintf(c->svc_domain, sizeof(c->svc_domain), "svc.%s", cluster_domain);
	n2 = snprintf(c->ns_domain, sizeof(c->ns_domain), "%s.svc.%s", client_ns, cluster_domain);
	if (strlen(cluster_domain) >= sizeof(c->cluster_domain) || n1 < 0 ||
	    (size_t)n1 >= sizeof(c->svc_domain) || n2 < 0 || (size_t)n2 >= sizeof(c->ns_domain))
		return -ENAMETOOLONG;
	return 0;
}

int dns_aliases(const char *name, const struct dns_alias_ctx *c, struct dns_aliases *a)
{
	/* the search domains ztunnel assumes for every client, most specific first */
	const char *search[] = { c->ns_domain, c->svc_domain, c->cluster_domain };
	char stripped[DNS_NAME_MAX + 1];
	size_t i, len;
	int r;

	a->n = 0;
	if (strlen(name) > DNS_NAME_MAX)
		return -ENAMETOOLONG;
	if ((r = add(a, name, "", 0)) < 0 || (r = kube_fqdns(a, name, 0, c)) < 0)
		return r;
	for (i = 0; i < sizeof(search) / sizeof(*search); i++) {
		if (!has_domain(name, search[i]))
			continue;
		len = strlen(name) - strlen(search[i]) - 1;
		memcpy(stripped, name, len);
		stripped[len] = '\0';
		if ((r = add(a, stripped, "", len)) < 0 || (r = kube_fqdns(a, stripped, len, c)) < 0)
			return r;
	}
	return 0;
}
