/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ambient data path: what 15001 (outbound) and 15006 (inbound plaintext)
 * receive from the in-pod rules is relayed to its original destination.
 * The upstream socket is made inside the pod's netns and marked 0x539 so the
 * rules let it through; inbound, it binds the client's address with
 * IP_TRANSPARENT so the app sees the real source. Bytes move with splice()
 * through a pipe per direction, never through user space (relay_io.c), on a
 * relay thread (relay_pool.c, --relay-threads) or the daemon's own loop;
 * half-closes are passed on, a refused upstream resets the client.
 *
 * This file is the main thread's side: accepting stays single-threaded, and
 * so do the caps, the counters, the pod's list of relays and the upstream
 * connect (it enters the pod's netns). Relays are bounded (faults.md 5): per
 * pod, in all, and by what the open-file limit leaves once ZDS connections,
 * running pods and a few pod starts are provided for, so relays can never
 * make an Add fail with EMFILE; a connection over a cap is reset at once. A
 * relay waits for its upstream connect and for traffic only so long.
 * Interface: daemon.h (relay_*), relay_int.h for relay_io.c and relay_pool.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sock_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access.h"
#include "daemon.h"
#include "hbone/hbone.h"
#include "proxy.h"
#include "log.h"
#include "relay_int.h"
#include "sockaddr.h"
#include "sockdiag.h"

/*
 * Accepted connections are started this many per loop turn: accepting is
 * cheap and empties the kernel's 128-entry accept queue, starting (a setns
 * round trip, a connect through the pod's rules) is not (faults.md 16).
 */
#define START_BATCH 16
/* Open-file headroom kept back from relays: pod starts, and HTTP or one-off files. */
#define POD_START_RESERVE 16
#define FD_SLACK 32

/* Refused connections: one line per cause now and then, not one per connection. */
static struct log_limit refuse_limit = LOG_LIMIT_INIT(5, 5);
static struct log_limit overflow_limit = LOG_LIMIT_INIT(5, 5);

static bool outbound(const struct relay *r)
{
	return r->l->spec->role == ROLE_OUTBOUND;
}

static void os_text(char *buf, size_t cap, int err)
{
	snprintf(buf, cap, "%s (os error %d)", strerror(err), err);
}

void relay_retire(struct daemon *d, struct relay *r)
{
	if (r->failed)
		r->l->failed++;
	else
		r->l->completed++;
	r->l->bytes_sent += r->up.bytes;
	r->l->bytes_recv += r->down.bytes;
	if (r->prev)
		r->prev->next = r->next;
	else
		r->pod->relays = r->next;
	if (r->next)
		r->next->prev = r->prev;
	hbone_plain_end(r->series, r->up.bytes, r->down.bytes);
	/* one writer (this thread), read by relay threads' HBONE streams (relay_over_cap) */
	__atomic_store_n(&d->n_relays, d->n_relays - 1, __ATOMIC_RELAXED);
	__atomic_store_n(&r->pod->n_relays, r->pod->n_relays - 1, __ATOMIC_RELAXED);
}

/* A relay that never reached a home: ended on the main thread. */
static void end_unhomed(struct daemon *d, struct relay *r, const char *error, bool rst)
{
	relay_close_fds(d, r, error, rst);
	if (r->state == RS_QUEUED)
		relay_q_remove(&d->relay_queued, r);
	relay_retire(d, r);
	free(r);
}

/* Inbound: connect from the client's own address so the app sees the real source. */
static void bind_client_address(struct relay *r, int fd)
{
	struct sockaddr_storage src = r->src;
	char s[64];
	int one = 1;
	bool v6 = src.ss_family == AF_INET6;

	if (v6)
		((struct sockaddr_in6 *)&src)->sin6_port = 0;
	else
		((struct sockaddr_in *)&src)->sin_port = 0;
	if (setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one,
		       sizeof(one)) == 0 &&
	    bind(fd, (struct sockaddr *)&src, sa_len(&src)) == 0)
		return;
	sd_format_addr(&r->src, s, sizeof(s));
	log_line(LOG_WARN, "access", "cannot connect from the client's address %s (%s): the app sees ztunnel's address instead",
		 s, strerror(errno));
}

