/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the ZDS codec (common/zds.c). Every input is decoded
 * as a WorkloadRequest, a WorkloadResponse and a ZdsHello, and each result is
 * judged three ways:
 *   - against a small reference decoder written here from zds.md (accept or
 *     reject the same inputs, same fields);
 *   - round trip: what decodes re-encodes, decodes back to the same fields,
 *     and re-encoding that gives the same bytes (the encoding is canonical);
 *   - encoder bounds: an exact-size buffer works, one byte less is -ENOBUFS
 *     without a write past the end (ASan watches the heap buffers).
 * Any disagreement abort()s, which libFuzzer reports as a crash.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "zds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- reference decoder (independent of common/zds.c) -------------------- */

struct ref_rd {
	const uint8_t *p, *end;
};

struct ref_field {
	uint32_t num;
	unsigned wt;
	uint64_t v;		/* varint */
	const uint8_t *d;	/* length-delimited */
	size_t len;
};

static bool ref_varint(struct ref_rd *r, uint64_t *out)
{
	uint64_t v = 0;

	for (int i = 0; i < 10; i++) {
		uint8_t b;

		if (r->p == r->end)
			return false;
		b = *r->p++;
		if (i == 9 && b > 1)
			return false;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* 1: a field was read; 0: end of message; -1: malformed. */
static int ref_next(struct ref_rd *r, struct ref_field *f)
{
	uint64_t key, len;

	if (r->p == r->end)
		return 0;
	if (!ref_varint(r, &key) || key > 0xffffffffu || (key >> 3) == 0)
		return -1;
	f->num = (uint32_t)(key >> 3);
	f->wt = (unsigned)(key & 7);
	switch (f->wt) {
	case 0:
		return ref_varint(r, &f->v) ? 1 : -1;
	case 1:
	case 5: {
		size_t n = f->wt == 1 ? 8 : 4;

		if ((size_t)(r->end - r->p) < n)
			return -1;
		r->p += n;
		return 1;
	}
	case 2:
		if (!ref_varint(r, &len) || len > (uint64_t)(r->end - r->p))
			return -1;
		f->d = r->p;
		f->len = (size_t)len;
		r->p += len;
		return 1;
	default:
		return -1;	/* 3, 4: groups (rejected by design); 6, 7: invalid */
	}
}

struct ref_str {
	const uint8_t *p;
	size_t len;
};

struct ref_req {
	int type;
	struct ref_str uid, name, ns, sa;
	bool has_info;
};

static bool ref_string(const struct ref_field *f, struct ref_str *out)
{
	if (f->wt != 2 || !fz_utf8_ok(f->d, f->len))
		return false;
	out->p = f->d;
	out->len = f->len;
	return true;
}

static bool ref_info(const uint8_t *d, size_t len, struct ref_req *q)
{
	struct ref_rd r = { d, d + len };
	struct ref_field f;
	int k;

	while ((k = ref_next(&r, &f)) == 1) {
		if (f.num == 1 && !ref_string(&f, &q->name))
			return false;
		if (f.num == 2 && !ref_string(&f, &q->ns))
			return false;
		if (f.num == 3 && !ref_string(&f, &q->sa))
			return false;
	}
	return k == 0;
}

static bool ref_payload(const uint8_t *d, size_t len, struct ref_req *q)
{
	struct ref_rd r = { d, d + len };
	struct ref_field f;
	uint32_t uid_field = q->type == 2 ? 2 : q->type == 3 ? 0 : 1;
	int k;

	while ((k = ref_next(&r, &f)) == 1) {
		if (uid_field && f.num == uid_field) {
			if (!ref_string(&f, &q->uid))
				return false;
		} else if (q->type == 1 && f.num == 2) {
			if (f.wt != 2)
				return false;
			q->has_info = true;
			if (!ref_info(f.d, f.len, q))
				return false;
		}
	}
	return k == 0;
}

static bool ref_decode_request(const uint8_t *d, size_t len, struct ref_req *q)
{
	struct ref_rd r = { d, d + len };
	struct ref_field f;
	int k;

	memset(q, 0, sizeof(*q));
	while ((k = ref_next(&r, &f)) == 1) {
		if (f.num != 1 && f.num != 2 && f.num != 3 && f.num != 5)
			continue;
		if (f.wt != 2)
			return false;
		if (q->type != (int)f.num)
			memset(q, 0, sizeof(*q));	/* oneof: another member replaces */
		q->type = (int)f.num;
		if (!ref_payload(f.d, f.len, q))
			return false;
	}
	return k == 0;
}

static bool ref_decode_response(const uint8_t *d, size_t len, bool *has_ack, struct ref_str *err)
{
	struct ref_rd r = { d, d + len };
	struct ref_field f, g;
	int k, m;

	*has_ack = false;
	memset(err, 0, sizeof(*err));
	while ((k = ref_next(&r, &f)) == 1) {
		struct ref_rd s;

		if (f.num != 1)
			continue;
		if (f.wt != 2)
			return false;
		*has_ack = true;
		s.p = f.d;
		s.end = f.d + f.len;
		while ((m = ref_next(&s, &g)) == 1)
			if (g.num == 1 && !ref_string(&g, err))
				return false;
		if (m)
			return false;
	}
	return k == 0;
}

static bool ref_decode_hello(const uint8_t *d, size_t len, uint64_t *version)
{
	struct ref_rd r = { d, d + len };
	struct ref_field f;
	int k;

	*version = 0;
	while ((k = ref_next(&r, &f)) == 1) {
		if (f.num != 1)
			continue;
		if (f.wt != 0)
			return false;
		*version = f.v;
	}
	return k == 0;
}

/* ---- checks ------------------------------------------------------------- */

static bool str_eq(struct zds_str a, struct zds_str b)
{
	return a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len));
}

