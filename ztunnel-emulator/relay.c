/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ambient data path: what 15001 (outbound) and 15006 (inbound plaintext)
 * receive from the in-pod rules is relayed to its original destination.
 * The upstream socket is made inside the pod's netns and marked 0x539 so the
 * rules let it through; inbound, it binds the client's address with
 * IP_TRANSPARENT so the app sees the real source. Bytes move with splice()
 * through a pipe per direction, never through user space, all on the
 * daemon's one event loop; half-closes are passed on, a refused upstream
 * resets the client.
 *
 * Relays are bounded (faults.md 5): per pod, in all, and by what the
 * open-file limit leaves once ZDS connections, running pods and a few pod
 * starts are provided for, so relays can never make an Add fail with
 * EMFILE; a connection over a cap is reset at once. A relay waits for its
 * upstream connect and for traffic only so long. Pipes are made when a
 * direction first has data and grown only when it carries bulk data.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include "sockaddr.h"
#include "sockdiag.h"

/*
 * A 1 MiB pipe per direction, filled and drained a whole pipe at a time:
 * against the default 64 KiB it cuts the splice calls and wake-ups per byte
 * by 16 (make bench, 2-hop lab path: 691 -> 915-1057 MiB/s; 256 KiB and
 * 4 MiB were slower). Only a direction that filled its default pipe in one
 * splice is grown, and only while its pod's grown pipes stay within
 * POD_PIPE_BUDGET: a stalled reader pins a whole pipe of kernel memory, and
 * a privileged daemon is exempt from fs.pipe-user-pages-soft. If the kernel
 * refuses the size, the default pipe still works.
 */
#define RELAY_PIPE_SIZE (1024 * 1024)
#define POD_PIPE_BUDGET (32u * RELAY_PIPE_SIZE)
#define PUMP_ROUNDS 16	/* then yield to the other connections */
/*
 * Accepted connections are started this many per loop turn: accepting is
 * cheap and empties the kernel's 128-entry accept queue, starting (a setns
 * round trip, a connect through the pod's rules) is not (faults.md 16).
 */
#define START_BATCH 16
/* Open-file headroom kept back from relays: pod starts, and HTTP or one-off files. */
#define POD_START_RESERVE 16
#define FD_SLACK 32

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

struct relay {
	struct relay_end client, upstream;
	struct half up, down;	/* client -> upstream, upstream -> client */
	enum relay_state state;
	struct listener *l;
	struct pod *pod;
	struct relay *prev, *next;	/* the pod's relays */
	struct relay *qprev, *qnext;	/* the daemon's queue for the state, oldest first */
	struct loop_deferred dead;	/* ended: freed at the end of the loop turn */
	struct sockaddr_storage src, dst;
	char id[33];		/* 1.21's outbound{id=..} span */
	struct timespec start;
	struct timespec active;	/* last traffic; connect started, while connecting */
};

/* Refused connections: one line per cause now and then, not one per connection. */
static struct log_limit refuse_limit = LOG_LIMIT_INIT(5, 5);
static struct log_limit overflow_limit = LOG_LIMIT_INIT(5, 5);

static struct relay_queue *queue_of(struct daemon *d, const struct relay *r)
{
	return r->state == RS_QUEUED ? &d->relay_queued :
	       r->state == RS_CONNECTING ? &d->relay_connecting : &d->relay_open;
}

static void q_remove(struct daemon *d, struct relay *r)
{
	struct relay_queue *q = queue_of(d, r);

	if (r->qprev)
		r->qprev->qnext = r->qnext;
	else
		q->head = r->qnext;
	if (r->qnext)
		r->qnext->qprev = r->qprev;
	else
		q->tail = r->qprev;
	r->qprev = r->qnext = NULL;
}

static void q_append(struct daemon *d, struct relay *r)
{
	struct relay_queue *q = queue_of(d, r);

	r->qnext = NULL;
	r->qprev = q->tail;
	if (q->tail)
		q->tail->qnext = r;
	else
		q->head = r;
	q->tail = r;
}

static void set_state(struct daemon *d, struct relay *r, enum relay_state s)
{
	q_remove(d, r);
	r->state = s;
	clock_gettime(CLOCK_MONOTONIC, &r->active);
	q_append(d, r);
}

