/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /config_dump's ztunnel part as 1.21 and 1.22 shaped it (observability.md
 * 3; ztunnel src/admin.rs, src/state.rs at 1.21.0 and 1.22.0), and 1.21's
 * separate GET /workloadmanager. 1.21 flattened its stores' own maps into
 * the top level with snake_case names (by_addr, by_uid, ...); 1.22 names
 * them workloads/services/stagedServices/policies, each an object keyed by
 * network address ("/198.18.0.2"), and adds workloadState. Reads only.
 * Interface: admin/dump.h.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <unistd.h>

#include "admin/dump.h"
#include "daemon.h"
#include "hbone/hbone.h"
#include "json.h"

/* Each of a pod's addresses as a key "/IP" (the default network is empty) to its workload. */
static size_t by_addr(const struct daemon *d, struct pod *const *v, size_t n, const char *host,
		      FILE *out)
{
	char ip[INET6_ADDRSTRLEN];
	size_t i, k, shown = 0;

	for (i = 0; v && i < n; i++)
		for (k = 0; k < hbone_pod_ip(v[i], k, ip, sizeof(ip)); k++) {
			fprintf(out, "%s\"/%s\": ", shown++ ? ",\n    " : "\n    ", ip);
			dump_workload(d, v[i], host, out);
		}
	return shown;
}

static void by_uid(const struct daemon *d, struct pod *const *v, size_t n, const char *host,
		   FILE *out)
{
	size_t i;

	fputc('{', out);
	for (i = 0; v && i < n; i++) {
		fputs(i ? ",\n    " : "\n    ", out);
		json_str(out, v[i]->uid, v[i]->uid_len);
		fputs(": ", out);
		dump_workload(d, v[i], host, out);
	}
	fputs(n ? "\n  }" : "}", out);
}

/* 1.21: the stores' maps flattened, then static_config, version, config, certificates. */
static void dump_121(const struct daemon *d, struct pod *const *v, size_t n, const char *host,
		     FILE *out)
{
	fputs("{\n  \"by_addr\": {", out);
	fputs(by_addr(d, v, n, host, out) ? "\n  },\n  \"by_uid\": " : "},\n  \"by_uid\": ", out);
	by_uid(d, v, n, host, out);
	fputs(",\n  \"by_hostname\": {},\n  \"staged_services\": {},\n  \"workload_to_services\": {},\n"
	      "  \"by_vip\": {},\n  \"by_host\": {},\n  \"by_key\": {},\n  \"by_namespace\": {},\n"
	      "  \"static_config\": {\"workloads\": [], \"policies\": [], \"services\": []},\n"
	      "  \"version\": {\"version\": \"" ZE_VERSION "\"},\n  \"config\": ", out);
	dump_config(d, out);
	fputs(",\n  \"certificates\": ", out);
	hbone_report_certs_ztunnel(d, true, out);
}

/* 1.22: named keys, maps by address, camelCase, and workloadState. */
static void dump_122(const struct daemon *d, struct pod *const *v, size_t n, const char *host,
		     FILE *out)
{
	fputs("{\n  \"workloads\": {", out);
	fputs(by_addr(d, v, n, host, out) ? "\n  },\n" : "},\n", out);
	fputs("  \"services\": {},\n  \"stagedServices\": {},\n  \"policies\": {},\n"
	      "  \"staticConfig\": {\"workloads\": [], \"policies\": [], \"services\": []},\n"
	      "  \"version\": {\"version\": \"" ZE_VERSION "\"},\n  \"config\": ", out);
	dump_config(d, out);
	fputs(",\n  \"certificates\": ", out);
	hbone_report_certs_ztunnel(d, false, out);
	fputs(",\n  \"workloadState\": ", out);
	dump_workload_state(v, n, out);
}

void dump_legacy(const struct daemon *d, struct pod *const *v, size_t n, FILE *out)
{
	char host[HOST_NAME_MAX + 1] = "";

	gethostname(host, sizeof(host) - 1);
	if (d->cfg.rel->dump == DUMP_121)
		dump_121(d, v, n, host, out);
	else
		dump_122(d, v, n, host, out);
}

/* 1.21's in-pod state on its own path: compact, uid -> {"state": "Up"|"Pending"}. */
void dump_workloadmanager(struct pod *const *v, size_t n, FILE *out)
{
	size_t i;

	fputc('{', out);
	for (i = 0; v && i < n; i++) {
		if (i)
			fputc(',', out);
		json_str(out, v[i]->uid, v[i]->uid_len);
		fprintf(out, ":{\"state\":\"%s\"}", v[i]->state == POD_UP ? "Up" : "Pending");
	}
	fputc('}', out);
}
