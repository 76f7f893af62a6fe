/* SPDX-License-Identifier: Apache-2.0 */
/* ZDS codec: golden vectors from shared/reference/zds.md, round trips, strictness. */
#include "zds.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Golden wire bytes (zds.md, "Messages"). */
static const uint8_t g_hello[] = { 0x08, 0x01 };
static const uint8_t g_ack_ok[] = { 0x0a, 0x00 };
static const uint8_t g_ack_x[] = { 0x0a, 0x03, 0x0a, 0x01, 0x78 };
static const uint8_t g_snap[] = { 0x1a, 0x00 };
static const uint8_t g_keep[] = { 0x2a, 0x03, 0x0a, 0x01, 0x75 };
static const uint8_t g_del[] = { 0x12, 0x03, 0x12, 0x01, 0x75 };
static const uint8_t g_add[] = { 0x0a, 0x0e, 0x0a, 0x01, 0x75, 0x12, 0x09, 0x0a, 0x01, 0x6e,
				 0x12, 0x01, 0x64, 0x1a, 0x01, 0x73 };

static bool str_eq(struct zds_str s, const char *want)
{
	size_t n = strlen(want);

	return s.len == n && (n == 0 || (s.p && !memcmp(s.p, want, n)));
}

static bool str_eq_mem(struct zds_str s, const char *want, size_t n)
{
	return s.len == n && (n == 0 || (s.p && !memcmp(s.p, want, n)));
}

static void req_add(struct zds_request *r, const char *uid, const char *name, const char *ns,
		    const char *sa)
{
	memset(r, 0, sizeof(*r));
	r->type = ZDS_REQ_ADD;
	r->uid = zds_str_c(uid);
	r->has_workload_info = true;
	r->info.name = zds_str_c(name);
	r->info.namespace_ = zds_str_c(ns);
	r->info.service_account = zds_str_c(sa);
}

static void req_uid(struct zds_request *r, enum zds_req_type type, const char *uid)
{
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->uid = zds_str_c(uid);
}

/* ---- encoding the golden vectors -------------------------------------- */

static void test_encode_golden(void)
{
	uint8_t buf[64];
	struct zds_request r;
	ssize_t n;

	n = zds_encode_hello(buf, sizeof(buf), ZDS_VERSION_V1);
	is_mem(buf, n > 0 ? (size_t)n : 0, g_hello, sizeof(g_hello), "encode Hello V1 = 08 01");

	n = zds_encode_ack(buf, sizeof(buf), NULL, 0);
	is_mem(buf, n > 0 ? (size_t)n : 0, g_ack_ok, sizeof(g_ack_ok),
	       "encode Ack ok (NULL) = 0a 00");
	n = zds_encode_ack(buf, sizeof(buf), "", 0);
	is_mem(buf, n > 0 ? (size_t)n : 0, g_ack_ok, sizeof(g_ack_ok),
	       "encode Ack ok (\"\") = 0a 00");
	n = zds_encode_ack(buf, sizeof(buf), "x", 1);
	is_mem(buf, n > 0 ? (size_t)n : 0, g_ack_x, sizeof(g_ack_x),
	       "encode Ack error \"x\" = 0a 03 0a 01 78");
	n = zds_encode_ack(buf, sizeof(buf), "xyz", 1);
	is_mem(buf, n > 0 ? (size_t)n : 0, g_ack_x, sizeof(g_ack_x),
	       "encode Ack honours error_len, not strlen");

	req_uid(&r, ZDS_REQ_SNAPSHOT_SENT, NULL);
	n = zds_encode_request(buf, sizeof(buf), &r);
	is_mem(buf, n > 0 ? (size_t)n : 0, g_snap, sizeof(g_snap), "encode SnapshotSent = 1a 00");

	req_uid(&r, ZDS_REQ_KEEP, "u");
	n = zds_encode_request(buf, sizeof(buf), &r);
	is_mem(buf, n > 0 ? (size_t)n : 0, g_keep, sizeof(g_keep),
	       "encode Keep \"u\" = 2a 03 0a 01 75");

	req_uid(&r, ZDS_REQ_DEL, "u");
	n = zds_encode_request(buf, sizeof(buf), &r);
	is_mem(buf, n > 0 ? (size_t)n : 0, g_del, sizeof(g_del),
	       "encode Del \"u\" = 12 03 12 01 75 (uid in field 2)");

	req_add(&r, "u", "n", "d", "s");
	n = zds_encode_request(buf, sizeof(buf), &r);
	is_mem(buf, n > 0 ? (size_t)n : 0, g_add, sizeof(g_add),
	       "encode Add u/n/d/s golden vector");
}

/* Variants the reference does not list but proto3 fixes exactly. */
static void test_encode_variants(void)
{
	static const uint8_t add_noinfo[] = { 0x0a, 0x03, 0x0a, 0x01, 0x75 };
	static const uint8_t add_emptyinfo[] = { 0x0a, 0x05, 0x0a, 0x01, 0x75, 0x12, 0x00 };
	static const uint8_t keep_empty[] = { 0x2a, 0x00 };
	static const uint8_t del_empty[] = { 0x12, 0x00 };
	uint8_t buf[64];
	struct zds_request r;
	ssize_t n;

	req_add(&r, "u", NULL, NULL, NULL);
	r.has_workload_info = false;
	n = zds_encode_request(buf, sizeof(buf), &r);
	is_mem(buf, n > 0 ? (size_t)n : 0, add_noinfo, sizeof(add_noinfo),
	       "encode Add without workload_info omits field 2");

	req_add(&r, "u", "", "", "");
	n = zds_encode_request(buf, sizeof(buf), &r);
	is_mem(buf, n > 0 ? (size_t)n : 0, add_emptyinfo, sizeof(add_emptyinfo),
	       "encode Add with set-but-empty workload_info emits 12 00");

	req_uid(&r, ZDS_REQ_KEEP, "");
	n = zds_encode_request(buf, sizeof(buf), &r);
	is_mem(buf, n > 0 ? (size_t)n : 0, keep_empty, sizeof(keep_empty),
	       "encode Keep with empty uid = 2a 00");

	req_uid(&r, ZDS_REQ_DEL, NULL);
	n = zds_encode_request(buf, sizeof(buf), &r);
	is_mem(buf, n > 0 ? (size_t)n : 0, del_empty, sizeof(del_empty),
	       "encode Del with no uid = 12 00");

	n = zds_encode_hello(buf, sizeof(buf), 0);
	is_int(n, 0, "encode Hello NOT_USED (0) is the empty message");

	{
		static const uint8_t h300[] = { 0x08, 0xac, 0x02 };

		n = zds_encode_hello(buf, sizeof(buf), 300);
		is_mem(buf, n > 0 ? (size_t)n : 0, h300, sizeof(h300),
		       "encode Hello version 300 = 08 ac 02 (multi-byte varint)");
	}

	req_uid(&r, ZDS_REQ_NONE, "u");
	n = zds_encode_request(buf, sizeof(buf), &r);
	ok(n < 0, "encode request of type NONE is refused (got %zd)", n);
}

