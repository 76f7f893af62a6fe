/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: how inspect shows what it collected: the human view and --json.
 * Never touches: the netns, the daemon (it only reads struct inspect).
 * Interface: inspect/inspect.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <sys/socket.h>
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

/* Is istio-cni's ip -6 rule (fwmark 0x111/0xfff lookup 100) there? */
static bool has_rule6(const struct inspect *in)
{
	size_t i;

	for (i = 0; i < in->pol.nrules; i++) {
		const struct rd_ip_rule *r = &in->pol.rules[i];

		if (r->family == AF_INET6 && r->has_fwmark && r->fwmark == RD_CONNMARK &&
		    r->fwmask == RD_MASK && r->table == RD_ROUTE_TABLE)
			return true;
	}
	return false;
}

/*
 * Fault 6: whether the pod's IPv6 traffic escapes the rules, in words, or
 * NULL when it is captured (or nothing is captured at all).
 */
static const char *ipv6_note(const struct inspect *in)
{
	if (in->ipv6 == 0 || in->ipv6 == -ENOENT)
		return "IPv6 not captured: lo has no IPv6 in this pod";
	/* nftables: the inet tables redirect IPv6; marked packets need the ip -6 rule too */
	if (in->inet)
		return in->ipv6 == 1 && !in->rules_ret && !in->variant_ret && !in->pol_ret &&
				       !has_rule6(in) ?
			       "IPv6 partly captured: lo has IPv6 and the inet tables redirect it, "
			       "but there is no ip -6 rule fwmark 0x111/0xfff lookup 100, so marked "
			       "IPv6 packets miss the proxy (add again installs it)" :
			       NULL;
	if (in->ipv6 == 1 && !in->rules_ret && !in->variant_ret && !in->rules6_ret &&
	    in->variant6_ret == -ENOENT)
		return "IPv6 not captured: lo has IPv6 but there are no ip6tables rules, so the "
		       "pod's IPv6 traffic bypasses the proxy";
	return NULL;
}

/* {"table": ..., "chain": ... */
static void json_table_chain(FILE *f, const struct rd_entry *e)
{
	fputs("{\"table\": ", f);
	json_cstr(f, e->table);
	fputs(", \"chain\": ", f);
	json_cstr(f, e->chain);
}

/*
 * "iptables", "ip6tables" or "nftables" (the inet tables, both families):
 * {"variant", "dns_capture", "chains", "rules", "error"}
 */