/* Traffic: the relay goes to the back of the idle queue. */
static void touch(struct daemon *d, struct relay *r)
{
	if (r->qnext)
		set_state(d, r, r->state);
	else
		clock_gettime(CLOCK_MONOTONIC, &r->active);
}

static bool outbound(const struct relay *r)
{
	return r->l->spec->role == ROLE_OUTBOUND;
}

static void watch(struct daemon *d, struct relay_end *e, uint32_t events)
{
	if (e->ev.fd < 0 || e->events == events)
		return;
	loop_modify(&d->loop, &e->ev, events);
	e->events = events;
}

/* The pipe goes (its fds and its share of the pod's budget) once its direction is done. */
static void close_half(struct relay *r, struct half *h)
{
	if (h->pipe[0] >= 0)
		close(h->pipe[0]);
	if (h->pipe[1] >= 0)
		close(h->pipe[1]);
	h->pipe[0] = h->pipe[1] = -1;
	r->pod->pipe_bytes -= h->charged;
	h->charged = 0;
}

/* An abortive close: the peer gets a RST, as ztunnel resets a client whose upstream failed. */
static void reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void log_access(const struct daemon *d, const struct relay *r, const char *error, bool start)
{
	char src[64], dst[64];
	struct access_rec a = {
		.pod = r->pod, .outbound = outbound(r), .src = src, .dst = dst,
		.sent = r->up.bytes, .recv = r->down.bytes, .error = error,
		/* no upstream yet: it failed before it had a destination */
		.early = error && r->upstream.ev.fd < 0 && r->state != RS_OPEN,
	};
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	a.ns = (long long)(now.tv_sec - r->start.tv_sec) * 1000000000LL + (now.tv_nsec - r->start.tv_nsec);
	memcpy(a.id, r->id, sizeof(a.id));
	sd_format_addr(&r->src, src, sizeof(src));
	sd_format_addr(&r->dst, dst, sizeof(dst));
	if (start)
		access_start(d, &a);
	else
		access_end(d, &a);
}

/* Closes everything the relay holds; freed after the event batch. */
static void free_relay(struct loop_deferred *dd)
{
	free(container_of(dd, struct relay, dead));
}

static void relay_end_conn(struct daemon *d, struct relay *r, const char *error, bool rst)
{
	log_access(d, r, error, false);
	if (error)
		r->l->failed++;
	else
		r->l->completed++;
	r->l->bytes_sent += r->up.bytes;
	r->l->bytes_recv += r->down.bytes;
	if (rst)
		reset(r->client.ev.fd);
	close(r->client.ev.fd);
	r->client.ev.fd = -1;
	if (r->upstream.ev.fd >= 0) {
		if (rst)
			reset(r->upstream.ev.fd);
		close(r->upstream.ev.fd);
		r->upstream.ev.fd = -1;
	}
	close_half(r, &r->up);
	close_half(r, &r->down);
	q_remove(d, r);
	if (r->prev)
		r->prev->next = r->next;
	else
		r->pod->relays = r->next;
	if (r->next)
		r->next->prev = r->prev;
	loop_defer_free(&d->loop, &r->dead, free_relay);
	d->n_relays--;
	r->pod->n_relays--;
}

