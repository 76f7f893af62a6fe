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

/* "DATE.uuuuuuZ": the digits by hand, no format engine (issue 18) */
static void put_stamp(char out[48], const char *date, long us)
{
	size_t n = strnlen(date, 26);
	int i;

	memcpy(out, date, n);
	out[n] = '.';
	for (i = 6; i >= 1; i--, us /= 10)
		out[n + (size_t)i] = (char)('0' + us % 10);
	memcpy(out + n + 7, "Z", 2);
}

/*
 * RFC 3339 UTC with microseconds. The date and time up to the second are
 * formatted once per second per thread: a pod Add logs four to eight lines
 * within the same second (issue 18).
 */
static void stamp(char out[48])
{
	static __thread time_t last = (time_t)-1;
	static __thread char s[32];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != last) {
		gmtime_r(&ts.tv_sec, &tm);
		strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
		last = ts.tv_sec;
	}
	put_stamp(out, s, (ts.tv_nsec / 1000) % 1000000);
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

/*
 * Whether body starts with "name=": field_at() on " " + body, without the
 * copy, over the same first 254 bytes.
 */
static bool fields_only(const char *body)
{
	size_t i = 0;

	if (!((*body >= 'a' && *body <= 'z') || (*body >= 'A' && *body <= 'Z') || *body == '_'))
		return false;
	while (i < 254 && ident_char(body[i]))
		i++;
	return i < 254 && body[i] == '=';
}

/* Length of the message part of body: up to the space before its first field. */
static size_t message_len(const char *body)
{
	const char *p;

	/* a line of fields only (ztunnel's DNS query event) */
	if (fields_only(body))
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

/* Pieces laid end to end into one malloc'ed line: no format engine per line. */
struct piece {
	const char *s;
	size_t n;
};

static char *join(const struct piece *v, size_t k, size_t *len)
{
	size_t i, n = 0;
	char *line, *o;

	for (i = 0; i < k; i++)
		n += v[i].n;
	line = malloc(n + 1);
	if (!line)
		return NULL;
	for (o = line, i = 0; i < k; i++) {
		memcpy(o, v[i].s, v[i].n);
		o += v[i].n;
	}
	*o = '\0';
	*len = n;
	return line;
}

#define P(str) ((struct piece){ (str), strlen(str) })
#define PN(str, len) ((struct piece){ (str), (len) })

char *log_compose(enum log_level level, const char *target, const char *body, size_t *len)
{
	size_t mlen = message_len(body);
	const char *fields = body + mlen + (body[mlen] == ' ');
	char ts[48], tt[512];
	struct piece v[10];
	size_t k = 0;
	int lay = atomic_load(&layout);

	stamp(ts);
	if (lay == LOG_LAYOUT_TAB)
		target = tab_target(tt, sizeof(tt), target);
	v[k++] = P(ts);
	switch (lay) {
	case LOG_LAYOUT_FULL:	/* "%s %5s %s: %s\n" */
		v[k++] = PN("      ", 6 - (strlen(upper[level]) < 5 ? strlen(upper[level]) : 5));
		v[k++] = P(upper[level]);
		v[k++] = PN(" ", 1);
		v[k++] = P(target);
		v[k++] = PN(": ", 2);
		v[k++] = P(body);
		break;
	case LOG_LAYOUT_TAB:
		v[k++] = PN("\t", 1);
		v[k++] = P(lower[level]);
		v[k++] = PN("\t", 1);
		v[k++] = P(target);
		v[k++] = PN("\t", 1);
		if (!mlen && *fields) {	/* no message: the fields follow the target's tab */
			v[k++] = P(fields);
		} else {
			v[k++] = PN(body, mlen);
			v[k++] = PN("\t", 1);
			v[k++] = P(fields);
		}
		break;
	case LOG_LAYOUT_GO:
		v[k++] = PN("\t", 1);
		v[k++] = P(lower[level]);
		v[k++] = PN("\t", 1);
		v[k++] = P(target);
		v[k++] = PN("\t", 1);
		v[k++] = PN(body, mlen);
		if (*fields) {
			v[k++] = PN("\t", 1);
			v[k++] = P(fields);
		}
		break;
	case LOG_LAYOUT_JSON:
	case LOG_LAYOUT_JSON_TRACING:
		return log_json_line((enum log_layout)lay, level, target, ts, body, mlen, len);
	default:
		return NULL;
	}
	v[k++] = PN("\n", 1);
	return join(v, k, len);
}
