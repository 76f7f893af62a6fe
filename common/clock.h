/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clock.c: monotonic deadlines for event loops (owns no state).
 * Never reads the wall clock, never prints. Interface: this header.
 */
#ifndef ZE_CLOCK_H
#define ZE_CLOCK_H

#include <stdbool.h>
#include <time.h>

/* Moves t forward by secs (>= 0), keeping tv_nsec normalised. */
void timespec_add(struct timespec *t, double secs);
/* Milliseconds from now (CLOCK_MONOTONIC) to deadline: 0 when past, else rounded up. */
long ms_until(const struct timespec *deadline);
bool expired(const struct timespec *deadline, const struct timespec *now);

#endif
