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
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "sockdiag.h"

/*
 * A 1 MiB pipe per direction, filled and drained a whole pipe at a time:
 * against the default 64 KiB it cuts the splice calls and wake-ups per byte
 * by 16 (make bench, 2-hop lab path: 691 -> 915-1057 MiB/s; 256 KiB and
 * 4 MiB were slower). Pages are only taken for bytes in flight. If the
 * kernel refuses the size (a user over fs.pipe-user-pages-soft), the
 * default pipe still works.
 */
#define RELAY_PIPE_SIZE (1024 * 1024)
#define PUMP_ROUNDS 16	/* then yield to the other connections */

struct relay_end {
	struct ev_src ev;	/* EV_RELAY */
	struct relay *r;
	uint32_t events;	/* what epoll watches now */
};

/* One direction: from one socket, through a pipe, to the other. */
struct half {
	int pipe[2];
	size_t size;		/* the pipe's capacity: one splice's worth */
	size_t pending;		/* bytes in the pipe */
	bool eof, shut;
	uint64_t bytes;
};

struct relay {
	struct relay_end client, upstream;
	struct half up, down;	/* client -> upstream, upstream -> client */
	bool connecting;
	struct listener *l;
	struct pod *pod;
	struct relay *prev, *next;	/* the pod's relays */
	struct relay *dead_next;
	struct sockaddr_storage src, dst;
	struct timespec start;
};

static bool outbound(const struct relay *r)
{
	return r->l->spec->role == ROLE_OUTBOUND;
}

/* IPv4 seen through a dual-stack [::] socket arrives as ::ffff:a.b.c.d */
static void unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in s4 = { .sin_family = AF_INET };

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port :
						 ((const struct sockaddr_in *)ss)->sin_port);
}

/*
 * The original destination: SO_ORIGINAL_DST where REDIRECT rewrote it (the
 * outbound rules, and inbound in the redirect variant); otherwise, with
 * TPROXY, the accepted socket's own local address is it.
 */
static void original_dst(int fd, struct sockaddr_storage *dst)
{
	socklen_t sl = sizeof(struct sockaddr_in);

	memset(dst, 0, sizeof(*dst));
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, dst, &sl) == 0 && dst->ss_family == AF_INET)
		return;
	sl = sizeof(struct sockaddr_in6);
	if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, dst, &sl) == 0 &&
	    dst->ss_family == AF_INET6) {
		unmap(dst);
		return;
	}
	sl = sizeof(*dst);
	getsockname(fd, (struct sockaddr *)dst, &sl);
	unmap(dst);
}

static socklen_t ss_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void watch(struct daemon *d, struct relay_end *e, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &e->ev };

	if (e->ev.fd < 0 || e->events == events)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_MOD, e->ev.fd, &ev);
	e->events = events;
}

static void close_half(struct half *h)
{
	if (h->pipe[0] >= 0)
		close(h->pipe[0]);
	if (h->pipe[1] >= 0)
		close(h->pipe[1]);
	h->pipe[0] = h->pipe[1] = -1;
}

/* An abortive close: the peer gets a RST, as ztunnel resets a client whose upstream failed. */
static void reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void log_access(const struct relay *r, const char *error)
{
	struct timespec now;
	char src[64], dst[64];
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(now.tv_sec - r->start.tv_sec) * 1000 + (now.tv_nsec - r->start.tv_nsec) / 1000000;
	sd_format_addr(&r->src, src, sizeof(src));
	sd_format_addr(&r->dst, dst, sizeof(dst));
	if (error)
		log_line(LOG_WARN, "access",
			 "connection failed src.addr=%s dst.addr=%s direction=\"%s\" bytes_sent=%llu bytes_recv=%llu duration=\"%ldms\" error=\"%s\"",
			 src, dst, outbound(r) ? "outbound" : "inbound", (unsigned long long)r->up.bytes,
			 (unsigned long long)r->down.bytes, ms, error);
	else
		log_line(LOG_INFO, "access",
			 "connection complete src.addr=%s dst.addr=%s direction=\"%s\" bytes_sent=%llu bytes_recv=%llu duration=\"%ldms\"",
			 src, dst, outbound(r) ? "outbound" : "inbound", (unsigned long long)r->up.bytes,
			 (unsigned long long)r->down.bytes, ms);
}

/* Closes everything the relay holds; freed after the event batch. */
static void relay_end_conn(struct daemon *d, struct relay *r, const char *error, bool rst)
{
	log_access(r, error);
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
	close_half(&r->up);
	close_half(&r->down);
	if (r->prev)
		r->prev->next = r->next;
	else
		r->pod->relays = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->dead_next = d->dead_relays;
	d->dead_relays = r;
	d->n_relays--;
}

