/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZT_ADMISSION_H
#define ZT_ADMISSION_H

/*
 * Who may hold one of the daemon's ZDS connections (faults 4 and 18 of
 * issue 10). A peer is judged by SO_PEERCRED before it costs anything: one
 * that is not allowed, or that would go over a limit, gets the Hello, a nack
 * saying why, and is closed at once, so it never holds a slot and never waits
 * for --timeout. --max-connections counts only the peers served; a plain
 * user (--allow-uid/--allow-gid) may take at most half of it, and never the
 * last slot, which stays free for root and the daemon's own user.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

enum admit { ADMIT_OK, ADMIT_REFUSED, ADMIT_FULL };

/* root and the daemon's own user: always allowed, never capped per user */
bool peer_privileged(uid_t uid);
bool peer_allowed(const struct config *cfg, const struct ucred *cr);

/* The connections served now, as the ZDS server counts them (admission never sees one). */
struct admission_load {
	size_t conns;		/* every peer served */
	size_t unpriv_conns;	/* of those, other users' than root and the daemon's */
	/* how many one uid holds; asked only when the per-user cap is what decides */
	size_t (*conns_of)(const void *ctx, uid_t uid);
	const void *ctx;
};

/* Whether the peer may take a slot now; otherwise why holds the nack's text. */
enum admit admission_check(const struct config *cfg, const struct admission_load *load,
			   const struct ucred *cr, char *why, size_t cap);

/* Hello, the nack why, then close(fd); logged through a rate limit per kind. */
void admission_turn_away(int fd, const struct ucred *cr, enum admit verdict, const char *why);

#endif
