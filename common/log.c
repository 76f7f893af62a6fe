/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = {
	[LOG_ERROR] = "ERROR",
	[LOG_WARN] = "WARN",
	[LOG_INFO] = "INFO",
	[LOG_DEBUG] = "DEBUG",
};

static void log_vline(enum log_level level, const char *target, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

	flockfile(stdout);
	printf("%s.%06ldZ %5s %s: ", stamp, ts.tv_nsec / 1000, level_names[level], target);
	vprintf(fmt, ap);
	putchar('\n');
	funlockfile(stdout);
}

void log_line(enum log_level level, const char *target, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(level, target, fmt, ap);
	va_end(ap);
}

bool log_limited(struct log_limit *lim, enum log_level level, const char *target, const char *fmt, ...)
{
	struct timespec now;
	double age;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	age = (double)(now.tv_sec - lim->window.tv_sec) + (double)(now.tv_nsec - lim->window.tv_nsec) / 1e9;
	if (lim->in_window == 0 || age >= lim->interval) {
		lim->window = now;
		lim->in_window = 0;
	}
	if (lim->in_window >= lim->burst) {
		lim->suppressed++;
		return false;
	}
	lim->in_window++;
	va_start(ap, fmt);
	log_vline(level, target, fmt, ap);
	va_end(ap);
	if (lim->suppressed) {
		log_line(level, target, "suppressed %lu similar", lim->suppressed);
		lim->suppressed = 0;
	}
	return true;
}

void log_plain(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* One byte as Rust's escape_debug shows it; returns the length written to out. */
static size_t quote_byte(unsigned char c, char out[8])
{
	switch (c) {
	case '"':
	case '\\':
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	case '\0':
		return (size_t)snprintf(out, 8, "\\0");
	case '\n':
		return (size_t)snprintf(out, 8, "\\n");
	case '\r':
		return (size_t)snprintf(out, 8, "\\r");
	case '\t':
		return (size_t)snprintf(out, 8, "\\t");
	}
	if (c < 0x20 || c == 0x7f)
		return (size_t)snprintf(out, 8, "\\u{%x}", c);
	out[0] = (char)c;
	return 1;
}

const char *log_quote(char *dst, size_t cap, const char *s, size_t len)
{
	char piece[8];
	size_t o = 0, i, full = 2;	/* the quotes */
	bool cut;

	if (!cap)
		return dst;
	for (i = 0; i < len; i++)
		full += quote_byte((unsigned char)s[i], piece);
	cut = full + 1 > cap;
	/* a cut string ends in ..." and its NUL: at least "..." fits */
	if (cut && cap < 6) {
		dst[0] = '\0';
		return dst;
	}
	dst[o++] = '"';
	for (i = 0; i < len; i++) {
		size_t n = quote_byte((unsigned char)s[i], piece);

		if (cut && o + n + 5 > cap)
			break;
		memcpy(dst + o, piece, n);
		o += n;
	}
	if (cut) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}
