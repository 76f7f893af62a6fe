/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the redirection-rule steps add, del and sync share (the 'rules:'
 * lines, undo, del --netns, the Del that takes back an unanswered add, the
 * end of a guarded run), with their messages. Never touches: argv.
 * Interface: cni.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cni.h"
#include "guard.h"
#include "log.h"
#include "netns.h"
#include "prepare.h"
#include "redirect.h"
#include "zds_oneshot.h"

#define RULE_DESC "ip rule fwmark 0x111/0xfff lookup 100"
#define ROUTE_DESC "route local default dev lo table 100"
#define RULE6_DESC "ip -6 rule fwmark 0x111/0xfff lookup 100"
#define ROUTE6_DESC "route local ::/0 dev lo table 100"
/* fault 6: said wherever IPv6 is left alone, so that nobody takes the pod for captured */
#define NO_IPV6_LINE "IPv6 not captured: lo has no IPv6 in this pod"

/* What the chosen backend installs, as messages name it. */
static const char *rd_objects(void)
{
	return rd_get_backend() == RD_NFTABLES ? "nft tables inet istio-ambient-*" : "ISTIO_* chains";
}

/* What to do about a refusal to enter the netns or change its rules. */
const char *perm_hint(int ret)
{
	return ret == -EPERM || ret == -EACCES ?
		       " (needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN over the netns)" : "";
}

static void variant_desc(char *buf, size_t cap, enum rd_variant v, bool dns)
{
	snprintf(buf, cap, "%s variant%s", rd_variant_name(v), dns ? "" : " without DNS capture");
}

/* What rd_apply() found or put in one family: "<variant> installed", "... already present" */
static void family_desc(char *have, size_t cap, int nsfd, enum rd_family f, const struct opts *o,
			bool added)
{
	char want[64], found[64], why[512];
	struct rd_rules r;
	enum rd_variant v = RD_TPROXY;
	bool dns = true;
	int ret;

	variant_desc(want, sizeof(want), o->variant, o->dns_capture);
	if (added) {
		snprintf(have, cap, "%s installed", want);
		return;
	}
	ret = rd_read_family(nsfd, f, &r, why, sizeof(why));
	if (!ret) {
		ret = rd_identify(&r, &v, &dns);
		rd_rules_free(&r);
	}
	variant_desc(found, sizeof(found), v, dns);
	if (!ret && v == o->variant && dns == o->dns_capture)
		snprintf(have, cap, "%s already present", want);
	else if (!ret)
		snprintf(have, cap, "%s already present (%s requested; left as is)", found, want);
	else
		snprintf(have, cap, "%s already present, matching no known variant (left as is)",
			 rd_objects());
}

static void print_family(const char *pfx, const char *fam, const char *have, const char *where,
			 const char *rule, const char *route, bool rule_added, bool route_added)
{
	if (rule_added == route_added)
		printf("%srules: %s%s in %s (%s and %s %s)\n", pfx, fam, have, where, rule, route,
		       rule_added ? "added" : "already present");
	else
		printf("%srules: %s%s in %s (%s %s, %s %s)\n", pfx, fam, have, where, rule,
		       rule_added ? "added" : "already present", route,
		       route_added ? "added" : "already present");
}

/*
 * After rd_apply(): a line on stdout per family saying what it did in the
 * pod's netns. nftables: the IPv4 line names the inet tables, which carry
 * IPv6 too; the IPv6 line is about policy routing only.
 */
void print_rules_applied(const char *pfx, const char *where, int nsfd,
				const struct opts *o, const struct rd_state *added)
{
	bool inet = rd_get_backend() == RD_NFTABLES;
	char have[192];

	family_desc(have, sizeof(have), nsfd, RD_IPV4, o, added->chains);
	print_family(pfx, "", have, where, RULE_DESC, ROUTE_DESC, added->ip_rule, added->route);
	if (added->no_ipv6) {
		if (inet)
			printf("%srules: %s (%s: no ip -6 rule or route installed; the inet tables "
			       "hold their IPv6 rules all the same)\n", pfx, NO_IPV6_LINE, where);
		else
			printf("%srules: %s (%s: no ip6tables rules, ip -6 rule or route installed)\n",
			       pfx, NO_IPV6_LINE, where);
		return;
	}
	if (inet)
		snprintf(have, sizeof(have), "the same inet tables");
	else
		family_desc(have, sizeof(have), nsfd, RD_IPV6, o, added->chains6);
	print_family(pfx, "IPv6: ", have, where, RULE6_DESC, ROUTE6_DESC, added->ip_rule6,
		     added->route6);
}

