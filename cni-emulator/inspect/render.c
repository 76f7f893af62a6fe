/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: how inspect shows what it collected: the human view and --json.
 * Never touches: the netns, the daemon (it only reads struct inspect).
 * Interface: inspect/inspect.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "inspect.h"
#include "json.h"
#include "log.h"

/* The reason when ret says something failed, else null. */
static void json_err(FILE *f, int ret, const char *err)
{
	json_cstr(f, ret ? err : NULL);
}

static void owners_text(FILE *f, const struct lsock *l)
{
	size_t k;

	if (!l->nowners)
		return;
	fputs(" users:(", f);
	for (k = 0; k < l->nowners; k++)
		fprintf(f, "%s(\"%s\",pid=%d,fd=%d)", k ? "," : "", l->owners[k].comm,
			l->owners[k].pid, l->owners[k].fd);
	fputc(')', f);
}

/* "listeners": [...], "listeners_error": ... */
static void json_listeners(FILE *f, const struct inspect *in)
{
	size_t i, k;

	fputs("  \"listeners\": [", f);
	for (i = 0; i < in->ls.n; i++) {
		const struct lsock *l = &in->ls.v[i];

		fprintf(f, "%s\n    {\"protocol\": ", i ? "," : "");
		json_cstr(f, l->proto);
		fputs(", \"state\": ", f);
		json_cstr(f, l->state);
		fputs(", \"address\": ", f);
		json_cstr(f, l->local);
		fprintf(f, ", \"inode\": %" PRIu32 ", \"uid\": %" PRIu32 ", \"owners\": [", l->inode,
			l->uid);
		for (k = 0; k < l->nowners; k++) {
			fprintf(f, "%s{\"comm\": ", k ? ", " : "");
			json_cstr(f, l->owners[k].comm);
			fprintf(f, ", \"pid\": %d, \"fd\": %d}", l->owners[k].pid, l->owners[k].fd);
		}
		fputs("]}", f);
	}
	fputs(in->ls.n ? "\n  ],\n  \"listeners_error\": " : "],\n  \"listeners_error\": ", f);
	json_err(f, in->ls_ret, in->ls_err);
}

/* {"table": ..., "chain": ... */
static void json_table_chain(FILE *f, const struct rd_entry *e)
{
	fputs("{\"table\": ", f);
	json_cstr(f, e->table);
	fputs(", \"chain\": ", f);
	json_cstr(f, e->chain);
}

/* "iptables" or "nftables": {"variant", "dns_capture", "chains", "rules", "error"} */
static void json_iptables(FILE *f, const struct inspect *in)
{
	size_t i, k;

	/* the key names the backend inspect read: "iptables" or "nftables" */
	fprintf(f, ",\n  \"%s\": {\"variant\": ", rd_backend_name(rd_get_backend()));
	if (!in->rules_ret && !in->variant_ret)
		fprintf(f, "\"%s\", \"dns_capture\": %s", rd_variant_name(in->variant),
			in->dns ? "true" : "false");
	else if (!in->rules_ret && in->variant_ret == -ENOMSG)
		fputs("\"unknown\", \"dns_capture\": null", f);
	else
		fputs("null, \"dns_capture\": null", f);
	fputs(", \"chains\": [", f);
	for (i = 0, k = 0; i < in->rules.n; i++) {
		if (in->rules.e[i].rule)
			continue;
		fputs(k++ ? ", " : "", f);
		json_table_chain(f, &in->rules.e[i]);
		fputc('}', f);
	}
	fputs("],\n    \"rules\": [", f);
	for (i = 0, k = 0; i < in->rules.n; i++) {
		const struct rd_entry *e = &in->rules.e[i];

		if (!e->rule)
			continue;
		fputs(k++ ? ",\n      " : "\n      ", f);
		json_table_chain(f, e);
		fprintf(f, ", \"packets\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"rule\": ",
			e->packets, e->bytes);
		json_cstr(f, e->rule);
		fputc('}', f);
	}
	fputs(k ? "\n    ], \"error\": " : "], \"error\": ", f);
	json_err(f, in->rules_ret, in->rules_err);
}

