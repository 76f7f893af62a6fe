/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: istio-cni's Go log layout (timestamp, level, scope, message, labels)
 * and Istio's --log_output_level syntax. Never touches: which lines are
 * printed (lines.c), the writer (common/log.c). Interface: log_go.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log_go.h"

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* Istio's formatDate: UTC, microseconds, "Z" */
static void go_stamp(char out[64])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", (tm.tm_year + 1900) % 10000,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (ts.tv_nsec / 1000) % 1000000);
}

/* body with every control byte but a tab escaped; malloc'ed, NULL without memory */
static char *escape_controls(const char *body)
{
	size_t n = 0;
	const char *s;
	char *out, *o;

	for (s = body; *s; s++)
		n += ((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f ? 4 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	for (s = body, o = out; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n')
			o += sprintf(o, "\\n");
		else if ((c < 0x20 && c != '\t') || c == 0x7f)
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	*o = '\0';
	return out;
}

void golog(enum log_level level, const char *scope, const char *fmt, ...)
{
	char ts[64], *body = NULL, *safe;
	va_list ap;
	int n;

	if (!log_enabled(level, scope))
		return;
	va_start(ap, fmt);
	n = vasprintf(&body, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	safe = escape_controls(body);
	free(body);
	if (!safe)
		return;
	go_stamp(ts);
	log_plain("%s\t%s\t%s\t%s", ts, level_names[level], scope, safe);
	free(safe);
}

/* An Istio level name into the filter's ("none" is "off"); NULL if unknown. */
static const char *filter_level(const char *s, size_t n)
{
	static const char *const names[] = { "none", "error", "warn", "info", "debug" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && !strncmp(s, names[i], n))
			return i ? names[i] : "off";
	return NULL;
}

/* One "LEVEL" or "SCOPE:LEVEL" item appended to out as the filter's "LEVEL" / "SCOPE=LEVEL". */
static int one_item(const char *s, size_t n, char *out, size_t cap)
{
	const char *colon = memchr(s, ':', n);
	const char *lvl = colon ? colon + 1 : s;
	const char *f = filter_level(lvl, n - (size_t)(lvl - s));
	size_t len = strlen(out);
	size_t sl = colon ? (size_t)(colon - s) : 0;

	if (!f || (colon && !sl))
		return -EINVAL;
	if (!colon || (sl == 7 && !strncmp(s, "default", 7)))
		snprintf(out + len, cap - len, "%s%s", len ? "," : "", f);
	else
		snprintf(out + len, cap - len, "%s%.*s=%s", len ? "," : "", (int)sl, s, f);
	return strlen(out) + 1 < cap ? 0 : -EINVAL;
}

int golog_set_levels(const char *spec, char *why, size_t cap)
{
	char filter[256] = "";
	const char *p = spec, *end;

	while (*p) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		if (end == p || one_item(p, (size_t)(end - p), filter, sizeof(filter)))
			return snprintf(why, cap,
					"invalid --log-level '%s': expected LEVEL or SCOPE:LEVEL,... (none error warn info debug)",
					spec), -EINVAL;
		p = *end ? end + 1 : end;
	}
	if (!*filter)
		return snprintf(why, cap, "empty --log-level"), -EINVAL;
	return log_set_filter(filter, why, cap);
}
