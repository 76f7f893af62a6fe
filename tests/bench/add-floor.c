/* SPDX-License-Identifier: Apache-2.0 */
/*
 * add-floor: the kernel work of a walk-thru Add on its own, to set the
 * daemon's Add latency against. For each network namespace NSDIR/PREFIX<i>
 * (i = 0..N-1, each used once), timed by CLOCK_MONOTONIC:
 *
 *   setns(pod) ; 3 x socket(AF_INET, SOCK_STREAM) ; setns(home) ;
 *   3 x { SO_REUSEADDR, SO_REUSEPORT, bind 127.0.0.1:15008/15006/15001,
 *         listen(4096), epoll_ctl(ADD) }
 *
 * the syscalls the daemon cannot avoid for the walk-thru listener set. The
 * issue asks for two more things per Add, timed on top as "add-required":
 *
 *   the lo check: SIOCGIFFLAGS "lo" through the first listener, as the
 *   daemon asks it (common/ifflags.c; scale-floor.c does the same); and the
 *   ack: a 2-byte sendmsg on a SOCK_SEQPACKET pair whose other end a child
 *   process is blocked reading (the client waiting for it).
 *
 * (The daemon does more still: receive the fd, check it, log.) One process,
 * back to back (warm caches: compare with the daemon's figure during a
 * sync, not with one-shot adds). Everything stays open until the end, as
 * the daemon keeps a pod's listeners, then is closed.
 *
 *   add-floor NSDIR PREFIX N
 *     prints: add-floor n N min_us A p50_us B p99_us C   (nearest rank)
 *             add-required n N min_us A p50_us B p99_us C
 *
 *   add-floor --sets NSDIR PREFIX N
 *     the walk-thru set and the ambient set (--profile ambient: 7 sockets,
 *     127.0.0.1 and [::1]:15053 TCP + UDP, [::]:15008/15006/15001; SO_MARK,
 *     V6ONLY off, IPV6_TRANSPARENT, backlog 128) in alternate netns, so the
 *     two share the machine's state; the ambient rounds' "required" adds
 *     the sock_diag confirm the daemon makes for that set (a NETLINK_SOCK_DIAG
 *     socket made in the visit, fstat of each socket, one datagram of exact
 *     lookups, one recvmmsg of the answers, each inode compared). Prints
 *     walk-floor / walk-required / ambient-floor / ambient-required lines,
 *     N/2 rounds each: the floor of the "ambient <= 2x walk-thru" target.
 *
 *   add-floor --serve SOCK      add-floor --client SOCK NETNS
 *     the floor of the one-shot handoff (make bench's row 1): --serve
 *     listens on a SOCK_SEQPACKET Unix socket; for each connection it sends
 *     a hello, receives one message carrying a netns fd (SCM_RIGHTS), makes
 *     the walk-thru set's listeners there with the "add-required" work above
 *     (kept open, as the daemon keeps a pod's), sends the 2-byte ack and
 *     waits for EOF. --client is the least a one-shot client does: open
 *     NETNS, connect, read the hello, send the fd, read the ack, exit 0.
 *     Timed from outside (spawn-timer), like cni-emulator add; the client
 *     is linked the same way (libc only, dynamic). No ZDS encoding on
 *     either side: that part is ours to count against the floor.
 *     --serve prints "serve-add us T" per Add: its "add-required" work
 *     timed inside, from the visit to the ack sent, as the daemon's
 *     histogram times an Add - the floor of that histogram under the same
 *     one-shot clients (woken cold, the client exiting after the ack).
 *
 *   add-floor --lockstep NSDIR PREFIX N
 *     the floor of the snapshot (make bench's row 3): two processes, as
 *     the agent and ztunnel are. The parent holds the N netns fds (as the
 *     agent does) and sends each, SCM_RIGHTS with a 128-byte message (about
 *     a ZDS Add's size) on a SOCK_SEQPACKET pair, then blocks reading the
 *     ack before the next (lock-step, as istio-cni). The child blocks
 *     reading, makes the walk-thru Add's "add-required" work above (the
 *     listeners and the netns fd kept) and acks. Both wait by sleeping in
 *     recv(), so each pod pays the machine's wake-ups between the two as a
 *     snapshot does. Prints: lockstep n N ms T pods_per_s R
 *
 * libc only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <linux/netlink.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"
#include "timing.h"

static void report(const char *what, int64_t *t, long n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp64);
	printf("%s n %ld min_us %.1f p50_us %.1f p99_us %.1f\n", what, n, (double)t[0] / 1e3,
	       (double)t[nearest_rank((size_t)n, 0.5)] / 1e3, (double)t[nearest_rank((size_t)n, 0.99)] / 1e3);
}

/* lo's flags through a socket of the pod's netns: how the daemon checks lo (if_is_up) */
static int lo_check(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	return ioctl(fd, SIOCGIFFLAGS, &ifr);
}

