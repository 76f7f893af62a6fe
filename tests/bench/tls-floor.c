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

#define PROG "tls-floor"
#include "floor-tls.h"
#include "timing.h"

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
	X509 *cl = cert(ck, root, rk, "URI:" FLOOR_CLIENT_ID);
	X509 *sv = cert(sk, root, rk, "URI:" FLOOR_SERVER_ID);
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