/* ---- decoding the golden vectors -------------------------------------- */

static void test_decode_golden(void)
{
	struct zds_request r;
	struct zds_response resp;
	uint64_t v = 99;
	const char *why = NULL;
	int ret;

	ret = zds_decode_hello(g_hello, sizeof(g_hello), &v, &why);
	ok(ret == 0 && v == ZDS_VERSION_V1, "decode Hello 08 01 -> version 1 (ret %d, v %llu)",
	   ret, (unsigned long long)v);

	ret = zds_decode_response(g_ack_ok, sizeof(g_ack_ok), &resp, &why);
	ok(ret == 0 && resp.has_ack && resp.error.len == 0,
	   "decode Ack ok 0a 00 -> ack, empty error");

	ret = zds_decode_response(g_ack_x, sizeof(g_ack_x), &resp, &why);
	ok(ret == 0 && resp.has_ack && str_eq(resp.error, "x"),
	   "decode Ack 0a 03 0a 01 78 -> error \"x\"");
	ok(resp.error.p == (const char *)g_ack_x + 4,
	   "decoded Ack error is a view into the buffer");

	ret = zds_decode_request(g_snap, sizeof(g_snap), &r, &why);
	ok(ret == 0 && r.type == ZDS_REQ_SNAPSHOT_SENT && r.uid.len == 0 && !r.has_workload_info,
	   "decode 1a 00 -> SnapshotSent");

	ret = zds_decode_request(g_keep, sizeof(g_keep), &r, &why);
	ok(ret == 0 && r.type == ZDS_REQ_KEEP && str_eq(r.uid, "u") && !r.has_workload_info,
	   "decode 2a 03 0a 01 75 -> Keep uid \"u\"");

	ret = zds_decode_request(g_del, sizeof(g_del), &r, &why);
	ok(ret == 0 && r.type == ZDS_REQ_DEL && str_eq(r.uid, "u") && !r.has_workload_info,
	   "decode 12 03 12 01 75 -> Del uid \"u\" (field 2)");

	ret = zds_decode_request(g_add, sizeof(g_add), &r, &why);
	is_int(ret, 0, "decode Add golden vector succeeds");
	is_int(r.type, ZDS_REQ_ADD, "decoded Add has type ADD");
	ok(str_eq(r.uid, "u"), "decoded Add uid \"u\"");
	ok(r.has_workload_info, "decoded Add has workload_info");
	ok(str_eq(r.info.name, "n"), "decoded Add name \"n\"");
	ok(str_eq(r.info.namespace_, "d"), "decoded Add namespace \"d\"");
	ok(str_eq(r.info.service_account, "s"), "decoded Add service_account \"s\"");
	ok(r.uid.p == (const char *)g_add + 4 &&
	   r.info.service_account.p == (const char *)g_add + 15,
	   "decoded Add strings are views into the buffer");

	is_str(zds_req_type_name(ZDS_REQ_ADD), "add", "zds_req_type_name(ADD)");
	is_str(zds_req_type_name(ZDS_REQ_DEL), "del", "zds_req_type_name(DEL)");
	is_str(zds_req_type_name(ZDS_REQ_SNAPSHOT_SENT), "snapshot_sent",
	       "zds_req_type_name(SNAPSHOT_SENT)");
	is_str(zds_req_type_name(ZDS_REQ_KEEP), "keep", "zds_req_type_name(KEEP)");
	is_str(zds_req_type_name(ZDS_REQ_NONE), "none", "zds_req_type_name(NONE)");
	is_str(zds_req_type_name((enum zds_req_type)4), "none", "zds_req_type_name(4) is none");
}

/* ---- round trips ------------------------------------------------------- */

