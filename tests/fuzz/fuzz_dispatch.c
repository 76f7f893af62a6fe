/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the daemon's request handling: the daemon's own
 * objects (libzt.a, everything but main.o and proxy.o) driven over real
 * SOCK_SEQPACKET connections with real fds, with netns entry and port binding
 * replaced by proxy_stub.c (eventfds stand in for listeners).
 *
 * Input: a sequence of steps, each starting with an op byte.
 *   op bit 7 clear: a message from a client
 *     bits 0-1  fds to send (0..3), one kind byte each follows
 *     bit 2     many fds instead: one byte b follows, 4 + b % 29 fds of
 *               kinds cycling from b & 7 (over 8 is past the daemon's limit)
 *     bit 3     2-byte big-endian length instead of 1 byte
 *     bits 4-5  client slot (0..2, 3 = 0); a closed slot connects first
 *     bit 6     the client hangs up right after sending (the Ack cannot go)
 *     then the length, then that many payload bytes (fewer at the end of input)
 *   op bit 7 set: a command, slot as above, command = op & 0x0f
 *     0 retry every pending pod now   1 the client hangs up
 *     2 toggle SO_PASSCRED on the daemon's end   3 expire idle connections now
 *     4 connect the slot as an unprivileged user (uid 65534)
 *     5 render config_dump (must be valid JSON), ready, metrics, the table
 *     6 toggle the log format (legacy, current)
 *     7 a wake-up with nothing to read on the slot's connection
 *     8 a client connects and hangs up before the daemon accepts (no Hello)
 *     9 a client connects while the daemon is out of fds (spare-fd dance)
 *     10 toggle --max-pods between 3 and 1000
 *     others: nothing
 * fd kinds: 0-3 four distinct network namespaces, 4 the "host" netns (the
 * daemon's own_netns), 5 /dev/null, 6 a UTS namespace, 7 a pipe; 8 and up
 * one of a pool of further namespaces (hash collisions, table growth).
 *
 * After every step the daemon's bookkeeping is checked (pod table, pending
 * FIFO, counters, connection lists, and the process's fd count against what
 * the pods and connections should hold); every datagram the daemon sends
 * must decode (a hello first, then one Ack per request). At the end of each
 * input everything is torn down and the process must hold exactly the fds it
 * held before: an fd leaked on any error path aborts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin/report.h"
#include "clock.h"
#include "daemon.h"
#include "zds_server.h"
#include "fdpass.h"
#include "fuzz_common.h"
#include "log.h"
#include "netns.h"
#include "pods.h"
#include "proxy_stub.h"
#include "zds.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SLOTS 3
#define MAX_STEPS 256
#define MAX_SEND_FDS 32
#define NOBODY 65534

enum fd_kind {
	K_NET0, K_NET1, K_NET2, K_NET3, K_HOST, K_DEVNULL, K_UTS, K_PIPE, K_KINDS
};

/* further network namespaces, for many pods at once (kind bytes 8..255) */
#define NS_POOL 80
#define K_ALL (K_KINDS + NS_POOL)

struct slot {
	struct conn *c;		/* NULL when closed */
	int peer;		/* the client's end, -1 when closed */
	bool hello_seen;
};

static struct daemon D;
static int kind_fd[K_ALL];
static struct netns_id kind_ns[K_ALL];	/* for the netns kinds */
static bool kind_is_net[K_ALL];
static struct stat kind_st[K_ALL];	/* what each of the harness's fds is, to notice a stray close */
static size_t max_pods_seen;	/* per input: the highest --max-pods in force (command 10) */
static int pipe_w = -1;
static FILE *null_out;
static struct sockaddr_un server_sa;
static socklen_t server_sa_len;
static bool can_setuid;

/* The daemon's live connection with this serial, or NULL. */
static struct conn *find_conn(uint64_t serial)
{
	struct list_node *w;

	list_for_each(w, &D.conns)
		if (container_of(w, struct conn, link)->wm.serial == serial)
			return container_of(w, struct conn, link);
	return NULL;
}

/* ---- set-up, once ------------------------------------------------------- */

static ino_t pipe_ino;	/* the harness's pipe: passed copies of it are counted */

/*
 * Open fds. With foreign_fifos false, pipes other than the harness's own are
 * left out: the sanitizers' symbolizer (started by a non-fatal UBSan report)
 * holds two, and the daemon never makes a pipe.
 */
static int count_fds_how(bool foreign_fifos)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	struct stat st;
	int n = 0;

	FUZZ_CHECK(dir, "opendir /proc/self/fd: %s", strerror(errno));
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		if (!foreign_fifos && fstatat(dirfd(dir), e->d_name, &st, 0) == 0 &&
		    S_ISFIFO(st.st_mode) && st.st_ino != pipe_ino)
			continue;
		n++;
	}
	closedir(dir);
	return n - 1;	/* the directory's own fd */
}

