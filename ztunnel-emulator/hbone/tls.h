/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls.c: the two OpenSSL contexts HBONE uses (15008's server side, the
 * outbound client side) with ztunnel's settings, and the SPIFFE checks on the
 * peer's leaf (hbone.md "TLS", "Verification"). Never touches sockets, the
 * loop or pods. Interface: this header.
 */
#ifndef ZT_HBONE_TLS_H
#define ZT_HBONE_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>

#include "ca.h"
#include "err.h"

/*
 * What the verify callback checks besides the chain, kept in the SSL's app
 * data: the server wants the client's trust domain; the client wants the
 * destination's exact identity.
 */
struct tls_peer {
	const char *want_td;		/* server side: the trust domain, or NULL */
	const char *want_identity;	/* client side: the identity, or NULL */
	char identity[SPIFFE_MAX];	/* the peer's, once verified */
	bool mismatch;			/* client side: the server presented another identity */
};

/* Both contexts trust the CA's root only. 0, or -errno with e saying why. */
int tls_server_ctx(SSL_CTX **out, const struct ca *ca, struct ze_err *e);
int tls_client_ctx(SSL_CTX **out, const struct ca *ca, struct ze_err *e);
#define TLS_RBUF (64 * 1024)	/* read-ahead: records read from the socket at once */
#define TLS_WBUF (512 * 1024)	/* at most, records written before the caller sends them */

/*
 * A new SSL presenting leaf, checking the peer against *peer (owned by the
 * caller). It reads from fd itself; what it writes goes into *net (an
 * outbio.h BIO of at most TLS_WBUF bytes): the caller sends that to fd
 * (outbio_peek, outbio_take), so many records leave in one send(). Free
 * *net after the SSL.
 */
SSL *tls_new(SSL_CTX *ctx, const struct ca_leaf *leaf, struct tls_peer *peer, int fd, BIO **net);
/* The reason the last TLS call failed, as one line. */
const char *tls_error(SSL *ssl, int ret, char *buf, size_t cap);

#endif
