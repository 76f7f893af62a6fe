// SPDX-License-Identifier: Apache-2.0
/*
 * registry_yaml.c - YAML scalar and list readers for the registry loader.
 *
 * Owns: turning one libyaml node into a value (string, IP, port, bool,
 * enum, lists and maps of those) with a "FILE:LINE: what" reason on error.
 * Never touches: which keys exist (registry_schema.c), the file; never prints.
 * Interface: registry_yaml.h (internal to the registry).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "registry.h"
#include "registry_yaml.h"

/* One line whatever the file holds: a quoted value may carry newlines */
void yoneline(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int yfail(struct yctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->err->err = -EINVAL;
	c->err->line = n ? (int)n->start_mark.line + 1 : 0;
	snprintf(c->err->why, sizeof(c->err->why), "%s:%d: %s", c->src, c->err->line, msg);
	yoneline(c->err->why);
	return -EINVAL;
}

yaml_node_t *ynode(struct yctx *c, int idx)
{
	c->visits++;
	return yaml_document_get_node(c->doc, idx);
}

int yscalar(struct yctx *c, const yaml_node_t *n, const char *what, const char **s)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return yfail(c, n, "%s: expected a scalar", what);
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return yfail(c, n, "%s: NUL byte in value", what);
	*s = (const char *)n->data.scalar.value;
	return 0;
}

int ystr(struct yctx *c, const yaml_node_t *n, const char *what, char **out)
{
	const char *s;
	int r = yscalar(c, n, what, &s);

	if (r < 0)
		return r;
	free(*out);	/* a default "" may be there */
	*out = strdup(s);
	return *out ? 0 : (c->err->err = -ENOMEM);
}

int yip(struct yctx *c, const yaml_node_t *n, const char *what, const char *s,
	       struct reg_ip *ip)
{
	if (inet_pton(AF_INET, s, ip->addr) == 1)
		ip->af = AF_INET;
	else if (inet_pton(AF_INET6, s, ip->addr) == 1)
		ip->af = AF_INET6;
	else
		return yfail(c, n, "%s: \"%s\" is not an IP address", what, s);
	return 0;
}

int yu16(struct yctx *c, const yaml_node_t *n, const char *what, uint16_t *v)
{
	const char *s;
	char *end;
	unsigned long x;
	int r = yscalar(c, n, what, &s);

	if (r < 0)
		return r;
	errno = 0;
	x = strtoul(s, &end, 10);
	if (!*s || *s == '-' || *s == '+' || *end || errno || x > 65535)
		return yfail(c, n, "%s: \"%s\" is not a port (0-65535)", what, s);
	*v = (uint16_t)x;
	return 0;
}

int ybool(struct yctx *c, const yaml_node_t *n, const char *what, bool *v)
{
	const char *s;
	int r = yscalar(c, n, what, &s);

	if (r < 0)
		return r;
	if (!strcasecmp(s, "true") || !strcasecmp(s, "false")) {
		*v = !strcasecmp(s, "true");
		return 0;
	}
	return yfail(c, n, "%s: \"%s\" is not true or false", what, s);
}

/* NAMES is a NULL-terminated list; the value's index goes to *v. */
int yenum(struct yctx *c, const yaml_node_t *n, const char *what,
		 const char *const *names, int *v)
{
	const char *s;
	int i, r = yscalar(c, n, what, &s);

	if (r < 0)
		return r;
	for (i = 0; names[i]; i++)
		if (!strcmp(s, names[i])) {
			*v = i;
			return 0;
		}
	return yfail(c, n, "%s: \"%s\" is not one of the allowed values", what, s);
}

int yseq(struct yctx *c, const yaml_node_t *n, const char *what, size_t *count)
{
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return yfail(c, n, "%s: expected a list", what);
	*count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return 0;
}

int ymap(struct yctx *c, const yaml_node_t *n, const char *what, size_t *count)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return yfail(c, n, "%s: expected a mapping", what);
	*count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	return 0;
}

void *ycalloc(struct yctx *c, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		c->err->err = -ENOMEM;
	return p;
}

/* `{<service port>: <target port>}`; duplicate service ports are an error */
int yports(struct yctx *c, const yaml_node_t *n, const char *what,
		  struct reg_port **out, size_t *count)
{
	size_t i, j, len = 0;
	int r = ymap(c, n, what, &len);

	if (r < 0)
		return r;
	if (!(*out = ycalloc(c, len, sizeof(**out))))
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = ynode(c, p->key);

		if ((r = yu16(c, k, what, &(*out)[i].port)) < 0 ||
		    (r = yu16(c, ynode(c, p->value), what, &(*out)[i].target)) < 0)
			return r;
		for (j = 0; j < i; j++)
			if ((*out)[j].port == (*out)[i].port)
				return yfail(c, k, "%s: port %u given twice", what, (*out)[i].port);
		*count = i + 1;
	}
	return 0;
}

int yseq_each(struct yctx *c, const yaml_node_t *n, const char *what, size_t size, void **arr,
	      size_t *count, yseq_fn fn, void *arg)
{
	size_t i, len = 0;
	int r = yseq(c, n, what, &len);

	if (r < 0)
		return r;
	if (arr && !(*arr = ycalloc(c, len, size)))
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		r = fn(c, ynode(c, n->data.sequence.items.start[i]), what, i,
		       arr ? (char *)*arr + i * size : NULL, arg);
		if (count)
			*count = i + 1;
		if (r < 0)
			return r;
	}
	return 0;
}

static int str_item(struct yctx *c, yaml_node_t *e, const char *what, size_t i, void *slot,
		    void *arg)
{
	(void)i;
	(void)arg;
	return ystr(c, e, what, slot);
}

int ystrlist(struct yctx *c, const yaml_node_t *n, const char *what, char ***out,
		    size_t *count)
{
	return yseq_each(c, n, what, sizeof(**out), (void **)out, count, str_item, NULL);
}

static int ip_item(struct yctx *c, yaml_node_t *e, const char *what, size_t i, void *slot,
		   void *arg)
{
	const char *s = NULL;
	int r = yscalar(c, e, what, &s);

	(void)i;
	(void)arg;
	return r < 0 ? r : yip(c, e, what, s, slot);
}

int yiplist(struct yctx *c, const yaml_node_t *n, const char *what,
		   struct reg_ip **out, size_t *count)
{
	return yseq_each(c, n, what, sizeof(**out), (void **)out, count, ip_item, NULL);
}

/* vips: "<network>/<ip>"; a bare IP is rejected as ztunnel does */
static int vip_item(struct yctx *c, yaml_node_t *e, const char *what, size_t i, void *slot,
		    void *arg)
{
	struct reg_vip *v = slot;
	const char *s = NULL, *slash;
	int r = yscalar(c, e, what, &s);

	(void)i;
	(void)arg;
	if (r < 0)
		return r;
	if (!(slash = strchr(s, '/')))
		return yfail(c, e, "%s: \"%s\" is not \"<network>/<IP>\" (e.g. \"/10.96.0.1\")",
			     what, s);
	if ((r = yip(c, e, what, slash + 1, &v->ip)) < 0)
		return r;
	if (!(v->network = strndup(s, (size_t)(slash - s))))
		return (c->err->err = -ENOMEM);
	return 0;
}

int yvips(struct yctx *c, const yaml_node_t *n, const char *what, struct reg_vip **out,
		 size_t *count)
{
	return yseq_each(c, n, what, sizeof(**out), (void **)out, count, vip_item, NULL);
}