/*
 * After a failed add: takes back what this run installed, and only that;
 * outcome says what became of the pod. 0, or 1 after printing why.
 */
int undo_rules(const char *where, int nsfd, const struct rd_state *added,
		      const char *outcome)
{
	char why[1024];
	int ret;

	if (!rd_state_any(added))
		return 0;
	ret = rd_undo(nsfd, added, why, sizeof(why));
	if (ret)
		return cli_err("%s: removing the redirection rules this add installed: %s%s", where,
			       why, perm_hint(ret));
	cli_err("%s: removed the redirection rules this add installed (%s)", where, outcome);
	return 0;
}

/* How long the Del that takes back an unanswered add may wait, at least */
#define RECOVER_MS 5000

/*
 * The add got no ack after this run installed rules (a timeout, a lost
 * connection, an interruption), so the daemon may still start the pod.
 * Removing the rules now could leave it Up with no redirection: first a Del
 * on a new connection; only when that is acked do the rules go. Otherwise
 * they stay (istio-cni keeps them too and retries). Prints what happened.
 */
void recover_no_ack(const char *socket_path, const struct pod *p,
			   const struct rd_state *added, const struct opts *o)
{
	char q[1100], pfx[1150];
	struct zconn d = { .sock = -1, .path = socket_path, .pfx = pfx, .sigfd = -1,
			   .timeout_ms = o->timeout_ms > RECOVER_MS ? o->timeout_ms : RECOVER_MS };
	uint8_t msg[ZDS_MAX_MSG];
	struct zds_str nack;
	struct ze_err e;
	ssize_t n = encode_req(msg, ZDS_REQ_DEL, p->uid, NULL, o);
	int ret;

	log_quote(q, sizeof(q), p->uid, strlen(p->uid));
	snprintf(pfx, sizeof(pfx), "pod %s: taking back the unanswered add: ", q);
	if (n < 0) {
		ret = CALL_NOT_SENT;
	} else if (zconn_open(&d, &e)) {
		cli_err("%s", e.msg);
		ret = CALL_NOT_SENT;
	} else {
		ret = zconn_call(&d, msg, (size_t)n, -1, "del request", &nack, &e);
		if (ret < 0)
			cli_err("%s", e.msg);
	}
	zconn_close(&d);
	if (ret == CALL_NACK)
		cli_err("%s%.*s", pfx, (int)nack.len, nack.p);
	if (!ret) {
		undo_rules(p->where, p->nsfd, added,
			   "no ack for the add; a Del sent on a new connection was acked, so the "
			   "pod is not enrolled");
		return;
	}
	cli_err("%s: no ack for the add and none for the Del that would take it back: the "
		"outcome is unknown (the pod may be Up), so the redirection rules stay in place; "
		"to remove both: %s del --netns %s %s %s", p->where, PROG, p->spec, socket_path, q);
}

/* rd_remove() in the open netns fd, named where: 0, or 1 after printing why. */
static int remove_rules_fd(int fd, const char *where)
{
	char why[8192], what[256], what6[256];
	struct rd_state had;
	size_t len = 0;
	int ret;

	ret = rd_remove(fd, &had, why, sizeof(why));
	if (ret)
		return cli_err("%s: removing the redirection rules: %s%s", where, why, perm_hint(ret));
	what[0] = '\0';
	if (had.chains)
		len += (size_t)snprintf(what + len, sizeof(what) - len, "%s", rd_objects());
	if (had.ip_rule)
		len += (size_t)snprintf(what + len, sizeof(what) - len, "%s" RULE_DESC,
					len ? ", " : "");
	if (had.route)
		snprintf(what + len, sizeof(what) - len, "%s" ROUTE_DESC, len ? ", " : "");
	if (what[0])
		printf("rules: removed from %s: %s\n", where, what);
	len = 0;
	what6[0] = '\0';
	if (had.chains6)
		len += (size_t)snprintf(what6 + len, sizeof(what6) - len, "ip6tables ISTIO_* chains");
	if (had.ip_rule6)
		len += (size_t)snprintf(what6 + len, sizeof(what6) - len, "%s" RULE6_DESC,
					len ? ", " : "");
	if (had.route6)
		snprintf(what6 + len, sizeof(what6) - len, "%s" ROUTE6_DESC, len ? ", " : "");
	if (what6[0])
		printf("rules: IPv6: removed from %s: %s\n", where, what6);
	if (!what[0] && !what6[0])
		printf("rules: none in %s\n", where);
	return 0;
}

