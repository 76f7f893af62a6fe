/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_ZDS_H
#define ZE_ZDS_H

/*
 * ZDS v1 (package istio.workload.zds), the messages istio-cni and ztunnel
 * exchange, one bare proto3 message per SOCK_SEQPACKET datagram. A small,
 * strict codec: decoders skip unknown fields (proto3 forward compatibility)
 * and reject malformed varints, lengths, wire types and non-UTF-8 strings
 * (as prost, ztunnel's decoder, does). Stricter than prost in one way: the
 * deprecated group wire types are rejected, not skipped (no ZDS peer emits
 * them). Decoded strings are views into the caller's buffer.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* Both sides receive into 1024 bytes; anything longer is MSG_TRUNC. */
#define ZDS_MAX_MSG 1024

#define ZDS_VERSION_V1 1

struct zds_str {
	const char *p;
	size_t len;
};

enum zds_req_type {
	ZDS_REQ_NONE = 0,
	ZDS_REQ_ADD = 1,
	ZDS_REQ_DEL = 2,
	ZDS_REQ_SNAPSHOT_SENT = 3,
	ZDS_REQ_KEEP = 5,
};

struct zds_workload_info {
	struct zds_str name;
	struct zds_str namespace_;
	struct zds_str service_account;
};

struct zds_request {
	enum zds_req_type type;
	struct zds_str uid;		/* add, del, keep */
	bool has_workload_info;		/* add only */
	struct zds_workload_info info;
};

struct zds_response {
	bool has_ack;
	struct zds_str error;		/* empty = success */
};

/* Encoders return the encoded length, or -ENOBUFS when cap is too small. */
ssize_t zds_encode_hello(uint8_t *buf, size_t cap, uint64_t version);
ssize_t zds_encode_request(uint8_t *buf, size_t cap, const struct zds_request *req);
ssize_t zds_encode_ack(uint8_t *buf, size_t cap, const char *error, size_t error_len);

/*
 * Decoders return 0, or -EBADMSG with *why set to a static description of
 * what was malformed. A missing oneof member is not a decoding error: it
 * leaves type ZDS_REQ_NONE / has_ack false for the caller to judge.
 */
int zds_decode_hello(const uint8_t *buf, size_t len, uint64_t *version, const char **why);
int zds_decode_request(const uint8_t *buf, size_t len, struct zds_request *req, const char **why);
int zds_decode_response(const uint8_t *buf, size_t len, struct zds_response *resp, const char **why);

const char *zds_req_type_name(enum zds_req_type type);

static inline struct zds_str zds_str_c(const char *s)
{
	struct zds_str r = { s, s ? strlen(s) : 0 };
	return r;
}

#endif