static void json_iptables(FILE *f, const char *key, const struct rd_rules *rules, int ret,
			  const char *err, int variant_ret, enum rd_variant variant, bool dns)
{
	size_t i, k;

	fprintf(f, ",\n  \"%s\": {\"variant\": ", key);
	if (!ret && !variant_ret)
		fprintf(f, "\"%s\", \"dns_capture\": %s", rd_variant_name(variant),
			dns ? "true" : "false");
	else if (!ret && variant_ret == -ENOMSG)
		fputs("\"unknown\", \"dns_capture\": null", f);
	else
		fputs("null, \"dns_capture\": null", f);
	fputs(", \"chains\": [", f);
	for (i = 0, k = 0; i < rules->n; i++) {
		if (rules->e[i].rule)
			continue;
		fputs(k++ ? ", " : "", f);
		json_table_chain(f, &rules->e[i]);
		fputc('}', f);
	}
	fputs("],\n    \"rules\": [", f);
	for (i = 0, k = 0; i < rules->n; i++) {
		const struct rd_entry *e = &rules->e[i];

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
	json_err(f, ret, err);
	fputc('}', f);
}

/* The rules (ip rules) or the routes of one family, as a JSON array. */
static void json_policy_list(FILE *f, const struct inspect *in, bool routes, uint8_t family)
{
	char line[256];
	size_t i, k = 0;

	fputc('[', f);
	for (i = 0; !routes && i < in->pol.nrules; i++) {
		const struct rd_ip_rule *r = &in->pol.rules[i];

		if (r->family != family)
			continue;
		rd_format_ip_rule(r, line, sizeof(line));
		fprintf(f, "%s{\"priority\": %" PRIu32 ", \"fwmark\": ", k++ ? ", " : "", r->priority);
		if (r->has_fwmark)
			fprintf(f, "\"%#" PRIx32 "/%#" PRIx32 "\"", r->fwmark, r->fwmask);
		else
			fputs("null", f);
		fprintf(f, ", \"table\": %" PRIu32 ", \"text\": ", r->table);
		json_cstr(f, line);
		fputc('}', f);
	}
	for (i = 0; routes && i < in->pol.nroutes; i++) {
		const struct rd_route *r = &in->pol.routes[i];

		if (r->family != family)
			continue;
		rd_format_route(r, line, sizeof(line));
		fprintf(f, "%s{\"table\": %" PRIu32 ", \"dev\": ", k++ ? ", " : "", r->table);
		json_cstr(f, r->dev);
		fputs(", \"text\": ", f);
		json_cstr(f, line);
		fputc('}', f);
	}
	fputc(']', f);
}

/* "policy_routing": {"rules", "routes", "rules6", "routes6", "error"}; "ipv6": {"lo", "captured"} */
static void json_policy(FILE *f, const struct inspect *in)
{
	fputs(",\n  \"policy_routing\": {\"rules\": ", f);
	json_policy_list(f, in, false, AF_INET);
	fputs(",\n    \"routes\": ", f);
	json_policy_list(f, in, true, AF_INET);
	fputs(",\n    \"rules6\": ", f);
	json_policy_list(f, in, false, AF_INET6);
	fputs(",\n    \"routes6\": ", f);
	json_policy_list(f, in, true, AF_INET6);
	fputs(", \"error\": ", f);
	json_err(f, in->pol_ret, in->pol_err);
	fputs("},\n  \"ipv6\": {\"lo\": ", f);
	fputs(in->ipv6 == 1 ? "true" : in->ipv6 == 0 || in->ipv6 == -ENOENT ? "false" : "null", f);
	fputs(", \"captured\": ", f);
	if (in->inet)
		json_bool(f, in->ipv6 == 1 && !in->rules_ret && !in->variant_ret && has_rule6(in));
	else
		json_bool(f, in->ipv6 == 1 && !in->rules6_ret && !in->variant6_ret);
	fputs(", \"note\": ", f);
	json_cstr(f, ipv6_note(in));
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
	/* the key names the backend inspect read */
	json_iptables(f, in->inet ? "nftables" : "iptables", &in->rules, in->rules_ret,
		      in->rules_err, in->variant_ret, in->variant, in->dns);
	if (!in->inet)
		json_iptables(f, "ip6tables", &in->rules6, in->rules6_ret, in->rules6_err,
			      in->variant6_ret, in->variant6, in->dns6);
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
		fputs(", \"identity\": ", f);
		json_cstr(f, in->pod.identity[0] ? in->pod.identity : NULL);
		fputs(", \"certExpiry\": ", f);
		json_cstr(f, in->pod.cert_expiry[0] ? in->pod.cert_expiry : NULL);
		fputc('}', f);
	} else {
		fputs("null", f);
	}
	fputs("\n}\n", f);
}

/* "iptables: <variant>, DNS capture on" and the chains and rules per table */
static void human_iptables(FILE *f, const char *label, const char *objects,
			   const struct rd_rules *rules, int ret, const char *err, int variant_ret,
			   enum rd_variant variant, bool dns)
{
	const char *table = NULL;
	size_t i, k;

