/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The capacity HBONE's growing buffers take (c->out, a stream's wbuf, the
 * TLS output BIO): doubling from first until need fits, never past max.
 * Header-only: outbio.c is also built alone, for its unit test.
 */
#ifndef ZT_HBONE_GROW_H
#define ZT_HBONE_GROW_H

#include <stddef.h>

/* cap (0: none yet) grown for need bytes; less than need when max is reached. */
static inline size_t grow_cap(size_t cap, size_t need, size_t first, size_t max)
{
	if (!cap)
		cap = first;
	while (cap < need && cap < max)
		cap *= 2;
	return cap > max ? max : cap;
}

#endif
