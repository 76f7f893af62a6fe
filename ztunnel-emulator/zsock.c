/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ZDS socket file: made without following symlinks in a directory only
 * root or the daemon controls (faults.md 1, 15), then watched: a socket
 * removed or replaced under the daemon makes it not ready and is re-created
 * (faults.md 14). The istio-cni agent finds ztunnel only through this path,
 * so a daemon whose path is gone serves nobody new while looking healthy.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "sockpath.h"

#define WATCH_INTERVAL_MS 1000
#define LISTEN_BACKLOG 128

/* The listening socket, or -errno with why; *dir_refused for the --insecure-socket-dir hint. */
static int make_socket(struct daemon *d, bool *dir_refused, char *why, size_t cap)
{
	char warn[512];
	int dirfd, fd;

	*dir_refused = false;
	dirfd = sockpath_open_dir(&d->sock, d->cfg.insecure_socket_dir, warn, sizeof(warn));
	if (dirfd < 0) {
		*dir_refused = dirfd == -EPERM;
		snprintf(why, cap, "%s", warn);
		return dirfd;
	}
	if (warn[0])
		log_line(LOG_WARN, T_EMU,
			 "%s; using it anyway because of --insecure-socket-dir: the pods' netns fds can be stolen",
			 warn);
	fd = sockpath_claim(dirfd, &d->sock, why, cap);
	if (fd == 1)
		log_line(LOG_INFO, T_EMU, "removed stale socket %s", d->sock.path);
	if (fd >= 0)
		fd = sockpath_listen(&d->sock, dirfd, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
				     d->cfg.socket_mode, d->cfg.socket_gid, LISTEN_BACKLOG, why, cap);
	close(dirfd);
	return fd;
}

static void schedule_check(struct daemon *d)
{
	clock_gettime(CLOCK_MONOTONIC, &d->sock_next_check);
	d->sock_next_check.tv_sec += WATCH_INTERVAL_MS / 1000;
}

static long timer_next(void *ctx)
{
	const struct daemon *d = ctx;

	/* draining: the socket is closed and removed for good */
	return d->drain ? -1 : zsock_timeout_ms(ctx);
}

static void timer_run(void *ctx)
{
	zsock_watch(ctx);
}

int zsock_setup(struct daemon *d, struct ze_err *e)
{
	char why[1024];
	bool dir_refused;
	int fd;

	fd = sockpath_init(&d->sock, d->cfg.socket_path, why, sizeof(why));
	if (fd < 0)
		return ze_fail(e, fd, "%s", why);
	fd = make_socket(d, &dir_refused, why, sizeof(why));
	if (fd < 0)
		return ze_fail(e, fd, "%s%s", why,
				  dir_refused ? " (--insecure-socket-dir to use it anyway)" : "");
	d->server.fd = fd;
	log_line(LOG_INFO, T_EMU, "ZDS socket %s (mode %04o%s)", d->sock.path,
		 (unsigned)d->cfg.socket_mode, d->cfg.recreate_socket ? ", re-created if removed" : "");
	schedule_check(d);
	loop_add_timer(&d->loop, &d->sock_timer, timer_next, timer_run, d);
	return 0;
}

long zsock_timeout_ms(const struct daemon *d)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (d->sock_next_check.tv_sec - now.tv_sec) * 1000 +
	     (d->sock_next_check.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms;
}

/* A new socket at the path takes the lost one's place in the loop. */
static void recreate(struct daemon *d)
{
	static struct log_limit lim = LOG_LIMIT_INIT(60, 1);
	char why[1024];
	bool dir_refused;
	int fd, ret;

	fd = make_socket(d, &dir_refused, why, sizeof(why));
	if (fd >= 0) {
		/* watched under the same source as the lost one, which stays until this worked */
		int old = d->server.fd;

		d->server.fd = fd;
		ret = loop_watch(&d->loop, &d->server, EPOLLIN, d->server.cb, d->server.ctx);
		d->server.fd = old;
		if (ret) {
			snprintf(why, sizeof(why), "epoll_ctl: %s", strerror(-ret));
			close(fd);
			sockpath_remove(&d->sock);
			fd = -1;
		}
	}
	if (fd < 0) {
		/* capabilities are dropped after start-up: CAP_CHOWN would be almost all of root */
		log_limited(&lim, LOG_ERROR, T_EMU, "cannot re-create the ZDS socket: %s%s; retrying every %d s",
			    why, fd == -EPERM && !dir_refused && d->cfg.socket_gid != (gid_t)-1 ?
			    " (without CAP_CHOWN only a group the daemon is in can be set: restart it)" : "",
			    WATCH_INTERVAL_MS / 1000);
		return;
	}
	/* connections still queued on the old socket are reset; accepted ones stay */
	close(d->server.fd);
	d->server.fd = fd;
	d->sock_lost[0] = '\0';
	log_line(LOG_INFO, T_EMU, "re-created the ZDS socket %s", d->sock.path);
}

void zsock_watch(struct daemon *d)
{
	struct timespec now;
	int ret;

	if (d->drain)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < d->sock_next_check.tv_sec ||
	    (now.tv_sec == d->sock_next_check.tv_sec && now.tv_nsec < d->sock_next_check.tv_nsec))
		return;
	schedule_check(d);
	if (!d->sock_lost[0]) {
		ret = sockpath_check(&d->sock);
		if (!ret)
			return;
		snprintf(d->sock_lost, sizeof(d->sock_lost), "ZDS socket %s %s%s", d->sock.path,
			 ret == -ENOENT ? "was removed" :
			 ret == -ESTALE ? "was replaced by another file" : "cannot be checked: ",
			 ret == -ENOENT || ret == -ESTALE ? "" : strerror(-ret));
		log_line(LOG_ERROR, T_EMU, "%s: new clients cannot reach the daemon; not ready%s",
			 d->sock_lost, d->cfg.recreate_socket ? ", re-creating it" :
			 " until restarted (--no-recreate-socket)");
	}
	if (d->cfg.recreate_socket)
		recreate(d);
}
