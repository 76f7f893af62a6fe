/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ca.c: the lab CA — the root in --ca-dir (made when absent, used as is when
 * present) and one ECDSA P-256 leaf per workload identity with ztunnel's
 * shape (hbone.md "Certificates"). Never touches sockets, pods or the
 * daemon; never prints. Interface: this header.
 */
#ifndef ZT_HBONE_CA_H
#define ZT_HBONE_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

#include "err.h"

#define SPIFFE_MAX 512

struct ca {
	X509 *root;
	EVP_PKEY *key;
	char trust_domain[256];
};

/* One workload's certificate and key. */
struct ca_leaf {
	X509 *cert;
	EVP_PKEY *key;
	char identity[SPIFFE_MAX];	/* spiffe://TD/ns/NS/sa/SA */
	char serial[48];		/* hex */
	time_t expiry;
};

/*
 * Loads DIR/root-cert.pem and DIR/root-key.pem, or creates both (the key
 * 0600) when neither exists. 0, or -errno with e saying why.
 */
int ca_open(struct ca *ca, const char *dir, const char *trust_domain, struct ze_err *e);
void ca_close(struct ca *ca);
/*
 * The identity spiffe://TD/ns/NS/sa/SA into buf ("default" for an empty NS
 * or SA): 0, or -EINVAL for a name a SPIFFE path cannot carry.
 */
int ca_identity(const struct ca *ca, const char *ns, const char *sa, char *buf, size_t cap);
/* A new leaf (a new key) for identity (from ca_identity); NULL with why filled. */
struct ca_leaf *ca_issue(const struct ca *ca, const char *identity, char *why, size_t cap);
void ca_leaf_free(struct ca_leaf *l);
/* The one SPIFFE URI SAN of a certificate into buf: 0, or -ENOENT. */
int ca_spiffe_of(X509 *cert, char *buf, size_t cap);
/* The trust domain of a spiffe:// URI (a pointer into it) and its length; NULL if not SPIFFE. */
const char *ca_spiffe_td(const char *uri, size_t *len);

#endif