/* "policy_routing": {"rules", "routes", "error"} */
static void json_policy(FILE *f, const struct inspect *in)
{
	char line[256];
	size_t i;

	fputs("},\n  \"policy_routing\": {\"rules\": [", f);
	for (i = 0; i < in->pol.nrules; i++) {
		const struct rd_ip_rule *r = &in->pol.rules[i];

		rd_format_ip_rule(r, line, sizeof(line));
		fprintf(f, "%s{\"priority\": %" PRIu32 ", \"fwmark\": ", i ? ", " : "", r->priority);
		if (r->has_fwmark)
			fprintf(f, "\"%#" PRIx32 "/%#" PRIx32 "\"", r->fwmark, r->fwmask);
		else
			fputs("null", f);
		fprintf(f, ", \"table\": %" PRIu32 ", \"text\": ", r->table);
		json_cstr(f, line);
		fputc('}', f);
	}
	fputs("],\n    \"routes\": [", f);
	for (i = 0; i < in->pol.nroutes; i++) {
		const struct rd_route *r = &in->pol.routes[i];

		rd_format_route(r, line, sizeof(line));
		fprintf(f, "%s{\"table\": %" PRIu32 ", \"dev\": ", i ? ", " : "", r->table);
		json_cstr(f, r->dev);
		fputs(", \"text\": ", f);
		json_cstr(f, line);
		fputc('}', f);
	}
	fputs("], \"error\": ", f);
	json_err(f, in->pol_ret, in->pol_err);
}

/* "daemon": {"url", "reachable", "pods", "error"[, "socket"]} */
static void json_daemon(FILE *f, const struct inspect *in)
{
	fputs("},\n  \"daemon\": {\"url\": ", f);
	json_cstr(f, in->url.text);
	fputs(", \"reachable\": ", f);
	json_bool(f, in->reachable);
	fputs(", \"pods\": ", f);
	if (!in->http_ret)
		fprintf(f, "%zu", in->npods);
	else
		fputs("null", f);
	fputs(", \"error\": ", f);
	json_err(f, in->http_ret, in->http_err);
	if (in->sock) {
		fputs(", \"socket\": {\"path\": ", f);
		json_cstr(f, in->sock);
		fputs(", \"hello\": ", f);
		json_bool(f, !in->sock_ret);
		fputs(", \"error\": ", f);
		json_err(f, in->sock_ret, in->sock_err);
		fputc('}', f);
	}
}

void print_json(FILE *f, const struct inspect *in)
{
	fputs("{\n  \"netns\": {\"spec\": ", f);
	json_cstr(f, in->spec);
	fputs(", \"name\": ", f);
	json_cstr(f, in->name);
	fputs(", \"path\": ", f);
	json_cstr(f, in->path);
	fprintf(f, ", \"dev\": \"%u:%u\", \"inode\": %" PRIu64 "},\n", major(in->id.dev),
		minor(in->id.dev), (uint64_t)in->id.ino);
	json_listeners(f, in);
	json_iptables(f, in);
	json_policy(f, in);
	json_daemon(f, in);
	fputs("},\n  \"enrolled\": ", f);
	fputs(in->http_ret ? "null" : in->enrolled ? "true" : "false", f);
	fputs(",\n  \"verdict\": ", f);
	json_cstr(f, in->verdict[0] ? in->verdict : NULL);
	fputs(",\n  \"pod\": ", f);
	if (!in->http_ret && in->enrolled) {
		fputs("{\"uid\": ", f);
		json_cstr(f, in->pod.uid);
		fputs(", \"state\": ", f);
		json_cstr(f, in->pod.state);
		fputc('}', f);
	} else {
		fputs("null", f);
	}
	fputs("\n}\n", f);
}

