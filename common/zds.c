/* SPDX-License-Identifier: Apache-2.0 */
#include "zds.h"

#include <errno.h>
#include <string.h>

#include "json.h"

enum wire_type { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* ---- encoding ---------------------------------------------------------- */

struct wbuf {
	uint8_t *p;
	size_t cap, len;
	bool overflow;
};

static void put_byte(struct wbuf *w, uint8_t b)
{
	if (w->len < w->cap)
		w->p[w->len] = b;
	else
		w->overflow = true;
	w->len++;
}

static void put_varint(struct wbuf *w, uint64_t v)
{
	while (v >= 0x80) {
		put_byte(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	put_byte(w, (uint8_t)v);
}

static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void put_tag(struct wbuf *w, uint32_t field, enum wire_type wt)
{
	put_varint(w, ((uint64_t)field << 3) | wt);
}

static void put_bytes(struct wbuf *w, const void *data, size_t len)
{
	const uint8_t *d = data;
	size_t i;

	for (i = 0; i < len; i++)
		put_byte(w, d[i]);
}

/* proto3: a string equal to its default ("") is not emitted. */
static size_t str_field_size(struct zds_str s)
{
	return s.len ? 1 + varint_size(s.len) + s.len : 0;
}

static void put_str_field(struct wbuf *w, uint32_t field, struct zds_str s)
{
	if (!s.len)
		return;
	put_tag(w, field, WT_LEN);
	put_varint(w, s.len);
	put_bytes(w, s.p, s.len);
}

/* A set oneof member is emitted even when empty (e.g. Ack ok is 0a 00). */
static void put_submsg_header(struct wbuf *w, uint32_t field, size_t len)
{
	put_tag(w, field, WT_LEN);
	put_varint(w, len);
}

static ssize_t wbuf_result(const struct wbuf *w)
{
	return w->overflow ? -ENOBUFS : (ssize_t)w->len;
}

ssize_t zds_encode_hello(uint8_t *buf, size_t cap, uint64_t version)
{
	struct wbuf w = { buf, cap, 0, false };

	if (version) {
		put_tag(&w, 1, WT_VARINT);
		put_varint(&w, version);
	}
	return wbuf_result(&w);
}

ssize_t zds_encode_ack(uint8_t *buf, size_t cap, const char *error, size_t error_len)
{
	struct wbuf w = { buf, cap, 0, false };
	struct zds_str e = { error, error ? error_len : 0 };

	put_submsg_header(&w, 1, str_field_size(e));
	put_str_field(&w, 1, e);
	return wbuf_result(&w);
}

ssize_t zds_encode_request(uint8_t *buf, size_t cap, const struct zds_request *req)
{
	struct wbuf w = { buf, cap, 0, false };
	size_t inner, info = 0;

	switch (req->type) {
	case ZDS_REQ_ADD:
		inner = str_field_size(req->uid);
		if (req->has_workload_info) {
			info = str_field_size(req->info.name) + str_field_size(req->info.namespace_) +
			       str_field_size(req->info.service_account);
			inner += 1 + varint_size(info) + info;
		}
		put_submsg_header(&w, ZDS_REQ_ADD, inner);
		put_str_field(&w, 1, req->uid);
		if (req->has_workload_info) {
			put_submsg_header(&w, 2, info);
			put_str_field(&w, 1, req->info.name);
			put_str_field(&w, 2, req->info.namespace_);
			put_str_field(&w, 3, req->info.service_account);
		}
		break;
	case ZDS_REQ_DEL:
		/* DelWorkload carries its uid in field 2, not 1. */
		put_submsg_header(&w, ZDS_REQ_DEL, str_field_size(req->uid));
		put_str_field(&w, 2, req->uid);
		break;
	case ZDS_REQ_KEEP:
		put_submsg_header(&w, ZDS_REQ_KEEP, str_field_size(req->uid));
		put_str_field(&w, 1, req->uid);
		break;
	case ZDS_REQ_SNAPSHOT_SENT:
		put_submsg_header(&w, ZDS_REQ_SNAPSHOT_SENT, 0);
		break;
	default:
		return -EINVAL;
	}
	return wbuf_result(&w);
}

/* ---- decoding ---------------------------------------------------------- */

struct rbuf {
	const uint8_t *p, *end;
	const char *why;
};

static int fail(struct rbuf *r, const char *why)
{
	r->why = why;
	return -EBADMSG;
}

static int get_varint(struct rbuf *r, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift;

	for (shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (r->p >= r->end)
			return fail(r, "truncated varint");
		b = *r->p++;
		/* the tenth byte may only carry the top bit of a 64-bit value */
		if (shift == 63 && b > 1)
			return fail(r, "varint overflows 64 bits");
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return fail(r, "varint overflows 64 bits");
}

static int get_tag(struct rbuf *r, uint32_t *field, enum wire_type *wt)
{
	uint64_t key;
	int ret = get_varint(r, &key);

	if (ret)
		return ret;
	if (key > UINT32_MAX)
		return fail(r, "invalid key value");
	*wt = (enum wire_type)(key & 7);
	*field = (uint32_t)(key >> 3);
	if (*field == 0)
		return fail(r, "invalid field number 0");
	return 0;
}

static int get_len(struct rbuf *r, struct rbuf *sub)
{
	uint64_t len;
	int ret = get_varint(r, &len);

	if (ret)
		return ret;
	if (len > (uint64_t)(r->end - r->p))
		return fail(r, "length-delimited field exceeds the message");
	sub->p = r->p;
	sub->end = r->p + len;
	sub->why = NULL;
	r->p += len;
	return 0;
}

static int skip_field(struct rbuf *r, enum wire_type wt)
{
	struct rbuf sub;
	uint64_t v;

	switch (wt) {
	case WT_VARINT:
		return get_varint(r, &v);
	case WT_I64:
		if (r->end - r->p < 8)
			return fail(r, "truncated 64-bit field");
		r->p += 8;
		return 0;
	case WT_I32:
		if (r->end - r->p < 4)
			return fail(r, "truncated 32-bit field");
		r->p += 4;
		return 0;
	case WT_LEN:
		return get_len(r, &sub);
	case WT_SGROUP:
	case WT_EGROUP:
		/* deprecated groups never appear in proto3 ZDS messages */
		return fail(r, "unsupported group wire type");
	default:
		return fail(r, "invalid wire type");
	}
}

/* Strict UTF-8 (no overlongs, no surrogates, max U+10FFFF), as proto3 requires. */
static bool utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		n = utf8_char_len(s + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

static int get_string(struct rbuf *r, enum wire_type wt, struct zds_str *out)
{
	struct rbuf sub;
	int ret;

	if (wt != WT_LEN)
		return fail(r, "invalid wire type for a string field");
	ret = get_len(r, &sub);
	if (ret)
		return ret;
	if (!utf8_valid(sub.p, (size_t)(sub.end - sub.p)))
		return fail(r, "invalid string value: data is not UTF-8 encoded");
	out->p = (const char *)sub.p;
	out->len = (size_t)(sub.end - sub.p);
	return 0;
}

static int get_submsg(struct rbuf *r, enum wire_type wt, struct rbuf *sub)
{
	if (wt != WT_LEN)
		return fail(r, "invalid wire type for a message field");
	return get_len(r, sub);
}

/* Runs each field of r through a per-message callback; unknown fields are skipped. */
typedef int (*field_fn)(struct rbuf *r, uint32_t field, enum wire_type wt, void *ctx);

static int parse_fields(struct rbuf *r, field_fn fn, void *ctx)
{
	while (r->p < r->end) {
		uint32_t field;
		enum wire_type wt;
		int ret = get_tag(r, &field, &wt);

		if (ret)
			return ret;
		ret = fn(r, field, wt, ctx);
		if (ret > 0)
			ret = skip_field(r, wt);
		if (ret)
			return ret;
	}
	return 0;
}

/* Nested messages report their error through the outer buffer. */
static int parse_nested(struct rbuf *outer, struct rbuf *sub, field_fn fn, void *ctx)
{
	int ret = parse_fields(sub, fn, ctx);

	if (ret)
		outer->why = sub->why;
	return ret;
}

#define UNKNOWN_FIELD 1

static int hello_field(struct rbuf *r, uint32_t field, enum wire_type wt, void *ctx)
{
	if (field != 1)
		return UNKNOWN_FIELD;
	if (wt != WT_VARINT)
		return fail(r, "invalid wire type for an enum field");
	return get_varint(r, ctx);
}

int zds_decode_hello(const uint8_t *buf, size_t len, uint64_t *version, const char **why)
{
	struct rbuf r = { buf, buf + len, NULL };
	int ret;

	*version = 0;
	ret = parse_fields(&r, hello_field, version);
	if (ret && why)
		*why = r.why;
	return ret;
}

static int info_field(struct rbuf *r, uint32_t field, enum wire_type wt, void *ctx)
{
	struct zds_workload_info *wi = ctx;

	switch (field) {
	case 1:
		return get_string(r, wt, &wi->name);
	case 2:
		return get_string(r, wt, &wi->namespace_);
	case 3:
		return get_string(r, wt, &wi->service_account);
	default:
		return UNKNOWN_FIELD;
	}
}

struct req_ctx {
	struct zds_request *req;
	uint32_t uid_field;
};

static int payload_field(struct rbuf *r, uint32_t field, enum wire_type wt, void *ctx)
{
	struct req_ctx *c = ctx;
	struct rbuf sub;
	int ret;

	if (field == c->uid_field)
		return get_string(r, wt, &c->req->uid);
	if (c->req->type == ZDS_REQ_ADD && field == 2) {
		ret = get_submsg(r, wt, &sub);
		if (ret)
			return ret;
		/* a repeated embedded message merges into the earlier one */
		c->req->has_workload_info = true;
		return parse_nested(r, &sub, info_field, &c->req->info);
	}
	return UNKNOWN_FIELD;
}

static int request_field(struct rbuf *r, uint32_t field, enum wire_type wt, void *ctx)
{
	struct zds_request *req = ctx;
	struct req_ctx c = { req, 1 };
	struct rbuf sub;
	int ret;

	switch (field) {
	case ZDS_REQ_ADD:
	case ZDS_REQ_DEL:
	case ZDS_REQ_SNAPSHOT_SENT:
	case ZDS_REQ_KEEP:
		break;
	default:
		return UNKNOWN_FIELD;
	}
	ret = get_submsg(r, wt, &sub);
	if (ret)
		return ret;
	/* oneof: the last member on the wire wins; the same member again merges */
	if (req->type != (enum zds_req_type)field)
		memset(req, 0, sizeof(*req));
	req->type = (enum zds_req_type)field;
	if (field == ZDS_REQ_DEL)
		c.uid_field = 2;
	else if (field == ZDS_REQ_SNAPSHOT_SENT)
		c.uid_field = 0;	/* no fields: everything inside is unknown */
	return parse_nested(r, &sub, payload_field, &c);
}

int zds_decode_request(const uint8_t *buf, size_t len, struct zds_request *req, const char **why)
{
	struct rbuf r = { buf, buf + len, NULL };
	int ret;

	memset(req, 0, sizeof(*req));
	ret = parse_fields(&r, request_field, req);
	if (ret && why)
		*why = r.why;
	return ret;
}

static int ack_field(struct rbuf *r, uint32_t field, enum wire_type wt, void *ctx)
{
	struct zds_response *resp = ctx;

	if (field != 1)
		return UNKNOWN_FIELD;
	return get_string(r, wt, &resp->error);
}

static int response_field(struct rbuf *r, uint32_t field, enum wire_type wt, void *ctx)
{
	struct zds_response *resp = ctx;
	struct rbuf sub;
	int ret;

	if (field != 1)
		return UNKNOWN_FIELD;
	ret = get_submsg(r, wt, &sub);
	if (ret)
		return ret;
	resp->has_ack = true;
	return parse_nested(r, &sub, ack_field, resp);
}

int zds_decode_response(const uint8_t *buf, size_t len, struct zds_response *resp, const char **why)
{
	struct rbuf r = { buf, buf + len, NULL };
	int ret;

	memset(resp, 0, sizeof(*resp));
	ret = parse_fields(&r, response_field, resp);
	if (ret && why)
		*why = r.why;
	return ret;
}

const char *zds_req_type_name(enum zds_req_type type)
{
	switch (type) {
	case ZDS_REQ_ADD:
		return "add";
	case ZDS_REQ_DEL:
		return "del";
	case ZDS_REQ_SNAPSHOT_SENT:
		return "snapshot_sent";
	case ZDS_REQ_KEEP:
		return "keep";
	default:
		return "none";
	}
}
