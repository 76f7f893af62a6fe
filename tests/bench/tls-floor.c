/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls-floor: the work a new HBONE connection cannot avoid, on its own, to
 * set the daemon's new-connection setup against. One thread plays both ends
 * (as the bench's daemon does: pod-a's client and pod-b's server on one
 * loop), N times, each timed by CLOCK_MONOTONIC:
 *
 *   a TCP connection over loopback (socket, connect, accept), then a mutual
 *   TLS 1.3 handshake with what hbone.md asks for: TLS_AES_256_GCM_SHA384,
 *   key share X25519, an ECDSA P-256 / SHA-256 leaf on each side with a
 *   URI SAN, signed by a P-256 root, sent alone (no root on the wire);
 *   each side verifies the other's leaf against the root; ALPN h2; no
 *   tickets, no resumption; then one application byte each way (the TLS
 *   records the CONNECT and its answer at least need), then both closed.
 *
 * The certificates are made once at start (the daemon issues a pod's leaf
 * at its Add, not per connection). Non-blocking sockets, the two ends'
 * SSL_do_handshake called in turn until both are done (no poll: both are
 * in this thread).
 *
 *   tls-floor N
 *     prints: tls-floor n N min_us A p50_us B p99_us C cpu_us D
 *     (nearest rank; D: this process's CPU time per handshake, the mean over
 *     the N, contention-proof where the wall times are not)
 *
 * Links OpenSSL (-lssl -lcrypto); does not share code with the daemon.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timing.h"

static void die(const char *what)
{
	fprintf(stderr, "tls-floor: %s\n", what);
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
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		SSL_CTX_set_alpn_select_cb(c, alpn_select, NULL);
		SSL_CTX_set_num_tickets(c, 0);
	} else {
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
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

/* One byte from a to b, b waiting for it (non-blocking: spin until it is there). */
static void byte(SSL *a, SSL *b)
{
	char ch = 'x';

	if (SSL_write(a, &ch, 1) != 1)
		die("SSL_write failed");
	while (SSL_read(b, &ch, 1) != 1)
		if (SSL_get_error(b, -1) != SSL_ERROR_WANT_READ)
			die("SSL_read failed");
}

static int64_t one(int lfd, const struct sockaddr_in *to, SSL_CTX *sc, SSL_CTX *cc)
{
	int64_t t0 = now_ns();
	int cfd = socket(AF_INET, SOCK_STREAM, 0), sfd = -1, cd = 0, sd = 0;
	SSL *c, *s;

	if (cfd < 0 || connect(cfd, (const struct sockaddr *)to, sizeof(*to)) < 0 ||
	    (sfd = accept(lfd, NULL, NULL)) < 0)
		die("cannot connect over loopback");
	nonblock(cfd);
	nonblock(sfd);
	c = SSL_new(cc);
	s = SSL_new(sc);
	if (!c || !s || !SSL_set_fd(c, cfd) || !SSL_set_fd(s, sfd))
		die("cannot make the SSL objects");
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	while (!step(c, &cd) + !step(s, &sd))
		;
	if (SSL_get_verify_result(c) != X509_V_OK || SSL_get_verify_result(s) != X509_V_OK)
		die("a peer's certificate did not verify");
	byte(c, s);
	byte(s, c);
	SSL_free(c);
	SSL_free(s);
	close(cfd);
	close(sfd);
	return now_ns() - t0;
}

int main(int argc, char **argv)
{
	long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0, i;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	EVP_PKEY *rk = p256(), *ck = p256(), *sk = p256();
	X509 *root = cert(rk, NULL, rk, NULL);
	X509 *cl = cert(ck, root, rk, "URI:spiffe://cluster.local/ns/default/sa/a");
	X509 *sv = cert(sk, root, rk, "URI:spiffe://cluster.local/ns/default/sa/b");
	SSL_CTX *sc = ctx(1, root, sv, sk), *cc = ctx(0, root, cl, ck);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int64_t *t, c0;
	struct timespec cpu;

	if (n < 1 || !(t = calloc((size_t)n, sizeof(*t)))) {
		fprintf(stderr, "usage: tls-floor N (N >= 1)\n");
		return 2;
	}
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		die("cannot listen on loopback");
	one(lfd, &sa, sc, cc);	/* warm-up, untimed */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	c0 = (int64_t)cpu.tv_sec * 1000000000 + cpu.tv_nsec;
	for (i = 0; i < n; i++)
		t[i] = one(lfd, &sa, sc, cc);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	c0 = (int64_t)cpu.tv_sec * 1000000000 + cpu.tv_nsec - c0;
	qsort(t, (size_t)n, sizeof(*t), cmp64);
	printf("tls-floor n %ld min_us %.1f p50_us %.1f p99_us %.1f cpu_us %.1f\n", n, (double)t[0] / 1e3,
	       (double)t[nearest_rank((size_t)n, 0.5)] / 1e3,
	       (double)t[nearest_rank((size_t)n, 0.99)] / 1e3, (double)c0 / 1e3 / (double)n);
	return 0;
}
