/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.c: the admin, readiness and metrics endpoints (libmicrohttpd), run
 * from the daemon's loop, with per-peer caps and a request deadline (fault
 * 9). Renders nothing itself (report.c does); prints nothing.
 * Interface: this header.
 */
#ifndef ZT_HTTP_H
#define ZT_HTTP_H

#include "err.h"

struct daemon;
struct loop_src;

/* Starts the enabled servers on the loop: 0, or -errno with e saying why (nothing left running). */
int http_start(struct daemon *d, struct ze_err *e);
void http_dispatch(struct daemon *d, struct loop_src *src);
long http_timeout_ms(const struct daemon *d);	/* -1: none */
/* ztunnel's "listener drained" line of each server, at the end of a graceful drain. */
void http_log_drained(const struct daemon *d);
void http_stop(struct daemon *d);

#endif
