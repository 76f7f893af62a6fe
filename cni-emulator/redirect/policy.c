/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: istio-cni's policy routing in a pod's netns: the ip rule fwmark
 * 0x111/0xfff lookup 100 and the local route of table 100 (add, delete,
 * read back, ip(8)-style text), over common/nl.c. Never touches: iptables,
 * fork/exec. Interface: redirect.h, rd_internal.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ifflags.h"
#include "netns.h"
#include "nl.h"
#include "rd_internal.h"

/* one attribute table for both rule (FRA_*) and route (RTA_*) dumps */
#define TB_MAX (FRA_MAX > RTA_MAX ? FRA_MAX : RTA_MAX)

static int open_in(int nsfd, struct mnl_socket **nl, char *err, size_t cap)
{
	int ret = nl_open_in(nsfd, nl);

	if (ret == -ENOTRECOVERABLE)
		return ze_reason(err, cap, ret, "could not return to the original network namespace");
	if (ret)
		return ze_reason(err, cap, ret, "rtnetlink socket in the network namespace: %s",
			    strerror(-ret));
	return 0;
}

static struct nlmsghdr *nl_msg(char *buf, uint16_t type, uint16_t flags)
{
	return nl_request(buf, 512, type, flags, nl_next_seq());
}

/* `ip [-6] rule add|del fwmark 0x111/0xfff pref 32764 lookup 100` */
static int nl_rule(struct mnl_socket *nl, bool add, uint8_t family)
{
	char buf[512];
	struct nlmsghdr *nlh = nl_msg(buf, add ? RTM_NEWRULE : RTM_DELRULE,
				      NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

	frh->family = family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = RD_ROUTE_TABLE;
	mnl_attr_put_u32(nlh, FRA_FWMARK, RD_CONNMARK);
	mnl_attr_put_u32(nlh, FRA_FWMASK, RD_MASK);
	mnl_attr_put_u32(nlh, FRA_PRIORITY, RD_RULE_PRIORITY);
	mnl_attr_put_u32(nlh, FRA_TABLE, RD_ROUTE_TABLE);
	return nl_talk(nl, nlh, NULL, NULL);
}

/* `ip route add|del local 0.0.0.0/0 dev lo table 100`, or `ip -6 route ... local ::/0 ...` */
static int nl_route(struct mnl_socket *nl, bool add, uint32_t lo, uint8_t family)
{
	char buf[512];
	struct nlmsghdr *nlh = nl_msg(buf, add ? RTM_NEWROUTE : RTM_DELROUTE,
				      NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = family;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = RD_ROUTE_TABLE;
	rtm->rtm_type = RTN_LOCAL;
	/* as ip(8): boot protocol and host scope to add, any scope to delete */
	rtm->rtm_protocol = add ? RTPROT_BOOT : RTPROT_UNSPEC;
	rtm->rtm_scope = add ? RT_SCOPE_HOST : RT_SCOPE_NOWHERE;
	mnl_attr_put_u32(nlh, RTA_TABLE, RD_ROUTE_TABLE);
	mnl_attr_put_u32(nlh, RTA_OIF, lo);
	return nl_talk(nl, nlh, NULL, NULL);
}

static const char *const rule_cmds[2][2] = {
	{ "ip rule del fwmark 0x111/0xfff pref 32764 lookup 100",
	  "ip rule add fwmark 0x111/0xfff pref 32764 lookup 100" },
	{ "ip -6 rule del fwmark 0x111/0xfff pref 32764 lookup 100",
	  "ip -6 rule add fwmark 0x111/0xfff pref 32764 lookup 100" },
};

static const char *const route_cmds[2][2] = {
	{ "ip route del local 0.0.0.0/0 dev lo table 100",
	  "ip route add local 0.0.0.0/0 dev lo table 100" },
	{ "ip -6 route del local ::/0 dev lo table 100",
	  "ip -6 route add local ::/0 dev lo table 100" },
};

/*
 * The ip rule and the route of one family (v6: 0 IPv4, 1 IPv6), as
 * rd_policy_change() says; *rule_done and *route_done say what changed.
 * A kernel without IPv6 (EAFNOSUPPORT) has nothing to delete.
 */
static int change_family(struct mnl_socket *nl, bool add, int v6, bool rule, bool route,
			 bool *rule_done, bool *route_done, char *err, size_t cap)
{
	uint8_t family = v6 ? AF_INET6 : AF_INET;
	struct nl_link_q lo = { .index = 0, .name = "lo" };
	int ret, first = 0;

	*rule_done = *route_done = false;
	if (rule) {
		ret = nl_rule(nl, add, family);
		if (!ret)
			*rule_done = true;
		else if (ret != (add ? -EEXIST : -ENOENT) && (add || ret != -EAFNOSUPPORT))
			first = ze_reason(err, cap, ret, "%s: %s", rule_cmds[v6][add], strerror(-ret));
	}
	if (!route || (add && first))
		return first;
	ret = nl_link(nl, &lo);
	if (ret)
		return first ? first : ze_reason(err, cap, ret, "%s: looking up lo: %s",
						 route_cmds[v6][add], strerror(-ret));
	ret = nl_route(nl, add, lo.index, family);
	if (!ret)
		*route_done = true;
	/* a missing route: ESRCH from the fib, ENOENT when table 100 is gone too */
	else if (add ? ret != -EEXIST : ret != -ESRCH && ret != -ENOENT && ret != -EAFNOSUPPORT)
		first = first ? first : ze_reason(err, cap, ret, "%s: %s", route_cmds[v6][add],
						  strerror(-ret));
	return first;
}

/*
 * Adds (add) or deletes the ip rules and the routes that *what names, IPv4
 * and IPv6; *done says which this call changed. Already there (adding) or
 * already gone (deleting) is fine. A delete goes on after a failed step; an
 * add stops. The first error wins.
 */
int rd_policy_change(int nsfd, bool add, const struct rd_state *what, struct rd_state *done,
		     char *err, size_t cap)
{
	struct mnl_socket *nl = NULL;
	int ret, first;

	done->ip_rule = done->route = done->ip_rule6 = done->route6 = false;
	if (!what->ip_rule && !what->route && !what->ip_rule6 && !what->route6)
		return 0;
	ret = open_in(nsfd, &nl, err, cap);
	if (ret)
		return ret;
	first = change_family(nl, add, 0, what->ip_rule, what->route, &done->ip_rule, &done->route,
			      err, cap);
	if (!(add && first) && (what->ip_rule6 || what->route6)) {
		char err6[512];

		ret = change_family(nl, add, 1, what->ip_rule6, what->route6, &done->ip_rule6,
				    &done->route6, err6, sizeof(err6));
		if (ret && !first)
			first = ze_reason(err, cap, ret, "%s", err6);
	}
	nl_close(nl);
	return first;
}

/* netns_run_in() callback: reads the calling thread's netns' lo disable_ipv6 */
static int read_disable_ipv6(void *arg)
{
	char buf[8] = "";
	int fd, n;

	(void)arg;
	/* /proc/sys/net is the netns of the thread that opens it: this must run in the pod's */
	fd = open("/proc/sys/net/ipv6/conf/lo/disable_ipv6", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? (access("/proc/sys/net/ipv6", F_OK) ? -ENOENT : -ENODEV) :
					 -errno;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	n = n < 0 ? -errno : n;
	close(fd);
	if (n < 0)
		return n;
	return buf[0] == '1' ? 0 : 1;
}

int rd_has_ipv6(int nsfd)
{
	int ret = netns_run_in(nsfd, read_disable_ipv6, NULL);

	/* no conf/lo (lo itself missing): nothing to capture */
	return ret == -ENODEV ? 0 : ret;
}

/* an interface ioctl, not rtnetlink: the lo check after every add (issue 18) */
int rd_link_up(int nsfd, const char *name)
{
	return if_is_up_in(nsfd, name);
}

struct dump_ctx {
	struct rd_policy *p;
	size_t cap;
	int err;
};

static int u32_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	/* validated where used: attr_u32(), or RTA_DST's length */
	if (type > TB_MAX)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

static bool attr_u32(const struct nlattr *a, uint32_t *v)
{
	if (!a || mnl_attr_validate((struct nlattr *)a, MNL_TYPE_U32) < 0)
		return false;
	*v = mnl_attr_get_u32(a);
	return true;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[TB_MAX + 1] = { NULL };
	const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
	struct dump_ctx *c = data;
	struct rd_ip_rule r = { 0 };
	void *grown;

	if (nlh->nlmsg_type != RTM_NEWRULE || mnl_nlmsg_get_payload_len(nlh) < sizeof(*frh))
		return MNL_CB_OK;
	if ((frh->family != AF_INET && frh->family != AF_INET6) || frh->action != FR_ACT_TO_TBL)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*frh), u32_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	r.family = frh->family;
	r.table = frh->table;
	attr_u32(tb[FRA_TABLE], &r.table);
	attr_u32(tb[FRA_PRIORITY], &r.priority);
	r.has_fwmark = attr_u32(tb[FRA_FWMARK], &r.fwmark);
	r.fwmask = 0xffffffff;
	attr_u32(tb[FRA_FWMASK], &r.fwmask);
	if (!r.has_fwmark && r.table != RD_ROUTE_TABLE)
		return MNL_CB_OK;
	if (c->p->nrules == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		grown = realloc(c->p->rules, c->cap * sizeof(r));
		if (!grown) {
			c->err = -ENOMEM;
			return MNL_CB_ERROR;
		}
		c->p->rules = grown;
	}
	c->p->rules[c->p->nrules++] = r;
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[TB_MAX + 1] = { NULL };
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct dump_ctx *c = data;
	struct rd_route r = { 0 };
	void *grown;

	if (nlh->nlmsg_type != RTM_NEWROUTE || mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return MNL_CB_OK;
	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*rtm), u32_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	r.table = rtm->rtm_table;
	attr_u32(tb[RTA_TABLE], &r.table);
	if (r.table != RD_ROUTE_TABLE)
		return MNL_CB_OK;
	attr_u32(tb[RTA_OIF], &r.oif);
	attr_u32(tb[RTA_PRIORITY], &r.metric);
	r.family = rtm->rtm_family;
	r.type = rtm->rtm_type;
	r.scope = rtm->rtm_scope;
	r.protocol = rtm->rtm_protocol;
	r.dst_len = rtm->rtm_dst_len;
	if (tb[RTA_DST] && mnl_attr_get_payload_len(tb[RTA_DST]) == (r.family == AF_INET ? 4 : 16))
		memcpy(r.dst, mnl_attr_get_payload(tb[RTA_DST]), r.family == AF_INET ? 4 : 16);
	if (c->p->nroutes == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		grown = realloc(c->p->routes, c->cap * sizeof(r));
		if (!grown) {
			c->err = -ENOMEM;
			return MNL_CB_ERROR;
		}
		c->p->routes = grown;
	}
	c->p->routes[c->p->nroutes++] = r;
	return MNL_CB_OK;
}

static int nl_dump(struct mnl_socket *nl, uint16_t type, uint8_t family, mnl_cb_t cb,
		   struct dump_ctx *c)
{
	char buf[512];
	struct nlmsghdr *nlh = nl_msg(buf, type, NLM_F_DUMP);
	int ret;

	if (type == RTM_GETRULE) {
		struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

		frh->family = family;
	} else {
		struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

		rtm->rtm_family = family;
	}
	c->err = 0;
	ret = nl_talk(nl, nlh, cb, c);
	return c->err ? c->err : ret;
}

int rd_policy_read(int nsfd, struct rd_policy *p, char *err, size_t cap)
{
	struct mnl_socket *nl = NULL;
	struct dump_ctx c = { .p = p };
	size_t i;
	int ret;

	/* each family's dump appends; the capacity is kept across them */
	memset(p, 0, sizeof(*p));
	ret = open_in(nsfd, &nl, err, cap);
	if (ret)
		return ret;
	ret = nl_dump(nl, RTM_GETRULE, AF_INET, rule_cb, &c);
	/* a kernel without IPv6 has no IPv6 rules to show */
	if (!ret && (ret = nl_dump(nl, RTM_GETRULE, AF_INET6, rule_cb, &c)) == -EAFNOSUPPORT)
		ret = 0;
	if (ret) {
		ze_reason(err, cap, ret, "dumping the ip rules: %s", strerror(-ret));
		goto out;
	}
	c.cap = 0;
	ret = nl_dump(nl, RTM_GETROUTE, AF_INET, route_cb, &c);
	if (!ret && (ret = nl_dump(nl, RTM_GETROUTE, AF_INET6, route_cb, &c)) == -EAFNOSUPPORT)
		ret = 0;
	if (ret) {
		ze_reason(err, cap, ret, "dumping the routes of table %d: %s", RD_ROUTE_TABLE,
		     strerror(-ret));
		goto out;
	}
	for (i = 0; i < p->nroutes; i++) {
		struct nl_link_q q = { .index = p->routes[i].oif };

		/* a name that cannot be read stays "" and the index is shown instead */
		if (q.index && !nl_link(nl, &q))
			snprintf(p->routes[i].dev, sizeof(p->routes[i].dev), "%s", q.name);
	}
out:
	nl_close(nl);
	if (ret)
		rd_policy_free(p);
	return ret;
}

void rd_policy_free(struct rd_policy *p)
{
	free(p->rules);
	free(p->routes);
	memset(p, 0, sizeof(*p));
}

static void table_name(uint32_t t, char *buf, size_t cap)
{
	if (t == RT_TABLE_LOCAL)
		snprintf(buf, cap, "local");
	else if (t == RT_TABLE_MAIN)
		snprintf(buf, cap, "main");
	else if (t == RT_TABLE_DEFAULT)
		snprintf(buf, cap, "default");
	else
		snprintf(buf, cap, "%" PRIu32, t);
}

void rd_format_ip_rule(const struct rd_ip_rule *r, char *buf, size_t cap)
{
	char mark[32] = "", table[16];

	if (r->has_fwmark && r->fwmask != 0xffffffff)
		snprintf(mark, sizeof(mark), " fwmark %#" PRIx32 "/%#" PRIx32, r->fwmark, r->fwmask);
	else if (r->has_fwmark)
		snprintf(mark, sizeof(mark), " fwmark %#" PRIx32, r->fwmark);
	table_name(r->table, table, sizeof(table));
	snprintf(buf, cap, "%" PRIu32 ": from all%s lookup %s", r->priority, mark, table);
}

void rd_format_route(const struct rd_route *r, char *buf, size_t cap)
{
	static const char *const types[] = {
		[RTN_LOCAL] = "local ", [RTN_BROADCAST] = "broadcast ", [RTN_ANYCAST] = "anycast ",
		[RTN_MULTICAST] = "multicast ", [RTN_BLACKHOLE] = "blackhole ",
		[RTN_UNREACHABLE] = "unreachable ", [RTN_PROHIBIT] = "prohibit ",
	};
	char dst[INET6_ADDRSTRLEN + 4], dev[32] = "", scope[24] = "", proto[24] = "";
	char metric[24] = "";
	const char *type = r->type < sizeof(types) / sizeof(types[0]) && types[r->type] ?
				   types[r->type] : "";

	if (!r->dst_len) {
		snprintf(dst, sizeof(dst), "default");
	} else {
		inet_ntop(r->family == AF_INET6 ? AF_INET6 : AF_INET, r->dst, dst, sizeof(dst));
		if (r->dst_len != (r->family == AF_INET6 ? 128 : 32))
			snprintf(dst + strlen(dst), sizeof(dst) - strlen(dst), "/%u", r->dst_len);
	}
	if (r->dev[0])
		snprintf(dev, sizeof(dev), " dev %s", r->dev);
	else if (r->oif)
		snprintf(dev, sizeof(dev), " dev if%" PRIu32, r->oif);
	/* as ip(8), which leaves out the boot protocol and the universe scope */
	if (r->protocol == RTPROT_KERNEL)
		snprintf(proto, sizeof(proto), " proto kernel");
	else if (r->protocol == RTPROT_STATIC)
		snprintf(proto, sizeof(proto), " proto static");
	else if (r->protocol != RTPROT_BOOT)
		snprintf(proto, sizeof(proto), " proto %u", r->protocol);
	/* as ip -6, which shows the metric and no scope */
	if (r->family == AF_INET6)
		snprintf(metric, sizeof(metric), " metric %" PRIu32, r->metric);
	else if (r->scope == RT_SCOPE_HOST)
		snprintf(scope, sizeof(scope), " scope host");
	else if (r->scope == RT_SCOPE_LINK)
		snprintf(scope, sizeof(scope), " scope link");
	else if (r->scope != RT_SCOPE_UNIVERSE)
		snprintf(scope, sizeof(scope), " scope %u", r->scope);
	snprintf(buf, cap, "%s%s%s%s%s%s", type, dst, dev, proto, scope, metric);
}
