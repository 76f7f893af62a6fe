/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod table (by uid and by netns) and each pod's lifecycle: New, Up,
 * Pending with retries, drained. Never touches a ZDS connection; starting a
 * proxy goes through proxy.h. Interface: pods.h.
 */
#include "pods.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "dns/server.h"
#include "drain.h"
#include "fmt.h"
#include "hbone/hbone.h"
#include "listeners.h"
#include "log.h"
#include "proxy.h"

#define MIN_BUCKETS 64

static uint64_t hash_bytes(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	while (len--) {
		h ^= *p++;
		h *= 1099511628211ULL;
	}
	return h;
}

static size_t uid_bucket(const struct pod_table *t, const char *uid, size_t len)
{
	return hash_bytes(uid, len) & (t->nbuckets - 1);
}

static size_t ns_bucket(const struct pod_table *t, const struct netns_id *id)
{
	uint64_t k[2] = { (uint64_t)id->dev, (uint64_t)id->ino };

	return hash_bytes(k, sizeof(k)) & (t->nbuckets - 1);
}

int pod_table_init(struct pod_table *t)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = MIN_BUCKETS;
	t->by_uid = calloc(t->nbuckets, sizeof(*t->by_uid));
	t->by_ns = calloc(t->nbuckets, sizeof(*t->by_ns));
	if (!t->by_uid || !t->by_ns) {
		pod_table_free(t);
		return -ENOMEM;
	}
	return 0;
}

void pod_table_free(struct pod_table *t)
{
	free(t->by_uid);
	free(t->by_ns);
	t->by_uid = t->by_ns = NULL;
	t->nbuckets = 0;
}

struct pod *pod_find_uid(const struct pod_table *t, const char *uid, size_t len)
{
	struct pod *p;

	for (p = t->by_uid[uid_bucket(t, uid, len)]; p; p = p->next_uid)
		if (p->uid_len == len && (!len || !memcmp(p->uid, uid, len)))
			return p;
	return NULL;
}

struct pod *pod_find_ns(const struct pod_table *t, const struct netns_id *id)
{
	struct pod *p;

	for (p = t->by_ns[ns_bucket(t, id)]; p; p = p->next_ns)
		if (netns_id_eq(&p->nsid, id))
			return p;
	return NULL;
}

static void link_hashes(struct pod_table *t, struct pod *p)
{
	size_t b = uid_bucket(t, p->uid, p->uid_len);

	p->next_uid = t->by_uid[b];
	t->by_uid[b] = p;
	b = ns_bucket(t, &p->nsid);
	p->next_ns = t->by_ns[b];
	t->by_ns[b] = p;
}

/*
 * Keeps chains short as pods grow (a dense node holds thousands), and gives
 * the buckets back as they go (issue 18: memory back after deleting all).
 */
static int rehash(struct pod_table *t, size_t n)
{
	struct pod **u = calloc(n, sizeof(*u)), **s = calloc(n, sizeof(*s));
	struct pod *p;

	if (!u || !s) {
		free(u);
		free(s);
		return -ENOMEM;
	}
	free(t->by_uid);
	free(t->by_ns);
	t->by_uid = u;
	t->by_ns = s;
	t->nbuckets = n;
	for (p = t->head; p; p = p->next)
		link_hashes(t, p);
	return 0;
}

int pod_insert(struct pod_table *t, struct pod *p)
{
	if (t->count >= t->nbuckets && rehash(t, t->nbuckets * 2) < 0)
		return -ENOMEM;
	link_hashes(t, p);
	p->prev = NULL;
	p->next = t->head;
	if (t->head)
		t->head->prev = p;
	t->head = p;
	__atomic_store_n(&t->count, t->count + 1, __ATOMIC_RELAXED);	/* read by relay threads */
	return 0;
}

static void unlink_chain(struct pod **slot, struct pod *p, size_t next_off)
{
	while (*slot) {
		if (*slot == p) {
			*slot = *(struct pod **)((char *)p + next_off);
			return;
		}
		slot = (struct pod **)((char *)*slot + next_off);
	}
}

void pod_remove(struct pod_table *t, struct pod *p)
{
	unlink_chain(&t->by_uid[uid_bucket(t, p->uid, p->uid_len)], p,
		     offsetof(struct pod, next_uid));
	unlink_chain(&t->by_ns[ns_bucket(t, &p->nsid)], p, offsetof(struct pod, next_ns));
	if (p->prev)
		p->prev->next = p->next;
	else
		t->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	__atomic_store_n(&t->count, t->count - 1, __ATOMIC_RELAXED);
	/* a quarter full: half the buckets (no thrash, growing waits for full); kept if no memory */
	if (t->nbuckets > MIN_BUCKETS && t->count < t->nbuckets / 4)
		rehash(t, t->nbuckets / 2);
}

