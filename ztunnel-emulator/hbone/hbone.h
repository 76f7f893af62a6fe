/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hbone.c: HBONE's part of the daemon — the lab CA and the pods'
 * certificates (one per identity), 15008's mutual-TLS HTTP/2 CONNECT server. The daemon sees
 * only this header and an opaque handle (layout.md rule 8).
 */
#ifndef ZT_HBONE_H
#define ZT_HBONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "err.h"

struct daemon;
struct prom;
struct listener;
struct pod;

/* Opens (or makes) the CA in --ca-dir and the TLS contexts; 0, or -errno with e saying why. */
int hbone_init(struct daemon *d, struct ze_err *e);
/* Closes every HBONE connection and frees the CA (daemon shutdown). */
void hbone_free(struct daemon *d);
/*
 * An Add: the pod gets its identity's certificate after the ack, in the same
 * loop turn, issued if new (a failure is logged; 15008 then refuses).
 */
void hbone_pod_added(struct daemon *d, struct pod *p);
/* A Del or drain: the pod's HBONE connections close (its identity's last pod: the certificate goes). */
void hbone_pod_drain(struct daemon *d, struct pod *p);
/* Frees what pod_free() finds still held. */
void hbone_pod_free(struct pod *p);
/* A connection accepted on a pod's 15008. */
void hbone_accept(struct daemon *d, struct listener *l, int fd);
/*
 * A connection accepted on a pod's 15001: true when it went over HBONE (its
 * original destination is an enrolled pod or a --registry workload with
 * protocol HBONE; refused over the relay caps), false to relay it as plain TCP.
 */
bool hbone_outbound(struct daemon *d, struct listener *l, int fd);
/* HBONE streams holding a TCP socket: pod p's (inbound and outbound), or all with p NULL. */
size_t hbone_streams(const struct daemon *d, const struct pod *p);
/* The istio_tcp_* families of HBONE streams, Prometheus text. */
void hbone_report_metrics(const struct daemon *d, const struct prom *pm);
/*
 * A plain TCP relay of pod p in the istio_tcp_* families (policy "unknown"):
 * counted opened now, and closed with its bytes (what the client sent, what
 * went back) at its end. NULL (nothing counted) without HBONE. Main thread.
 */
struct tcp_series;
struct tcp_series *hbone_plain_open(struct daemon *d, const struct pod *p, bool outbound);
void hbone_plain_end(struct tcp_series *t, uint64_t from_client, uint64_t to_client);
/* config_dump's "certificates": a JSON array, one object per pod with a certificate. */
void hbone_report_certs(const struct daemon *d, FILE *out);
/*
 * certdump.c: config_dump's certificates in ztunnel's shape; a pod's addresses
 * as a JSON array - those last read from its interfaces (outbound HBONE reads
 * them when it first needs them; a view never enters the netns), else [].
 */
void hbone_report_certs_ztunnel(const struct daemon *d, bool legacy, FILE *out);
void hbone_report_pod_ips(const struct pod *p, FILE *out);
/* The pod's i-th known address as text into buf; returns how many it has. */
size_t hbone_pod_ip(const struct pod *p, size_t i, char *buf, size_t cap);

#endif
