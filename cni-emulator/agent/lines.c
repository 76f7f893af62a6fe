/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the texts, levels and labels of the node agent's istio-cni lines,
 * per release (observability.md 2, read from istio/istio cni/pkg/nodeagent
 * ztunnelserver*.go, net*.go, meshdataplane_linux.go at tags 1.21.0 ...
 * 1.30.0). Labels come in the order istio-cni attaches them. Never
 * touches: the layout (log_go.c), sockets, the pod table. Interface: lines.h.
 */
#include <stdio.h>

#include "lines.h"
#include "log_go.h"
#include "release.h"

static enum release_cni_texts gen(const struct agent *a)
{
	return release_cni_texts(a->cfg.release);
}

static const char *s(const char *v)
{
	return v ? v : "";
}

/* ", conn_uuid=U" from 1.25 on, where istio-cni labels the connection */
static const char *uuid_label(const struct ztconn *c, const char *sep, char *buf, size_t cap)
{
	if (gen(c->a) < CNI_TEXTS_125)
		return "";
	snprintf(buf, cap, "%sconn_uuid=%s", sep, c->uuid);
	return buf;
}

/* "uid=U name=N namespace=NS serviceAccount=SA" (just uid when the pod is unknown) */
static const char *pod_labels(const struct apod *p, const char *uid, char *buf, size_t cap)
{
	if (!p)
		snprintf(buf, cap, "uid=%s", s(uid));
	else
		snprintf(buf, cap, "uid=%s name=%s namespace=%s serviceAccount=%s", s(p->uid),
			 s(p->name), s(p->namespace_), s(p->service_account));
	return buf;
}

void line_connected(const struct ztconn *c)
{
	if (gen(c->a) < CNI_TEXTS_125)
		golog(LOG_DEBUG, SCOPE_AGENT, "ztunnel connected");
	else if (gen(c->a) == CNI_TEXTS_125)	/* "%s" given an int */
		golog(LOG_INFO, SCOPE_AGENT, "new ztunnel connected, total connected %%!s(int=%zu)\tconn_uuid=%s",
		      c->a->nconns, c->uuid);
	else
		golog(LOG_INFO, SCOPE_AGENT, "new ztunnel connected, total connected: %zu\tconn_uuid=%s",
		      c->a->nconns, c->uuid);
}

void line_disconnected(const struct ztconn *c)
{
	if (gen(c->a) != CNI_TEXTS_125)
		golog(LOG_DEBUG, SCOPE_AGENT, "ztunnel disconnected");
	if (gen(c->a) >= CNI_TEXTS_125)	/* a format-verb bug in istio-cni: kept */
		golog(LOG_INFO, SCOPE_AGENT, "ztunnel disconnected, total connected %%!s(int=%zu)\tconn_uuid=%s",
		      c->a->nconns, c->uuid);
}

void line_conn_failed(const struct ztconn *c, const char *why)
{
	char u[64];

	golog(LOG_ERROR, SCOPE_AGENT, "failed to handle conn: %s%s", why, uuid_label(c, "\t", u, sizeof(u)));
}

void line_hello(const struct ztconn *c, const char *version)
{
	char u[64];

	if (gen(c->a) <= CNI_TEXTS_122)
		golog(LOG_INFO, SCOPE_AGENT, "received hello from ztunnel. %s", version);
	else
		golog(LOG_INFO, SCOPE_AGENT, "received hello from ztunnel\t%s%sversion=%s",
		      uuid_label(c, "", u, sizeof(u)), gen(c->a) >= CNI_TEXTS_125 ? " " : "", version);
}

void line_snapshot_pod(const struct ztconn *c, const struct apod *p, bool keep)
{
	char l[1024];

	if (keep && gen(c->a) <= CNI_TEXTS_122)
		golog(LOG_INFO, SCOPE_AGENT, "netns not available for local pod %s. sending keep to ztunnel", p->uid);
	else if (keep)
		golog(LOG_INFO, SCOPE_AGENT, "netns is not available for pod, sending 'keep' to ztunnel\t%s",
		      pod_labels(p, NULL, l, sizeof(l)));
	else if (gen(c->a) <= CNI_TEXTS_122)
		golog(gen(c->a) == CNI_TEXTS_121 ? LOG_DEBUG : LOG_INFO, SCOPE_AGENT,
		      "Sending local pod %s ztunnel", p->uid);
	else
		golog(LOG_INFO, SCOPE_AGENT, "sending pod to ztunnel as part of snapshot\t%s",
		      pod_labels(p, NULL, l, sizeof(l)));
}

void line_snapshot_nack(const struct ztconn *c, const char *uid, const char *err)
{
	char l[1024];

	if (gen(c->a) <= CNI_TEXTS_122)
		golog(LOG_ERROR, SCOPE_AGENT, "add-workload: got ack error: %s", err);
	else
		golog(LOG_ERROR, SCOPE_AGENT, "add-workload: got ack error: %s\t%s", err,
		      pod_labels(apod_find(c->a, uid), uid, l, sizeof(l)));
}

void line_snapshot_sent_nack(const struct ztconn *c, const char *err)
{
	(void)c;
	golog(LOG_ERROR, SCOPE_AGENT, "snap-sent: got ack error: %s", err);
}

