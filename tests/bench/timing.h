/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timing helpers shared by the bench's C helpers (mknetns, spawn-timer,
 * tcpbench, add-floor): a CLOCK_MONOTONIC clock in ns and nearest-rank
 * percentiles over sorted samples. Header-only, libc only: each helper is
 * still built from its one .c file.
 */
#ifndef BENCH_TIMING_H
#define BENCH_TIMING_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* qsort comparator for int64_t samples, ascending */
static inline int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Nearest rank: the index (in n sorted samples, n >= 1) of the smallest one
 * with at least q of the samples at or below it.
 */
static inline size_t nearest_rank(size_t n, double q)
{
	size_t r = (size_t)((double)n * q + 0.999999);

	return r < 1 ? 0 : (r > n ? n - 1 : r - 1);
}

#endif