/* Moves bytes from -> pipe -> to until either side would block. 0, or -errno. */
static int pump(struct half *h, int from, int to)
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
			/* pass the half-close on */
			if (!h->shut && shutdown(to, SHUT_WR) < 0 && errno != ENOTCONN)
				return -errno;
			h->shut = true;
			return 0;
		}
		n = splice(from, NULL, h->pipe[1], NULL, h->size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == 0) {
			/* not a round: the half-close must still be passed on in this call */
			h->eof = true;
			round--;
		}
		else if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		else
			h->pending = (size_t)n;
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

static int open_half(struct half *h)
{
	int size;

	if (pipe2(h->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	size = fcntl(h->pipe[1], F_SETPIPE_SZ, RELAY_PIPE_SIZE);
	if (size < 0)
		size = fcntl(h->pipe[1], F_GETPIPE_SZ);
	h->size = size > 0 ? (size_t)size : 64 * 1024;
	return 0;
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
	err = open_half(&r->up);
	if (!err)
		err = open_half(&r->down);
	if (err) {
		os_text(e, sizeof(e), -err);
		relay_end_conn(d, r, e, true);
		return;
	}
	r->connecting = false;
}

void relay_dispatch(struct daemon *d, struct ev_src *src, uint32_t events)
{
	struct relay_end *e = (struct relay_end *)src;
	struct relay *r = e->r;
	char err[128];
	int ret;

	if (r->connecting) {
		if (e != &r->upstream)
			return;	/* the client waits for the upstream connect */
		connected(d, r);
		if (r->client.ev.fd < 0)
			return;
	}
	(void)events;
	ret = pump(&r->up, r->client.ev.fd, r->upstream.ev.fd);
	if (!ret)
		ret = pump(&r->down, r->upstream.ev.fd, r->client.ev.fd);
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
	    bind(fd, (struct sockaddr *)&src, ss_len(&src)) == 0)
		return;
	sd_format_addr(&r->src, s, sizeof(s));
	log_line(LOG_WARN, "access", "cannot connect from the client's address %s (%s): the app sees ztunnel's address instead",
		 s, strerror(errno));
}

void relay_start(struct daemon *d, struct listener *l, int client_fd)
{
	struct relay *r = calloc(1, sizeof(*r));
	struct epoll_event ev;
	socklen_t sl = sizeof(struct sockaddr_storage);
	char e[128];
	int fd;

	if (!r) {
		reset(client_fd);
		close(client_fd);
		return;
	}
	r->l = l;
	r->pod = l->pod;
	r->client.r = r->upstream.r = r;
	r->client.ev.kind = r->upstream.ev.kind = EV_RELAY;
	r->client.ev.fd = client_fd;
	r->upstream.ev.fd = -1;
	r->up.pipe[0] = r->up.pipe[1] = r->down.pipe[0] = r->down.pipe[1] = -1;
	r->connecting = true;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	getpeername(client_fd, (struct sockaddr *)&r->src, &sl);
	unmap(&r->src);
	original_dst(client_fd, &r->dst);
	/* linked first, so every exit below goes through relay_end_conn */
	r->next = r->pod->relays;
	if (r->next)
		r->next->prev = r;
	r->pod->relays = r;
	d->n_relays++;

	/* a direct connection to the listener has nowhere to go (and must not loop) */
	if (port_of(&r->dst) == l->spec->port) {
		relay_end_conn(d, r, "no original destination: not redirected by the in-pod rules", false);
		return;
	}
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
	if (connect(fd, (struct sockaddr *)&r->dst, ss_len(&r->dst)) < 0 && errno != EINPROGRESS) {
		os_text(e, sizeof(e), errno);
		relay_end_conn(d, r, e, true);
		return;
	}
	ev.events = EPOLLOUT;
	ev.data.ptr = &r->upstream.ev;
	r->upstream.events = EPOLLOUT;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto watch_failed;
	ev.events = 0;	/* the client is read once the upstream is connected */
	ev.data.ptr = &r->client.ev;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, client_fd, &ev) < 0)
		goto watch_failed;
	return;
watch_failed:
	os_text(e, sizeof(e), errno);
	relay_end_conn(d, r, e, true);
}

void relay_close_pod(struct daemon *d, struct pod *p)
{
	while (p->relays)
		relay_end_conn(d, p->relays, "pod drained", true);
}

void relay_reap(struct daemon *d)
{
	while (d->dead_relays) {
		struct relay *r = d->dead_relays;

		d->dead_relays = r->dead_next;
		free(r);
	}
}
