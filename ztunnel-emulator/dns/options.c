/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS proxy's options and their defaults. Never prints, never exits.
 * Interface: dns/options.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

void dns_opts_defaults(struct dns_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout = 5;	/* dns.md: an upstream silent this long gives SERVFAIL */
	snprintf(o->cluster_domain, sizeof(o->cluster_domain), "cluster.local");
}

static int set_addr(struct dns_upstream *u, const char *host, long port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&u->sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&u->sa;

	memset(u, 0, sizeof(*u));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		u->len = sizeof(*s4);
		snprintf(u->text, sizeof(u->text), "%s:%ld", host, port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		u->len = sizeof(*s6);
		snprintf(u->text, sizeof(u->text), "[%s]:%ld", host, port);
		return 0;
	}
	return -EINVAL;
}

int dns_parse_upstream(const char *text, struct dns_upstream *u)
{
	char host[INET6_ADDRSTRLEN];
	const char *end = NULL, *h = text;
	size_t hl = strlen(text);
	long port = 53;
	char *pe;

	if (*text == '[') {
		end = strchr(text, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		h = text + 1;
		hl = (size_t)(end - h);
		end = end[1] ? end + 1 : NULL;
	} else if (strchr(text, ':') == strrchr(text, ':') && strchr(text, ':')) {
		end = strchr(text, ':');	/* one colon: IPv4:PORT; more: a bare IPv6 */
		hl = (size_t)(end - text);
	}
	if (end) {
		errno = 0;
		port = strtol(end + 1, &pe, 10);
		if (errno || pe == end + 1 || *pe || port < 1 || port > 65535)
			return -EINVAL;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	return set_addr(u, host, port);
}

/* A cluster domain: dotted labels of [A-Za-z0-9-], no leading or trailing dot. */
static bool valid_domain(const char *s)
{
	size_t label = 0;

	if (!*s || strlen(s) > 200)
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (!label)
				return false;
			label = 0;
		} else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			   (*s >= '0' && *s <= '9') || *s == '-') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

int dns_opts_parse(int opt, const char *arg, struct dns_opts *o, struct ze_err *e)
{
	switch (opt) {
	case OPT_DNS_REGISTRY:
		if (!*arg)
			return ze_fail(e, -EINVAL, "--registry needs a file name");
		o->registry = arg;
		return 0;
	case OPT_DNS_UPSTREAM:
		if (o->n_up == DNS_UPSTREAMS_MAX)
			return ze_fail(e, -EINVAL, "too many --dns-upstream (at most %d)", DNS_UPSTREAMS_MAX);
		if (dns_parse_upstream(arg, &o->up[o->n_up]) < 0)
			return ze_fail(e, -EINVAL, "invalid --dns-upstream '%s': expected IP, IP:PORT or [IPv6]:PORT", arg);
		o->n_up++;
		o->up_given = true;
		return 0;
	case OPT_DNS_TIMEOUT:
		if (cli_seconds("DNS timeout", arg, &o->timeout, e))
			return -EINVAL;
		if (o->timeout <= 0)
			return ze_fail(e, -EINVAL, "invalid DNS timeout '%s': must be more than 0", arg);
		return 0;
	case OPT_DNS_DOMAIN:
		if (!valid_domain(arg))
			return ze_fail(e, -EINVAL, "invalid --cluster-domain '%s': expected a domain such as cluster.local", arg);
		snprintf(o->cluster_domain, sizeof(o->cluster_domain), "%s", arg);
		return 0;
	case OPT_DNS_FWD_NETNS:
		if (strcmp(arg, "pod") && strcmp(arg, "daemon"))
			return ze_fail(e, -EINVAL, "invalid --dns-forward-netns '%s': expected pod or daemon", arg);
		o->from_daemon = !strcmp(arg, "daemon");
		return 0;
	}
	return ze_fail(e, -EINVAL, "%s", "");
}

/* The nameserver lines of resolv.conf (a missing file: none, as glibc would use none here). */
static void read_resolv(struct dns_opts *o, const char *path)
{
	char line[512], addr[INET6_ADDRSTRLEN + 1];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (o->n_up < DNS_UPSTREAMS_MAX && fgets(line, sizeof(line), f)) {
		char *pct;

		if (sscanf(line, " nameserver %46s", addr) != 1)
			continue;
		pct = strchr(addr, '%');	/* fe80::1%eth0: the zone is the host's, not a pod's */
		if (pct)
			*pct = '\0';
		if (set_addr(&o->up[o->n_up], addr, 53) == 0)
			o->n_up++;
	}
	fclose(f);
}

int dns_opts_finish(struct dns_opts *o, const char *resolv, struct ze_err *e)
{
	const char *env = getenv("LOCAL_XDS_PATH");

	if (!o->registry && env && *env)
		o->registry = env;
	if (!o->up_given)
		read_resolv(o, resolv);
	(void)e;
	return 0;
}
