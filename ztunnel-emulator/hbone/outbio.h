/* SPDX-License-Identifier: Apache-2.0 */
/*
 * outbio.c: the BIO a connection's TLS writes its records into, so that many
 * records leave in one send(). Its buffer starts empty and grows with what
 * waits to be sent, up to a bound; past the bound a write is retried, and
 * SSL_write says SSL_ERROR_WANT_WRITE. A new connection's handshake and a
 * few small frames thus cost a few KiB, not the bound. Never touches
 * sockets. Interface: this header.
 */
#ifndef ZT_HBONE_OUTBIO_H
#define ZT_HBONE_OUTBIO_H

#include <openssl/bio.h>
#include <stddef.h>

/* A new, empty BIO holding at most max bytes; NULL when out of memory. */
BIO *outbio_new(size_t max);
/* The bytes written and not yet taken: their count, *p the first. */
size_t outbio_peek(BIO *b, const char **p);
/* n of them (at most the count outbio_peek gave) were sent. */
void outbio_take(BIO *b, size_t n);

#endif
