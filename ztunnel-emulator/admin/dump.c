/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /config_dump's ztunnel-shaped keys, as istioctl ztunnel-config reads them
 * (workloads[].{uid, workloadIps, protocol, name, namespace, serviceAccount,
 * node, status}; workloadState{uid: {state, connections, info}}) and ztunnel's
 * camelCase config. The emulator has no XDS: a workload is an enrolled pod.
 * Interface: admin/dump.h.
 */
#include <limits.h>
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

void dump_workloads(const struct daemon *d, struct pod *const *v, size_t n, FILE *out)
{
	char host[HOST_NAME_MAX + 1] = "";
	size_t i;

	gethostname(host, sizeof(host) - 1);
	fputc('[', out);
	for (i = 0; v && i < n; i++) {
		fputs(i ? ",\n    {\"uid\": " : "\n    {\"uid\": ", out);
		json_str(out, v[i]->uid, v[i]->uid_len);
		fputs(", \"workloadIps\": ", out);
		hbone_report_pod_ips(v[i], out);
		/* ambient pods are reached over HBONE; the walk-thru relays plain TCP */
		fprintf(out, ", \"protocol\": \"%s\", ", d->hbone ? "HBONE" : "TCP");
		pod_strings(v[i], out);
		fputs(", \"workloadType\": \"pod\", \"node\": ", out);
		json_cstr(out, host);
		fputs(", \"status\": \"Healthy\"}", out);
	}
	fputs(n ? "\n  ]" : "]", out);
}

static void addr_or_null(FILE *out, const struct http_addr *a)
{
	json_cstr(out, a->enabled ? a->text : NULL);
}

void dump_config(const struct daemon *d, FILE *out)
{
	fputs("{\n    \"proxyMode\": \"Shared\",\n    \"inpodUds\": ", out);
	json_cstr(out, d->cfg.socket_path);
	fprintf(out, ",\n    \"inpodPortReuse\": %s,\n    \"packetMark\": %u,\n    \"adminAddr\": ",
		d->cfg.port_reuse ? "true" : "false", (unsigned)d->cfg.mark);
	addr_or_null(out, &d->cfg.admin);
	fputs(",\n    \"readinessAddr\": ", out);
	addr_or_null(out, &d->cfg.ready);
	fputs(",\n    \"statsAddr\": ", out);
	addr_or_null(out, &d->cfg.metrics);
	fprintf(out, ",\n    \"dnsProxy\": %s\n  }", d->cfg.profile == PROFILE_AMBIENT ? "true" : "false");
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
		fprintf(out, ": {\"state\": \"%s\", ", p->state == POD_UP ? "Up" : "Pending");
		if (p->state == POD_UP) {
			fputs("\"connections\": {\"inbound\": ", out);
			relay_report_conns(p, true, out);
			fputs(", \"outbound\": ", out);
			relay_report_conns(p, false, out);
			fputs("}, ", out);
		}
		fputs("\"info\": {", out);
		pod_strings(p, out);
		fputs("}}", out);
	}
	fputs(n ? "\n  }" : "}", out);
}
