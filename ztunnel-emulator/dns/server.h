/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_DNS_SERVER_H
#define ZE_DNS_SERVER_H

/*
 * The per-pod DNS proxy on 15053, wired into the daemon (dns.md): queries on
 * the pod's 15053 listeners (UDP and TCP, 127.0.0.1 and [::1]) are answered
 * from the registry or forwarded, from a socket made in the pod's netns with
 * the daemon's mark, to the upstream resolvers; all on the event loop.
 * Owns: the registry the daemon holds (load, SIGHUP reload), each pod's
 * forwarding state, the DNS counters and their views.
 * Never touches: the pod table or its lifecycle (pods.c calls in), DNS wire
 * format (answer.c, forward.c do it with ldns).
 */
#include <stdio.h>

#include "err.h"

struct daemon;
struct prom;
struct listener;
struct pod;
struct registry;

/* At start: loads --registry (a bad file is fatal: e says which line), the timer. */
int dns_start(struct daemon *d, struct ze_err *e);
/* At exit, after every pod is drained: frees the registry and counters. */
void dns_stop(struct daemon *d);
/* SIGHUP: loads the registry again; a bad file is logged and the old one kept. */
void dns_reload(struct daemon *d);
/* Logs "starting local DNS server" for a pod about to bind its 15053 sockets. */
void dns_pod_starting(struct daemon *d, struct pod *p);
/* A 15053 UDP listener is readable / a 15053 TCP client was accepted. */
void dns_udp_ready(struct daemon *d, struct listener *l);
void dns_tcp_accept(struct daemon *d, struct listener *l, int fd);
/* Pod drained: its upstream sockets, TCP clients and queries in flight go. */
void dns_pod_close(struct daemon *d, struct pod *p);
/* The registry now loaded (NULL without --registry); valid until the next SIGHUP reload. */
const struct registry *dns_registry(const struct daemon *d);
/* config_dump's "dns" and "registry" keys (each line ends in ",\n"). */
void dns_report_config(const struct daemon *d, FILE *out);
/* The istio_dns_* metrics. */
void dns_report_metrics(const struct daemon *d, const struct prom *pm);

#endif
