/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bookkeeping half of a pod's listeners: onto the loop, off it, and
 * accepting (faults.md 16, 20). Never enters a netns and never binds:
 * proxy.c (or the fuzzer's stub) makes the sockets. Interface: listeners.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "dns/server.h"
#include "hbone/hbone.h"
#include "listeners.h"
#include "log.h"
#include "proxy.h"

void listeners_close(struct pod *p)
{
	size_t i;

	for (i = 0; i < POD_MAX_LISTENERS; i++) {
		if (p->listeners[i].ev.fd >= 0)
			close(p->listeners[i].ev.fd);
		p->listeners[i].ev.fd = -1;
	}
	p->nlisteners = 0;
}

/* IP_TRANSPARENT is best-effort (it needs CAP_NET_RAW or CAP_NET_ADMIN), as in ztunnel. */
static bool set_transparent(const struct listener_spec *spec, int fd)
{
	int one = 1;

	if (spec->family == AF_INET6)
		return setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)) == 0;
	return setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) == 0;
}

/*
 * See listeners.h. On failure the pod's listeners are closed and what is left in
 * fds is the caller's. The fuzzer's stand-in for proxy_start uses it too.
 */
static void listener_ready(struct loop_src *src, uint32_t events)
{
	(void)events;
	listener_accept(src->ctx, container_of(src, struct listener, ev));
}

int pod_take_listeners(struct daemon *d, struct pod *p, int *fds, char *err, size_t errlen)
{
	const struct config *cfg = &d->cfg;
	size_t i, k;
	int ret;

	for (i = 0, k = 0; i < cfg->nspecs; i++) {
		struct listener *l;

		if (fds[i] < 0)
			continue;
		l = &p->listeners[k++];
		l->spec = &cfg->specs[i];
		l->ev.fd = fds[i];
		/* the proxies are transparent; the DNS server is not */
		l->transparent = cfg->transparent && l->spec->role != ROLE_DNS &&
				 l->spec->role != ROLE_SOCKS5 && set_transparent(l->spec, fds[i]);
		fds[i] = -1;
		ret = loop_watch(&d->loop, &l->ev, EPOLLIN, listener_ready, d);
		if (ret) {
			snprintf(err, errlen, "failed to watch listener: %s", strerror(-ret));
			p->nlisteners = k;
			listeners_close(p);
			return ret;
		}
	}
	p->nlisteners = k;
	return 0;
}

/*
 * accept4() that cannot spin: out of fds, a pending connection would keep a
 * level-triggered listener readable forever, so give up the spare fd, take
 * the connection and drop it, then take the spare back. -errno on failure.
 */
int accept_or_drop(struct daemon *d, int lfd, int flags)
{
	/* a burst over the limit would log a line per connection (faults.md 20) */
	static struct log_limit limit = LOG_LIMIT_INIT(10, 5);
	int fd = accept4(lfd, NULL, NULL, flags);

	if (fd >= 0)
		return fd;
	if ((errno == EMFILE || errno == ENFILE) && d->spare_fd >= 0) {
		close(d->spare_fd);
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		log_limited(&limit, LOG_WARN, T_EMU,
			    "out of file descriptors: dropped a new connection (open-file limit %zu)",
			    d->fd_limit);
		return -EMFILE;
	}
	return -errno;
}

/*
 * Empties the accept queue (ztunnel's backlog is 128: a burst overflows it
 * while the loop is busy, and the kernel then resets some of the burst,
 * faults.md 16), at most ACCEPT_BATCH per wake-up so other work still gets
 * its turn. relay_start() only queues: the upstream connects come later.
 */
#define ACCEPT_BATCH 256
void listener_accept(struct daemon *d, struct listener *l)
{
	int fd, n;

	if (l->spec->socktype == SOCK_DGRAM) {
		dns_udp_ready(d, l);	/* the only UDP listener is DNS's */
		return;
	}
	for (n = 0; n < ACCEPT_BATCH; n++) {
		fd = accept_or_drop(d, l->ev.fd, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		l->accepted++;
		if (d->cfg.relay || l->spec->role == ROLE_DNS)
			tcp_conn_options(fd, l->spec->role == ROLE_OUTBOUND || l->spec->role == ROLE_PLAINTEXT);
		if (d->cfg.relay && l->spec->role == ROLE_OUTBOUND && hbone_outbound(d, l, fd))
			continue;	/* to an enrolled pod: over HBONE */
		if (d->cfg.relay && (l->spec->role == ROLE_OUTBOUND || l->spec->role == ROLE_PLAINTEXT))
			relay_start(d, l, fd);
		else if (l->spec->role == ROLE_DNS && d->dns)
			dns_tcp_accept(d, l, fd);
		else if (d->cfg.relay && l->spec->role == ROLE_HBONE)
			hbone_accept(d, l, fd);
		else
			close(fd);	/* accepting proves the listener; nothing to relay */
	}
	relay_check_overflow(d, l);
}
