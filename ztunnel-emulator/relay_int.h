/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relay_int.h: what the relay's three files share, and nothing else includes.
 * relay.c is the main thread's side (caps, accept queue, upstream connect in
 * the pod's netns, counters, config_dump); relay_io.c moves the bytes of the
 * relays one loop owns (a "home"); relay_pool.c runs homes on threads and
 * carries relays and their ends between them and the main thread.
 *
 * Ownership: a relay is the main thread's until it is handed to a home with
 * relay_home_adopt() (on that home's thread); from then on only that thread
 * touches its sockets, pipes and state, and the main thread reads only what
 * never changes (src, dst, l, pod) for config_dump. When the relay ends, its
 * home takes it off its loop and hands it back (relay_retire on the
 * main thread, which logs it, closes its fds and then counts it: the fds are
 * gone only once the caps see it gone, as with one loop). The pod outlives its
 * relays: a Del waits (relay_pool_close_pod) until all are back.
 */
#ifndef ZT_RELAY_INT_H
#define ZT_RELAY_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "daemon.h"
#include "loop.h"
#include "relay_pool.h"

struct relay_end {
	struct loop_src ev;
	struct relay *r;
	uint32_t events;	/* what epoll watches now */
};

/* One direction: from one socket, through a pipe, to the other. */
struct half {
	int pipe[2];		/* -1 until the direction has data */
	size_t size;		/* the pipe's capacity: one splice's worth */
	size_t charged;		/* of the pod's POD_PIPE_BUDGET */
	size_t pending;		/* bytes in the pipe */
	bool eof, shut, grow_tried;
	uint64_t bytes;
};

/* Queued: accepted, not started. Connecting: upstream connect in flight. Open: relaying. */
enum relay_state { RS_QUEUED, RS_CONNECTING, RS_OPEN };

struct relay_home;

struct relay {
	struct relay_end client, upstream;
	struct half up, down;	/* client -> upstream, upstream -> client */
	enum relay_state state;
	bool failed;		/* ended with an error (for the listener's counters) */
	bool rst;		/* handed back: close with a reset */
	int closing[2];		/* handed back: the client and upstream sockets, out of the loop */
	char error[128];	/* handed back: why it ended ("" = completed) */
	struct listener *l;
	struct pod *pod;
	struct relay_home *home;	/* NULL while queued on the main thread */
	struct relay *prev, *next;	/* the pod's relays (main thread) */
	struct relay *qprev, *qnext;	/* the queue of its state, oldest first */
	struct relay *msg_next;	/* in a thread's inbox (relay_pool.c) */
	struct loop_deferred dead;	/* ended: handed back at the end of the loop turn */
	struct sockaddr_storage src, dst;
	char id[33];		/* 1.21's outbound{id=..} span */
	struct tcp_series *series;	/* its istio_tcp_* counters (main thread), or NULL */
	struct timespec start;
	struct timespec active;	/* last traffic; connect started, while connecting */
};

/* A loop that relays: the main loop, or a pool thread's. */
struct relay_home {
	struct loop *loop;
	struct relay_queue connecting, open;	/* oldest first, for the timeouts */
	struct loop_timer timer;
	const struct config *cfg;	/* the timeouts (read-only once running) */
	size_t count;		/* relays owned; atomic (the main thread picks the least loaded) */
	/* the relay ended (off the home's queues): close it and give it back to the main thread */
	void (*ended)(struct relay_home *h, struct relay *r, const char *error, bool rst);
	void *ctx;
	struct home_guest guest;	/* another module's state on this loop (relay_pool.h) */
};

/* relay_io.c, on the home's thread */
void relay_home_init(struct relay_home *h, struct loop *loop, const struct config *cfg,
		     void (*ended)(struct relay_home *, struct relay *, const char *, bool), void *ctx);
/* Takes a relay whose upstream connect is in flight onto the home's loop. */
void relay_home_adopt(struct relay_home *h, struct relay *r);
/* Ends a relay of this home: off its queues, then h->ended. */
void relay_finish(struct relay_home *h, struct relay *r, const char *error, bool rst);
/* Ends the home's relays of pod p (a Del, a drain's deadline). */
void relay_home_close_pod(struct relay_home *h, const struct pod *p, const char *why);
/* On the main thread: the access log line (its start, or its end) and the fds closed. */
void relay_log_access(const struct daemon *d, const struct relay *r, const char *error, bool start);
void relay_close_fds(const struct daemon *d, struct relay *r, const char *error, bool rst);
void relay_reset_fd(int fd);	/* SO_LINGER 0: the peer gets a RST */
void relay_q_append(struct relay_queue *q, struct relay *r);
void relay_q_remove(struct relay_queue *q, struct relay *r);

/* relay.c, on the main thread: counters, the pod's list; the relay is freed after. */
void relay_retire(struct daemon *d, struct relay *r);

/* relay_pool.c */
struct relay_pool;
/*
 * The main home, and --relay-threads loops with their wake-up fds, none
 * started yet (their fds count in the open-file figures); exits if even the
 * main home cannot be made: then -errno.
 */
int relay_pool_setup(struct daemon *d);
/* Hands r (connect in flight) to h, on h's thread. */
void relay_pool_hand(struct daemon *d, struct relay_home *h, struct relay *r);
/* Ends every relay of p wherever it runs; returns once all are retired. */
void relay_pool_close_pod(struct daemon *d, struct pod *p, const char *why);

#endif
