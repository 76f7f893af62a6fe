/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The objects HBONE's files share: the module state, a mutual-TLS HTTP/2
 * connection (conn.c) and a CONNECT stream tunnelled to a TCP socket
 * (stream.c); inbound.c decides and opens each stream's upstream. Only
 * hbone/ includes this. Interface for: conn.c, stream.c, inbound.c, hbone.c.
 */
#ifndef ZT_HBONE_INT_H
#define ZT_HBONE_INT_H

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "ca.h"
#include "list.h"
#include "loop.h"
#include "tls.h"

struct daemon;
struct pod;

#define T_HBONE_IN "ztunnel::proxy::inbound"

/* hbone.md "HTTP/2 settings" */
#define H2_STREAM_WINDOW (4 * 1024 * 1024)
#define H2_CONN_WINDOW (16 * 1024 * 1024)
#define H2_MAX_FRAME (1024 * 1024)
#define H2_SERVER_MAX_STREAMS 200
#define H2_SERVER_MAX_HEADERS 65536
#define H2_PING_EVERY_MS 10000
#define H2_PONG_WITHIN_MS 20000

struct hbone {
	struct daemon *d;
	struct ca ca;
	SSL_CTX *server;
	struct list_node conns;	/* every HBONE connection */
	struct loop_timer timer;	/* PINGs, dead peers, upstream connect timeouts */
};

enum hconn_state { HC_TLS, HC_H2, HC_CLOSED };

struct hconn {
	struct loop_src ev;
	struct hbone *hb;
	struct pod *pod;
	enum hconn_state state;
	SSL *ssl;
	struct tls_peer peer;
	nghttp2_session *h2;
	const uint8_t *out;	/* from nghttp2_session_mem_send, not yet written */
	size_t outlen;
	uint32_t events;
	struct sockaddr_storage local, remote;
	struct timespec start, next_ping, pong_due;	/* monotonic */
	bool ping_out;
	struct list_node link;	/* in hb->conns */
	struct list_node streams;
	struct loop_deferred dead;
};

#define STREAM_BUF 16384

struct hstream {
	struct loop_src ev;	/* the TCP side; -1 until connected */
	struct hconn *c;
	int32_t id;
	char method[16];
	char authority[272];
	bool bad_header;	/* too long, or repeated */
	bool connecting, responded;
	uint8_t *wbuf;		/* peer -> TCP, not yet written */
	size_t wlen, wcap;
	bool peer_eof, tcp_shut;
	uint8_t rbuf[STREAM_BUF];	/* TCP -> peer */
	size_t rlen, roff;
	bool tcp_eof, deferred;
	uint32_t events;
	uint64_t sent, recv;	/* to the app, from the app */
	struct sockaddr_storage target;
	struct timespec start, connect_due;
	const char *error;	/* why it ended early, for the access log */
	int status;		/* the response's */
	struct list_node link;	/* in c->streams */
	struct loop_deferred dead;
};

/* conn.c */
void hconn_start_server(struct hbone *hb, struct pod *p, int fd);
/* Writes what nghttp2 has queued, watches what is needed, closes a finished connection. */
void hconn_flush(struct hconn *c);
void hconn_close(struct hconn *c, const char *why);
/* PINGs, dead peers, slow handshakes and connects: ms to the next (-1 none); run does what is due. */
long hconn_timers(struct hbone *hb, bool run);

/* stream.c */
struct hstream *hstream_new(struct hconn *c, int32_t id);
/* The upstream socket (s->ev.fd) connects: watched until it has. 0 or -errno. */
int hstream_watch_connect(struct hstream *s);
/* The upstream connected: 200 and relaying. */
int hstream_open(struct hstream *s);
/* Relays what the TCP side and nghttp2 hold; RST_STREAM on a socket error. */
void hstream_pump(struct hstream *s);
/* Data from the peer for the TCP side: 0 or an nghttp2 error. */
int hstream_data(struct hstream *s, const uint8_t *data, size_t len);
/* Ends the stream's TCP side and frees it at the end of the turn (stream closed). */
void hstream_free(struct hstream *s);
/* A response without a body, the stream then reset (400, 503). */
void hstream_refuse(struct hstream *s, int status, const char *why);

/* inbound.c */
/* A CONNECT's headers are complete: ztunnel's checks, then the upstream connect. */
void inbound_request(struct hstream *s);
void inbound_log(const struct hstream *s);
void inbound_connected(struct hstream *s);

#endif
