// SPDX-License-Identifier: Apache-2.0
/*
 * registry_schema.c - the LOCAL_XDS file → struct registry (registry.h).
 *
 * Owns: reading the file (bounded size), libyaml's document API, and the
 * schema: the camelCase keys of ztunnel's LocalConfig / LocalWorkload /
 * Workload / Service (src/xds.rs, src/state/{workload,service}.rs), each
 * level `deny_unknown_fields` as there. Values this lab never uses
 * (waypoint, locality, loadBalancer, endpoints, policies' rules...) are
 * checked for their YAML shape only.
 * Never touches: anything outside the registry it builds; never prints.
 * Interface: registry_load(), registry_load_mem() in registry.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"
#include "registry_yaml.h"

/* ---- the schema: one table per object, unknown keys rejected ------------ */

enum ykind {
	K_STR, K_BOOL, K_U32, K_ENUM, K_IPS, K_VIPS, K_PORTS, K_STRS, K_MEMBERS,
	K_MAP, K_SEQ,		/* checked for shape only: the lab does not use them */
};
#define NFIELDS(t) (sizeof(t) / sizeof(*(t)))
#define NOWHERE ((size_t)-1)	/* validated, then dropped */

struct yfield {
	const char *key;
	enum ykind kind;
	size_t off, off_n;	/* where the value goes (and its count) */
	const char *const *names;	/* K_ENUM: allowed values; stored as index + base */
	int base;
	bool required;
};

static const char *const proto_names[] = { "TCP", "HBONE", NULL };
static const char *const netmode_names[] = { "Standard", "HostNetwork", NULL };
static const char *const status_names[] = { "Healthy", "Unhealthy", NULL };
static const char *const family_names[] = { "Dual", "IPv4", "IPv6", NULL };
static const char *const vis_names[] = { "Public", "Namespace", NULL };

#define W(f) offsetof(struct reg_workload, f)
#define S(f) offsetof(struct reg_service, f)
static const struct yfield workload_fields[] = {
	{ "workloadIps", K_IPS, W(ips), W(n_ips), NULL, 0, true },
	{ "namespace", K_STR, W(namespace), 0, NULL, 0, true },
	{ "services", K_MEMBERS, W(services), W(n_services), NULL, 0, true },
	{ "uid", K_STR, W(uid), 0, NULL, 0, false },
	{ "name", K_STR, W(name), 0, NULL, 0, false },
	{ "serviceAccount", K_STR, W(service_account), 0, NULL, 0, false },
	{ "protocol", K_ENUM, W(protocol), 0, proto_names, REG_PROTO_TCP, false },
	{ "node", K_STR, W(node), 0, NULL, 0, false },
	{ "network", K_STR, W(network), 0, NULL, 0, false },
	{ "trustDomain", K_STR, W(trust_domain), 0, NULL, 0, false },
	{ "clusterId", K_STR, W(cluster_id), 0, NULL, 0, false },
	{ "hostname", K_STR, W(hostname), 0, NULL, 0, false },
	{ "canonicalName", K_STR, W(canonical_name), 0, NULL, 0, false },
	{ "canonicalRevision", K_STR, W(canonical_revision), 0, NULL, 0, false },
	{ "workloadName", K_STR, W(workload_name), 0, NULL, 0, false },
	{ "workloadType", K_STR, W(workload_type), 0, NULL, 0, false },
	{ "networkMode", K_ENUM, NOWHERE, 0, netmode_names, 0, false },
	{ "status", K_ENUM, NOWHERE, 0, status_names, 0, false },
	{ "capacity", K_U32, NOWHERE, 0, NULL, 0, false },
	{ "nativeTunnel", K_BOOL, NOWHERE, 0, NULL, 0, false },
	{ "waypoint", K_MAP, NOWHERE, 0, NULL, 0, false },
	{ "networkGateway", K_MAP, NOWHERE, 0, NULL, 0, false },
	{ "applicationTunnel", K_MAP, NOWHERE, 0, NULL, 0, false },
	{ "locality", K_MAP, NOWHERE, 0, NULL, 0, false },
	{ "authorizationPolicies", K_STRS, NOWHERE, 0, NULL, 0, false },
};

