/* SPDX-License-Identifier: Apache-2.0 */
/*
 * privs.c: capabilities needed / checked / dropped, the open-file limit,
 * and the capacity line. Never touches pods or connections.
 * Interface: this header.
 */
#ifndef ZT_PRIVS_H
#define ZT_PRIVS_H

#include "err.h"

struct config;
struct daemon;

/* 0, or -EPERM with e naming every missing capability and the setcap line that grants them. */
int privs_check(const struct config *cfg, struct ze_err *e);
/* Raises RLIMIT_NOFILE to what --max-pods and --max-relays need, as far as allowed. */
void privs_raise_fd_limit(const struct config *cfg);
/* Logs how many pods and relays the open-file limit leaves room for; sets --max-relays. */
void privs_log_capacity(struct daemon *d);
/* After start-up: keeps only the capabilities the options need; logs what is kept. */
void privs_drop(struct daemon *d);

#endif