static bool str_eq_ref(struct zds_str a, struct ref_str b)
{
	return a.len == b.len && (!a.len || a.p == (const char *)b.p);
}

/* A decoded string is a view into [buf, buf+len) and valid UTF-8. */
static void check_view(const char *what, struct zds_str s, const uint8_t *buf, size_t len)
{
	if (!s.len)
		return;
	FUZZ_CHECK(s.p && (const uint8_t *)s.p >= buf && (const uint8_t *)s.p + s.len <= buf + len,
		   "%s: view %p+%zu outside the input %p+%zu", what, (const void *)s.p, s.len,
		   (const void *)buf, len);
	FUZZ_CHECK(fz_utf8_ok((const uint8_t *)s.p, s.len), "%s: decoded string is not UTF-8", what);
}

static void check_why(int ret, const char *why)
{
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG, "decoder returned %d", ret);
	if (ret)
		FUZZ_CHECK(why && *why, "a decoding error without a reason");
}

/* The encoder works into exactly n bytes and refuses n-1 without writing past them. */
typedef ssize_t (*encode_fn)(uint8_t *buf, size_t cap, const void *arg);

static uint8_t *encode_exact(encode_fn fn, const void *arg, size_t hint, size_t *outlen)
{
	size_t cap = hint * 2 + 64;
	uint8_t *big = malloc(cap), *exact, *small;
	ssize_t n, m;

	FUZZ_CHECK(big, "out of memory");
	n = fn(big, cap, arg);
	FUZZ_CHECK(n >= 0 && (size_t)n <= cap, "encoding into %zu bytes returned %zd", cap, n);
	exact = malloc(n ? (size_t)n : 1);
	FUZZ_CHECK(exact, "out of memory");
	m = fn(exact, (size_t)n, arg);
	FUZZ_CHECK(m == n && !memcmp(exact, big, (size_t)n),
		   "encoding into exactly %zd bytes returned %zd or other bytes", n, m);
	if (n > 0) {
		small = malloc((size_t)n - 1 ? (size_t)n - 1 : 1);
		FUZZ_CHECK(small, "out of memory");
		m = fn(small, (size_t)n - 1, arg);
		FUZZ_CHECK(m == -ENOBUFS, "encoding %zd bytes into %zd returned %zd", n, n - 1, m);
		free(small);
		m = fn(NULL, 0, arg);
		FUZZ_CHECK(m == -ENOBUFS, "encoding %zd bytes into NULL/0 returned %zd", n, m);
	}
	free(big);
	*outlen = (size_t)n;
	return exact;
}

