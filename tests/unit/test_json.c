/* SPDX-License-Identifier: Apache-2.0 */
/* The one JSON string escaper (common/json.c): valid UTF-8 out, whatever comes in. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

/* json_str(s[0..len)) as a malloc'd C string */
static char *esc(const char *s, size_t len)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	if (!f)
		return NULL;
	json_str(f, s, len);
	fclose(f);
	return out;
}

static void check(const char *s, size_t len, const char *want, const char *desc)
{
	char *got = esc(s, len);

	is_str(got, want, "%s", desc);
	free(got);
}

/* Is the whole buffer valid UTF-8? */
static int all_utf8(const char *s)
{
	size_t len = strlen(s), i = 0, n;

	while (i < len) {
		n = utf8_char_len((const unsigned char *)s + i, len - i);
		if (!n)
			return 0;
		i += n;
	}
	return 1;
}

int main(void)
{
	static const char invalid[] = "a\xff" "b\xc3(\xe2\x82" "c\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80";
	char all[256], *out;
	int i;

	check("plain", 5, "\"plain\"", "plain ASCII as it is");
	check("a\"b\\c", 5, "\"a\\\"b\\\\c\"", "quote and backslash escaped");
	check("l1\nl2\tx", 7, "\"l1\\nl2\\tx\"", "newline and tab as \\n and \\t");
	check("\x01\x1f\r\x7f", 4, "\"\\u0001\\u001f\\u000d\\u007f\"",
	      "other control characters and DEL as \\u00XX");
	check("nul\0x", 5, "\"nul\\u0000x\"", "an embedded NUL as \\u0000");
	check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
	      "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "valid 2-, 3- and 4-byte UTF-8 as it is");
	check(invalid, sizeof(invalid) - 1,
	      "\"a\\u00ffb\\u00c3(\\u00e2\\u0082c\\u00ed\\u00a0\\u0080\\u00c0\\u00af"
	      "\\u00f4\\u0090\\u0080\\u0080\"",
	      "invalid bytes, truncated sequences, surrogates, overlongs, > U+10FFFF as \\u00XX");
	check("\xe2\x82", 2, "\"\\u00e2\\u0082\"", "a sequence cut at the end of the string");

	for (i = 0; i < 256; i++)
		all[i] = (char)(i ? i : 1);
	out = esc(all, sizeof(all));
	ok(out && all_utf8(out), "every byte value in: the output is valid UTF-8");
	ok(out && !strpbrk(out + 1, "\x01\x1f\x7f"), "every byte value in: no raw control character");
	free(out);

	out = NULL;
	{
		size_t n = 0;
		FILE *f = open_memstream(&out, &n);

		json_cstr(f, NULL);
		fputc(' ', f);
		json_cstr(f, "x");
		fputc(' ', f);
		json_bool(f, true);
		fclose(f);
	}
	is_str(out, "null \"x\" true", "json_cstr(NULL) is null; json_bool");
	free(out);
	return done_testing();
}
