/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: enrolment and un-enrolment in istio-cni's order (roles.md §2,
 * AddPodToMesh / RemovePodFromMesh): pod into the table, netns opened and
 * checked, rules installed, then the Add to the newest ztunnel; on leaving,
 * out of the table, rules removed from a running pod, then a Del to all.
 * Never touches: sockets (server.c sends). Interface: agent.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "guard.h"
#include "lines.h"
#include "log_go.h"

void job_finish(struct agent_job *job, unsigned status, const char *fmt, ...)
{
	va_list ap;

	if (!job)
		return;
	job->status = status;
	va_start(ap, fmt);
	vsnprintf(job->body, sizeof(job->body), fmt, ap);
	va_end(ap);
	if (--job->waiting == 0)
		job->done(job);
}

/* A host netns (ours, init's, a ztunnel's) is never a pod's (istio#55139): 0 or -EPERM. */
static int refuse_host(struct agent *a, int nsfd, char *why, size_t cap)
{
	pid_t pids[16];
	size_t n, i;
	int ret;

	ret = guard_host_netns(nsfd, 0, why, cap);
	n = server_peer_pids(a, pids, 16);
	for (i = 0; !ret && i < n; i++)
		ret = pids[i] > 0 ? guard_host_netns(nsfd, pids[i], why, cap) : 0;
	return ret == 1 ? -EPERM : ret;
}

/* Steps 2 and 3: the netns opened and checked, rules installed. 0 or -errno with why. */
static int enroll_netns(struct agent *a, struct apod *p, char *why, size_t cap, bool *rules_failed)
{
	struct rd_state added = { 0 };
	char err[2048];
	int ret;

	ret = apod_open_netns(p, why, cap);
	if (ret)
		return ret;
	ret = refuse_host(a, p->nsfd, err, sizeof(err));
	if (ret) {
		snprintf(why, cap, "refusing %s: %s", p->netns, err);
		return ret;
	}
	if (!a->cfg.redirect || p->rules)
		return 0;
	ret = rd_apply(p->nsfd, a->cfg.variant, a->cfg.dns_capture, &added, err, sizeof(err));
	if (ret) {
		*rules_failed = true;
		snprintf(why, cap, "failed to set up redirection in %s: %s", p->netns, err);
		return ret;
	}
	p->rules = true;
	return 0;
}

/* The pod r names, new or updated (a re-enrol into another netns); NULL when out of memory. */
static struct apod *enroll_pod(struct agent *a, const struct enroll_req *r, const char *path,
			       bool *fresh)
{
	struct apod *p = apod_find(a, r->uid);

	*fresh = !p;
	if (!p)
		p = apod_new(a, r->uid, r->name, r->namespace_, r->service_account, path);
	else if (strcmp(p->netns, path)) {
		char *s = strdup(path);

		if (!s)
			return NULL;
		free(p->netns);
		p->netns = s;
		p->rules = false;
	}
	if (!p || apod_set_ips(p, r->ips, r->nips)) {
		if (p && *fresh)
			apod_free(a, p);
		return NULL;
	}
	p->watched = r->watched;
	p->acked = false;
	return p;
}

void agent_enroll(struct agent *a, const struct enroll_req *r, struct agent_job *job)
{
	char path[PATH_MAX], why[4096], ewhy[256];
	const char *name;
	bool fresh, rules_failed = false;
	struct apod *p;
	int ret;

	if (job)
		job->waiting++;	/* held until the Add is queued */
	line_enroll(a, r->namespace_, r->name);
	if (netns_resolve(r->netns, path, sizeof(path), &name)) {
		job_finish(job, 400, "invalid netns '%s'\n", r->netns);
		return;
	}
	p = enroll_pod(a, r, path, &fresh);
	if (!p) {
		job_finish(job, 500, "out of memory\n");
		return;
	}
	ret = enroll_netns(a, p, why, sizeof(why), &rules_failed);
	if (ret) {
		if (rules_failed)
			line_enroll_rules_failed(a, p, why);
		else	/* istio-cni's caller logs these; the emulator says it its way */
			golog(LOG_ERROR, SCOPE_EMU, "failed to add pod to the mesh: %s\tuid=%s", why,
			      r->uid);
		if (fresh)
			apod_free(a, p);
		job_finish(job, 500, "%s\n", why);
		return;
	}
	if (job)
		snprintf(job->body, sizeof(job->body), "pod %s enrolled\n", p->uid);
	ret = server_add(a, p, job);
	if (ret == -ENOTCONN)
		line_enroll_no_ztunnel(a, p);
	if (state_pod(a, p, ewhy, sizeof(ewhy)))
		golog(LOG_WARN, SCOPE_EMU, "%s", ewhy);
	if (ret)
		job_finish(job, 500, "%s\n", ret == -ENOTCONN ? "no ztunnel connection" : strerror(-ret));
	else if (job && --job->waiting == 0)
		job->done(job);
}

/* Step 4 of un-enrol for a running pod: its rules out, if its netns is still there. */
static void unenroll_rules(struct agent *a, struct apod *p)
{
	struct rd_state removed;
	char err[2048];

	if (!a->cfg.redirect && !p->rules)
		return;
	if (p->nsfd < 0 || !apod_netns_present(p)) {
		line_netns_gone(a, p);
		return;
	}
	if (rd_remove(p->nsfd, &removed, err, sizeof(err)))
		golog(LOG_ERROR, SCOPE_AGENT, "failed to delete inpod rules: %s\tns=%s name=%s", err,
		      p->namespace_ ? p->namespace_ : "", p->name ? p->name : "");
}

void agent_unenroll(struct agent *a, const char *spec, bool deleted, struct agent_job *job)
{
	struct apod *p = apod_find(a, spec);
	char ewhy[256];

	if (!p)
		p = apod_find_netns(a, spec);
	if (!p) {
		if (job)
			job->waiting++;
		job_finish(job, 404, "no enrolled pod with uid or netns '%s'\n", spec);
		return;
	}
	line_unenroll(a, p, deleted);
	apod_remove(a, p);
	if (!deleted)
		unenroll_rules(a, p);
	if (job)
		snprintf(job->body, sizeof(job->body), "pod %s removed from the mesh\n", p->uid);
	if (state_gone(a, p->uid, ewhy, sizeof(ewhy)))
		golog(LOG_WARN, SCOPE_EMU, "%s", ewhy);
	server_del(a, p->uid, job);
	apod_free(a, p);
}
