/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Istio's TCP metrics for HBONE streams (observability.md §5, hbone.md
 * "Telemetry"): istio_tcp_connections_opened/closed, istio_tcp_sent/
 * received_bytes, one series per label set, with ztunnel's labels in its
 * order (unknown values written "unknown"). received_bytes counts what the
 * client sent, sent_bytes what went back, for both reporters (Istio's
 * historical flip on the source side, istio/istio#32399). Plain TCP
 * relays are not counted here. Never touches sockets. Interface:
 * hbone_int.h, hbone.h (hbone_report_metrics).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/prom.h"
#include "daemon.h"
#include "hbone.h"
#include "hbone_int.h"

#define MAX_SERIES 4096	/* then new label sets are folded into the last one */

struct tcp_series {
	char *labels;
	uint64_t opened, closed, sent, received;
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
static void labels_of(const struct hstream *s, char *buf, size_t cap)
{
	const struct hconn *c = s->c;
	const struct pod *src = c->client ? c->pod : NULL;
	const struct pod *dst = c->client ? c->dst_pod : c->pod;
	char *p = buf;
	size_t left = cap;

	put_label(&p, &left, "reporter", c->client ? "source" : "destination");
	put_label(&p, &left, "source_workload", src ? src->name : NULL);
	put_label(&p, &left, "source_canonical_service", NULL);
	put_label(&p, &left, "source_canonical_revision", NULL);
	put_label(&p, &left, "source_workload_namespace", src ? src->namespace_ : NULL);
	put_label(&p, &left, "source_principal",
		  c->client ? pod_identity(c->pod) : c->peer.identity);
	put_label(&p, &left, "source_app", NULL);
	put_label(&p, &left, "source_version", NULL);
	put_label(&p, &left, "source_cluster", NULL);
	put_label(&p, &left, "destination_service", NULL);
	put_label(&p, &left, "destination_service_namespace", NULL);
	put_label(&p, &left, "destination_service_name", NULL);
	put_label(&p, &left, "destination_workload", dst->name);
	put_label(&p, &left, "destination_canonical_service", NULL);
	put_label(&p, &left, "destination_canonical_revision", NULL);
	put_label(&p, &left, "destination_workload_namespace", dst->namespace_);
	put_label(&p, &left, "destination_principal", pod_identity(dst));
	put_label(&p, &left, "destination_app", NULL);
	put_label(&p, &left, "destination_version", NULL);
	put_label(&p, &left, "destination_cluster", NULL);
	put_label(&p, &left, "request_protocol", "tcp");
	put_label(&p, &left, "response_flags", "-");
	put_label(&p, &left, "connection_security_policy", "mutual_tls");
	if (p > buf && p[-1] == ',')
		p--;
	*p = '\0';
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

void metrics_stream_open(struct hstream *s)
{
	char labels[2048];

	labels_of(s, labels, sizeof(labels));
	s->series = series_for(s->c->hb, labels);
	if (s->series)
		s->series->opened++;
}

void metrics_stream_end(const struct hstream *s)
{
	struct tcp_series *t = s->series;

	if (!t)
		return;	/* never opened: an early refusal */
	t->closed++;
	t->received += s->c->client ? s->recv : s->sent;
	t->sent += s->c->client ? s->sent : s->recv;
}

static void family(const struct prom *pm, const struct hbone *hb, const char *name,
		   const char *help, size_t field)
{
	const struct tcp_series *t;
	char full[64];

	snprintf(full, sizeof(full), "istio_%s", name);
	prom_family(pm, full, "counter", help);
	for (t = hb->series; t; t = t->next)
		fprintf(pm->out, "%s_total{%s} %" PRIu64 "\n", full, t->labels,
			*(const uint64_t *)(const void *)((const char *)t + field));
}

void hbone_report_metrics(const struct daemon *d, const struct prom *pm)
{
	const struct hbone *hb = d->hbone;

	if (!hb)
		return;
	family(pm, hb, "tcp_connections_opened", "The total number of TCP connections opened",
	       offsetof(struct tcp_series, opened));
	family(pm, hb, "tcp_connections_closed", "The total number of TCP connections closed",
	       offsetof(struct tcp_series, closed));
	family(pm, hb, "tcp_received_bytes", "The size of total bytes received during request in case of a TCP connection",
	       offsetof(struct tcp_series, received));
	family(pm, hb, "tcp_sent_bytes", "The size of total bytes sent during response in case of a TCP connection",
	       offsetof(struct tcp_series, sent));
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