static const struct yfield service_fields[] = {
	{ "name", K_STR, S(name), 0, NULL, 0, true },
	{ "namespace", K_STR, S(namespace), 0, NULL, 0, true },
	{ "hostname", K_STR, S(hostname), 0, NULL, 0, true },
	{ "vips", K_VIPS, S(vips), S(n_vips), NULL, 0, true },
	{ "ports", K_PORTS, S(ports), S(n_ports), NULL, 0, true },
	{ "subjectAltNames", K_STRS, S(sans), S(n_sans), NULL, 0, false },
	{ "canonical", K_BOOL, S(canonical), 0, NULL, 0, false },
	{ "ipFamilies", K_ENUM, S(ip_families), 0, family_names, REG_FAM_DUAL, false },
	{ "visibility", K_ENUM, S(visibility), 0, vis_names, REG_VIS_PUBLIC, false },
	{ "loadBalancer", K_MAP, NOWHERE, 0, NULL, 0, false },
	{ "waypoint", K_MAP, NOWHERE, 0, NULL, 0, false },
	{ "weightedWaypoints", K_SEQ, NOWHERE, 0, NULL, 0, false },
	{ "endpoints", K_MAP, NOWHERE, 0, NULL, 0, false },
	{ "cidrVips", K_SEQ, NOWHERE, 0, NULL, 0, false },
};
#undef W
#undef S

/* `services:` of a workload: {"<ns>/<hostname>": {port: target}} */
static int ymembers(struct yctx *c, const yaml_node_t *n, const char *what,
		    struct reg_membership **out, size_t *count)
{
	size_t i, len = 0;
	const char *s, *slash;
	int r = ymap(c, n, what, &len);

	if (r < 0)
		return r;
	if (!(*out = ycalloc(c, len, sizeof(**out))))
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = ynode(c, p->key);
		struct reg_membership *m = &(*out)[i];

		if ((r = yscalar(c, k, what, &s)) < 0)
			return r;
		if (!(slash = strchr(s, '/')) || slash == s || !slash[1])
			return yfail(c, k, "%s: \"%s\" is not \"<namespace>/<hostname>\"", what, s);
		*count = i + 1;
		if (!(m->namespace = strndup(s, (size_t)(slash - s))) ||
		    !(m->hostname = strdup(slash + 1)))
			return (c->err->err = -ENOMEM);
		if ((r = yports(c, ynode(c, p->value), s, &m->ports, &m->n_ports)) < 0)
			return r;
	}
	return 0;
}

/* A list of strings whose values are not kept (fields the lab does not use). */
static int str_check(struct yctx *c, yaml_node_t *e, const char *what, size_t i, void *slot,
		     void *arg)
{
	char *s = NULL;
	int r = ystr(c, e, what, &s);

	(void)i;
	(void)slot;
	(void)arg;
	free(s);
	return r;
}

