/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One log line in the layout in force (observability.md 1): ztunnel 1.21's
 * full format, ztunnel >= 1.22's tab-separated IstioFormat, istio-cni's Go
 * logger, or JSON lines. Interface: log.h (log_set_layout), log_format.h.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "log_format.h"

static _Atomic int layout = LOG_LAYOUT_FULL;

static const char *const upper[] = { "ERROR", "WARN", "INFO", "DEBUG" };
static const char *const lower[] = { "error", "warn", "info", "debug" };

void log_set_layout(enum log_layout l)
{
	layout = (int)l;
}

static void stamp(char out[48])
{
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 48, "%.26s.%06ldZ", s, (ts.tv_nsec / 1000) % 1000000);
}

static bool ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.';
}

/* Where " name=" starts at s (s points at the space), else false. */
static bool field_at(const char *s)
{
	const char *k = s + 1;

	if (*s != ' ' || !((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
		return false;
	while (ident_char(*k))
		k++;
	return *k == '=';
}

/* Length of the message part of body: up to the space before its first field. */
static size_t message_len(const char *body)
{
	const char *p;
	char space[256];

	/* a line of fields only (ztunnel's DNS query event) */
	snprintf(space, sizeof(space), " %.254s", body);
	if (field_at(space))
		return 0;
	for (p = body; *p; p++) {
		if (*p == '"') {	/* a quoted value in the message is not a field */
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (!*p)
				break;
		} else if (field_at(p)) {
			return (size_t)(p - body);
		}
	}
	return strlen(body);
}

/* ztunnel's targets lose their crate prefix from 1.22 on */
static const char *trim_target(const char *t)
{
	return strncmp(t, "ztunnel::", 9) ? t : t + 9;
}

/*
 * tracing's full format puts the spans first ("proxy{wl=a/b}: ztunnel::drain"),
 * IstioFormat after the target ("drain:proxy{wl=a/b}").
 */
static const char *tab_target(char *out, size_t cap, const char *target)
{
	const char *cut = strstr(target, "}: ");

	if (!cut)
		return trim_target(target);
	snprintf(out, cap, "%s:%.*s", trim_target(cut + 3), (int)(cut + 1 - target), target);
	return out;
}

char *log_compose(enum log_level level, const char *target, const char *body, size_t *len)
{
	size_t mlen = message_len(body);
	const char *fields = body + mlen + (body[mlen] == ' ');
	char ts[48], tt[512], *line = NULL;
	int n = -1, lay = atomic_load(&layout);

	stamp(ts);
	if (lay == LOG_LAYOUT_TAB)
		target = tab_target(tt, sizeof(tt), target);
	switch (lay) {
	case LOG_LAYOUT_FULL:
		n = asprintf(&line, "%s %5s %s: %s\n", ts, upper[level], target, body);
		break;
	case LOG_LAYOUT_TAB:
		if (!mlen && *fields)	/* no message: the fields follow the target's tab */
			n = asprintf(&line, "%s\t%s\t%s\t%s\n", ts, lower[level], target, fields);
		else
			n = asprintf(&line, "%s\t%s\t%s\t%.*s\t%s\n", ts, lower[level], target,
				     (int)mlen, body, fields);
		break;
	case LOG_LAYOUT_GO:
		n = asprintf(&line, "%s\t%s\t%s\t%.*s%s%s\n", ts, lower[level], target, (int)mlen, body,
			     *fields ? "\t" : "", fields);
		break;
	case LOG_LAYOUT_JSON:
	case LOG_LAYOUT_JSON_TRACING:
		return log_json_line((enum log_layout)lay, level, target, ts, body, mlen, len);
	}
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return line;
}
