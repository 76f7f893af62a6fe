/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the control socket: HTTP/1.1 on a Unix stream socket, served by
 * libmicrohttpd (loaded by mhd_dl.c) on a listening fd made here
 * (MHD_OPTION_LISTEN_SOCKET).
 * Routes: POST /cmdadd (istio-cni's CNI plugin event), POST /enroll,
 * POST /unenroll, GET /pods. Each request thread parses its body (plugin.c),
 * hands a job to the loop through an eventfd and waits for the loop to
 * answer it, as istio-cni's handler waits for the ztunnel's ack.
 * Never touches: the pod table from a request thread. Interface: agent.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "mhd_dl.h"
#include "plugin.h"

#define BODY_MAX 65536

enum route { R_CMDADD, R_ENROLL, R_UNENROLL, R_PODS };

/* A request on its way through the loop. */
struct cjob {
	struct agent_job job;	/* first: done() gets it back */
	struct list_node node;
	enum route route;
	struct plugin_event ev;
	char pod[PATH_MAX];
	bool finished;
	struct control *ctl;
};

struct control {
	struct agent *a;
	struct MHD_Daemon *mhd;
	struct sockpath sp;
	struct loop_src efd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct list_node queued;	/* struct cjob, for the loop */
	bool stopping;
};

/* Set by control_start() before the server's threads exist; read-only after. */
static const struct mhd_api *mhd;

/* A request's body as it arrives. */
struct upload {
	char *buf;
	size_t len;
	bool too_big;
};

static void job_done(struct agent_job *job)
{
	struct cjob *cj = (struct cjob *)job;

	pthread_mutex_lock(&cj->ctl->mu);
	cj->finished = true;
	pthread_cond_broadcast(&cj->ctl->cv);
	pthread_mutex_unlock(&cj->ctl->mu);
}

static void job_run(struct agent *a, struct cjob *cj)
{
	struct enroll_req r = { 0 };

	cj->job.status = 200;
	switch (cj->route) {
	case R_PODS:
		cj->job.json = apods_json(a);
		cj->job.done(&cj->job);
		return;
	case R_UNENROLL:
		agent_unenroll(a, cj->pod, false, &cj->job);
		return;
	case R_CMDADD:
	case R_ENROLL:
		break;
	}
	r.uid = cj->ev.uid;
	r.name = cj->ev.name;
	r.namespace_ = cj->ev.namespace_;
	r.service_account = cj->ev.service_account;
	r.netns = cj->ev.netns;
	memcpy(r.ips, cj->ev.ips, sizeof(r.ips));
	r.nips = cj->ev.nips;
	agent_enroll(a, &r, &cj->job);
}

/* The loop side: runs the queued jobs. */
static void efd_ready(struct loop_src *src, uint32_t events)
{
	struct control *ctl = src->ctx;
	struct list_node mine;
	struct cjob *cj;
	uint64_t v;

	(void)events;
	if (read(src->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	list_init(&mine);
	pthread_mutex_lock(&ctl->mu);
	while (!list_empty(&ctl->queued)) {
		cj = container_of(ctl->queued.next, struct cjob, node);
		list_del(&cj->node);
		list_add_tail(&mine, &cj->node);
	}
	pthread_mutex_unlock(&ctl->mu);
	while (!list_empty(&mine)) {
		cj = container_of(mine.next, struct cjob, node);
		list_del(&cj->node);
		job_run(ctl->a, cj);
	}
}

/* The request thread side: queue, wake the loop, wait. false when the agent is stopping. */
static bool job_submit(struct control *ctl, struct cjob *cj)
{
	uint64_t one = 1;
	ssize_t n;

	cj->ctl = ctl;
	cj->job.done = job_done;
	pthread_mutex_lock(&ctl->mu);
	if (ctl->stopping) {
		pthread_mutex_unlock(&ctl->mu);
		return false;
	}
	list_add_tail(&ctl->queued, &cj->node);
	n = write(ctl->efd.fd, &one, sizeof(one));
	(void)n;
	while (!cj->finished)
		pthread_cond_wait(&ctl->cv, &ctl->mu);
	pthread_mutex_unlock(&ctl->mu);
	return true;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
			       const char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = mhd->create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	mhd->add_response_header(r, "Content-Type", type);
	ret = mhd->queue_response(conn, status, r);
	mhd->destroy_response(r);
	return ret;
}

/* Parses the body for its route into cj: 0, or -EINVAL with why. */
static int parse_body(struct cjob *cj, const struct upload *u, char *why, size_t cap)
{
	switch (cj->route) {
	case R_CMDADD:
		return plugin_parse_cmdadd(u->buf, u->len, &cj->ev, why, cap);
	case R_ENROLL:
		return plugin_parse_enroll(u->buf, u->len, &cj->ev, why, cap);
	case R_UNENROLL:
		return plugin_parse_unenroll(u->buf, u->len, cj->pod, sizeof(cj->pod), why, cap);
	case R_PODS:
		break;
	}
	return 0;
}

/* The route of url and method: 0, or the HTTP status refusing it. */
static unsigned route_of(const char *url, const char *method, enum route *r)
{
	static const struct { const char *url, *method; enum route r; } routes[] = {
		{ "/cmdadd", "POST", R_CMDADD },
		{ "/enroll", "POST", R_ENROLL },
		{ "/unenroll", "POST", R_UNENROLL },
		{ "/pods", "GET", R_PODS },
	};
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(url, routes[i].url))
			continue;
		*r = routes[i].r;
		return strcmp(method, routes[i].method) ? 405 : 0;
	}
	return 404;
}

static enum MHD_Result serve(struct control *ctl, struct MHD_Connection *conn, const char *url,
			     const char *method, struct upload *u)
{
	struct cjob *cj = calloc(1, sizeof(*cj));
	enum MHD_Result ret;
	unsigned status;
	char why[512];

	if (!cj)
		return MHD_NO;
	status = route_of(url, method, &cj->route);
	if (status)
		ret = respond(conn, status, "text/plain", status == 404 ? "not found\n" :
			      "method not allowed\n");
	else if (u->too_big)
		ret = respond(conn, 413, "text/plain", "body too large\n");
	else if (parse_body(cj, u, why, sizeof(why)) < 0) {
		strcat(why, "\n");
		ret = respond(conn, 400, "text/plain", why);
	} else if (!job_submit(ctl, cj))
		ret = respond(conn, 503, "text/plain", "agent shutting down\n");
	else if (cj->job.json)
		ret = respond(conn, cj->job.status, "application/json", cj->job.json);
	else if (cj->route == R_CMDADD && cj->job.status == 200)
		ret = respond(conn, 200, "text/plain", "");	/* istio-cni's answer to its plugin */
	else
		ret = respond(conn, cj->job.status, "text/plain", cj->job.body);
	free(cj->job.json);
	free(cj);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *data,
			       size_t *data_size, void **con_cls)
{
	struct upload *u = *con_cls;
	char *nb;

	(void)version;
	if (!u) {
		u = calloc(1, sizeof(*u));
		*con_cls = u;
		return u ? MHD_YES : MHD_NO;
	}
	if (*data_size) {
		if (u->len + *data_size > BODY_MAX) {
			u->too_big = true;
		} else if ((nb = realloc(u->buf, u->len + *data_size + 1))) {
			memcpy(nb + u->len, data, *data_size);
			u->buf = nb;
			u->len += *data_size;
		} else {
			return MHD_NO;
		}
		*data_size = 0;
		return MHD_YES;
	}
	return serve(cls, conn, url, method, u);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct upload *u = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (u) {
		free(u->buf);
		free(u);
		*con_cls = NULL;
	}
}

static int listen_control(struct control *ctl, char *why, size_t cap)
{
	int dirfd, fd;

	fd = sockpath_init(&ctl->sp, ctl->a->cfg.control_path, why, cap);
	if (fd < 0)
		return fd;
	dirfd = sockpath_open_dir(&ctl->sp, false, why, cap);
	if (dirfd < 0)
		return dirfd;
	fd = sockpath_claim(dirfd, &ctl->sp, why, cap);
	if (fd >= 0)
		fd = sockpath_listen(&ctl->sp, dirfd, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0600,
				     (gid_t)-1, 64, why, cap);
	close(dirfd);
	return fd;
}

int control_start(struct agent *a, char *why, size_t cap)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	int fd;

	if (!ctl)
		return -ENOMEM;
	mhd = mhd_dl_load(why, cap);
	if (!mhd) {
		free(ctl);
		return -ENOENT;
	}
	ctl->a = a;
	a->control = ctl;
	list_init(&ctl->queued);
	pthread_mutex_init(&ctl->mu, NULL);
	pthread_cond_init(&ctl->cv, NULL);
	ctl->efd.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctl->efd.fd < 0)
		return -errno;
	fd = loop_watch(&a->loop, &ctl->efd, EPOLLIN, efd_ready, ctl);
	if (fd)
		return fd;
	fd = listen_control(ctl, why, cap);
	if (fd < 0)
		return fd;
	/* poll(), not select(): with a pod's netns fd each, the listener is past FD_SETSIZE */
	ctl->mhd = mhd->start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
					     MHD_USE_ITC | MHD_USE_POLL,
				     0, NULL, NULL, handler, ctl, MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, 64U, MHD_OPTION_CONNECTION_TIMEOUT,
				     30U, MHD_OPTION_NOTIFY_COMPLETED, completed, ctl, MHD_OPTION_END);
	if (!ctl->mhd) {
		close(fd);
		sockpath_remove(&ctl->sp);
		snprintf(why, cap, "%s: cannot start the HTTP server", ctl->sp.path);
		return -EIO;
	}
	return 0;
}

/* First half of stopping: no new jobs; queued ones are refused. */
void control_quiesce(struct agent *a)
{
	struct control *ctl = a->control;
	struct cjob *cj;

	if (!ctl)
		return;
	pthread_mutex_lock(&ctl->mu);
	ctl->stopping = true;
	while (!list_empty(&ctl->queued)) {
		cj = container_of(ctl->queued.next, struct cjob, node);
		list_del(&cj->node);
		cj->job.status = 503;
		snprintf(cj->job.body, sizeof(cj->job.body), "agent shutting down\n");
		cj->finished = true;
	}
	pthread_cond_broadcast(&ctl->cv);
	pthread_mutex_unlock(&ctl->mu);
}

/* After every job was answered (server_stop): the HTTP server and its socket go. */
void control_stop(struct agent *a)
{
	struct control *ctl = a->control;

	if (!ctl)
		return;
	control_quiesce(a);
	if (ctl->mhd) {
		mhd->stop_daemon(ctl->mhd);
		sockpath_remove(&ctl->sp);
	}
	if (ctl->efd.fd >= 0)
		close(ctl->efd.fd);
	pthread_mutex_destroy(&ctl->mu);
	pthread_cond_destroy(&ctl->cv);
	free(ctl);
	a->control = NULL;
}
