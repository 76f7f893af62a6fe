/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gcm-floor: the crypto an HBONE stream cannot avoid, on its own, to set the
 * daemon's one-stream throughput against. HBONE's two ends run on one loop
 * in the bench (pod-a's client and pod-b's server in one daemon), so every
 * byte is sealed once by the client end and opened once by the server end
 * in one thread; this does exactly that work and nothing else:
 *
 *   N bytes cut into TLS 1.3 records of 16 KiB of plaintext (the largest a
 *   record may carry, what OpenSSL writes for a bulk transfer), each sealed
 *   with AES-256-GCM (TLS_AES_256_GCM_SHA384, the suite the daemon
 *   negotiates: 16 KiB + the content-type byte, the 5-byte record header as
 *   additional data, a 16-byte tag, the nonce the IV XOR the record number)
 *   into a second buffer, then opened again and its tag checked, through
 *   OpenSSL's EVP interface (the same provider code the TLS record layer
 *   calls). No sockets, no copies besides the cipher's own output.
 *
 *   gcm-floor MIB [ROUNDS]
 *     prints per round (wall time; CPU time of this process beside it, so a
 *     busy machine shows as cpu below wall) and then the median round:
 *       gcm-floor round R mib M secs S cpu_secs C MiBps X
 *       gcm-floor-summary mib M rounds R median_MiBps X cpu_s_per_GiB C
 *
 * Links OpenSSL's libcrypto; does not share code with the daemon.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timing.h"

#define REC_PLAIN 16384	/* TLS 1.3: at most 2^14 bytes of plaintext per record */
#define REC_INNER (REC_PLAIN + 1)	/* + the inner content type */
#define TAG_LEN 16

static void die(const char *what)
{
	fprintf(stderr, "gcm-floor: %s\n", what);
	exit(1);
}

static void nonce(uint8_t out[12], const uint8_t iv[12], uint64_t seq)
{
	int i;

	memcpy(out, iv, 12);
	for (i = 0; i < 8; i++)
		out[11 - i] ^= (uint8_t)(seq >> (8 * i));
}

/* One record sealed from in into rec (REC_INNER bytes), its tag in tag. */
static void seal(EVP_CIPHER_CTX *c, const uint8_t n[12], const uint8_t hdr[5], const uint8_t *in,
		 uint8_t *rec, uint8_t *tag)
{
	int len;

	if (!EVP_EncryptInit_ex(c, NULL, NULL, NULL, n) ||
	    !EVP_EncryptUpdate(c, NULL, &len, hdr, 5) ||
	    !EVP_EncryptUpdate(c, rec, &len, in, REC_INNER) || !EVP_EncryptFinal_ex(c, rec + len, &len) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, tag))
		die("seal failed");
}

/* The record opened into out; dies when its tag does not match. */
static void open_rec(EVP_CIPHER_CTX *c, const uint8_t n[12], const uint8_t hdr[5],
		     const uint8_t *rec, uint8_t *tag, uint8_t *out)
{
	int len;

	if (!EVP_DecryptInit_ex(c, NULL, NULL, NULL, n) ||
	    !EVP_DecryptUpdate(c, NULL, &len, hdr, 5) ||
	    !EVP_DecryptUpdate(c, out, &len, rec, REC_INNER) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) ||
	    EVP_DecryptFinal_ex(c, out + len, &len) <= 0)
		die("open failed: the tag does not match");
}

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Seals and opens mib MiB as 16 KiB records: wall ns taken (CPU ns in *cpu). */
static int64_t round_ns(EVP_CIPHER_CTX *enc, EVP_CIPHER_CTX *dec, const uint8_t iv[12], long mib,
			uint8_t *src, uint8_t *rec, uint8_t *dst, int64_t *cpu)
{
	const uint8_t hdr[5] = { 23, 3, 3, (REC_INNER + TAG_LEN) >> 8, (REC_INNER + TAG_LEN) & 0xff };
	uint64_t seq, recs = (uint64_t)mib * 1048576 / REC_PLAIN;
	uint8_t n[12], tag[TAG_LEN];
	int64_t t0 = now_ns(), c0 = cpu_ns();

	for (seq = 0; seq < recs; seq++) {
		nonce(n, iv, seq);
		seal(enc, n, hdr, src, rec, tag);
		open_rec(dec, n, hdr, rec, tag, dst);
	}
	*cpu = cpu_ns() - c0;
	return now_ns() - t0;
}

int main(int argc, char **argv)
{
	long mib = argc >= 2 ? strtol(argv[1], NULL, 10) : 0;
	long rounds = argc >= 3 ? strtol(argv[2], NULL, 10) : 1, r;
	uint8_t key[32], iv[12], *src = malloc(REC_INNER), *rec = malloc(REC_INNER + TAG_LEN);
	uint8_t *dst = malloc(REC_INNER + TAG_LEN);
	EVP_CIPHER_CTX *enc = EVP_CIPHER_CTX_new(), *dec = EVP_CIPHER_CTX_new();
	EVP_CIPHER *gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	int64_t *t, *c;

	if (argc < 2 || argc > 3 || mib < 1 || rounds < 1 || rounds > 100) {
		fprintf(stderr, "usage: gcm-floor MIB [ROUNDS]  (MIB >= 1, 1 <= ROUNDS <= 100)\n");
		return 2;
	}
	t = calloc((size_t)rounds, sizeof(*t));
	c = calloc((size_t)rounds, sizeof(*c));
	if (!src || !rec || !dst || !t || !c || !enc || !dec || !gcm ||
	    RAND_bytes(key, sizeof(key)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1 ||
	    RAND_bytes(src, REC_INNER) != 1 || !EVP_EncryptInit_ex(enc, gcm, NULL, key, iv) ||
	    !EVP_DecryptInit_ex(dec, gcm, NULL, key, iv))
		die("cannot set up AES-256-GCM");
	src[REC_PLAIN] = 23;	/* the inner content type: application data */
	round_ns(enc, dec, iv, 1, src, rec, dst, c);	/* warm-up, untimed */
	if (memcmp(src, dst, REC_INNER))
		die("a record did not open to what was sealed");
	for (r = 0; r < rounds; r++) {
		t[r] = round_ns(enc, dec, iv, mib, src, rec, dst, &c[r]);
		printf("gcm-floor round %ld mib %ld secs %.4f cpu_secs %.4f MiBps %.1f\n", r + 1, mib,
		       (double)t[r] / 1e9, (double)c[r] / 1e9, (double)mib * 1e9 / (double)t[r]);
	}
	qsort(t, (size_t)rounds, sizeof(*t), cmp64);
	qsort(c, (size_t)rounds, sizeof(*c), cmp64);
	printf("gcm-floor-summary mib %ld rounds %ld median_MiBps %.1f cpu_s_per_GiB %.3f\n", mib, rounds,
	       (double)mib * 1e9 / (double)t[nearest_rank((size_t)rounds, 0.5)],
	       (double)c[nearest_rank((size_t)rounds, 0.5)] / 1e9 * 1024.0 / (double)mib);
	EVP_CIPHER_free(gcm);
	EVP_CIPHER_CTX_free(enc);
	EVP_CIPHER_CTX_free(dec);
	free(src);
	free(rec);
	free(dst);
	free(t);
	free(c);
	return 0;
}
