/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The relay threads (--relay-threads): each runs a loop of its own (loop.c)
 * with the relays handed to it, so the bytes of many connections, and the
 * two hops of a pod-to-pod connection, move on several CPUs. Accepting, the
 * caps and counters, the upstream connect (a netns visit) and every Del stay
 * on the main thread; a thread never touches struct daemon or a pod's list.
 * With 0 threads the relays run on the main loop as before. Interface:
 * relay_int.h (to relay.c), daemon.h (start and stop, to main and teardown).
 *
 * Messages go through an inbox per thread (a mutex, a list, an eventfd that
 * wakes the reader's loop): to a thread, relays to adopt, a pod whose relays
 * must end, stop; to the main thread, relays that ended (counted and freed
 * there) and "that pod's relays are ended" acks. A Del waits for every
 * thread's ack, so the pod is never freed under a thread that uses it. A
 * relay posts its end only in its loop's deferred phase, when no event of
 * that turn can still name it.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "relay_int.h"

#define MAX_RELAY_THREADS 256

struct inbox {
	pthread_mutex_t mu;
	int efd;		/* readable while something was posted */
	struct relay *head, *tail;	/* to adopt (to a thread), ended (to main) */
	struct home_call *calls, *calls_tail;	/* to a thread: work to run there */
	const struct pod *close_pod;	/* to a thread: end this pod's relays */
	char close_why[128];
	bool close_req, stop;
	unsigned acks;		/* to main: close requests done */
};

struct relay_worker {
	struct relay_home home;
	struct loop loop;
	struct inbox in;
	struct loop_src wake;
	struct loop_deferred ack;	/* the close ack, after the turn's ended relays */
	struct relay_pool *pool;
	pthread_t thread;
	bool running;
};

struct relay_pool {
	struct daemon *d;
	struct relay_home main;	/* relays on the main loop (no thread running) */
	struct inbox in;	/* to the main thread */
	struct loop_src wake;
	unsigned n, running, next;
	struct relay_worker w[];
};

/* wake: the inbox gets its eventfd (an inbox nothing is posted to needs none) */
static int inbox_init(struct inbox *in, bool wake)
{
	memset(in, 0, sizeof(*in));
	pthread_mutex_init(&in->mu, NULL);
	in->efd = wake ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : -1;
	return wake && in->efd < 0 ? -errno : 0;
}

static void inbox_wake(struct inbox *in)
{
	uint64_t one = 1;

	if (write(in->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so it is readable already */
	}
}

/*
 * Takes the posted relays and returns with the inbox locked: the caller
 * reads the rest of the message and unlocks.
 */
static struct relay *inbox_lock_take(struct inbox *in)
{
	struct relay *list;
	uint64_t v;

	/* read the wake-up first: whatever is posted after the take wakes again */
	if (read(in->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: posted without a wake-up of its own, taken below */
	}
	pthread_mutex_lock(&in->mu);
	list = in->head;
	in->head = in->tail = NULL;
	return list;
}

static void inbox_push(struct inbox *in, struct relay *r)
{
	bool was_empty;

	pthread_mutex_lock(&in->mu);
	r->msg_next = NULL;
	if (in->tail)
		in->tail->msg_next = r;
	else
		in->head = r;
	in->tail = r;
	was_empty = in->head == r;
	pthread_mutex_unlock(&in->mu);
	if (was_empty)
		inbox_wake(in);
}

/* ---- on a relay thread ------------------------------------------------------------ */

static void post_ended(struct loop_deferred *dd)
{
	struct relay *r = container_of(dd, struct relay, dead);
	struct relay_worker *w = container_of(r->home, struct relay_worker, home);

	inbox_push(&w->pool->in, r);	/* r is the main thread's from here */
}

/*
 * Off this loop; its sockets stay open until the main thread has it (closing
 * them is what a client or a test sees, so it comes with the counting).
 */
static void worker_ended(struct relay_home *h, struct relay *r, const char *error, bool rst)
{
	struct relay_worker *w = container_of(h, struct relay_worker, home);
	struct relay_end *ends[2] = { &r->client, &r->upstream };
	size_t i;

	for (i = 0; i < 2; i++) {
		r->closing[i] = ends[i]->ev.fd;
		if (ends[i]->ev.fd >= 0)
			loop_unwatch(&w->loop, &ends[i]->ev);
		ends[i]->ev.fd = -1;	/* later events of this turn are skipped */
	}
	snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
	r->failed = error != NULL;
	r->rst = rst;
	loop_defer_free(&w->loop, &r->dead, post_ended);
}

static void post_ack(struct loop_deferred *dd)
{
	struct relay_worker *w = container_of(dd, struct relay_worker, ack);
	struct inbox *in = &w->pool->in;

	pthread_mutex_lock(&in->mu);
	in->acks++;
	pthread_mutex_unlock(&in->mu);
	inbox_wake(in);
}

static void worker_wake(struct loop_src *src, uint32_t events)
{
	struct relay_worker *w = src->ctx;
	const struct pod *close_pod = NULL;
	char why[sizeof(w->in.close_why)];
	struct home_call *call, *cnext;
	struct relay *r, *next;
	bool stop;

	(void)events;
	r = inbox_lock_take(&w->in);
	call = w->in.calls;
	w->in.calls = w->in.calls_tail = NULL;
	if (w->in.close_req) {
		close_pod = w->in.close_pod;
		memcpy(why, w->in.close_why, sizeof(why));
		w->in.close_req = false;
	}
	stop = w->in.stop;
	pthread_mutex_unlock(&w->in.mu);
	/* in the order posted: a relay handed out before a Del is adopted, then ended */
	for (; r; r = next) {
		next = r->msg_next;
		relay_home_adopt(&w->home, r);
	}
	for (; call; call = cnext) {
		cnext = call->msg_next;
		call->fn(call, &w->home);
	}
	if (close_pod) {
		relay_home_close_pod(&w->home, close_pod, why);
		if (w->home.guest.close_pod)
			w->home.guest.close_pod(w->home.guest.ctx, close_pod, why);
		loop_defer_free(&w->loop, &w->ack, post_ack);
	}
	if (stop)
		loop_stop(&w->loop);
}

static void *worker_main(void *arg)
{
	struct relay_worker *w = arg;
	int ret;

	while ((ret = loop_turn(&w->loop)) == 0)
		;
	if (ret < 0)
		log_line(LOG_ERROR, T_EMU, "relay thread: epoll_wait: %s", strerror(-ret));
	if (w->home.guest.stop)
		w->home.guest.stop(w->home.guest.ctx);
	loop_run_deferred(&w->loop);
	return NULL;
}

/* ---- on the main thread ------------------------------------------------------------ */

static void free_relay(struct loop_deferred *dd)
{
	free(container_of(dd, struct relay, dead));
}

/* Main loop relays: counted at once, freed after the turn's events. */
static void main_ended(struct relay_home *h, struct relay *r, const char *error, bool rst)
{
	struct daemon *d = h->ctx;

	relay_close_fds(d, r, error, rst);
	relay_retire(d, r);
	loop_defer_free(&d->loop, &r->dead, free_relay);
}

/* The relays the threads handed back, retired and freed; returns the acks. */
static unsigned main_drain(struct relay_pool *pool)
{
	struct relay *r, *next;
	unsigned acks;

	r = inbox_lock_take(&pool->in);
	acks = pool->in.acks;
	pool->in.acks = 0;
	pthread_mutex_unlock(&pool->in.mu);
	for (; r; r = next) {
		next = r->msg_next;
		r->client.ev.fd = r->closing[0];
		r->upstream.ev.fd = r->closing[1];
		relay_close_fds(pool->d, r, r->failed ? r->error : NULL, r->rst);
		relay_retire(pool->d, r);
		free(r);
	}
	return acks;
}

static void main_wake(struct loop_src *src, uint32_t events)
{
	(void)events;
	main_drain(src->ctx);
}

struct relay_home *relay_pool_pick(struct daemon *d)
{
	struct relay_pool *pool = d->relay_pool;
	struct relay_home *best = NULL;
	size_t load, least = SIZE_MAX;
	unsigned i, k;

	if (!pool)
		return NULL;
	if (!pool->running)
		return &pool->main;
	/* the least loaded, ties in turn: the two hops of a pod-to-pod connection part */
	for (i = 0; i < pool->running; i++) {
		k = (pool->next + i) % pool->running;
		load = __atomic_load_n(&pool->w[k].home.count, __ATOMIC_RELAXED);
		if (load < least) {
			least = load;
			best = &pool->w[k].home;
		}
	}
	pool->next = (pool->next + 1) % pool->running;
	return best;
}

void relay_pool_hand(struct daemon *d, struct relay_home *h, struct relay *r)
{
	struct relay_pool *pool = d->relay_pool;

	r->home = h;
	__atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
	if (h == &pool->main)
		relay_home_adopt(h, r);
	else
		inbox_push(&container_of(h, struct relay_worker, home)->in, r);
}

static void ask_close(struct relay_worker *w, const struct pod *p, const char *why)
{
	pthread_mutex_lock(&w->in.mu);
	w->in.close_pod = p;
	snprintf(w->in.close_why, sizeof(w->in.close_why), "%s", why);
	w->in.close_req = true;
	pthread_mutex_unlock(&w->in.mu);
	inbox_wake(&w->in);
}

void relay_pool_close_pod(struct daemon *d, struct pod *p, const char *why)
{
	relay_home_close_pod(&d->relay_pool->main, p, why);
	if (p->relays)
		relay_pool_sync_pod(d, p, why);
}

void relay_pool_sync_pod(struct daemon *d, struct pod *p, const char *why)
{
	struct relay_pool *pool = d->relay_pool;
	struct pollfd pfd;
	unsigned i, acks = 0;

	for (i = 0; i < pool->running; i++)
		ask_close(&pool->w[i], p, why);
	pfd.fd = pool->in.efd;
	pfd.events = POLLIN;
	/* a thread is never blocked on this one: each answers within its current turn */
	while (pool->running) {
		acks += main_drain(pool);
		if (acks >= pool->running)
			break;
		poll(&pfd, 1, 1000);
	}
	if (p->relays) {
		/* a broken invariant, as an assert(): freeing the pod now would free it under them */
		log_line(LOG_ERROR, T_EMU, "relay threads: pod %s still has %zu relays after they were all ended",
			 p->name, p->n_relays);
		log_flush(1);
		abort();
	}
}

int relay_home_is_main(const struct daemon *d, const struct relay_home *h)
{
	return h == &d->relay_pool->main;
}

struct loop *relay_home_loop(struct relay_home *h)
{
	return h->loop;
}

struct home_guest *relay_home_guest(struct relay_home *h)
{
	return &h->guest;
}

void relay_home_load(struct relay_home *h, int delta)
{
	__atomic_add_fetch(&h->count, (size_t)(ptrdiff_t)delta, __ATOMIC_RELAXED);
}

void relay_pool_call(struct daemon *d, struct relay_home *h, struct home_call *call)
{
	struct inbox *in;

	if (relay_home_is_main(d, h)) {
		call->fn(call, h);
		return;
	}
	in = &container_of(h, struct relay_worker, home)->in;
	pthread_mutex_lock(&in->mu);
	call->msg_next = NULL;
	if (in->calls_tail)
		in->calls_tail->msg_next = call;
	else
		in->calls = call;
	in->calls_tail = call;
	pthread_mutex_unlock(&in->mu);
	inbox_wake(in);
}

static int worker_init(struct relay_pool *pool, struct relay_worker *w)
{
	int ret;

	w->pool = pool;
	w->in.efd = w->loop.epfd = -1;
	ret = loop_init(&w->loop);
	if (!ret)
		ret = inbox_init(&w->in, true);
	if (ret)
		return ret;
	relay_home_init(&w->home, &w->loop, &pool->d->cfg, worker_ended, w);
	w->wake.fd = w->in.efd;
	return loop_watch(&w->loop, &w->wake, EPOLLIN, worker_wake, w);
}

static void worker_close(struct relay_worker *w)
{
	loop_close(&w->loop);
	if (w->in.efd >= 0)
		close(w->in.efd);
	pthread_mutex_destroy(&w->in.mu);
}

/* Default --relay-threads: one per online CPU. */
static unsigned auto_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > MAX_RELAY_THREADS ? MAX_RELAY_THREADS : (unsigned)n;
}

static int relay_pool_init(struct daemon *d, unsigned n)
{
	struct relay_pool *pool = calloc(1, sizeof(*pool) + n * sizeof(pool->w[0]));
	unsigned i;
	int ret;

	if (!pool)
		return -ENOMEM;
	pool->d = d;
	relay_home_init(&pool->main, &d->loop, &d->cfg, main_ended, d);
	/* without threads nothing is ever posted to the main thread */
	ret = inbox_init(&pool->in, n > 0);
	pool->wake.fd = pool->in.efd;
	if (!ret && n)
		ret = loop_watch(&d->loop, &pool->wake, EPOLLIN, main_wake, pool);
	for (i = 0; i < n && !ret; i++, pool->n++)
		ret = worker_init(pool, &pool->w[i]);
	d->relay_pool = pool;
	if (ret)
		relay_pool_stop(d);
	return ret;
}

int relay_pool_setup(struct daemon *d)
{
	unsigned n = !d->cfg.relay ? 0 :
		     d->cfg.relay_threads < 0 ? auto_threads() : (unsigned)d->cfg.relay_threads;
	int ret;

	ret = relay_pool_init(d, n);
	if (ret && n) {
		log_line(LOG_WARN, T_EMU, "cannot make %u relay threads (%s): relaying on the main loop",
			 n, strerror(-ret));
		ret = relay_pool_init(d, 0);
	}
	return ret;
}

void relay_pool_run(struct daemon *d)
{
	struct relay_pool *pool = d->relay_pool;
	sigset_t all, old;
	char name[16];
	int ret = 0;

	if (!pool)
		return;
	/* signals stay the main thread's (its signalfd); the threads get the dropped privileges */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; pool->running < pool->n; pool->running++) {
		struct relay_worker *w = &pool->w[pool->running];

		ret = pthread_create(&w->thread, NULL, worker_main, w);
		if (ret)
			break;
		w->running = true;
		snprintf(name, sizeof(name), "relay-%u", pool->running);
		pthread_setname_np(w->thread, name);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		log_line(LOG_WARN, T_EMU, "relay threads: started %u of %u (%s)%s", pool->running,
			 pool->n, strerror(ret), pool->running ? "" : ": relaying on the main loop");
}

/* After every pod is gone: the threads end, the rest is closed. */
void relay_pool_stop(struct daemon *d)
{
	struct relay_pool *pool = d->relay_pool;
	unsigned i;

	if (!pool)
		return;
	for (i = 0; i < pool->n; i++) {
		struct relay_worker *w = &pool->w[i];

		if (!w->running)
			continue;
		pthread_mutex_lock(&w->in.mu);
		w->in.stop = true;
		pthread_mutex_unlock(&w->in.mu);
		inbox_wake(&w->in);
		pthread_join(w->thread, NULL);
	}
	main_drain(pool);
	list_del(&pool->main.timer.node);
	for (i = 0; i < pool->n; i++)
		worker_close(&pool->w[i]);
	if (pool->in.efd >= 0)
		close(pool->in.efd);
	pthread_mutex_destroy(&pool->in.mu);
	free(pool);
	d->relay_pool = NULL;
}
