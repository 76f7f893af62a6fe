/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's HTTP endpoints, as real ztunnel exposes them: admin
 * (config_dump), readiness and Prometheus metrics. libmicrohttpd runs in its
 * external-epoll mode: its epoll fd sits in the daemon's own loop, so the
 * handlers read the pod table from the same thread, with no locking, and a
 * slow HTTP client cannot hold up ZDS. Prints nothing: http_start() returns
 * -errno with a reason. Interface: admin/http.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "admission.h"
#include "clock.h"
#include "admin/http.h"
#include "admin/logging.h"
#include "admin/prom.h"
#include "admin/report.h"
#include "daemon.h"
#include "drain.h"
#include "log.h"
#include "sockdiag.h"

/*
 * A slow client must not hold an endpoint (fault 9 of issue 10): MHD's own
 * timeout is idle-based and restarts with every byte, so 64 clients each
 * trickling a header byte every few seconds held every slot. Now each
 * endpoint takes HTTP_MAX_CONNS connections, one peer at most
 * HTTP_MAX_PER_PEER of them, and a request's header must be complete within
 * HTTP_REQUEST_SECONDS of the connection (or of the previous response),
 * however it trickles in. A local peer is its user, found through sock_diag
 * (node clients, probes and attackers alike come from 127.0.0.1, so a
 * per-address limit would lock out everyone at once); a remote one is its
 * address. Root and the daemon's own user are never capped per peer.
 */
#define HTTP_MAX_CONNS 256u
#define HTTP_MAX_PER_PEER 16u
#define HTTP_REQUEST_SECONDS 5
#define HTTP_IDLE_SECONDS 10u	/* MHD's own timeout, for a slow reader of a response */

enum srv_kind { SRV_ADMIN, SRV_READY, SRV_METRICS };

/* One HTTP connection, from MHD's connection notifications. */
struct hconn {
	struct hconn *prev, *next;	/* the endpoint's connections */
	struct hconn *wprev, *wnext;	/* awaiting a request header, earliest deadline first */
	struct timespec deadline;
	int fd;
	bool waiting;
	bool closing;		/* shut down by us; MHD closes it on its next run */
	bool has_uid;		/* a local peer, known by its user */
	uid_t uid;
	struct sockaddr_storage addr;	/* the peer's address */
};

struct http_server {
	struct loop_src ev;	/* fd is libmicrohttpd's epoll fd */
	struct MHD_Daemon *mhd;
	struct daemon *d;
	enum srv_kind kind;
	struct mnl_socket *sd;	/* sock_diag, to find a local peer's user; NULL: by address */
	struct hconn *conns;
	struct hconn *wait_head, *wait_tail;
	char addr[INET6_ADDRSTRLEN + 8];	/* where it listens, as ztunnel logs it */
};

static const char *const srv_what[] = {
	[SRV_ADMIN] = "/config_dump",
	[SRV_READY] = "/healthz/ready",
	[SRV_METRICS] = "/metrics",
};

/* ztunnel's names for its three HTTP servers (hyper_util.rs's component field) */
static const char *const srv_component[] = {
	[SRV_ADMIN] = "admin",
	[SRV_READY] = "readiness",
	[SRV_METRICS] = "stats",
};
#define T_HYPER "ztunnel::hyper_util"

/* ---- connection limits and the request deadline (fault 9) ------------------ */

static void wait_unlink(struct http_server *srv, struct hconn *h)
{
	if (!h->waiting)
		return;
	if (h->wprev)
		h->wprev->wnext = h->wnext;
	else
		srv->wait_head = h->wnext;
	if (h->wnext)
		h->wnext->wprev = h->wprev;
	else
		srv->wait_tail = h->wprev;
	h->wprev = h->wnext = NULL;
	h->waiting = false;
}

