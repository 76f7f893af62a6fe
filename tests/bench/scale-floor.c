/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scale-floor: the kernel work of one walk-thru Add while this process
 * holds M pods the way the daemon does, to set the daemon's Add latency at
 * M pods (bench section 4) against what the kernel alone takes there.
 *
 * First, untimed, for each netns NSDIR/HOLD<j> (j < M): open it and make
 * the pod's three listeners as below, all kept: M netns fds, 3M listeners
 * bound in M netns (the bind and listen hashes), 4M fds (the fd table),
 * 3M entries in one epoll set. Then, for each netns NSDIR/PREFIX<i>
 * (i < N), timed by CLOCK_MONOTONIC, the Add:
 *
 *   fstat(pod) (its identity) ; setns(pod) ; 3 x socket(AF_INET,
 *   SOCK_STREAM) ; setns(home) ; 3 x { SO_REUSEADDR, SO_REUSEPORT, bind
 *   127.0.0.1:15008/15006/15001, listen(4096), epoll_ctl(ADD) } ;
 *   SIOCGIFFLAGS "lo" on the first listener (the lo check) ; the ack: a
 *   2-byte send on a SOCK_SEQPACKET pair whose other end a child process
 *   is blocked reading
 *
 * and, untimed, the Del: the listeners and the netns fd closed, so the
 * table is back at M pods for the next probe (as the bench's add/del
 * cycles). One process, back to back: warm caches, no process started
 * between two Adds; what grows with M here is the kernel's.
 *
 *   scale-floor NSDIR HOLD M PREFIX N
 *     prints: scale-floor held M n N min_us A p50_us B p99_us C (nearest rank)
 *
 * The soft open-file limit is raised to the hard one (4M + a few fds are
 * needed). libc only.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"
#include "timing.h"

static int home = -1, ep = -1;

static int open_ns(const char *dir, const char *prefix, long i)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s%ld", dir, prefix, i);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "scale-floor: open %s: %s\n", path, strerror(errno));
	return fd;
}

/* A pod's three listeners made in its netns, bound and watched at home: 0 or -1 (said why). */
static int listeners(int nsfd, int s[3])
{
	static const uint16_t ports[3] = { 15008, 15006, 15001 };
	int k, one = 1;

	if (setns(nsfd, CLONE_NEWNET) < 0)
		return perror("scale-floor: setns"), -1;
	for (k = 0; k < 3; k++)
		s[k] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (setns(home, CLONE_NEWNET) < 0)
		return perror("scale-floor: setns home"), -1;
	for (k = 0; k < 3; k++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(ports[k]) };
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = s[k] };

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (s[k] < 0 || setsockopt(s[k], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    setsockopt(s[k], SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
		    bind(s[k], (struct sockaddr *)&a, sizeof(a)) || listen(s[k], 4096) ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, s[k], &ev)) {
			fprintf(stderr, "scale-floor: listener %u: %s\n", ports[k], strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The timed part of one probe: the Add's kernel work, lo check and ack included. */
static int add(int nsfd, int s[3], int peer)
{
	static const char ack[2] = { 0x0a, 0x00 };
	struct ifreq ifr;
	struct stat st;

	if (fstat(nsfd, &st) < 0 || listeners(nsfd, s))
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s[0], SIOCGIFFLAGS, &ifr) < 0 ||
	    send(peer, ack, sizeof(ack), MSG_DONTWAIT) != (ssize_t)sizeof(ack))
		return perror("scale-floor: lo check or ack"), -1;
	return 0;
}

static int hold(const char *dir, const char *prefix, long m)
{
	struct rlimit rl;
	long j;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (j = 0; j < m; j++) {
		int s[3], nsfd = open_ns(dir, prefix, j);

		if (nsfd < 0 || listeners(nsfd, s))
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int64_t *t, t0;
	long m, n, i;
	int peer = -1, s[3], k;
	char echo[8];
	pid_t child;

	if (argc != 6 || (m = strtol(argv[3], NULL, 10)) < 0 || m > 100000 ||
	    (n = strtol(argv[5], NULL, 10)) < 1 || n > 100000) {
		fprintf(stderr, "Usage: scale-floor NSDIR HOLD M PREFIX N\n");
		return 2;
	}
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	t = calloc((size_t)n, sizeof(*t));
	child = waiting_peer(&peer);
	if (home < 0 || ep < 0 || !t || child < 0) {
		perror("scale-floor");
		return 1;
	}
	if (hold(argv[1], argv[2], m))
		return 1;
	for (i = 0; i < n; i++) {
		int nsfd = open_ns(argv[1], argv[4], i);

		if (nsfd < 0)
			return 1;
		t0 = now_ns();
		if (add(nsfd, s, peer))
			return 1;
		t[i] = now_ns() - t0;
		/* untimed: the peer answers; the Del */
		if (recv(peer, echo, sizeof(echo), 0) != 1)
			return perror("scale-floor: peer"), 1;
		for (k = 0; k < 3; k++)
			close(s[k]);
		close(nsfd);
	}
	close(peer);
	waitpid(child, NULL, 0);
	qsort(t, (size_t)n, sizeof(*t), cmp64);
	printf("scale-floor held %ld n %ld min_us %.1f p50_us %.1f p99_us %.1f\n", m, n,
	       (double)t[0] / 1e3, (double)t[nearest_rank((size_t)n, 0.5)] / 1e3,
	       (double)t[nearest_rank((size_t)n, 0.99)] / 1e3);
	return 0;
}
