/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lab CA: a root kept in --ca-dir so that two daemons (or a test) can
 * share one, and the per-workload leaves istiod's CA would sign: ECDSA
 * P-256 with SHA-256, an empty subject, one critical URI SAN
 * spiffe://TD/ns/NS/sa/SA, digitalSignature + keyEncipherment, serverAuth +
 * clientAuth, 24 h (SECRET_TTL's default). Never touches sockets or the
 * daemon; which pods share a leaf is hbone/certs.c's. Interface: ca.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca.h"

#define ROOT_DAYS 3650
#define LEAF_SECONDS (24 * 3600)

static const char *ssl_text(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (!e)
		return "OpenSSL failed";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/* A random positive 128-bit serial, as RFC 5280 asks (at most 20 octets). */
static int set_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int ok = bn && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
		 BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));

	BN_free(bn);
	return ok;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* The common part of root and leaf: version, serial, validity, key, issuer. */
static X509 *new_cert(EVP_PKEY *key, X509 *issuer, long seconds)
{
	X509 *x = X509_new();

	if (!x || !X509_set_version(x, X509_VERSION_3) || !set_serial(x) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), seconds) || !X509_set_pubkey(x, key) ||
	    (issuer && !X509_set_issuer_name(x, X509_get_subject_name(issuer)))) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* The root: subject O=TD, as istio's test CA names it; self-signed. */
static X509 *make_root(EVP_PKEY *key, const char *td)
{
	X509 *x = new_cert(key, NULL, (long)ROOT_DAYS * 86400);
	X509_NAME *n = x ? X509_get_subject_name(x) : NULL;

	if (!n || !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)td, -1,
					      -1, 0) ||
	    !X509_set_issuer_name(x, n) || !add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") ||
	    !add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(x, x, NID_subject_key_identifier, "hash") || !X509_sign(x, key, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Writes a new file (never over an existing one) with mode: 0 or -errno. */
static int write_pem(const char *path, mode_t mode, X509 *cert, EVP_PKEY *key)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	FILE *f;
	int ok;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	ok = cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) != 0 || !ok) {
		unlink(path);
		return -EIO;
	}
	return 0;
}

/* mkdir -p DIR (mode 0755 for each directory made): 0 or -errno. */
static int make_dirs(const char *dir)
{
	char path[PATH_MAX];
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		path[i] = dir[i];
	}
	return 0;
}

static int create_root(struct ca *ca, const char *dir, const char *kp, const char *cp,
		       struct ze_err *e)
{
	int ret = make_dirs(dir);

	if (ret)
		return ze_fail(e, ret, "cannot create the CA directory %s: %s", dir, strerror(-ret));
	ca->key = EVP_EC_gen("P-256");
	ca->root = ca->key ? make_root(ca->key, ca->trust_domain) : NULL;
	if (!ca->root)
		return ze_fail(e, -EIO, "cannot make the lab CA's root: %s", ssl_text());
	ret = write_pem(kp, 0600, NULL, ca->key);
	if (ret)
		return ze_fail(e, ret, "cannot write %s: %s", kp, strerror(-ret));
	ret = write_pem(cp, 0644, ca->root, NULL);
	if (ret) {
		unlink(kp);
		return ze_fail(e, ret, "cannot write %s: %s", cp, strerror(-ret));
	}
	return 0;
}

static int load_root(struct ca *ca, const char *kp, const char *cp, struct ze_err *e)
{
	FILE *f = fopen(cp, "re");

	if (!f)
		return ze_fail(e, -errno, "cannot read %s: %s", cp, strerror(errno));
	ca->root = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!ca->root)
		return ze_fail(e, -EINVAL, "%s: not a PEM certificate: %s", cp, ssl_text());
	f = fopen(kp, "re");
	if (!f)
		return ze_fail(e, -errno, "cannot read %s: %s", kp, strerror(errno));
	ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!ca->key)
		return ze_fail(e, -EINVAL, "%s: not a PEM private key: %s", kp, ssl_text());
	if (X509_check_private_key(ca->root, ca->key) != 1)
		return ze_fail(e, -EINVAL, "%s does not hold the key of %s", kp, cp);
	return 0;
}

