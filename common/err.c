/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one error contract: -errno plus an optional reason in the caller's
 * buffer. Never prints, never exits, no heap. Interface: err.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "err.h"

int ze_err_set(struct ze_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	e->code = code;
	e->msg[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}
