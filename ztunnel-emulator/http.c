/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's HTTP endpoints, as real ztunnel exposes them: admin
 * (config_dump), readiness and Prometheus metrics. libmicrohttpd runs in its
 * external-epoll mode: its epoll fd sits in the daemon's own loop, so the
 * handlers read the pod table from the same thread, with no locking, and a
 * slow HTTP client cannot hold up ZDS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "cli.h"
#include "daemon.h"
#include "log.h"

enum srv_kind { SRV_ADMIN, SRV_READY, SRV_METRICS };

struct http_server {
	struct ev_src ev;	/* EV_HTTP; fd is libmicrohttpd's epoll fd */
	struct MHD_Daemon *mhd;
	struct daemon *d;
	enum srv_kind kind;
};

int http_parse_addr(const char *text, struct http_addr *a)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *h = text;
	size_t hl;
	char *end;
	long port;

	memset(a, 0, sizeof(*a));
	if (!strcmp(text, "none"))
		return 0;
	if (*text == '[') {
		/* [v6]:port */
		colon = strstr(text, "]:");
		if (!colon)
			return -EINVAL;
		h = text + 1;
		hl = (size_t)(colon - h);
		colon++;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - text);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&a->sa)->sin_addr) == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		a->family = AF_INET;
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&a->sa)->sin6_addr) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		a->family = AF_INET6;
	} else {
		return -EINVAL;
	}
	snprintf(a->text, sizeof(a->text), "%s", text);
	a->enabled = true;
	return 0;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned code, const char *type,
			       char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	const struct http_server *srv = cls;
	const char *type = "text/plain; charset=utf-8";
	unsigned code = MHD_HTTP_OK;
	char *body = NULL;
	size_t len = 0;
	FILE *out;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	out = open_memstream(&body, &len);
	if (!out)
		return MHD_NO;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		code = MHD_HTTP_METHOD_NOT_ALLOWED;
		fprintf(out, "method not allowed: use GET\n");
	} else if (srv->kind == SRV_ADMIN && !strcmp(url, "/config_dump")) {
		type = "application/json";
		report_config_dump(srv->d, out);
	} else if (srv->kind == SRV_ADMIN && !strcmp(url, "/")) {
		fprintf(out, "ztunnel-emulator admin\n  /config_dump  daemon config and every pod (JSON)\n");
	} else if (srv->kind == SRV_READY && !strcmp(url, "/healthz/ready")) {
		if (!report_ready(srv->d, out))
			code = MHD_HTTP_SERVICE_UNAVAILABLE;
	} else if (srv->kind == SRV_METRICS &&
		   (!strcmp(url, "/metrics") || !strcmp(url, "/stats/prometheus"))) {
		type = "text/plain; version=0.0.4; charset=utf-8";
		report_metrics(srv->d, out);
	} else {
		code = MHD_HTTP_NOT_FOUND;
		fprintf(out, "not found: %s\n", url);
	}
	if (fclose(out) != 0) {
		free(body);
		return MHD_NO;
	}
	return respond(conn, code, type, body, len);
}

static const char *const srv_what[] = {
	[SRV_ADMIN] = "/config_dump",
	[SRV_READY] = "/healthz/ready",
	[SRV_METRICS] = "/metrics",
};

static int start_one(struct daemon *d, enum srv_kind kind, const struct http_addr *a)
{
	const union MHD_DaemonInfo *info;
	struct http_server *srv;
	struct epoll_event ev;
	char shown[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN];
	unsigned flags = MHD_USE_EPOLL | (a->family == AF_INET6 ? MHD_USE_IPv6 : 0);
	int e;

	if (!a->enabled)
		return 0;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return cli_err("out of memory"), -1;
	srv->d = d;
	srv->kind = kind;
	srv->ev.kind = EV_HTTP;
	errno = 0;
	srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, srv, MHD_OPTION_SOCK_ADDR, &a->sa,
				    MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_LIMIT, 64u,
				    MHD_OPTION_END);
	if (!srv->mhd) {
		e = errno;
		free(srv);
		cli_err("cannot serve %s on %s: %s", srv_what[kind], a->text,
			e ? strerror(e) : "libmicrohttpd failed to start");
		return -1;
	}
	d->http[kind] = srv;
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	srv->ev.fd = info ? info->epoll_fd : -1;
	ev.events = EPOLLIN;
	ev.data.ptr = &srv->ev;
	if (srv->ev.fd < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, srv->ev.fd, &ev) < 0) {
		cli_err("cannot watch the %s server: %s", srv_what[kind], strerror(errno));
		return -1;
	}
	/* with port 0 the kernel chose: show the real one */
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	inet_ntop(a->family,
		  a->family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)&a->sa)->sin6_addr :
					  (const void *)&((const struct sockaddr_in *)&a->sa)->sin_addr,
		  host, sizeof(host));
	snprintf(shown, sizeof(shown), a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
		 info ? info->port : 0);
	log_line(LOG_INFO, T_EMU, "serving %s on http://%s%s", srv_what[kind], shown, srv_what[kind]);
	return 0;
}

int http_start(struct daemon *d)
{
	if (start_one(d, SRV_ADMIN, &d->cfg.admin) < 0 ||
	    start_one(d, SRV_READY, &d->cfg.ready) < 0 ||
	    start_one(d, SRV_METRICS, &d->cfg.metrics) < 0) {
		http_stop(d);
		return -1;
	}
	return 0;
}

void http_dispatch(struct daemon *d, struct ev_src *src)
{
	MHD_UNSIGNED_LONG_LONG t;
	size_t i;

	if (src) {
		MHD_run(((struct http_server *)src)->mhd);
		return;
	}
	/* no event: only servers whose own timeout (an idle client) is due */
	for (i = 0; i < 3; i++)
		if (d->http[i] && MHD_get_timeout(d->http[i]->mhd, &t) == MHD_YES && t == 0)
			MHD_run(d->http[i]->mhd);
}

long http_timeout_ms(const struct daemon *d)
{
	MHD_UNSIGNED_LONG_LONG t;
	long ms = -1;
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!d->http[i] || MHD_get_timeout(d->http[i]->mhd, &t) != MHD_YES)
			continue;
		if (t > (MHD_UNSIGNED_LONG_LONG)86400000)
			t = 86400000;
		if (ms < 0 || (long)t < ms)
			ms = (long)t;
	}
	return ms;
}

void http_stop(struct daemon *d)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!d->http[i])
			continue;
		MHD_stop_daemon(d->http[i]->mhd);
		free(d->http[i]);
		d->http[i] = NULL;
	}
}