/*
 * del --netns: removes the rules as istio-cni does for a pod leaving the mesh.
 * 0 done (or the netns is gone), 1 after printing why (the Del still goes),
 * -1 when spec is not a network namespace (nothing is sent).
 */
int remove_rules(const char *spec)
{
	char path[4096], why[8192];
	const char *name, *where;
	int fd, ret;

	fd = open_netns(spec, path, sizeof(path), &name, why, sizeof(why));
	where = name ? name : spec;
	if (fd == -ENOENT) {
		printf("rules: %s is gone; nothing to remove\n", where);
		return 0;
	}
	if (fd < 0)
		return cli_err("%s", why), -1;
	ret = remove_rules_fd(fd, where);
	close(fd);
	return ret;
}

/*
 * del SOCKET UID without --netns: the walk-thru's uid is the netns name, so
 * a /run/netns/UID that holds istio-cni's rules is that pod's, and a pod
 * leaving the mesh takes its rules along (istio-cni's RemovePodFromMesh:
 * rules out first, then the Del). Which backend's rules: whichever the pod
 * holds (a pod holds one; --backend is not needed), both if both. No such
 * netns, or one without Istio's rules: nothing is said or done, only the
 * Del goes. 0, or 1 after printing why (the Del still goes).
 */
int remove_rules_of_uid(const char *uid)
{
	static const enum rd_backend_kind kinds[] = { RD_IPTABLES, RD_NFTABLES };
	enum rd_backend_kind chosen = rd_get_backend();
	char path[4096], why[2][1024];
	int fd, has[2], rc = 0;
	size_t i;

	/* a plain name only: never a path, never a PID (open_netns would take 1234 for one) */
	if (!uid[0] || strchr(uid, '/') || !strcmp(uid, ".") || !strcmp(uid, "..") ||
	    snprintf(path, sizeof(path), "%s/%s", NETNS_DIR, uid) >= (int)sizeof(path))
		return 0;
	fd = netns_open_path(path, NULL);
	if (fd < 0)
		return 0;
	for (i = 0; i < 2; i++)
		has[i] = rd_installed(fd, kinds[i], why[i], sizeof(why[i]));
	for (i = 0; i < 2; i++) {
		/*
		 * A backend whose tool is missing or fails cannot hold rules here,
		 * unless neither could be read: then iptables' reason is said.
		 */
		if ((has[i] == -ENOENT || has[i] == -EIO) && has[!i] >= 0)
			continue;
		if (has[i] < 0) {
			close(fd);
			return cli_err("%s: reading its %s rules: %s%s", path,
				       rd_backend_name(kinds[i]), why[i], perm_hint(has[i]));
		}
	}
	for (i = 0; i < 2 && !rc; i++) {
		if (has[i] <= 0)
			continue;
		printf("rules: %s holds Istio's redirection rules: removing them before the Del, "
		       "as istio-cni does (%s backend; name another netns with --netns)\n", path,
		       rd_backend_name(kinds[i]));
		rd_set_backend(kinds[i]);
		rc = remove_rules_fd(fd, uid);
	}
	rd_set_backend(chosen);
	close(fd);
	return rc;
}

/*
 * The end of a guarded add or sync: the signal that interrupted it, else one
 * still pending unless the work was done (done: it is dropped then). The
 * signal fd is closed and the mask restored with nothing left pending.
 */
int guard_finish(const struct zconn *c, bool done)
{
	int signo = c->signo ? c->signo : done ? 0 : guard_signal(c->sigfd);

	while (guard_signal(c->sigfd))
		;
	guard_end(c->sigfd);
	return signo;
}
