/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LOG_FORMAT=json (observability.md 1): one JSON object per line. ztunnel
 * >= 1.23 (src/telemetry.rs IstioJsonFormat): level, time, scope (the whole
 * target), message, each k=v field, then one key per span with its fields;
 * 1.22 (tracing-subscriber's json, flatten_event): timestamp, upper-case
 * level, message, fields, target, span, spans. A Debug-quoted string becomes
 * a JSON string, a number or bool stays bare, anything else is a string.
 * Interface: log_format.c.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "log_format.h"

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct out *o, const char *s, size_t n)
{
	char *b;

	if (o->failed)
		return;
	if (o->len + n + 2 > o->cap) {
		o->cap = (o->len + n + 2) * 2;
		b = realloc(o->buf, o->cap);
		if (!b) {
			o->failed = true;
			return;
		}
		o->buf = b;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* s[0..n) as a JSON string; Rust's \u{x} escapes (already quoted text) become \u00xx */
static void put_string(struct out *o, const char *s, size_t n, bool unescape)
{
	char esc[8];
	size_t i;

	put(o, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unescape && c == '\\' && i + 1 < n) {
			if (s[i + 1] == 'u' && i + 2 < n && s[i + 2] == '{') {
				unsigned v = (unsigned)strtoul(s + i + 3, NULL, 16);

				snprintf(esc, sizeof(esc), "\\u%04x", v & 0xffff);
				puts_(o, esc);
				while (i < n && s[i] != '}')
					i++;
				continue;
			}
			put(o, s + i, s[i + 1] == '0' ? 0 : 2);
			if (s[i + 1] == '0')
				puts_(o, "\\u0000");
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(o, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			puts_(o, esc);
		} else {
			put(o, s + i, 1);
		}
	}
	put(o, "\"", 1);
}

/* A bare value that JSON takes as it is. */
static bool bare_json(const char *v, size_t n)
{
	char *end, tmp[64];

	if ((n == 4 && !memcmp(v, "true", 4)) || (n == 5 && !memcmp(v, "false", 5)))
		return true;
	if (!n || n >= sizeof(tmp) || !(*v == '-' || (*v >= '0' && *v <= '9')))
		return false;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	strtod(tmp, &end);
	return !*end;
}

/* The end of the value starting at v: a quoted string's closing quote + 1, else the next " k=". */
static const char *value_end(const char *v)
{
	const char *p = v;

	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && p[1])
				p++;
		return *p ? p + 1 : p;
	}
	while (*p) {
		const char *k = p + 1;

		if (*p == ' ') {
			while ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
			       (*k >= '0' && *k <= '9') || *k == '_' || *k == '.')
				k++;
			if (k > p + 1 && *k == '=')
				break;
		}
		p++;
	}
	return p;
}

static void put_fields(struct out *o, const char *f)
{
	while (*f) {
		const char *eq = strchr(f, '='), *end;

		if (!eq)
			break;
		puts_(o, ",");
		put_string(o, f, (size_t)(eq - f), false);
		puts_(o, ":");
		end = value_end(eq + 1);
		if (eq[1] == '"' && end > eq + 2 && end[-1] == '"')
			put_string(o, eq + 2, (size_t)(end - eq - 3), true);
		else if (bare_json(eq + 1, (size_t)(end - eq - 1)))
			put(o, eq + 1, (size_t)(end - eq - 1));
		else
			put_string(o, eq + 1, (size_t)(end - eq - 1), false);
		f = *end == ' ' ? end + 1 : end;
	}
}

/* "{k:v,...}" of a span's "k=v k=v" (n bytes), then name when given (tracing's json puts it last) */
static void put_span(struct out *o, const char *f, size_t n, const char *name, size_t name_len)
{
	char *copy = strndup(f, n);
	size_t at;

	puts_(o, "{");
	at = o->len;
	if (copy)
		put_fields(o, copy);
	else
		o->failed = true;
	free(copy);
	if (name) {
		puts_(o, ",\"name\":");
		put_string(o, name, name_len, false);
	}
	if (!o->failed && o->len > at && o->buf[at] == ',')	/* no comma before the first */
		memmove(o->buf + at, o->buf + at + 1, --o->len - at);
	puts_(o, "}");
}

