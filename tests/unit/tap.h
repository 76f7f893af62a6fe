/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_TAP_H
#define ZE_TAP_H

/*
 * A minimal plan-less TAP producer: each check prints "ok N - desc" or
 * "not ok N - desc" plus "# file:line" diagnostics; done_testing() prints
 * the "1..N" plan and returns the exit status (0 all passed, 1 otherwise).
 * Output goes to stdout and is flushed after every line, so it interleaves
 * correctly with children that inherit stdout.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct tap_state {
	int n;
	int failed;
};

/* Function-local, so a test that uses no helper gets no unused-variable warning. */
static inline struct tap_state *tap_state(void)
{
	static struct tap_state s;

	return &s;
}

static inline void tap_vdiag(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));
static inline void tap_vdiag(const char *fmt, va_list ap)
{
	char line[1024];
	const char *p, *nl;

	vsnprintf(line, sizeof(line), fmt, ap);
	/* every output line of a diagnostic must start with '#' */
	for (p = line; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl) {
			printf("# %s\n", p);
			break;
		}
		printf("# %.*s\n", (int)(nl - p), p);
	}
	fflush(stdout);
}

static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vdiag(fmt, ap);
	va_end(ap);
}

static inline int tap_vok(const char *file, int line, int pass, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static inline int tap_vok(const char *file, int line, int pass, const char *fmt, va_list ap)
{
	struct tap_state *s = tap_state();

	s->n++;
	printf("%sok %d - ", pass ? "" : "not ", s->n);
	vprintf(fmt, ap);
	putchar('\n');
	if (!pass) {
		s->failed++;
		printf("# failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return pass;
}

static inline int tap_ok(const char *file, int line, int pass, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline int tap_ok(const char *file, int line, int pass, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tap_vok(file, line, pass, fmt, ap);
	va_end(ap);
	return r;
}

static inline int tap_is_int(const char *file, int line, long long got, long long want,
			     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static inline int tap_is_int(const char *file, int line, long long got, long long want,
			     const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tap_vok(file, line, got == want, fmt, ap);
	va_end(ap);
	if (!r)
		diag("     got: %lld\n    want: %lld", got, want);
	return r;
}

static inline int tap_is_str(const char *file, int line, const char *got, const char *want,
			     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static inline int tap_is_str(const char *file, int line, const char *got, const char *want,
			     const char *fmt, ...)
{
	va_list ap;
	int pass, r;

	pass = (!got && !want) || (got && want && !strcmp(got, want));
	va_start(ap, fmt);
	r = tap_vok(file, line, pass, fmt, ap);
	va_end(ap);
	if (!r) {
		if (got)
			diag("     got: \"%s\"", got);
		else
			diag("     got: NULL");
		if (want)
			diag("    want: \"%s\"", want);
		else
			diag("    want: NULL");
	}
	return r;
}

static inline void tap_hexdump(const char *label, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i, shown = len > 256 ? 256 : len;

	printf("# %s (%zu bytes):", label, len);
	if (!p) {
		printf(" NULL\n");
		return;
	}
	for (i = 0; i < shown; i++) {
		if (i && !(i % 32))
			printf("\n#  ");
		printf(" %02x", b[i]);
	}
	printf("%s\n", shown < len ? " ..." : "");
}

static inline int tap_is_mem(const char *file, int line, const void *got, size_t gotlen,
			     const void *want, size_t wantlen, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
static inline int tap_is_mem(const char *file, int line, const void *got, size_t gotlen,
			     const void *want, size_t wantlen, const char *fmt, ...)
{
	va_list ap;
	int pass, r;

	pass = gotlen == wantlen && (!gotlen || (got && want && !memcmp(got, want, gotlen)));
	va_start(ap, fmt);
	r = tap_vok(file, line, pass, fmt, ap);
	va_end(ap);
	if (!r) {
		tap_hexdump("     got", got, gotlen);
		tap_hexdump("    want", want, wantlen);
		if (got && want) {
			const unsigned char *g = got, *w = want;
			size_t i, n = gotlen < wantlen ? gotlen : wantlen;

			for (i = 0; i < n && g[i] == w[i]; i++)
				;
			printf("# first difference at offset %zu\n", i);
		}
		fflush(stdout);
	}
	return r;
}

/* Prints the plan; returns the process exit status. */
static inline int done_testing(void)
{
	struct tap_state *s = tap_state();

	printf("1..%d\n", s->n);
	if (s->failed)
		printf("# failed %d of %d tests\n", s->failed, s->n);
	fflush(stdout);
	return s->failed ? 1 : 0;
}

#define ok(cond, ...) tap_ok(__FILE__, __LINE__, !!(cond), __VA_ARGS__)
#define pass(...) tap_ok(__FILE__, __LINE__, 1, __VA_ARGS__)
#define fail(...) tap_ok(__FILE__, __LINE__, 0, __VA_ARGS__)
#define is_int(got, want, ...) \
	tap_is_int(__FILE__, __LINE__, (long long)(got), (long long)(want), __VA_ARGS__)
#define is_str(got, want, ...) tap_is_str(__FILE__, __LINE__, (got), (want), __VA_ARGS__)
#define is_mem(got, gotlen, want, wantlen, ...) \
	tap_is_mem(__FILE__, __LINE__, (got), (gotlen), (want), (wantlen), __VA_ARGS__)

/* Open descriptors of this process (the directory's own fd counts every time). */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

#endif