static int count_fds(void)
{
	return count_fds_how(true);
}

static int baseline_fds, baseline_own_fds;

/* true when delta more fds than at the start of the input are open (counting only ours if need be) */
static bool fds_as_expected(int delta, int *seen)
{
	*seen = count_fds();
	if (*seen == baseline_fds + delta)
		return true;
	*seen = count_fds_how(false);
	if (*seen != baseline_own_fds + delta)
		return false;
	baseline_fds = count_fds() - delta;	/* someone else's pipes came: the fast path again */
	return true;
}

/* A fresh network namespace (needs CAP_SYS_ADMIN), or -1. */
static int make_netns(int home)
{
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		return -1;
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(setns(home, CLONE_NEWNET) == 0, "cannot return to the harness's netns: %s",
		   strerror(errno));
	return fd;
}

static void init_fds(void)
{
	int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), p[2], i, fresh = 0;

	FUZZ_CHECK(home >= 0, "open /proc/thread-self/ns/net: %s", strerror(errno));
	kind_fd[K_NET0] = home;
	for (i = K_NET1; i <= K_HOST; i++) {
		kind_fd[i] = make_netns(home);
		if (kind_fd[i] >= 0)
			fresh++;
		else
			kind_fd[i] = dup(home);	/* fewer distinct namespaces, still valid ones */
	}
	if (!fresh)
		fprintf(stderr, "fuzz_dispatch: cannot create network namespaces (no CAP_SYS_ADMIN?): "
				"all netns fds name one namespace, fewer paths are reached\n");
	for (i = K_KINDS; i < K_ALL; i++) {
		kind_fd[i] = fresh ? make_netns(home) : -1;
		if (kind_fd[i] < 0)
			kind_fd[i] = dup(kind_fd[K_NET0 + i % 4]);
	}
	kind_fd[K_DEVNULL] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	kind_fd[K_UTS] = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
	kind_fd[K_PIPE] = p[0];
	pipe_w = p[1];
	{
		struct stat st;

		FUZZ_CHECK(fstat(p[0], &st) == 0, "fstat pipe");
		pipe_ino = st.st_ino;
	}
	for (i = 0; i < K_ALL; i++) {
		FUZZ_CHECK(kind_fd[i] >= 0, "cannot open the fd of kind %d", i);
		kind_is_net[i] = i <= K_HOST || i >= K_KINDS;
		FUZZ_CHECK(fstat(kind_fd[i], &kind_st[i]) == 0, "fstat");
		if (kind_is_net[i])
			FUZZ_CHECK(netns_fd_id(kind_fd[i], &kind_ns[i]) == 0, "netns_fd_id");
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/*
	 * Real defaults from the real option parser; HTTP off; small limits to
	 * reach them. FUZZ_PROFILE=walkthru (3 listeners) or ambient (default:
	 * ztunnel's 7 plus SOCKS5, the most a pod can hold).
	 */
	const char *profile = getenv("FUZZ_PROFILE") ? getenv("FUZZ_PROFILE") : "ambient";
	bool ambient = !strcmp(profile, "ambient");
	char *args[] = {
		(char *)PROG, (char *)"--admin-addr", (char *)"none", (char *)"--ready-addr",
		(char *)"none", (char *)"--metrics-addr", (char *)"none", (char *)"--max-connections",
		(char *)"2", (char *)"--max-pods", (char *)"3", (char *)"--profile", (char *)profile,
		(char *)"--allow-uid", (char *)"4242", (char *)"--allow-gid", (char *)"4243",
		(char *)"@ztunnel-emulator-fuzz", ambient ? (char *)"--socks5" : NULL, NULL,
	};
	int nargs = 0;

	(void)argc;
	(void)argv;
	fz_quiet_daemon();

	memset(&D, 0, sizeof(D));
	while (args[nargs])
		nargs++;
	optind = 1;
	FUZZ_CHECK(config_parse(nargs, args, &D.cfg, NULL) == CONFIG_RUN, "config_parse");
	FUZZ_CHECK(D.cfg.nspecs > 0 && D.cfg.nspecs <= POD_MAX_LISTENERS, "%zu listener specs",
		   D.cfg.nspecs);
	{
		/* room for up to 1000 pods of 9 fds, as the daemon makes for itself */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	clock_gettime(CLOCK_REALTIME, &D.start_time);
	FUZZ_CHECK(loop_init(&D.loop) == 0, "loop_init: %s", strerror(errno));
	FUZZ_CHECK(pod_table_init(&D.pods) == 0, "pod_table_init");
	D.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	D.own_netns_fd = -1;	/* only return_home() uses it, and the stand-in never leaves home */

	init_fds();
	/* kind K_HOST plays the daemon's own netns: Adds of it must be refused */
	D.own_netns = kind_ns[K_HOST];
	if (netns_id_eq(&kind_ns[K_HOST], &kind_ns[K_NET0])) {
		/* no fresh namespaces: an identity that matches nothing real */
		D.own_netns.dev = 0;
		D.own_netns.ino = 0;
	}

	/* the daemon's server socket, in the abstract namespace: nothing on disk */
	memset(&server_sa, 0, sizeof(server_sa));
	server_sa.sun_family = AF_UNIX;
	snprintf(server_sa.sun_path + 1, sizeof(server_sa.sun_path) - 1, "ztunnel-emulator-fuzz-%d",
		 (int)getpid());
	server_sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				    strlen(server_sa.sun_path + 1));
	D.server.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(D.server.fd >= 0, "socket: %s", strerror(errno));
	FUZZ_CHECK(bind(D.server.fd, (struct sockaddr *)&server_sa, server_sa_len) == 0 &&
			   listen(D.server.fd, 16) == 0,
		   "bind/listen: %s", strerror(errno));
	/* the real start: the idle-peer FIFO, the server on the loop (never run: the harness drives) */
	FUZZ_CHECK(zds_server_start(&D) == 0, "zds_server_start: %s", strerror(errno));
	pods_start(&D);

	null_out = fopen("/dev/null", "w");
	FUZZ_CHECK(null_out, "fopen /dev/null");
	can_setuid = geteuid() == 0;
	return 0;
}