static size_t varint_len(size_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static size_t str_field_len(size_t len)
{
	return len ? 1 + varint_len(len) + len : 0;
}

static void fill(char *s, size_t len, char c0)
{
	size_t i;

	for (i = 0; i < len; i++)
		s[i] = (char)(c0 + (char)(i % 26));
	s[len] = '\0';
}

static void test_roundtrip_uid(void)
{
	static const size_t lens[] = {
		0, 1, 2, 126, 127, 128, 129, 200, 255, 256, 500, 1000, 1019,
	};
	static const enum zds_req_type types[] = { ZDS_REQ_KEEP, ZDS_REQ_DEL, ZDS_REQ_ADD };
	static char uid[1100];
	uint8_t buf[ZDS_MAX_MSG + 64];
	size_t i, t;

	for (t = 0; t < N(types); t++) {
		for (i = 0; i < N(lens); i++) {
			struct zds_request in, out;
			const char *why = NULL;
			size_t inner = str_field_len(lens[i]), want;
			ssize_t n;
			int ret;

			fill(uid, lens[i], 'a');
			req_uid(&in, types[t], uid);
			if (types[t] == ZDS_REQ_ADD) {
				in.has_workload_info = true;
				in.info.name = zds_str_c("n");
				inner += 2 + 3;
			}
			want = 1 + varint_len(inner) + inner;
			n = zds_encode_request(buf, sizeof(buf), &in);
			ok(n == (ssize_t)want, "%s uid len %zu encodes to %zu bytes (got %zd)",
			   zds_req_type_name(types[t]), lens[i], want, n);
			if (n < 0)
				continue;
			ret = zds_decode_request(buf, (size_t)n, &out, &why);
			ok(ret == 0 && out.type == types[t] && str_eq_mem(out.uid, uid, lens[i]) &&
			   out.has_workload_info == in.has_workload_info &&
			   (!in.has_workload_info || str_eq(out.info.name, "n")),
			   "%s uid len %zu round-trips (ret %d%s%s)", zds_req_type_name(types[t]),
			   lens[i], ret, why ? ", " : "", why ? why : "");
		}
	}

	/* 200-byte uid: both the outer and the string length need 2-byte varints */
	{
		static const uint8_t want[] = { 0x2a, 0xcb, 0x01, 0x0a, 0xc8, 0x01, 'a', 'b' };
		struct zds_request in;
		ssize_t n;

		fill(uid, 200, 'a');
		req_uid(&in, ZDS_REQ_KEEP, uid);
		n = zds_encode_request(buf, sizeof(buf), &in);
		is_mem(buf, n >= 8 ? 8 : 0, want, sizeof(want),
		       "Keep with a 200-byte uid starts 2a cb 01 0a c8 01");
	}
	/* 128 is the first length needing two bytes */
	{
		static const uint8_t want[] = { 0x12, 0x83, 0x01, 0x12, 0x80, 0x01, 'a' };
		struct zds_request in;
		ssize_t n;

		fill(uid, 128, 'a');
		req_uid(&in, ZDS_REQ_DEL, uid);
		n = zds_encode_request(buf, sizeof(buf), &in);
		is_mem(buf, n >= 7 ? 7 : 0, want, sizeof(want),
		       "Del with a 128-byte uid starts 12 83 01 12 80 01");
	}
}

static void test_roundtrip_info(void)
{
	static char uid[301], name[300], ns[260], sa[129];
	uint8_t buf[ZDS_MAX_MSG];
	struct zds_request in, out;
	const char *why = NULL;
	size_t info, inner, want;
	ssize_t n;
	int ret;

	fill(uid, sizeof(uid) - 1, 'a');
	fill(name, sizeof(name) - 1, 'b');
	fill(ns, sizeof(ns) - 1, 'c');
	fill(sa, sizeof(sa) - 1, 'd');
	req_add(&in, uid, name, ns, sa);
	info = str_field_len(strlen(name)) + str_field_len(strlen(ns)) + str_field_len(strlen(sa));
	inner = str_field_len(strlen(uid)) + 1 + varint_len(info) + info;
	want = 1 + varint_len(inner) + inner;
	n = zds_encode_request(buf, sizeof(buf), &in);
	ok(n == (ssize_t)want && want <= ZDS_MAX_MSG,
	   "Add with long uid/name/namespace/sa encodes to %zu bytes (got %zd)", want, n);
	if (n < 0)
		n = 0;
	ret = zds_decode_request(buf, (size_t)n, &out, &why);
	ok(ret == 0 && out.type == ZDS_REQ_ADD && out.has_workload_info &&
	   str_eq(out.uid, uid) && str_eq(out.info.name, name) && str_eq(out.info.namespace_, ns) &&
	   str_eq(out.info.service_account, sa),
	   "Add with long strings round-trips (ret %d)", ret);

	/* each info field alone, the others default */
	req_add(&in, "u", NULL, "only-ns", NULL);
	n = zds_encode_request(buf, sizeof(buf), &in);
	ret = zds_decode_request(buf, n > 0 ? (size_t)n : 0, &out, &why);
	ok(ret == 0 && out.has_workload_info && out.info.name.len == 0 &&
	   str_eq(out.info.namespace_, "only-ns") && out.info.service_account.len == 0,
	   "Add with only namespace set round-trips");

	/* valid multi-byte UTF-8 including a 4-byte sequence and U+10FFFF */
	req_add(&in, "p\xc3\xa9-\xe2\x82\xac-\xf0\x9d\x84\x9e-\xf4\x8f\xbf\xbf", "\xef\xbf\xbf",
		"\xed\x9f\xbf", "\xee\x80\x80");
	n = zds_encode_request(buf, sizeof(buf), &in);
	ret = zds_decode_request(buf, n > 0 ? (size_t)n : 0, &out, &why);
	ok(ret == 0 && str_eq(out.uid, in.uid.p) && str_eq(out.info.name, "\xef\xbf\xbf") &&
	   str_eq(out.info.namespace_, "\xed\x9f\xbf") &&
	   str_eq(out.info.service_account, "\xee\x80\x80"),
	   "valid UTF-8 up to 4 bytes (U+1D11E, U+10FFFF, U+D7FF, ...) round-trips (ret %d%s%s)",
	   ret, why ? ": " : "", why ? why : "");
}

static void test_roundtrip_ack(void)
{
	static const size_t lens[] = { 1, 127, 128, 300, 1000, 1018 };
	static char err[1100];
	uint8_t buf[ZDS_MAX_MSG + 64];
	size_t i;

	for (i = 0; i < N(lens); i++) {
		struct zds_response out;
		const char *why = NULL;
		size_t inner = str_field_len(lens[i]), want = 1 + varint_len(inner) + inner;
		ssize_t n;
		int ret;

		fill(err, lens[i], 'A');
		n = zds_encode_ack(buf, sizeof(buf), err, lens[i]);
		ok(n == (ssize_t)want, "Ack error len %zu encodes to %zu bytes (got %zd)", lens[i],
		   want, n);
		ret = zds_decode_response(buf, n > 0 ? (size_t)n : 0, &out, &why);
		ok(ret == 0 && out.has_ack && str_eq_mem(out.error, err, lens[i]),
		   "Ack error len %zu round-trips", lens[i]);
	}
	/* 1018 bytes of error is exactly one full ZDS_MAX_MSG datagram */
	is_int(zds_encode_ack(buf, ZDS_MAX_MSG, err, 1018), ZDS_MAX_MSG,
	       "Ack error len 1018 fills exactly ZDS_MAX_MSG (1024) bytes");
	is_int(zds_encode_ack(buf, ZDS_MAX_MSG, err, 1019), -ENOBUFS,
	       "Ack error len 1019 does not fit ZDS_MAX_MSG: -ENOBUFS");

	{
		uint64_t vs[] = { 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX };

		for (i = 0; i < N(vs); i++) {
			uint64_t got = 0;
			const char *why = NULL;
			ssize_t n = zds_encode_hello(buf, sizeof(buf), vs[i]);
			int ret = zds_decode_hello(buf, n > 0 ? (size_t)n : 0, &got, &why);

			ok(ret == 0 && got == vs[i], "Hello version %llu round-trips (%zd bytes)",
			   (unsigned long long)vs[i], n);
		}
	}
}

/* ---- unknown fields ---------------------------------------------------- */

/*
 * One unknown field of each wire type: 15 varint (150), 14 i64, 13 len
 * (holding bytes that are not UTF-8: unknown fields are not validated),
 * 12 i32, and 1000 varint with a two-byte key.
 */
#define UNK_VARINT 0x78, 0x96, 0x01
#define UNK_I64 0x71, 1, 2, 3, 4, 5, 6, 7, 8
#define UNK_LEN 0x6a, 0x03, 0xff, 0xfe, 0x80
#define UNK_I32 0x65, 0xff, 0xff, 0xff, 0xff
#define UNK_BIGTAG 0xc0, 0x3e, 0x05
#define UNK_ALL UNK_VARINT, UNK_I64, UNK_LEN, UNK_I32, UNK_BIGTAG
#define UNK_ALL_LEN (3 + 9 + 5 + 5 + 3)

static void test_skip_unknown(void)
{
	struct zds_request r;
	struct zds_response resp;
	uint64_t v;
	const char *why;
	int ret;

	{
		static const uint8_t b[] = { UNK_ALL, 0x2a, 0x03, 0x0a, 0x01, 0x75, UNK_ALL };

		why = NULL;
		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_KEEP && str_eq(r.uid, "u"),
		   "request: unknown varint/i64/len/i32 fields around Keep are skipped (ret %d %s)",
		   ret, why ? why : "");
	}
	{
		/* field 4 is not a oneof member (keep is 5) */
		static const uint8_t b[] = { 0x22, 0x02, 0x0a, 0x00, 0x12, 0x03, 0x12, 0x01, 0x75 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_DEL && str_eq(r.uid, "u"),
		   "request: unknown field 4 before Del is skipped");
	}
	{
		static const uint8_t b[] = { 0x0a, 0x0e + UNK_ALL_LEN, UNK_VARINT, 0x0a, 0x01,
					     0x75, UNK_I64, 0x12, 0x09, 0x0a, 0x01, 0x6e, 0x12,
					     0x01, 0x64, 0x1a, 0x01, 0x73, UNK_LEN, UNK_I32,
					     UNK_BIGTAG };

		why = NULL;
		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_ADD && str_eq(r.uid, "u") && r.has_workload_info &&
		   str_eq(r.info.name, "n") && str_eq(r.info.service_account, "s"),
		   "AddWorkload: unknown fields of every wire type are skipped (ret %d %s)", ret,
		   why ? why : "");
	}
	{
		/* WorkloadInfo: unknowns plus reserved field 4 (was trust_domain) */
		static const uint8_t b[] = { 0x0a, 0x0e + UNK_ALL_LEN + 5, 0x0a, 0x01, 0x75, 0x12,
					     0x09 + UNK_ALL_LEN + 5, UNK_ALL, 0x0a, 0x01, 0x6e,
					     0x22, 0x03, 't', 'd', 'x', 0x12, 0x01, 0x64, 0x1a,
					     0x01, 0x73 };

		why = NULL;
		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_ADD && r.has_workload_info &&
		   str_eq(r.info.name, "n") && str_eq(r.info.namespace_, "d") &&
		   str_eq(r.info.service_account, "s"),
		   "WorkloadInfo: unknown fields and reserved field 4 are skipped (ret %d %s)",
		   ret, why ? why : "");
	}
	{
		/* in DelWorkload field 1 is unknown: must not be taken as the uid */
		static const uint8_t b[] = { 0x12, 0x07 + UNK_ALL_LEN, 0x0a, 0x02, 'z', 'z',
					     UNK_ALL, 0x12, 0x01, 0x75 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_DEL && str_eq(r.uid, "u"),
		   "DelWorkload: field 1 and other unknowns are skipped, uid from field 2");
	}
	{
		/* in KeepWorkload field 2 is unknown (it is workload_info only in Add) */
		static const uint8_t b[] = { 0x2a, 0x07 + UNK_ALL_LEN, 0x12, 0x02, 0x0a, 0x00,
					     UNK_ALL, 0x0a, 0x01, 0x75 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_KEEP && str_eq(r.uid, "u") && !r.has_workload_info,
		   "KeepWorkload: field 2 and other unknowns are skipped");
	}
	{
		static const uint8_t b[] = { 0x1a, UNK_ALL_LEN + 3, UNK_ALL, 0x0a, 0x01, 0x75 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_SNAPSHOT_SENT && r.uid.len == 0,
		   "SnapshotSent: any content is unknown and skipped");
	}
	{
		static const uint8_t b[] = { UNK_ALL, 0x0a, 0x03 + UNK_ALL_LEN, UNK_ALL, 0x0a, 0x01,
					     0x78, 0x12, 0x00 };

		ret = zds_decode_response(b, sizeof(b), &resp, &why);
		ok(ret == 0 && resp.has_ack && str_eq(resp.error, "x"),
		   "response and Ack: unknown fields are skipped");
	}
	{
		static const uint8_t b[] = { 0x12, 0x00, 0x0a, 0x00 };

		ret = zds_decode_response(b, sizeof(b), &resp, &why);
		ok(ret == 0 && resp.has_ack && resp.error.len == 0,
		   "response: unknown field 2 then Ack ok");
	}
	{
		static const uint8_t b[] = { UNK_ALL, 0x08, 0x01, 0x12, 0x01, 0x08 };

		v = 0;
		ret = zds_decode_hello(b, sizeof(b), &v, &why);
		ok(ret == 0 && v == 1, "Hello: unknown fields are skipped");
	}
	{
		/* the largest field number, 2^29-1, as varint: key 0xfffffff8 */
		static const uint8_t b[] = { 0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x1a, 0x00 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_SNAPSHOT_SENT,
		   "request: unknown field 536870911 (max field number) is skipped");
	}
	{
		static const uint8_t b[] = { 0x31, 0, 0, 0, 0, 0, 0, 0, 0, 0x3d, 0, 0, 0, 0,
					     0x32, 0x00, 0x30, 0x00 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_NONE, "request: only unknown fields -> NONE");
	}
}

