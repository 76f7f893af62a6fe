/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the sync verb: istio-cni's snapshot replay on one connection, the
 * per-pod lines and the summary with the drained count.
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

/* The pods from..npods-1 as "a", "b", ... on f. */
static void print_uids(FILE *f, const struct pod *pods, size_t from, size_t npods)
{
	char q[1100];
	size_t i;

	for (i = from; i < npods; i++)
		fprintf(f, "%s%s", i > from ? ", " : "",
			log_quote(q, sizeof(q), pods[i].uid, strlen(pods[i].uid)));
}

/*
 * Which pods the snapshot will drain: those the daemon has (its config_dump)
 * that are not among pods, as '"a", "b"' (malloc'd; *n their number), or
 * NULL when the daemon's list cannot be read.
 */
static char *drained_pods(const struct zconn *c, const struct pod *pods, size_t npods,
			  ssize_t *n)
{
	const char **uids = calloc(npods ? npods : 1, sizeof(*uids));
	char *body = uids ? zconn_dump(c) : NULL, *text = NULL;
	size_t len = 0, i;
	FILE *f = body ? open_memstream(&text, &len) : NULL;

	for (i = 0; i < npods && uids; i++)
		uids[i] = pods[i].uid;
	*n = f ? dump_other_pods(body, uids, npods, f) : -1;
	if (f && fclose(f))
		*n = -1;
	free(uids);
	free(body);
	if (*n < 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* What a sync did, for its summary line. */
struct sync_tally {
	size_t sent, ready, failed, skipped, stopped_at;	/* stopped_at: npods when all were tried */
	int last, snap;		/* the last add's and the snapshot's zconn_call() outcome */
	char *drained;		/* drained_pods(), or NULL */
	ssize_t ndrained;
};

/*
 * sync --redirect, before a pod's Add: not into a host netns, and its rules
 * installed. 0 to send it; 1 skipped (said why on stdout); -ENOTRECOVERABLE
 * (said why) when this thread is stuck in the pod's netns.
 */
static int sync_rules(struct pod *p, pid_t daemon, const struct opts *o, struct rd_state *added)
{
	char why[1024], rpfx[1110];
	struct ze_err e;
	int ret;

	if (pod_refuse_host(p, daemon, o->given & OPT_ALLOW_HOST, &e)) {
		cli_err("%s", e.msg);
		printf("%s: not sent: %s is a host network namespace\n", p->uid, p->where);
		return 1;
	}
	ret = rd_apply(p->nsfd, o->variant, o->dns_capture, added, why, sizeof(why));
	if (ret == -ENOTRECOVERABLE) {
		cli_err("%s", why);
		return ret;
	}
	if (ret) {
		printf("%s: installing the %s rules in %s: %s%s\n", p->uid,
		       rd_variant_name(o->variant), p->where, why, perm_hint(ret));
		return 1;
	}
	snprintf(rpfx, sizeof(rpfx), "%s: ", p->uid);
	print_rules_applied(rpfx, p->where, p->nsfd, o, added);
	return 0;
}

/* The summary: on stdout when the snapshot was acknowledged, else an error. */
static void print_sync_summary(const struct sync_tally *t, const struct pod *pods, size_t npods,
			       const struct zds_str *nack)
{
	char *line = NULL;
	size_t linelen = 0;
	FILE *f = open_memstream(&line, &linelen);

	if (!f) {
		cli_err("out of memory");
		return;
	}
	fprintf(f, "sync: %zu pod%s sent, %zu ready, %zu failed", t->sent, t->sent == 1 ? "" : "s",
		t->ready, t->failed);
	if (t->stopped_at < npods && t->last == CALL_NO_ACK)
		fprintf(f, ", 1 unanswered");
	if (t->snap == 0 && t->drained) {
		fprintf(f, "; snapshot acknowledged; %zd pod%s not listed drained%s%s", t->ndrained,
			t->ndrained == 1 ? "" : "s", t->ndrained ? ": " : "", t->drained);
	} else if (t->snap == 0) {
		fprintf(f, "; snapshot acknowledged (pods not listed were drained)");
	} else if (t->snap == CALL_NACK) {
		fprintf(f, "; snapshot nacked: %.*s", (int)nack->len, nack->p);
	} else if (t->stopped_at < npods) {
		fprintf(f, "; connection lost");
		if (t->sent + t->skipped < npods) {
			fprintf(f, ", not sent: ");
			print_uids(f, pods, t->sent + t->skipped, npods);
		}
		fprintf(f, "; snapshot not sent (nothing drained)");
	} else if (t->snap == CALL_NOT_SENT) {
		fprintf(f, "; connection lost; snapshot not sent (nothing drained)");
	} else {
		fprintf(f, "; connection lost; snapshot unanswered (pods not listed may have been drained)");
	}
	fclose(f);
	if (t->snap == 0)
		printf("%s\n", line);
	else
		cli_err("%s", line);
	free(line);
}

/* An entry of /run/netns that sync --all leaves out. */
static void warn_skipped(const char *why)
{
	cli_err("warning: %s; skipped", why);
}

/*
 * The Adds, one per pod in turn on c (whose messages start with pfx), each acked before the next (with
 * --redirect, its rules first): fills t->sent, ready, failed, skipped,
 * stopped_at and last. 0, or -ENOTRECOVERABLE (said why) when this thread
 * is stuck in a pod's netns.
 */
static int sync_adds(struct zconn *c, char *pfx, size_t pfxcap, struct pod *pods, size_t npods,
		     pid_t daemon, const struct opts *o, struct sync_tally *t,
		     struct zds_str *nack)
{
	bool redirect = o->given & OPT_REDIRECT;
	char q[1100];
	struct ze_err e;
	size_t i;
	int ret = 0;

	for (i = 0; i < npods; i++) {
		struct pod *p = &pods[i];
		struct rd_state added = { 0 };

		snprintf(pfx, pfxcap, "pod %s: ", log_quote(q, sizeof(q), p->uid, strlen(p->uid)));
		/* as istio-cni: a pod whose rules could not be installed is not sent to ztunnel */
		ret = redirect ? sync_rules(p, daemon, o, &added) : 0;
		if (ret == -ENOTRECOVERABLE)
			return ret;
		if (ret) {
			t->failed++;
			t->skipped++;
			continue;
		}
		ret = zconn_call(c, p->msg, p->len, p->nsfd, "add request", nack, &e);
		if (ret < 0)
			cli_err("%s", e.msg);
		if (ret == CALL_NO_ACK && redirect && (added.chains || added.ip_rule || added.route))
			recover_no_ack(c->path, p, &added, o);
		else if (ret && redirect)
			undo_rules(p->where, p->nsfd, &added,
				   c->signo ? "interrupted; the add was not sent" : "the pod was not added");
		if (ret == CALL_NOT_SENT)
			break;
		t->sent++;
		if (ret == CALL_NO_ACK)
			break;
		if (ret == CALL_NACK)
			printf("%s: %.*s\n", p->uid, (int)nack->len, nack->p);
		else
			printf("%s: listeners ready\n", p->uid);
		t->ready += !ret;
		t->failed += ret == CALL_NACK;
	}
	t->stopped_at = i;
	t->last = ret;
	return 0;
}

/* sync --dry-run: what would be sent, with nothing connected or changed. */
static void print_dry_run(const char *socket_path, const struct pod *pods, size_t npods,
			 const struct opts *o)
{
	char q[1100];
	size_t i;

	for (i = 0; i < npods; i++) {
		printf("would add %s (%s)", log_quote(q, sizeof(q), pods[i].uid, strlen(pods[i].uid)),
		       pods[i].where);
		if (o->given & OPT_REDIRECT)
			printf(", after installing the %s rules", rd_variant_name(o->variant));
		putchar('\n');
	}
	printf("would send SnapshotSent to %s: the daemon drains every pod not listed (%zu listed)\n",
	       socket_path, npods);
	printf("sync: dry run, nothing sent or changed\n");
}

int cmd_sync(const char *socket_path, char **specs, size_t nspecs, bool all,
	     const struct opts *o)
{
	char pfx[1110];
	struct zconn c = { .sock = -1, .path = socket_path, .timeout_ms = o->timeout_ms, .pfx = pfx,
			   .sigfd = -1 };
	struct sync_tally t = { .last = 0, .snap = CALL_NOT_SENT };
	uint8_t snap[16];
	struct zds_str nack = { NULL, 0 };
	struct pod *pods;
	struct ze_err e;
	ssize_t n, npods;
	int signo;

	npods = prepare_pods(&pods, specs, nspecs, all, o, warn_skipped, &e);
	if (npods < 0)
		return cli_err("%s", e.msg);
	/* a typo in the glob must not turn into a snapshot that drains every pod */
	if (npods == 0 && o->match) {
		pods_free(pods, 0);
		return cli_err("--match '%s' matches no usable network namespace under %s: nothing "
			       "sent (a snapshot of no pods would drain them all)", o->match, NETNS_DIR);
	}
	n = encode_req(snap, ZDS_REQ_SNAPSHOT_SENT, NULL, NULL, o);
	pfx[0] = '\0';
	if (n >= 0 && (o->given & OPT_DRY_RUN) && !check_pods(pods, (size_t)npods, &e)) {
		print_dry_run(socket_path, pods, (size_t)npods, o);
		pods_free(pods, (size_t)npods);
		return 0;
	}
	if (n < 0 || check_pods(pods, (size_t)npods, &e) || zconn_connect(&c, &e)) {
		pods_free(pods, (size_t)npods);
		return n < 0 ? 1 : cli_err("%s", e.msg);
	}
	if ((o->given & OPT_REDIRECT) && (c.sigfd = guard_signals()) < 0)
		cli_err("blocking signals: %s", strerror(-c.sigfd));
	if (c.sigfd < -1 || zconn_hello(&c, &e)) {
		if (c.sigfd >= -1)
			cli_err("%s", e.msg);
		signo = guard_finish(&c, false);
		zconn_close(&c);
		pods_free(pods, (size_t)npods);
		return signo ? 128 + signo : 1;
	}
	if (sync_adds(&c, pfx, sizeof(pfx), pods, (size_t)npods, guard_peer_pid(c.sock), o, &t,
		      &nack)) {
		/*
		 * The thread is stuck in a pod's netns: nothing more is done, no
		 * summary; the signal mask stays, as it did when this was an exit().
		 */
		zconn_close(&c);
		pods_free(pods, (size_t)npods);
		return 1;
	}
	if (t.stopped_at == (size_t)npods) {
		t.drained = drained_pods(&c, pods, (size_t)npods, &t.ndrained);
		snprintf(pfx, sizeof(pfx), "snapshot: ");
		t.snap = zconn_call(&c, snap, (size_t)n, -1, "snapshot request", &nack, &e);
		if (t.snap < 0)
			cli_err("%s", e.msg);
	}
	zconn_close(&c);
	print_sync_summary(&t, pods, (size_t)npods, &nack);
	free(t.drained);
	pods_free(pods, (size_t)npods);
	signo = guard_finish(&c, t.snap == 0);
	if (signo)
		return 128 + signo;
	return t.snap == 0 && !t.failed ? 0 : 1;
}