void print_human(FILE *f, const struct inspect *in)
{
	char line[256], q[300];
	const char *table = NULL, *backend = rd_backend_name(rd_get_backend());
	const char *objects = rd_get_backend() == RD_NFTABLES ? "istio-ambient tables" : "ISTIO_* chains";
	size_t i, k;

	fprintf(f, "netns: %s (%s, inode %" PRIu64 ")\n", in->name ? in->name : in->spec, in->path,
		(uint64_t)in->id.ino);

	fputs("listeners:\n", f);
	if (in->ls_ret)
		fprintf(f, "  error: %s\n", in->ls_err);
	else if (!in->ls.n)
		fputs("  (none)\n", f);
	for (i = 0; i < in->ls.n; i++) {
		fprintf(f, "  %s %-6s %-24s", in->ls.v[i].proto, in->ls.v[i].state, in->ls.v[i].local);
		owners_text(f, &in->ls.v[i]);
		fputc('\n', f);
	}

	if (in->rules_ret) {
		fprintf(f, "%s:\n  error: %s\n", backend, in->rules_err);
	} else if (in->variant_ret == -ENOENT) {
		fprintf(f, "%s: no %s\n", backend, objects);
	} else {
		if (in->variant_ret)
			fprintf(f, "%s: %s matching no known variant\n", backend, objects);
		else
			fprintf(f, "%s: %s variant, DNS capture %s\n", backend,
				rd_variant_name(in->variant), in->dns ? "on" : "off");
		for (i = 0; i < in->rules.n; i++) {
			const struct rd_entry *e = &in->rules.e[i];

			if (table && !strcmp(table, e->table))
				continue;
			table = e->table;
			fprintf(f, "  %s: chains", table);
			for (k = i; k < in->rules.n; k++)
				if (!in->rules.e[k].rule && in->rules.e[k].chain[0] &&
				    !strcmp(in->rules.e[k].table, table))
					fprintf(f, " %s", in->rules.e[k].chain);
			fprintf(f, "\n  %10s %12s  %s\n", "pkts", "bytes", "rule");
			for (k = i; k < in->rules.n; k++)
				if (in->rules.e[k].rule && !strcmp(in->rules.e[k].table, table))
					fprintf(f, "  %10" PRIu64 " %12" PRIu64 "  %s\n",
						in->rules.e[k].packets, in->rules.e[k].bytes,
						in->rules.e[k].rule);
		}
	}

	fputs("ip rules (fwmark or table 100):\n", f);
	if (in->pol_ret)
		fprintf(f, "  error: %s\n", in->pol_err);
	else if (!in->pol.nrules)
		fputs("  (none)\n", f);
	for (i = 0; i < in->pol.nrules; i++) {
		rd_format_ip_rule(&in->pol.rules[i], line, sizeof(line));
		fprintf(f, "  %s\n", line);
	}
	fputs("routes (table 100):\n", f);
	if (in->pol_ret)
		fprintf(f, "  error: %s\n", in->pol_err);
	else if (!in->pol.nroutes)
		fputs("  (none)\n", f);
	for (i = 0; i < in->pol.nroutes; i++) {
		rd_format_route(&in->pol.routes[i], line, sizeof(line));
		fprintf(f, "  %s\n", line);
	}

	if (in->sock && !in->sock_ret)
		fprintf(f, "daemon socket: %s answers (ZDS v1 hello)\n", in->sock);
	else if (in->sock)
		fprintf(f, "daemon socket: %s: %s\n", in->sock, in->sock_err);
	if (!in->reachable)
		fprintf(f, "enrolled: unknown: daemon not reachable at %s: %s\n", in->url.text,
			in->http_err);
	else if (in->http_ret)
		fprintf(f, "enrolled: unknown: the daemon at %s: %s\n", in->url.text, in->http_err);
	else if (in->enrolled)
		fprintf(f, "enrolled: yes, pod %s (%s) at %s\n",
			log_quote(q, sizeof(q), in->pod.uid, strlen(in->pod.uid)), in->pod.state,
			in->url.text);
	else
		fprintf(f, "enrolled: no: none of the %zu pod%s at %s has this netns\n", in->npods,
			in->npods == 1 ? "" : "s", in->url.text);
	if (in->verdict[0])
		fprintf(f, "verdict: %s\n", in->verdict);
}
