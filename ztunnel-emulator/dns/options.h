/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_DNS_OPTIONS_H
#define ZE_DNS_OPTIONS_H

/*
 * The DNS proxy's options (--registry, --dns-upstream, --dns-timeout,
 * --cluster-domain, --dns-forward-netns) and their defaults (LOCAL_XDS_PATH,
 * /etc/resolv.conf's nameserver lines).
 * Owns: parsing them into struct dns_opts. Never touches: sockets, the
 * registry file (only its name), the running daemon; never prints.
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "err.h"

#define DNS_UPSTREAMS_MAX 4

/* getopt values of the DNS options: config.c hands these to dns_opts_parse() */
enum {
	OPT_DNS_REGISTRY = 0x600, OPT_DNS_UPSTREAM, OPT_DNS_TIMEOUT, OPT_DNS_DOMAIN,
	OPT_DNS_FWD_NETNS, OPT_DNS_LAST = OPT_DNS_FWD_NETNS
};

struct dns_upstream {
	struct sockaddr_storage sa;
	socklen_t len;
	char text[INET6_ADDRSTRLEN + 8];	/* 10.0.0.10:53, [fd00::a]:53 */
};

struct dns_opts {
	const char *registry;	/* --registry or LOCAL_XDS_PATH; NULL: none */
	struct dns_upstream up[DNS_UPSTREAMS_MAX];
	size_t n_up;
	bool up_given;		/* --dns-upstream given: resolv.conf not read */
	double timeout;		/* seconds; SERVFAIL after it */
	char cluster_domain[254];
	bool from_daemon;	/* forward from the daemon's own netns (Istio 1.21-1.23) */
};

void dns_opts_defaults(struct dns_opts *o);
/* One option (an OPT_DNS_* value): 0 or -EINVAL with e saying why. */
int dns_opts_parse(int opt, const char *arg, struct dns_opts *o, struct ze_err *e);
/* Defaults that depend on the environment: LOCAL_XDS_PATH, RESOLV (/etc/resolv.conf). */
int dns_opts_finish(struct dns_opts *o, const char *resolv, struct ze_err *e);
/* "IP", "IP:PORT", "[IPv6]:PORT" (port default 53): 0 or -EINVAL. */
int dns_parse_upstream(const char *text, struct dns_upstream *u);

#endif