/* Spans as log_line's target carries them, "a{k=v}:b{k=v}: crate::module": the module; *spans_len the spans' part. */
static const char *split_spans(const char *target, size_t *spans_len)
{
	const char *cut = strstr(target, "}: ");

	*spans_len = cut ? (size_t)(cut + 1 - target) : 0;
	return cut ? cut + 3 : target;
}

#define MAX_SPANS 8

/*
 * The spans in s[0..n) as ztunnel's IstioJsonFormat writes them, one key
 * per span ("proxy": {"wl": ..}), or as tracing's json: the innermost under
 * "span", all of them under "spans", each with its "name" last.
 */
static void put_spans(struct out *o, const char *s, size_t n, bool tracing)
{
	const char *end = s + n, *name[MAX_SPANS], *open[MAX_SPANS], *close[MAX_SPANS];
	size_t count = 0, i;

	while (s < end && count < MAX_SPANS && (open[count] = memchr(s, '{', (size_t)(end - s))) &&
	       (close[count] = memchr(open[count], '}', (size_t)(end - open[count])))) {
		name[count] = s;
		s = close[count] + 1;
		s += s < end && *s == ':';
		count++;
	}
	for (i = 0; !tracing && i < count; i++) {
		puts_(o, ",");
		put_string(o, name[i], (size_t)(open[i] - name[i]), false);
		puts_(o, ":");
		put_span(o, open[i] + 1, (size_t)(close[i] - open[i] - 1), NULL, 0);
	}
	if (!tracing || !count)
		return;
	puts_(o, ",\"span\":");
	i = count - 1;
	put_span(o, open[i] + 1, (size_t)(close[i] - open[i] - 1), name[i], (size_t)(open[i] - name[i]));
	puts_(o, ",\"spans\":[");
	for (i = 0; i < count; i++) {
		if (i)
			puts_(o, ",");
		put_span(o, open[i] + 1, (size_t)(close[i] - open[i] - 1), name[i],
			 (size_t)(open[i] - name[i]));
	}
	puts_(o, "]");
}

/* ztunnel >= 1.23 (src/telemetry.rs IstioJsonFormat): level, time, scope, fields, spans. */
static void istio_json(struct out *o, enum log_level level, const char *target, const char *ts,
		       const char *body, size_t mlen)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	size_t slen;
	const char *module = split_spans(target, &slen);

	puts_(o, "{\"level\":\"");
	puts_(o, names[level]);
	puts_(o, "\",\"time\":\"");
	puts_(o, ts);
	puts_(o, "\",\"scope\":");
	put_string(o, module, strlen(module), false);
	if (mlen) {
		puts_(o, ",\"message\":");
		put_string(o, body, mlen, false);
	}
	if (body[mlen])
		put_fields(o, body + mlen + (body[mlen] == ' '));
	put_spans(o, target, slen, false);
	puts_(o, "}\n");
}

/* ztunnel 1.22 (tracing-subscriber's json, flatten_event): timestamp, level, fields, target, spans. */
static void tracing_json(struct out *o, enum log_level level, const char *target, const char *ts,
			 const char *body, size_t mlen)
{
	static const char *const names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
	size_t slen;
	const char *module = split_spans(target, &slen);

	puts_(o, "{\"timestamp\":\"");
	puts_(o, ts);
	puts_(o, "\",\"level\":\"");
	puts_(o, names[level]);
	puts_(o, "\"");
	if (mlen) {
		puts_(o, ",\"message\":");
		put_string(o, body, mlen, false);
	}
	if (body[mlen])
		put_fields(o, body + mlen + (body[mlen] == ' '));
	puts_(o, ",\"target\":");
	put_string(o, module, strlen(module), false);
	put_spans(o, target, slen, true);
	puts_(o, "}\n");
}

char *log_json_line(enum log_layout lay, enum log_level level, const char *target, const char *ts,
		    const char *body, size_t mlen, size_t *len)
{
	struct out o = { 0 };

	if (lay == LOG_LAYOUT_JSON_TRACING)
		tracing_json(&o, level, target, ts, body, mlen);
	else
		istio_json(&o, level, target, ts, body, mlen);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	o.buf[o.len] = '\0';	/* put() keeps room for it */
	*len = o.len;
	return o.buf;
}
