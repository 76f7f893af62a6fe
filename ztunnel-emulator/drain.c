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

/* tracing's span before the target, with the pod's strings made printable */
static void span_target(char *out, size_t cap, const struct pod *p)
{
	size_t o, i;
	const char *parts[2] = { p->namespace_, p->name };
	int k;

	o = (size_t)snprintf(out, cap, "proxy{wl=");
	for (k = 0; k < 2; k++) {
		for (i = 0; parts[k][i] && o + 40 < cap; i++) {
			unsigned char ch = (unsigned char)parts[k][i];

			out[o++] = ch > 0x20 && ch < 0x7f && ch != '}' ? (char)ch : '?';
		}
		if (!k && o + 40 < cap)
			out[o++] = '/';
	}
	snprintf(out + o, cap - o, "}: %s", T_DRAIN);
}

/* ztunnel 1.21-1.22's drain lines: under the pod's proxy{uid=..} span (observability.md 2) */
static void drain_log_pod_old(const struct daemon *d, const struct pod *p)
{
	static const char *const done[] = { [ROLE_HBONE] = "all inbound connections drained",
					    [ROLE_PLAINTEXT] = "inbound passthrough drained",
					    [ROLE_OUTBOUND] = "outbound drained" };
	char target[200], u[160];
	bool dns = false;
	size_t i;

	log_quote(u, sizeof(u), p->uid, p->uid_len);
	snprintf(target, sizeof(target), "proxy{uid=%.*s}: ztunnel::proxy",
		 (int)strcspn(u + 1, "\"}"), u + 1);
	log_line(LOG_INFO, target, "draining connections");
	for (i = 0; i < d->cfg.nspecs; i++) {
		enum listener_role r = d->cfg.specs[i].role;

		dns |= r == ROLE_DNS;
		if (r < sizeof(done) / sizeof(done[0]) && done[r])
			log_line(LOG_INFO, target, "%s", done[r]);
	}
	if (dns)
		log_line(LOG_INFO, "ztunnel::dns", "dns server drained");
}

void drain_log_pod(const struct daemon *d, const struct pod *p)
{
	char target[200];
	bool dns = false;
	size_t i;

	if (!d->cfg.lines->new_texts) {
		drain_log_pod_old(d, p);
		return;
	}
	span_target(target, sizeof(target), p);
	for (i = 0; i < d->cfg.nspecs; i++) {
		const char *c = drain_component(d->cfg.specs[i].role);

		dns |= d->cfg.specs[i].role == ROLE_DNS;
		if (c)
			log_line(LOG_INFO, target, "shutdown complete component=\"%s\"", c);
	}
	if (dns)
		log_line(LOG_INFO, "ztunnel::dns", "dns server drained");
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
