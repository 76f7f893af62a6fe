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
 * the syscalls the daemon cannot avoid for the walk-thru listener set (it
 * does more: receive the fd, check it, look at lo, ack, log). One process,
 * back to back (warm caches: compare with the daemon's figure during a
 * sync, not with one-shot adds). Everything stays open until the end, as
 * the daemon keeps a pod's listeners, then is closed.
 *
 *   add-floor NSDIR PREFIX N
 *     prints: add-floor n N min_us A p50_us B p99_us C   (nearest rank)
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static size_t nearest_rank(size_t n, double q)
{
	size_t r = (size_t)((double)n * q + 0.999999);

	return r < 1 ? 0 : (r > n ? n - 1 : r - 1);
}

int main(int argc, char **argv)
{
	static const uint16_t ports[3] = { 15008, 15006, 15001 };
	char path[4096];
	int64_t *t, t0;
	int *fds, home, ep, one = 1;
	long n, i, k;

	if (argc != 4 || (n = strtol(argv[3], NULL, 10)) < 1 || n > 100000) {
		fprintf(stderr, "Usage: add-floor NSDIR PREFIX N\n");
		return 2;
	}
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	t = calloc((size_t)n, sizeof(*t));
	fds = calloc((size_t)n * 4, sizeof(*fds));
	if (home < 0 || ep < 0 || !t || !fds) {
		perror("add-floor");
		return 1;
	}
	for (i = 0; i < n; i++) {
		int nsfd, s[3];

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
		t[i] = now_ns() - t0;
		fds[i * 4 + 3] = nsfd;
	}
	for (i = 0; i < n * 4; i++)
		close(fds[i]);
	qsort(t, (size_t)n, sizeof(*t), cmp64);
	printf("add-floor n %ld min_us %.1f p50_us %.1f p99_us %.1f\n", n, (double)t[0] / 1e3,
	       (double)t[nearest_rank((size_t)n, 0.5)] / 1e3, (double)t[nearest_rank((size_t)n, 0.99)] / 1e3);
	return 0;
}
