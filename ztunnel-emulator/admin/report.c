/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a person sees of the daemon's state: config_dump (JSON), readiness,
 * Prometheus metrics and the SIGUSR1 table, all rendered from the one pod
 * table so that they can never disagree. Views only: changes no state.
 * Interface: admin/report.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "admin/dump.h"
#include "admin/prom.h"
#include "admin/report.h"
#include "daemon.h"
#include "dns/server.h"
#include "zds_client.h"
#include "hbone/hbone.h"
#include "json.h"
#include "log.h"


static const char *const req_names[REQ_KINDS] = {
	[REQ_ADD] = "add", [REQ_DEL] = "del", [REQ_KEEP] = "keep",
	[REQ_SNAPSHOT] = "snapshot_sent", [REQ_INVALID] = "invalid",
};

static const char *const res_names[RES_RESULTS] = { [RES_ACK] = "ack", [RES_NACK] = "nack" };


const char *pod_state_name(const struct pod *p)
{
	return p->state == POD_UP ? "Up" : p->state == POD_PENDING ? "Pending" : "Starting";
}

static void rfc3339(const struct timespec *ts, char *buf, size_t cap)
{
	struct tm tm;
	char base[32];

	gmtime_r(&ts->tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, cap, "%s.%06ldZ", base, ts->tv_nsec / 1000);
}

static int by_uid(const void *a, const void *b)
{
	const struct pod *x = *(const struct pod *const *)a, *y = *(const struct pod *const *)b;
	size_t n = x->uid_len < y->uid_len ? x->uid_len : y->uid_len;
	int c = memcmp(x->uid, y->uid, n);

	return c ? c : (x->uid_len > y->uid_len) - (x->uid_len < y->uid_len);
}

/* The pods sorted by uid, so every view lists them in the same order; NULL when none. */
static struct pod **sorted_pods(const struct daemon *d)
{
	struct pod **v = d->pods.count ? calloc(d->pods.count, sizeof(*v)) : NULL;
	struct pod *p;
	size_t i = 0;

	if (!v)
		return NULL;
	for (p = d->pods.head; p; p = p->next)
		v[i++] = p;
	qsort(v, d->pods.count, sizeof(*v), by_uid);
	return v;
}

static void json_http_addr(FILE *out, const struct http_addr *a)
{
	json_cstr(out, a->enabled ? a->text : NULL);
}

/* emulator.config: the daemon's own settings (names from before ztunnel's shape). */
static void emulator_config(const struct daemon *d, FILE *out)
{
	char t[64];
	size_t i;

	rfc3339(&d->start_time, t, sizeof(t));
	fprintf(out, "    \"config\": {\n      \"version\": \"%s\",\n      \"pid\": %d,\n", ZE_VERSION,
		(int)getpid());
	fputs("      \"inpod_uds\": ", out);
	json_cstr(out, d->cfg.socket_path);
	fprintf(out, ",\n      \"profile\": \"%s\",\n      \"listen_address\": \"%s\",\n      \"inpod_port_reuse\": %s,\n      \"inpod_mark\": %u,\n",
		d->cfg.profile == PROFILE_AMBIENT ? "ambient" : "walkthru", d->cfg.addr_text,
		d->cfg.port_reuse ? "true" : "false", (unsigned)d->cfg.mark);
	fprintf(out, "      \"request_timeout_seconds\": %g,\n      \"retry_interval_seconds\": %g,\n",
		d->cfg.timeout, d->cfg.retry_interval);
	fprintf(out, "      \"log_format\": \"%s\",\n      \"admin_addr\": ",
		d->cfg.log_format == LOG_FORMAT_CURRENT ? "current" : "legacy");
	json_http_addr(out, &d->cfg.admin);
	fputs(",\n      \"ready_addr\": ", out);
	json_http_addr(out, &d->cfg.ready);
	fputs(",\n      \"metrics_addr\": ", out);
	json_http_addr(out, &d->cfg.metrics);
	fprintf(out, ",\n      \"socket_mode\": \"%04o\",\n      \"socket_group\": ", (unsigned)d->cfg.socket_mode);
	if (d->cfg.socket_gid == (gid_t)-1)
		fputs("null", out);
	else
		fprintf(out, "%u", (unsigned)d->cfg.socket_gid);
	fputs(",\n      \"allow_uids\": [", out);
	for (i = 0; i < d->cfg.n_allow_uids; i++)
		fprintf(out, "%s%u", i ? ", " : "", (unsigned)d->cfg.allow_uids[i]);
	fputs("],\n      \"allow_gids\": [", out);
	for (i = 0; i < d->cfg.n_allow_gids; i++)
		fprintf(out, "%s%u", i ? ", " : "", (unsigned)d->cfg.allow_gids[i]);
	fprintf(out, "],\n      \"allow_host_netns\": %s,\n      \"max_connections\": %zu,\n      \"max_pods\": %zu,\n",
		d->cfg.allow_host_netns ? "true" : "false", d->cfg.max_conns, d->cfg.max_pods);
	fputs("      \"capabilities\": ", out);
	json_cstr(out, d->caps_kept);
	fprintf(out, ",\n      \"started\": \"%s\"\n    },\n", t);
}