/* ---- clients ------------------------------------------------------------ */

/* Reads whatever the daemon sent the client; returns the number of Acks, the last one's text in last (unchanged if none). */
static int drain_peer(struct slot *s, char *last, size_t cap, bool *eof)
{
	uint8_t buf[ZDS_MAX_MSG * 2];
	struct fdpass_msg m;
	int acks = 0, ret;

	*eof = false;
	for (;;) {
		ret = fdpass_recv(s->peer, buf, sizeof(buf), MSG_DONTWAIT, &m);
		if (ret == -EAGAIN)
			return acks;
		if (ret == -ECONNRESET || (ret == 0 && m.len == 0)) {
			fdpass_close_fds(&m);
			*eof = true;
			return acks;
		}
		FUZZ_CHECK(ret == 0, "client recv: %s", strerror(-ret));
		FUZZ_CHECK(m.nfds == 0, "the daemon sent %zu fds", m.nfds);
		if (!s->hello_seen) {
			uint64_t version;
			const char *why = "?";

			FUZZ_CHECK(zds_decode_hello(buf, m.len, &version, &why) == 0 &&
					   version == ZDS_VERSION_V1,
				   "the first datagram is not a Hello V1 (%s)", why);
			s->hello_seen = true;
			continue;
		}
		{
			struct zds_response resp;
			const char *why = "?";

			FUZZ_CHECK(m.len <= ZDS_MAX_MSG, "an Ack of %zu bytes (the client reads 1024)", m.len);
			FUZZ_CHECK(zds_decode_response(buf, m.len, &resp, &why) == 0 && resp.has_ack,
				   "the daemon sent something that is not an Ack (%s)", why);
			if (last && cap)
				snprintf(last, cap, "%.*s", (int)resp.error.len,
					 resp.error.p ? resp.error.p : "");
			acks++;
		}
	}
}

/*
 * The client hangs up. shutdown() first: the daemon then sees the end at
 * once, even if some other process (ss -p, lsof) holds a passing reference to
 * the client's socket file, which would delay the release close() causes.
 */
static void hang_up(int peer)
{
	shutdown(peer, SHUT_RDWR);
	close(peer);
}

/*
 * After the daemon closed its end: the client must see the end. The release
 * that close() causes may be deferred a moment (another process holding a
 * passing reference to the file), so wait up to 2 s; never is a finding (the
 * daemon's socket is still referenced somewhere).
 */
static bool wait_end(struct slot *s, int *acks, char *last, size_t cap)
{
	static unsigned long late;
	bool eof = false;
	int waited;

	for (waited = 0; waited < 2000 && !eof; waited += 10) {
		struct pollfd pfd = { .fd = s->peer, .events = POLLIN | POLLRDHUP };

		poll(&pfd, 1, 10);
		*acks += drain_peer(s, last, cap, &eof);
	}
	if (eof && ++late <= 10)
		fprintf(stderr, "fuzz_dispatch: note: the end of a closed connection reached its client only after %d ms\n",
			waited);
	return eof;
}

/* Frees a slot whose connection the daemon closed (before the deferred free of the conn). */
static void sweep(struct slot *s)
{
	if (s->c && s->c->zc.ev.fd < 0) {
		s->c = NULL;
		if (s->peer >= 0)
			hang_up(s->peer);
		s->peer = -1;
	}
}