static char *dup_n(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d) {
		if (len)	/* an absent string decodes as {NULL, 0} */
			memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

struct pod *pod_new(const char *uid, size_t uid_len, const char *name, size_t name_len,
		    const char *ns, size_t ns_len, const char *sa, size_t sa_len)
{
	struct pod *p = calloc(1, sizeof(*p));
	int i;

	if (!p)
		return NULL;
	p->netns_fd = -1;
	for (i = 0; i < POD_MAX_LISTENERS; i++) {
		p->listeners[i].ev.fd = -1;
		p->listeners[i].pod = p;
	}
	p->uid = dup_n(uid, uid_len);
	p->uid_len = uid_len;
	p->name = dup_n(name, name_len);
	p->namespace_ = dup_n(ns, ns_len);
	p->service_account = dup_n(sa, sa_len);
	if (!p->uid || !p->name || !p->namespace_ || !p->service_account) {
		pod_free(p);
		return NULL;
	}
	return p;
}

void pod_free(struct pod *p)
{
	int i;

	if (!p)
		return;
	for (i = 0; i < POD_MAX_LISTENERS; i++)
		if (p->listeners[i].ev.fd >= 0)
			close(p->listeners[i].ev.fd);
	if (p->netns_fd >= 0)
		close(p->netns_fd);
	free(p->uid);
	free(p->name);
	free(p->namespace_);
	free(p->service_account);
	free(p->last_error);
	hbone_pod_free(p);
	free(p);
}

/* ---- lifecycle --------------------------------------------------------- */

/* The pending pod whose retry comes first, or NULL. */
static struct pod *next_pending(const struct daemon *d)
{
	return list_empty(&d->pending) ? NULL : container_of(d->pending.next, struct pod, pending);
}

static void set_up(struct daemon *d, struct pod *p)
{
	if (p->state == POD_PENDING) {
		list_del(&p->pending);
		d->n_pending--;
	}
	p->state = POD_UP;
	free(p->last_error);
	p->last_error = NULL;
	d->n_up++;
	d->stats.proxies_started++;
}

/* Queues a pod whose start failed for a retry after --retry-interval. */
static void set_pending(struct daemon *d, struct pod *p, const char *err)
{
	if (p->state == POD_PENDING)
		list_del(&p->pending);
	else
		d->n_pending++;
	p->state = POD_PENDING;
	free(p->last_error);
	p->last_error = strdup(err);
	clock_gettime(CLOCK_MONOTONIC, &p->next_retry);
	timespec_add(&p->next_retry, d->cfg.retry_interval);
	/* every pod waits the same interval, so appending keeps the FIFO in deadline order */
	list_add_tail(&d->pending, &p->pending);
}

/*
 * Closes the pod's listeners (epoll forgets them) and its netns fd at once;
 * the memory waits until the current batch of events is done, as a later
 * event in the batch may still point at one of its listeners.
 */
static void free_pod(struct loop_deferred *dd)
{
	pod_free(container_of(dd, struct pod, dead));
}

/*
 * Once the last pod is gone, the heap's free pages go back to the kernel:
 * queued after the pods' own deferred frees (the queue runs in order).
 * glibc keeps small freed chunks otherwise, and a node that drained
 * thousands of pods would keep their memory for good.
 */
static struct loop_deferred trim;
static bool trim_queued;

static void trim_heap(struct loop_deferred *dd)
{
	(void)dd;
	trim_queued = false;
	malloc_trim(0);
}

void pod_drain(struct daemon *d, struct pod *p)
{
	if (p->state == POD_PENDING) {
		list_del(&p->pending);
		d->n_pending--;
	} else if (p->state == POD_UP) {
		d->n_up--;
		d->stats.proxies_stopped++;
		drain_log_pod(d, p);
	}
	pod_remove(&d->pods, p);
	relay_close_pod(d, p);
	dns_pod_close(d, p);
	hbone_pod_drain(d, p);
	listeners_close(p);
	close(p->netns_fd);
	p->netns_fd = -1;
	loop_defer_free(&d->loop, &p->dead, free_pod);
	if (!d->pods.count && !trim_queued) {
		trim_queued = true;
		loop_defer_free(&d->loop, &trim, trim_heap);
	}
}

/* Starts the proxy, or leaves the pod pending; err says why it failed. */
int pod_try_start(struct daemon *d, struct pod *p, char *err, size_t errlen)
{
	int ret = proxy_start(d, p, err, errlen);

	if (ret)
		set_pending(d, p, err);
	else
		set_up(d, p);
	return ret;
}

/* ztunnel's own retry lines (roles.md 2), failed or not (err NULL) */
static void log_retry(const struct daemon *d, const struct pod *p, const char *err)
{
	char u[400];

	if (!d->cfg.lines->new_texts) {
		uid_text(u, sizeof(u), p->uid, p->uid_len);
		log_line(err ? LOG_WARN : LOG_INFO, T_WM, "retrying workload %s%s%s", u,
			 err ? " failed: " : "", err ? err : "");
		return;
	}
	log_quote(u, sizeof(u), p->uid, p->uid_len);
	if (err)
		log_line(LOG_WARN, T_WM, "retrying workload failed: %s uid=%s", err, u);
	else
		log_line(LOG_INFO, T_WM, "retrying workload uid=%s", u);
}

void pods_retry_pending(struct daemon *d)
{
	struct timespec now;
	char u[400], err[512];
	struct pod *p;

	clock_gettime(CLOCK_MONOTONIC, &now);
	while ((p = next_pending(d)) && expired(&p->next_retry, &now)) {
		p->retries++;
		log_retry(d, p, NULL);
		uid_text(u, sizeof(u), p->uid, p->uid_len);
		if (pod_try_start(d, p, err, sizeof(err)) == 0) {
			log_line(LOG_INFO, T_EMU, "pod %s proxy started on retry %u", u, p->retries);
		} else {
			log_retry(d, p, err);
			log_line(LOG_WARN, T_EMU, "pod %s retry %u failed, still pending (next in %gs): %s",
				 u, p->retries, d->cfg.retry_interval, err);
		}
	}
}

static long timer_next(void *ctx)
{
	struct pod *p = next_pending(ctx);

	return p ? ms_until(&p->next_retry) : -1;
}

static void timer_run(void *ctx)
{
	pods_retry_pending(ctx);
}

void pods_start(struct daemon *d)
{
	list_init(&d->pending);
	loop_add_timer(&d->loop, &d->retry_timer, timer_next, timer_run, d);
}