/* One pod's listeners and their counters (none unless it is up). */
static void emulator_listeners(const struct pod *p, FILE *out)
{
	size_t k;

	fputs(",\n        \"listeners\": [", out);
	for (k = 0; p->state == POD_UP && k < p->nlisteners; k++) {
		const struct listener *l = &p->listeners[k];

		fprintf(out, "%s{\"address\": \"%s\", \"protocol\": \"%s\", \"component\": \"%s\", \"transparent\": %s, \"accepted\": %" PRIu64 ", \"completed\": %" PRIu64 ", \"failed\": %" PRIu64 ", \"bytes_sent\": %" PRIu64 ", \"bytes_recv\": %" PRIu64 "}",
			k ? ",\n          " : "\n          ", l->spec->addr_text,
			l->spec->socktype == SOCK_DGRAM ? "udp" : "tcp", l->spec->component,
			l->transparent ? "true" : "false", l->accepted, l->completed, l->failed,
			l->bytes_sent, l->bytes_recv);
	}
	fputs("]}", out);
}

/* emulator.pods: what the daemon knows of each pod beyond ztunnel's workloadState. */
static void emulator_pods(struct pod *const *v, size_t n, FILE *out)
{
	char t[64];
	size_t i;

	fputs("    \"pods\": [", out);
	for (i = 0; i < n && v; i++) {
		const struct pod *p = v[i];

		fputs(i ? ",\n      {\"uid\": " : "\n      {\"uid\": ", out);
		json_str(out, p->uid, p->uid_len);
		fputs(", \"name\": ", out);
		json_cstr(out, p->name);
		fputs(", \"namespace\": ", out);
		json_cstr(out, p->namespace_);
		fputs(", \"service_account\": ", out);
		json_cstr(out, p->service_account);
		fprintf(out, ",\n        \"netns\": {\"dev\": \"%u:%u\", \"inode\": %" PRIu64 "}",
			major(p->nsid.dev), minor(p->nsid.dev), (uint64_t)p->nsid.ino);
		fprintf(out, ", \"state\": \"%s\"", pod_state_name(p));
		rfc3339(&p->added, t, sizeof(t));
		fprintf(out, ", \"added\": \"%s\", \"started\": ", t);
		if (p->state == POD_UP) {
			rfc3339(&p->started, t, sizeof(t));
			fprintf(out, "\"%s\"", t);
		} else {
			fputs("null", out);
		}
		fprintf(out, ", \"retries\": %u, \"last_error\": ", p->retries);
		json_cstr(out, p->last_error);
		emulator_listeners(p, out);
	}
	fputs(n ? "\n    ],\n" : "],\n", out);
}

/*
 * ztunnel's keys first (observability.md §3: what istioctl ztunnel-config
 * reads), then everything only the emulator knows under "emulator".
 */
void report_config_dump(const struct daemon *d, FILE *out)
{
	struct pod **v = sorted_pods(d);
	size_t n = v ? d->pods.count : 0;

	if (d->cfg.rel->dump != DUMP_ARRAYS) {
		dump_legacy(d, v, n, out);
	} else {
		fputs("{\n  \"workloads\": ", out);
		dump_workloads(d, v, n, out);
		fputs(",\n  \"services\": [],\n  \"policies\": [],\n  \"certificates\": ", out);
		hbone_report_certs_ztunnel(d, false, out);
		fputs(",\n  \"config\": ", out);
		dump_config(d, out);
		fputs(",\n  \"workloadState\": ", out);
		dump_workload_state(v, n, out);
	}
	fputs(",\n  \"emulator\": {\n", out);
	emulator_config(d, out);
	dns_report_config(d, out);
	emulator_pods(v, n, out);
	fputs("    \"certificates\": ", out);
	hbone_report_certs(d, out);
	fputs("\n  }\n}\n", out);
	free(v);
}

/* 1.21's GET /workloadmanager (its config_dump had no workloadState). */
void report_workloadmanager(const struct daemon *d, FILE *out)
{
	struct pod **v = sorted_pods(d);

	dump_workloadmanager(v, v ? d->pods.count : 0, out);
	free(v);
}

