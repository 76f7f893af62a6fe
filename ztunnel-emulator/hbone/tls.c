/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HBONE's TLS as ztunnel configures rustls (hbone.md): TLS 1.3 only, the two
 * AES-GCM suites, ALPN h2 (offered by the client, required by the server),
 * no SNI, no resumption, the client certificate required. The chain must end
 * at the lab CA's root; the SPIFFE URI of the peer's leaf must then be in
 * the server's trust domain (server side) or be the destination's identity
 * (client side). Never touches sockets or pods. Interface: tls.h.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "outbio.h"
#include "tls.h"

static const unsigned char ALPN_H2[] = { 2, 'h', '2' };

static int verify_cb(int ok, X509_STORE_CTX *st)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(st, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_peer *peer = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(st);
	const char *td;
	size_t n;

	if (!ok || X509_STORE_CTX_get_error_depth(st) != 0 || !peer)
		return ok;
	if (ca_spiffe_of(cert, peer->identity, sizeof(peer->identity)) < 0) {
		X509_STORE_CTX_set_error(st, X509_V_ERR_SUBJECT_ISSUER_MISMATCH);
		return 0;
	}
	td = ca_spiffe_td(peer->identity, &n);
	if (peer->want_td && (strlen(peer->want_td) != n || memcmp(td, peer->want_td, n))) {
		X509_STORE_CTX_set_error(st, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (peer->want_identity && strcmp(peer->want_identity, peer->identity)) {
		peer->mismatch = true;
		X509_STORE_CTX_set_error(st, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}

/* ztunnel requires h2: a client that does not offer it gets a fatal alert. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int i;

	(void)ssl;
	(void)arg;
	for (i = 0; i + 1 <= inlen && i + 1 + in[i] <= inlen; i += 1u + in[i]) {
		if (in[i] == 2 && !memcmp(in + i + 1, "h2", 2)) {
			*out = in + i + 1;
			*outlen = 2;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int common_ctx(SSL_CTX **out, const SSL_METHOD *m, const struct ca *ca, struct ze_err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(m);
	X509_STORE *store = ctx ? SSL_CTX_get_cert_store(ctx) : NULL;

	if (!store || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256") ||
	    !SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") ||
	    !X509_STORE_add_cert(store, ca->root)) {
		SSL_CTX_free(ctx);
		return ze_fail(e, -EIO, "cannot set up TLS: %s",
			       ERR_reason_error_string(ERR_get_error()));
	}
	/*
	 * buffers kept (not released when idle): a bulk transfer would free and
	 * refill them. No auto chain: ztunnel sends its leaf and intermediates,
	 * never the root (the peer has it); building that chain from the store
	 * cost a signature check per handshake and the peer a second parse.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_NO_AUTO_CHAIN);
	/* many records per read(): fewer system calls under load */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, TLS_RBUF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	*out = ctx;
	return 0;
}

int tls_server_ctx(SSL_CTX **out, const struct ca *ca, struct ze_err *e)
{
	int ret = common_ctx(out, TLS_server_method(), ca, e);

	if (ret)
		return ret;
	SSL_CTX_set_verify(*out, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	SSL_CTX_set_alpn_select_cb(*out, alpn_select, NULL);
	SSL_CTX_set_num_tickets(*out, 0);
	return 0;
}

int tls_client_ctx(SSL_CTX **out, const struct ca *ca, struct ze_err *e)
{
	int ret = common_ctx(out, TLS_client_method(), ca, e);

	if (ret)
		return ret;
	SSL_CTX_set_verify(*out, SSL_VERIFY_PEER, verify_cb);
	if (SSL_CTX_set_alpn_protos(*out, ALPN_H2, sizeof(ALPN_H2))) {
		SSL_CTX_free(*out);
		return ze_fail(e, -EIO, "cannot set ALPN h2");
	}
	return 0;
}

SSL *tls_new(SSL_CTX *ctx, const struct ca_leaf *leaf, struct tls_peer *peer, int fd, BIO **net)
{
	SSL *ssl = SSL_new(ctx);
	BIO *rbio = BIO_new_socket(fd, BIO_NOCLOSE), *wbio = outbio_new(TLS_WBUF);

	*net = NULL;
	/* the up_ref last: one reference for the SSL, one for *net */
	if (!ssl || !rbio || !wbio || !SSL_use_certificate(ssl, leaf->cert) ||
	    !SSL_use_PrivateKey(ssl, leaf->key) || !BIO_up_ref(wbio)) {
		SSL_free(ssl);
		BIO_free(rbio);
		BIO_free(wbio);
		ERR_clear_error();
		return NULL;
	}
	/* reads straight from the socket; writes gathered in wbio, sent by the caller */
	*net = wbio;
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_app_data(ssl, peer);
	return ssl;
}

const char *tls_error(SSL *ssl, int ret, char *buf, size_t cap)
{
	int err = SSL_get_error(ssl, ret);
	unsigned long e = ERR_get_error();
	long vr = SSL_get_verify_result(ssl);

	const struct tls_peer *peer = SSL_get_app_data(ssl);

	if (peer && peer->mismatch)
		snprintf(buf, cap, "identity verification error: the server presented %s, expected %s",
			 peer->identity, peer->want_identity);
	else if (vr != X509_V_OK)
		snprintf(buf, cap, "TLS handshake failed: certificate verify failed: %s",
			 X509_verify_cert_error_string(vr));
	else if (e)
		snprintf(buf, cap, "TLS handshake failed: %s", ERR_reason_error_string(e));
	else if (err == SSL_ERROR_SYSCALL && errno)
		snprintf(buf, cap, "%s (os error %d)", strerror(errno), errno);
	else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN)
		snprintf(buf, cap, "connection closed during the TLS handshake");
	else
		snprintf(buf, cap, "TLS error %d", err);
	ERR_clear_error();
	return buf;
}
