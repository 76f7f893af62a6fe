/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_LOG_GO_H
#define CNI_LOG_GO_H

/*
 * istio-cni's log layout: Istio's Go logger (pkg/log, zap's console encoder
 * with a tab between parts; observability.md 1), every release the same:
 *   2026-01-05T10:00:00.123456Z<TAB>info<TAB>cni-agent<TAB>message[<TAB>k=v k=v]
 * UTC with microseconds, lower-case level, the scope, the message, then the
 * labels in the order attached with bare values - after a tab only when
 * there are labels. The lines go through common/log.c's writer (never
 * blocking the agent) and its level filter. Interface for lines.c, agent.c.
 */
#include <stddef.h>

#include "log.h"

/* istio-cni's node-agent scope, and the emulator's own lines (not istio-cni's) */
#define SCOPE_AGENT "cni-agent"
#define SCOPE_EMU "cni-emulator"

/*
 * One line: body is "message" or "message\tk=v k=v" (the tab that Istio's
 * logger puts before the labels). Control characters other than that tab
 * are shown escaped (\n, \xNN), so a pod name cannot forge a line.
 */
void golog(enum log_level level, const char *scope, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Istio's --log_output_level: "LEVEL" or "SCOPE:LEVEL,..." (scope "default"
 * is every scope; levels none error warn info debug). 0, or -EINVAL with why.
 */
int golog_set_levels(const char *spec, char *why, size_t cap);

#endif
