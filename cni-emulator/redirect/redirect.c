/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the backend-neutral API of redirect.h: istio-cni's order (rules,
 * then policy routing), undo of exactly what one apply installed, removal
 * of everything istio-cni owns. Never touches: argv, output (the caller
 * prints). Interface: redirect.h.
 */
#include "redirect.h"

#include <stdio.h>
#include <string.h>

#include "rd_internal.h"
#include "tool.h"

int rd_apply(int nsfd, enum rd_variant v, bool dns_capture, struct rd_state *added, char *err,
	     size_t cap)
{
	const struct rd_state policy = { .ip_rule = true, .route = true };
	struct rd_state done;
	struct rd_rules r;
	char text[4096], scratch[256];
	int ret, len;

	memset(added, 0, sizeof(*added));
	/* istio-cni's order: rules first (iptables-save says whether they are there), then routing */
	ret = rd_read(nsfd, &r, err, cap);
	if (ret)
		return ret;
	ret = rd_check_present(&r, v, dns_capture, err, cap);
	rd_rules_free(&r);
	if (ret < 0)
		return ret;
	len = ret ? 0 : rd_rules_text(v, dns_capture, text, sizeof(text));
	if (len < 0)
		return ze_reason(err, cap, len, "the rules do not fit in %zu bytes", sizeof(text));
	if (len > 0) {
		ret = rd_run_tool(nsfd, "iptables-restore", "--noflush", text, NULL, err, cap);
		if (ret) {
			/* a restore that failed halfway (one table committed) leaves no chain behind */
			rd_remove_all_chains(nsfd, NULL, scratch, sizeof(scratch));
			return ret;
		}
		added->chains = true;
	}
	ret = rd_policy_change(nsfd, true, &policy, &done, err, cap);
	added->ip_rule = done.ip_rule;
	added->route = done.route;
	if (ret) {
		rd_undo(nsfd, added, scratch, sizeof(scratch));
		memset(added, 0, sizeof(*added));
	}
	return ret;
}

int rd_undo(int nsfd, const struct rd_state *what, char *err, size_t cap)
{
	struct rd_state done;
	int ret = rd_policy_change(nsfd, false, what, &done, err, cap), ret2 = 0;
	char err2[512];

	if (what->chains)
		ret2 = rd_remove_all_chains(nsfd, NULL, err2, sizeof(err2));
	if (ret2 && !ret) {
		snprintf(err, cap, "%s", err2);
		ret = ret2;
	}
	return ret;
}

int rd_remove(int nsfd, struct rd_state *removed, char *err, size_t cap)
{
	const struct rd_state policy = { .ip_rule = true, .route = true };
	char err2[512];
	int ret, ret2;

	memset(removed, 0, sizeof(*removed));
	ret = rd_remove_all_chains(nsfd, &removed->chains, err, cap);
	ret2 = rd_policy_change(nsfd, false, &policy, removed, err2, sizeof(err2));
	if (ret2 && !ret) {
		snprintf(err, cap, "%s", err2);
		ret = ret2;
	}
	return ret;
}
