/* SPDX-License-Identifier: Apache-2.0 */
/*
 * err.c: the one error contract of both programs (HACKING.md). A function
 * returns 0 (or a value >= 0) on success and -errno on failure; one with a
 * human reason also fills an optional caller-provided struct ze_err. Only
 * main (the command layer) prints the reason and picks the exit code.
 * Never prints, never exits, no heap. Interface: this header.
 */
#ifndef ZE_ERR_H
#define ZE_ERR_H

struct ze_err {
	int code;		/* -errno, as returned */
	char msg[4096 + 256];	/* room for a path and its context; "" when nothing to add */
};

/* Fills e (when not NULL) with code and the formatted reason; returns code. */
int ze_err_set(struct ze_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
