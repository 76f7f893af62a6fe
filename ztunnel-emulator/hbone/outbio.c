/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A write-only BIO over one growable buffer: TLS appends records, the caller
 * sends from the front (outbio_peek) and says how much left (outbio_take).
 * A BIO pair would do the same with its ring allocated whole at creation:
 * two 512 KiB mappings per HBONE connection before its first byte.
 * Interface: outbio.h.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "outbio.h"

#define OUTBIO_FIRST 16384	/* a handshake flight and a few frames */

struct outbio {
	char *buf;
	size_t off, len, cap, max;	/* bytes [off, off + len) wait to be sent */
};

/* Room for n more bytes at the end, within max: what fits (0: none). */
static size_t room(struct outbio *o, size_t n)
{
	size_t cap;
	char *b;

	if (o->off && o->off + o->len + n > o->cap) {
		memmove(o->buf, o->buf + o->off, o->len);
		o->off = 0;
	}
	cap = grow_cap(o->cap, o->len + n, OUTBIO_FIRST, o->max);
	if (cap > o->cap && (b = realloc(o->buf, cap))) {
		o->buf = b;
		o->cap = cap;
	}
	return o->cap - o->off - o->len < n ? o->cap - o->off - o->len : n;
}

static int ob_write(BIO *b, const char *data, size_t n, size_t *written)
{
	struct outbio *o = BIO_get_data(b);
	size_t fit;

	BIO_clear_retry_flags(b);
	*written = 0;
	if (!n)
		return 1;	/* nothing to copy, and buf may still be NULL */
	fit = room(o, n);
	if (!fit) {
		BIO_set_retry_write(b);
		return 0;
	}
	memcpy(o->buf + o->off + o->len, data, fit);
	o->len += fit;
	*written = fit;
	return 1;
}

static long ob_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct outbio *o = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;	/* the caller sends */
	case BIO_CTRL_WPENDING:
	case BIO_CTRL_PENDING:
		return (long)o->len;
	default:
		return 0;
	}
}

static int ob_create(BIO *b)
{
	struct outbio *o = calloc(1, sizeof(*o));

	if (!o)
		return 0;
	BIO_set_data(b, o);
	BIO_set_init(b, 1);
	return 1;
}

static int ob_destroy(BIO *b)
{
	struct outbio *o = BIO_get_data(b);

	if (o) {
		free(o->buf);
		free(o);
	}
	BIO_set_data(b, NULL);
	return 1;
}

static BIO_METHOD *method;

static void make_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "hbone tls out");

	if (m && BIO_meth_set_write_ex(m, ob_write) && BIO_meth_set_ctrl(m, ob_ctrl) &&
	    BIO_meth_set_create(m, ob_create) && BIO_meth_set_destroy(m, ob_destroy)) {
		method = m;
		return;
	}
	BIO_meth_free(m);
}

BIO *outbio_new(size_t max)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	BIO *b;

	pthread_once(&once, make_method);
	b = method ? BIO_new(method) : NULL;
	if (b)
		((struct outbio *)BIO_get_data(b))->max = max;
	return b;
}

size_t outbio_peek(BIO *b, const char **p)
{
	struct outbio *o = BIO_get_data(b);

	*p = o->len ? o->buf + o->off : NULL;
	return o->len;
}

void outbio_take(BIO *b, size_t n)
{
	struct outbio *o = BIO_get_data(b);

	o->off += n;
	o->len -= n;
	if (!o->len)
		o->off = 0;
}
