/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_DNS_REGISTRY_YAML_H
#define ZE_DNS_REGISTRY_YAML_H

/*
 * Internal to the registry (registry_yaml.c, registry_schema.c): readers of
 * one libyaml node each. All return 0 or -errno; on -EINVAL the reason
 * ("FILE:LINE: what") is in c->err. Nothing here prints.
 */
#include <yaml.h>

#include "registry.h"

/* Aliases can make a small document expand enormously; refuse past this. */
#define YVISITS_MAX 200000

struct yctx {
	yaml_document_t *doc;
	struct reg_error *err;
	const char *src;
	size_t visits;
};

void yoneline(char *s);
int yfail(struct yctx *c, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
yaml_node_t *ynode(struct yctx *c, int idx);
int yscalar(struct yctx *c, const yaml_node_t *n, const char *what, const char **s);
int ystr(struct yctx *c, const yaml_node_t *n, const char *what, char **out);
int yip(struct yctx *c, const yaml_node_t *n, const char *what, const char *s, struct reg_ip *ip);
int yu16(struct yctx *c, const yaml_node_t *n, const char *what, uint16_t *v);
int ybool(struct yctx *c, const yaml_node_t *n, const char *what, bool *v);
int yenum(struct yctx *c, const yaml_node_t *n, const char *what, const char *const *names,
	int *v);
int yseq(struct yctx *c, const yaml_node_t *n, const char *what, size_t *count);
/*
 * The one walk over a sequence: N must be a list; with ARR, a calloc'ed
 * array of SIZE-byte slots (one per item) goes there; FN reads item I into
 * its slot (NULL without ARR). *count (when not NULL) counts the slots begun,
 * zeroed ones included, so a caller frees exactly those on failure. 0 or
 * FN's first error.
 */
typedef int (*yseq_fn)(struct yctx *c, yaml_node_t *item, const char *what, size_t i, void *slot,
		       void *arg);
int yseq_each(struct yctx *c, const yaml_node_t *n, const char *what, size_t size, void **arr,
	      size_t *count, yseq_fn fn, void *arg);
int ymap(struct yctx *c, const yaml_node_t *n, const char *what, size_t *count);
void *ycalloc(struct yctx *c, size_t n, size_t size);
int yports(struct yctx *c, const yaml_node_t *n, const char *what, struct reg_port **out,
	size_t *count);
int ystrlist(struct yctx *c, const yaml_node_t *n, const char *what, char ***out, size_t *count);
int yiplist(struct yctx *c, const yaml_node_t *n, const char *what, struct reg_ip **out,
	size_t *count);
int yvips(struct yctx *c, const yaml_node_t *n, const char *what, struct reg_vip **out,
	size_t *count);

#endif
