/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Views of the DNS proxy: config_dump's "dns" and "registry" keys, and the
 * istio_dns_* metrics as ztunnel names them (dns.md). Reads only.
 * Interface: dns/server.h.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>

#include "admin/prom.h"
#include "daemon.h"
#include "dnsd.h"
#include "json.h"
#include "registry.h"
#include "server.h"

static void json_ip(FILE *out, const char *network, const struct reg_ip *ip)
{
	char text[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 256];

	inet_ntop(ip->af, ip->addr, text, sizeof(text));
	if (network)
		snprintf(buf, sizeof(buf), "%s/%s", network, text);
	else
		snprintf(buf, sizeof(buf), "%s", text);
	json_cstr(out, buf);
}

static void json_ports(FILE *out, const struct reg_port *p, size_t n)
{
	fputc('{', out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s\"%u\": %u", i ? ", " : "", p[i].port, p[i].target);
	fputc('}', out);
}

/* An object's opening string members: "{\"k1\": v1, \"k2\": v2 ..." from n key, value pairs. */
static void json_open_members(FILE *out, const char *const *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "%s\"%s\": ", i ? ", " : "{", kv[2 * i]);
		json_cstr(out, kv[2 * i + 1]);
	}
}

static void dump_service(FILE *out, const struct reg_service *s)
{
	const char *kv[] = { "name", s->name, "namespace", s->namespace, "hostname", s->hostname };

	json_open_members(out, kv, 3);
	fputs(", \"vips\": [", out);
	for (size_t i = 0; i < s->n_vips; i++) {
		fputs(i ? ", " : "", out);
		json_ip(out, s->vips[i].network, &s->vips[i].ip);
	}
	fputs("], \"ports\": ", out);
	json_ports(out, s->ports, s->n_ports);
	fputc('}', out);
}

static void dump_workload(FILE *out, const struct reg_workload *w)
{
	const char *kv[] = { "uid", w->uid, "name", w->name, "namespace", w->namespace,
			     "serviceAccount", w->service_account };

	json_open_members(out, kv, 4);
	fprintf(out, ", \"protocol\": \"%s\", \"workloadIps\": [",
		w->protocol == REG_PROTO_HBONE ? "HBONE" : "TCP");
	for (size_t i = 0; i < w->n_ips; i++) {
		fputs(i ? ", " : "", out);
		json_ip(out, NULL, &w->ips[i]);
	}
	fputs("], \"services\": {", out);
	for (size_t i = 0; i < w->n_services; i++) {
		char key[600];

		snprintf(key, sizeof(key), "%s/%s", w->services[i].namespace, w->services[i].hostname);
		fputs(i ? ", " : "", out);
		json_cstr(out, key);
		fputs(": ", out);
		json_ports(out, w->services[i].ports, w->services[i].n_ports);
	}
	fputs("}}", out);
}

static void dump_registry(FILE *out, const struct registry *reg)
{
	const struct reg_service *s;
	const struct reg_workload *w;
	size_t i;

	if (!reg) {
		fputs("null", out);
		return;
	}
	fputs("{\n    \"source\": ", out);
	json_cstr(out, reg->source);
	fputs(",\n    \"services\": [", out);
	for (i = 0; (s = registry_service_at(reg, i)); i++) {
		fputs(i ? ",\n      " : "\n      ", out);
		dump_service(out, s);
	}
	fputs(i ? "\n    ],\n    \"workloads\": [" : "],\n    \"workloads\": [", out);
	for (i = 0; (w = registry_workload_at(reg, i)); i++) {
		fputs(i ? ",\n      " : "\n      ", out);
		dump_workload(out, w);
	}
	fprintf(out, "%s],\n    \"policies\": %zu\n  }", i ? "\n    " : "", reg->n_policies);
}

