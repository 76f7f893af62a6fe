/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ztunnel's graceful drain (roles.md 4): on the first SIGTERM/SIGINT every
 * listener and the ZDS side close at once, established relays keep flowing
 * until --drain-deadline, then whatever is left is reset and the loop stops.
 * Also the per-component drain lines a pod's stop logs. Never picks the exit
 * code (main does). Interface: drain.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "admin/http.h"
#include "clock.h"
#include "daemon.h"
#include "drain.h"
#include "fmt.h"
#include "listeners.h"
#include "log.h"
#include "zds_client.h"
#include "zds_server.h"

#define T_DRAIN "ztunnel::drain"

struct drain {
	struct timespec deadline;	/* monotonic */
	struct loop_timer timer;
};

/* ztunnel's component names in its drain lines (not its listener lines'). */
static const char *drain_component(enum listener_role role)
{
	switch (role) {
	case ROLE_HBONE:
		return "inbound";
	case ROLE_PLAINTEXT:
		return "inbound passthrough";
	case ROLE_OUTBOUND:
		return "outbound";
	case ROLE_SOCKS5:
		return "socks5";
	default:
		return NULL;
	}
}

/* The DNS server's own two lines, in its dns_proxy span (ztunnel src/dns/server.rs). */
static void drain_log_dns(const struct daemon *d, const struct pod *p)
{
	char target[240];
	size_t i;

	for (i = 0; i < d->cfg.nspecs && d->cfg.specs[i].role != ROLE_DNS; i++)
		;
	if (i == d->cfg.nspecs)
		return;
	access_pod_span(target, sizeof(target), d, p, "dns_proxy", "ztunnel::dns::server");
	log_line(LOG_INFO, target, "shutting down the DNS server");
	log_line(LOG_INFO, target, "dns server drained");
}

/*
 * ztunnel 1.21-1.22's drain lines, each from its listener's module
 * (src/proxy/{inbound,inbound_passthrough,outbound}.rs) under the pod's
 * proxy{uid=..} span (observability.md 2).
 */
static void drain_log_pod_old(const struct daemon *d, const struct pod *p)
{
	static const struct {
		const char *target, *text;
	} done[] = {
		[ROLE_HBONE] = { "ztunnel::proxy::inbound", "all inbound connections drained" },
		[ROLE_PLAINTEXT] = { "ztunnel::proxy::inbound_passthrough", "inbound passthrough drained" },
		[ROLE_OUTBOUND] = { "ztunnel::proxy::outbound", "outbound drained" },
	};
	char target[240];
	size_t i;

	for (i = 0; i < d->cfg.nspecs; i++) {
		enum listener_role r = d->cfg.specs[i].role;

		if (r >= sizeof(done) / sizeof(done[0]) || !done[r].text)
			continue;
		access_pod_span(target, sizeof(target), d, p, "proxy", done[r].target);
		if (r == ROLE_HBONE)
			log_line(LOG_INFO, target, "draining connections");
		log_line(LOG_INFO, target, "%s", done[r].text);
	}
}

void drain_log_pod(const struct daemon *d, const struct pod *p)
{
	char target[240];
	size_t i;

	if (!d->cfg.lines->new_texts) {
		drain_log_pod_old(d, p);
	} else {
		access_pod_span(target, sizeof(target), d, p, "proxy", T_DRAIN);
		for (i = 0; i < d->cfg.nspecs; i++) {
			const char *c = drain_component(d->cfg.specs[i].role);

			if (!c)
				continue;
			/* a Del drains at once: src/drain.rs's immediate mode */
			log_line(LOG_DEBUG, target, "terminating component=\"%s\"", c);
			log_line(LOG_INFO, target, "shutdown complete component=\"%s\"", c);
		}
	}
	drain_log_dns(d, p);
}

/* Done when no relay is left; at the deadline the rest is reset. */
static long timer_next(void *ctx)
{
	struct daemon *d = ctx;

	return d->n_relays ? ms_until(&d->drain->deadline) : 0;
}

static void timer_run(void *ctx)
{
	struct daemon *d = ctx;
	struct timespec now;
	struct pod *p;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (d->n_relays && !expired(&d->drain->deadline, &now))
		return;
	if (d->n_relays) {
		log_line(LOG_WARN, T_DRAIN, "drain duration expired with pending connections, forcefully shutting down");
		for (p = d->pods.head; p; p = p->next)
			relay_reset_pod(d, p, "connection closed due to connection drain");
	}
	http_log_drained(d);
	log_line(LOG_INFO, T_EMU, "Shutdown completed gracefully");
	loop_stop(&d->loop);
}

/* Every listener closed at once (the kernel then sends new clients to a co-bound owner). */
static void close_listeners(struct daemon *d)
{
	struct pod *p, *next;

	for (p = d->pods.head; p; p = next) {
		next = p->next;
		if (p->state != POD_UP)
			pod_drain(d, p);	/* pending: nothing to wait for */
		else
			listeners_close(p);
	}
}

void drain_begin(struct daemon *d, const char *signame)
{
	struct drain *dr = calloc(1, sizeof(*dr));
	char dur[32];

	if (signame)
		log_line(LOG_INFO, "ztunnel::signal", "received signal %s, starting shutdown", signame);
	else
		log_line(LOG_INFO, "ztunnel::signal", "received explicit shutdown signal");
	if (!dr) {
		loop_stop(&d->loop);
		return;
	}
	d->drain = dr;
	log_line(LOG_INFO, T_WM, "workload proxy manager: drain requested");
	log_line(LOG_INFO, T_WM, "drain requested");
	if (d->cfg.connect)
		zds_client_stop(d);	/* the node agent sees end of stream */
	else
		zds_server_stop(d);
	close_listeners(d);
	duration_text(dur, sizeof(dur), (long)(d->cfg.drain_deadline * 1000));
	log_line(LOG_DEBUG, T_DRAIN, "drain started, waiting %s for any connections to complete", dur);
	clock_gettime(CLOCK_MONOTONIC, &dr->deadline);
	timespec_add(&dr->deadline, d->cfg.drain_deadline);
	loop_add_timer(&d->loop, &dr->timer, timer_next, timer_run, d);
}
