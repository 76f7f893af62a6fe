/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HBONE's module state on the daemon: the CA opened at start, each pod's
 * certificate (its identity's, shared: certs.c), found or issued in the loop
 * turn of its Add but after the ack (freed with the identity's last pod),
 * 15008's accepted connections handed to conn.c, the keepalive timer, and
 * the certificates in config_dump. Never enters a netns. Interface: hbone.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "fmt.h"
#include "hbone.h"
#include "hbone_int.h"
#include "json.h"
#include "log.h"

static void no_cert(const struct pod *p, const char *why)
{
	char u[400];

	log_line(LOG_WARN, T_EMU, "pod %s: no HBONE certificate, its 15008 refuses connections: %s",
		 uid_text(u, sizeof(u), p->uid, p->uid_len), why);
}

/*
 * A pod's certificate: its identity's, issued now by the identity's first
 * pod (ztunnel keys certificates on the identity); or the warning.
 */
static void issue(struct hbone *hb, struct pod *p)
{
	struct hbone_pod *hp = p->hbone;
	char id[SPIFFE_MAX], why[256];
	int ret = ca_identity(&hb->ca, p->namespace_, p->service_account, id, sizeof(id));

	if (ret) {
		no_cert(p, ret == -EINVAL ? "namespace or service account cannot be part of a SPIFFE identity" :
					    "its SPIFFE identity is too long");
		return;
	}
	hp->cert = hcert_get(&hb->certs, id);
	if (!hp->cert) {
		no_cert(p, "out of memory");
		return;
	}
	hp->leaf = hcert_issue(&hb->ca, hp->cert, why, sizeof(why));
	if (!hp->leaf)
		no_cert(p, why);
}

static void issue_due(struct hbone *hb)
{
	while (!list_empty(&hb->due)) {
		struct hbone_pod *hp = container_of(hb->due.next, struct hbone_pod, due);

		list_del(&hp->due);
		issue(hb, hp->pod);
	}
}

static long timer_next(void *ctx)
{
	struct hbone *hb = ctx;

	return list_empty(&hb->due) ? hconn_timers(&hb->main, false) : 0;
}

static void timer_run(void *ctx)
{
	struct hbone *hb = ctx;

	issue_due(hb);
	hconn_timers(&hb->main, true);
}

int hbone_init(struct daemon *d, struct ze_err *e)
{
	struct hbone *hb = calloc(1, sizeof(*hb));
	int ret;

	if (!hb)
		return ze_fail(e, -ENOMEM, "out of memory");
	hb->d = d;
	hhome_init(&hb->main, hb, &d->loop);
	list_init(&hb->due);
	ret = ca_open(&hb->ca, d->cfg.ca_dir, d->cfg.trust_domain, e);
	if (!ret)
		ret = tls_server_ctx(&hb->server, &hb->ca, e);
	if (!ret)
		ret = tls_client_ctx(&hb->client, &hb->ca, e);
	if (ret) {
		SSL_CTX_free(hb->server);
		ca_close(&hb->ca);
		free(hb);
		return ret;
	}
	loop_add_timer(&d->loop, &hb->main.timer, timer_next, timer_run, hb);
	d->hbone = hb;
	log_line(LOG_INFO, T_EMU, "HBONE: CA %s/root-cert.pem, trust domain %s", d->cfg.ca_dir,
		 d->cfg.trust_domain);
	return 0;
}

void hbone_free(struct daemon *d)
{
	struct hbone *hb = d->hbone;
	struct pod *p;

	if (!hb)
		return;
	/* the relay threads have ended (relay_pool_stop), closing theirs */
	hhome_close(&hb->main, NULL, "shutting down");
	/* the pods outlive hb: none may point into it (the due list, the certificates) */
	for (p = d->pods.head; p; p = p->next)
		hbone_pod_free(p);
	SSL_CTX_free(hb->server);
	SSL_CTX_free(hb->client);
	ca_close(&hb->ca);
	metrics_free(hb);
	/* the connections' memory waits for the loop's deferred frees, which need no hb */
	list_del(&hb->main.timer.node);
	free(hb);
	d->hbone = NULL;
}

/*
 * The certificate is looked up (and, for a new identity, issued) after the
 * Add's ack, at the end of the same loop turn (the timer), before anything
 * else is served: a P-256 key and a signature took ~460 us of the ambient
 * Add, and ztunnel does not hold its ack for a certificate either (it
 * fetches them asynchronously).
 */
void hbone_pod_added(struct daemon *d, struct pod *p)
{
	if (!d->hbone || p->hbone)
		return;
	p->hbone = calloc(1, sizeof(*p->hbone));
	if (!p->hbone) {
		no_cert(p, "out of memory");
		return;
	}
	p->hbone->pod = p;
	list_add_tail(&d->hbone->due, &p->hbone->due);
}

void hbone_pod_drain(struct daemon *d, struct pod *p)
{
	if (!d->hbone)
		return;
	/*
	 * Its 15008's connections on relay threads first (each thread closes
	 * them and acks, then the pod may go), while the client ends here are
	 * still open: each side ends for the pod's drain, not for the other's EOF.
	 */
	if (p->hbone && __atomic_load_n(&p->hbone->away, __ATOMIC_ACQUIRE))
		relay_pool_sync_pod(d, p, "pod drained");
	hhome_close(&d->hbone->main, p, "pod drained");
	hbone_pod_free(p);
}

void hbone_pod_free(struct pod *p)
{
	if (!p->hbone)
		return;
	if (p->hbone->due.next)
		list_del(&p->hbone->due);
	hcert_put(p->hbone->cert);
	free(p->hbone);
	p->hbone = NULL;
}

size_t hbone_streams(const struct daemon *d, const struct pod *p)
{
	if (!d->hbone)
		return 0;
	if (!p)
		return __atomic_load_n(&d->hbone->nstreams, __ATOMIC_RELAXED);
	return p->hbone ? __atomic_load_n(&p->hbone->nstreams, __ATOMIC_RELAXED) : 0;
}

void hbone_accept(struct daemon *d, struct listener *l, int fd)
{
	if (!d->hbone || !pod_leaf(l->pod)) {
		close(fd);
		return;
	}
	hconn_start_server(d->hbone, l->pod, fd);
}

void hbone_report_certs(const struct daemon *d, FILE *out)
{
	const struct pod *p;
	char when[32];
	struct tm tm;
	bool first = true;

	fputc('[', out);
	for (p = d->pods.head; p; p = p->next) {
		const struct ca_leaf *leaf = pod_leaf(p);

		if (!leaf)
			continue;
		gmtime_r(&leaf->expiry, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(out, "%s{\"uid\":", first ? "" : ",");
		json_str(out, p->uid, p->uid_len);
		fputs(",\"identity\":", out);
		json_cstr(out, leaf->identity);
		fprintf(out, ",\"serial\":\"%s\",\"expiry\":\"%s\"}", leaf->serial, when);
		first = false;
	}
	fputc(']', out);
}