static int open_half(struct half *h)
{
	int size;

	if (pipe2(h->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	size = fcntl(h->pipe[1], F_GETPIPE_SZ);
	h->size = size > 0 ? (size_t)size : 64 * 1024;
	return 0;
}

/* One splice filled the pipe: the direction carries bulk data, a bigger pipe pays. */
static void grow_half(struct relay *r, struct half *h)
{
	int size;

	h->grow_tried = true;
	if (r->pod->pipe_bytes + RELAY_PIPE_SIZE > POD_PIPE_BUDGET)
		return;
	size = fcntl(h->pipe[1], F_SETPIPE_SZ, RELAY_PIPE_SIZE);
	if (size <= 0 || (size_t)size <= h->size)
		return;
	h->size = (size_t)size;
	h->charged = (size_t)size;
	r->pod->pipe_bytes += h->charged;
}

/*
 * Until a direction has its pipe, a peek tells data (make the pipe) from an
 * EOF or nothing yet: an idle connection holds no pipe. 1 data, 0 EOF, -errno.
 */
static int first_data(struct half *h, int from)
{
	char c;
	ssize_t n = recv(from, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	int ret;

	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	ret = open_half(h);
	return ret ? ret : 1;
}

/* Moves bytes from -> pipe -> to until either side would block. 0, or -errno. */
static int pump(struct relay *r, struct half *h, int from, int to)
{
	ssize_t n;
	int round;

	for (round = 0; round < PUMP_ROUNDS; round++) {
		if (h->pending) {
			n = splice(h->pipe[0], NULL, to, NULL, h->pending,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			h->pending -= (size_t)n;
			h->bytes += (uint64_t)n;
			continue;
		}
		if (h->eof) {
			/* pass the half-close on; the direction needs no pipe any more */
			if (!h->shut && shutdown(to, SHUT_WR) < 0 && errno != ENOTCONN)
				return -errno;
			h->shut = true;
			close_half(r, h);
			return 0;
		}
		if (h->pipe[0] < 0) {
			n = first_data(h, from);
			if (n < 0)
				return n == -EAGAIN ? 0 : (int)n;
		} else {
			n = splice(from, NULL, h->pipe[1], NULL, h->size,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			h->pending = (size_t)n;
			if (n > 0 && (size_t)n == h->size && !h->grow_tried)
				grow_half(r, h);
		}
		if (n == 0) {
			/* not a round: the half-close must still be passed on in this call */
			h->eof = true;
			round--;
		}
	}
	return 0;
}

static void update_interest(struct daemon *d, struct relay *r)
{
	/* read a side only while its pipe is empty; write it while the other pipe holds bytes */
	watch(d, &r->client,
	      (!r->up.eof && !r->up.pending ? EPOLLIN : 0) | (r->down.pending ? EPOLLOUT : 0));
	watch(d, &r->upstream,
	      (!r->down.eof && !r->down.pending ? EPOLLIN : 0) | (r->up.pending ? EPOLLOUT : 0));
}

static void os_text(char *buf, size_t cap, int err)
{
	snprintf(buf, cap, "%s (os error %d)", strerror(err), err);
}

static void connected(struct daemon *d, struct relay *r)
{
	char e[128];
	int err = 0;
	socklen_t el = sizeof(err);

	getsockopt(r->upstream.ev.fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		os_text(e, sizeof(e), err);
		relay_end_conn(d, r, e, true);
		return;
	}
	set_state(d, r, RS_OPEN);
}

static void relay_ready(struct loop_src *src, uint32_t events)
{
	struct daemon *d = src->ctx;
	struct relay_end *e = container_of(src, struct relay_end, ev);
	struct relay *r = e->r;
	char err[128];
	int ret;

	if (r->state == RS_CONNECTING) {
		if (e != &r->upstream)
			return;	/* the client waits for the upstream connect */
		connected(d, r);
		if (r->client.ev.fd < 0)
			return;
	}
	(void)events;
	touch(d, r);
	ret = pump(r, &r->up, r->client.ev.fd, r->upstream.ev.fd);
	if (!ret)
		ret = pump(r, &r->down, r->upstream.ev.fd, r->client.ev.fd);
	if (ret) {
		os_text(err, sizeof(err), -ret);
		relay_end_conn(d, r, err, true);
		return;
	}
	if (r->up.shut && r->down.shut) {
		relay_end_conn(d, r, NULL, false);
		return;
	}
	update_interest(d, r);
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

/* The upstream connect of an accepted connection, from inside the pod's netns. */
static void relay_connect(struct daemon *d, struct relay *r)
{
	char e[128];
	int fd, ret;

	set_state(d, r, RS_CONNECTING);
	/* a direct connection to the listener has nowhere to go (and must not loop) */
	if (sa_port(&r->dst) == r->l->spec->port) {
		relay_end_conn(d, r, "no original destination: not redirected by the in-pod rules", false);
		return;
	}
	log_access(d, r, NULL, true);
	fd = pod_socket(d, r->pod, r->dst.ss_family, SOCK_STREAM);
	if (fd < 0) {
		os_text(e, sizeof(e), -fd);
		relay_end_conn(d, r, e, true);
		return;
	}
	r->upstream.ev.fd = fd;
	/* 0x539: the in-pod rules let ztunnel's own traffic through */
	if (d->cfg.mark)
		setsockopt(fd, SOL_SOCKET, SO_MARK, &d->cfg.mark, sizeof(d->cfg.mark));
	if (!outbound(r) && d->cfg.transparent)
		bind_client_address(r, fd);
	if (connect(fd, (struct sockaddr *)&r->dst, sa_len(&r->dst)) < 0 && errno != EINPROGRESS) {
		os_text(e, sizeof(e), errno);
		relay_end_conn(d, r, e, true);
		return;
	}
	r->upstream.events = EPOLLOUT;
	ret = loop_watch(&d->loop, &r->upstream.ev, EPOLLOUT, relay_ready, d);
	/* the client is read once the upstream is connected */
	if (!ret)
		ret = loop_watch(&d->loop, &r->client.ev, 0, relay_ready, d);
	if (!ret)
		return;
	os_text(e, sizeof(e), -ret);
	relay_end_conn(d, r, e, true);
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
	size_t room = relay_room(d, d->pods.count);
	size_t pod_n = p->n_relays + hbone_streams(d, p), all = d->n_relays + hbone_streams(d, NULL);

	if (pod_n >= d->cfg.max_relays_per_pod)
		snprintf(buf, cap, "%zu relays for this pod (see --max-relays-per-pod)", pod_n);
	else if (d->cfg.max_relays && all >= d->cfg.max_relays)
		snprintf(buf, cap, "%zu relays in all (see --max-relays)", all);
	else if (all >= room)
		snprintf(buf, cap, "the open-file limit %zu leaves room for %zu relays next to %zu pods",
			 d->fd_limit, room, d->pods.count);
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
		reset(client_fd);
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
	q_append(d, r);
	r->next = r->pod->relays;
	if (r->next)
		r->next->prev = r;
	r->pod->relays = r;
	d->n_relays++;
	r->pod->n_relays++;
}

static double since(const struct timespec *t, const struct timespec *now)
{
	return (double)(now->tv_sec - t->tv_sec) + (double)(now->tv_nsec - t->tv_nsec) / 1e9;
}

void relay_expire(struct daemon *d)
{
	struct timespec now;
	char why[128];
	int n;

	clock_gettime(CLOCK_MONOTONIC, &now);
	while (d->relay_connecting.head &&
	       since(&d->relay_connecting.head->active, &now) >= d->cfg.relay_connect_timeout) {
		snprintf(why, sizeof(why), "connect timed out after %gs (see --relay-connect-timeout)",
			 d->cfg.relay_connect_timeout);
		relay_end_conn(d, d->relay_connecting.head, why, true);
	}
	while (d->relay_open.head &&
	       since(&d->relay_open.head->active, &now) >= d->cfg.relay_idle_timeout) {
		snprintf(why, sizeof(why), "idle for %gs (see --relay-idle-timeout)",
			 d->cfg.relay_idle_timeout);
		relay_end_conn(d, d->relay_open.head, why, true);
	}
	for (n = 0; n < START_BATCH && d->relay_queued.head; n++)
		relay_connect(d, d->relay_queued.head);
}

static long ms_left(const struct timespec *t, double timeout)
{
	struct timespec now;
	double left;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left = timeout - since(t, &now);
	/* round up so the wake-up is never before the deadline */
	return left <= 0 ? 0 : (long)(left * 1000) + 1;
}

long relay_next_timeout_ms(const struct daemon *d)
{
	long ms = -1, t;

	if (d->relay_queued.head)
		return 0;
	if (d->relay_connecting.head)
		ms = ms_left(&d->relay_connecting.head->active, d->cfg.relay_connect_timeout);
	if (d->relay_open.head) {
		t = ms_left(&d->relay_open.head->active, d->cfg.relay_idle_timeout);
		if (ms < 0 || t < ms)
			ms = t;
	}
	return ms;
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
	while (p->relays)
		relay_end_conn(d, p->relays, why, true);
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

void relay_start_timers(struct daemon *d)
{
	loop_add_timer(&d->loop, &d->relay_timer, timer_next, timer_run, d);
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