/*
 * ztunnel's only blocking task here is the workload proxy manager (roles.md
 * §1; the state manager is released at once, there is no XDS): blocked until
 * the snapshot in --connect, by any pending pod, and - the emulator's own
 * rule in the listening role - while the ZDS socket is gone, since istio-cni
 * cannot reach the daemon then.
 */
bool report_ready(const struct daemon *d, FILE *out, char *why, size_t cap)
{
	struct pod **v;
	size_t i, n = 0, o;
	char q[400];
	bool ok = d->cfg.connect ? zds_client_ready(d) : !d->sock_lost[0] && !d->n_pending;

	why[0] = '\0';
	fputs(ok ? "ready\n" : "not ready, pending: workload proxy manager\n", out);
	if (ok || d->cfg.connect)
		return ok;
	if (d->sock_lost[0]) {
		snprintf(why, cap, "%s", d->sock_lost);
		return false;
	}
	v = sorted_pods(d);
	o = (size_t)snprintf(why, cap, "%zu pod(s) pending:", d->n_pending);
	for (i = 0; v && i < d->pods.count && o < cap; i++) {
		if (v[i]->state != POD_PENDING)
			continue;
		o += (size_t)snprintf(why + o, cap - o, "%s %s", n++ ? "," : "",
				      log_quote(q, sizeof(q), v[i]->uid, v[i]->uid_len));
	}
	free(v);
	return false;
}

/* Prometheus label values escape \, " and newline. */
static void prom_label(FILE *out, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\' || s[i] == '"')
			fprintf(out, "\\%c", s[i]);
		else if (s[i] == '\n')
			fputs("\\n", out);
		else
			fputc(s[i], out);
	}
}

/*
 * One counter of every running pod's listeners, labelled by uid, component,
 * address, protocol; field is the listener's counter, or (size_t)-1 for the
 * kernel's accept-queue overflow count, read now. name: the base name.
 */
static void prom_listeners(const struct prom *pm, struct pod *const *v, size_t n, const char *name,
			   const char *help, size_t field)
{
	FILE *out = pm->out;
	char full[96];
	size_t i, k;

	snprintf(full, sizeof(full), "ztunnel_emulator_listener_%s", name);
	prom_family(pm, full, "counter", help);
	for (i = 0; v && i < n; i++) {
		if (v[i]->state != POD_UP)
			continue;
		for (k = 0; k < v[i]->nlisteners; k++) {
			const struct listener *l = &v[i]->listeners[k];

			fprintf(out, "%s_total{uid=\"", full);
			prom_label(out, v[i]->uid, v[i]->uid_len);
			fprintf(out, "\",component=\"%s\",address=\"%s\",protocol=\"%s\"} %" PRIu64 "\n",
				l->spec->component, l->spec->addr_text,
				l->spec->socktype == SOCK_DGRAM ? "udp" : "tcp",
				field == (size_t)-1 ? (l->spec->socktype == SOCK_DGRAM ? 0 : relay_listener_drops(l)) :
						      *(const uint64_t *)((const char *)l + field));
		}
	}
}

/* ztunnel's in-pod metrics: names and help texts as its workload manager registers them. */
static void metrics_inpod(const struct daemon *d, const struct prom *pm)
{
	prom_family(pm, "workload_manager_active_proxy_count", "gauge",
		    "The total number current workloads with active proxies (unstable)");
	fprintf(pm->out, "workload_manager_active_proxy_count %zu\n", d->n_up);
	prom_family(pm, "workload_manager_pending_proxy_count", "gauge",
		    "The total number current workloads with pending proxies (unstable)");
	fprintf(pm->out, "workload_manager_pending_proxy_count %zu\n", d->n_pending);
	prom_family(pm, "workload_manager_proxies_started", "counter",
		    "The total number of proxies that were started (unstable)");
	fprintf(pm->out, "workload_manager_proxies_started_total %" PRIu64 "\n", d->stats.proxies_started);
	prom_family(pm, "workload_manager_proxies_stopped", "counter",
		    "The total number of proxies that were stopped (unstable)");
	fprintf(pm->out, "workload_manager_proxies_stopped_total %" PRIu64 "\n", d->stats.proxies_stopped);
}

static void metrics_listeners(const struct prom *pm, struct pod *const *v, size_t n)
{
	prom_listeners(pm, v, n, "accepted",
		       "Connections (TCP) or datagrams (UDP) accepted by each running pod's listeners",
		       offsetof(struct listener, accepted));
	prom_listeners(pm, v, n, "completed", "Relayed connections that completed, per listener",
		       offsetof(struct listener, completed));
	prom_listeners(pm, v, n, "failed",
		       "Relayed connections that failed (upstream refused, reset, pod drained)",
		       offsetof(struct listener, failed));
	prom_listeners(pm, v, n, "bytes_sent", "Bytes relayed from clients to their original destination",
		       offsetof(struct listener, bytes_sent));
	prom_listeners(pm, v, n, "bytes_recv", "Bytes relayed from original destinations back to clients",
		       offsetof(struct listener, bytes_recv));
	prom_listeners(pm, v, n, "refused",
		       "Connections reset at once: a relay cap was reached (--max-relays-per-pod, --max-relays, the open-file limit)",
		       offsetof(struct listener, refused));
	prom_listeners(pm, v, n, "accept_queue_drops",
		       "Connection attempts the kernel dropped while the listener's accept queue was full (the socket's drop count)",
		       (size_t)-1);
}

