/* SPDX-License-Identifier: Apache-2.0 */
/*
 * drain.c: ztunnel's graceful drain on SIGTERM/SIGINT (roles.md 4) — every
 * listener and the ZDS side closed at once, established relays kept until
 * --drain-deadline, then reset; and the per-component drain lines, which a
 * Del's immediate drain logs too. Never decides the exit code (main does).
 * Interface: this header.
 */
#ifndef ZT_DRAIN_H
#define ZT_DRAIN_H

struct daemon;
struct pod;

/*
 * The first SIGTERM/SIGINT (signame "SIGTERM"), or POST /quitquitquit
 * (signame NULL): starts the drain; the loop stops once it is done.
 */
void drain_begin(struct daemon *d, const char *signame);
/* ztunnel's "shutdown complete component=..." lines for a pod whose proxy stops. */
void drain_log_pod(const struct daemon *d, const struct pod *p);

#endif
