/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the backend-neutral API of redirect.h: the backend chosen at start
 * (iptables | nftables, layout.md rule 3), istio-cni's order (rules, then
 * policy routing), the families each backend covers (iptables: a set per
 * family; nftables: inet tables for both), the refusal to mix backends,
 * undo of exactly what one apply installed, removal of everything
 * istio-cni owns. Never touches: argv, output (the caller prints).
 * Interface: redirect.h.
 */
#include "redirect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rd_internal.h"
#include "tool.h"

static int ipt_install(int nsfd, enum rd_family f, enum rd_variant v, bool dns, char *err,
		       size_t cap)
{
	char text[4096], scratch[256];
	int ret, len = rd_rules_text_family(v, f, dns, text, sizeof(text));

	if (len < 0)
		return ze_reason(err, cap, len, "the rules do not fit in %zu bytes", sizeof(text));
	ret = rd_run_tool(nsfd, rd_tool_name(f, true), "--noflush", text, NULL, err, cap);
	/* a restore that failed halfway (one table committed) leaves no chain behind */
	if (ret)
		rd_remove_all_chains(nsfd, f, NULL, scratch, sizeof(scratch));
	return ret;
}

const struct rd_backend rd_iptables_backend = {
	.kind = RD_IPTABLES,
	.objects = "ISTIO_* chains",
	.inet = false,
	.read = rd_ipt_read,
	.identify = rd_ipt_identify,
	.check = rd_check_present,
	.install = ipt_install,
	.remove = rd_remove_all_chains,
	.own = rd_ipt_own,
};

static const struct rd_backend *backend = &rd_iptables_backend;

static const struct rd_backend *backend_of(enum rd_backend_kind b)
{
	return b == RD_NFTABLES ? &rd_nft_backend : &rd_iptables_backend;
}

const char *rd_backend_name(enum rd_backend_kind b)
{
	return b == RD_NFTABLES ? "nftables" : "iptables";
}

int rd_backend_parse(const char *s, enum rd_backend_kind *b)
{
	if (!strcmp(s, "iptables"))
		*b = RD_IPTABLES;
	else if (!strcmp(s, "nftables"))
		*b = RD_NFTABLES;
	else
		return -EINVAL;
	return 0;
}

void rd_set_backend(enum rd_backend_kind b)
{
	backend = backend_of(b);
}

enum rd_backend_kind rd_get_backend(void)
{
	return backend->kind;
}

int rd_read_family(int nsfd, enum rd_family f, struct rd_rules *r, char *err, size_t cap)
{
	return backend->read(nsfd, f, r, err, cap);
}

int rd_read(int nsfd, struct rd_rules *r, char *err, size_t cap)
{
	return rd_read_family(nsfd, RD_IPV4, r, err, cap);
}

int rd_identify(const struct rd_rules *r, enum rd_variant *v, bool *dns_capture)
{
	return backend->identify(r, v, dns_capture);
}

/*
 * Names b's own objects in family f of the netns (names "" when none): how
 * many, or -errno with err.
 */
static int own_objects(int nsfd, const struct rd_backend *b, enum rd_family f, char *names,
		       size_t ncap, char *err, size_t cap)
{
	struct rd_rules r;
	size_t n;
	int ret = b->read(nsfd, f, &r, err, cap);

	names[0] = '\0';
	if (ret)
		return ret;
	n = b->own(&r, names, ncap);
	rd_rules_free(&r);
	return (int)n;
}

/*
 * istio-cni refuses to mix backends in a pod: 0 when the other backend has
 * nothing of Istio's there (iptables: in either family; v6: the kernel has
 * IPv6), -EEXIST naming what it has. Its tool missing (-ENOENT) or failing
 * (-EIO: e.g. nft on a kernel without nf_tables) means it cannot hold rules
 * there either, so that does not stop this backend.
 */
