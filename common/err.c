/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: filling a reason buffer (the error contract in err.h).
 * Never touches: stdout/stderr, exit(). Interface: err.h.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int ze_reason(char *why, size_t cap, int ret, const char *fmt, ...)
{
	va_list ap;

	if (cap) {
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return ret;
}

int ze_fail(struct ze_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}
