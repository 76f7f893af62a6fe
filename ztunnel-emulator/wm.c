/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The workload manager: ZDS requests applied to the pod table, as ztunnel's
 * inpod workload manager and state manager do, with their log lines. Never
 * touches a connection or a socket (it fills a struct wm_reply; the nack
 * wording around it is zds_server.c's). Interface: wm.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "hbone/hbone.h"
#include "fmt.h"
#include "log.h"
#include "netns.h"
#include "pods.h"
#include "wm.h"

static void wm_ack(struct wm_reply *r)
{
	r->verdict = WM_ACK;
	r->text[0] = '\0';
}

static void wm_nack(struct wm_reply *r, const char *why)
{
	r->verdict = WM_NACK;
	snprintf(r->text, sizeof(r->text), "%s", why);
}

static void wm_protocol_error(struct wm_reply *r, const char *what)
{
	r->verdict = WM_PROTOCOL_ERROR;
	snprintf(r->text, sizeof(r->text), "%s", what);
}

static void log_add(const struct daemon *d, const struct zds_request *req)
{
	char u[400], n[400], ns[400];

	if (d->cfg.lines->new_texts)
		log_line(LOG_INFO, T_SM, "pod received, starting proxy uid=%s name=%s namespace=%s",
			 log_quote(u, sizeof(u), req->uid.p, req->uid.len),
			 log_quote(n, sizeof(n), req->info.name.p, req->info.name.len),
			 log_quote(ns, sizeof(ns), req->info.namespace_.p, req->info.namespace_.len));
	else
		log_line(LOG_INFO, T_SM, "pod %s received netns, starting proxy",
			 uid_text(u, sizeof(u), req->uid.p, req->uid.len));
}

void wm_add(struct daemon *d, struct wm_session *s, const struct zds_request *req, int fd,
	    struct wm_reply *r)
{
	struct netns_id id;
	struct pod *p, *other;
	char u[400], err[sizeof(r->text)];
	int ret;

	/* the line comes first, then the check (roles.md 1; ztunnel >= 1.24) */
	log_add(d, req);
	if (!req->has_workload_info && d->cfg.rel->add_info == ADD_INFO_REQUIRED) {
		close(fd);
		wm_protocol_error(r, "workload_info is required but not present");
		return;
	}
	uid_text(u, sizeof(u), req->uid.p, req->uid.len);

	ret = netns_fd_id(fd, &id);
	if (ret) {
		close(fd);
		snprintf(err, sizeof(err), "cannot stat the netns fd: %s", strerror(-ret));
		wm_nack(r, err);
		return;
	}
	/* istio#55139: a host netns sent as a pod's made the node unusable; never retried */
	if (netns_id_eq(&id, &d->own_netns) && !d->cfg.allow_host_netns) {
		close(fd);
		wm_nack(r, "refusing to enroll the host network namespace");
		return;
	}

	p = pod_find_uid(&d->pods, req->uid.p, req->uid.len);
	if (p && netns_id_eq(&p->nsid, &id)) {
		close(fd);
		p->seen_conn = s->serial;
		if (p->state == POD_UP) {
			log_line(LOG_INFO, T_SM, "pod %s already running in this netns, nothing to do", u);
			wm_ack(r);
		} else if (pod_try_start(d, p, err, sizeof(err)) == 0) {
			log_line(LOG_INFO, T_SM, "pod %s was pending, proxy started", u);
			wm_ack(r);
		} else {
			wm_nack(r, err);
		}
		return;
	}
	other = pod_find_ns(&d->pods, &id);
	if (other && other != p) {
		char o[400];

		close(fd);
		snprintf(err, sizeof(err), "network namespace already enrolled as pod %s",
			 uid_text(o, sizeof(o), other->uid, other->uid_len));
		wm_nack(r, err);
		return;
	}
	if (p) {
		/* sandbox recreated: same uid, new netns */
		log_line(LOG_INFO, T_SM, "pod %s netns changed, draining old proxy", u);
		pod_drain(d, p);
	} else if (d->pods.count >= d->cfg.max_pods) {
		close(fd);
		snprintf(err, sizeof(err), "pod limit reached (%zu pods, see --max-pods)", d->cfg.max_pods);
		wm_nack(r, err);
		return;
	}

	p = pod_new(req->uid.p, req->uid.len, req->info.name.p, req->info.name.len,
		    req->info.namespace_.p, req->info.namespace_.len, req->info.service_account.p,
		    req->info.service_account.len);
	if (p) {
		/* the netns identity is a hash key: set before inserting */
		p->no_info = !req->has_workload_info;
		p->netns_fd = fd;
		p->nsid = id;
		p->seen_conn = s->serial;
	}
	if (!p || pod_insert(&d->pods, p) < 0) {
		if (p)
			pod_free(p);	/* closes fd */
		else
			close(fd);
		wm_nack(r, "out of memory");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &p->added);
	hbone_pod_added(d, p);
	/* a failed start keeps the pod pending, with its netns, as ztunnel does */
	if (pod_try_start(d, p, err, sizeof(err)))
		wm_nack(r, err);
	else
		wm_ack(r);
}

void wm_del(struct daemon *d, struct wm_session *s, const struct zds_request *req,
	    struct wm_reply *r)
{
	struct pod *p = pod_find_uid(&d->pods, req->uid.p, req->uid.len);
	char q[400];

	/* logged before any check; from 1.23 on tracing adds the uid as a field */
	if (d->cfg.lines->new_texts)
		log_line(LOG_INFO, T_SM, "pod delete request, shutting down proxy uid=%s",
			 log_quote(q, sizeof(q), req->uid.p, req->uid.len));
	else
		log_line(LOG_INFO, T_SM, "pod delete request, draining proxy");
	if (s->istio_rules && !s->snapshot_sent && !d->cfg.rel->del_before_snapshot) {
		/* ztunnel 1.23-1.24 (1.21-1.22 without a text): roles.md 2 */
		wm_protocol_error(r, d->cfg.rel->new_texts ? "pod delete received before snapshot" : "");
		return;
	}
	if (p && s->istio_rules && !s->snapshot_sent) {
		/*
		 * ztunnel >= 1.25: out of the snapshot set and the pending map; a
		 * running proxy is left to the SnapshotSent reconcile.
		 */
		if (p->seen_conn == s->serial)
			p->seen_conn = 0;
		if (p->state == POD_PENDING)
			pod_drain(d, p);
	} else if (p) {
		pod_drain(d, p);
	}
	wm_ack(r);
}

void wm_session_reset(struct daemon *d, struct wm_session *s)
{
	struct pod *p, *next;

	s->serial = ++d->next_serial;
	s->snapshot_sent = false;
	/* ztunnel forgets its pending pods on a new connection: the node agent re-sends them */
	for (p = d->pods.head; p; p = next) {
		next = p->next;
		if (p->state == POD_PENDING)
			pod_drain(d, p);
	}
}

bool wm_ready(const struct daemon *d, const struct wm_session *s)
{
	return s->snapshot_sent && !d->n_pending;
}

void wm_keep(struct daemon *d, struct wm_session *s, const struct zds_request *req,
	     struct wm_reply *r)
{
	struct pod *p;

	if (s->snapshot_sent) {
		wm_protocol_error(r, "pod keep received after snapshot");
		return;
	}
	{
		char q[400];

		/* info from 1.23 on; 1.21-1.22 logged it at debug, misspelt */
		log_line(d->cfg.lines->keep_info ? LOG_INFO : LOG_DEBUG, T_SM,
			 "pod keep %s. will not delete it when snapshot is sent uid=%s",
			 d->cfg.lines->keep_info ? "received" : "recieved",
			 log_quote(q, sizeof(q), req->uid.p, req->uid.len));
	}
	p = pod_find_uid(&d->pods, req->uid.p, req->uid.len);
	if (p)
		p->seen_conn = s->serial;
	wm_ack(r);
}

void wm_snapshot_sent(struct daemon *d, struct wm_session *s, struct wm_reply *r)
{
	struct pod *p, *next;
	char u[400];

	if (s->snapshot_sent) {
		wm_protocol_error(r, "pod snapshot received already");
		return;
	}
	s->snapshot_sent = true;
	log_line(LOG_INFO, T_SM, "%s", d->cfg.lines->new_texts ?
				       "received snapshot sent" : "pod received snapshot sent");
	for (p = d->pods.head; p; p = next) {
		next = p->next;
		if (p->seen_conn != s->serial) {
			log_line(LOG_INFO, T_SM, "pod %s not in snapshot, draining proxy",
				 uid_text(u, sizeof(u), p->uid, p->uid_len));
			pod_drain(d, p);
		}
	}
	wm_ack(r);
}
