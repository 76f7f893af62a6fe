/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Istio's TCP metrics for HBONE streams (observability.md §5, hbone.md
 * "Telemetry"): istio_tcp_connections_opened/closed, istio_tcp_sent/
 * received_bytes, one series per label set, with ztunnel's labels in its
 * order (unknown values written "unknown"). received_bytes counts what the
 * client sent, sent_bytes what went back, for both reporters (Istio's
 * historical flip on the source side, istio/istio#32399). Plain TCP
 * relays (15001 without a tunnel, 15006) are counted in the same families
 * with connection_security_policy="unknown" (hbone.md "Telemetry"). Never
 * touches sockets. Interface: hbone_int.h, hbone.h (hbone_report_metrics,
 * hbone_plain_open/end).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/prom.h"
#include "daemon.h"
#include "hbone.h"
#include "hbone_int.h"

#define MAX_SERIES 4096	/* then new label sets are folded into the last one */

/* The series list and counts: streams end on relay threads too (hbone/home.c). */
static pthread_mutex_t series_mu = PTHREAD_MUTEX_INITIALIZER;

struct tcp_series {
	char *labels;
	uint64_t opened, closed, sent, received, failed;
	struct tcp_series *next;
};

/* A Prometheus label value: \\, \" and \n escaped; empty is "unknown". */
static void put_value(char **p, size_t *left, const char *v)
{
	if (!v || !*v)
		v = "unknown";
	for (; *v && *left > 3; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			*(*p)++ = '\\';
			(*left)--;
		}
		*(*p)++ = *v == '\n' ? 'n' : *v;
		(*left)--;
	}
}

static void put_label(char **p, size_t *left, const char *name, const char *v)
{
	int n = snprintf(*p, *left, "%s=\"", name);

	if (n < 0 || (size_t)n >= *left)
		return;
	*p += n;
	*left -= (size_t)n;
	put_value(p, left, v);
	n = snprintf(*p, *left, "\",");
	if (n > 0 && (size_t)n < *left) {
		*p += n;
		*left -= (size_t)n;
	}
}

/* ztunnel's label set of this stream, in its order; the trailing comma dropped. */
static void labels_of(const struct tcp_who *w, const char *flags, char *buf, size_t cap)
{
	char *p = buf;
	size_t left = cap;

	put_label(&p, &left, "reporter", w->source ? "source" : "destination");
	put_label(&p, &left, "source_workload", w->src_name);
	put_label(&p, &left, "source_canonical_service", NULL);
	put_label(&p, &left, "source_canonical_revision", NULL);
	put_label(&p, &left, "source_workload_namespace", w->src_ns);
	put_label(&p, &left, "source_principal", w->src_id);
	put_label(&p, &left, "source_app", NULL);
	put_label(&p, &left, "source_version", NULL);
	put_label(&p, &left, "source_cluster", NULL);
	put_label(&p, &left, "destination_service", NULL);
	put_label(&p, &left, "destination_service_namespace", NULL);
	put_label(&p, &left, "destination_service_name", NULL);
	put_label(&p, &left, "destination_workload", w->dst_name);
	put_label(&p, &left, "destination_canonical_service", NULL);
	put_label(&p, &left, "destination_canonical_revision", NULL);
	put_label(&p, &left, "destination_workload_namespace", w->dst_ns);
	put_label(&p, &left, "destination_principal", w->dst_id);
	put_label(&p, &left, "destination_app", NULL);
	put_label(&p, &left, "destination_version", NULL);
	put_label(&p, &left, "destination_cluster", NULL);
	put_label(&p, &left, "request_protocol", "tcp");
	put_label(&p, &left, "response_flags", flags ? flags : "-");
	put_label(&p, &left, "connection_security_policy", w->plain ? "unknown" : "mutual_tls");
	if (p > buf && p[-1] == ',')
		p--;
	*p = '\0';
}

/* The two ends of a stream as the labels name them (the server knows only the client's identity). */
static void who_of(const struct hstream *s, struct tcp_who *w)
{
	const struct hconn *c = s->c;

	memset(w, 0, sizeof(*w));
	w->source = c->client;
	if (c->client) {
		w->src_name = c->pod->name;
		w->src_ns = c->pod->namespace_;
		w->src_id = pod_identity(c->pod);
		w->dst_name = c->dst.name;
		w->dst_ns = c->dst.namespace_;
		w->dst_id = c->dst.identity;
	} else {
		w->src_id = c->peer.identity;
		w->dst_name = c->pod->name;
		w->dst_ns = c->pod->namespace_;
		w->dst_id = pod_identity(c->pod);
	}
}

static struct tcp_series *series_for(struct hbone *hb, const char *labels)
{
	struct tcp_series *t, *last = NULL;
	size_t n = 0;

