/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the backend-neutral API of redirect.h: the backend chosen at start
 * (iptables | nftables, layout.md rule 3), istio-cni's order (rules, then
 * policy routing), the refusal to mix backends, undo of exactly what one
 * apply installed, removal of everything istio-cni owns. Never touches:
 * argv, output (the caller prints). Interface: redirect.h.
 */
#include "redirect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rd_internal.h"
#include "tool.h"

static int ipt_install(int nsfd, enum rd_variant v, bool dns, char *err, size_t cap)
{
	char text[4096], scratch[256];
	int ret, len = rd_rules_text(v, dns, text, sizeof(text));

	if (len < 0)
		return ze_reason(err, cap, len, "the rules do not fit in %zu bytes", sizeof(text));
	ret = rd_run_tool(nsfd, "iptables-restore", "--noflush", text, NULL, err, cap);
	/* a restore that failed halfway (one table committed) leaves no chain behind */
	if (ret)
		rd_remove_all_chains(nsfd, NULL, scratch, sizeof(scratch));
	return ret;
}

const struct rd_backend rd_iptables_backend = {
	.kind = RD_IPTABLES,
	.objects = "ISTIO_* chains",
	.read = rd_ipt_read,
	.identify = rd_ipt_identify,
	.check = rd_check_present,
	.install = ipt_install,
	.remove = rd_remove_all_chains,
	.own = rd_ipt_own,
};

static const struct rd_backend *backend = &rd_iptables_backend;

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
	backend = b == RD_NFTABLES ? &rd_nft_backend : &rd_iptables_backend;
}

enum rd_backend_kind rd_get_backend(void)
{
	return backend->kind;
}

int rd_read(int nsfd, struct rd_rules *r, char *err, size_t cap)
{
	return backend->read(nsfd, r, err, cap);
}

int rd_identify(const struct rd_rules *r, enum rd_variant *v, bool *dns_capture)
{
	return backend->identify(r, v, dns_capture);
}

/*
 * istio-cni refuses to mix backends in a pod: 0 when the other backend has
 * nothing of Istio's there, -EEXIST naming what it has. Its tool missing
 * (-ENOENT) or failing (-EIO: e.g. nft on a kernel without nf_tables) means
 * it cannot hold rules there either, so that does not stop this backend.
 */
static int refuse_other(int nsfd, char *err, size_t cap)
{
	const struct rd_backend *other =
		backend == &rd_nft_backend ? &rd_iptables_backend : &rd_nft_backend;
	struct rd_rules r;
	char names[512];
	size_t n;
	int ret = other->read(nsfd, &r, err, cap);

	if (ret == -ENOENT || ret == -EIO)
		return 0;
	if (ret)
		return ret;
	n = other->own(&r, names, sizeof(names));
	rd_rules_free(&r);
	if (!n)
		return 0;
	return ze_reason(err, cap, -EEXIST,
			 "the pod already has istio-cni's %s rules (%s); istio-cni does not mix "
			 "backends: nothing installed, remove them first (del --netns --backend %s)",
			 rd_backend_name(other->kind), names, rd_backend_name(other->kind));
}

int rd_apply(int nsfd, enum rd_variant v, bool dns_capture, struct rd_state *added, char *err,
	     size_t cap)
{
	const struct rd_state policy = { .ip_rule = true, .route = true };
	struct rd_state done;
	struct rd_rules r;
	char scratch[256];
	int ret;

	memset(added, 0, sizeof(*added));
	ret = refuse_other(nsfd, err, cap);
	if (ret)
		return ret;
	/* istio-cni's order: rules first (read back: are they there?), then routing */
	ret = rd_read(nsfd, &r, err, cap);
	if (ret)
		return ret;
	ret = backend->check(&r, v, dns_capture, err, cap);
	rd_rules_free(&r);
	if (ret < 0)
		return ret;
	if (!ret) {
		ret = backend->install(nsfd, v, dns_capture, err, cap);
		if (ret)
			return ret;
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
		ret2 = backend->remove(nsfd, NULL, err2, sizeof(err2));
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
	ret = backend->remove(nsfd, &removed->chains, err, cap);
	ret2 = rd_policy_change(nsfd, false, &policy, removed, err2, sizeof(err2));
	if (ret2 && !ret) {
		snprintf(err, cap, "%s", err2);
		ret = ret2;
	}
	return ret;
}