/* Deadlines are always now + the same span: appending keeps the FIFO in order. */
static void wait_arm(struct http_server *srv, struct hconn *h)
{
	wait_unlink(srv, h);
	if (h->closing)
		return;
	clock_gettime(CLOCK_MONOTONIC, &h->deadline);
	h->deadline.tv_sec += HTTP_REQUEST_SECONDS;
	h->wprev = srv->wait_tail;
	if (srv->wait_tail)
		srv->wait_tail->wnext = h;
	else
		srv->wait_head = h;
	srv->wait_tail = h;
	h->waiting = true;
}

static const char *peer_text(const struct hconn *h, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN + 8];

	sd_format_addr(&h->addr, a, sizeof(a));
	if (h->has_uid)
		snprintf(buf, cap, "uid=%u (%s)", (unsigned)h->uid, a);
	else
		snprintf(buf, cap, "%s", a);
	return buf;
}

/*
 * Shuts the socket down without closing it: MHD owns the fd, sees the end on
 * its next run and closes the connection itself, notifying us.
 */
static void hconn_shut(struct http_server *srv, struct hconn *h)
{
	wait_unlink(srv, h);
	h->closing = true;
	shutdown(h->fd, SHUT_RDWR);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
	       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

static unsigned peer_conns(const struct http_server *srv, const struct hconn *h)
{
	const struct hconn *o;
	unsigned n = 0;

	for (o = srv->conns; o; o = o->next)
		if (!o->closing && o->has_uid == h->has_uid &&
		    (h->has_uid ? o->uid == h->uid : same_addr(&o->addr, &h->addr)))
			n++;
	return n;
}

/* Who is at the other end: its user when the socket is on this host, else its address. */
static void hconn_identify(struct http_server *srv, struct hconn *h)
{
	struct sockaddr_storage own;
	socklen_t l = sizeof(h->addr), ol = sizeof(own);
	uint32_t uid;

	if (getpeername(h->fd, (struct sockaddr *)&h->addr, &l) < 0 ||
	    getsockname(h->fd, (struct sockaddr *)&own, &ol) < 0)
		return;
	if (srv->sd && sd_tcp_owner(srv->sd, &h->addr, &own, &uid) == 0) {
		h->has_uid = true;
		h->uid = (uid_t)uid;
	}
}

static void notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	static struct log_limit lim = LOG_LIMIT_INIT(1, 5);
	struct http_server *srv = cls;
	const union MHD_ConnectionInfo *ci;
	struct hconn *h = *socket_context;
	char who[INET6_ADDRSTRLEN + 40];

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (!h)
			return;
		wait_unlink(srv, h);
		if (h->prev)
			h->prev->next = h->next;
		else
			srv->conns = h->next;
		if (h->next)
			h->next->prev = h->prev;
		free(h);
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	h = ci ? calloc(1, sizeof(*h)) : NULL;
	if (!h) {
		if (ci)
			shutdown(ci->connect_fd, SHUT_RDWR);	/* untracked would be unlimited */
		return;
	}
	h->fd = ci->connect_fd;
	hconn_identify(srv, h);
	h->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = h;
	srv->conns = h;
	*socket_context = h;
	if ((!h->has_uid || !peer_privileged(h->uid)) && peer_conns(srv, h) > HTTP_MAX_PER_PEER) {
		log_limited(&lim, LOG_WARN, T_EMU, "%s: too many connections from %s (%u per client): closing one",
			    srv_what[srv->kind], peer_text(h, who, sizeof(who)), HTTP_MAX_PER_PEER);
		hconn_shut(srv, h);
		return;
	}
	wait_arm(srv, h);
}

