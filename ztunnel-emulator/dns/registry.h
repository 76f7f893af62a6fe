/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_DNS_REGISTRY_H
#define ZE_DNS_REGISTRY_H

/*
 * The mesh registry: ztunnel's LOCAL_XDS file (LOCAL_XDS_PATH), the same YAML
 * a real ztunnel reads (dns.md "The LOCAL_XDS registry file"): top-level
 * `workloads:`, `services:` and `policies:`, camelCase keys, unknown keys
 * rejected at every level this parser models.
 *
 * Owns: the registry object (one allocation tree, immutable once loaded, so
 * a reload builds a new one and swaps the pointer), its YAML parsing
 * (registry_yaml.c, libyaml's document API) and the service lookups the DNS
 * proxy needs (registry.c).
 * Never touches: sockets, the event loop, logging, the process: nothing here
 * prints or exits. Errors are -errno plus a one-line reason in struct
 * reg_error ("FILE:LINE: what was wrong").
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum reg_visibility { REG_VIS_PUBLIC = 0, REG_VIS_NAMESPACE };
/* ipFamilies: unset (any), Dual, IPv4, IPv6 */
enum reg_family { REG_FAM_UNSET = 0, REG_FAM_DUAL, REG_FAM_IPV4, REG_FAM_IPV6 };
enum reg_protocol { REG_PROTO_TCP = 0, REG_PROTO_HBONE };

struct reg_ip {
	int af;				/* AF_INET or AF_INET6 */
	uint8_t addr[16];		/* network byte order; 4 bytes used for AF_INET */
};

struct reg_vip {
	char *network;			/* "" is the default network */
	struct reg_ip ip;
};

struct reg_port {
	uint16_t port;			/* service port */
	uint16_t target;		/* target port */
};

struct reg_service {
	char *name, *namespace, *hostname;
	struct reg_vip *vips;
	size_t n_vips;
	struct reg_port *ports;
	size_t n_ports;
	char **sans;			/* subjectAltNames */
	size_t n_sans;
	bool canonical;
	enum reg_family ip_families;
	enum reg_visibility visibility;
	int line;			/* where it starts in the file (1-based) */
};

/* One entry of a workload's `services:` map: "<ns>/<hostname>" → ports */
struct reg_membership {
	char *namespace, *hostname;
	struct reg_port *ports;
	size_t n_ports;
};

struct reg_workload {
	char *uid, *name, *namespace, *service_account, *network, *node;
	char *trust_domain, *cluster_id, *hostname;
	char *canonical_name, *canonical_revision, *workload_name, *workload_type;
	struct reg_ip *ips;		/* workloadIps */
	size_t n_ips;
	struct reg_membership *services;
	size_t n_services;
	enum reg_protocol protocol;
	int line;
};

struct registry {
	char *source;			/* file name (or "<inline>"), for messages */
	struct reg_workload *workloads;
	size_t n_workloads;
	struct reg_service *services;
	size_t n_services;
	size_t n_policies;		/* parsed for shape only; not used by the lab */
};

struct reg_error {
	int err;			/* -errno: -ENOENT, -EACCES, -EINVAL (bad YAML/schema), -ENOMEM, -EFBIG */
	int line;			/* 1-based; 0 when no line applies */
	char why[256];			/* "FILE:LINE: reason", one line */
};

/* Files larger than this are refused (-EFBIG): the registry is hand-written. */
#define REG_MAX_FILE (4u << 20)

/* Loads FILE into a new registry (*out, free with registry_free). */
int registry_load(const char *path, struct registry **out, struct reg_error *err);
/* The same from memory (LOCAL_XDS=<inline>, tests, fuzzing); NAME is for messages. */
int registry_load_mem(const char *text, size_t len, const char *name, struct registry **out,
		      struct reg_error *err);
void registry_free(struct registry *reg);

/* Iteration for config_dump: index 0..n-1, NULL past the end. */
const struct reg_service *registry_service_at(const struct registry *reg, size_t i);
const struct reg_workload *registry_workload_at(const struct registry *reg, size_t i);

/* A workload by namespace and name (the asking pod, for "client known?"); NULL if none. */
const struct reg_workload *registry_find_workload(const struct registry *reg, const char *ns,
						   const char *name);

/* The first workload listing this address among its workloadIps (AF_INET/AF_INET6); NULL if none. */
const struct reg_workload *registry_workload_by_ip(const struct registry *reg, int af,
						    const void *addr);

/* visibility: Namespace-visible services only answer clients of their own namespace */
bool registry_visible(const struct reg_service *svc, const char *client_ns);

struct reg_query {
	const char *client_ns;		/* the asking pod's namespace */
	const char *preferred_ns;	/* PREFERED_SERVICE_NAMESPACE, may be NULL */
	const char *svc_domain;		/* "svc.<cluster domain>": headless services live under it */
};

/*
 * The service answering HOST (no trailing dot, compared case-insensitively),
 * tried as written, then as wildcards of decreasing specificity
 * (www.example.com, *.example.com, *.com). Only services with VIPs or a
 * headless "...<svc_domain>" hostname that are visible to client_ns count;
 * among several, the client's namespace wins, then a canonical one, then
 * preferred_ns, then the first in the file. *wildcard tells whether a
 * wildcard matched. NULL when nothing matches.
 */
const struct reg_service *registry_match(const struct registry *reg, const char *host,
					 const struct reg_query *q, bool *wildcard);

/*
 * A headless service's endpoint addresses of family AF: the first such IP of
 * each workload whose `services:` map names this service. Returns the count
 * (≤ cap), or -EINVAL.
 */
int registry_endpoint_ips(const struct registry *reg, const struct reg_service *svc, int af,
			  struct reg_ip *out, size_t cap);

#endif