static int yfield_set(struct yctx *c, const yaml_node_t *v, const struct yfield *f, void *obj)
{
	char *base = obj;
	void *dst = f->off == NOWHERE ? NULL : base + f->off;
	size_t *cnt = f->off_n ? (size_t *)(base + f->off_n) : NULL, len = 0;
	uint16_t u16;
	bool b = false;
	int i = 0, r;

	switch (f->kind) {
	case K_STR:
		return ystr(c, v, f->key, dst);
	case K_BOOL:
		if ((r = ybool(c, v, f->key, &b)) == 0 && dst)
			*(bool *)dst = b;
		return r;
	case K_U32:	/* capacity: any scalar that fits a port-sized check is plenty */
		return yu16(c, v, f->key, &u16);
	case K_ENUM:
		if ((r = yenum(c, v, f->key, f->names, &i)) == 0 && dst)
			*(int *)dst = i + f->base;
		return r;
	case K_IPS:
		return yiplist(c, v, f->key, dst, cnt);
	case K_VIPS:
		return yvips(c, v, f->key, dst, cnt);
	case K_PORTS:
		return yports(c, v, f->key, dst, cnt);
	case K_MEMBERS:
		return ymembers(c, v, f->key, dst, cnt);
	case K_STRS:
		if (dst)
			return ystrlist(c, v, f->key, dst, cnt);
		return yseq_each(c, v, f->key, 0, NULL, NULL, str_check, NULL);
	case K_MAP:
		return ymap(c, v, f->key, &len);
	case K_SEQ:
		return yseq(c, v, f->key, &len);
	}
	return -EINVAL;
}

static int yobject(struct yctx *c, const yaml_node_t *n, const char *what,
		   const struct yfield *fields, size_t nfields, void *obj)
{
	uint64_t seen = 0;
	size_t i, j, len = 0;
	const char *key;
	int r = ymap(c, n, what, &len);

	if (r < 0)
		return r;
	for (i = 0; i < len; i++) {
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = ynode(c, p->key);

		if ((r = yscalar(c, k, what, &key)) < 0)
			return r;
		for (j = 0; j < nfields && strcmp(key, fields[j].key); j++)
			;
		if (j == nfields)
			return yfail(c, k, "%s: unknown key \"%s\"", what, key);
		if (seen & (1ull << j))
			return yfail(c, k, "%s: key \"%s\" given twice", what, key);
		seen |= 1ull << j;
		if ((r = yfield_set(c, ynode(c, p->value), &fields[j], obj)) < 0)
			return r;
		if (c->visits > YVISITS_MAX)
			return yfail(c, k, "too many nodes (aliases?)");
	}
	for (j = 0; j < nfields; j++)
		if (fields[j].required && !(seen & (1ull << j)))
			return yfail(c, n, "%s: missing key \"%s\"", what, fields[j].key);
	return 0;
}

/* ---- top level ----------------------------------------------------------- */

struct ylist_spec {
	const char *key;
	const struct yfield *fields;	/* NULL: policies, objects checked for shape only */
	size_t nfields, line_off;
};

static int ylist_item(struct yctx *c, yaml_node_t *e, const char *key, size_t i, void *slot,
		      void *arg)
{
	const struct ylist_spec *sp = arg;
	char what[48];
	size_t pairs;

	snprintf(what, sizeof(what), "%s[%zu]", key, i);
	if (!sp->fields)
		return ymap(c, e, what, &pairs);
	*(int *)((char *)slot + sp->line_off) = (int)e->start_mark.line + 1;
	return yobject(c, e, what, sp->fields, sp->nfields, slot);
}

/* A top-level list of objects into a calloc'ed array of SIZE-byte items. */
static int ylist(struct yctx *c, const yaml_node_t *n, const char *key,
		 const struct yfield *fields, size_t nfields, size_t size, size_t line_off,
		 void **arr, size_t *count)
{
	struct ylist_spec sp = { key, fields, nfields, line_off };

	return yseq_each(c, n, key, size, fields ? arr : NULL, count, ylist_item, &sp);
}