	if (ret) {
		fprintf(f, "%s:\n  error: %s\n", label, err);
		return;
	}
	if (variant_ret == -ENOENT) {
		fprintf(f, "%s: no %s\n", label, objects);
		return;
	}
	if (variant_ret)
		fprintf(f, "%s: %s matching no known variant\n", label, objects);
	else
		fprintf(f, "%s: %s variant, DNS capture %s\n", label, rd_variant_name(variant),
			dns ? "on" : "off");
	for (i = 0; i < rules->n; i++) {
		const struct rd_entry *e = &rules->e[i];

		if (table && !strcmp(table, e->table))
			continue;
		table = e->table;
		fprintf(f, "  %s: chains", table);
		for (k = i; k < rules->n; k++)
			if (!rules->e[k].rule && rules->e[k].chain[0] &&
			    !strcmp(rules->e[k].table, table))
				fprintf(f, " %s", rules->e[k].chain);
		fprintf(f, "\n  %10s %12s  %s\n", "pkts", "bytes", "rule");
		for (k = i; k < rules->n; k++)
			if (rules->e[k].rule && !strcmp(rules->e[k].table, table))
				fprintf(f, "  %10" PRIu64 " %12" PRIu64 "  %s\n", rules->e[k].packets,
					rules->e[k].bytes, rules->e[k].rule);
	}
}

/* The ip rules and table-100 routes of one family, under their headings */
static void human_policy(FILE *f, const struct inspect *in, uint8_t family, const char *rules_h,
			 const char *routes_h)
{
	char line[256];
	size_t i, n;

	fprintf(f, "%s\n", rules_h);
	if (in->pol_ret)
		fprintf(f, "  error: %s\n", in->pol_err);
	for (i = 0, n = 0; i < in->pol.nrules; i++) {
		if (in->pol.rules[i].family != family)
			continue;
		rd_format_ip_rule(&in->pol.rules[i], line, sizeof(line));
		fprintf(f, "  %s\n", line);
		n++;
	}
	if (!in->pol_ret && !n)
		fputs("  (none)\n", f);
	fprintf(f, "%s\n", routes_h);
	if (in->pol_ret)
		fprintf(f, "  error: %s\n", in->pol_err);
	for (i = 0, n = 0; i < in->pol.nroutes; i++) {
		if (in->pol.routes[i].family != family)
			continue;
		rd_format_route(&in->pol.routes[i], line, sizeof(line));
		fprintf(f, "  %s\n", line);
		n++;
	}
	if (!in->pol_ret && !n)
		fputs("  (none)\n", f);
}

void print_human(FILE *f, const struct inspect *in)
{
	char q[300];
	size_t i;

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

	if (in->inet)
		human_iptables(f, "nftables", "istio-ambient tables", &in->rules, in->rules_ret,
			       in->rules_err, in->variant_ret, in->variant, in->dns);
	else
		human_iptables(f, "iptables", "ISTIO_* chains", &in->rules, in->rules_ret,
			       in->rules_err, in->variant_ret, in->variant, in->dns);
	if (!in->inet && in->rules6_ret != -ENOENT)
		human_iptables(f, "ip6tables", "ISTIO_* chains", &in->rules6, in->rules6_ret,
			       in->rules6_err, in->variant6_ret, in->variant6, in->dns6);
	if (ipv6_note(in))
		fprintf(f, "%s\n", ipv6_note(in));
	human_policy(f, in, AF_INET, "ip rules (fwmark or table 100):", "routes (table 100):");
	human_policy(f, in, AF_INET6, "ip -6 rules (fwmark or table 100):",
		     "IPv6 routes (table 100):");

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
	if (in->reachable && !in->http_ret && in->enrolled && in->pod.identity[0])
		fprintf(f, "identity: %s (HBONE certificate, expires %s)\n", in->pod.identity,
			in->pod.cert_expiry[0] ? in->pod.cert_expiry : "unknown");
	else
		fprintf(f, "enrolled: no: none of the %zu pod%s at %s has this netns\n", in->npods,
			in->npods == 1 ? "" : "s", in->url.text);
	if (in->verdict[0])
		fprintf(f, "verdict: %s\n", in->verdict);
}
