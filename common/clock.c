/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Monotonic deadlines for event loops: arithmetic only, no state.
 * Never reads the wall clock, never prints. Interface: clock.h.
 */
#include <math.h>
#include <stdbool.h>
#include <time.h>

#include "clock.h"

void timespec_add(struct timespec *t, double secs)
{
	double whole = floor(secs);

	t->tv_sec += (time_t)whole;
	t->tv_nsec += (long)((secs - whole) * 1e9);
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

long ms_until(const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	/* round up so the wake-up is never before the deadline */
	return ms < 0 ? 0 : ms + 1;
}

bool expired(const struct timespec *deadline, const struct timespec *now)
{
	return now->tv_sec > deadline->tv_sec ||
	       (now->tv_sec == deadline->tv_sec && now->tv_nsec >= deadline->tv_nsec);
}
