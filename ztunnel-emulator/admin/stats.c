/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's counters and the Add latency histogram. Counts only: /metrics
 * (report.c) renders them. Interface: admin/stats.h.
 */
#include "admin/stats.h"

/* fine below 100 µs, where a handoff should land (benchmarks read percentiles from these) */
const double add_bucket_bounds[ADD_BUCKETS] = {
	0.000005, 0.00001, 0.000015, 0.00002, 0.000025, 0.00003, 0.00004, 0.00005,
	0.00006, 0.000075, 0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.001,
	0.0025, 0.005, 0.01, 0.025, 0.1, 0 /* +Inf */,
};

void stats_observe_add(struct stats *s, double seconds)
{
	int i;

	for (i = 0; i < ADD_BUCKETS - 1; i++)
		if (seconds <= add_bucket_bounds[i])
			break;
	s->add_buckets[i]++;
	s->add_count++;
	s->add_sum += seconds;
}