/* The upstream connect of an accepted connection, from inside the pod's netns; then to a home. */
static void relay_connect(struct daemon *d, struct relay *r)
{
	struct relay_home *h = relay_pool_pick(d);
	char e[128];
	int fd;

	relay_q_remove(&d->relay_queued, r);
	r->state = RS_CONNECTING;
	clock_gettime(CLOCK_MONOTONIC, &r->active);
	/* a direct connection to the listener has nowhere to go (and must not loop) */
	if (sa_port(&r->dst) == r->l->spec->port) {
		end_unhomed(d, r, "no original destination: not redirected by the in-pod rules", false);
		return;
	}
	relay_log_access(d, r, NULL, true);
	r->series = hbone_plain_open(d, r->pod, outbound(r));
	fd = h ? pod_tcp_socket(d, r->pod, r->dst.ss_family) : -ENOSYS;
	if (fd < 0) {
		os_text(e, sizeof(e), -fd);
		end_unhomed(d, r, e, true);
		return;
	}
	r->upstream.ev.fd = fd;
	if (!outbound(r) && d->cfg.transparent)
		bind_client_address(r, fd);
	if (connect(fd, (struct sockaddr *)&r->dst, sa_len(&r->dst)) < 0 && errno != EINPROGRESS) {
		os_text(e, sizeof(e), errno);
		end_unhomed(d, r, e, true);
		return;
	}
	relay_pool_hand(d, h, r);
}

/* Fds that are not the relays': the daemon's own, ZDS peers, pods and the reserves. */
static size_t other_fds(const struct daemon *d, size_t pods)
{
	return d->fd_base + d->cfg.max_conns + 1 + (pods + POD_START_RESERVE) * (d->cfg.nspecs + 1) +
	       FD_SLACK;
}

/* Relays the open-file limit has room for next to the running pods (6 fds each). */
static size_t relay_room(const struct daemon *d, size_t pods)
{
	size_t other = other_fds(d, pods);

	if (!d->fd_limit)
		return SIZE_MAX;	/* the limit could not be read at start */
	return d->fd_limit > other ? (d->fd_limit - other) / RELAY_FDS : 0;
}

size_t relay_limits_init(struct daemon *d, size_t fd_limit, size_t fds_used)
{
	d->fd_limit = fd_limit;
	d->fd_base = fds_used;
	if (!d->cfg.max_relays)
		d->cfg.max_relays = relay_room(d, 0);
	return d->cfg.max_relays;
}

/* Why a new connection of this pod cannot be relayed, or NULL; HBONE streams count as relays. */
const char *relay_over_cap(const struct daemon *d, const struct pod *p, char *buf, size_t cap)
{
	/* HBONE streams on relay threads ask too: the main thread's counts are read atomically */
	size_t pods = __atomic_load_n(&d->pods.count, __ATOMIC_RELAXED), room = relay_room(d, pods);
	size_t pod_n = __atomic_load_n(&p->n_relays, __ATOMIC_RELAXED) + hbone_streams(d, p);
	size_t all = __atomic_load_n(&d->n_relays, __ATOMIC_RELAXED) + hbone_streams(d, NULL);

	if (pod_n >= d->cfg.max_relays_per_pod)
		snprintf(buf, cap, "%zu relays for this pod (see --max-relays-per-pod)", pod_n);
	else if (d->cfg.max_relays && all >= d->cfg.max_relays)
		snprintf(buf, cap, "%zu relays in all (see --max-relays)", all);
	else if (all >= room)
		snprintf(buf, cap, "the open-file limit %zu leaves room for %zu relays next to %zu pods",
			 d->fd_limit, room, pods);
	else
		return NULL;
	return buf;
}

