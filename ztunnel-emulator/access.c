/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A connection's log lines by release. Texts: observability.md 2 and
 * hbone.md; 1.21's from ztunnel 1.21.0 src/proxy/{inbound_passthrough,
 * outbound,inbound}.rs: the outbound task runs in an outbound{id=<trace
 * id>} span inside the pod's proxy{uid=..} span and ends with "complete
 * dur=<Debug>" or warn "failed dur=.. err=..". Interface: access.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "daemon.h"
#include "log.h"

/* s made printable for a span field (Display: bare) */
static void span_text(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0, i;

	for (i = 0; i < n && o + 1 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[o++] = ch > 0x20 && ch < 0x7f && ch != '}' ? (char)ch : '?';
	}
	out[o] = '\0';
}

void access_pod_span(char *out, size_t cap, const struct daemon *d, const struct pod *p,
		     const char *name, const char *target)
{
	char a[96], b[96];

	if (!d->cfg.lines->new_texts || p->no_info) {
		span_text(a, sizeof(a), p->uid, p->uid_len);
		snprintf(out, cap, "%s{uid=%s}: %s", name, a, target);
		return;
	}
	span_text(a, sizeof(a), p->namespace_, strlen(p->namespace_));
	span_text(b, sizeof(b), p->name, strlen(p->name));
	snprintf(out, cap, "%s{wl=%s/%s}: %s", name, a, b, target);
}

void access_new_id(char id[33])
{
	static __thread unsigned seed;	/* HBONE streams start on relay threads too */
	struct timespec ts;
	int i;

	if (!seed) {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned)ts.tv_nsec ^ (unsigned)ts.tv_sec ^ 0x9e3779b9u;
	}
	for (i = 0; i < 32; i++)
		id[i] = "0123456789abcdef"[rand_r(&seed) & 15];
	id[32] = '\0';
}

/* Rust's Duration Debug: 2.1ms, 153.2µs, 1.000123s, 80ns (fraction without trailing zeros). */
static void rust_duration(char *out, size_t cap, long long ns)
{
	static const struct {
		long long unit;
		const char *suffix;
		int digits;
	} u[] = { { 1000000000LL, "s", 9 }, { 1000000LL, "ms", 6 }, { 1000LL, "µs", 3 } };
	size_t i;
	int w;
	long long frac;

	if (ns < 0)
		ns = 0;
	for (i = 0; i < 3; i++) {
		if (ns < u[i].unit)
			continue;
		frac = ns % u[i].unit;
		w = u[i].digits;
		while (frac && frac % 10 == 0) {
			frac /= 10;
			w--;
		}
		if (frac)
			snprintf(out, cap, "%lld.%0*lld%s", ns / u[i].unit, w, frac, u[i].suffix);
		else
			snprintf(out, cap, "%lld%s", ns / u[i].unit, u[i].suffix);
		return;
	}
	snprintf(out, cap, "%lldns", ns);
}

/* 1.21: "proxy{uid=..}:outbound{id=..}: ztunnel::proxy::outbound" */
static void outbound_target(char *out, size_t cap, const struct daemon *d,
			    const struct access_rec *rec)
{
	char inner[80], *cut;

	snprintf(inner, sizeof(inner), "outbound{id=%s}: ztunnel::proxy::outbound", rec->id);
	access_pod_span(out, cap, d, rec->pod, "proxy", inner);
	/* tracing nests "a{..}:b{..}: target" */
	cut = strstr(out, "}: outbound{");
	if (cut)
		memmove(cut + 2, cut + 3, strlen(cut + 3) + 1);
}

void access_start(const struct daemon *d, const struct access_rec *rec)
{
	char target[320];

	if (d->cfg.rel->access_log)
		return;
	if (rec->outbound) {
		outbound_target(target, sizeof(target), d, rec);
		if (rec->hbone)
			log_line(LOG_INFO, target, "proxy to %s using HBONE via %s type Direct",
				 rec->hbone_addr ? rec->hbone_addr : rec->dst, rec->dst);
		else
			log_line(LOG_INFO, target, "Proxying to %s using TCP via %s type Direct", rec->dst,
				 rec->dst);
	} else if (rec->hbone) {
		access_pod_span(target, sizeof(target), d, rec->pod, "proxy", "ztunnel::proxy::inbound");
		log_line(LOG_INFO, target, "got CONNECT request to %s",
			 rec->hbone_addr ? rec->hbone_addr : rec->dst);
	} else {
		access_pod_span(target, sizeof(target), d, rec->pod, "proxy",
				"ztunnel::proxy::inbound_passthrough");
		log_line(LOG_INFO, target,
			 "accepted connection source=%s destination=%s component=\"inbound plaintext\"",
			 rec->src, rec->dst);
	}
}

static void end_121(const struct daemon *d, const struct access_rec *rec)
{
	char target[320], dur[48];

	rust_duration(dur, sizeof(dur), rec->ns);
	if (rec->outbound) {
		outbound_target(target, sizeof(target), d, rec);
		if (rec->error)
			log_line(LOG_WARN, target, "failed dur=%s err=%s", dur, rec->error);
		else
			log_line(LOG_INFO, target, "complete dur=%s", dur);
	} else if (rec->hbone) {
		access_pod_span(target, sizeof(target), d, rec->pod, "proxy", "ztunnel::proxy::inbound");
		if (rec->error)
			log_line(LOG_ERROR, target, "hbone server copy: %s dur=%s", rec->error, dur);
	} else {
		access_pod_span(target, sizeof(target), d, rec->pod, "proxy",
				"ztunnel::proxy::inbound_passthrough");
		if (rec->error)
			log_line(LOG_WARN, target,
				 "proxying failed: %s source=%s component=\"inbound plaintext\"", rec->error,
				 rec->src);
		else
			log_line(LOG_INFO, target,
				 "connection complete source=%s destination=%s component=\"inbound plaintext\"",
				 rec->src, rec->dst);
	}
}

/* >= 1.22, plain TCP relays (HBONE's own lines are in hbone/): fields in hbone.md's order */
void access_end(const struct daemon *d, const struct access_rec *rec)
{
	const struct pod *p = rec->pod;
	char who[700], n[300], ns[300], err[300] = "";

	if (!d->cfg.rel->access_log) {
		end_121(d, rec);
		return;
	}
	if (rec->early) {
		log_line(LOG_WARN, "access",
			 "connection failed src.addr=%s dst.addr=%s direction=\"%s\" error=\"%s\"", rec->src,
			 rec->dst, rec->outbound ? "outbound" : "inbound", rec->error ? rec->error : "");
		return;
	}
	who[0] = '\0';
	if (!p->no_info)
		snprintf(who, sizeof(who), " %s.workload=%s %s.namespace=%s",
			 rec->outbound ? "src" : "dst", log_quote(n, sizeof(n), p->name, strlen(p->name)),
			 rec->outbound ? "src" : "dst",
			 log_quote(ns, sizeof(ns), p->namespace_, strlen(p->namespace_)));
	if (rec->error)
		snprintf(err, sizeof(err), " error=\"%s\"", rec->error);
	log_line(rec->error ? LOG_ERROR : LOG_INFO, "access",
		 "connection complete src.addr=%s%s dst.addr=%s%s direction=\"%s\" bytes_sent=%llu bytes_recv=%llu duration=\"%lldms\"%s",
		 rec->src, rec->outbound ? who : "", rec->dst, rec->outbound ? "" : who,
		 rec->outbound ? "outbound" : "inbound", rec->sent, rec->recv, rec->ns / 1000000, err);
}
