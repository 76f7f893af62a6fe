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
#include "relay_pool.h"
#include "clock.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "pods.h"
#include "tls.h"

struct daemon;
struct pod;
struct tcp_series;

#define T_HBONE_IN "ztunnel::proxy::inbound"

/* hbone.md "HTTP/2 settings" */
#define H2_STREAM_WINDOW (4 * 1024 * 1024)
#define H2_CONN_WINDOW (16 * 1024 * 1024)
#define H2_MAX_FRAME (1024 * 1024)
#define H2_SERVER_MAX_STREAMS 200
#define H2_SERVER_MAX_HEADERS 65536
#define H2_CLIENT_MAX_HEADERS 16384
#define POOL_MAX_STREAMS 100
#define POOL_IDLE_MS (5 * 60 * 1000)	/* POOL_UNUSED_RELEASE_TIMEOUT */
#define H2_PING_EVERY_MS 10000
#define H2_PONG_WITHIN_MS 20000
#define TLS_HANDSHAKE_MS 10000	/* a handshake not done by then is dropped */

/* certs.c: the certificates by identity (struct hcert is certs.c's) */
struct hcert;
struct hcerts {
	struct hcert **b;	/* NULL when empty */
	size_t nb, n;
};

/*
 * The HBONE connections one loop owns and their deadlines: the main loop's
 * (every client connection; the server ones without relay threads), or a
 * relay thread's (the server connections handed to it, home.c). Only that
 * loop's thread touches a home and its connections.
 */
struct hhome {
	struct hbone *hb;
	struct loop *loop;
	struct list_node conns;	/* the connections of this loop */
	struct loop_timer timer;	/* PINGs, dead peers, upstream connect timeouts */
	struct timespec timers_due;	/* keepalive.c: no deadline before this (none at all: */
	bool timers_none;		/* timers_none); a new one lowers it (hconn_deadline) */
	struct log_limit fail_limit;	/* failed handshakes' access lines */
};

struct hbone {
	struct daemon *d;
	size_t nstreams;	/* streams with a TCP side, counted against --max-relays; atomic */
	struct ca ca;
	SSL_CTX *server, *client;
	struct hhome main;	/* the main loop's connections (its timer also issues certificates) */
	struct list_node due;		/* struct hbone_pod: certificates to issue this turn */
	struct hcerts certs;		/* one per identity, shared by its pods */
	struct tcp_series *series;	/* metrics.c */
};

enum hconn_state { HC_TLS, HC_H2, HC_CLOSED };

/*
 * Whom an outbound connection must reach: a pod of this daemon, or a
 * --registry workload with protocol HBONE. Copied at dial time (a SIGHUP
 * frees the registry it came from); the pool is keyed on it.
 */
struct hdest {
	struct pod *pod;	/* an enrolled pod of this daemon, or NULL (a registry workload) */
	char identity[SPIFFE_MAX];	/* the SPIFFE URI the server must present */
	char name[256], namespace_[256];	/* the workload's, for logs and metrics */
};

#define HB_OUT_FIRST 16384	/* c->out starts here... */
#define HB_OUT_BUF (256 * 1024)	/* ...and grows to this: TLS writes are coalesced up to it */

struct hconn {
	struct loop_src ev;
	struct hbone *hb;
	struct hhome *home;	/* the loop it runs on */
	struct relay_home *away;	/* server: the relay thread it was handed to, or NULL */
	struct home_call call;	/* the hand-over (home.c) */
	struct loop_deferred move;	/* ...made at the end of the main loop's turn */
	bool moving;		/* the hand-over was asked for (once: it moves at most once) */
	uint64_t tls_bytes;	/* server: bytes through TLS, both ways (HOME_AFTER_BYTES) */
	struct pod *pod;	/* the server's pod, or the client's source pod */
	struct hdest dst;	/* client: the destination */
	const char *fail_flag;	/* response_flags for its streams if it fails (client) */
	bool client;		/* outbound: we dialled the peer's 15008 */
	bool goaway;		/* no new streams */
	size_t nstreams;
	struct timespec idle_since;	/* client: without streams since */
	enum hconn_state state;
	SSL *ssl;
	BIO *net;		/* TLS's output, sent from here (outbio.h) */
	struct tls_peer peer;
	nghttp2_session *h2;
	uint8_t *out;		/* frames from nghttp2, written as one TLS write */
	size_t outlen, outoff, outcap;
	uint32_t events;
	struct sockaddr_storage local, remote;
	struct timespec start, next_ping, pong_due;	/* monotonic */
	bool ping_out;
	struct list_node link;	/* in hb->conns */
	struct list_node streams;
	struct loop_deferred dead;
};