static int yroot(struct yctx *c, struct registry *reg)
{
	yaml_node_t *root = yaml_document_get_root_node(c->doc);
	size_t i, len = 0;
	const char *key;
	unsigned seen = 0, bit;
	int r;

	if (!root)	/* an empty file: an empty registry */
		return 0;
	if ((r = ymap(c, root, "top level", &len)) < 0)
		return r;
	for (i = 0; i < len; i++) {
		yaml_node_pair_t *p = &root->data.mapping.pairs.start[i];
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);
		void *arr = NULL;

		if ((r = yscalar(c, k, "top level", &key)) < 0)
			return r;
		bit = !strcmp(key, "workloads") ? 1 : !strcmp(key, "services") ? 2 :
		      !strcmp(key, "policies") ? 4 : 0;
		if (!bit)
			return yfail(c, k, "top level: unknown key \"%s\" "
				     "(expected workloads, services, policies)", key);
		if (seen & bit)
			return yfail(c, k, "top level: key \"%s\" given twice", key);
		seen |= bit;
		if (bit == 1) {
			r = ylist(c, v, key, workload_fields, NFIELDS(workload_fields),
				  sizeof(struct reg_workload), offsetof(struct reg_workload, line),
				  &arr, &reg->n_workloads);
			reg->workloads = arr;
		} else if (bit == 2) {
			r = ylist(c, v, key, service_fields, NFIELDS(service_fields),
				  sizeof(struct reg_service), offsetof(struct reg_service, line),
				  &arr, &reg->n_services);
			reg->services = arr;
		} else {
			r = ylist(c, v, key, NULL, 0, 0, 0, &arr, &reg->n_policies);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int yparse_error(struct yctx *c, yaml_parser_t *p)
{
	c->err->err = p->error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
	c->err->line = (int)p->problem_mark.line + 1;
	snprintf(c->err->why, sizeof(c->err->why), "%s:%d: YAML: %s%s%s", c->src, c->err->line,
		 p->context ? p->context : "", p->context ? ": " : "",
		 p->problem ? p->problem : "cannot parse");
	yoneline(c->err->why);
	return c->err->err;
}

int registry_load_mem(const char *text, size_t len, const char *name, struct registry **out,
		      struct reg_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	struct yctx c = { .doc = &doc, .err = err, .src = name ? name : "<inline>" };
	struct registry *reg;
	int r;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if (!(reg = calloc(1, sizeof(*reg))) || !(reg->source = strdup(c.src))) {
		free(reg);
		return (err->err = -ENOMEM);
	}
	if (!yaml_parser_initialize(&parser)) {
		registry_free(reg);
		return (err->err = -ENOMEM);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = yparse_error(&c, &parser);
		goto out_parser;
	}
	r = yroot(&c, reg);
	if (r == 0 && yaml_document_get_root_node(&doc)) {
		/* ztunnel reads one document; a second one is a mistake, not ignored */
		if (!yaml_parser_load(&parser, &extra)) {
			r = yparse_error(&c, &parser);
		} else {
			if (yaml_document_get_root_node(&extra))
				r = yfail(&c, yaml_document_get_root_node(&extra),
					  "more than one YAML document");
			yaml_document_delete(&extra);
		}
	}
	if (r < 0 && !err->why[0])	/* -ENOMEM from an allocation */
		snprintf(err->why, sizeof(err->why), "%s: %s", c.src, strerror(-r));
	yoneline(err->why);
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	if (r < 0)
		registry_free(reg);
	else
		*out = reg;
	return r;
}

int registry_load(const char *path, struct registry **out, struct reg_error *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, r = 0;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	/* symlinks are fine: a Kubernetes ConfigMap mount is one */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else if ((size_t)st.st_size > REG_MAX_FILE)
		r = -EFBIG;
	else if (!(buf = malloc((size_t)st.st_size + 1)))
		r = -ENOMEM;
	while (r == 0 && got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {	/* shrank under us: parse what is there */
			r = n < 0 ? -errno : 0;
			break;
		}
		got += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		err->err = r;
		snprintf(err->why, sizeof(err->why), "%s: %s", path,
			 r == -EINVAL ? "not a regular file" :
			 r == -EFBIG ? "larger than 4 MiB" : strerror(-r));
		yoneline(err->why);
		free(buf);
		return r;
	}
	r = registry_load_mem(buf, got, path, out, err);
	free(buf);
	return r;
}
