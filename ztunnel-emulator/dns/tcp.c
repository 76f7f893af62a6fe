/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS proxy's stream path: a client on a pod's 15053 TCP listener sends
 * length-prefixed queries (RFC 1035 4.2.2); each is answered from the
 * registry or forwarded over TCP to the first upstream from a socket made in
 * the pod's netns, the reply relayed unchanged; one query at a time per
 * connection, later ones wait in the buffer. Interface: dnsd.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "dnsd.h"
#include "log.h"
#include "server.h"

enum tcp_state { T_READ, T_FORWARD, T_WRITE };

struct dns_tcp {
	struct loop_src cli, up;
	struct dns_pod *dp;
	struct list_node link;
	enum tcp_state state;
	uint8_t in[2 + DNS_QUERY_MAX];
	size_t in_len;
	uint8_t *out, *uq, *ur;	/* to the client, to and from the upstream (length-prefixed) */
	size_t out_len, out_off, uq_len, uq_off, ur_len;
	uint64_t deadline, start_us;
	char qtype[16], domain[256];
	struct loop_deferred dead;
};

static void free_tcp(struct loop_deferred *dd)
{
	struct dns_tcp *t = container_of(dd, struct dns_tcp, dead);

	free(t->out);
	free(t->uq);
	free(t->ur);
	free(t);
}

static void close_fd(struct loop_src *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static void tcp_close(struct dns_tcp *t)
{
	close_fd(&t->cli);
	close_fd(&t->up);
	list_del(&t->link);
	t->dp->n_tcp--;
	loop_defer_free(&t->dp->d->loop, &t->dead, free_tcp);
}

/* M[LEN] (owned by the caller) to the client with its length prefix: 0 or -ENOMEM. */
static int set_out(struct dns_tcp *t, const uint8_t *m, size_t len)
{
	free(t->out);
	t->out = malloc(len + 2);
	if (!t->out)
		return -ENOMEM;
	t->out[0] = (uint8_t)(len >> 8);
	t->out[1] = (uint8_t)len;
	memcpy(t->out + 2, m, len);
	t->out_len = len + 2;
	t->out_off = 0;
	return 0;
}

static void process(struct dns_tcp *t);

static void write_client(struct dns_tcp *t)
{
	ssize_t n;

	while (t->out_off < t->out_len) {
		n = write(t->cli.fd, t->out + t->out_off, t->out_len - t->out_off);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			tcp_close(t);
			return;
		}
		t->out_off += (size_t)n;
	}
	free(t->out);
	t->out = NULL;
	t->state = T_READ;
	t->deadline = dns_now_ms() + DNS_TCP_IDLE_MS;
	if (loop_modify(&t->dp->d->loop, &t->cli, EPOLLIN)) {
		tcp_close(t);
		return;
	}
	process(t);	/* a query that came in behind the last one */
}

static void start_write(struct dns_tcp *t)
{
	t->state = T_WRITE;
	t->deadline = dns_now_ms() + DNS_TCP_IDLE_MS;
	if (loop_modify(&t->dp->d->loop, &t->cli, EPOLLOUT)) {
		tcp_close(t);
		return;
	}
	write_client(t);
}

static void fail_forward(struct dns_tcp *t, const char *why)
{
	uint8_t *sf = NULL;
	size_t sf_len = 0;
	char result[128];

	close_fd(&t->up);
	snprintf(result, sizeof(result), "forwarding failed (%s)", why);
	dns_log_query(t->dp, t->qtype, t->domain, result, 0);
	dns_count_forward(t->dp->d, t->qtype, true, true, 0);
	if (dns_servfail(t->uq + 2, t->uq_len - 2, &sf, &sf_len) || set_out(t, sf, sf_len)) {
		free(sf);
		tcp_close(t);
		return;
	}
	free(sf);
	start_write(t);
}

/* The upstream's whole reply is in: checked, relayed unchanged. */
static void reply_in(struct dns_tcp *t)
{
	if (t->ur_len < 4 || t->ur[2] != t->uq[2] || t->ur[3] != t->uq[3]) {
		fail_forward(t, "reply does not match the query");
		return;
	}
	close_fd(&t->up);
	dns_log_query(t->dp, t->qtype, t->domain, "forwarded", 0);
	dns_count_forward(t->dp->d, t->qtype, true, false,
			  (double)(dns_now_us() - t->start_us) / 1e6);
	free(t->out);
	t->out = t->ur;
	t->out_len = t->ur_len;
	t->out_off = 0;
	t->ur = NULL;
	t->ur_len = 0;
	start_write(t);
}

static void read_upstream(struct dns_tcp *t)
{
	size_t need = t->ur_len < 2 ? 2 : 2 + ((size_t)t->ur[0] << 8 | t->ur[1]);
	ssize_t n = read(t->up.fd, t->ur + t->ur_len, need - t->ur_len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fail_forward(t, n == 0 ? "upstream closed the connection" : strerror(errno));
		return;
	}
	t->ur_len += (size_t)n;
	if (t->ur_len >= 2 && t->ur_len == 2 + ((size_t)t->ur[0] << 8 | t->ur[1]))
		reply_in(t);
}

static void up_ready(struct loop_src *src, uint32_t events)
{
	struct dns_tcp *t = src->ctx;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	ssize_t n;

	if (t->uq_off < t->uq_len) {
		if ((events & (EPOLLERR | EPOLLHUP)) &&
		    getsockopt(src->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr) {
			fail_forward(t, strerror(soerr));
			return;
		}
		n = write(src->fd, t->uq + t->uq_off, t->uq_len - t->uq_off);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			fail_forward(t, strerror(n < 0 ? errno : EPIPE));
			return;
		}
		t->uq_off += (size_t)n;
		if (t->uq_off == t->uq_len && loop_modify(&t->dp->d->loop, src, EPOLLIN))
			fail_forward(t, "epoll");
		return;
	}
	read_upstream(t);
}

