/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How ztunnel's Rust code prints values its log lines and nacks embed.
 * Pure formatting into caller buffers; never logs. Interface: fmt.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fmt.h"
#include "log.h"

/* WorkloadUid("...") as ztunnel's Debug formatting prints it. */
const char *uid_text(char *buf, size_t cap, const char *uid, size_t len)
{
	char q[300];

	snprintf(buf, cap, "WorkloadUid(%s)", log_quote(q, sizeof(q), uid, len));
	return buf;
}

/* Rust's io::Error Display, which ztunnel's messages embed. */
void os_error(char *buf, size_t cap, int err)
{
	snprintf(buf, cap, "%s (os error %d)", strerror(err), err);
}

/* The ErrorKind Rust's std maps an errno to (the ones a connect meets). */
static const char *error_kind(int err)
{
	switch (err) {
	case ENOENT:
		return "NotFound";
	case EACCES:
	case EPERM:
		return "PermissionDenied";
	case ECONNREFUSED:
		return "ConnectionRefused";
	case ECONNRESET:
		return "ConnectionReset";
	case EAGAIN:
		return "WouldBlock";
	case ENOTDIR:
		return "NotADirectory";
	case ENOTSOCK:
	case EPROTOTYPE:
		return "Uncategorized";
	default:
		return "Other";
	}
}

void os_error_debug(char *buf, size_t cap, int err)
{
	snprintf(buf, cap, "Os { code: %d, kind: %s, message: \"%s\" }", err, error_kind(err),
		 strerror(err));
}

void duration_text(char *buf, size_t cap, long ms)
{
	if (ms < 1000) {
		snprintf(buf, cap, "%ldms", ms);
		return;
	}
	if (ms % 1000 == 0)
		snprintf(buf, cap, "%lds", ms / 1000);
	else if (ms % 100 == 0)
		snprintf(buf, cap, "%ld.%lds", ms / 1000, (ms % 1000) / 100);
	else if (ms % 10 == 0)
		snprintf(buf, cap, "%ld.%02lds", ms / 1000, (ms % 1000) / 10);
	else
		snprintf(buf, cap, "%ld.%03lds", ms / 1000, ms % 1000);
}
