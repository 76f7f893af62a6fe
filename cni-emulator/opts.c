/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the getopt cases the verbs' parser (main.c) and the agent's
 * (agent/agent.c) share. Never touches: an option only one of them has.
 * Interface: opts.h.
 */
#include "opts.h"

#include "cli.h"
#include "cni.h"
#include "redirect.h"

void opts_backend(const char *arg)
{
	enum rd_backend_kind b;

	if (rd_backend_parse(arg, &b))
		cli_usage_error("invalid --backend '%s': expected iptables or nftables", arg);
	rd_set_backend(b);
}

int opts_tail(int c, void (*usage)(FILE *))
{
	switch (c) {
	case 'h':
		usage(stdout);
		return 1;
	case 'V':
		printf("%s %s\n", PROG, ZE_VERSION);
		return 1;
	default:
		cli_usage_error(NULL);
	}
}
