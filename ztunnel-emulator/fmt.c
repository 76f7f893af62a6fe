/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How ztunnel's Rust code prints values its log lines and nacks embed.
 * Pure formatting into caller buffers; never logs. Interface: fmt.h.
 */
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
