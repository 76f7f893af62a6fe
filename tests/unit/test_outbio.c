/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ztunnel-emulator/hbone/outbio: writes land in order, the buffer grows only
 * with what waits, a write past the bound is cut or retried (never dropped),
 * and what is taken frees room at the front.
 */
#include "outbio.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define MAX 65536

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

/* bytes [from, from + n) of the pattern written; what BIO_write_ex took */
static size_t put(BIO *b, size_t from, size_t n)
{
	unsigned char *buf = malloc(n);
	size_t i, w = 0;

	for (i = 0; i < n; i++)
		buf[i] = pattern(from + i);
	if (!BIO_write_ex(b, buf, n, &w))
		w = 0;
	free(buf);
	return w;
}

/* the waiting bytes are exactly the pattern's [from, from + n) */
static int holds(BIO *b, size_t from, size_t n)
{
	const char *p;
	size_t i, len = outbio_peek(b, &p);

	if (len != n)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] != pattern(from + i))
			return 0;
	return 1;
}

int main(void)
{
	BIO *b = outbio_new(MAX);
	const char *p;

	ok(b != NULL, "a new BIO");
	is_int(outbio_peek(b, &p), 0, "it starts empty");
	ok(p == NULL, "...and points nowhere");
	is_int(BIO_ctrl(b, BIO_CTRL_FLUSH, 0, NULL), 1, "a flush succeeds (the caller sends)");
	is_int(put(b, 0, 0), 0, "an empty write takes nothing...");
	ok(!BIO_should_retry(b), "...and is not a retry");

	is_int(put(b, 0, 100), 100, "a small write is taken whole");
	ok(holds(b, 0, 100), "and waits, in order");
	is_int(BIO_ctrl_wpending(b), 100, "BIO_wpending counts it");
	outbio_take(b, 40);
	ok(holds(b, 40, 60), "taking 40 leaves the other 60 first");

	is_int(put(b, 100, 30000), 30000, "a write beyond the first allocation grows the buffer");
	ok(holds(b, 40, 30060), "the bytes before it are kept");

	/* room is MAX - 30060: a larger write is cut there, the rest retried */
	is_int(put(b, 30100, 50000), MAX - 30060, "a write past the bound is cut at the bound");
	ok(holds(b, 40, MAX), "the buffer holds exactly the bound");
	is_int(put(b, 30100 + MAX - 30060, 10), 0, "a write to a full BIO takes nothing");
	ok(BIO_should_retry(b) && BIO_should_write(b), "...and asks for a retry of the write");

	outbio_take(b, 1000);
	is_int(put(b, 30100 + MAX - 30060, 1000), 1000, "what was taken from the front is room again");
	ok(!BIO_should_retry(b), "the retry flag is cleared by a write that succeeds");
	ok(holds(b, 1040, MAX), "moved to the front, in order");

	outbio_take(b, MAX);
	is_int(outbio_peek(b, &p), 0, "all taken: empty");
	is_int(put(b, 0, MAX), MAX, "an empty BIO takes the bound in one write");
	ok(holds(b, 0, MAX), "in order");
	BIO_free(b);
	return done_testing();
}