#define STREAM_BUF_MIN 16384	/* a stream's read buffer starts here... */
#define STREAM_BUF_MAX (256 * 1024)	/* ...and doubles while reads fill it */

struct hstream {
	struct loop_src ev;	/* the TCP side; -1 until connected */
	struct hconn *c;
	int32_t id;
	char method[16];
	char authority[272];
	bool bad_header;	/* too long, or repeated */
	bool connecting, responded;
	uint8_t *wbuf;		/* peer -> TCP, not yet written */
	size_t wlen, wcap, woff;	/* wlen bytes from wbuf + woff */
	bool peer_eof, tcp_shut;
	bool h2_closed;		/* nghttp2 is done with it; wbuf still to write */
	uint8_t *rbuf;		/* TCP -> peer */
	size_t rlen, roff, rcap;
	bool rfull;		/* the last read filled rbuf */
	bool tcp_eof, deferred;
	uint32_t events;
	uint64_t sent, recv;	/* to the app, from the app */
	struct sockaddr_storage target;	/* the CONNECT's authority */
	struct sockaddr_storage client;	/* outbound: who connected to 15001 */
	struct timespec start, connect_due;
	const char *error;	/* why it ended early, for the access log */
	char id_text[33];	/* 1.21's outbound{id=..} span */
	const char *flag;	/* response_flags of a failure (istio_tcp_connections_failed) */
	bool counted;		/* held a place under the relay caps */
	int status;		/* the response's */
	struct tcp_series *series;	/* its metrics, once opened */
	struct list_node link;	/* in c->streams */
	struct loop_deferred dead;
};

/* What HBONE keeps per pod (struct pod's hbone). */
#define POD_MAX_ADDRS 8
struct hbone_pod {
	struct ca_leaf *leaf;	/* cert's; NULL: not issued yet (on hbone->due), or failed */
	struct hcert *cert;	/* its identity's, held; NULL: none (not looked up yet, or failed) */
	struct pod *pod;
	struct list_node due;	/* on hbone->due until issued; next NULL when off it */
	struct sockaddr_storage addrs[POD_MAX_ADDRS];	/* its interfaces' addresses */
	size_t naddrs;
	struct timespec fetched;	/* monotonic; addrs are re-read when stale */
	size_t nstreams;	/* its streams, counted against --max-relays-per-pod; atomic */
	size_t away;	/* its server connections on relay threads; atomic (a Del waits for them) */
};

static inline const struct ca_leaf *pod_leaf(const struct pod *p)
{
	return p->hbone ? p->hbone->leaf : NULL;
}

static inline const char *pod_identity(const struct pod *p)
{
	return p->hbone && p->hbone->leaf ? p->hbone->leaf->identity : "";
}

/*
 * certs.c. hcert_get: identity's entry, one holder more (made without a
 * leaf if new); NULL when out of memory. hcert_put: one holder less, the
 * last frees it with its leaf (NULL: nothing). hcert_issue: the entry's
 * leaf, issued now if it has none; NULL with why filled.
 */
struct hcert *hcert_get(struct hcerts *t, const char *identity);
void hcert_put(struct hcert *c);
struct ca_leaf *hcert_issue(const struct ca *ca, struct hcert *c, char *why, size_t cap);

/* conn.c */
/* A server connection on fd, accepted on p's 15008, started on the main loop. */
void hconn_start_server(struct hbone *hb, struct pod *p, int fd);
/* Takes c and its streams off their loop (c->home's), for a hand-over. */
void hconn_unwatch(struct hconn *c);
/* A server connection taken off the main loop goes on on home's (home's thread). */
void hconn_resume(struct hhome *home, struct hconn *c);
/* A client connection on fd (connecting to *to from src's netns); NULL on failure (fd closed). */
struct hconn *hconn_start_client(struct hbone *hb, struct pod *src, const struct hdest *dst,
				 const struct sockaddr_storage *to, int fd);
