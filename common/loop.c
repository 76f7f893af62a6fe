/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event loop: epoll, per-turn timers and deferred frees, in fixed phases
 * (wait, dispatch, timers, frees) as libuv's uv_run orders them. Knows no
 * source by kind: each carries its callback. Never prints or exits.
 * Interface: loop.h.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_BATCH 64

int loop_init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	list_init(&l->timers);
	list_init(&l->deferred);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void loop_close(struct loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

int loop_watch(struct loop *l, struct loop_src *src, uint32_t events, loop_cb cb, void *ctx)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	src->cb = cb;
	src->ctx = ctx;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0 ? -errno : 0;
}

int loop_modify(struct loop *l, struct loop_src *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, src->fd, &ev) < 0 ? -errno : 0;
}

int loop_unwatch(struct loop *l, struct loop_src *src)
{
	return epoll_ctl(l->epfd, EPOLL_CTL_DEL, src->fd, NULL) < 0 ? -errno : 0;
}

void loop_add_timer(struct loop *l, struct loop_timer *t, long (*next_ms)(void *),
		    void (*run)(void *), void *ctx)
{
	t->next_ms = next_ms;
	t->run = run;
	t->ctx = ctx;
	list_add_tail(&l->timers, &t->node);
}

void loop_defer_free(struct loop *l, struct loop_deferred *d, void (*fn)(struct loop_deferred *))
{
	d->free = fn;
	list_add_tail(&l->deferred, &d->node);
}

void loop_run_deferred(struct loop *l)
{
	while (!list_empty(&l->deferred)) {
		struct loop_deferred *d = container_of(l->deferred.next, struct loop_deferred, node);

		list_del(&d->node);
		d->free(d);
	}
}

bool loop_deferred_empty(const struct loop *l)
{
	return list_empty(&l->deferred);
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

void loop_fail(struct loop *l, int status)
{
	l->failed = status ? status : 1;
	l->stop = true;
}

/* Milliseconds until the nearest timer, or -1 for none. */
static int next_timeout(const struct loop *l)
{
	const struct list_node *n;
	long ms = -1, t;

	list_for_each(n, &l->timers) {
		const struct loop_timer *tm = container_of(n, struct loop_timer, node);

		t = tm->next_ms(tm->ctx);
		if (t >= 0 && (ms < 0 || t < ms))
			ms = t;
	}
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int loop_turn(struct loop *l)
{
	struct epoll_event evs[LOOP_BATCH];
	struct list_node *n;
	int nev, i;

	nev = epoll_wait(l->epfd, evs, LOOP_BATCH, next_timeout(l));
	if (nev < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < nev; i++) {
		struct loop_src *src = evs[i].data.ptr;

		if (src->fd < 0)
			continue;	/* closed earlier in this batch */
		src->cb(src, evs[i].events);
		if (l->stop)
			return 1;
	}
	list_for_each(n, &l->timers) {
		struct loop_timer *tm = container_of(n, struct loop_timer, node);

		tm->run(tm->ctx);
		if (l->failed)
			return 1;	/* not one more timer in a state it cannot handle */
	}
	loop_run_deferred(l);
	return l->stop ? 1 : 0;	/* a timer may end the loop too (a drain's deadline) */
}
