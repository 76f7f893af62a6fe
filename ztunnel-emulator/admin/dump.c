/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /config_dump's ztunnel-shaped keys, as istioctl ztunnel-config reads them
 * (workloads[].{uid, workloadIps, protocol, name, namespace, serviceAccount,
 * node, status}; workloadState{uid: {state, connections, info}}) and ztunnel's
 * camelCase config. The emulator has no XDS: a workload is an enrolled pod.
 * Interface: admin/dump.h.
 */
#include <limits.h>
#include <stdbool.h>
#include <unistd.h>

#include "admin/dump.h"
#include "admin/report.h"
#include "daemon.h"
#include "hbone/hbone.h"
#include "json.h"

static void pod_strings(const struct pod *p, FILE *out)
{
	fputs("\"name\": ", out);
	json_cstr(out, p->name);
	fputs(", \"namespace\": ", out);
	json_cstr(out, p->namespace_);
	fputs(", \"serviceAccount\": ", out);
	json_cstr(out, p->service_account);
}

void dump_workload(const struct daemon *d, const struct pod *p, const char *host, FILE *out)
{
	fputs("{\"uid\": ", out);
	json_str(out, p->uid, p->uid_len);
	fputs(", \"workloadIps\": ", out);
	hbone_report_pod_ips(p, out);
	/* ambient pods are reached over HBONE; the walk-thru relays plain TCP */
	fprintf(out, ", \"protocol\": \"%s\", ", d->hbone ? "HBONE" : "TCP");
	pod_strings(p, out);
	fputs(", \"workloadType\": \"pod\", \"node\": ", out);
	json_cstr(out, host);
	fputs(", \"status\": \"Healthy\"}", out);
}

void dump_workloads(const struct daemon *d, struct pod *const *v, size_t n, FILE *out)
{
	char host[HOST_NAME_MAX + 1] = "";
	size_t i;

	gethostname(host, sizeof(host) - 1);
	fputc('[', out);
	for (i = 0; v && i < n; i++) {
		fputs(i ? ",\n    " : "\n    ", out);
		dump_workload(d, v[i], host, out);
	}
	fputs(n ? "\n  ]" : "]", out);
}

static void addr_or_null(FILE *out, const struct http_addr *a)
{
	json_cstr(out, a->enabled ? a->text : NULL);
}

/*
 * ztunnel's Config by its release's names (observability.md 3): 1.21
 * snake_case inpod_*, 1.22 camelCase inpod*, >= 1.23 packetMark and no
 * inpodEnabled.
 */
void dump_config(const struct daemon *d, FILE *out)
{
	enum release_dump form = d->cfg.rel->dump;
	bool snake = form == DUMP_121;

	fprintf(out, "{\n    \"%s\": \"Shared\",\n", snake ? "proxy_mode" : "proxyMode");
	if (form != DUMP_ARRAYS)
		fprintf(out, "    \"%s\": true,\n", snake ? "inpod_enabled" : "inpodEnabled");
	fprintf(out, "    \"%s\": ", snake ? "inpod_uds" : "inpodUds");
	json_cstr(out, d->cfg.socket_path);
	fprintf(out, ",\n    \"%s\": %s,\n    \"%s\": %u,\n    \"%s\": ",
		snake ? "inpod_port_reuse" : "inpodPortReuse", d->cfg.port_reuse ? "true" : "false",
		snake ? "inpod_mark" : form == DUMP_MAPS ? "inpodMark" : "packetMark",
		(unsigned)d->cfg.mark, snake ? "admin_addr" : "adminAddr");
	addr_or_null(out, &d->cfg.admin);
	fprintf(out, ",\n    \"%s\": ", snake ? "readiness_addr" : "readinessAddr");
	addr_or_null(out, &d->cfg.ready);
	fprintf(out, ",\n    \"%s\": ", snake ? "stats_addr" : "statsAddr");
	addr_or_null(out, &d->cfg.metrics);
	fprintf(out, ",\n    \"%s\": %s\n  }", snake ? "dns_proxy" : "dnsProxy",
		d->cfg.dns_proxy && d->cfg.profile == PROFILE_AMBIENT ? "true" : "false");
}

void dump_workload_state(struct pod *const *v, size_t n, FILE *out)
{
	size_t i;

	fputc('{', out);
	for (i = 0; v && i < n; i++) {
		const struct pod *p = v[i];

		fputs(i ? ",\n    " : "\n    ", out);
		json_str(out, p->uid, p->uid_len);
		/* ztunnel knows Pending and Up; a start under way is still pending */
		fprintf(out, ": {\"state\": \"%s\"", p->state == POD_UP ? "Up" : "Pending");
		if (p->state == POD_UP) {
			fputs(", \"connections\": {\"inbound\": ", out);
			relay_report_conns(p, true, out);
			fputs(", \"outbound\": ", out);
			relay_report_conns(p, false, out);
			fputc('}', out);
		}
		if (!p->no_info) {	/* absent after an Add without workload_info (1.22-1.23) */
			fputs(", \"info\": {", out);
			pod_strings(p, out);
			fputc('}', out);
		}
		fputc('}', out);
	}
	fputs(n ? "\n  }" : "}", out);
}