static struct hconn *conn_hconn(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* Markers in a request's con_cls: its header seen; its answer is a quitquitquit. */
static char req_seen, req_quit;

/* A response sent on a kept-alive connection: the next request's header is due in time too. */
static void notify_done(void *cls, struct MHD_Connection *conn, void **con_cls,
			enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct hconn *h = conn_hconn(conn);

	if (h && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		wait_arm(srv, h);
	/* after the answer is out (or its client gone): the same drain as SIGTERM */
	if (*con_cls == &req_quit && toe != MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN && !srv->d->drain)
		drain_begin(srv->d, NULL);
}

/* Connections whose request header is overdue are shut down. */
static void expire(struct http_server *srv)
{
	static struct log_limit lim = LOG_LIMIT_INIT(1, 5);
	char who[INET6_ADDRSTRLEN + 40];
	struct timespec now;
	struct hconn *h;

	clock_gettime(CLOCK_MONOTONIC, &now);
	while ((h = srv->wait_head) &&
	       (now.tv_sec > h->deadline.tv_sec ||
		(now.tv_sec == h->deadline.tv_sec && now.tv_nsec >= h->deadline.tv_nsec))) {
		log_limited(&lim, LOG_WARN, T_EMU, "%s: no complete request from %s within %ds: closing",
			    srv_what[srv->kind], peer_text(h, who, sizeof(who)), HTTP_REQUEST_SECONDS);
		hconn_shut(srv, h);
	}
}

/* One request's answer; the body goes to out. */
struct answer {
	unsigned code;
	const char *type;
	FILE *out;
	char why[512];		/* readiness: the emulator's reason, sent as a header */
	bool quit;		/* POST /quitquitquit: drain once the answer is sent */
};

static enum MHD_Result respond(struct MHD_Connection *conn, const struct answer *a, char *body,
			       size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char why[sizeof(a->why)];
	size_t i;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
	if (a->why[0]) {
		for (i = 0; a->why[i]; i++)	/* a header is one printable line */
			why[i] = (unsigned char)a->why[i] < 0x20 || a->why[i] == 0x7f ? '?' : a->why[i];
		why[i] = '\0';
		MHD_add_response_header(r, "X-Emulator-Not-Ready", why);
	}
	ret = MHD_queue_response(conn, a->code, r);
	MHD_destroy_response(r);
	return ret;
}

static bool is_get(const char *method)
{
	return !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
}

/*
 * ztunnel's admin: POST /quitquitquit drains and exits, POST /logging?level=
 * changes the log filter; any other method is refused (405).
 */
static void answer_admin(const struct http_server *srv, struct MHD_Connection *conn,
			 const char *url, const char *method, struct answer *a)
{
	if (!strcmp(url, "/logging")) {
		a->code = admin_logging(srv->d, method,
					MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "level"),
					a->out);
	} else if (!strcmp(url, "/quitquitquit")) {
		if (strcmp(method, MHD_HTTP_METHOD_POST)) {
			a->code = MHD_HTTP_METHOD_NOT_ALLOWED;
			return;
		}
		fputs("shutdown now\n", a->out);
		a->quit = true;
	} else if (!strcmp(url, "/workloadmanager") && srv->d->cfg.rel->dump == DUMP_121) {
		a->type = "application/json";	/* 1.21's handler answered any method */
		report_workloadmanager(srv->d, a->out);
	} else if (!is_get(method)) {
		a->code = MHD_HTTP_METHOD_NOT_ALLOWED;
		fprintf(a->out, "method not allowed: use GET\n");
	} else if (!strcmp(url, "/config_dump")) {
		a->type = "application/json";
		report_config_dump(srv->d, a->out);
	} else if (!strcmp(url, "/")) {
		fprintf(a->out, "ztunnel-emulator admin\n"
				"  /config_dump   daemon config and every pod (JSON)\n"
				"  /quitquitquit  POST: drain and exit, as on SIGTERM\n"
				"  /logging       POST ?level=FILTER: the log filter (RUST_LOG syntax)\n");
		if (srv->d->cfg.rel->dump == DUMP_121)
			fputs("  /workloadmanager  each pod's proxy state (Istio 1.21)\n", a->out);
	} else {
		a->code = MHD_HTTP_NOT_FOUND;
		fprintf(a->out, "not found: %s\n", url);
	}
}

/* ztunnel's readiness server: other paths 404, then non-GET 405, both with no body. */
static void answer_ready(const struct http_server *srv, const char *url, const char *method,
			 struct answer *a)
{
	if (strcmp(url, "/healthz/ready"))
		a->code = MHD_HTTP_NOT_FOUND;
	else if (strcmp(method, MHD_HTTP_METHOD_GET))
		a->code = MHD_HTTP_METHOD_NOT_ALLOWED;
	else if (!report_ready(srv->d, a->out, a->why, sizeof(a->why)))
		a->code = MHD_HTTP_INTERNAL_SERVER_ERROR;	/* observability.md §4 */
}

static void answer_metrics(const struct http_server *srv, struct MHD_Connection *conn,
			   const char *url, const char *method, struct answer *a)
{
	bool om;

	if (!is_get(method)) {
		a->code = MHD_HTTP_METHOD_NOT_ALLOWED;
		fprintf(a->out, "method not allowed: use GET\n");
	} else if (!strcmp(url, "/metrics") || !strcmp(url, "/stats/prometheus")) {
		a->type = prom_negotiate(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept"), &om);
		report_metrics(srv->d, a->out, om);
	} else {
		a->code = MHD_HTTP_NOT_FOUND;
		fprintf(a->out, "not found: %s\n", url);
	}
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct answer a = { .code = MHD_HTTP_OK, .type = "text/plain; charset=utf-8" };
	char *body = NULL;
	size_t len = 0;

	(void)version;
	(void)upload_data;
	if (!*con_cls) {
		/* the header is complete: the deadline is met; answer once any body is read */
		if (conn_hconn(conn))
			wait_unlink(srv, conn_hconn(conn));
		*con_cls = &req_seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;	/* no endpoint reads a body */
		return MHD_YES;
	}
	a.out = open_memstream(&body, &len);
	if (!a.out)
		return MHD_NO;
	if (srv->kind == SRV_ADMIN)
		answer_admin(srv, conn, url, method, &a);
	else if (srv->kind == SRV_READY)
		answer_ready(srv, url, method, &a);
	else
		answer_metrics(srv, conn, url, method, &a);
	if (fclose(a.out) != 0) {
		free(body);
		return MHD_NO;
	}
	if (a.quit)
		*con_cls = &req_quit;
	return respond(conn, &a, body, len);
}

static void http_ready(struct loop_src *src, uint32_t events)
{
	(void)events;
	http_dispatch(src->ctx, src);
}

static long timer_next(void *ctx)
{
	return http_timeout_ms(ctx);
}

/* no event: overdue requests, and servers whose own timeout (an idle client) is due */
static void timer_run(void *ctx)
{
	http_dispatch(ctx, NULL);
}

/* 0, or -errno with err saying why. */
static int start_one(struct daemon *d, enum srv_kind kind, const struct http_addr *a,
		     struct ze_err *err)
{
	const union MHD_DaemonInfo *info;
	struct http_server *srv;
	char host[INET6_ADDRSTRLEN];
	unsigned flags = MHD_USE_EPOLL | (a->family == AF_INET6 ? MHD_USE_IPv6 : 0);
	int e;

	if (!a->enabled)
		return 0;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return ze_fail(err, -ENOMEM, "out of memory");
	srv->d = d;
	srv->kind = kind;
	errno = 0;
	srv->sd = sd_open_lookup();
	if (!srv->sd)
		log_line(LOG_WARN, T_EMU, "%s: no sock_diag (%s): HTTP clients are limited per address",
			 srv_what[kind], strerror(errno));
	srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, srv, MHD_OPTION_SOCK_ADDR, &a->sa,
				    MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_SECONDS,
				    MHD_OPTION_CONNECTION_LIMIT, HTTP_MAX_CONNS,
				    MHD_OPTION_NOTIFY_CONNECTION, notify_conn, srv,
				    MHD_OPTION_NOTIFY_COMPLETED, notify_done, srv, MHD_OPTION_END);
	if (!srv->mhd) {
		e = errno;
		if (srv->sd)
			mnl_socket_close(srv->sd);
		free(srv);
		return ze_fail(err, e ? -e : -EIO, "cannot serve %s on %s: %s", srv_what[kind],
				  a->text, e ? strerror(e) : "libmicrohttpd failed to start");
	}
	d->http[kind] = srv;
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	srv->ev.fd = info ? info->epoll_fd : -1;
	e = srv->ev.fd < 0 ? -EBADF : loop_watch(&d->loop, &srv->ev, EPOLLIN, http_ready, d);
	if (e)
		return ze_fail(err, e, "cannot watch the %s server: %s", srv_what[kind], strerror(-e));
	/* with port 0 the kernel chose: show the real one */
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	inet_ntop(a->family,
		  a->family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)&a->sa)->sin6_addr :
					  (const void *)&((const struct sockaddr_in *)&a->sa)->sin_addr,
		  host, sizeof(host));
	snprintf(srv->addr, sizeof(srv->addr), a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
		 info ? info->port : 0);
	log_line(LOG_INFO, T_HYPER, "listener established address=%s component=\"%s\"", srv->addr,
		 srv_component[kind]);
	log_line(LOG_INFO, T_EMU, "serving %s on http://%s%s", srv_what[kind], srv->addr,
		 srv_what[kind]);
	return 0;
}

