/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TLS side of the bench's HBONE floors (tls-floor.c, hbone-floor.c):
 * what hbone.md asks of ztunnel's TLS, made with OpenSSL alone (no code of
 * the daemon's): P-256 keys, a root and SPIFFE leaves made at start, and
 * the client and server contexts (TLS 1.3, the two AES-GCM suites, X25519
 * first, the leaf alone on the wire, peers verified against the root and
 * by their SPIFFE identity, ALPN h2, no tickets, no resumption); a socket
 * made non-blocking with TCP_NODELAY; one in-turn step of a handshake.
 * Header-only, static functions: each helper is still built from its one
 * .c file. The includer defines PROG.
 */
#ifndef BENCH_FLOOR_TLS_H
#define BENCH_FLOOR_TLS_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void die(const char *what)
{
	fprintf(stderr, PROG ": %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static EVP_PKEY *p256(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (!k)
		die("cannot make a P-256 key");
	return k;
}

static void ext(X509 *c, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v, issuer, c, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
	if (!e || !X509_add_ext(c, e, -1))
		die("cannot add an extension");
	X509_EXTENSION_free(e);
}

/* A certificate for key k signed by ikey (issuer: icert, or itself when NULL). */
static X509 *cert(EVP_PKEY *k, X509 *icert, EVP_PKEY *ikey, const char *uri)
{
	X509 *c = X509_new();

	if (!c || !X509_set_version(c, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(c), rand()) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), -60) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), 86400) || !X509_set_pubkey(c, k))
		die("cannot make a certificate");
	if (!uri) {
		X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "O", MBSTRING_ASC,
					   (const unsigned char *)"cluster.local", -1, -1, 0);
		X509_set_issuer_name(c, X509_get_subject_name(c));
		ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
		ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		X509_set_issuer_name(c, X509_get_subject_name(icert));
		ext(c, icert, NID_key_usage, "critical,digitalSignature,keyEncipherment");
		ext(c, icert, NID_ext_key_usage, "serverAuth,clientAuth");
		ext(c, icert, NID_subject_alt_name, uri);
	}
	if (!X509_sign(c, ikey, EVP_sha256()))
		die("cannot sign a certificate");
	return c;
}

/* the floors' identities: one trust domain, the client's and the server's SPIFFE URIs */
#define FLOOR_TD "spiffe://cluster.local/"
#define FLOOR_CLIENT_ID FLOOR_TD "ns/default/sa/a"
#define FLOOR_SERVER_ID FLOOR_TD "ns/default/sa/b"

/*
 * The SPIFFE check hbone.md asks of both ends, on the peer's leaf once its
 * chain verified: a client of the server's trust domain; on the client, the
 * destination's exact identity.
 */
static int spiffe_ok(int ok, X509_STORE_CTX *st)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(st, SSL_get_ex_data_X509_STORE_CTX_idx());
	int server = ssl && SSL_is_server(ssl), i, found = 0;
	const char *want = server ? FLOOR_TD : FLOOR_SERVER_ID;
	size_t wlen = strlen(want);
	GENERAL_NAMES *names;

	if (!ok || X509_STORE_CTX_get_error_depth(st) != 0)
		return ok;
	names = X509_get_ext_d2i(X509_STORE_CTX_get_current_cert(st), NID_subject_alt_name, NULL, NULL);
	for (i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const char *u;
		size_t len;

		if (g->type != GEN_URI)
			continue;
		u = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		len = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
		found = server ? len > wlen && !memcmp(u, want, wlen) : len == wlen && !memcmp(u, want, len);
	}
	GENERAL_NAMES_free(names);
	return found;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h2[] = { 2, 'h', '2' };
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, h2, sizeof(h2), in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *ctx(int server, X509 *root, X509 *leaf, EVP_PKEY *key)
{
	static const unsigned char h2[] = { 2, 'h', '2' };
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!c || !SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(c, "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256") ||
	    !SSL_CTX_set1_groups_list(c, "X25519:P-256:P-384") ||
	    !X509_STORE_add_cert(SSL_CTX_get_cert_store(c), root) ||
	    !SSL_CTX_use_certificate(c, leaf) || !SSL_CTX_use_PrivateKey(c, key))
		die("cannot set up a TLS context");
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	/* the leaf alone on the wire: ztunnel sends leaf + intermediates, never the root */
	SSL_CTX_set_mode(c, SSL_MODE_NO_AUTO_CHAIN);
	if (server) {
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, spiffe_ok);
		SSL_CTX_set_alpn_select_cb(c, alpn_select, NULL);
		SSL_CTX_set_num_tickets(c, 0);
	} else {
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, spiffe_ok);
		if (SSL_CTX_set_alpn_protos(c, h2, sizeof(h2)))
			die("cannot set ALPN");
	}
	return c;
}

static void nonblock(int fd)
{
	int one = 1;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* 1 done, 0 wants more, dies on a failure */
static int step(SSL *s, int *done)
{
	int r;

	if (*done)
		return 1;
	r = SSL_do_handshake(s);
	if (r == 1)
		return *done = 1;
	r = SSL_get_error(s, r);
	if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE)
		die("handshake failed");
	return 0;
}

#endif
