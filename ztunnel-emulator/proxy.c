/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The privileged half of a pod's proxy: the one visit to the pod's netns,
 * listener options, bind/listen at home, sock_diag confirmation, lo check.
 * Never keeps the daemon in a pod's netns; never touches ZDS connections.
 * Interface: proxy.h (replaced by tests/fuzz/proxy_stub.c in the fuzzer).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "dns/server.h"
#include "fmt.h"
#include "ifflags.h"
#include "listeners.h"
#include "log.h"
#include "netns.h"
#include "nl.h"
#include "proxy.h"
#include "sockdiag.h"

/*
 * The one fatal error: a daemon that cannot get back to its own netns would
 * create every later socket in a pod. ztunnel panics here; we log the same
 * line and fail the loop, which stops after the running callback, and main
 * removes the socket file and exits 1. What was made in the pod stays valid
 * (a socket belongs to the netns it was created in): callers go on as usual.
 */
static void return_home(struct daemon *d)
{
	int ret = netns_return(d->own_netns_fd, &d->own_netns);

	if (ret) {
		log_line(LOG_ERROR, T_EMU, "failed to return to the daemon's own network namespace: %s; exiting",
			 strerror(-ret));
		/*
		 * A relay thread (an HBONE stream's upstream socket) cannot stop the
		 * main loop, and must not go on in the pod: it ends the daemon now.
		 */
		if (gettid() != getpid()) {
			log_flush(1);
			abort();
		}
		loop_fail(&d->loop, 1);
	}
}

int pod_socket(struct daemon *d, struct pod *p, int family, int type)
{
	int fd, ret = netns_enter(p->netns_fd);

	if (ret)
		return ret;
	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ret = fd < 0 ? -errno : fd;
	return_home(d);
	return ret;
}

/*
 * ztunnel sets TCP_NODELAY on every connection it accepts (socket.rs
 * Listener::accept) or opens (proxy.rs setup_socket), and its SocketConfig's
 * keepalive on those it opens and those its 15001 and 15006 listeners
 * accept: first probe after 180 s idle, then every 180 s, 9 unanswered end
 * it (config.rs defaults; TCP_USER_TIMEOUT is off by default).
 */
#define KEEPALIVE_TIME_S 180
#define KEEPALIVE_INTERVAL_S 180
#define KEEPALIVE_RETRIES 9

void tcp_conn_options(int fd, bool keepalive)
{
	int one = 1, idle = KEEPALIVE_TIME_S, intvl = KEEPALIVE_INTERVAL_S, cnt = KEEPALIVE_RETRIES;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!keepalive)
		return;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

int pod_tcp_socket(struct daemon *d, struct pod *p, int family)
{
	int fd = pod_socket(d, p, family, SOCK_STREAM);

	if (fd < 0)
		return fd;
	/* 0x539: the in-pod rules let ztunnel's own traffic through */
	if (d->cfg.mark)
		setsockopt(fd, SOL_SOCKET, SO_MARK, &d->cfg.mark, sizeof(d->cfg.mark));
	tcp_conn_options(fd, true);
	return fd;
}

static void warn_lo_down(const struct daemon *d, const struct pod *p)
{
	struct netns_id id;
	struct stat st;
	char path[PATH_MAX], u[400];
	const char *ns = "NETNS";

	/* Name the netns in the fix when the pod's name is its /run/netns entry. */
	if (snprintf(path, sizeof(path), "/run/netns/%s", p->name) < (int)sizeof(path) &&
	    !strchr(p->name, '/') && stat(path, &st) == 0) {
		id.dev = st.st_dev;
		id.ino = st.st_ino;
		if (netns_id_eq(&id, &p->nsid))
			ns = p->name;
	}
	log_line(LOG_WARN, T_SM,
		 "pod %s: loopback interface lo is down in its network namespace; listeners on %s are unreachable (fix: ip -n %s link set lo up)",
		 uid_text(u, sizeof(u), p->uid, p->uid_len), d->cfg.addr_text, ns);
}