/* ---- rejection --------------------------------------------------------- */

enum which { REQ, RESP, HELLO };

struct bad {
	enum which which;
	const char *desc;
	const uint8_t *b;
	size_t len;
};

#define BAD(w, d, ...) \
	{ w, d, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }) }

static const struct bad bads[] = {
	BAD(HELLO, "truncated varint value", 0x08),
	BAD(HELLO, "truncated varint value (continuation bit set)", 0x08, 0x81),
	BAD(REQ, "truncated key varint", 0x80),
	BAD(REQ, "truncated length varint", 0x0a, 0x80),
	BAD(REQ, "truncated unknown varint", 0x78, 0xff),
	BAD(HELLO, "11-byte varint", 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0x01),
	BAD(HELLO, "11-byte varint of zeros", 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x00),
	BAD(HELLO, "10-byte varint overflowing 64 bits", 0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0x02),
	BAD(REQ, "11-byte varint in an unknown field", 0x78, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0x01),
	BAD(REQ, "11-byte length varint", 0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x00),
	BAD(REQ, "key above 32 bits", 0x80, 0x80, 0x80, 0x80, 0x10, 0x00),
	BAD(REQ, "length beyond end (Add)", 0x0a, 0x05, 0x0a, 0x01, 0x75),
	BAD(REQ, "huge length", 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
	BAD(REQ, "length beyond end (unknown field)", 0x6a, 0x02, 0x00),
	BAD(RESP, "length beyond end (Ack)", 0x0a, 0x01),
	BAD(REQ, "nested length beyond its submessage (Keep)", 0x2a, 0x03, 0x0a, 0x05, 0x75, 0x00,
	    0x00, 0x00, 0x00),
	BAD(REQ, "truncated nested WorkloadInfo", 0x0a, 0x0d, 0x0a, 0x01, 0x75, 0x12, 0x09, 0x0a,
	    0x01, 0x6e, 0x12, 0x01, 0x64, 0x1a, 0x01),
	BAD(REQ, "WorkloadInfo string beyond its submessage", 0x0a, 0x0a, 0x0a, 0x01, 0x75, 0x12,
	    0x03, 0x0a, 0x03, 0x6e, 0x64, 0x73, 0x00, 0x00),
	BAD(RESP, "Ack error beyond its submessage", 0x0a, 0x02, 0x0a, 0x01, 0x78),
	BAD(REQ, "truncated i64 unknown field", 0x71, 1, 2, 3, 4, 5, 6, 7),
	BAD(REQ, "truncated i32 unknown field", 0x65, 1, 2, 3),
	BAD(REQ, "truncated i32 in nested Add", 0x0a, 0x03, 0x65, 1, 2, 0x00, 0x00, 0x00),
	BAD(REQ, "wire type 6 (known field 1)", 0x0e),
	BAD(REQ, "wire type 7 (known field 1)", 0x0f),
	BAD(REQ, "wire type 6 (unknown field 9)", 0x4e, 0x00),
	BAD(REQ, "wire type 7 (unknown field 9)", 0x4f, 0x00),
	BAD(REQ, "wire type 7 nested in Add (unknown field 9)", 0x0a, 0x02, 0x4f, 0x00),
	BAD(REQ, "wire type 7 on Add uid", 0x0a, 0x01, 0x0f),
	BAD(REQ, "wire type 6 nested in WorkloadInfo", 0x0a, 0x03, 0x12, 0x01, 0x4e),
	BAD(RESP, "wire type 6 nested in Ack", 0x0a, 0x01, 0x4e),
	BAD(HELLO, "wire type 7 in Hello", 0x17),
	BAD(REQ, "start group (unknown field 6)", 0x33, 0x34),
	BAD(REQ, "end group (unknown field 6)", 0x34),
	BAD(REQ, "start group as known field add", 0x0b, 0x0c),
	BAD(REQ, "start group nested in Keep", 0x2a, 0x02, 0x43, 0x44),
	BAD(HELLO, "start group in Hello", 0x13, 0x14),
	BAD(REQ, "field number 0 varint", 0x00, 0x00),
	BAD(REQ, "field number 0 len", 0x02, 0x00),
	BAD(REQ, "field number 0 nested in Add", 0x0a, 0x02, 0x00, 0x00),
	BAD(REQ, "field number 0 nested in SnapshotSent", 0x1a, 0x02, 0x00, 0x00),
	BAD(RESP, "field number 0 nested in Ack", 0x0a, 0x02, 0x02, 0x00),
	BAD(HELLO, "field number 0 in Hello", 0x00, 0x01),
	BAD(REQ, "Keep uid with varint wire type", 0x2a, 0x02, 0x08, 0x01),
	BAD(REQ, "Add uid with varint wire type", 0x0a, 0x02, 0x08, 0x01),
	BAD(REQ, "Del uid (field 2) with varint wire type", 0x12, 0x02, 0x10, 0x01),
	BAD(REQ, "WorkloadInfo name with varint wire type", 0x0a, 0x04, 0x12, 0x02, 0x08, 0x01),
	BAD(REQ, "WorkloadInfo service_account with i32 wire type", 0x0a, 0x07, 0x12, 0x05, 0x1d,
	    0x61, 0x62, 0x63, 0x64),
	BAD(RESP, "Ack error with varint wire type", 0x0a, 0x02, 0x08, 0x01),
	BAD(REQ, "oneof add with varint wire type", 0x08, 0x01),
	BAD(REQ, "oneof keep with i64 wire type", 0x29, 1, 2, 3, 4, 5, 6, 7, 8),
	BAD(REQ, "workload_info with varint wire type", 0x0a, 0x02, 0x10, 0x01),
	BAD(RESP, "ack with varint wire type", 0x08, 0x00),
	BAD(HELLO, "Hello version with len wire type", 0x0a, 0x00),
	BAD(REQ, "UTF-8 overlong 2-byte (c0 af)", 0x2a, 0x04, 0x0a, 0x02, 0xc0, 0xaf),
	BAD(REQ, "UTF-8 overlong 2-byte (c1 bf)", 0x2a, 0x04, 0x0a, 0x02, 0xc1, 0xbf),
	BAD(REQ, "UTF-8 overlong 3-byte (e0 80 af)", 0x2a, 0x05, 0x0a, 0x03, 0xe0, 0x80, 0xaf),
	BAD(REQ, "UTF-8 overlong 4-byte (f0 8f bf bf)", 0x2a, 0x06, 0x0a, 0x04, 0xf0, 0x8f, 0xbf,
	    0xbf),
	BAD(REQ, "UTF-8 surrogate U+D800 (ed a0 80)", 0x2a, 0x05, 0x0a, 0x03, 0xed, 0xa0, 0x80),
	BAD(REQ, "UTF-8 surrogate U+DFFF (ed bf bf)", 0x12, 0x05, 0x12, 0x03, 0xed, 0xbf, 0xbf),
	BAD(REQ, "UTF-8 above U+10FFFF (f4 90 80 80)", 0x2a, 0x06, 0x0a, 0x04, 0xf4, 0x90, 0x80,
	    0x80),
	BAD(REQ, "UTF-8 byte f8", 0x2a, 0x03, 0x0a, 0x01, 0xf8),
	BAD(REQ, "UTF-8 byte ff", 0x2a, 0x03, 0x0a, 0x01, 0xff),
	BAD(REQ, "UTF-8 lone continuation byte", 0x2a, 0x04, 0x0a, 0x02, 0x61, 0x80),
	BAD(REQ, "UTF-8 truncated 3-byte sequence at end", 0x2a, 0x04, 0x0a, 0x02, 0xe2, 0x82),
	BAD(REQ, "UTF-8 truncated 2-byte sequence at end", 0x2a, 0x03, 0x0a, 0x01, 0xc3),
	BAD(REQ, "UTF-8 truncated 4-byte sequence at end", 0x2a, 0x05, 0x0a, 0x03, 0xf0, 0x9d,
	    0x84),
	BAD(REQ, "UTF-8 truncated sequence mid-string", 0x2a, 0x05, 0x0a, 0x03, 0xe2, 0x28, 0xa1),
	BAD(REQ, "UTF-8 invalid in WorkloadInfo namespace", 0x0a, 0x06, 0x12, 0x04, 0x12, 0x02,
	    0xc0, 0x80),
	BAD(RESP, "UTF-8 invalid in Ack error", 0x0a, 0x03, 0x0a, 0x01, 0xfe),
	/* a valid Keep, then garbage: the error is after a successful member */
	BAD(REQ, "valid Keep followed by truncated field", 0x2a, 0x03, 0x0a, 0x01, 0x75, 0x0a),
};

static void test_reject(void)
{
	size_t i;

	for (i = 0; i < N(bads); i++) {
		const struct bad *b = &bads[i];
		const char *why = NULL;
		struct zds_request r;
		struct zds_response resp;
		uint64_t v;
		int ret;

		switch (b->which) {
		case REQ:
			ret = zds_decode_request(b->b, b->len, &r, &why);
			break;
		case RESP:
			ret = zds_decode_response(b->b, b->len, &resp, &why);
			break;
		default:
			ret = zds_decode_hello(b->b, b->len, &v, &why);
			break;
		}
		ok(ret == -EBADMSG && why && *why, "reject %s: %s (ret %d, why \"%s\")",
		   b->which == REQ ? "request" : b->which == RESP ? "response" : "hello", b->desc,
		   ret, why ? why : "(null)");
	}

	/* why may be NULL */
	ok(zds_decode_hello((const uint8_t[]){ 0x08 }, 1, &(uint64_t){ 0 }, NULL) == -EBADMSG,
	   "decoders accept a NULL why pointer");
}

/* Every strict prefix of a golden vector is malformed (except the empty one). */
static void test_truncations(void)
{
	static const struct {
		const char *name;
		const uint8_t *b;
		size_t len;
		enum which which;
	} g[] = {
		{ "Add", g_add, sizeof(g_add), REQ },
		{ "Keep", g_keep, sizeof(g_keep), REQ },
		{ "Del", g_del, sizeof(g_del), REQ },
		{ "SnapshotSent", g_snap, sizeof(g_snap), REQ },
		{ "Ack x", g_ack_x, sizeof(g_ack_x), RESP },
		{ "Ack ok", g_ack_ok, sizeof(g_ack_ok), RESP },
		{ "Hello", g_hello, sizeof(g_hello), HELLO },
	};
	size_t i, len;

	for (i = 0; i < N(g); i++) {
		size_t bad = 0, first_ok = 0;

		for (len = 1; len < g[i].len; len++) {
			struct zds_request r;
			struct zds_response resp;
			const char *why = NULL;
			uint64_t v;
			int ret;

			if (g[i].which == REQ)
				ret = zds_decode_request(g[i].b, len, &r, &why);
			else if (g[i].which == RESP)
				ret = zds_decode_response(g[i].b, len, &resp, &why);
			else
				ret = zds_decode_hello(g[i].b, len, &v, &why);
			if (ret == -EBADMSG && why)
				bad++;
			else if (!first_ok)
				first_ok = len;
		}
		ok(bad == g[i].len - 1, "every truncation of %s (1..%zu bytes) is rejected%s",
		   g[i].name, g[i].len - 1, first_ok ? " (a prefix was accepted)" : "");
		if (first_ok)
			diag("accepted prefix length %zu", first_ok);
	}
}

/* ---- oneof, empty, defaults -------------------------------------------- */

static void test_oneof_and_empty(void)
{
	struct zds_request r;
	struct zds_response resp;
	uint64_t v = 7;
	const char *why = NULL;
	int ret;

	memset(&r, 0xa5, sizeof(r));
	ret = zds_decode_request(NULL, 0, &r, &why);
	ok(ret == 0 && r.type == ZDS_REQ_NONE && r.uid.len == 0 && !r.has_workload_info,
	   "empty request buffer decodes OK to NONE (and clears the struct)");
	ret = zds_decode_request(g_add, 0, &r, &why);
	ok(ret == 0 && r.type == ZDS_REQ_NONE, "zero-length request decodes to NONE");

	memset(&resp, 0xa5, sizeof(resp));
	ret = zds_decode_response(g_ack_ok, 0, &resp, &why);
	ok(ret == 0 && !resp.has_ack && resp.error.len == 0, "empty response decodes to no ack");

	ret = zds_decode_hello(g_hello, 0, &v, &why);
	ok(ret == 0 && v == 0, "empty Hello decodes to version 0 (NOT_USED)");

	{
		static const uint8_t b[] = { 0x22, 0x00, 0x38, 0x01 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_NONE,
		   "request with no known oneof member (fields 4, 7) decodes to NONE");
	}
	{
		static const uint8_t b[] = { 0x0a, 0x0e, 0x0a, 0x01, 0x75, 0x12, 0x09, 0x0a, 0x01,
					     0x6e, 0x12, 0x01, 0x64, 0x1a, 0x01, 0x73,
					     0x2a, 0x03, 0x0a, 0x01, 0x76 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_KEEP && str_eq(r.uid, "v") &&
		   !r.has_workload_info && r.info.name.len == 0,
		   "oneof last wins: Add then Keep -> Keep \"v\", no workload_info left over");
	}
	{
		static const uint8_t b[] = { 0x2a, 0x03, 0x0a, 0x01, 0x75,
					     0x12, 0x03, 0x12, 0x01, 0x76 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_DEL && str_eq(r.uid, "v"),
		   "oneof last wins: Keep then Del -> Del \"v\"");
	}
	{
		static const uint8_t b[] = { 0x12, 0x03, 0x12, 0x01, 0x75, 0x1a, 0x00 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_SNAPSHOT_SENT && r.uid.len == 0,
		   "oneof last wins: Del then SnapshotSent -> SnapshotSent, uid cleared");
	}
	{
		static const uint8_t b[] = { 0x1a, 0x00, 0x0a, 0x03, 0x0a, 0x01, 0x75 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_ADD && str_eq(r.uid, "u") && !r.has_workload_info,
		   "oneof last wins: SnapshotSent then Add (no info) -> Add");
	}
	{
		/* the same member twice merges (protobuf semantics for embedded messages) */
		static const uint8_t b[] = { 0x0a, 0x03, 0x0a, 0x01, 0x75, 0x0a, 0x05, 0x12, 0x03,
					     0x0a, 0x01, 0x6e };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && r.type == ZDS_REQ_ADD && str_eq(r.uid, "u") && r.has_workload_info &&
		   str_eq(r.info.name, "n"),
		   "same oneof member twice merges: Add{uid} + Add{info} -> both");
	}
	{
		static const uint8_t b[] = { 0x2a, 0x06, 0x0a, 0x01, 0x75, 0x0a, 0x01, 0x76 };

		ret = zds_decode_request(b, sizeof(b), &r, &why);
		ok(ret == 0 && str_eq(r.uid, "v"), "repeated scalar field: last uid wins");
	}
	{
		static const uint8_t b[] = { 0x0a, 0x03, 0x0a, 0x01, 0x78,
					     0x0a, 0x03, 0x0a, 0x01, 0x79 };

		ret = zds_decode_response(b, sizeof(b), &resp, &why);
		ok(ret == 0 && resp.has_ack && str_eq(resp.error, "y"),
		   "two Acks: last error wins");
	}
	{
		static const uint8_t b[] = { 0x08, 0x02, 0x08, 0x01 };

		ret = zds_decode_hello(b, sizeof(b), &v, &why);
		ok(ret == 0 && v == 1, "Hello version twice: last wins");
	}
	{
		/* max 10-byte varint is accepted */
		static const uint8_t b[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					     0xff, 0x01 };

		ret = zds_decode_hello(b, sizeof(b), &v, &why);
		ok(ret == 0 && v == UINT64_MAX, "10-byte varint UINT64_MAX is accepted");
	}
	{
		/* non-minimal but in-range varints are legal protobuf */
		static const uint8_t b[] = { 0x08, 0x81, 0x80, 0x00 };

		ret = zds_decode_hello(b, sizeof(b), &v, &why);
		ok(ret == 0 && v == 1, "non-minimal varint 81 80 00 decodes to 1");
	}
}