/* One listener of a set, and the set: what the daemon makes for each Add of that profile. */
struct lspec {
	int family, type;
	const char *addr;
	uint16_t port;
	bool transparent;
};

struct lset {
	const struct lspec *l;
	int n, backlog;
	uint32_t mark;		/* 0: none */
	bool confirm;		/* the sock_diag confirm of the ambient profile */
};

static const struct lspec walk_l[] = {
	{ AF_INET, SOCK_STREAM, "127.0.0.1", 15008, false },
	{ AF_INET, SOCK_STREAM, "127.0.0.1", 15006, false },
	{ AF_INET, SOCK_STREAM, "127.0.0.1", 15001, false },
};
static const struct lspec ambient_l[] = {
	{ AF_INET, SOCK_STREAM, "127.0.0.1", 15053, false },
	{ AF_INET, SOCK_DGRAM, "127.0.0.1", 15053, false },
	{ AF_INET6, SOCK_STREAM, "::1", 15053, false },
	{ AF_INET6, SOCK_DGRAM, "::1", 15053, false },
	{ AF_INET6, SOCK_STREAM, "::", 15008, true },
	{ AF_INET6, SOCK_STREAM, "::", 15006, true },
	{ AF_INET6, SOCK_STREAM, "::", 15001, true },
};
static const struct lset walk = { walk_l, 3, 4096, 0, false };
static const struct lset ambient = { ambient_l, 7, 128, 1337, true };
#define MAX_L 7

static socklen_t lsockaddr(const struct lspec *l, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (l->family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(l->port);
		inet_pton(AF_INET6, l->addr, &a->sin6_addr);
		return sizeof(*a);
	}
	((struct sockaddr_in *)ss)->sin_family = AF_INET;
	((struct sockaddr_in *)ss)->sin_port = htons(l->port);
	inet_pton(AF_INET, l->addr, &((struct sockaddr_in *)ss)->sin_addr);
	return sizeof(struct sockaddr_in);
}

/* options, bind, listen, (transparent), epoll_ctl: 0 or -1 */
static int make_listener(const struct lset *set, const struct lspec *l, int fd, int ep)
{
	struct sockaddr_storage ss;
	socklen_t sl = lsockaddr(l, &ss);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	int one = 1, zero = 0;

	if (fd < 0 || (set->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &set->mark, sizeof(set->mark))) ||
	    (l->type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    (l->family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero))) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || (l->type == SOCK_STREAM && listen(fd, set->backlog)) ||
	    (l->transparent && setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))))
		return -1;
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* The confirm: each socket's inode, all exact lookups in one datagram, one recvmmsg; 0 when all match. */
static int confirm(int sd, const struct lset *set, const int *s)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req[MAX_L];
	char rep[MAX_L][1024];
	struct iovec iov[MAX_L];
	struct mmsghdr mm[MAX_L];
	uint32_t ino[MAX_L];
	struct stat st;
	int k, got;

	memset(req, 0, sizeof(req));
	memset(mm, 0, sizeof(mm));
	for (k = 0; k < set->n; k++) {
		struct sockaddr_storage ss;
		const struct lspec *l = &set->l[k];

		if (fstat(s[k], &st) < 0)
			return -1;
		ino[k] = (uint32_t)st.st_ino;
		lsockaddr(l, &ss);
		req[k].h.nlmsg_len = sizeof(req[k]);
		req[k].h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
		req[k].h.nlmsg_flags = NLM_F_REQUEST;
		req[k].h.nlmsg_seq = (uint32_t)k + 1;
		req[k].r.sdiag_family = (uint8_t)l->family;
		req[k].r.sdiag_protocol = l->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
		req[k].r.idiag_states = ~0u;
		/* the local address on both sides: TCP reads src, UDP dst */
		memcpy(req[k].r.id.idiag_src, l->family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr :
				(void *)&((struct sockaddr_in *)&ss)->sin_addr, l->family == AF_INET6 ? 16 : 4);
		memcpy(req[k].r.id.idiag_dst, req[k].r.id.idiag_src, 16);
		req[k].r.id.idiag_sport = req[k].r.id.idiag_dport = htons(l->port);
		req[k].r.id.idiag_cookie[0] = req[k].r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
		iov[k] = (struct iovec){ rep[k], sizeof(rep[k]) };
		mm[k].msg_hdr.msg_iov = &iov[k];
		mm[k].msg_hdr.msg_iovlen = 1;
	}
	if (send(sd, req, sizeof(req[0]) * (size_t)set->n, 0) < 0)
		return -1;
	got = recvmmsg(sd, mm, (unsigned int)set->n, MSG_DONTWAIT, NULL);
	if (got != set->n)
		return -1;
	for (k = 0; k < set->n; k++) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)rep[k];
		const struct inet_diag_msg *m = NLMSG_DATA(h);

		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_seq < 1 || h->nlmsg_seq > (uint32_t)set->n ||
		    m->idiag_inode != ino[h->nlmsg_seq - 1])
			return -1;
	}
	return 0;
}

