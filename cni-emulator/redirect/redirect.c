/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the backend-neutral API of redirect.h: istio-cni's order (rules,
 * then policy routing), undo of exactly what one apply installed, removal
 * of everything istio-cni owns. Never touches: argv, output (the caller
 * prints). Interface: redirect.h.
 */
#include "redirect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rd_internal.h"
#include "tool.h"

/*
 * One family's chains: 0 with *added set when this call installed them, or
 * -errno with err (a restore that failed halfway leaves no chain behind).
 */
static int apply_chains(int nsfd, enum rd_family f, enum rd_variant v, bool dns, bool *added,
			char *err, size_t cap)
{
	struct rd_rules r;
	char text[4096], scratch[256];
	int ret, len;

	*added = false;
	/* istio-cni's order: iptables-save says whether they are there, then the restore */
	ret = rd_read_family(nsfd, f, &r, err, cap);
	if (ret)
		return ret;
	ret = rd_check_present(&r, v, dns, err, cap);
	rd_rules_free(&r);
	if (ret < 0) {
		if (f == RD_IPV6) {
			char copy[512];

			snprintf(copy, sizeof(copy), "%s", err);
			ze_reason(err, cap, ret, "ip6tables: %s", copy);
		}
		return ret;
	}
	if (ret)
		return 0;
	len = rd_rules_text_family(v, f, dns, text, sizeof(text));
	if (len < 0)
		return ze_reason(err, cap, len, "the rules do not fit in %zu bytes", sizeof(text));
	ret = rd_run_tool(nsfd, rd_tool_name(f, true), "--noflush", text, NULL, err, cap);
	if (ret) {
		rd_remove_all_chains(nsfd, f, NULL, scratch, sizeof(scratch));
		return ret;
	}
	*added = true;
	return 0;
}

int rd_apply(int nsfd, enum rd_variant v, bool dns_capture, struct rd_state *added, char *err,
	     size_t cap)
{
	struct rd_state policy = { .ip_rule = true, .route = true }, done;
	char scratch[256];
	int ret, v6;

	memset(added, 0, sizeof(*added));
	/* the IPv6 set only where lo has IPv6 (a read error is an error: the pod could bypass) */
	v6 = rd_has_ipv6(nsfd);
	if (v6 == -ENOENT)
		v6 = 0;
	if (v6 < 0)
		return ze_reason(err, cap, v6, "reading the pod's /proc/sys/net/ipv6/conf/lo/disable_ipv6: %s",
				 strerror(-v6));
	added->no_ipv6 = !v6;
	ret = apply_chains(nsfd, RD_IPV4, v, dns_capture, &added->chains, err, cap);
	if (!ret && v6)
		ret = apply_chains(nsfd, RD_IPV6, v, dns_capture, &added->chains6, err, cap);
	if (!ret) {
		policy.ip_rule6 = policy.route6 = v6;
		ret = rd_policy_change(nsfd, true, &policy, &done, err, cap);
		added->ip_rule = done.ip_rule;
		added->route = done.route;
		added->ip_rule6 = done.ip_rule6;
		added->route6 = done.route6;
	}
	/* both families go back together */
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
		ret2 = rd_remove_all_chains(nsfd, RD_IPV4, NULL, err2, sizeof(err2));
	if (ret2 && !ret) {
		snprintf(err, cap, "%s", err2);
		ret = ret2;
	}
	ret2 = 0;
	if (what->chains6)
		ret2 = rd_remove_all_chains(nsfd, RD_IPV6, NULL, err2, sizeof(err2));
	if (ret2 && !ret) {
		snprintf(err, cap, "%s", err2);
		ret = ret2;
	}
	return ret;
}

int rd_remove(int nsfd, struct rd_state *removed, char *err, size_t cap)
{
	struct rd_state policy = { .ip_rule = true, .route = true };
	char err2[512];
	int ret, ret2 = 0, v6 = rd_has_ipv6(nsfd);

	memset(removed, 0, sizeof(*removed));
	/* stuck in the pod's netns: nothing more may be done from this thread */
	if (v6 == -ENOTRECOVERABLE)
		return ze_reason(err, cap, v6, "could not return to the original network namespace");
	ret = rd_remove_all_chains(nsfd, RD_IPV4, &removed->chains, err, cap);
	/* the IPv6 set goes too, even where lo has lost IPv6 since; not on a kernel without it */
	if (v6 != -ENOENT) {
		ret2 = rd_remove_all_chains(nsfd, RD_IPV6, &removed->chains6, err2, sizeof(err2));
		policy.ip_rule6 = policy.route6 = true;
	}
	if (ret2 && !ret) {
		snprintf(err, cap, "%s", err2);
		ret = ret2;
	}
	ret2 = rd_policy_change(nsfd, false, &policy, removed, err2, sizeof(err2));
	if (ret2 && !ret) {
		snprintf(err, cap, "%s", err2);
		ret = ret2;
	}
	return ret;
}

int rd_installed(int nsfd, char *err, size_t cap)
{
	struct rd_rules r;
	size_t n;
	int ret = rd_read_family(nsfd, RD_IPV4, &r, err, cap);

	if (ret)
		return ret;
	n = rd_own_chain_count(&r);
	rd_rules_free(&r);
	if (n)
		return 1;
	ret = rd_has_ipv6(nsfd);
	if (ret == -ENOENT)
		return 0;
	if (ret == -ENOTRECOVERABLE)
		return ze_reason(err, cap, ret, "could not return to the original network namespace");
	ret = rd_read_family(nsfd, RD_IPV6, &r, err, cap);
	if (ret)
		return ret;
	n = rd_own_chain_count(&r);
	rd_rules_free(&r);
	return n > 0;
}

bool rd_state_any(const struct rd_state *s)
{
	return s->chains || s->ip_rule || s->route || s->chains6 || s->ip_rule6 || s->route6;
}