	for (t = hb->series; t; t = t->next, n++) {
		if (!strcmp(t->labels, labels))
			return t;
		last = t;
	}
	if (n >= MAX_SERIES)
		return last;
	t = calloc(1, sizeof(*t));
	if (t)
		t->labels = strdup(labels);
	if (!t || !t->labels) {
		free(t);
		return last;
	}
	t->next = hb->series;
	hb->series = t;
	return t;
}

void metrics_failed(struct hbone *hb, const struct tcp_who *w, const char *flags)
{
	char labels[2048];
	struct tcp_series *t;

	labels_of(w, flags, labels, sizeof(labels));
	pthread_mutex_lock(&series_mu);
	t = series_for(hb, labels);
	if (t)
		t->failed++;
	pthread_mutex_unlock(&series_mu);
}

void metrics_stream_open(struct hstream *s)
{
	char labels[2048];
	struct tcp_who w;

	who_of(s, &w);
	labels_of(&w, NULL, labels, sizeof(labels));
	pthread_mutex_lock(&series_mu);
	s->series = series_for(s->c->hb, labels);
	if (s->series)
		s->series->opened++;
	pthread_mutex_unlock(&series_mu);
}

void metrics_stream_end(const struct hstream *s)
{
	struct tcp_series *t = s->series;
	struct tcp_who w;

	if (!t && s->flag) {
		who_of(s, &w);
		metrics_failed(s->c->hb, &w, s->flag);
	}
	if (!t)
		return;	/* never opened: an early refusal */
	pthread_mutex_lock(&series_mu);
	t->closed++;
	t->received += s->c->client ? s->recv : s->sent;
	t->sent += s->c->client ? s->sent : s->recv;
	pthread_mutex_unlock(&series_mu);
}

/* A label set's series: those of failures in _failed only, the others everywhere else. */
static void family(const struct prom *pm, const struct hbone *hb, const char *name,
		   const char *help, size_t field)
{
	const struct tcp_series *t;
	bool failed = field == offsetof(struct tcp_series, failed);
	char full[64];

	snprintf(full, sizeof(full), "istio_%s", name);
	prom_family(pm, full, "counter", help);
	for (t = hb->series; t; t = t->next)
		if (failed == (t->failed > 0))
			fprintf(pm->out, "%s_total{%s} %" PRIu64 "\n", full, t->labels,
				*(const uint64_t *)(const void *)((const char *)t + field));
}

void hbone_report_metrics(const struct daemon *d, const struct prom *pm)
{
	const struct hbone *hb = d->hbone;

	if (!hb)
		return;
	/* streams on relay threads count into the same series */
	pthread_mutex_lock(&series_mu);
	family(pm, hb, "tcp_connections_opened", "The total number of TCP connections opened",
	       offsetof(struct tcp_series, opened));
	family(pm, hb, "tcp_connections_closed", "The total number of TCP connections closed",
	       offsetof(struct tcp_series, closed));
	family(pm, hb, "tcp_received_bytes", "The size of total bytes received during request in case of a TCP connection",
	       offsetof(struct tcp_series, received));
	family(pm, hb, "tcp_sent_bytes", "The size of total bytes sent during response in case of a TCP connection",
	       offsetof(struct tcp_series, sent));
	family(pm, hb, "tcp_connections_failed", "The total number of TCP connections that failed (unstable)",
	       offsetof(struct tcp_series, failed));
	pthread_mutex_unlock(&series_mu);
}

struct tcp_series *hbone_plain_open(struct daemon *d, const struct pod *p, bool outbound)
{
	struct tcp_who w = { .source = outbound, .plain = true };
	struct tcp_series *t;
	char labels[2048];

	if (!d->hbone)
		return NULL;
	/* a plain connection proves no identity: only the pod's own end is known */
	if (outbound) {
		w.src_name = p->name;
		w.src_ns = p->namespace_;
	} else {
		w.dst_name = p->name;
		w.dst_ns = p->namespace_;
	}
	labels_of(&w, NULL, labels, sizeof(labels));
	pthread_mutex_lock(&series_mu);
	t = series_for(d->hbone, labels);
	if (t)
		t->opened++;
	pthread_mutex_unlock(&series_mu);
	return t;
}

void hbone_plain_end(struct tcp_series *t, uint64_t from_client, uint64_t to_client)
{
	if (!t)
		return;
	pthread_mutex_lock(&series_mu);
	t->closed++;
	t->received += from_client;
	t->sent += to_client;
	pthread_mutex_unlock(&series_mu);
}

void metrics_free(struct hbone *hb)
{
	struct tcp_series *t;

	while ((t = hb->series)) {
		hb->series = t->next;
		free(t->labels);
		free(t);
	}
}
