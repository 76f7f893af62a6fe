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
#include "prepare.h"
#include "redirect.h"
#include "zds_oneshot.h"

#define RULE_DESC "ip rule fwmark 0x111/0xfff lookup 100"
#define ROUTE_DESC "route local default dev lo table 100"

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

/* After rd_apply(): one line on stdout saying what it did in the pod's netns. */
void print_rules_applied(const char *pfx, const char *where, int nsfd,
				const struct opts *o, const struct rd_state *added)
{
	char want[64], found[64], have[192], why[512];
	struct rd_rules r;
	enum rd_variant v = RD_TPROXY;
	bool dns = true;
	int ret;

	variant_desc(want, sizeof(want), o->variant, o->dns_capture);
	if (added->chains) {
		snprintf(have, sizeof(have), "%s installed", want);
	} else {
		ret = rd_read(nsfd, &r, why, sizeof(why));
		if (!ret) {
			ret = rd_identify(&r, &v, &dns);
			rd_rules_free(&r);
		}
		variant_desc(found, sizeof(found), v, dns);
		if (!ret && v == o->variant && dns == o->dns_capture)
			snprintf(have, sizeof(have), "%s already present", want);
		else if (!ret)
			snprintf(have, sizeof(have), "%s already present (%s requested; left as is)",
				 found, want);
		else
			snprintf(have, sizeof(have), "%s already present, matching no known variant (left as is)",
				 rd_objects());
	}
	if (added->ip_rule == added->route)
		printf("%srules: %s in %s (%s and %s %s)\n", pfx, have, where, RULE_DESC, ROUTE_DESC,
		       added->ip_rule ? "added" : "already present");
	else
		printf("%srules: %s in %s (%s %s, %s %s)\n", pfx, have, where, RULE_DESC,
		       added->ip_rule ? "added" : "already present", ROUTE_DESC,
		       added->route ? "added" : "already present");
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

	if (!added->chains && !added->ip_rule && !added->route)
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

/*
 * del --netns: removes the rules as istio-cni does for a pod leaving the mesh.
 * 0 done (or the netns is gone), 1 after printing why (the Del still goes),
 * -1 when spec is not a network namespace (nothing is sent).
 */
int remove_rules(const char *spec)
{
	char path[4096], why[8192], what[256];
	struct rd_state had;
	const char *name, *where;
	size_t len = 0;
	int fd, ret;

	fd = open_netns(spec, path, sizeof(path), &name, why, sizeof(why));
	where = name ? name : spec;
	if (fd == -ENOENT) {
		printf("rules: %s is gone; nothing to remove\n", where);
		return 0;
	}
	if (fd < 0)
		return cli_err("%s", why), -1;
	ret = rd_remove(fd, &had, why, sizeof(why));
	close(fd);
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
	else
		printf("rules: none in %s\n", where);
	return 0;
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
