/* SPDX-License-Identifier: Apache-2.0 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *prog = "";
/* stdout was closed at start: cli_guard_stdio put /dev/null there */
static bool stdout_was_closed;

void cli_set_prog(const char *name)
{
	prog = name;
}

static void vmsg(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static void vmsg(const char *fmt, va_list ap)
{
	/* keep the order of interleaved stdout and stderr (bounded: the log may be stalled) */
	fflush(stdout);
	log_flush(1.0);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	return 1;
}

void cli_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	exit(1);
}

void cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vmsg(fmt, ap);
		va_end(ap);
	}
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	exit(2);
}

int cli_guard_stdio(void)
{
	/* one poll() finds the closed ones (POLLNVAL), not an fcntl() each (issue 18) */
	struct pollfd p[3] = { { .fd = 0 }, { .fd = 1 }, { .fd = 2 } };
	bool closed[3];
	int fd, nfd, flags;

	if (poll(p, 3, 0) < 0)
		return -errno;
	/*
	 * In order 0, 1, 2: open() returns the lowest free descriptor, so each
	 * /dev/null lands exactly on the gap being filled.
	 */
	for (fd = 0; fd < 3; fd++) {
		closed[fd] = p[fd].revents & POLLNVAL;
		if (!closed[fd])
			continue;
		nfd = open("/dev/null", O_RDWR);
		if (nfd < 0)
			return -errno;
		if (nfd != fd) {
			close(nfd);
			return -EBADF;
		}
	}
	/* set only when true: a plain run writes nothing there (a page fault less: issue 18) */
	if (closed[1])
		stdout_was_closed = true;
	flags = fcntl(STDOUT_FILENO, F_GETFL);
	if (closed[2])
		return 0;	/* nowhere to warn */
	if (closed[1])
		cli_err("stdout is closed: its output goes to /dev/null");
	else if (flags >= 0 && (flags & O_ACCMODE) == O_RDONLY)
		cli_err("stdout is open read-only: its output is lost");
	return 0;
}

int cli_close_stdout(void)
{
	int err = 0;

	if (stdout_was_closed)
		err = EBADF;
	else if (ferror(stdout) | fclose(stdout))	/* both: fclose must run */
		err = errno ? errno : EIO;
	if (!err || err == EPIPE)
		return 0;
	fprintf(stderr, "%s: write error: %s\n", prog, strerror(err));
	return 1;
}

int cli_seconds(const char *option, const char *s, double *v, struct ze_err *e)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	if (errno || end == s || *end || !(*v > 0) || *v > 86400)
		return ze_fail(e, -EINVAL,
				  "invalid %s '%s': expected seconds, more than 0 and at most 86400",
				  option, s);
	return 0;
}

double cli_parse_seconds(const char *option, const char *s)
{
	struct ze_err e;
	double v;

	if (cli_seconds(option, s, &v, &e))
		cli_usage_error("%s", e.msg);
	return v;
}
