/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_LOG_FORMAT_H
#define ZE_LOG_FORMAT_H

/* log.c's private view of log_format.c: one line composed in the layout in force. */
#include <stddef.h>

#include "log.h"

/* "message k=v ..." as one '\n'-terminated line, malloc'ed, its length in *len; NULL without memory. */
char *log_compose(enum log_level level, const char *target, const char *body, size_t *len);

/*
 * The JSON layouts (log_json.c): target as given to log_line (spans first,
 * "proxy{wl=a/b}: ztunnel::drain"), mlen the message's length in body.
 */
char *log_json_line(enum log_layout lay, enum log_level level, const char *target, const char *ts,
		    const char *body, size_t mlen, size_t *len);

#endif
