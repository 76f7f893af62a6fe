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
 *   an rtnetlink socket made during the visit, RTM_GETLINK "lo" (the lo
 *   check; the same request nl.c sends through libmnl), its close; and the
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
 * libc only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"

static void report(const char *what, int64_t *t, long n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp64);
	printf("%s n %ld min_us %.1f p50_us %.1f p99_us %.1f\n", what, n, (double)t[0] / 1e3,
	       (double)t[nearest_rank((size_t)n, 0.5)] / 1e3, (double)t[nearest_rank((size_t)n, 0.99)] / 1e3);
}

/* RTM_GETLINK for "lo", statistics skipped, no ack: what nl_link_is_up() sends */
static int lo_query(int nl)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
		struct rtattr name;
		char lo[4];
		struct rtattr mask;
		uint32_t mask_v;
	} req;
	char buf[8192];

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = RTM_GETLINK;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.i.ifi_family = AF_UNSPEC;
	req.name.rta_len = RTA_LENGTH(3);
	req.name.rta_type = IFLA_IFNAME;
	memcpy(req.lo, "lo", 3);
	req.mask.rta_len = RTA_LENGTH(4);
	req.mask.rta_type = IFLA_EXT_MASK;
	req.mask_v = RTEXT_FILTER_SKIP_STATS;
	if (send(nl, &req, sizeof(req), 0) < 0 || recv(nl, buf, sizeof(buf), 0) <= 0)
		return -1;
	return ((struct nlmsghdr *)buf)->nlmsg_type == RTM_NEWLINK ? 0 : -1;
}

/* the client waiting for the ack: reads 2 bytes, answers 1, until EOF */
static pid_t waiting_peer(int *fd)
{
	int sv[2];
	char b[8];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		while (recv(sv[1], b, sizeof(b), 0) > 0)
			if (send(sv[1], b, 1, 0) < 0)
				break;
		_exit(0);
	}
	close(sv[1]);
	*fd = sv[0];
	return pid;
}

int main(int argc, char **argv)
{
	static const uint16_t ports[3] = { 15008, 15006, 15001 };
	char path[4096];
	int64_t *t, *full, t0, ta, tb, t1;
	int *fds, home, ep, peer = -1, one = 1;
	pid_t child;
	char ack[2] = { 0x0a, 0x00 }, echo[8];
	long n, i, k;

	if (argc != 4 || (n = strtol(argv[3], NULL, 10)) < 1 || n > 100000) {
		fprintf(stderr, "Usage: add-floor NSDIR PREFIX N\n");
		return 2;
	}
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	t = calloc((size_t)n, sizeof(*t));
	full = calloc((size_t)n, sizeof(*full));
	fds = calloc((size_t)n * 4, sizeof(*fds));
	child = waiting_peer(&peer);
	if (home < 0 || ep < 0 || !t || !full || !fds || child < 0) {
		perror("add-floor");
		return 1;
	}
	for (i = 0; i < n; i++) {
		int nsfd, s[3], nl;

		snprintf(path, sizeof(path), "%s/%s%ld", argv[1], argv[2], i);
		nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0) {
			fprintf(stderr, "add-floor: open %s: %s\n", path, strerror(errno));
			return 1;
		}
		t0 = now_ns();
		if (setns(nsfd, CLONE_NEWNET) < 0) {
			perror("add-floor: setns");
			return 1;
		}
		for (k = 0; k < 3; k++)
			s[k] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		ta = now_ns();
		nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
		tb = now_ns();
		if (setns(home, CLONE_NEWNET) < 0) {
			perror("add-floor: setns home");
			return 1;
		}
		for (k = 0; k < 3; k++) {
			struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(ports[k]) };
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = s[k] };

			a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			if (s[k] < 0 || setsockopt(s[k], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
			    setsockopt(s[k], SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
			    bind(s[k], (struct sockaddr *)&a, sizeof(a)) || listen(s[k], 4096) ||
			    epoll_ctl(ep, EPOLL_CTL_ADD, s[k], &ev)) {
				fprintf(stderr, "add-floor: %s: listener %u: %s\n", path, ports[k], strerror(errno));
				return 1;
			}
			fds[i * 4 + k] = s[k];
		}
		t1 = now_ns();
		t[i] = t1 - t0 - (tb - ta);
		if (nl < 0 || lo_query(nl) < 0 || close(nl) < 0 ||
		    send(peer, ack, sizeof(ack), MSG_DONTWAIT) != (ssize_t)sizeof(ack)) {
			perror("add-floor: lo query or ack");
			return 1;
		}
		full[i] = now_ns() - t0;
		/* untimed: the peer answers, and is back in recv() before the next round */
		if (recv(peer, echo, sizeof(echo), 0) != 1) {
			perror("add-floor: peer");
			return 1;
		}
		fds[i * 4 + 3] = nsfd;
	}
	close(peer);
	waitpid(child, NULL, 0);
	for (i = 0; i < n * 4; i++)
		close(fds[i]);
	report("add-floor", t, n);
	report("add-required", full, n);
	return 0;
}
