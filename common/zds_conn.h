/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zds_conn.c: one ZDS endpoint on the event loop, the same whichever end of
 * the socket listened — ztunnel's side (Hello out, requests in under
 * ztunnel's fd rules, Acks out with the exact nack wording) or the node
 * agent's (Hello in, requests out in lock-step with their deadline, Acks
 * in) — with typed callbacks for its owner. Below it, the same wire steps
 * on a bare fd. Never touches a pod, a daemon or an agent; never prints.
 * Interface: this header.
 */
#ifndef ZE_ZDS_CONN_H
#define ZE_ZDS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "list.h"
#include "loop.h"
#include "zds.h"

/* ztunnel's nack prefixes; the text is "<prefix> : <reason>" */
#define ZDS_NACK_READ "failure to read message"
#define ZDS_NACK_PROCESS "failure to process message"
#define ZDS_NACK_START "failure to start proxy"

enum zds_read {
	ZDS_READ_AGAIN,		/* nothing to read yet */
	ZDS_READ_REQUEST,	/* in->req holds a request; an Add's netns fd is in->netns_fd */
	ZDS_READ_EOF,		/* end of stream (or an empty datagram: SOCK_SEQPACKET cannot tell) */
	ZDS_READ_BAD,		/* nack "failure to read message : <in->why>", then close */
	ZDS_READ_FAILED,	/* the transport failed (in->why): close */
};

/* One request as read. req's strings point into buf. */
struct zds_in {
	uint8_t buf[ZDS_MAX_MSG];
	struct zds_request req;
	int netns_fd;		/* an Add's network namespace, now the caller's; else -1 */
	size_t other_cmsgs;	/* non-SCM_RIGHTS control messages ignored (worth a warning) */
	char why[256];
};

/*
 * Reads one datagram from fd (non-blocking) and judges it as ztunnel does:
 * an Add carries exactly one fd, a network namespace; no other request
 * carries any. Every received fd is closed on every path but the Add's.
 */
enum zds_read zds_conn_read(int fd, struct zds_in *in);

/* Hello V1 (08 01) out: 0 or -errno. */
int zds_conn_send_hello(int fd);
/* An Ack: error NULL or "" for success, else the nack text (cut to what the peer can read). */
int zds_conn_send_ack(int fd, const char *error);
/* "<prefix> : <reason>" into dst. */
void zds_conn_nack_text(char *dst, size_t cap, const char *prefix, const char *reason);

/*
 * The request side (the node agent's), strict lock-step. Each wait is at most
 * timeout_ms; -ETIMEDOUT when nothing came, -EPIPE at end of stream, -EPROTO
 * when what came is not the expected message (why says what it was).
 */
int zds_conn_recv_hello(int fd, int timeout_ms, uint64_t *version, char *why, size_t cap);
/* One request; netns_fd goes with an Add (-1: none). 0 or -errno. */
int zds_conn_send_request(int fd, const struct zds_request *req, int netns_fd);
/* The Ack of the last request: 0 with text "" (success) or the nack's text. */
int zds_conn_recv_ack(int fd, int timeout_ms, char *text, size_t cap);
/*
 * istio-cni's idle probe: a read with a 10 ms deadline. 0 when the peer is
 * quiet (alive), -EPIPE at end of stream, -EPROTO when it sent something
 * unasked (consumed; the connection should be dropped).
 */
int zds_conn_probe(int fd);

/* ---- the endpoint on the loop -------------------------------------------- */

enum zds_role {
	ZDS_ZTUNNEL,	/* sends the Hello, reads requests, answers each with an Ack */
	ZDS_AGENT,	/* awaits the Hello, sends requests in lock-step, reads their Acks */
};

/* What on_message() is told. */
enum zds_msg {
	ZDS_MSG_REQUEST,	/* ztunnel: ev->in holds a request (an Add's netns fd is the callee's) */
	ZDS_MSG_BAD,		/* ztunnel: unreadable or against the fd rules (ev->in->why): nack, close */
	ZDS_MSG_HELLO,		/* agent: the Hello (ev->version); requests may go out now */
	ZDS_MSG_BAD_HELLO,	/* agent: the first message is no Hello (ev->why) */
	/* agent: ev->out answered, now the callee's; ev->error or ev->why (the next
	 * request, if any, is written when the callee returns) */
	ZDS_MSG_ACK,
	ZDS_MSG_UNASKED,	/* agent: a message while no request was in flight */
};