void dns_report_config(const struct daemon *d, FILE *out)
{
	const struct dns_opts *o = &d->cfg.dns;
	size_t i;

	fputs("  \"dns\": {\"enabled\": ", out);
	json_bool(out, d->cfg.profile == PROFILE_AMBIENT);
	fputs(", \"registry_file\": ", out);
	json_cstr(out, o->registry);
	fputs(", \"upstreams\": [", out);
	for (i = 0; i < o->n_up; i++) {
		fputs(i ? ", " : "", out);
		json_cstr(out, o->up[i].text);
	}
	fprintf(out, "], \"timeout_seconds\": %g, \"cluster_domain\": ", o->timeout);
	json_cstr(out, o->cluster_domain);
	fprintf(out, ", \"forward_netns\": \"%s\", \"reloads\": %" PRIu64 ", \"reload_failures\": %" PRIu64 "},\n",
		o->from_daemon ? "daemon" : "pod", d->dns ? d->dns->reloads : 0,
		d->dns ? d->dns->reload_failures : 0);
	fputs("  \"registry\": ", out);
	dump_registry(out, d->dns ? d->dns->reg : NULL);
	fputs(",\n", out);
}

/* One counter of every row; field: 0 requests, 1 upstream, 2 failures. */
static void counter(const struct prom *pm, const struct dns_state *s, const char *name,
		    const char *help, int field)
{
	FILE *out = pm->out;

	prom_family(pm, name, "counter", help);
	for (size_t i = 0; i < s->n_rows; i++) {
		const struct dns_row *r = &s->rows[i];
		uint64_t v = field == 0 ? r->requests : field == 1 ? r->upstream : r->failures;

		fprintf(out, "%s_total{request_query_type=\"%s\",request_protocol=\"%s\",source_canonical_service=\"unknown\",source_canonical_revision=\"unknown\"} %" PRIu64 "\n",
			name, r->qtype, r->tcp ? "tcp" : "udp", v);
	}
}

static void histogram(const struct prom *pm, const struct dns_state *s)
{
	const char *name = "istio_dns_upstream_request_duration_seconds";
	FILE *out = pm->out;

	prom_family(pm, name, "histogram",
		    "Total time in seconds Istio takes to get DNS response from upstream (unstable)");
	for (size_t i = 0; i < s->n_rows; i++) {
		const struct dns_row *r = &s->rows[i];
		char labels[128];
		uint64_t cum = 0;

		snprintf(labels, sizeof(labels), "request_query_type=\"%s\",request_protocol=\"%s\"", r->qtype,
			 r->tcp ? "tcp" : "udp");
		for (int b = 0; b <= DNS_BUCKETS; b++) {
			cum += r->buckets[b];
			if (b == DNS_BUCKETS)
				fprintf(out, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, labels, cum);
			else
				fprintf(out, "%s_bucket{%s,le=\"%g\"} %" PRIu64 "\n", name, labels,
					dns_bucket_bounds[b], cum);
		}
		fprintf(out, "%s_sum{%s} %.6f\n%s_count{%s} %" PRIu64 "\n", name, labels, r->sum, name,
			labels, cum);
	}
}

void dns_report_metrics(const struct daemon *d, const struct prom *pm)
{
	const struct dns_state *s = d->dns;

	if (!s)
		return;
	counter(pm, s, "istio_dns_requests", "Total number of DNS requests (unstable)", 0);
	counter(pm, s, "istio_dns_upstream_requests",
		"Total number of DNS requests forwarded to upstream (unstable)", 1);
	counter(pm, s, "istio_dns_upstream_failures",
		"Total number of DNS failures forwarding to upstream (unstable)", 2);
	histogram(pm, s);
	prom_family(pm, "ztunnel_emulator_dns_dropped", "counter",
		    "DNS queries dropped unanswered: malformed, oversized, responses, over the TCP limit");
	fprintf(pm->out, "ztunnel_emulator_dns_dropped_total %" PRIu64 "\n", s->dropped);
}