static void start_forward(struct dns_tcp *t)
{
	struct dns_pod *dp = t->dp;
	const struct dns_opts *o = &dp->d->cfg.dns;
	int fd;

	t->state = T_FORWARD;
	t->start_us = dns_now_us();
	t->deadline = t->start_us / 1000 + (uint64_t)(o->timeout * 1000);
	t->uq_off = 0;
	t->ur_len = 0;
	if (loop_modify(&dp->d->loop, &t->cli, 0)) {
		tcp_close(t);
		return;
	}
	if (!o->n_up) {
		fail_forward(t, "no upstream resolver");
		return;
	}
	if (!t->ur && !(t->ur = malloc(2 + 65535))) {
		fail_forward(t, "out of memory");
		return;
	}
	fd = dns_upstream_socket(dp, o->up[0].sa.ss_family, SOCK_STREAM);
	if (fd < 0) {
		fail_forward(t, strerror(-fd));
		return;
	}
	t->up.fd = fd;
	if (connect(fd, (const struct sockaddr *)&o->up[0].sa, o->up[0].len) < 0 &&
	    errno != EINPROGRESS) {
		fail_forward(t, strerror(errno));
		return;
	}
	if (loop_watch(&dp->d->loop, &t->up, EPOLLOUT, up_ready, t))
		fail_forward(t, "epoll");
}

/* Handles the first whole message in the buffer, if there is one. */
static void process(struct dns_tcp *t)
{
	static struct log_limit limit = LOG_LIMIT_INIT(10, 5);
	struct dns_decision dec;
	size_t len;

	if (t->state != T_READ || t->in_len < 2)
		return;
	len = (size_t)t->in[0] << 8 | t->in[1];
	if (len == 0 || len > DNS_QUERY_MAX) {
		t->dp->d->dns->dropped++;
		log_limited(&limit, LOG_DEBUG, "dns", "dropped a query from pod %s over tcp: %zu bytes, closing",
			    t->dp->pod->name, len);
		tcp_close(t);
		return;
	}
	if (t->in_len < len + 2)
		return;
	free(t->uq);
	t->uq = malloc(len + 2);
	if (!t->uq) {
		tcp_close(t);
		return;
	}
	memcpy(t->uq, t->in, len + 2);
	t->uq_len = len + 2;
	memmove(t->in, t->in + len + 2, t->in_len - len - 2);
	t->in_len -= len + 2;
	dns_decide_query(t->dp, t->uq + 2, len, true, &dec);
	snprintf(t->qtype, sizeof(t->qtype), "%s", dec.qtype_name);
	snprintf(t->domain, sizeof(t->domain), "%s", dec.domain);
	if (dec.action == DNS_REPLY && !set_out(t, dec.reply, dec.reply_len))
		start_write(t);
	else if (dec.action == DNS_FORWARD)
		start_forward(t);
	else
		tcp_close(t);	/* nothing to say to a client that sent no query */
	dns_decision_clear(&dec);
}

static void cli_ready(struct loop_src *src, uint32_t events)
{
	struct dns_tcp *t = src->ctx;
	ssize_t n;

	if (t->state == T_WRITE) {
		write_client(t);
		return;
	}
	if (t->state == T_FORWARD) {
		if (events & (EPOLLHUP | EPOLLERR))
			tcp_close(t);	/* the client is gone: so is its query */
		return;
	}
	n = read(src->fd, t->in + t->in_len, sizeof(t->in) - t->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		tcp_close(t);
		return;
	}
	t->in_len += (size_t)n;
	process(t);
}

void dns_tcp_accept(struct daemon *d, struct listener *l, int fd)
{
	struct dns_pod *dp = dns_pod_get(d, l->pod);
	struct dns_tcp *t = dp && dp->n_tcp < DNS_TCP_MAX ? calloc(1, sizeof(*t)) : NULL;

	if (!t) {
		d->dns->dropped++;
		close(fd);
		return;
	}
	t->dp = dp;
	t->cli.fd = fd;
	t->up.fd = -1;
	if (loop_watch(&d->loop, &t->cli, EPOLLIN, cli_ready, t)) {
		close(fd);
		free(t);
		return;
	}
	list_add_tail(&dp->tcp, &t->link);
	dp->n_tcp++;
	t->deadline = dns_now_ms() + DNS_TCP_IDLE_MS;
	dns_pod_activate(dp);
}

void dns_tcp_expire(struct dns_pod *dp, uint64_t now)
{
	struct list_node *n, *next;

	for (n = dp->tcp.next; n != &dp->tcp; n = next) {
		struct dns_tcp *t = container_of(n, struct dns_tcp, link);

		next = n->next;
		if (t->deadline > now)
			continue;
		if (t->state == T_FORWARD)
			fail_forward(t, "timed out");
		else
			tcp_close(t);	/* idle, or a client that does not read its reply */
	}
}

uint64_t dns_tcp_next_deadline(const struct dns_pod *dp)
{
	const struct list_node *n;
	uint64_t t = UINT64_MAX;

	list_for_each(n, &dp->tcp) {
		const struct dns_tcp *c = container_of(n, struct dns_tcp, link);

		if (c->deadline < t)
			t = c->deadline;
	}
	return t;
}

void dns_tcp_close_all(struct dns_pod *dp)
{
	while (!list_empty(&dp->tcp))
		tcp_close(container_of(dp->tcp.next, struct dns_tcp, link));
}
