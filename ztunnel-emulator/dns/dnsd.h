/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_DNS_DNSD_H
#define ZE_DNS_DNSD_H

/*
 * Internal to the DNS proxy's daemon half (server.c, udp.c, tcp.c,
 * dns_report.c): the shared state. Nothing here prints but through log.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "forward.h"
#include "list.h"
#include "loop.h"

struct daemon;
struct pod;
struct listener;

#define DNS_QUERY_MAX 4096	/* a larger query is dropped (UDP) or ends the connection (TCP) */
#define DNS_INFLIGHT_MAX 256	/* forwarded UDP queries per pod */
#define DNS_TCP_MAX 64		/* TCP clients per pod */
#define DNS_TCP_IDLE_MS 5000	/* ztunnel's per-request TCP timeout */
#define DNS_BUCKETS 6
extern const double dns_bucket_bounds[DNS_BUCKETS];

/* Counters per (query type, protocol), as ztunnel labels them. */
struct dns_row {
	char qtype[16];		/* lower case: a, aaaa, ... */
	bool tcp;
	uint64_t requests, upstream, failures;
	uint64_t buckets[DNS_BUCKETS + 1];	/* non-cumulative; the last is +Inf */
	double sum;
};
#define DNS_ROWS 32		/* more distinct types share the last row ("other") */

struct dns_state {
	struct registry *reg;
	uint64_t reloads, reload_failures;
	struct loop_timer timer;
	struct list_node active;	/* dns_pods with work in flight */
	struct dns_row rows[DNS_ROWS];
	size_t n_rows;
	uint64_t dropped;	/* malformed, oversized, responses: never answered */
};

/* A forwarded UDP query's own data, beside its id map entry (tag = index). */
struct dns_meta {
	bool used;
	int listener;		/* index in the pod's listeners: the reply leaves from it */
	uint64_t start_us;
	char qtype[16], domain[256];
};

struct dns_pod {
	struct daemon *d;
	struct pod *pod;
	struct loop_src up[2];	/* upstream UDP sockets: AF_INET, AF_INET6 */
	struct dns_idmap map;
	struct dns_meta meta[DNS_INFLIGHT_MAX];
	struct list_node tcp;	/* struct dns_tcp */
	size_t n_tcp;
	struct list_node active;	/* in dns_state.active while anything is in flight */
	bool is_active;
	bool from_daemon;	/* its queries leave from the daemon's netns (--dns-forward-netns, or a loop seen) */
	struct loop_deferred dead;
};

uint64_t dns_now_ms(void);
uint64_t dns_now_us(void);	/* for the upstream latency histogram */
struct dns_pod *dns_pod_get(struct daemon *d, struct pod *p);	/* NULL: out of memory */
void dns_pod_activate(struct dns_pod *dp);
/* What to do with one query (registry, client, counters); *dec to clear. */
void dns_decide_query(struct dns_pod *dp, const uint8_t *q, size_t len, bool tcp,
		      struct dns_decision *dec);
/* The per-query debug line. */
void dns_log_query(const struct dns_pod *dp, const char *qtype, const char *domain,
		   const char *result, int endpoints);
void dns_count_forward(struct daemon *d, const char *qtype, bool tcp, bool failed, double secs);
/* A socket for the upstream, in the pod's netns (or the daemon's), with the mark: fd or -errno. */
int dns_upstream_socket(struct dns_pod *dp, int family, int type);
/* udp.c */
void dns_udp_expire(struct dns_pod *dp, uint64_t now);
void dns_udp_close(struct dns_pod *dp);
/* tcp.c */
void dns_tcp_expire(struct dns_pod *dp, uint64_t now);
uint64_t dns_tcp_next_deadline(const struct dns_pod *dp);
void dns_tcp_close_all(struct dns_pod *dp);

#endif
