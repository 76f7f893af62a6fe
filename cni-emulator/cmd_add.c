/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the add, del and keep verbs: one pod, one request, its ack.
 * Never touches: argv (main.c parses it). Interface: cni.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cni.h"
#include "inspect/admin.h"
#include "guard.h"
#include "log.h"
#include "prepare.h"
#include "redirect.h"
#include "zds_oneshot.h"

/*
 * The walkthru profile's 127.0.0.1:15001 accepts and closes: with the rules,
 * every outbound connection of the pod seems to succeed and reaches nothing.
 */
static void warn_walkthru(const struct zconn *c)
{
	struct dump_config cfg;
	char *body = zconn_dump(c);

	if (body && !dump_scan(body, &cfg, NULL, NULL) && !strcmp(cfg.profile, "walkthru"))
		cli_err("warning: the daemon (pid %ld) runs the walkthru profile: its 15001 accepts "
			"and closes, so the pod's redirected connections seem to succeed and reach "
			"nothing (start it with --profile ambient)", cfg.pid);
	free(body);
}

/*
 * lo's state, read while the daemon handles the Add (the client would only
 * wait there): its two setns() and the socket come off the handoff's wall
 * time (issue 18). The daemon never changes lo.
 */
struct lo_probe {
	int nsfd;
	int up;		/* rd_link_up(): 1, 0 (down), -errno, or -1 before the probe */
};

static void probe_lo(void *arg)
{
	struct lo_probe *lo = arg;

	lo->up = rd_link_up(lo->nsfd, "lo");
}

/* The daemon warns in its log only; the person who ran the add should hear it too. */
static void warn_lo_down(const struct pod *p, const struct lo_probe *lo)
{
	if (lo->up == 0)
		cli_err("warning: %s: the loopback interface lo is down: the listeners on 127.0.0.1 "
			"are unreachable (fix: ip -n %s link set lo up)", p->where, p->where);
}

/*
 * Why an add failed, kept off cmd_add()'s stack: 17 KiB there put every
 * call below it on stack pages exec() had not touched, each one a page
 * fault (3 of a plain add's, about 2 us each on the bench VM: issue 18).
 * Written only on failure; one add per process.
 */
static struct {
	struct ze_err e;
	char why[8192];
	char q[1100];
} add_fail;

/*
 * --redirect, in istio-cni's order: the rules are in place before ztunnel
 * hears of the pod; connected first, so the daemon's pid (its netns) is
 * known before any rule is written. 0, or 1 with the reason printed.
 */
static int add_rules(struct zconn *c, const struct pod *p, const struct opts *o,
		     struct rd_state *added)
{
	char *why = add_fail.why;
	struct ze_err *e = &add_fail.e;
	int ret;

	ret = pod_refuse_host(p, guard_peer_pid(c->sock), o->given & OPT_ALLOW_HOST, e) ?
		      cli_err("%s", e->msg) : 0;
	if (!ret && (c->sigfd = guard_signals()) < 0)
		ret = cli_err("blocking signals: %s", strerror(-c->sigfd));
	if (!ret && (ret = rd_apply(p->nsfd, o->variant, o->dns_capture, added, why,
				    sizeof(add_fail.why))))
		ret = cli_err("%s: installing the %s rules: %s%s", p->where,
			      rd_variant_name(o->variant), why, perm_hint(ret));
	if (ret) {
		guard_end(c->sigfd);
		return 1;
	}
	print_rules_applied("", p->where, p->nsfd, o, added);
	return 0;
}

