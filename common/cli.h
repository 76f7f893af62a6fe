/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_CLI_H
#define ZE_CLI_H

#include "err.h"

/*
 * The command layer both programs share (util-linux conventions): messages
 * are "prog: text" on stderr; usage errors add a "Try 'prog --help'" line
 * and exit 2. Only main() and the command code call these; the rest of
 * common/ returns -errno and never prints or exits.
 */
void cli_set_prog(const char *name);

/*
 * Opens /dev/null onto any of fds 0-2 that is closed, so that nothing the
 * program opens later (a pod's netns fd, a socket) becomes its stdout and
 * gets its output (faults.md 19). Call first in main, before any open().
 * Warns once on stderr when stdout was closed or cannot be written.
 * Returns 0, or -errno when /dev/null cannot be opened.
 */
int cli_guard_stdio(void);

/*
 * After --help or --version, as util-linux's close_stdout(): flushes and
 * closes stdout; returns 0, or 1 after "prog: write error: ..." on stderr
 * when the text did not get out (a full disk, a stdout that was closed at
 * start and is /dev/null since cli_guard_stdio). A reader gone away (EPIPE)
 * is no error.
 */
int cli_close_stdout(void);

/* Prints "prog: text" to stderr; returns 1, the exit status of a failure. */
int cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* fmt may be NULL (getopt already said what was wrong). Exits 2. */
void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Seconds as given to --timeout: more than 0, at most a day; else a usage error. */
double cli_parse_seconds(const char *option, const char *s);
/* The same without exiting: 0, or -EINVAL with e saying why (err.h). */
int cli_seconds(const char *option, const char *s, double *v, struct ze_err *e);

#endif