/* How a stream ended, for on_close(). */
enum zds_end {
	ZDS_END_EOF,		/* the peer closed (why NULL) */
	ZDS_END_READ,		/* reading failed (why) */
	ZDS_END_WRITE,		/* agent: a request could not be written (why) */
};

struct zds_out;

struct zds_event {
	struct zds_in *in;	/* REQUEST, BAD */
	uint64_t version;	/* HELLO */
	struct zds_out *out;	/* ACK: the request it answers, out of the queue */
	const char *error;	/* ACK: "" for success, else the nack's text */
	const char *why;	/* BAD_HELLO; ACK: not a valid Ack (error is then "") */
};

struct zds_conn;
struct zds_conn_ops {
	void (*on_message)(struct zds_conn *c, enum zds_msg type, const struct zds_event *ev);
	/* The stream is over: the callee closes c (zds_conn_close) and frees it after the turn. */
	void (*on_close)(struct zds_conn *c, enum zds_end how, const char *why);
};

/*
 * One request the agent's side queues: encoded once into a buffer of its own
 * size (a 4,000-pod snapshot is 4,000 of these at once); buf and fd (an
 * Add's netns) owned until released.
 */
struct zds_out {
	struct list_node node;
	enum zds_req_type type;
	uint8_t *buf;
	size_t len;
	int fd;
};

/*
 * Embedded in the owner's object (container_of gets it back). The owner may
 * read the fields; it changes them only through the functions below.
 */
struct zds_conn {
	struct loop_src ev;	/* the socket; fd -1 once closed */
	struct loop *loop;
	uint32_t events;	/* what the loop watches for (changed only when it must) */
	enum zds_role role;
	const struct zds_conn_ops *ops;
	void *ctx;		/* the owner's */
	/* the agent's side: lock-step and its deadline */
	long timeout_ms;	/* for the Hello, a write and each Ack */
	struct timespec deadline;	/* monotonic; 0 = none */
	bool hello_seen;
	bool sent;		/* the head of queue was written and awaits its Ack */
	bool writing;		/* the head waits for room in the socket */
	struct list_node queue;	/* struct zds_out */
};

/*
 * Takes fd (non-blocking) and watches it on l. The agent's side starts its
 * Hello deadline (timeout_ms; ztunnel's side passes 0). 0 or -errno; on
 * failure fd is still c's: zds_conn_close() closes it.
 */
int zds_conn_start(struct zds_conn *c, struct loop *l, int fd, enum zds_role role, long timeout_ms,
		   const struct zds_conn_ops *ops, void *ctx);
/* What the loop calls when the socket is ready (tests drive it directly too). */
void zds_conn_dispatch(struct zds_conn *c, uint32_t events);
/* Closes the socket (a later event of the batch is skipped); queued requests stay for zds_conn_take(). */
void zds_conn_close(struct zds_conn *c);
static inline bool zds_conn_is_open(const struct zds_conn *c)
{
	return c->ev.fd >= 0;
}
/* ztunnel's side: the Hello, an Ack (error NULL or "": success). 0 or -errno. */
int zds_conn_hello(struct zds_conn *c);
int zds_conn_ack(struct zds_conn *c, const char *error);

/*
 * The agent's side. A request for req (fd: an Add's netns, now o's; -1 none):
 * 0 or -errno (then too o must be released).
 */
int zds_out_init(struct zds_out *o, const struct zds_request *req, int fd);
void zds_out_release(struct zds_out *o);	/* frees its buffer, closes its fd */
/* Queues o last; it goes out when every request before it is acked. */
void zds_conn_send(struct zds_conn *c, struct zds_out *o);
/* Moves the requests of outs ahead of everything queued (a snapshot), then writes the head. */
void zds_conn_send_first(struct zds_conn *c, struct list_node *outs);
/* Writes the head of the queue if the Hello came and nothing is in flight. */
void zds_conn_pump(struct zds_conn *c);
/* Takes the head of the queue (in flight or not) out of the lock-step: the caller's; NULL when empty. */
struct zds_out *zds_conn_take(struct zds_conn *c);
/* The deadline: milliseconds until it (-1: none), passed at now (then cleared). */
long zds_conn_next_ms(const struct zds_conn *c);
bool zds_conn_expired(struct zds_conn *c, const struct timespec *now);

#endif