/* ---- encoder capacity -------------------------------------------------- */

static void test_enobufs(void)
{
	uint8_t buf[sizeof(g_add) + 16];
	struct zds_request r;
	size_t cap, bad = 0, overrun = 0;
	ssize_t n;

	req_add(&r, "u", "n", "d", "s");
	for (cap = 0; cap < sizeof(g_add); cap++) {
		memset(buf, 0xee, sizeof(buf));
		n = zds_encode_request(buf, cap, &r);
		if (n != -ENOBUFS) {
			bad++;
			diag("cap %zu: got %zd, want -ENOBUFS", cap, n);
		}
		for (size_t k = cap; k < sizeof(buf); k++)
			if (buf[k] != 0xee) {
				overrun++;
				diag("cap %zu: byte %zu written", cap, k);
				break;
			}
	}
	ok(!bad, "Add: every cap 0..%zu returns -ENOBUFS", sizeof(g_add) - 1);
	ok(!overrun, "Add: no byte written at or beyond cap");
	n = zds_encode_request(buf, sizeof(g_add), &r);
	is_int(n, sizeof(g_add), "Add: cap of exactly %zu bytes suffices", sizeof(g_add));
	n = zds_encode_request(NULL, 0, &r);
	is_int(n, -ENOBUFS, "Add: NULL buffer with cap 0 -> -ENOBUFS");

	req_uid(&r, ZDS_REQ_DEL, "u");
	for (cap = 0, bad = 0; cap < sizeof(g_del); cap++)
		bad += zds_encode_request(buf, cap, &r) != -ENOBUFS;
	ok(!bad, "Del: every cap below %zu returns -ENOBUFS", sizeof(g_del));
	req_uid(&r, ZDS_REQ_KEEP, "u");
	for (cap = 0, bad = 0; cap < sizeof(g_keep); cap++)
		bad += zds_encode_request(buf, cap, &r) != -ENOBUFS;
	ok(!bad, "Keep: every cap below %zu returns -ENOBUFS", sizeof(g_keep));
	req_uid(&r, ZDS_REQ_SNAPSHOT_SENT, NULL);
	for (cap = 0, bad = 0; cap < sizeof(g_snap); cap++)
		bad += zds_encode_request(buf, cap, &r) != -ENOBUFS;
	ok(!bad, "SnapshotSent: every cap below %zu returns -ENOBUFS", sizeof(g_snap));
	for (cap = 0, bad = 0; cap < sizeof(g_ack_x); cap++)
		bad += zds_encode_ack(buf, cap, "x", 1) != -ENOBUFS;
	ok(!bad, "Ack x: every cap below %zu returns -ENOBUFS", sizeof(g_ack_x));
	for (cap = 0, bad = 0; cap < sizeof(g_hello); cap++)
		bad += zds_encode_hello(buf, cap, 1) != -ENOBUFS;
	ok(!bad, "Hello: every cap below %zu returns -ENOBUFS", sizeof(g_hello));
}