int http_start(struct daemon *d, struct ze_err *e)
{
	int ret = start_one(d, SRV_ADMIN, &d->cfg.admin, e);

	if (!ret)
		ret = start_one(d, SRV_READY, &d->cfg.ready, e);
	if (!ret)
		ret = start_one(d, SRV_METRICS, &d->cfg.metrics, e);
	if (ret) {
		http_stop(d);
		return ret;
	}
	loop_add_timer(&d->loop, &d->http_timer, timer_next, timer_run, d);
	return 0;
}

void http_dispatch(struct daemon *d, struct loop_src *src)
{
	MHD_UNSIGNED_LONG_LONG t;
	size_t i;

	if (src) {
		MHD_run(container_of(src, struct http_server, ev)->mhd);
		return;
	}
	/* no event: overdue requests, and servers whose own timeout (an idle client) is due */
	for (i = 0; i < 3; i++) {
		if (!d->http[i])
			continue;
		expire(d->http[i]);
		if (MHD_get_timeout(d->http[i]->mhd, &t) == MHD_YES && t == 0)
			MHD_run(d->http[i]->mhd);
	}
}

long http_timeout_ms(const struct daemon *d)
{
	MHD_UNSIGNED_LONG_LONG t;
	long ms = -1;
	size_t i;

	for (i = 0; i < 3; i++) {
		if (d->http[i] && d->http[i]->wait_head) {
			long w = ms_until(&d->http[i]->wait_head->deadline);

			if (ms < 0 || w < ms)
				ms = w;
		}
		if (!d->http[i] || MHD_get_timeout(d->http[i]->mhd, &t) != MHD_YES)
			continue;
		if (t > (MHD_UNSIGNED_LONG_LONG)86400000)
			t = 86400000;
		if (ms < 0 || (long)t < ms)
			ms = (long)t;
	}
	return ms;
}

void http_log_drained(const struct daemon *d)
{
	size_t i;

	for (i = 0; i < 3; i++)
		if (d->http[i])
			log_line(LOG_INFO, T_HYPER, "listener drained address=%s component=\"%s\"",
				 d->http[i]->addr, srv_component[d->http[i]->kind]);
}

void http_stop(struct daemon *d)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!d->http[i])
			continue;
		MHD_stop_daemon(d->http[i]->mhd);
		/* MHD notified every close; anything left would be a leak */
		while (d->http[i]->conns) {
			struct hconn *h = d->http[i]->conns;

			d->http[i]->conns = h->next;
			free(h);
		}
		if (d->http[i]->sd)
			mnl_socket_close(d->http[i]->sd);
		free(d->http[i]);
		d->http[i] = NULL;
	}
}