/*
 * One Add of a set into nsfd: *floor_ns the kernel work alone (the visit,
 * the sockets, the listeners), *full_ns with the sock_diag socket made in
 * the visit and the confirm (ambient), the lo check and the ack. The listeners
 * stay open (kept[0..set->n-1]) as the daemon keeps them.
 */
static int one_add(const struct lset *set, int nsfd, int home, int ep, int peer, int *kept,
		   int64_t *floor_ns, int64_t *full_ns)
{
	static const char ack[2] = { 0x0a, 0x00 };
	int64_t t0, ta, tb, t1;
	int k, sd = -1;

	t0 = now_ns();
	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -1;
	for (k = 0; k < set->n; k++)
		kept[k] = socket(set->l[k].family, set->l[k].type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ta = now_ns();
	if (set->confirm)
		sd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
	tb = now_ns();
	if (setns(home, CLONE_NEWNET) < 0)
		return -1;
	for (k = 0; k < set->n; k++)
		if (make_listener(set, &set->l[k], kept[k], ep) < 0) {
			fprintf(stderr, "add-floor: listener %s:%u: %s\n", set->l[k].addr, set->l[k].port,
				strerror(errno));
			return -1;
		}
	t1 = now_ns();
	*floor_ns = t1 - t0 - (tb - ta);
	if ((set->confirm && (sd < 0 || confirm(sd, set, kept) < 0 || close(sd) < 0)) ||
	    lo_check(kept[0]) < 0 || send(peer, ack, sizeof(ack), MSG_DONTWAIT) != (ssize_t)sizeof(ack)) {
		perror("add-floor: confirm, lo check or ack");
		return -1;
	}
	*full_ns = now_ns() - t0;
	return 0;
}

/* len bytes of buf with fd (SCM_RIGHTS) in one message: len, or -1 */
static ssize_t send_fd(int s, const void *buf, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(s, &m, 0);
}

/* --client SOCK NETNS: a one-shot handoff with nothing but the syscalls */
static int client(const char *path, const char *netns)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char b[64] = { 0x0a, 0x00 };
	int nsfd = open(netns, O_RDONLY | O_CLOEXEC);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (nsfd < 0 || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    recv(fd, b + 2, sizeof(b) - 2, 0) <= 0 || send_fd(fd, b, 2, nsfd) != 2 ||
	    recv(fd, b, sizeof(b), 0) != 2) {
		perror("add-floor --client");
		return 1;
	}
	return 0;
}

/* The netns fd of one message on c (SCM_RIGHTS), or -1 */
static int recv_fd(int c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char b[64];
	struct iovec iov = { b, sizeof(b) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(c, &m, MSG_CMSG_CLOEXEC) <= 0 || !(cm = CMSG_FIRSTHDR(&m)) ||
	    cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
	return fd;
}

/* --serve SOCK: until killed, one walk-thru Add per connection (listeners and netns kept) */
static int serve(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int kept[MAX_L], c, nsfd;
	int64_t f, full;
	char b[64];

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (home < 0 || ep < 0 || ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ls, 64) < 0) {
		perror("add-floor --serve");
		return 1;
	}
	for (;;) {
		c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0 || send(c, "hello", 5, 0) != 5 || (nsfd = recv_fd(c)) < 0 ||
		    one_add(&walk, nsfd, home, ep, c, kept, &f, &full) < 0) {
			perror("add-floor --serve");
			return 1;
		}
		/* its own Add, timed as the daemon's histogram times one: the bench reads these */
		printf("serve-add us %.1f\n", (double)full / 1e3);
		fflush(stdout);
		while (recv(c, b, sizeof(b), 0) > 0)
			;
		close(c);
	}
}

/* --lockstep's child: an Add per message until EOF, everything kept open to the end */
static int lockstep_serve(int c, long n)
{
	int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int *kept = calloc((size_t)n * (MAX_L + 1), sizeof(*kept));
	int64_t f, full;
	long i;

	if (home < 0 || ep < 0 || !kept)
		return 1;
	for (i = 0; i < n; i++) {
		int *k = kept + i * (MAX_L + 1);

		if ((k[MAX_L] = recv_fd(c)) < 0 || one_add(&walk, k[MAX_L], home, ep, c, k, &f, &full) < 0) {
			perror("add-floor --lockstep: the ztunnel side");
			return 1;
		}
	}
	return 0;	/* the exit closes them */
}

