/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relay_pool.h: what other modules (hbone/) may put on the relay threads'
 * loops, and nothing of the relays themselves. A home is one loop that
 * relays: the main loop's, or a relay thread's (relay_pool.c). Work is
 * posted to a home as a call that runs on its thread; what a module keeps
 * there is its guest, told when a pod goes and when the thread ends.
 * Interface for: hbone/home.c; implemented by relay_pool.c.
 */
#ifndef ZT_RELAY_POOL_H
#define ZT_RELAY_POOL_H

struct daemon;
struct loop;
struct pod;
struct relay_home;

/* Posted work: fn runs on the home's thread, in the order posted. */
struct home_call {
	void (*fn)(struct home_call *call, struct relay_home *h);
	struct home_call *msg_next;
};

/* A module's state on a relay thread's loop; ctx NULL until it puts something there. */
struct home_guest {
	void *ctx;
	/* on the home's thread: end what belongs to pod p (a Del waits for it) */
	void (*close_pod)(void *ctx, const struct pod *p, const char *why);
	/* on the home's thread as it ends (every pod gone): close and free the rest */
	void (*stop)(void *ctx);
};

/* The home a new connection goes to: the least loaded; NULL without the pool. */
struct relay_home *relay_pool_pick(struct daemon *d);
/* True when h runs on the main loop (no relay thread). */
int relay_home_is_main(const struct daemon *d, const struct relay_home *h);
struct loop *relay_home_loop(struct relay_home *h);
/* The guest slot of a relay thread's home (one module uses it: hbone). */
struct home_guest *relay_home_guest(struct relay_home *h);
/* Counts a connection on h for relay_pool_pick (+1 handed, -1 ended); any thread. */
void relay_home_load(struct relay_home *h, int delta);
/* Runs call on h's thread (at once on the main home). */
void relay_pool_call(struct daemon *d, struct relay_home *h, struct home_call *call);
/* Every relay thread ends what it holds of pod p and acks; returns once all have. Main thread. */
void relay_pool_sync_pod(struct daemon *d, struct pod *p, const char *why);

#endif