int cmd_add(const char *socket_path, const char *spec, const struct opts *o)
{
	struct zconn c = { .sock = -1, .path = socket_path, .timeout_ms = o->timeout_ms, .pfx = "",
			   .sigfd = -1 };
	struct ze_err *e = &add_fail.e;
	struct rd_state added = { 0 };
	bool redirect = o->given & OPT_REDIRECT;
	struct zds_str nack;
	struct lo_probe lo = { .up = -1 };
	struct pod p;
	int ret, signo;

	if (pod_prepare(&p, spec, o, NULL, add_fail.why, sizeof(add_fail.why)))
		return cli_err("%s", add_fail.why);
	lo.nsfd = p.nsfd;
	c.while_waiting = probe_lo;
	c.wait_arg = &lo;
	ret = zconn_connect(&c, e) ? cli_err("%s", e->msg) : 0;
	if (!ret && redirect && add_rules(&c, &p, o, &added))
		ret = 1;
	if (ret) {
		zconn_close(&c);
		close(p.nsfd);
		return 1;
	}
	ret = zconn_hello(&c, e) ? CALL_NOT_SENT : 0;
	if (!ret && redirect)
		warn_walkthru(&c);
	if (!ret)
		ret = zconn_call(&c, p.msg, p.len, p.nsfd, "add request", &nack, e);
	if (ret < 0)
		cli_err("%s", e->msg);
	else if (ret == CALL_NACK)
		cli_err("pod %s: %.*s", log_quote(add_fail.q, sizeof(add_fail.q), p.uid,
						  strlen(p.uid)), (int)nack.len, nack.p);
	else if (ret == 0)
		printf("listeners ready\n");
	if (ret == 0)
		warn_lo_down(&p, &lo);
	/* the first connection stays open until the Del is answered */
	if (ret == CALL_NO_ACK && redirect && rd_state_any(&added))
		recover_no_ack(socket_path, &p, &added, o);
	else if (ret && redirect)
		undo_rules(p.where, p.nsfd, &added, c.signo ? "interrupted; the add was not sent" :
				"the pod was not added");
	zconn_close(&c);
	close(p.nsfd);
	/* a signal that came after the ack finds the work done: it is dropped */
	signo = guard_finish(&c, ret == 0);
	return signo ? 128 + signo : ret ? 1 : 0;
}

/* del and keep: one request naming a pod by uid. */
int cmd_uid(enum zds_req_type type, const char *socket_path, const char *uid,
	    const struct opts *o)
{
	char q[1100], pfx[1110], what[32];
	struct zconn c = { .sock = -1, .path = socket_path, .timeout_ms = o->timeout_ms, .pfx = pfx,
			  .sigfd = -1 };
	uint8_t msg[ZDS_MAX_MSG];
	struct zds_str nack;
	struct ze_err e;
	char *body;
	ssize_t n;
	int ret, rules_ret = 0, known;

	snprintf(pfx, sizeof(pfx), "pod %s: ", log_quote(q, sizeof(q), uid, strlen(uid)));
	snprintf(what, sizeof(what), "%s request", type == ZDS_REQ_DEL ? "del" : "keep");
	n = encode_req(msg, type, uid, NULL, o);
	if (n < 0)
		return cli_err("%sthe %s would exceed %d bytes; use a shorter UID", pfx, what,
			       ZDS_MAX_MSG);
	/* istio-cni's order for a running pod leaving the mesh: rules out, then the Del */
	if (type == ZDS_REQ_DEL && o->netns) {
		rules_ret = remove_rules(o->netns);
		if (rules_ret < 0)
			return 1;
	} else if (type == ZDS_REQ_DEL) {
		rules_ret = remove_rules_of_uid(uid);
	}
	ret = zconn_open(&c, &e) ? CALL_NOT_SENT : 0;
	/* ztunnel acks an unknown uid too: the daemon's own list says whether it knew it */
	body = ret ? NULL : zconn_dump(&c);
	known = body ? dump_has_uid(body, uid) : -1;
	free(body);
	if (!ret)
		ret = zconn_call(&c, msg, (size_t)n, -1, what, &nack, &e);
	if (ret < 0)
		cli_err("%s", e.msg);
	else if (ret == CALL_NACK)
		cli_err("%s%.*s", pfx, (int)nack.len, nack.p);
	else if (ret == 0)
		printf("pod %s %s%s\n", uid, type == ZDS_REQ_DEL ? "deleted" : "kept",
		       known == 0 ? " (no such pod)" : "");
	zconn_close(&c);
	return ret || rules_ret ? 1 : 0;
}
