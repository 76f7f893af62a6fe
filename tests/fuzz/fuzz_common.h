/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_FUZZ_COMMON_H
#define ZE_FUZZ_COMMON_H

/*
 * Helpers the fuzz harnesses share. Written independently of the code under
 * test (common/zds.c, ztunnel-emulator/admin/report.c) so that they can judge it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* abort() with a reason: libFuzzer saves the input and prints the stack. */
#define FUZZ_CHECK(cond, ...)                                                 \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "\nFUZZ INVARIANT VIOLATED at %s:%d: %s\n  ", \
				__FILE__, __LINE__, #cond);                   \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
			abort();                                              \
		}                                                             \
	} while (0)

/*
 * The daemon under fuzzing logs every request to stdout: /dev/null unless
 * FUZZ_LOG is set. SIGPIPE ignored, as the daemon does for its peers.
 */
static inline void fz_quiet_daemon(void)
{
	int fd;

	if (!getenv("FUZZ_LOG")) {
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		FUZZ_CHECK(fd >= 0 && dup2(fd, STDOUT_FILENO) == STDOUT_FILENO, "stdout to /dev/null");
		close(fd);
	}
	signal(SIGPIPE, SIG_IGN);
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
static inline bool fz_utf8_ok(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint8_t lo = 0x80, hi = 0xbf;
		size_t extra;

		if (c <= 0x7f) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			extra = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			extra = 2;
			if (c == 0xe0)
				lo = 0xa0;	/* overlong */
			else if (c == 0xed)
				hi = 0x9f;	/* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			extra = 3;
			if (c == 0xf0)
				lo = 0x90;	/* overlong */
			else if (c == 0xf4)
				hi = 0x8f;	/* above U+10FFFF */
		} else {
			return false;
		}
		if (len - i <= extra)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= extra; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += extra + 1;
	}
	return true;
}

/* ---- a small strict JSON (RFC 8259) validator ---------------------------- */

struct fz_json {
	const uint8_t *p, *end;
	int depth;
};

static inline void fz_json_ws(struct fz_json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static inline bool fz_json_lit(struct fz_json *j, const char *lit)
{
	size_t n = 0;

	while (lit[n])
		n++;
	if ((size_t)(j->end - j->p) < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (j->p[i] != (uint8_t)lit[i])
			return false;
	j->p += n;
	return true;
}

static inline bool fz_json_string(struct fz_json *j)
{
	const uint8_t *start;

	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	start = j->p;
	while (j->p < j->end && *j->p != '"') {
		uint8_t c = *j->p;

		if (c < 0x20)
			return false;	/* control characters must be escaped */
		if (c == '\\') {
			j->p++;
			if (j->p >= j->end)
				return false;
			switch (*j->p) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				j->p++;
				break;
			case 'u':
				j->p++;
				for (int k = 0; k < 4; k++, j->p++) {
					if (j->p >= j->end)
						return false;
					c = *j->p;
					if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
					      (c >= 'A' && c <= 'F')))
						return false;
				}
				break;
			default:
				return false;
			}
			continue;
		}
		j->p++;
	}
	if (j->p >= j->end)
		return false;
	if (!fz_utf8_ok(start, (size_t)(j->p - start)))
		return false;
	j->p++;
	return true;
}

static inline bool fz_json_number(struct fz_json *j)
{
	const uint8_t *s = j->p;

	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p >= j->end)
		return false;
	if (*j->p == '0') {
		j->p++;
	} else if (*j->p >= '1' && *j->p <= '9') {
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	} else {
		return false;
	}
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return false;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return false;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	return j->p > s;
}

static inline bool fz_json_value(struct fz_json *j)
{
	bool ok = false;

	if (++j->depth > 64)
		return false;
	fz_json_ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
		j->p++;
		fz_json_ws(j);
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			ok = true;
			break;
		}
		for (;;) {
			fz_json_ws(j);
			if (!fz_json_string(j))
				goto out;
			fz_json_ws(j);
			if (j->p >= j->end || *j->p != ':')
				goto out;
			j->p++;
			if (!fz_json_value(j))
				goto out;
			fz_json_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == '}') {
				j->p++;
				ok = true;
			}
			goto out;
		}
	case '[':
		j->p++;
		fz_json_ws(j);
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			ok = true;
			break;
		}
		for (;;) {
			if (!fz_json_value(j))
				goto out;
			fz_json_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == ']') {
				j->p++;
				ok = true;
			}
			goto out;
		}
	case '"':
		ok = fz_json_string(j);
		break;
	case 't':
		ok = fz_json_lit(j, "true");
		break;
	case 'f':
		ok = fz_json_lit(j, "false");
		break;
	case 'n':
		ok = fz_json_lit(j, "null");
		break;
	default:
		ok = fz_json_number(j);
		break;
	}
out:
	j->depth--;
	return ok;
}

/* true when buf holds exactly one JSON value (surrounded by whitespace). */
static inline bool fz_json_valid(const char *buf, size_t len)
{
	struct fz_json j = { (const uint8_t *)buf, (const uint8_t *)buf + len, 0 };

	if (!fz_json_value(&j))
		return false;
	fz_json_ws(&j);
	return j.p == j.end;
}

#endif
