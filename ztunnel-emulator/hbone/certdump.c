/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_dump's ztunnel-shaped parts that HBONE knows: the certificates as
 * ztunnel's admin dumps them (one entry per identity, sorted, with the chain
 * and the root: pem as base64 of the PEM text, decimal serial, RFC 3339
 * validity) and a pod's workload addresses. Reads only. Interface: hbone.h.
 */
#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "hbone.h"
#include "hbone_int.h"
#include "json.h"

static void asn1_rfc3339(const ASN1_TIME *t, char *buf, size_t cap)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, cap, "unknown");
}

/* The certificate's PEM text, base64-encoded as ztunnel's dump does. */
static void cert_pem_b64(FILE *out, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long n = 0;
	unsigned char *enc;

	if (b && PEM_write_bio_X509(b, x) == 1)
		n = BIO_get_mem_data(b, &pem);
	enc = n > 0 ? malloc((size_t)(4 * ((n + 2) / 3) + 1)) : NULL;
	if (enc)
		EVP_EncodeBlock(enc, (const unsigned char *)pem, (int)n);
	json_cstr(out, enc ? (const char *)enc : "");
	free(enc);
	BIO_free(b);
}

/* legacy: 1.21's snake_case names */
static void cert_dump(FILE *out, X509 *x, bool legacy)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *dec = bn ? BN_bn2dec(bn) : NULL;
	char from[32], to[32];

	asn1_rfc3339(X509_get0_notBefore(x), from, sizeof(from));
	asn1_rfc3339(X509_get0_notAfter(x), to, sizeof(to));
	fputs("{\"pem\": ", out);
	cert_pem_b64(out, x);
	fputs(legacy ? ", \"serial_number\": " : ", \"serialNumber\": ", out);
	json_cstr(out, dec ? dec : "");
	fprintf(out, legacy ? ", \"valid_from\": \"%s\", \"expiration_time\": \"%s\"}" :
			      ", \"validFrom\": \"%s\", \"expirationTime\": \"%s\"}", from, to);
	OPENSSL_free(dec);
	BN_free(bn);
}

static int by_identity(const void *a, const void *b)
{
	return strcmp((*(const struct ca_leaf *const *)a)->identity,
		      (*(const struct ca_leaf *const *)b)->identity);
}

/*
 * 1.21 (legacy) named the leaf ca_cert and the rest cert_chain; later
 * releases put the leaf in certChain and the root in rootCerts.
 */
void hbone_report_certs_ztunnel(const struct daemon *d, bool legacy, FILE *out)
{
	const struct ca_leaf **v = d->pods.count ? calloc(d->pods.count, sizeof(*v)) : NULL;
	const struct pod *p;
	size_t n = 0, i, shown = 0;

	if (!v) {
		fputs("[]", out);	/* no pod (qsort must not see NULL), or out of memory */
		return;
	}
	for (p = d->pods.head; p; p = p->next)
		if (pod_leaf(p))
			v[n++] = pod_leaf(p);
	qsort(v, n, sizeof(*v), by_identity);
	fputc('[', out);
	for (i = 0; i < n; i++) {
		if (i && !strcmp(v[i]->identity, v[i - 1]->identity))
			continue;	/* ztunnel keeps one certificate per identity */
		fputs(shown++ ? ",\n    {\"identity\": " : "\n    {\"identity\": ", out);
		json_cstr(out, v[i]->identity);
		fputs(legacy ? ", \"state\": \"Available\", \"ca_cert\": [" :
			       ", \"state\": \"Available\", \"certChain\": [", out);
		cert_dump(out, v[i]->cert, legacy);
		fputs(legacy ? "], \"cert_chain\": [" : "], \"rootCerts\": [", out);
		cert_dump(out, d->hbone->ca.root, legacy);
		fputs("]}", out);
	}
	fputs(shown ? "\n  ]" : "]", out);
	free(v);
}

size_t hbone_pod_ip(const struct pod *p, size_t i, char *buf, size_t cap)
{
	const struct sockaddr_storage *ss;

	if (!p->hbone || i >= p->hbone->naddrs)
		return p->hbone ? p->hbone->naddrs : 0;
	ss = &p->hbone->addrs[i];
	if (!inet_ntop(ss->ss_family,
		       ss->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
						   (const void *)&((const struct sockaddr_in *)ss)->sin_addr,
		       buf, (socklen_t)cap))
		snprintf(buf, cap, "?");
	return p->hbone->naddrs;
}

void hbone_report_pod_ips(const struct pod *p, FILE *out)
{
	char a[INET6_ADDRSTRLEN];
	size_t i;

	fputc('[', out);
	for (i = 0; i < hbone_pod_ip(p, i, a, sizeof(a)); i++)
		fprintf(out, "%s\"%s\"", i ? ", " : "", a);
	fputc(']', out);
}
