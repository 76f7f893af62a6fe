/* SPDX-License-Identifier: Apache-2.0 */
#include "admission.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fdpass.h"
#include "log.h"
#include "targets.h"
#include "zds.h"

bool peer_privileged(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* By default only root and the daemon's own user may hand it pods. */
bool peer_allowed(const struct config *cfg, const struct ucred *cr)
{
	size_t i;

	if (peer_privileged(cr->uid))
		return true;
	for (i = 0; i < cfg->n_allow_uids; i++)
		if (cr->uid == cfg->allow_uids[i])
			return true;
	for (i = 0; i < cfg->n_allow_gids; i++)
		if (cr->gid == cfg->allow_gids[i])
			return true;
	return false;
}

enum admit admission_check(const struct config *cfg, const struct admission_load *load,
			   const struct ucred *cr, char *why, size_t cap)
{
	size_t max = cfg->max_conns, per_user = max / 2 ? max / 2 : 1;

	if (!peer_allowed(cfg, cr)) {
		snprintf(why, cap, "permission denied");
		return ADMIT_REFUSED;
	}
	if (load->conns >= max) {
		snprintf(why, cap, "too many connections (%zu, see --max-connections)", max);
		return ADMIT_FULL;
	}
	if (peer_privileged(cr->uid))
		return ADMIT_OK;
	/* with a single slot there is nothing to keep back */
	if (max > 1 && load->unpriv_conns >= max - 1) {
		snprintf(why, cap, "too many connections (%zu, see --max-connections): the last is kept for root",
			 max);
		return ADMIT_FULL;
	}
	if (load->conns_of(load->ctx, cr->uid) >= per_user) {
		snprintf(why, cap, "too many connections from uid %u (%zu, half of --max-connections)",
			 (unsigned)cr->uid, per_user);
		return ADMIT_FULL;
	}
	return ADMIT_OK;
}

void admission_turn_away(int fd, const struct ucred *cr, enum admit verdict, const char *why)
{
	/* a flood of these must not flood the log too: a few lines a second per kind */
	static struct log_limit refused = LOG_LIMIT_INIT(1, 5), full = LOG_LIMIT_INIT(1, 5);
	uint8_t buf[ZDS_MAX_MSG];
	ssize_t n;

	if (verdict == ADMIT_REFUSED)
		log_limited(&refused, LOG_WARN, T_WM,
			    "peer pid=%d uid=%u gid=%u is not allowed (see --allow-uid, --allow-gid): refused",
			    (int)cr->pid, (unsigned)cr->uid, (unsigned)cr->gid);
	else
		log_limited(&full, LOG_WARN, T_WM, "%s: closing the connection from pid=%d uid=%u", why,
			    (int)cr->pid, (unsigned)cr->uid);
	/*
	 * The Hello first: a ZDS client reads it before anything else, then takes
	 * the nack as the answer to its first request. A new socket's send
	 * buffer is empty, so neither send can block.
	 */
	n = zds_encode_hello(buf, sizeof(buf), ZDS_VERSION_V1);
	if (n > 0 && fdpass_send(fd, buf, (size_t)n, NULL, 0, MSG_DONTWAIT) == 0) {
		n = zds_encode_ack(buf, sizeof(buf), why, strlen(why));
		if (n > 0)
			fdpass_send(fd, buf, (size_t)n, NULL, 0, MSG_DONTWAIT);
	}
	close(fd);
}