int ca_open(struct ca *ca, const char *dir, const char *trust_domain, struct ze_err *e)
{
	char kp[4096], cp[4096];
	int has_k, has_c, ret;

	memset(ca, 0, sizeof(*ca));
	snprintf(ca->trust_domain, sizeof(ca->trust_domain), "%s", trust_domain);
	if (snprintf(kp, sizeof(kp), "%s/root-key.pem", dir) >= (int)sizeof(kp) ||
	    snprintf(cp, sizeof(cp), "%s/root-cert.pem", dir) >= (int)sizeof(cp))
		return ze_fail(e, -ENAMETOOLONG, "--ca-dir %s: path too long", dir);
	has_k = access(kp, F_OK) == 0;
	has_c = access(cp, F_OK) == 0;
	if (has_k != has_c)
		ret = ze_fail(e, -ENOENT, "%s is there but %s is not: remove both to make a new CA",
			      has_k ? kp : cp, has_k ? cp : kp);
	else if (has_k)
		ret = load_root(ca, kp, cp, e);
	else
		ret = create_root(ca, dir, kp, cp, e);
	if (ret)
		ca_close(ca);
	return ret;
}

void ca_close(struct ca *ca)
{
	X509_free(ca->root);
	EVP_PKEY_free(ca->key);
	ca->root = NULL;
	ca->key = NULL;
}

/* A Kubernetes name part of a SPIFFE path: letters, digits, '.', '-', '_'. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 253 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					      "0123456789.-_") == n;
}

/* The one critical URI SAN, built as a GENERAL_NAME (no config-string parsing of pod data). */
static int add_uri_san(X509 *x, const char *uri)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	int ok = gens && gn && s && ASN1_STRING_set(s, uri, (int)strlen(uri));

	if (ok) {
		GENERAL_NAME_set0_value(gn, GEN_URI, s);
		s = NULL;
		ok = sk_GENERAL_NAME_push(gens, gn) > 0;
		if (ok)
			gn = NULL;
	}
	ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 1, X509V3_ADD_DEFAULT) == 1;
	ASN1_IA5STRING_free(s);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return ok;
}

static X509 *make_leaf(const struct ca *ca, EVP_PKEY *key, const char *uri)
{
	X509 *x = new_cert(key, ca->root, LEAF_SECONDS);

	if (!x || !add_ext(x, ca->root, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, ca->root, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
	    !add_ext(x, ca->root, NID_ext_key_usage, "serverAuth,clientAuth") ||
	    !add_ext(x, ca->root, NID_authority_key_identifier, "keyid:always") ||
	    !add_uri_san(x, uri) || !X509_sign(x, ca->key, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static void leaf_facts(struct ca_leaf *l)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(l->cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	struct tm tm;

	snprintf(l->serial, sizeof(l->serial), "%s", hex ? hex : "");
	OPENSSL_free(hex);
	BN_free(bn);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(l->cert), &tm))
		l->expiry = timegm(&tm);
}

int ca_identity(const struct ca *ca, const char *ns, const char *sa, char *buf, size_t cap)
{
	/* a walk-thru Add may carry no workload info: Kubernetes' defaults stand in */
	ns = ns && *ns ? ns : "default";
	sa = sa && *sa ? sa : "default";
	if (!name_ok(ns) || !name_ok(sa))
		return -EINVAL;
	if (snprintf(buf, cap, "spiffe://%s/ns/%s/sa/%s", ca->trust_domain, ns, sa) >= (int)cap)
		return -ENAMETOOLONG;
	return 0;
}

struct ca_leaf *ca_issue(const struct ca *ca, const char *identity, char *why, size_t cap)
{
	struct ca_leaf *l = calloc(1, sizeof(*l));

	if (!l) {
		ze_reason(why, cap, -ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(l->identity, sizeof(l->identity), "%s", identity);
	l->key = EVP_EC_gen("P-256");
	l->cert = l->key ? make_leaf(ca, l->key, l->identity) : NULL;
	if (!l->cert) {
		ze_reason(why, cap, -EIO, "cannot issue a certificate: %s", ssl_text());
		ca_leaf_free(l);
		return NULL;
	}
	leaf_facts(l);
	return l;
}

void ca_leaf_free(struct ca_leaf *l)
{
	if (!l)
		return;
	X509_free(l->cert);
	EVP_PKEY_free(l->key);
	free(l);
}

int ca_spiffe_of(X509 *cert, char *buf, size_t cap)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int i, ret = -ENOENT;

	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		int n;

		if (gn->type != GEN_URI)
			continue;
		d = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		n = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (n < 9 || (size_t)n >= cap || memcmp(d, "spiffe://", 9) || memchr(d, '\0', (size_t)n))
			continue;
		memcpy(buf, d, (size_t)n);
		buf[n] = '\0';
		ret = 0;
		break;
	}
	GENERAL_NAMES_free(gens);
	return ret;
}

const char *ca_spiffe_td(const char *uri, size_t *len)
{
	const char *td, *slash;

	if (strncmp(uri, "spiffe://", 9))
		return NULL;
	td = uri + 9;
	slash = strchr(td, '/');
	*len = slash ? (size_t)(slash - td) : strlen(td);
	return td;
}
