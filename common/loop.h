/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop.c: the event loop — one epoll fd, the sources watched on it (a
 * callback each), the timers (per-turn hooks that say when they are due and
 * run what is), and deferred frees. Knows nothing of what a source is;
 * never prints, never exits. Interface: this header.
 *
 * One turn, in this order: wait (until the nearest timer), dispatch each
 * ready source, run the timers, free what was deferred. A source closed
 * during the turn sets its fd to -1 and a later event for it is skipped;
 * its memory must wait for the deferred phase.
 */
#ifndef ZE_LOOP_H
#define ZE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "list.h"

struct loop_src;
typedef void (*loop_cb)(struct loop_src *src, uint32_t events);

/* Embedded in the owner's object; container_of() gets the owner back. */
struct loop_src {
	int fd;			/* -1 once closed */
	loop_cb cb;
	void *ctx;		/* the owner's context */
};

/* A timer source: next_ms() says when it is next due (-1: nothing pending), run() does what is due. */
struct loop_timer {
	long (*next_ms)(void *ctx);
	void (*run)(void *ctx);
	void *ctx;
	struct list_node node;
};

/* A free postponed to the end of the turn, when no event can name the object any more. */
struct loop_deferred {
	void (*free)(struct loop_deferred *);
	struct list_node node;
};

struct loop {
	int epfd;
	struct list_node timers, deferred;
	bool stop;
	int failed;		/* loop_fail()'s exit status; 0: none */
};

int loop_init(struct loop *l);	/* 0 or -errno */
void loop_close(struct loop *l);	/* the epoll fd; sources are their owners' to close */
/* Sets src's callback and context and watches src->fd for events: 0 or -errno. */
int loop_watch(struct loop *l, struct loop_src *src, uint32_t events, loop_cb cb, void *ctx);
int loop_modify(struct loop *l, struct loop_src *src, uint32_t events);	/* 0 or -errno */
/* Stops watching src->fd, which stays open (closing it is enough otherwise): 0 or -errno. */
int loop_unwatch(struct loop *l, struct loop_src *src);
/* Timers run each turn in the order they were added. */
void loop_add_timer(struct loop *l, struct loop_timer *t, long (*next_ms)(void *),
		    void (*run)(void *), void *ctx);
void loop_defer_free(struct loop *l, struct loop_deferred *d, void (*fn)(struct loop_deferred *));
void loop_run_deferred(struct loop *l);
bool loop_deferred_empty(const struct loop *l);
/* Ends the current turn after the running callback: no further dispatch, timers or frees. */
void loop_stop(struct loop *l);
/*
 * A fatal error (the daemon cannot carry on safely, e.g. it cannot get back
 * to its own netns): the loop stops after the running callback or timer,
 * with no further dispatch, timer or free, and main exits with status.
 * The error travels up as a value: nothing below main exits.
 */
void loop_fail(struct loop *l, int status);
/* One turn: 0, 1 when loop_stop() or loop_fail() was called, or -errno when waiting failed (not EINTR). */
int loop_turn(struct loop *l);

#endif