static ssize_t enc_request(uint8_t *buf, size_t cap, const void *arg)
{
	return zds_encode_request(buf, cap, arg);
}

static ssize_t enc_ack(uint8_t *buf, size_t cap, const void *arg)
{
	const struct zds_str *e = arg;

	return zds_encode_ack(buf, cap, e->p, e->len);
}

static ssize_t enc_hello(uint8_t *buf, size_t cap, const void *arg)
{
	return zds_encode_hello(buf, cap, *(const uint64_t *)arg);
}

static void check_request(const uint8_t *data, size_t size)
{
	struct zds_request req, again, third;
	struct ref_req ref;
	const char *why = NULL;
	uint8_t *enc, *enc2;
	size_t n, n2;
	int ret = zds_decode_request(data, size, &req, &why);
	bool ref_ok = ref_decode_request(data, size, &ref);

	check_why(ret, why);
	FUZZ_CHECK((ret == 0) == ref_ok, "request: zds_decode_request says %s (%s), the reference %s",
		   ret ? "malformed" : "ok", ret ? why : "-", ref_ok ? "ok" : "malformed");
	if (ret)
		return;

	FUZZ_CHECK((int)req.type == ref.type, "request: type %d, reference %d", req.type, ref.type);
	FUZZ_CHECK(str_eq_ref(req.uid, ref.uid), "request: uid differs from the reference");
	FUZZ_CHECK(req.has_workload_info == ref.has_info, "request: has_workload_info differs");
	FUZZ_CHECK(str_eq_ref(req.info.name, ref.name) && str_eq_ref(req.info.namespace_, ref.ns) &&
			   str_eq_ref(req.info.service_account, ref.sa),
		   "request: workload_info differs from the reference");
	check_view("uid", req.uid, data, size);
	check_view("name", req.info.name, data, size);
	check_view("namespace", req.info.namespace_, data, size);
	check_view("service_account", req.info.service_account, data, size);
	if (req.type != ZDS_REQ_ADD)
		FUZZ_CHECK(!req.has_workload_info && !req.info.name.len && !req.info.namespace_.len &&
				   !req.info.service_account.len,
			   "request: workload_info on a %s", zds_req_type_name(req.type));
	if (req.type == ZDS_REQ_SNAPSHOT_SENT)
		FUZZ_CHECK(!req.uid.len, "request: uid on a snapshot_sent");

	if (req.type == ZDS_REQ_NONE) {
		uint8_t buf[16];

		FUZZ_CHECK(zds_encode_request(buf, sizeof(buf), &req) == -EINVAL,
			   "encoding a request without a payload did not fail with -EINVAL");
		return;
	}

	/* round trip */
	enc = encode_exact(enc_request, &req, size, &n);
	FUZZ_CHECK(n >= 2, "a set oneof member encoded to %zu bytes", n);
	why = NULL;
	ret = zds_decode_request(enc, n, &again, &why);
	FUZZ_CHECK(ret == 0, "request: re-encoded %s does not decode: %s", zds_req_type_name(req.type),
		   why ? why : "?");
	FUZZ_CHECK(again.type == req.type, "request round trip: type %d -> %d", req.type, again.type);
	FUZZ_CHECK(str_eq(again.uid, req.uid), "request round trip: uid differs");
	FUZZ_CHECK(again.has_workload_info == req.has_workload_info,
		   "request round trip: has_workload_info %d -> %d", req.has_workload_info,
		   again.has_workload_info);
	FUZZ_CHECK(str_eq(again.info.name, req.info.name), "request round trip: name differs");
	FUZZ_CHECK(str_eq(again.info.namespace_, req.info.namespace_),
		   "request round trip: namespace differs");
	FUZZ_CHECK(str_eq(again.info.service_account, req.info.service_account),
		   "request round trip: service_account differs");

	/* canonical: encode(decode(encode(x))) == encode(x) */
	enc2 = encode_exact(enc_request, &again, n, &n2);
	FUZZ_CHECK(n2 == n && !memcmp(enc, enc2, n), "request: re-encoding is not stable");
	ret = zds_decode_request(enc2, n2, &third, &why);
	FUZZ_CHECK(ret == 0 && third.type == req.type, "request: third decode failed");
	free(enc);
	free(enc2);
}