void line_add(const struct ztconn *c, const struct apod *p)
{
	char l[1024], u[64];

	if (gen(c->a) <= CNI_TEXTS_122)	/* the request as Go prints a proto message */
		golog(gen(c->a) == CNI_TEXTS_121 ? LOG_DEBUG : LOG_INFO, SCOPE_AGENT,
		      "About to send added pod: %s to ztunnel: add:{uid:\"%s\" workload_info:{name:\"%s\" namespace:\"%s\" service_account:\"%s\"}}",
		      p->uid, p->uid, s(p->name), s(p->namespace_), s(p->service_account));
	else
		golog(LOG_INFO, SCOPE_AGENT, "sending pod add to ztunnel\t%s%s",
		      pod_labels(p, NULL, l, sizeof(l)), uuid_label(c, " ", u, sizeof(u)));
}

void line_add_nack(const struct ztconn *c, const char *uid, const char *err)
{
	char l[1024], u[64];

	if (gen(c->a) <= CNI_TEXTS_122)
		golog(LOG_ERROR, SCOPE_AGENT, "add-workload: got ack error: %s", err);
	else
		golog(LOG_ERROR, SCOPE_AGENT, "failed to add workload: %s\t%s%s", err,
		      pod_labels(apod_find(c->a, uid), uid, l, sizeof(l)),
		      uuid_label(c, " ", u, sizeof(u)));
}

void line_send_error(const struct ztconn *c, const char *err, bool broken)
{
	char u[64];

	if (gen(c->a) < CNI_TEXTS_125)	/* no ack: an empty ack error */
		golog(LOG_ERROR, SCOPE_AGENT, "ztunnel acked error: err %s ackErr ", err);
	else if (broken)
		golog(LOG_ERROR, SCOPE_AGENT, "ztunnel connection broken/unwritable, disposing of this connection%s",
		      uuid_label(c, "\t", u, sizeof(u)));
	else
		golog(LOG_WARN, SCOPE_AGENT, "timed out waiting for valid ztunnel response: %s%s", err,
		      uuid_label(c, "\t", u, sizeof(u)));
}

void line_unexpected_message(const struct ztconn *c)
{
	char u[64];

	golog(LOG_WARN, SCOPE_AGENT, "ztunnel protocol error, unexpected message%s",
	      uuid_label(c, "\t", u, sizeof(u)));
}

void line_enroll(const struct agent *a, const char *ns, const char *name)
{
	if (release_cni_texts(a->cfg.release) <= CNI_TEXTS_122)
		golog(LOG_INFO, SCOPE_AGENT, "in pod mode - adding pod %s/%s to ztunnel ", s(ns), s(name));
	else
		golog(LOG_INFO, SCOPE_AGENT, "adding pod to the mesh\tns=%s name=%s", s(ns), s(name));
}

void line_enroll_rules_failed(const struct agent *a, const struct apod *p, const char *err)
{
	if (release_cni_texts(a->cfg.release) <= CNI_TEXTS_122)
		golog(LOG_ERROR, SCOPE_AGENT, "failed to update POD inpod: %s/%s %s", s(p->namespace_),
		      s(p->name), err);
	else
		golog(LOG_ERROR, SCOPE_AGENT, "failed to update POD inpod: %s/%s %s\tns=%s name=%s",
		      s(p->namespace_), s(p->name), err, s(p->namespace_), s(p->name));
}

void line_enroll_no_ztunnel(const struct agent *a, const struct apod *p)
{
	if (release_cni_texts(a->cfg.release) >= CNI_TEXTS_126)
		golog(LOG_ERROR, SCOPE_AGENT,
		      "failed to add pod to ztunnel: pod partially added, annotating with pending status\tns=%s name=%s",
		      s(p->namespace_), s(p->name));
	else	/* older releases leave it to the caller: the emulator says it */
		golog(LOG_ERROR, SCOPE_EMU, "failed to add pod to the mesh: no ztunnel connection\tuid=%s",
		      s(p->uid));
}

void line_unenroll(const struct agent *a, const struct apod *p, bool deleted)
{
	enum release_cni_texts g = release_cni_texts(a->cfg.release);
	const char *ns = s(p->namespace_), *name = s(p->name), *b = deleted ? "true" : "false";

	if (g <= CNI_TEXTS_122 && deleted)
		golog(LOG_INFO, SCOPE_AGENT, "in pod mode - deleting pod from ztunnel\tns=%s name=%s", ns, name);
	else if (g <= CNI_TEXTS_122)
		golog(LOG_DEBUG, SCOPE_AGENT, "in pod mode - removing pod from ztunnel\tns=%s name=%s", ns, name);
	if (g >= CNI_TEXTS_125)
		golog(LOG_INFO, SCOPE_AGENT, "removing pod from mesh\tns=%s name=%s deleted=%s", ns, name, b);
	if (g >= CNI_TEXTS_123)
		golog(LOG_DEBUG, SCOPE_AGENT, "removing pod from the mesh\tns=%s name=%s delete=%s", ns, name, b);
}

void line_netns_gone(const struct agent *a, const struct apod *p)
{
	if (release_cni_texts(a->cfg.release) <= CNI_TEXTS_122)
		golog(LOG_WARN, SCOPE_AGENT, "failed to find pod netns\tns=%s name=%s", s(p->namespace_),
		      s(p->name));
	else
		golog(LOG_WARN, SCOPE_AGENT, "pod netns already gone, not deleting inpod rules\tns=%s name=%s",
		      s(p->namespace_), s(p->name));
}