/* ---- cross-check with protoc --decode_raw ------------------------------ */

/*
 * Feeds bytes to `protoc --decode_raw` and captures its stdout. Returns the
 * exit status (127: protoc could not be run), or -1 on a local error.
 */
static int protoc_decode_raw(const uint8_t *b, size_t len, char *out, size_t cap)
{
	int in[2], res[2], status;
	size_t got = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(in, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(res, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char *const argv[] = { "protoc", "--decode_raw", NULL };

		dup2(in[0], 0);
		dup2(res[1], 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(res[1]);
	/* a few hundred bytes fit the pipe buffer: write all, then read */
	signal(SIGPIPE, SIG_IGN);
	if (write(in[1], b, len) != (ssize_t)len)
		diag("short write to protoc");
	close(in[1]);
	while (got + 1 < cap && (n = read(res[0], out + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(res[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Each of the NULL-terminated needles occurs in hay, in order. */
static bool contains_in_order(const char *hay, const char *const *needles, const char **missing)
{
	const char *p = hay;

	for (; *needles; needles++) {
		const char *q = strstr(p, *needles);

		if (!q) {
			*missing = *needles;
			return false;
		}
		p = q + strlen(*needles);
	}
	return true;
}

static void check_protoc(const char *desc, const uint8_t *b, size_t len, const char *const *needles)
{
	static char out[8192];
	const char *missing = NULL;
	int st = protoc_decode_raw(b, len, out, sizeof(out));

	if (st == 127) {
		fail("protoc --decode_raw %s: protoc not found; run `make deps` "
		     "(Debian package protobuf-compiler)", desc);
		return;
	}
	if (!ok(st == 0 && contains_in_order(out, needles, &missing), "protoc --decode_raw %s",
		desc)) {
		diag("protoc exit status %d, missing \"%s\", output:\n%s", st,
		     missing ? missing : "", out);
	}
}

static void test_protoc(void)
{
	static char longname[302];
	uint8_t buf[ZDS_MAX_MSG];
	struct zds_request r;
	ssize_t n;

	req_add(&r, "u", "n", "d", "s");
	n = zds_encode_request(buf, sizeof(buf), &r);
	{
		static const char *const want[] = { "1 {", "1: \"u\"", "2 {", "1: \"n\"",
						    "2: \"d\"", "3: \"s\"", "}", "}", NULL };

		check_protoc("reads our Add as add{uid u, workload_info{n, d, s}}", buf,
			     n > 0 ? (size_t)n : 0, want);
	}
	req_uid(&r, ZDS_REQ_DEL, "u");
	n = zds_encode_request(buf, sizeof(buf), &r);
	{
		static const char *const want[] = { "2 {", "2: \"u\"", "}", NULL };

		check_protoc("reads our Del as del{2: \"u\"}", buf, n > 0 ? (size_t)n : 0, want);
	}
	req_uid(&r, ZDS_REQ_KEEP, "u");
	n = zds_encode_request(buf, sizeof(buf), &r);
	{
		static const char *const want[] = { "5 {", "1: \"u\"", "}", NULL };

		check_protoc("reads our Keep as keep{1: \"u\"}", buf, n > 0 ? (size_t)n : 0, want);
	}
	n = zds_encode_ack(buf, sizeof(buf), "x", 1);
	{
		static const char *const want[] = { "1 {", "1: \"x\"", "}", NULL };

		check_protoc("reads our Ack \"x\"", buf, n > 0 ? (size_t)n : 0, want);
	}
	n = zds_encode_hello(buf, sizeof(buf), ZDS_VERSION_V1);
	{
		static const char *const want[] = { "1: 1", NULL };

		check_protoc("reads our Hello as 1: 1", buf, n > 0 ? (size_t)n : 0, want);
	}
	/* 'n' (0x6e) is wire type 6, so protoc cannot mistake the string for a message */
	memset(longname, 'n', 301);
	longname[301] = '\0';
	req_add(&r, "u", longname, "d", "s");
	n = zds_encode_request(buf, sizeof(buf), &r);
	{
		static char line[320];
		const char *want[] = { "1 {", "1: \"u\"", "2 {", line, "2: \"d\"", "3: \"s\"",
				       NULL };

		snprintf(line, sizeof(line), "1: \"%s\"", longname);
		check_protoc("reads our Add with a 301-byte name (2-byte lengths)", buf,
			     n > 0 ? (size_t)n : 0, want);
	}
}

int main(void)
{
	test_encode_golden();
	test_encode_variants();
	test_decode_golden();
	test_roundtrip_uid();
	test_roundtrip_info();
	test_roundtrip_ack();
	test_skip_unknown();
	test_reject();
	test_truncations();
	test_oneof_and_empty();
	test_enobufs();
	test_protoc();
	return done_testing();
}
