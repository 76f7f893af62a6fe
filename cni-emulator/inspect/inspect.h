/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_INSPECT_H
#define CNI_INSPECT_H

/* What inspect collects about a pod's netns, and its two views. */
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "admin.h"
#include "netns.h"
#include "redirect.h"
#include "sockets.h"

struct inspect {
	const char *spec, *name;
	char path[4096];
	struct netns_id id;
	struct lsocks ls;
	char ls_err[512];
	int ls_ret;
	struct rd_rules rules;
	char rules_err[1024];
	int rules_ret, variant_ret;
	enum rd_variant variant;
	bool dns;
	bool inet;		/* nftables: rules are inet tables of both families; no rules6 */
	struct rd_rules rules6;	/* ip6tables-save's */
	char rules6_err[1024];
	int rules6_ret, variant6_ret;
	enum rd_variant variant6;
	bool dns6;
	int ipv6;		/* rd_has_ipv6(): 1 lo has IPv6, 0 not, -errno */
	struct rd_policy pol;
	char pol_err[512];
	int pol_ret;
	struct url url;
	char http_err[512];
	int http_ret;	/* 0 reachable and parsed; < 0 not */
	bool reachable, enrolled;
	struct dump_pod pod;
	size_t npods;
	const char *sock;
	char sock_err[512];
	int sock_ret;
	char verdict[256];	/* "" when nothing is wrong that inspect can tell */
	pid_t daemon_pid;	/* the --socket peer's, or 0 */
	bool no_admin;		/* --socket without --admin, and no endpoint of it found */
};

void print_json(FILE *f, const struct inspect *in);
void print_human(FILE *f, const struct inspect *in);

#endif