static void check_response(const uint8_t *data, size_t size)
{
	struct zds_response resp, again;
	struct ref_str ref_err;
	bool ref_ack;
	const char *why = NULL;
	uint8_t *enc, *enc2;
	size_t n, n2;
	int ret = zds_decode_response(data, size, &resp, &why);
	bool ref_ok = ref_decode_response(data, size, &ref_ack, &ref_err);

	check_why(ret, why);
	FUZZ_CHECK((ret == 0) == ref_ok, "response: zds_decode_response says %s (%s), the reference %s",
		   ret ? "malformed" : "ok", ret ? why : "-", ref_ok ? "ok" : "malformed");
	if (ret)
		return;
	FUZZ_CHECK(resp.has_ack == ref_ack, "response: has_ack %d, reference %d", resp.has_ack, ref_ack);
	FUZZ_CHECK(str_eq_ref(resp.error, ref_err), "response: error differs from the reference");
	check_view("error", resp.error, data, size);
	if (!resp.has_ack) {
		FUZZ_CHECK(!resp.error.len, "response: an error without an ack");
		return;
	}

	enc = encode_exact(enc_ack, &resp.error, size, &n);
	FUZZ_CHECK(n >= 2, "an ack encoded to %zu bytes", n);
	why = NULL;
	ret = zds_decode_response(enc, n, &again, &why);
	FUZZ_CHECK(ret == 0, "response: re-encoded ack does not decode: %s", why ? why : "?");
	FUZZ_CHECK(again.has_ack, "response round trip: ack lost");
	FUZZ_CHECK(str_eq(again.error, resp.error), "response round trip: error differs");
	enc2 = encode_exact(enc_ack, &again.error, n, &n2);
	FUZZ_CHECK(n2 == n && !memcmp(enc, enc2, n), "response: re-encoding is not stable");
	free(enc);
	free(enc2);
}

static void check_hello(const uint8_t *data, size_t size)
{
	uint64_t version, again, ref_version;
	const char *why = NULL;
	uint8_t *enc;
	size_t n;
	int ret = zds_decode_hello(data, size, &version, &why);
	bool ref_ok = ref_decode_hello(data, size, &ref_version);

	check_why(ret, why);
	FUZZ_CHECK((ret == 0) == ref_ok, "hello: zds_decode_hello says %s (%s), the reference %s",
		   ret ? "malformed" : "ok", ret ? why : "-", ref_ok ? "ok" : "malformed");
	if (ret)
		return;
	FUZZ_CHECK(version == ref_version, "hello: version %llu, reference %llu",
		   (unsigned long long)version, (unsigned long long)ref_version);
	enc = encode_exact(enc_hello, &version, size, &n);
	FUZZ_CHECK(version ? n >= 2 : n == 0, "hello %llu encoded to %zu bytes",
		   (unsigned long long)version, n);
	why = NULL;
	ret = zds_decode_hello(enc, n, &again, &why);
	FUZZ_CHECK(ret == 0 && again == version, "hello round trip: %llu -> %llu (%s)",
		   (unsigned long long)version, (unsigned long long)again, ret ? why : "ok");
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_response(data, size);
	check_hello(data, size);
	return 0;
}
