// SPDX-License-Identifier: Apache-2.0
/*
 * registry.c - lookups in a loaded registry (registry.h) and freeing it.
 *
 * Owns: which service answers a hostname for a client (ztunnel's
 * src/dns/server.rs find_server + ServiceMatch::find_best_match, and
 * Service::visible_to), a headless service's endpoint IPs, iteration.
 * Never touches: the file or YAML (registry_yaml.c), DNS wire format
 * (answer.c), sockets; never prints.
 * Interface: registry.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry.h"

static const char *nz(const char *s)
{
	return s ? s : "";
}

static void free_ports_members(struct reg_membership *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].namespace);
		free(m[i].hostname);
		free(m[i].ports);
	}
	free(m);
}

static void free_workload(struct reg_workload *w)
{
	char **strs[] = { &w->uid, &w->name, &w->namespace, &w->service_account, &w->network,
			  &w->node, &w->trust_domain, &w->cluster_id, &w->hostname,
			  &w->canonical_name, &w->canonical_revision, &w->workload_name,
			  &w->workload_type };

	for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++)
		free(*strs[i]);
	free(w->ips);
	free_ports_members(w->services, w->n_services);
}

static void free_service(struct reg_service *s)
{
	size_t i;

	free(s->name);
	free(s->namespace);
	free(s->hostname);
	for (i = 0; i < s->n_vips; i++)
		free(s->vips[i].network);
	free(s->vips);
	free(s->ports);
	for (i = 0; i < s->n_sans; i++)
		free(s->sans[i]);
	free(s->sans);
}

void registry_free(struct registry *reg)
{
	size_t i;

	if (!reg)
		return;
	for (i = 0; i < reg->n_workloads; i++)
		free_workload(&reg->workloads[i]);
	free(reg->workloads);
	for (i = 0; i < reg->n_services; i++)
		free_service(&reg->services[i]);
	free(reg->services);
	free(reg->source);
	free(reg);
}

const struct reg_service *registry_service_at(const struct registry *reg, size_t i)
{
	return reg && i < reg->n_services ? &reg->services[i] : NULL;
}

const struct reg_workload *registry_workload_at(const struct registry *reg, size_t i)
{
	return reg && i < reg->n_workloads ? &reg->workloads[i] : NULL;
}

const struct reg_workload *registry_find_workload(const struct registry *reg, const char *ns,
						   const char *name)
{
	for (size_t i = 0; reg && ns && name && i < reg->n_workloads; i++)
		if (!strcmp(nz(reg->workloads[i].namespace), ns) &&
		    !strcmp(nz(reg->workloads[i].name), name))
			return &reg->workloads[i];
	return NULL;
}

const struct reg_workload *registry_workload_by_ip(const struct registry *reg, int af,
						    const void *addr)
{
	size_t len = af == AF_INET ? 4 : 16;

	for (size_t i = 0; reg && i < reg->n_workloads; i++)
		for (size_t j = 0; j < reg->workloads[i].n_ips; j++)
			if (reg->workloads[i].ips[j].af == af &&
			    !memcmp(reg->workloads[i].ips[j].addr, addr, len))
				return &reg->workloads[i];
	return NULL;
}

bool registry_visible(const struct reg_service *svc, const char *client_ns)
{
	return svc->visibility != REG_VIS_NAMESPACE ||
	       (client_ns && !strcmp(nz(svc->namespace), client_ns));
}

/* HOST ends in ".<domain>" (case-insensitive), with at least one label before it */
static bool under_domain(const char *host, const char *domain)
{
	size_t hl = strlen(host), dl = strlen(domain);

	return dl && hl > dl + 1 && host[hl - dl - 1] == '.' && !strcasecmp(host + hl - dl, domain);
}

/* ztunnel forwards services without VIPs upstream unless they are Kubernetes headless */
static bool answerable(const struct reg_service *s, const struct reg_query *q)
{
	return s->n_vips > 0 || under_domain(nz(s->hostname), nz(q->svc_domain));
}

/*
 * Among the services named exactly NAME: the client's namespace at once; else
 * the last canonical one; else the last in preferred_ns (if no canonical was
 * seen); else the first (find_best_match's fold, in file order).
 */
static const struct reg_service *best_exact(const struct registry *reg, const char *name,
					    const struct reg_query *q)
{
	const struct reg_service *first = NULL, *canon = NULL, *pref = NULL;

	for (size_t i = 0; i < reg->n_services; i++) {
		const struct reg_service *s = &reg->services[i];

		if (strcasecmp(nz(s->hostname), name) || !answerable(s, q) ||
		    !registry_visible(s, q->client_ns))
			continue;
		if (q->client_ns && !strcmp(nz(s->namespace), q->client_ns))
			return s;
		if (s->canonical)
			canon = s;
		else if (q->preferred_ns && !strcmp(nz(s->namespace), q->preferred_ns) && !canon)
			pref = s;
		if (!first)
			first = s;
	}
	return canon ? canon : pref ? pref : first;
}

const struct reg_service *registry_match(const struct registry *reg, const char *host,
					 const struct reg_query *q, bool *wildcard)
{
	const struct reg_service *s;
	const char *rest = host;
	char buf[260];

	*wildcard = false;
	if (!reg || !host || !*host || strlen(host) > 253)
		return NULL;
	if ((s = best_exact(reg, host, q)))
		return s;
	/* www.example.com → *.example.com → *.com (server.rs get_wildcards) */
	for (rest = strchr(host, '.'); rest && rest[1]; rest = strchr(rest + 1, '.')) {
		snprintf(buf, sizeof(buf), "*%s", rest);
		if ((s = best_exact(reg, buf, q))) {
			*wildcard = true;
			return s;
		}
	}
	return NULL;
}

int registry_endpoint_ips(const struct registry *reg, const struct reg_service *svc, int af,
			  struct reg_ip *out, size_t cap)
{
	size_t i, j, k, n = 0;

	if (!reg || !svc || (cap && !out))
		return -EINVAL;
	for (i = 0; i < reg->n_workloads && n < cap; i++) {
		const struct reg_workload *w = &reg->workloads[i];

		for (j = 0; j < w->n_services; j++)
			if (!strcmp(w->services[j].namespace, nz(svc->namespace)) &&
			    !strcasecmp(w->services[j].hostname, nz(svc->hostname)))
				break;
		if (j == w->n_services)
			continue;
		for (k = 0; k < w->n_ips; k++)
			if (w->ips[k].af == af) {
				out[n++] = w->ips[k];
				break;
			}
	}
	return (int)n;
}