/* Socket options of a listener, as ztunnel sets them, before bind. */
static int listener_options(const struct config *cfg, const struct listener_spec *spec, int fd)
{
	int one = 1, zero = 0;

	if (cfg->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &cfg->mark, sizeof(cfg->mark)) < 0)
		return -errno;
	/* SO_REUSEADDR as Go/tokio listeners set it: a re-added pod may rebind at once */
	if (spec->socktype == SOCK_STREAM &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	if (cfg->port_reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		return -errno;
	/* [::] listeners take IPv4 too (dual-stack), as ztunnel's */
	if (spec->family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
		return -errno;
	return 0;
}

static socklen_t spec_sockaddr(const struct listener_spec *spec, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (spec->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = spec->addr.v6;
		s6->sin6_port = htons(spec->port);
		return sizeof(*s6);
	}
	((struct sockaddr_in *)ss)->sin_family = AF_INET;
	((struct sockaddr_in *)ss)->sin_addr = spec->addr.v4;
	((struct sockaddr_in *)ss)->sin_port = htons(spec->port);
	return sizeof(struct sockaddr_in);
}

/*
 * Asks the kernel, through sock_diag in the pod's netns, whether every
 * listener is there: the ack then states a fact the kernel confirmed. One
 * exact lookup per listener (no dump: a dump walks the whole host's socket
 * tables, whatever the netns), all of them sent in one datagram and their
 * answers read by one recvmmsg() (issue 18: 14 syscalls of an ambient Add
 * become 2).
 */
struct inode_seen {
	uint32_t inode;
	bool found;
};

static int is_inode(const struct sd_sock *s, void *data)
{
	struct inode_seen *w = data;

	w->found = s->inode == w->inode;
	return w->found;	/* found: stop the dump */
}

/*
 * The exact lookup gives one socket per address; a co-owner of the port
 * (SO_REUSEPORT: the old ztunnel of an upgrade) may be the one it gives.
 * Then a dump of the port's protocol in the pod says whether ours is there.
 */
static int seen_in_dump(struct mnl_socket *sd, const struct listener_spec *spec, uint32_t inode)
{
	struct inode_seen w = { inode, false };
	bool tcp = spec->socktype == SOCK_STREAM;
	int ret = sd_dump(sd, spec->family, tcp ? IPPROTO_TCP : IPPROTO_UDP,
			  tcp ? 1u << TCP_LISTEN : ~0u, is_inode, &w);

	return ret ? ret : w.found ? 0 : -ENOENT;
}

/* The first listener (in order) the answers deny, worded; 0 when all are there. */
static int confirm_answers(struct mnl_socket *sd, const struct pod *p, const uint32_t *inodes,
			   const struct sd_query *q, char *err, size_t errlen)
{
	size_t i;
	int ret;

	for (i = 0; i < p->nlisteners; i++) {
		const struct listener_spec *spec = p->listeners[i].spec;

		ret = q[i].err;
		if (!ret && q[i].inode != inodes[i])
			ret = seen_in_dump(sd, spec, inodes[i]);
		if (ret == -ENOENT) {
			snprintf(err, errlen, "listener %s is not visible in the pod network namespace (sock_diag)",
				 spec->addr_text);
			return -ENOENT;
		}
		if (ret) {
			snprintf(err, errlen, "sock_diag in the pod network namespace failed: %s",
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

_Static_assert(POD_MAX_LISTENERS <= SD_BATCH_MAX, "a pod's listeners fit one sock_diag batch");

/* All the pod's listeners looked up in one exchange (sd_lookup_batch), then judged in order. */
static int confirm_listeners(struct mnl_socket *sd, const struct pod *p, char *err, size_t errlen)
{
	struct sd_query q[POD_MAX_LISTENERS];
	uint32_t inodes[POD_MAX_LISTENERS];
	struct stat st;
	size_t i;
	int ret;

	for (i = 0; i < p->nlisteners; i++) {
		const struct listener_spec *spec = p->listeners[i].spec;

		if (fstat(p->listeners[i].ev.fd, &st) < 0)
			return -errno;
		inodes[i] = (uint32_t)st.st_ino;
		q[i].protocol = spec->socktype == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
		spec_sockaddr(spec, &q[i].local);
	}
	ret = sd_lookup_batch(sd, q, p->nlisteners);
	if (ret) {
		snprintf(err, errlen, "sock_diag in the pod network namespace failed: %s", strerror(-ret));
		return ret;
	}
	return confirm_answers(sd, p, inodes, q, err, errlen);
}

/*
 * Options, bind and listen at home for the sockets made in the pod (fds[i]
 * >= 0): 0, or -errno with err saying why. An optional listener whose
 * address the pod lacks is closed and left out (-1).
 */
static int bind_listeners(const struct config *cfg, int *fds, char *err, size_t errlen)
{
	char oserr[128];
	size_t i;
	int ret;

	for (i = 0; i < cfg->nspecs; i++) {
		const struct listener_spec *spec = &cfg->specs[i];
		struct sockaddr_storage ss;
		socklen_t sl = spec_sockaddr(spec, &ss);

		if (fds[i] < 0)
			continue;
		ret = listener_options(cfg, spec, fds[i]);
		if (ret) {
			os_error(oserr, sizeof(oserr), -ret);
			snprintf(err, errlen, "failed to set socket options for %s: %s", spec->addr_text, oserr);
			return ret;
		}
		if (bind(fds[i], (struct sockaddr *)&ss, sl) < 0) {
			ret = -errno;
			if (spec->optional && ret == -EADDRNOTAVAIL) {
				close(fds[i]);
				fds[i] = -1;
				continue;
			}
			os_error(oserr, sizeof(oserr), -ret);
			snprintf(err, errlen, "failed to bind to address %s: %s", spec->addr_text, oserr);
			return ret;
		}
		if (spec->socktype == SOCK_STREAM && listen(fds[i], cfg->backlog) < 0) {
			ret = -errno;
			os_error(oserr, sizeof(oserr), -ret);
			snprintf(err, errlen, "failed to listen on %s: %s", spec->addr_text, oserr);
			return ret;
		}
	}
	return 0;
}

/*
 * The confirm's netlink socket is closed after the ack, with the loop turn's
 * deferred frees: the kernel's release of a netlink socket took ~3 us of
 * the ambient Add, and the ack does not depend on it.
 */
struct sd_closing {
	struct loop_deferred dd;
	struct mnl_socket *sd;
};

static void sd_close_now(struct loop_deferred *dd)
{
	struct sd_closing *c = container_of(dd, struct sd_closing, dd);

	nl_close(c->sd);
	free(c);
}

static void sd_close_after_ack(struct daemon *d, struct mnl_socket *sd)
{
	struct sd_closing *c;

	if (!sd)
		return;
	c = malloc(sizeof(*c));
	if (!c) {
		nl_close(sd);
		return;
	}
	c->sd = sd;
	loop_defer_free(&d->loop, &c->dd, sd_close_now);
}

/*
 * Creates the pod's listeners inside its netns. Only socket() needs to run
 * there (a socket belongs to the netns it was created in), so all of them
 * plus the sock_diag socket (the ambient set's confirm) are made in one
 * visit; bind/listen and the lo check happen at home. On failure nothing
 * is left behind and err says why.
 */
int proxy_start(struct daemon *d, struct pod *p, char *err, size_t errlen)
{
	const struct config *cfg = &d->cfg;
	struct mnl_socket *sd = NULL;
	int fds[POD_MAX_LISTENERS], ret = 0, saved = 0;
	char oserr[128];
	bool lo_up = true;
	size_t i, n = cfg->nspecs;

	for (i = 0; i < n; i++)
		fds[i] = -1;

	ret = netns_enter(p->netns_fd);
	if (ret) {
		os_error(oserr, sizeof(oserr), -ret);
		/* libcap said yes at start: EPERM here means the netns's user namespace says no */
		snprintf(err, errlen, "failed to enter the pod network namespace: %s%s", oserr,
			 ret == -EPERM ? " (the daemon lacks CAP_SYS_ADMIN over that namespace's owner)" : "");
		return ret;
	}
	for (i = 0; i < n && !saved; i++) {
		fds[i] = socket(cfg->specs[i].family,
				cfg->specs[i].socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		/* no IPv6 in the pod: an optional [::1] listener is simply not made */
		if (fds[i] < 0 && !(cfg->specs[i].optional && errno == EAFNOSUPPORT))
			saved = errno;
	}
	if (!saved && cfg->confirm && !(sd = sd_open_lookup()))
		saved = errno;
	return_home(d);

	if (saved) {
		os_error(oserr, sizeof(oserr), saved);
		snprintf(err, errlen, "failed to create a socket in the pod network namespace: %s", oserr);
		ret = -saved;
		goto fail;
	}

	dns_pod_starting(d, p);	/* ztunnel logs it before binding */
	ret = bind_listeners(cfg, fds, err, errlen);
	if (ret)
		goto fail;

	/* the made ones, in order, become the pod's listeners */
	ret = pod_take_listeners(d, p, fds, err, errlen);
	if (ret)
		goto fail;
	if (sd) {
		ret = confirm_listeners(sd, p, err, errlen);
		if (ret) {
			listeners_close(p);
			goto fail;
		}
	}

	/*
	 * lo, asked through one of the pod's own listeners (ifflags.c): at home,
	 * no rtnetlink socket made in the visit (issue 18: 13 of 75 us went there)
	 */
	if (p->nlisteners) {
		ret = if_is_up(p->listeners[0].ev.fd, "lo", &lo_up);
		if (ret)
			log_line(LOG_WARN, T_EMU, "cannot read the state of lo in the pod netns: %s",
				 strerror(-ret));
	}
	/* the DNS sockets have ztunnel's one "starting local DNS server" line instead (dns.md) */
	for (i = 0; i < p->nlisteners; i++)
		if (p->listeners[i].spec->role != ROLE_DNS)
			log_line(LOG_INFO, p->listeners[i].spec->target,
				 "listener established address=%s component=\"%s\" transparent=%s",
				 p->listeners[i].spec->addr_text, p->listeners[i].spec->component,
				 p->listeners[i].transparent ? "true" : "false");
	if (!lo_up && d->cfg.loopback)
		warn_lo_down(d, p);
	clock_gettime(CLOCK_REALTIME, &p->started);
	ret = 0;
	goto out;

fail:
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (!ret)
		ret = -EIO;
out:
	sd_close_after_ack(d, sd);
	return ret;
}
