/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RUST_LOG-style level filter (observability.md 1): which lines pass,
 * changed at start (--log-level, RUST_LOG) or live (POST /logging?level=).
 * Interface: log.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define MAX_DIRECTIVES 16
#define OFF (-1)

struct directive {
	char target[96];	/* "" for the bare level */
	int max;		/* the most verbose level let through; OFF: none */
};

static struct {
	pthread_mutex_t mu;
	struct directive d[MAX_DIRECTIVES];
	size_t n;
	int base;
	char text[256];
} f = { .mu = PTHREAD_MUTEX_INITIALIZER, .base = LOG_INFO, .text = "info" };

static int parse_level(const char *s, size_t n)
{
	static const char *const names[] = { "error", "warn", "info", "debug", "trace" };
	size_t i;

	if (n == 3 && !strncasecmp(s, "off", 3))
		return OFF;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && !strncasecmp(s, names[i], n))
			return i == 4 ? LOG_DEBUG : (int)i;	/* no line is finer than debug */
	return -2;
}

/* One directive s[0..n) into *out (or the bare level into *base): 0 or -EINVAL. */
static int parse_directive(const char *s, size_t n, struct directive *out, bool *bare, int *base)
{
	const char *eq = memchr(s, '=', n);
	size_t tl = eq ? (size_t)(eq - s) : n;
	int lvl;

	*bare = false;
	if (!eq) {
		lvl = parse_level(s, n);
		if (lvl == -2) {	/* a target alone: everything under it */
			if (!tl || tl >= sizeof(out->target))
				return -EINVAL;
			memcpy(out->target, s, tl);
			out->target[tl] = '\0';
			out->max = LOG_DEBUG;
			return 0;
		}
		*bare = true;
		*base = lvl;
		return 0;
	}
	lvl = parse_level(eq + 1, n - tl - 1);
	if (lvl == -2 || !tl || tl >= sizeof(out->target))
		return -EINVAL;
	memcpy(out->target, s, tl);
	out->target[tl] = '\0';
	out->max = lvl;
	return 0;
}

int log_set_filter(const char *spec, char *why, size_t cap)
{
	struct directive d[MAX_DIRECTIVES];
	const char *p = spec, *end;
	size_t n = 0;
	int base = LOG_INFO;
	bool bare;

	if (strlen(spec) >= sizeof(f.text))
		return snprintf(why, cap, "log level filter too long"), -EINVAL;
	while (*p) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		if (end > p) {
			if (n == MAX_DIRECTIVES ||
			    parse_directive(p, (size_t)(end - p), &d[n], &bare, &base))
				return snprintf(why, cap,
						"invalid log level '%.*s': expected LEVEL or TARGET=LEVEL (off error warn info debug trace), at most %d",
						(int)(end - p), p, MAX_DIRECTIVES), -EINVAL;
			n += !bare;
		}
		p = *end ? end + 1 : end;
	}
	pthread_mutex_lock(&f.mu);
	memcpy(f.d, d, n * sizeof(d[0]));
	f.n = n;
	f.base = base;
	snprintf(f.text, sizeof(f.text), "%s", *spec ? spec : "info");
	pthread_mutex_unlock(&f.mu);
	return 0;
}

void log_filter_text(char *out, size_t cap)
{
	pthread_mutex_lock(&f.mu);
	snprintf(out, cap, "%s", f.text);
	pthread_mutex_unlock(&f.mu);
}

/* How much of target a directive's target covers (0: none): itself or a submodule. */
static size_t covers(const char *dt, const char *target)
{
	size_t n = strlen(dt);

	if (!strncmp(target, dt, n) && (!target[n] || !strncmp(target + n, "::", 2)))
		return n;
	/* "inpod=debug" names ztunnel's module as its >= 1.22 lines show it */
	if (!strncmp(target, "ztunnel::", 9) && !strncmp(target + 9, dt, n) &&
	    (!target[9 + n] || !strncmp(target + 9 + n, "::", 2)))
		return n;
	return 0;
}

bool log_enabled(enum log_level level, const char *target)
{
	size_t i, best = 0, c;
	int max;

	pthread_mutex_lock(&f.mu);
	max = f.base;
	for (i = 0; i < f.n; i++) {
		c = covers(f.d[i].target, target);
		if (c > best) {
			best = c;
			max = f.d[i].max;
		}
	}
	pthread_mutex_unlock(&f.mu);
	return (int)level <= max;
}
