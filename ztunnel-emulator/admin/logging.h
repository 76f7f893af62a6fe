/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZT_ADMIN_LOGGING_H
#define ZT_ADMIN_LOGGING_H

/*
 * The admin port's /logging, as ztunnel's admin answers it
 * (observability.md 3): POST /logging?level=FILTER replaces the log filter
 * live (RUST_LOG syntax; "reset": the one the daemon started with).
 * Owns: the answer's text. Never touches HTTP itself (http.c does).
 */
#include <stdio.h>

#include "daemon.h"

/* Writes the answer to out; returns the HTTP status. level: the query's, or NULL. */
unsigned admin_logging(const struct daemon *d, const char *method, const char *level, FILE *out);

#endif
