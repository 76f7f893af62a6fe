/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_ERR_H
#define ZE_ERR_H

/*
 * Owns: the one error contract of the tree. Never touches: output (nothing
 * here prints) or the exit status. Interface: this header (err.c).
 *
 * Every function below main and the verb layer returns 0 (or a count, an
 * fd) on success and -errno on failure. One with a human reason fills an
 * optional caller-provided buffer: either a (char *why, size_t cap) pair,
 * written with ze_reason(), or a struct ze_err, written with ze_fail().
 * Only main() or a verb prints the reason ("prog: reason", cli_err()) and
 * picks the exit status; nothing below them calls exit().
 */
#include <stddef.h>

/*
 * Room for one reason: they quote paths (up to PATH_MAX), pod uids (up to
 * a ZDS message) and hints, so 256 bytes would cut real messages short.
 */
#define ZE_ERR_MAX 8192

struct ze_err {
	int code;		/* the -errno returned with it */
	char msg[ZE_ERR_MAX];	/* one line, no "prog: " prefix, no newline */
};

/* Writes the reason into why (when cap > 0) and returns ret. */
int ze_reason(char *why, size_t cap, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Fills *e (when e is not NULL) with code and the reason; returns code. */
int ze_fail(struct ze_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