/* Writes what nghttp2 has queued, watches what is needed, closes a finished connection. */
void hconn_flush(struct hconn *c);
void hconn_close(struct hconn *c, const char *why);
/* PINGs, dead peers, slow handshakes and connects: ms to the next (-1 none); run does what is due. */
long hconn_timers(struct hhome *h, bool run);

/* home.c */
void hhome_init(struct hhome *h, struct hbone *hb, struct loop *loop);
/* Closes the home's connections (of pod p; all with p NULL). */
void hhome_close(struct hhome *h, const struct pod *p, const char *why);
/*
 * A server connection on the main loop that has carried this much goes to
 * the least loaded relay thread at the end of the turn (hhome_hand_over):
 * short ones stay where their client end is.
 */
#define HOME_AFTER_BYTES (256 * 1024)
void hhome_hand_over(struct hconn *c);
/* The server connection c leaves the thread it was handed to (the last it touches of its pod). */
void hhome_left(struct hconn *c);

/*
 * A deadline was set (a handshake, a PING, an idle pool entry, a connect):
 * the connections are walked once the earliest one is due, not at once.
 */
static inline void hconn_deadline(struct hhome *h, const struct timespec *when)
{
	if (h->timers_none || expired(when, &h->timers_due)) {
		h->timers_due = *when;
		h->timers_none = false;
	}
}

/* stream.c */
struct hstream *hstream_new(struct hconn *c, int32_t id);
/* The upstream socket (s->ev.fd) connects: watched until it has. 0 or -errno. */
int hstream_watch_connect(struct hstream *s);
/* The TCP side watched on c's new home as it was on the old one; -1: it failed, the stream reset. */
int hstream_rewatch(struct hstream *s);
/* Takes a place under the relay caps (relay_over_cap): NULL, or why not (in why). */
const char *hstream_hold(struct hstream *s, char *why, size_t cap);
/* n bytes of rbuf went out in a DATA frame (conn.c's send_data callback). */
void hstream_sent(struct hstream *s, size_t n);
/* Puts the (connected) TCP side on the loop, no events yet. 0 or -errno. */
int hstream_watch(struct hstream *s);
/* Watches what the TCP side needs now. */
void hstream_interest(struct hstream *s);
/* The data source of a stream's DATA frames (the TCP side's bytes). */
ssize_t hstream_read_cb(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
			uint32_t *flags, nghttp2_data_source *src, void *ud);
/* The upstream connected: 200 and relaying. */
int hstream_open(struct hstream *s);
/* Relays what the TCP side and nghttp2 hold; RST_STREAM on a socket error. */
void hstream_pump(struct hstream *s);
/* Data from the peer for the TCP side: 0 or an nghttp2 error. */
int hstream_data(struct hstream *s, const uint8_t *data, size_t len);
/* Ends the stream's TCP side and frees it at the end of the turn (stream closed). */
void hstream_free(struct hstream *s);
/* 1.21's line as a stream starts, once its target is known (access.c). */
void hstream_log_start(const struct hstream *s);
/* A response without a body, the stream then reset (400, 503). */
void hstream_refuse(struct hstream *s, int status, const char *why);

/* inbound.c */
/* A CONNECT's headers are complete: ztunnel's checks, then the upstream connect. */
void inbound_request(struct hstream *s);
void inbound_log(const struct hstream *s);
void inbound_connected(struct hstream *s);

/* metrics.c */
/* One end-to-end connection's two sides, as istio_tcp_* labels them (NULL or "": unknown). */
struct tcp_who {
	bool source;	/* reporter="source": we dialled */
	bool plain;	/* a plain TCP relay: connection_security_policy="unknown" */
	const char *src_name, *src_ns, *src_id, *dst_name, *dst_ns, *dst_id;
};
/* A connection that failed before (or instead of) opening: istio_tcp_connections_failed. */
void metrics_failed(struct hbone *hb, const struct tcp_who *w, const char *flags);
/* A stream got its 200: counted opened in its label set. */
void metrics_stream_open(struct hstream *s);
/* A stream ends: counted closed with its bytes; one never opened: failed if it has a flag. */
void metrics_stream_end(const struct hstream *s);
void metrics_free(struct hbone *hb);

/* outbound.c */
/* A client connection finished its handshake: its queued CONNECTs go out. */
void outbound_ready(struct hconn *c);
/* The response to our CONNECT (s->status): 200 relays, anything else resets the client. */
void outbound_response(struct hstream *s);
void outbound_log(const struct hstream *s);

#endif