void relay_start(struct daemon *d, struct listener *l, int client_fd)
{
	struct relay *r = NULL;
	socklen_t sl = sizeof(struct sockaddr_storage);
	char why[128], name[80];

	if (!relay_over_cap(d, l->pod, why, sizeof(why)))
		r = calloc(1, sizeof(*r));
	else
		log_limited(&refuse_limit, LOG_WARN, l->spec->target,
			    "pod %s: connection to %s reset: %s",
			    log_quote(name, sizeof(name), l->pod->name, strlen(l->pod->name)),
			    l->spec->addr_text, why);
	if (!r) {
		l->refused++;
		relay_reset_fd(client_fd);
		close(client_fd);
		return;
	}
	r->l = l;
	r->pod = l->pod;
	r->client.r = r->upstream.r = r;
	r->client.ev.fd = client_fd;
	r->upstream.ev.fd = -1;
	r->up.pipe[0] = r->up.pipe[1] = r->down.pipe[0] = r->down.pipe[1] = -1;
	r->state = RS_QUEUED;
	getpeername(client_fd, (struct sockaddr *)&r->src, &sl);
	sa_unmap(&r->src);
	sa_original_dst(client_fd, &r->dst);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	access_new_id(r->id);
	r->active = r->start;
	relay_q_append(&d->relay_queued, r);
	r->next = r->pod->relays;
	if (r->next)
		r->next->prev = r;
	r->pod->relays = r;
	__atomic_store_n(&d->n_relays, d->n_relays + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&r->pod->n_relays, r->pod->n_relays + 1, __ATOMIC_RELAXED);
}

/* The accepted connections still to start (each home times out its own relays). */
void relay_expire(struct daemon *d)
{
	int n;

	for (n = 0; n < START_BATCH && d->relay_queued.head; n++)
		relay_connect(d, d->relay_queued.head);
}

long relay_next_timeout_ms(const struct daemon *d)
{
	return d->relay_queued.head ? 0 : -1;
}

uint64_t relay_listener_drops(const struct listener *l)
{
	uint32_t mem[SK_MEMINFO_VARS] = { 0 };
	socklen_t len = sizeof(mem);

	/* the listener's sk_drops: SYNs and handshakes dropped while its accept queue was full */
	if (l->ev.fd < 0 || getsockopt(l->ev.fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0 ||
	    len < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
		return l->drops;
	return mem[SK_MEMINFO_DROPS];
}

void relay_check_overflow(struct daemon *d, struct listener *l)
{
	uint64_t drops = relay_listener_drops(l);
	char name[80];

	if (drops <= l->drops)
		return;
	log_limited(&overflow_limit, LOG_WARN, l->spec->target,
		    "pod %s: the accept queue of %s overflowed (backlog %d): %llu connection attempts dropped so far",
		    log_quote(name, sizeof(name), l->pod->name, strlen(l->pod->name)), l->spec->addr_text,
		    d->cfg.backlog, (unsigned long long)drops);
	l->drops = drops;
}

void relay_reset_pod(struct daemon *d, struct pod *p, const char *why)
{
	struct relay *r, *next;

	/* the queued ones are this thread's; the others their home's, waited for */
	for (r = p->relays; r; r = next) {
		next = r->next;
		if (!r->home)
			end_unhomed(d, r, why, true);
	}
	if (p->relays)
		relay_pool_close_pod(d, p, why);
}

void relay_close_pod(struct daemon *d, struct pod *p)
{
	relay_reset_pod(d, p, "pod drained");
}

static long timer_next(void *ctx)
{
	return relay_next_timeout_ms(ctx);
}

static void timer_run(void *ctx)
{
	relay_expire(ctx);
}

int relay_start_timers(struct daemon *d)
{
	loop_add_timer(&d->loop, &d->relay_timer, timer_next, timer_run, d);
	return relay_pool_setup(d);
}

/*
 * config_dump's workloadState connections of one direction: the pod's relays
 * accepted by its inbound (15006) or outbound (15001) listeners, as ztunnel's
 * {src, originalDst, actualDst, protocol}.
 */
void relay_report_conns(const struct pod *p, bool inbound, FILE *out)
{
	const struct relay *r;
	char src[INET6_ADDRSTRLEN + 8], dst[INET6_ADDRSTRLEN + 8];
	bool first = true;

	fputc('[', out);
	for (r = p->relays; r; r = r->next) {
		if ((r->l->spec->role == ROLE_OUTBOUND || r->l->spec->role == ROLE_SOCKS5) == inbound)
			continue;
		sd_format_addr(&r->src, src, sizeof(src));
		sd_format_addr(&r->dst, dst, sizeof(dst));
		fprintf(out, "%s{\"src\": \"%s\", \"originalDst\": \"%s\", \"actualDst\": \"%s\", \"protocol\": \"TCP\"}",
			first ? "" : ", ", src, dst, dst);
		first = false;
	}
	fputc(']', out);
}
