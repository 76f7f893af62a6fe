/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.c: the daemon's counters and the Add latency histogram (the model
 * /metrics renders). Counts only; never renders, never touches pods or
 * connections. Interface: this header.
 */
#ifndef ZT_STATS_H
#define ZT_STATS_H

#include <stdint.h>

/* Requests by type and result, for the metrics. */
enum req_kind { REQ_ADD, REQ_DEL, REQ_KEEP, REQ_SNAPSHOT, REQ_INVALID, REQ_KINDS };
enum req_result { RES_ACK, RES_NACK, RES_RESULTS };

/* Add handling time (request received -> ack sent), in seconds. */
#define ADD_BUCKETS 22
extern const double add_bucket_bounds[ADD_BUCKETS];

struct stats {
	uint64_t proxies_started, proxies_stopped;
	uint64_t requests[REQ_KINDS][RES_RESULTS];
	uint64_t add_buckets[ADD_BUCKETS];	/* non-cumulative; the last is +Inf */
	uint64_t add_count;
	double add_sum;
};

/* One Add handled in seconds (request received -> ack sent). */
void stats_observe_add(struct stats *s, double seconds);

#endif