static void metrics_add_histogram(const struct daemon *d, const struct prom *pm)
{
	const char *name = "ztunnel_emulator_add_duration_seconds";
	uint64_t cum = 0;
	int k;

	prom_family(pm, name, "histogram",
		    "Time from receiving an Add to sending its ack, by the daemon's monotonic clock");
	for (k = 0; k < ADD_BUCKETS; k++) {
		cum += d->stats.add_buckets[k];
		if (k == ADD_BUCKETS - 1)
			fprintf(pm->out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
		else
			fprintf(pm->out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, add_bucket_bounds[k], cum);
	}
	fprintf(pm->out, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name, d->stats.add_sum, name,
		d->stats.add_count);
}

void report_metrics(const struct daemon *d, FILE *out, bool openmetrics)
{
	const struct prom pm = { .out = out, .om = openmetrics };
	struct pod **v = sorted_pods(d);
	int k, r;

	metrics_inpod(d, &pm);
	prom_family(&pm, "ztunnel_emulator_zds_requests", "counter",
		    "ZDS requests answered, by request type and result (ack or nack)");
	for (k = 0; k < REQ_KINDS; k++)
		for (r = 0; r < RES_RESULTS; r++)
			fprintf(out, "ztunnel_emulator_zds_requests_total{type=\"%s\",result=\"%s\"} %" PRIu64 "\n",
				req_names[k], res_names[r], d->stats.requests[k][r]);
	metrics_listeners(&pm, v, d->pods.count);
	prom_family(&pm, "ztunnel_emulator_active_connections", "gauge",
		    "Connections being relayed right now");
	fprintf(out, "ztunnel_emulator_active_connections %zu\n", d->n_relays);
	prom_family(&pm, "ztunnel_emulator_log_dropped", "counter",
		    "Log lines dropped because stdout was not read fast enough");
	fprintf(out, "ztunnel_emulator_log_dropped_total %" PRIu64 "\n", log_dropped());
	hbone_report_metrics(d, &pm);
	metrics_add_histogram(d, &pm);
	dns_report_metrics(d, &pm);
	prom_end(&pm);
	free(v);
}

void report_table(const struct daemon *d, FILE *out)
{
	struct pod **v = sorted_pods(d);
	char q[80], n[80], t[64];
	size_t i;

	flockfile(out);
	fprintf(out, "pods: %zu (%zu up, %zu pending)\n", d->pods.count, d->n_up, d->n_pending);
	if (d->pods.count)
		fprintf(out, "%-24s %-20s %-12s %-8s %-20s %-9s %s\n", "UID", "NAME", "NAMESPACE", "STATE",
			"NETNS (dev:inode)", "ACCEPTED", "SINCE / LAST ERROR");
	for (i = 0; v && i < d->pods.count; i++) {
		const struct pod *p = v[i];
		char ns[40];
		uint64_t acc = 0;
		size_t k;

		for (k = 0; k < p->nlisteners; k++)
			acc += p->listeners[k].accepted;
		snprintf(ns, sizeof(ns), "%u:%u:%" PRIu64, major(p->nsid.dev), minor(p->nsid.dev),
			 (uint64_t)p->nsid.ino);
		rfc3339(p->state == POD_UP ? &p->started : &p->added, t, sizeof(t));
		fprintf(out, "%-24s %-20s %-12s %-8s %-20s %-9" PRIu64 " %s\n",
			log_quote(q, sizeof(q), p->uid, p->uid_len),
			log_quote(n, sizeof(n), p->name, strlen(p->name)), p->namespace_, pod_state_name(p), ns,
			acc, p->state == POD_PENDING && p->last_error ? p->last_error : t);
	}
	funlockfile(out);
	free(v);
}

void report_log_table(const struct daemon *d)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		log_line(LOG_WARN, T_EMU, "cannot print the pod table: %s", strerror(errno));
		return;
	}
	report_table(d, f);
	/* the table ends in a newline: log_plain adds its own */
	if (!fclose(f) && len && len - 1 <= INT_MAX)
		log_plain("%.*s", (int)(len - 1), text);
	free(text);
}