static void drain_backlog(void)
{
	int fd;

	while ((fd = accept4(D.server.fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}

/* Connects a client and lets the real zds_server_accept() take it. */
static void slot_open(struct slot *s, bool unprivileged)
{
	uint64_t serial = D.next_serial;
	struct conn *c;
	bool eof;
	int peer, ret;

	if (s->c)
		return;
	peer = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(peer >= 0, "socket: %s", strerror(errno));
	/* SO_PEERCRED records the euid at connect() */
	if (unprivileged && can_setuid && setresuid((uid_t)-1, NOBODY, (uid_t)-1) < 0) {
		fprintf(stderr, "fuzz_dispatch: cannot take uid %d (%s): no unprivileged clients\n", NOBODY,
			strerror(errno));
		can_setuid = false;
		unprivileged = false;
	}
	ret = connect(peer, (struct sockaddr *)&server_sa, server_sa_len);
	if (unprivileged && can_setuid) {
		FUZZ_CHECK(setresuid((uid_t)-1, 0, (uid_t)-1) == 0, "seteuid back: %s", strerror(errno));
		prctl(PR_SET_DUMPABLE, 1);
	}
	FUZZ_CHECK(ret == 0, "connect: %s", strerror(errno));

	zds_server_accept(&D);
	drain_backlog();
	c = D.next_serial != serial ? find_conn(D.next_serial) : NULL;
	if (!c) {
		/* turned away (not allowed, --max-connections) or closed at once: the client sees the end */
		FUZZ_CHECK(D.next_serial != serial, "zds_server_accept took no stream at all");
		FUZZ_CHECK(unprivileged || D.n_conns >= D.cfg.max_conns,
			   "zds_server_accept turned away root below the limit (%zu of %zu)", D.n_conns,
			   D.cfg.max_conns);
		if (unprivileged) {
			struct slot away = { .peer = peer };
			char why[ZDS_MAX_MSG + 1] = "";

			drain_peer(&away, why, sizeof(why), &eof);
			FUZZ_CHECK(away.hello_seen && !strcmp(why, "permission denied"),
				   "a peer that is not allowed got no Hello and nack (\"%s\")", why);
		}
		hang_up(peer);
		return;
	}
	FUZZ_CHECK(!unprivileged, "a peer that is not allowed holds a connection slot");
	s->c = c;
	s->peer = peer;
	s->hello_seen = false;
	FUZZ_CHECK(drain_peer(s, NULL, 0, &eof) == 0 && s->hello_seen && !eof,
		   "a new connection got no Hello");
}

static void slot_hangup(struct slot *s)
{
	bool closed;

	if (!s->c)
		return;
	hang_up(s->peer);
	s->peer = -1;
	zds_server_read(&D, s->c);
	closed = s->c->zc.ev.fd < 0;
	FUZZ_CHECK(closed, "the daemon kept a connection whose client hung up");
	sweep(s);
}

/* sendmsg with any number of fds (fdpass_send stops at FDPASS_MAX_FDS). */
static int send_many(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * MAX_SEND_FDS)];
	} cb;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	memset(&cb, 0, sizeof(cb));
	mh.msg_control = cb.buf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	return sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/* ---- invariants --------------------------------------------------------- */

/* Someone closing a harness fd (a double close by the daemon) shows as a changed or missing object. */
static void check_harness_fds(void)
{
	struct stat st;
	int i;

	for (i = 0; i < K_ALL; i++)
		FUZZ_CHECK(fstat(kind_fd[i], &st) == 0 && st.st_dev == kind_st[i].st_dev &&
				   st.st_ino == kind_st[i].st_ino,
			   "the harness's fd %d (kind %d) was closed or replaced behind its back", kind_fd[i],
			   i);
}

static void check_state(const struct slot *slots)
{
	size_t n = 0, up = 0, pending = 0, conns = 0, waiting = 0, peers = 0;
	int expect_fds = 0, i;
	const struct list_node *w;
	const struct pod *p, *prev = NULL;
	const struct conn *c;

	FUZZ_CHECK(loop_deferred_empty(&D.loop), "loop_run_deferred() left something");
	FUZZ_CHECK(D.n_relays == 0, "%zu relays without a single accepted connection", D.n_relays);
	for (p = D.pods.head; p; prev = p, p = p->next) {
		n++;
		FUZZ_CHECK(p->prev == prev, "pod list: broken prev link");
		FUZZ_CHECK(pod_find_uid(&D.pods, p->uid, p->uid_len) == p, "pod not found by its uid");
		FUZZ_CHECK(pod_find_ns(&D.pods, &p->nsid) == p, "pod not found by its netns");
		FUZZ_CHECK(p->netns_fd >= 0, "a pod without its netns fd");
		FUZZ_CHECK(!netns_id_eq(&p->nsid, &D.own_netns), "the host netns was enrolled");
		expect_fds++;
		FUZZ_CHECK(!p->relays, "a pod with relays");
		FUZZ_CHECK(p->nlisteners <= D.cfg.nspecs, "a pod with %zu listeners, %zu specs",
			   p->nlisteners, D.cfg.nspecs);
		for (i = 0; i < POD_MAX_LISTENERS; i++)
			FUZZ_CHECK((size_t)i < p->nlisteners ? p->listeners[i].ev.fd >= 0 &&
							p->listeners[i].spec &&
							p->listeners[i].ev.cb &&
							p->listeners[i].pod == p :
							 p->listeners[i].ev.fd < 0,
				   "listener %d of %zu: fd %d", i, p->nlisteners, p->listeners[i].ev.fd);
		if (p->state == POD_UP) {
			up++;
			FUZZ_CHECK(!p->last_error && !p->pending.next && !p->pending.prev,
				   "a running pod in the pending FIFO or with an error");
			FUZZ_CHECK(p->nlisteners > 0, "a running pod without listeners");
			expect_fds += (int)p->nlisteners;
		} else {
			FUZZ_CHECK(p->state == POD_PENDING, "a pod in state %d between requests", p->state);
			pending++;
			FUZZ_CHECK(p->last_error, "a pending pod without its error");
			FUZZ_CHECK(p->nlisteners == 0, "a pending pod holding %zu listeners", p->nlisteners);
		}
	}
	FUZZ_CHECK(n == D.pods.count, "pods.count %zu, list %zu", D.pods.count, n);
	FUZZ_CHECK(n <= max_pods_seen, "%zu pods, --max-pods at most %zu", n, max_pods_seen);
	FUZZ_CHECK(up == D.n_up, "n_up %zu, counted %zu", D.n_up, up);
	FUZZ_CHECK(pending == D.n_pending, "n_pending %zu, counted %zu", D.n_pending, pending);

	n = 0;
	prev = NULL;
	list_for_each(w, &D.pending) {
		p = container_of(w, struct pod, pending);
		n++;
		FUZZ_CHECK(p->state == POD_PENDING, "a pod in the pending FIFO is not pending");
		FUZZ_CHECK(w->prev == (prev ? &prev->pending : &D.pending), "pending FIFO: broken prev link");
		FUZZ_CHECK(pod_find_uid(&D.pods, p->uid, p->uid_len) == p, "a pending pod not in the table");
		if (prev)
			FUZZ_CHECK(!expired(&p->next_retry, &prev->next_retry) ||
					   (p->next_retry.tv_sec == prev->next_retry.tv_sec &&
					    p->next_retry.tv_nsec == prev->next_retry.tv_nsec),
				   "pending FIFO out of deadline order");
		FUZZ_CHECK(n <= D.n_pending, "pending FIFO longer than n_pending (a cycle?)");
		prev = p;
	}
	FUZZ_CHECK(n == D.n_pending && D.pending.prev == (prev ? &prev->pending : &D.pending),
		   "pending FIFO: %zu, n_pending %zu, tail ok %d", n, D.n_pending,
		   D.pending.prev == (prev ? &prev->pending : &D.pending));

	list_for_each(w, &D.conns) {
		c = container_of(w, struct conn, link);
		conns++;
		FUZZ_CHECK(c->zc.ev.fd >= 0 && c->zc.ev.cb, "a closed connection in the list");
		FUZZ_CHECK(w->next->prev == w, "connection list: broken prev link");
		if (!c->got_request)
			waiting++;
		FUZZ_CHECK(conns <= D.cfg.max_conns, "more connections than --max-connections");
	}
	FUZZ_CHECK(conns == D.n_conns, "n_conns %zu, counted %zu", D.n_conns, conns);
	expect_fds += (int)conns;
	n = 0;
	list_for_each(w, &D.waiting) {
		c = container_of(w, struct conn, wait);
		n++;
		FUZZ_CHECK(!c->got_request && c->zc.ev.fd >= 0, "the wait list holds an answered or closed connection");
		FUZZ_CHECK(w->next->prev == w, "wait list: broken prev link");
		FUZZ_CHECK(n <= conns, "wait list longer than the connections (a cycle?)");
	}
	FUZZ_CHECK(n == waiting, "wait list %zu, connections without a request %zu", n, waiting);

	for (i = 0; i < SLOTS; i++) {
		if (!slots[i].c)
			continue;
		FUZZ_CHECK(find_conn(slots[i].c->wm.serial) == slots[i].c,
			   "a client's connection is not in the daemon's list");
		if (slots[i].peer >= 0)
			peers++;
	}
	expect_fds += (int)peers;
	FUZZ_CHECK(fds_as_expected(expect_fds, &i), "%d fds open, expected %d more than the %d at the start (%zu pods, %zu up, %zu connections): an fd leaked or was closed twice",
		   i, expect_fds, baseline_own_fds, D.pods.count, D.n_up, conns);
}

/* ---- steps -------------------------------------------------------------- */

static void report_all(void)
{
	char why[512];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	FUZZ_CHECK(f, "open_memstream");
	report_config_dump(&D, f);
	FUZZ_CHECK(fclose(f) == 0, "fclose");
	FUZZ_CHECK(fz_json_valid(buf, len), "config_dump is not valid JSON:\n%.*s", (int)len, buf);
	free(buf);
	report_ready(&D, null_out, why, sizeof(why));
	report_metrics(&D, null_out, false);
	report_metrics(&D, null_out, true);
	report_table(&D, null_out);
	fflush(null_out);
}

/* What the daemon's answer to a well-formed request implies about its state. */
static void check_answer(const struct slot *s, const uint8_t *payload, size_t len, const int *kinds,
			 size_t nfds, int acks, const char *ack, bool closed)
{
	struct zds_request req;
	const char *why;
	const struct pod *p;
	bool ok = acks == 1 && !*ack;

	if (closed || !acks || len > ZDS_MAX_MSG)
		return;
	if (zds_decode_request(payload, len, &req, &why) || req.type == ZDS_REQ_NONE)
		FUZZ_CHECK(0, "a malformed request left the connection open (ack \"%s\")", ack);
	FUZZ_CHECK(req.type == ZDS_REQ_ADD ? nfds == 1 : nfds == 0,
		   "a %s with %zu fds left the connection open", zds_req_type_name(req.type), nfds);
	/* an absent string decodes as {NULL, 0}; the harness looks it up as "" */
	if (!req.uid.p)
		req.uid.p = "";
	switch (req.type) {
	case ZDS_REQ_ADD:
		p = pod_find_uid(&D.pods, req.uid.p, req.uid.len);
		FUZZ_CHECK(kind_is_net[kinds[0]], "an Add with a non-netns fd was not refused");
		if (ok) {
			FUZZ_CHECK(p && p->state == POD_UP && netns_id_eq(&p->nsid, &kind_ns[kinds[0]]),
				   "Add acked but the pod is not running in the netns sent");
			FUZZ_CHECK(p->seen_conn == s->c->wm.serial, "Add acked but the pod is not marked seen");
		} else {
			FUZZ_CHECK(!strncmp(ack, "failure to start proxy : ", 25),
				   "an Add nack that kept the connection: \"%s\"", ack);
			FUZZ_CHECK(!p || p->state == POD_PENDING || p->state == POD_UP,
				   "after a failed Add the pod is neither absent, pending nor running");
		}
		break;
	case ZDS_REQ_DEL:
		FUZZ_CHECK(ok, "Del was not acked ok: \"%s\"", ack);
		FUZZ_CHECK(!pod_find_uid(&D.pods, req.uid.p, req.uid.len), "Del acked but the pod is still there");
		break;
	case ZDS_REQ_KEEP:
		FUZZ_CHECK(ok && !s->c->wm.snapshot_sent, "Keep answered \"%s\" (snapshot sent: %d)", ack,
			   s->c->wm.snapshot_sent);
		break;
	case ZDS_REQ_SNAPSHOT_SENT:
		FUZZ_CHECK(ok && s->c->wm.snapshot_sent, "SnapshotSent answered \"%s\"", ack);
		for (p = D.pods.head; p; p = p->next)
			FUZZ_CHECK(p->seen_conn == s->c->wm.serial,
				   "a pod neither added nor kept on this connection survived its snapshot");
		break;
	default:
		break;
	}
}

static size_t step_message(struct slot *slots, uint8_t op, const uint8_t *data, size_t size, size_t pos)
{
	struct slot *s = &slots[((op >> 4) & 3) % SLOTS];
	int fds[MAX_SEND_FDS], kinds[MAX_SEND_FDS], acks, ret = -1;
	size_t nfds, len, i;
	char ack[ZDS_MAX_MSG + 1];
	bool eof, closed;

	if (op & 4) {
		uint8_t b = pos < size ? data[pos++] : 0;

		nfds = 4 + b % 29;
		for (i = 0; i < nfds; i++)
			kinds[i] = (int)((b + i) % K_KINDS);
	} else {
		nfds = op & 3;
		for (i = 0; i < nfds; i++)
			kinds[i] = pos < size ? data[pos++] % K_ALL : K_NET0;
	}
	for (i = 0; i < nfds; i++)
		fds[i] = kind_fd[kinds[i]];
	if (op & 8) {
		len = pos < size ? (size_t)data[pos++] << 8 : 0;
		len |= pos < size ? data[pos++] : 0;
	} else {
		len = pos < size ? data[pos++] : 0;
	}
	if (len > size - pos)
		len = size - pos;

	slot_open(s, false);
	if (!s->c)
		return pos + len;
	if (nfds <= FDPASS_MAX_FDS)
		ret = fdpass_send(s->peer, data + pos, len, fds, nfds, MSG_DONTWAIT);
	else
		ret = send_many(s->peer, data + pos, len, fds, nfds);
	FUZZ_CHECK(ret == 0, "the client could not send %zu bytes with %zu fds: %s", len, nfds,
		   strerror(-ret));
	if (op & 0x40) {
		/* the client is gone before its request is read: the Ack cannot be sent */
		hang_up(s->peer);
		s->peer = -1;
		zds_server_read(&D, s->c);
		FUZZ_CHECK(s->c->zc.ev.fd < 0, "the daemon kept a connection whose client hung up");
		sweep(s);
		return pos + len;
	}
	zds_server_read(&D, s->c);
	closed = s->c->zc.ev.fd < 0;
	ack[0] = '\0';
	acks = drain_peer(s, ack, sizeof(ack), &eof);
	FUZZ_CHECK(acks <= 1, "%d Acks for one request", acks);
	FUZZ_CHECK(closed || acks == 1, "a request left the connection open without an Ack");
	if (closed && !eof && !wait_end(s, &acks, ack, sizeof(ack))) {
		check_harness_fds();
		FUZZ_CHECK(0, "the daemon closed the connection but its client sees no end after 2 s (%zu fds, %zu bytes, op 0x%02x)",
			   nfds, len, op);
	}
	FUZZ_CHECK(acks <= 1, "%d Acks for one request", acks);
	check_answer(s, data + pos, len, kinds, nfds, acks, ack, closed);
	sweep(s);
	return pos + len;
}

/* A client that connects and is gone before accept(): the Hello cannot be sent. */
static void connect_and_leave(void)
{
	size_t n = D.n_conns;
	int peer = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	FUZZ_CHECK(peer >= 0, "socket: %s", strerror(errno));
	FUZZ_CHECK(connect(peer, (struct sockaddr *)&server_sa, server_sa_len) == 0, "connect: %s",
		   strerror(errno));
	hang_up(peer);
	zds_server_accept(&D);
	drain_backlog();
	FUZZ_CHECK(D.n_conns == n, "a connection whose client left before the Hello is still counted");
}

/*
 * A client connects while the daemon has no fd left: accept_fd() must give
 * up its spare fd, take the connection, drop it and take the spare back.
 */
static void connect_out_of_fds(void)
{
	struct rlimit old, low;
	size_t n = D.n_conns;
	int peer = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), lowest, spare = D.spare_fd, acks;
	bool eof;
	struct slot s = { NULL, -1, true };

	FUZZ_CHECK(peer >= 0, "socket: %s", strerror(errno));
	FUZZ_CHECK(connect(peer, (struct sockaddr *)&server_sa, server_sa_len) == 0, "connect: %s",
		   strerror(errno));
	lowest = dup(0);	/* the lowest free fd number: the limit goes there */
	FUZZ_CHECK(lowest >= 0, "dup: %s", strerror(errno));
	close(lowest);
	FUZZ_CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0, "getrlimit");
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	FUZZ_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit: %s", strerror(errno));
	zds_server_accept(&D);
	FUZZ_CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0, "setrlimit back: %s", strerror(errno));
	drain_backlog();
	FUZZ_CHECK(D.n_conns == n, "a connection was taken with no fd to spare");
	FUZZ_CHECK(spare < 0 || D.spare_fd >= 0, "the spare fd was not taken back");
	s.peer = peer;
	acks = drain_peer(&s, NULL, 0, &eof);
	FUZZ_CHECK(eof || wait_end(&s, &acks, NULL, 0), "the dropped client sees no end");
	FUZZ_CHECK(acks == 0, "the dropped client got %d datagrams", acks);
	close(peer);
}

