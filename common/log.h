/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_LOG_H
#define ZE_LOG_H

#include <stddef.h>

/*
 * Log lines in the format of ztunnel's tracing subscriber, which is what the
 * debugging exercises (seeds/000) grep for:
 *   2024-02-21T22:01:49.916037Z  INFO ztunnel::inpod::workloadmanager: handling new stream
 * The level is right-aligned in five columns, hence two spaces before INFO.
 */
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_line(enum log_level level, const char *target, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A line without timestamp or level, as ztunnel prints its config dump. */
void log_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Quote a received string the way Rust's Debug formatting would show it
 * ("...", with \" \\ \n and \u{..} escapes) so that hostile bytes cannot
 * forge log lines. Always NUL-terminates; truncates with "..." if needed.
 */
const char *log_quote(char *dst, size_t cap, const char *s, size_t len);

#endif
