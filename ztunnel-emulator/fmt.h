/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fmt.c: how ztunnel's Rust code prints values its log lines and nacks embed.
 * Pure formatting into caller buffers; never logs. Interface: this header.
 */
#ifndef ZT_FMT_H
#define ZT_FMT_H

#include <stddef.h>

/* WorkloadUid("...") as ztunnel's Debug formatting prints it; returns buf. */
const char *uid_text(char *buf, size_t cap, const char *uid, size_t len);
/* Rust's io::Error Display: "Permission denied (os error 13)". */
void os_error(char *buf, size_t cap, int err);
/* Rust's io::Error Debug: Os { code: 2, kind: NotFound, message: "No such file or directory" }. */
void os_error_debug(char *buf, size_t cap, int err);
/* Rust's Duration Debug for whole milliseconds: 20ms, 1.28s, 15s. */
void duration_text(char *buf, size_t cap, long ms);

#endif