/* --lockstep NSDIR PREFIX N: N pods, lock-step, from a process holding their netns fds */
static int lockstep(const char *dir, const char *prefix, long n)
{
	char path[4096], msg[128] = { 0 }, ack[8];
	int *ns = calloc((size_t)n, sizeof(*ns)), sv[2], st;
	struct rlimit rl;
	int64_t t0, t1;
	pid_t pid;
	long i;

	/* as the daemon and the agent do: the soft limit raised to the hard one */
	if (!ns || getrlimit(RLIMIT_NOFILE, &rl) < 0 || (rl.rlim_cur = rl.rlim_max, 0) ||
	    setrlimit(RLIMIT_NOFILE, &rl) < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return 1;
	pid = fork();	/* first: the child does not inherit the agent side's netns fds */
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(sv[0]);
		_exit(lockstep_serve(sv[1], n));
	}
	close(sv[1]);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s%ld", dir, prefix, i);
		if ((ns[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "add-floor: open %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	t0 = now_ns();
	for (i = 0; i < n; i++)
		if (send_fd(sv[0], msg, sizeof(msg), ns[i]) < 0 || recv(sv[0], ack, sizeof(ack), 0) != 2) {
			perror("add-floor --lockstep: the agent side");
			return 1;
		}
	t1 = now_ns();
	close(sv[0]);
	if (waitpid(pid, &st, 0) < 0 || st != 0)
		return 1;
	printf("lockstep n %ld ms %.1f pods_per_s %.0f\n", n, (double)(t1 - t0) / 1e6,
	       (double)n * 1e9 / (double)(t1 - t0));
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096], echo[8];
	int64_t *t[4];
	int *fds, home, ep, peer = -1, sets, a = 1, nsfd;
	long n, i, k, cnt[2] = { 0, 0 };
	pid_t child;

	if (argc == 3 && !strcmp(argv[1], "--serve"))
		return serve(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "--client"))
		return client(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "--lockstep") && (n = strtol(argv[4], NULL, 10)) >= 1 &&
	    n <= 100000)
		return lockstep(argv[2], argv[3], n);
	sets = argc > 1 && !strcmp(argv[1], "--sets");
	a += sets;
	if (argc != a + 3 || (n = strtol(argv[a + 2], NULL, 10)) < 1 || n > 100000) {
		fprintf(stderr, "Usage: add-floor [--sets] NSDIR PREFIX N\n"
				"       add-floor --lockstep NSDIR PREFIX N\n"
				"       add-floor --serve SOCK | --client SOCK NETNS\n");
		return 2;
	}
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (k = 0; k < 4; k++)
		t[k] = calloc((size_t)n, sizeof(*t[k]));
	fds = calloc((size_t)n * (MAX_L + 1), sizeof(*fds));
	child = waiting_peer(&peer);
	if (home < 0 || ep < 0 || !t[0] || !t[1] || !t[2] || !t[3] || !fds || child < 0) {
		perror("add-floor");
		return 1;
	}
	for (i = 0; i < n * (MAX_L + 1); i++)
		fds[i] = -1;
	for (i = 0; i < n; i++) {
		/* --sets: the walk-thru set in even rounds, the ambient set in odd ones */
		int amb = sets && (i & 1);
		const struct lset *set = amb ? &ambient : &walk;
		int *kept = fds + i * (MAX_L + 1);

		snprintf(path, sizeof(path), "%s/%s%ld", argv[a], argv[a + 1], i);
		nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0) {
			fprintf(stderr, "add-floor: open %s: %s\n", path, strerror(errno));
			return 1;
		}
		if (one_add(set, nsfd, home, ep, peer, kept, &t[amb * 2][cnt[amb]],
			    &t[amb * 2 + 1][cnt[amb]]) < 0) {
			perror("add-floor");
			return 1;
		}
		cnt[amb]++;
		/* untimed: the peer answers, and is back in recv() before the next round */
		if (recv(peer, echo, sizeof(echo), 0) != 1) {
			perror("add-floor: peer");
			return 1;
		}
		kept[MAX_L] = nsfd;
	}
	close(peer);
	waitpid(child, NULL, 0);
	for (i = 0; i < n * (MAX_L + 1); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	report(sets ? "walk-floor" : "add-floor", t[0], cnt[0]);
	report(sets ? "walk-required" : "add-required", t[1], cnt[0]);
	if (sets) {
		report("ambient-floor", t[2], cnt[1]);
		report("ambient-required", t[3], cnt[1]);
	}
	return 0;
}