static void step_command(struct slot *slots, uint8_t op)
{
	struct slot *s = &slots[((op >> 4) & 3) % SLOTS];
	struct pod *p;
	struct conn *c;
	struct list_node *w;
	int one;

	switch (op & 0x0f) {
	case 0:
		list_for_each(w, &D.pending)
			container_of(w, struct pod, pending)->next_retry.tv_sec =
				container_of(w, struct pod, pending)->next_retry.tv_nsec = 0;
		pods_retry_pending(&D);
		break;
	case 1:
		slot_hangup(s);
		break;
	case 2:
		if (s->c) {
			socklen_t l = sizeof(one);

			FUZZ_CHECK(getsockopt(s->c->zc.ev.fd, SOL_SOCKET, SO_PASSCRED, &one, &l) == 0, "SO_PASSCRED");
			one = !one;
			FUZZ_CHECK(setsockopt(s->c->zc.ev.fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0,
				   "SO_PASSCRED");
		}
		break;
	case 3:
		list_for_each(w, &D.waiting)
			container_of(w, struct conn, wait)->deadline.tv_sec =
				container_of(w, struct conn, wait)->deadline.tv_nsec = 0;
		zds_server_expire(&D);
		FUZZ_CHECK(list_empty(&D.waiting), "zds_server_expire left an expired connection");
		break;
	case 4:
		slot_open(s, true);
		break;
	case 5:
		report_all();
		break;
	case 6:
		D.cfg.log_format = D.cfg.log_format == LOG_FORMAT_LEGACY ? LOG_FORMAT_CURRENT :
									  LOG_FORMAT_LEGACY;
		break;
	case 7:
		if (s->c) {
			bool eof;

			zds_server_read(&D, s->c);
			FUZZ_CHECK(s->c->zc.ev.fd >= 0 && drain_peer(s, NULL, 0, &eof) == 0 && !eof,
				   "a wake-up with nothing to read changed the connection");
		}
		break;
	case 8:
		connect_and_leave();
		break;
	case 9:
		connect_out_of_fds();
		break;
	case 10:
		/* lowering it leaves the pods there: only new Adds are refused */
		D.cfg.max_pods = D.cfg.max_pods == 3 ? 1000 : 3;
		if (D.cfg.max_pods > max_pods_seen)
			max_pods_seen = D.cfg.max_pods;
		break;
	default:
		break;
	}
	/* connections closed here (expired, hung up) end for their clients */
	for (int i = 0; i < SLOTS; i++) {
		if (slots[i].c && slots[i].c->zc.ev.fd < 0) {
			bool eof;
			int acks = drain_peer(&slots[i], NULL, 0, &eof);

			FUZZ_CHECK(eof || wait_end(&slots[i], &acks, NULL, 0),
				   "the daemon closed a connection but the client sees no end");
		}
		sweep(&slots[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slot slots[SLOTS];
	size_t pos = 0;
	int steps = 0, i;

	for (i = 0; i < SLOTS; i++) {
		slots[i].c = NULL;
		slots[i].peer = -1;
		slots[i].hello_seen = false;
	}
	/* every input starts from the same daemon: a fresh table (an earlier one may have grown), zero stats */
	pod_table_free(&D.pods);
	FUZZ_CHECK(pod_table_init(&D.pods) == 0, "pod_table_init");
	memset(&D.stats, 0, sizeof(D.stats));
	proxy_stub_start_attempts = 0;
	D.cfg.max_pods = max_pods_seen = 3;
	D.cfg.log_format = LOG_FORMAT_LEGACY;
	check_harness_fds();
	baseline_fds = count_fds();
	baseline_own_fds = count_fds_how(false);
	check_state(slots);

	while (pos < size && steps++ < MAX_STEPS) {
		uint8_t op = data[pos++];

		if (op & 0x80)
			step_command(slots, op);
		else
			pos = step_message(slots, op, data, size, pos);
		/* the end of the daemon's loop iteration */
		pods_retry_pending(&D);
		for (i = 0; i < SLOTS; i++)
			sweep(&slots[i]);
		loop_run_deferred(&D.loop);
		check_state(slots);
	}

	/* tear down: the clients leave, every pod is drained */
	for (i = 0; i < SLOTS; i++) {
		if (slots[i].c)
			zds_server_close(&D, slots[i].c, "fuzz: end of input");
		if (slots[i].peer >= 0)
			close(slots[i].peer);
		slots[i].c = NULL;
		slots[i].peer = -1;
	}
	while (D.pods.head)
		pod_drain(&D, D.pods.head);
	loop_run_deferred(&D.loop);
	check_harness_fds();

	FUZZ_CHECK(D.pods.count == 0 && !D.pods.head, "pods left: %zu", D.pods.count);
	FUZZ_CHECK(D.n_up == 0, "n_up %zu after draining everything", D.n_up);
	FUZZ_CHECK(D.n_pending == 0, "n_pending %zu after draining everything", D.n_pending);
	FUZZ_CHECK(list_empty(&D.pending), "the pending FIFO is not empty after draining everything");
	FUZZ_CHECK(list_empty(&D.conns) && D.n_conns == 0, "connections left: %zu", D.n_conns);
	FUZZ_CHECK(list_empty(&D.waiting), "the wait list is not empty");
	for (i = 0; i < (int)D.pods.nbuckets; i++)
		FUZZ_CHECK(!D.pods.by_uid[i] && !D.pods.by_ns[i], "a hash chain still names a pod");
	FUZZ_CHECK(fds_as_expected(0, &i), "%d fds open after the input, %d before: leaked on some path", i,
		   baseline_own_fds);
	return 0;
}