static int refuse_other(int nsfd, bool v6, char *err, size_t cap)
{
	const struct rd_backend *other = backend_of(backend->kind == RD_NFTABLES ? RD_IPTABLES :
									     RD_NFTABLES);
	char names[512];
	enum rd_family f = RD_IPV4;
	int n = own_objects(nsfd, other, f, names, sizeof(names), err, cap);

	if (!n && v6 && !other->inet) {
		f = RD_IPV6;
		n = own_objects(nsfd, other, f, names, sizeof(names), err, cap);
	}
	if (n == -ENOENT || n == -EIO)
		return 0;
	if (n <= 0)
		return n;
	return ze_reason(err, cap, -EEXIST,
			 "the pod already has istio-cni's %s rules (%s%s); istio-cni does not mix "
			 "backends: nothing installed, remove them first (del --netns --backend %s)",
			 rd_backend_name(other->kind), f == RD_IPV6 ? "ip6tables " : "", names,
			 rd_backend_name(other->kind));
}

/*
 * One family's objects (nftables: the inet tables, f RD_IPV4): 0 with
 * *added set when this call installed them, or -errno with err (a failed
 * install leaves nothing behind).
 */
static int apply_chains(int nsfd, enum rd_family f, enum rd_variant v, bool dns, bool *added,
			char *err, size_t cap)
{
	struct rd_rules r;
	int ret;

	*added = false;
	/* istio-cni's order: read back whether they are there, then install */
	ret = backend->read(nsfd, f, &r, err, cap);
	if (ret)
		return ret;
	ret = backend->check(&r, v, dns, err, cap);
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
	ret = backend->install(nsfd, f, v, dns, err, cap);
	if (ret)
		return ret;
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
	/*
	 * The IPv6 policy routing (and ip6tables set) only where lo has IPv6
	 * (a read error is an error: the pod could bypass). nftables' inet
	 * tables carry the IPv6 rules whatever lo says, as istio-cni's do.
	 */
	v6 = rd_has_ipv6(nsfd);
	if (v6 == -ENOENT)
		v6 = 0;
	if (v6 < 0)
		return ze_reason(err, cap, v6, "reading the pod's /proc/sys/net/ipv6/conf/lo/disable_ipv6: %s",
				 strerror(-v6));
	added->no_ipv6 = !v6;
	ret = refuse_other(nsfd, v6, err, cap);
	if (ret)
		return ret;
	ret = apply_chains(nsfd, RD_IPV4, v, dns_capture, &added->chains, err, cap);
	if (!ret && v6 && !backend->inet)
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
		ret2 = backend->remove(nsfd, RD_IPV4, NULL, err2, sizeof(err2));
	if (ret2 && !ret) {
		snprintf(err, cap, "%s", err2);
		ret = ret2;
	}
	ret2 = 0;
	/* never set with nftables: its inet tables are chains */
	if (what->chains6)
		ret2 = backend->remove(nsfd, RD_IPV6, NULL, err2, sizeof(err2));
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
	ret = backend->remove(nsfd, RD_IPV4, &removed->chains, err, cap);
	/*
	 * The IPv6 set goes too, even where lo has lost IPv6 since; not on a
	 * kernel without it. nftables: the inet tables are gone already, and
	 * ip6tables' chains are the other backend's, left alone.
	 */
	if (v6 != -ENOENT) {
		if (!backend->inet)
			ret2 = backend->remove(nsfd, RD_IPV6, &removed->chains6, err2, sizeof(err2));
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

int rd_installed(int nsfd, enum rd_backend_kind kind, char *err, size_t cap)
{
	const struct rd_backend *b = backend_of(kind);
	char names[512];
	int ret = own_objects(nsfd, b, RD_IPV4, names, sizeof(names), err, cap);

	if (ret)
		return ret < 0 ? ret : 1;
	if (b->inet)
		return 0;
	ret = rd_has_ipv6(nsfd);
	if (ret == -ENOENT)
		return 0;
	if (ret == -ENOTRECOVERABLE)
		return ze_reason(err, cap, ret, "could not return to the original network namespace");
	ret = own_objects(nsfd, b, RD_IPV6, names, sizeof(names), err, cap);
	return ret < 0 ? ret : ret > 0;
}

bool rd_state_any(const struct rd_state *s)
{
	return s->chains || s->ip_rule || s->route || s->chains6 || s->ip_rule6 || s->route6;
}
