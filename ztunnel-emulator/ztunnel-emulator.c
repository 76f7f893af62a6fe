/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What is still to be given its own file (issue 11): options, ZDS serving,
 * workload handling, privileges. Interface: daemon.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
#include "caps.h"
#include "clock.h"
#include "cli.h"
#include "daemon.h"
#include "fdpass.h"
#include "fmt.h"
#include "listeners.h"
#include "log.h"
#include "netns.h"
#include "nl.h"
#include "pods.h"
#include "proxy.h"
#include "sockdiag.h"
#include "uds.h"
#include "zds.h"

#define ERRMSG_MAX 512

/* ---- small helpers ----------------------------------------------------- */

/* ---- returning home ---------------------------------------------------- */

/* ---- pods -------------------------------------------------------------- */


/* ---- connections ------------------------------------------------------- */

static void wait_unlink(struct daemon *d, struct conn *c)
{
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else if (d->wait_head == c)
		d->wait_head = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	else if (d->wait_tail == c)
		d->wait_tail = c->wprev;
	c->wprev = c->wnext = NULL;
}

void conn_close(struct daemon *d, struct conn *c, const char *why)
{
	log_line(LOG_INFO, T_WM, "connection from pid=%d uid=%u closed: %s", (int)c->pid,
		 (unsigned)c->uid, why);
	if (!c->got_request)
		wait_unlink(d, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->n_conns--;
	if (!c->privileged)
		d->n_unpriv_conns--;
	close(c->ev.fd);
	c->ev.fd = -1;
	/* freed after the current batch of events, which may still name it */
	c->next = d->dead_conns;
	d->dead_conns = c;
}

void reap(struct daemon *d)
{
	relay_reap(d);
	while (d->dead_conns) {
		struct conn *c = d->dead_conns;

		d->dead_conns = c->next;
		free(c);
	}
	while (d->dead_pods) {
		struct pod *p = d->dead_pods;

		d->dead_pods = p->next;
		pod_free(p);
	}
}

void accept_conn(struct daemon *d)
{
	uint8_t hello[8];
	struct ucred cred = { 0 };
	socklen_t cl = sizeof(cred);
	char why[160];
	enum admit verdict;
	struct conn *c;
	ssize_t n;
	int fd, ret;

	fd = accept_or_drop(d, d->server.fd, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (fd != -EAGAIN && fd != -EINTR && fd != -ECONNABORTED && fd != -EMFILE)
			log_line(LOG_WARN, T_WM, "accept failed: %s", strerror(-fd));
		return;
	}
	d->next_serial++;	/* every stream, served or not */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
		cred.uid = (uid_t)-1;	/* unknown: never allowed */
	verdict = admission_check(d, &cred, why, sizeof(why));
	if (verdict != ADMIT_OK) {
		admission_turn_away(fd, &cred, verdict, why);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_line(LOG_WARN, T_WM, "out of memory accepting a connection");
		close(fd);
		return;
	}
	c->ev.kind = EV_CONN;
	c->ev.fd = fd;
	c->wm.serial = d->next_serial;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->privileged = peer_privileged(cred.uid);
	ret = epoll_add(d, &c->ev);
	if (ret) {
		log_line(LOG_WARN, T_WM, "cannot watch a new connection: %s", strerror(-ret));
		close(fd);
		free(c);
		return;
	}
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	d->n_conns++;
	if (!c->privileged)
		d->n_unpriv_conns++;

	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	timespec_add(&c->deadline, d->cfg.timeout);
	c->wprev = d->wait_tail;
	if (d->wait_tail)
		d->wait_tail->wnext = c;
	else
		d->wait_head = c;
	d->wait_tail = c;

	/* tracing-style fields after the message: seeds/000's grep still matches */
	log_line(LOG_INFO, T_WM, "handling new stream pid=%d uid=%u gid=%u", (int)c->pid,
		 (unsigned)c->uid, (unsigned)c->gid);
	n = zds_encode_hello(hello, sizeof(hello), ZDS_VERSION_V1);
	ret = fdpass_send(fd, hello, (size_t)n, NULL, 0, MSG_DONTWAIT);
	if (ret)
		conn_close(d, c, "failed to send hello");
}

/* Sends the Ack (counted under the request's kind); false when the connection had to be closed. */
static bool send_ack(struct daemon *d, struct conn *c, const char *error)
{
	uint8_t buf[ZDS_MAX_MSG];
	size_t len = error ? strlen(error) : 0;
	ssize_t n;
	int ret;

	d->stats.requests[c->kind][len ? RES_NACK : RES_ACK]++;
	/* a nack longer than the peer's 1024-byte buffer would be truncated there */
	if (len > ZDS_MAX_MSG - 8)
		len = ZDS_MAX_MSG - 8;
	n = zds_encode_ack(buf, sizeof(buf), error, len);
	ret = n < 0 ? (int)n : fdpass_send(c->ev.fd, buf, (size_t)n, NULL, 0, MSG_DONTWAIT);
	if (ret) {
		char why[128];

		snprintf(why, sizeof(why), "failed to send ack: %s", strerror(-ret));
		conn_close(d, c, why);
		return false;
	}
	return true;
}

static void nack_and_close(struct daemon *d, struct conn *c, const char *prefix, const char *msg)
{
	/* malformed or oversized requests, sent in a loop, must not flood the log */
	static struct log_limit lim = LOG_LIMIT_INIT(1, 20);
	char text[ZDS_MAX_MSG];

	snprintf(text, sizeof(text), "%s : %s", prefix, msg);
	log_limited(&lim, LOG_ERROR, T_WM, "%s", text);
	if (send_ack(d, c, text))
		conn_close(d, c, prefix);
}

static void protocol_error(struct daemon *d, struct conn *c, const char *what)
{
	char msg[ERRMSG_MAX];

	/*
	 * Real ztunnel exits(1) on a protocol error; serving many clients, the
	 * emulator closes only the offending connection.
	 */
	snprintf(msg, sizeof(msg), "ProtocolError(\"%s\")", what);
	nack_and_close(d, c, "failure to process message", msg);
}

static void start_failure(struct daemon *d, struct conn *c, const char *why)
{
	char text[ZDS_MAX_MSG];

	snprintf(text, sizeof(text), "failure to start proxy : %s", why);
	log_line(LOG_ERROR, T_SM, "%s", text);
	send_ack(d, c, text);
}

/* The workload manager's answer, worded and sent as ztunnel does. */
static void send_reply(struct daemon *d, struct conn *c, const struct wm_reply *r)
{
	switch (r->verdict) {
	case WM_ACK:
		send_ack(d, c, NULL);
		break;
	case WM_NACK:
		start_failure(d, c, r->text);
		break;
	case WM_PROTOCOL_ERROR:
		protocol_error(d, c, r->text);
		break;
	}
}

/*
 * MSG_CTRUNC also comes when the kernel finds no free fd for what was sent
 * (fault 17): if the daemon could not take even FDPASS_MAX_FDS more fds, the
 * fault is its own, and why names the limit. The probe dups what is there.
 */
static bool out_of_fds(const struct daemon *d, char *why, size_t cap)
{
	int probe[FDPASS_MAX_FDS], n, i;
	struct rlimit rl;

	for (n = 0; n < FDPASS_MAX_FDS; n++) {
		probe[n] = fcntl(d->epfd, F_DUPFD_CLOEXEC, 0);
		if (probe[n] < 0)
			break;
	}
	for (i = 0; i < n; i++)
		close(probe[i]);
	if (n == FDPASS_MAX_FDS || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return false;
	snprintf(why, cap, "daemon out of file descriptors (limit %llu)", (unsigned long long)rl.rlim_cur);
	return true;
}

void read_request(struct daemon *d, struct conn *c)
{
	uint8_t buf[ZDS_MAX_MSG];
	struct fdpass_msg m;
	struct zds_request req;
	struct wm_reply r;
	const char *why = NULL;
	char text[ERRMSG_MAX];
	struct timespec t0, t1;
	int ret, fd;

	ret = fdpass_recv(c->ev.fd, buf, sizeof(buf), MSG_DONTWAIT, &m);
	if (ret == -EAGAIN || ret == -EINTR)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c->kind = REQ_INVALID;	/* until it is known to be a well-formed request */
	if (ret == -ENOBUFS && out_of_fds(d, text, sizeof(text))) {
		nack_and_close(d, c, "failure to read message", text);
		return;
	}
	if (ret == -EMSGSIZE || ret == -ENOBUFS || ret == -EBADMSG) {
		nack_and_close(d, c, "failure to read message",
			       ret == -EMSGSIZE ? "message truncated: longer than 1024 bytes" :
			       ret == -ENOBUFS ? "control message truncated: too many file descriptors" :
						 "malformed control message");
		return;
	}
	if (ret) {
		conn_close(d, c, strerror(-ret));
		return;
	}
	if (m.len == 0) {
		/* SOCK_SEQPACKET: an empty datagram and end of stream read the same */
		fdpass_close_fds(&m);
		conn_close(d, c, "end of stream");
		return;
	}
	if (m.other_cmsgs)
		log_line(LOG_WARN, T_WM, "ignoring %zu non-SCM_RIGHTS control message(s)", m.other_cmsgs);
	if (!c->got_request) {
		c->got_request = true;
		wait_unlink(d, c);
	}
	if (m.nfds > 1) {
		snprintf(text, sizeof(text), "Expected 1 FD, got %zu", m.nfds);
		fdpass_close_fds(&m);
		nack_and_close(d, c, "failure to read message", text);
		return;
	}
	if (zds_decode_request(buf, m.len, &req, &why)) {
		fdpass_close_fds(&m);
		snprintf(text, sizeof(text), "failed to decode message: %s", why);
		nack_and_close(d, c, "failure to read message", text);
		return;
	}
	if (req.type == ZDS_REQ_NONE) {
		fdpass_close_fds(&m);
		nack_and_close(d, c, "failure to read message", "unknown or missing request payload");
		return;
	}
	if (req.type == ZDS_REQ_ADD && m.nfds == 0) {
		nack_and_close(d, c, "failure to read message", "No control message");
		return;
	}
	if (req.type != ZDS_REQ_ADD && m.nfds) {
		fdpass_close_fds(&m);
		nack_and_close(d, c, "failure to read message", "Unexpected control message");
		return;
	}

	switch (req.type) {
	case ZDS_REQ_ADD:
		fd = m.fds[0];
		ret = ns_fd_type(fd);
		if (ret != CLONE_NEWNET) {
			close(fd);
			if (ret < 0)
				snprintf(text, sizeof(text), "the fd is not a namespace file");
			else
				snprintf(text, sizeof(text), "the fd is a %s namespace, not a network namespace",
					 ns_type_name(ret));
			nack_and_close(d, c, "failure to read message", text);
			return;
		}
		c->kind = REQ_ADD;	/* a well-formed Add from here on; before, a read failure */
		wm_add(d, &c->wm, &req, fd, &r);
		send_reply(d, c, &r);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		stats_observe_add(&d->stats, (double)(t1.tv_sec - t0.tv_sec) +
						     (t1.tv_nsec - t0.tv_nsec) / 1e9);
		break;
	case ZDS_REQ_DEL:
		c->kind = REQ_DEL;
		wm_del(d, &req, &r);
		send_reply(d, c, &r);
		break;
	case ZDS_REQ_KEEP:
		c->kind = REQ_KEEP;
		wm_keep(d, &c->wm, &req, &r);
		send_reply(d, c, &r);
		break;
	case ZDS_REQ_SNAPSHOT_SENT:
		c->kind = REQ_SNAPSHOT;
		wm_snapshot_sent(d, &c->wm, &r);
		send_reply(d, c, &r);
		break;
	default:
		break;
	}
}

void expire_conns(struct daemon *d)
{
	struct timespec now;
	char why[96];

	clock_gettime(CLOCK_MONOTONIC, &now);
	while (d->wait_head && expired(&d->wait_head->deadline, &now)) {
		snprintf(why, sizeof(why), "no request within %gs of the hello", d->cfg.timeout);
		log_line(LOG_WARN, T_WM, "closing idle connection from pid=%d", (int)d->wait_head->pid);
		conn_close(d, d->wait_head, why);
	}
}

/* ---- start-up and shutdown --------------------------------------------- */

void shutdown_all(struct daemon *d)
{
	while (d->conns) {
		struct conn *c = d->conns;

		d->conns = c->next;
		close(c->ev.fd);
		free(c);
	}
	http_stop(d);
	while (d->pods.head)
		pod_drain(d, d->pods.head);
	reap(d);
	pod_table_free(&d->pods);
	close(d->server.fd);
	sockpath_remove(&d->sock);
	close(d->sig.fd);
	close(d->epfd);
	close(d->own_netns_fd);
	if (d->spare_fd >= 0)
		close(d->spare_fd);
	free(d->caps_kept);
}

/* The capabilities the options need; the rest are dropped after start-up. */
static size_t needed_caps(const struct config *cfg, cap_value_t *caps)
{
	const struct http_addr *h[] = { &cfg->admin, &cfg->ready, &cfg->metrics };
	size_t n = 0, i;

	caps[n++] = CAP_SYS_ADMIN;	/* setns() into pod network namespaces */
	if (cfg->mark)
		caps[n++] = CAP_NET_ADMIN;	/* SO_MARK */
	if (cfg->transparent)
		caps[n++] = CAP_NET_RAW;	/* IP_TRANSPARENT, and binding the client's address */
	for (i = 0; i < 3; i++) {
		uint16_t port = ntohs(((const struct sockaddr_in *)&h[i]->sa)->sin_port);

		/* sin_port and sin6_port sit at the same offset */
		if (h[i]->enabled && port && port < 1024) {
			caps[n++] = CAP_NET_BIND_SERVICE;
			break;
		}
	}
	return n;
}

static const char *cap_reason(cap_value_t cap)
{
	return cap == CAP_SYS_ADMIN ? "to setns() into pod network namespaces" :
	       cap == CAP_NET_ADMIN ? "to set SO_MARK on pod sockets" :
	       cap == CAP_NET_RAW ? "for IP_TRANSPARENT sockets" :
	       cap == CAP_NET_BIND_SERVICE ? "to bind HTTP ports below 1024" : "";
}

/* Names every missing capability, why it is needed, and the setcap line that grants them. */
void check_capabilities(const struct config *cfg)
{
	cap_value_t caps[6];
	char missing[512] = "", grant[256] = "", exe[PATH_MAX];
	size_t n = needed_caps(cfg, caps), i, k, nmissing = 0;
	ssize_t len;

	for (i = 0; i < n; i++) {
		char *name, upper[64];

		if (caps_have_effective(caps[i]) != 0)
			continue;	/* have it, or libcap cannot tell: setns errors will say */
		name = cap_to_name(caps[i]);
		if (!name)
			continue;
		for (k = 0; name[k] && k < sizeof(upper) - 1; k++)
			upper[k] = (char)toupper((unsigned char)name[k]);
		upper[k] = '\0';
		snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s (%s)",
			 nmissing ? ", " : "", upper, cap_reason(caps[i]));
		snprintf(grant + strlen(grant), sizeof(grant) - strlen(grant), "%s%s",
			 nmissing ? "," : "", name);
		nmissing++;
		cap_free(name);
	}
	if (!nmissing)
		return;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = '\0';
	cli_die("missing %s: run as root, or grant %s with 'sudo setcap %s+ep %s'", missing,
		nmissing > 1 ? "them" : "it", grant, len > 0 ? exe : "ztunnel-emulator/ztunnel-emulator");
}

/* After start-up: keep only what the options need; no ambient set, no_new_privs. */
void drop_capabilities(struct daemon *d)
{
	cap_value_t caps[6];
	size_t n = needed_caps(&d->cfg, caps);
	bool trimmed = false;
	int ret = caps_limit_to(caps, n, &trimmed);

	if (ret)
		log_line(LOG_WARN, T_EMU, "cannot drop unneeded capabilities: %s", strerror(-ret));
	d->caps_kept = caps_text();
	log_line(LOG_INFO, T_EMU, "capabilities kept: %s (bounding set %s; no ambient; no_new_privs)",
		 d->caps_kept ? d->caps_kept : "unknown",
		 trimmed ? "trimmed to match" : "unchanged: trimming it needs CAP_SETPCAP");
}

/*
 * Each pod holds 4 fds (netns + 3 listeners), 8 in the ambient profile: the
 * default soft limit of 1024 would cap a node at ~250 pods. Ambient relays
 * take up to 6 each (--max-relays, or room for 16384 when not given).
 */
void raise_fd_limit(const struct config *cfg)
{
	rlim_t want = (rlim_t)cfg->max_pods * (cfg->nspecs + 1) + cfg->max_conns + 64, nr_open = 0;
	struct rlimit rl;
	FILE *f;

	if (cfg->relay)
		want += (rlim_t)(cfg->max_relays ? cfg->max_relays : 16384) * RELAY_FDS;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	/* a privileged daemon may lift the hard limit too (CAP_SYS_RESOURCE), up to fs.nr_open */
	if (rl.rlim_max < want) {
		f = fopen("/proc/sys/fs/nr_open", "r");
		if (f) {
			unsigned long long v;

			if (fscanf(f, "%llu", &v) == 1)
				nr_open = (rlim_t)v;
			fclose(f);
		}
		if (nr_open && want > nr_open)
			want = nr_open;
		if (want > rl.rlim_max) {
			struct rlimit up = { want, want };

			if (setrlimit(RLIMIT_NOFILE, &up) == 0)
				return;
		}
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_line(LOG_WARN, T_EMU, "cannot raise the open-file limit: %s", strerror(errno));
	}
}

/*
 * How many pods the open-file limit leaves room for, next to --max-pods, and
 * how many relays (faults.md 20): relays only get what pods leave, so the
 * relay figure is for now, with no pod running yet.
 */
void log_capacity(struct daemon *d)
{
	char relays[256] = "";
	struct rlimit rl;
	size_t used = 0, room;
	DIR *dir = opendir("/proc/self/fd");

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || !dir) {
		if (dir)
			closedir(dir);
		return;
	}
	while (readdir(dir))
		used++;
	closedir(dir);
	/* every connection takes one fd; a pod 1 + one per listener, one more while starting */
	room = rl.rlim_cur > used + d->cfg.max_conns + 8 ?
		       (size_t)(rl.rlim_cur - used - d->cfg.max_conns - 8) / (d->cfg.nspecs + 1) : 0;
	relay_limits_init(d, rl.rlim_cur > SIZE_MAX ? SIZE_MAX : (size_t)rl.rlim_cur, used);
	if (d->cfg.relay)
		snprintf(relays, sizeof(relays),
			 "; relayed connections get what pods leave: up to %zu (--max-relays; %d fds each, %d for a pod-to-pod connection on this node), %zu per pod (--max-relays-per-pod)",
			 d->cfg.max_relays, RELAY_FDS, 2 * RELAY_FDS, d->cfg.max_relays_per_pod);
	log_line(room < d->cfg.max_pods ? LOG_WARN : LOG_INFO, T_EMU,
		 "open-file limit %llu: room for %zu pods (--max-pods %zu, --max-connections %zu)%s",
		 (unsigned long long)rl.rlim_cur, room, d->cfg.max_pods, d->cfg.max_conns, relays);
}

