/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tcpbench: source, sink and connection timer for the relay benchmark.
 * Each endpoint can be put in a network namespace (--netns PATH: setns()
 * before its sockets are made; a socket stays in the netns it was made in),
 * so one client process can alternate between paths that live in different
 * namespaces and noise hits every path alike.
 *
 *   tcpbench sink [--netns PATH] ADDR DISCARD_PORT ECHO_PORT
 *     DISCARD_PORT: reads until EOF, throwing the bytes away (recv with
 *     MSG_TRUNC: no copy to user space), then answers 16 bytes: the byte
 *     count and the CPU time (ns) this process spent on that connection, and
 *     closes. ECHO_PORT: reads 1 byte, writes it back, then reads until EOF
 *     and closes. One poll() loop, any number of connections. Prints
 *     "ready" once listening. Runs until SIGTERM/SIGINT.
 *
 *   tcpbench stream --bytes N --rounds R TARGET...
 *     R rounds; in each, for every TARGET in turn (in a new pseudo-random
 *     order each round, fixed seed), connects, sends N bytes (send() from a 1 MiB buffer), half-
 *     closes and waits for the sink's answer. Time: connect() start to the
 *     answer. Prints per transfer:
 *       stream NAME round R bytes N secs S MiBps M src_cpu P sink_cpu Q
 *     (src_cpu/sink_cpu: CPU seconds of the source / sink over wall time,
 *     in %: near 100 means that end was the bottleneck), or
 *       stream NAME round R failed
 *     when a connect, send or the answer failed or nothing moved for 5 s
 *     (a stalled relay). Then per TARGET, over the transfers that completed:
 *       stream-summary NAME median_MiBps M best_MiBps B ok K failed F
 *
 *   tcpbench connect --count N TARGET...
 *     N rounds; in each, for every TARGET (shuffled per round): socket() (outside the
 *     timing), then connect(), send 1 byte, receive the echoed byte; time
 *     from connect() to the byte back; close. Prints per TARGET:
 *       connect-summary NAME n N min_us A p50_us B p99_us C
 *     (nearest rank).
 *
 *   TARGET is NAME,NETNS,ADDR,PORT (NETNS a path, or "-" for the current).
 *
 * libc only. Exit 1 on any failed connection or short transfer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"

#define MAX_TARGETS 64	/* 6 probes each new HBONE connection on its own address */
#define MAX_CONNS 256
#define SRC_BUF (1 << 20)
#define IO_TIMEOUT_MS 5000	/* per send/recv call: idle this long = stalled */

struct target {
	char name[64];
	int nsfd;		/* -1: current netns */
	struct sockaddr_in sa;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tcpbench sink [--netns PATH] ADDR DISCARD_PORT ECHO_PORT\n"
		"       tcpbench stream --bytes N --rounds R NAME,NETNS,ADDR,PORT...\n"
		"       tcpbench connect --count N NAME,NETNS,ADDR,PORT...\n");
}

static int64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static int enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "tcpbench: enter netns %s: %s\n", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int parse_addr(const char *addr, const char *port, struct sockaddr_in *sa)
{
	char *end;
	unsigned long p = strtoul(port, &end, 10);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)p);
	if (*end || p == 0 || p > 65535 || inet_pton(AF_INET, addr, &sa->sin_addr) != 1) {
		fprintf(stderr, "tcpbench: bad address %s:%s\n", addr, port);
		return -1;
	}
	return 0;
}

static int parse_target(const char *s, struct target *t)
{
	char buf[512], *f[4], *save = NULL, *tok;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok && n < 4; tok = strtok_r(NULL, ",", &save))
		f[n++] = tok;
	if (n != 4 || strtok_r(NULL, ",", &save)) {
		fprintf(stderr, "tcpbench: bad target '%s' (NAME,NETNS,ADDR,PORT)\n", s);
		return -1;
	}
	snprintf(t->name, sizeof(t->name), "%s", f[0]);
	t->nsfd = -1;
	if (strcmp(f[1], "-")) {
		t->nsfd = open(f[1], O_RDONLY | O_CLOEXEC);
		if (t->nsfd < 0) {
			fprintf(stderr, "tcpbench: open %s: %s\n", f[1], strerror(errno));
			return -1;
		}
	}
	return parse_addr(f[2], f[3], &t->sa);
}

/* A TCP socket made in the target's netns (the caller's netns is restored). */
static int target_socket(const struct target *t, int home)
{
	int fd;

	if (t->nsfd >= 0 && setns(t->nsfd, CLONE_NEWNET) < 0) {
		perror("tcpbench: setns");
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		perror("tcpbench: socket");
	if (t->nsfd >= 0 && setns(home, CLONE_NEWNET) < 0) {
		perror("tcpbench: setns home");
		exit(1);
	}
	return fd;
}

static int set_timeouts(int fd)
{
	struct timeval tv = { IO_TIMEOUT_MS / 1000, 0 };

	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	       setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = recv(fd, (char *)buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* ---- sink ---------------------------------------------------------------- */

struct sconn {
	int fd;
	int echo;		/* 1: echo port */
	int echoed;
	uint64_t bytes;
	int64_t cpu0;
};

static int listen_on(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) || listen(fd, 1024)) {
		fprintf(stderr, "tcpbench: listen on port %u: %s\n", ntohs(sa->sin_port), strerror(errno));
		return -1;
	}
	return fd;
}

static int do_sink(int argc, char **argv)
{
	struct sockaddr_in sd, se;
	struct sconn conns[MAX_CONNS];
	struct pollfd pfd[MAX_CONNS + 2];
	size_t nconns = 0, i;
	static char buf[1 << 18];
	int a = 1, ls[2];
	struct sigaction sig;

	if (argc > 2 && !strcmp(argv[1], "--netns")) {
		if (enter_netns(argv[2]) < 0)
			return 1;
		a = 3;
	}
	if (argc - a != 3 || parse_addr(argv[a], argv[a + 1], &sd) || parse_addr(argv[a], argv[a + 2], &se)) {
		usage(stderr);
		return 2;
	}
	memset(&sig, 0, sizeof(sig));
	sig.sa_handler = on_signal;
	sigaction(SIGTERM, &sig, NULL);
	sigaction(SIGINT, &sig, NULL);
	signal(SIGPIPE, SIG_IGN);
	ls[0] = listen_on(&sd);
	ls[1] = listen_on(&se);
	if (ls[0] < 0 || ls[1] < 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		int n;

		pfd[0].fd = ls[0];
		pfd[1].fd = ls[1];
		pfd[0].events = pfd[1].events = POLLIN;
		for (i = 0; i < nconns; i++) {
			pfd[i + 2].fd = conns[i].fd;
			pfd[i + 2].events = POLLIN;
		}
		n = poll(pfd, nconns + 2, 1000);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("tcpbench: poll");
			return 1;
		}
		for (i = 0; i < 2; i++) {
			int fd;

			if (!(pfd[i].revents & POLLIN))
				continue;
			while (nconns < MAX_CONNS && (fd = accept4(ls[i], NULL, NULL, SOCK_CLOEXEC)) >= 0) {
				conns[nconns].fd = fd;
				conns[nconns].echo = (int)i;
				conns[nconns].echoed = 0;
				conns[nconns].bytes = 0;
				conns[nconns].cpu0 = cpu_ns();
				nconns++;
			}
		}
		for (i = nconns; i-- > 0;) {
			struct sconn *c = &conns[i];
			ssize_t r;
			int done = 0;

			if (!(pfd[i + 2].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (c->echo) {
				r = recv(c->fd, buf, c->echoed ? sizeof(buf) : 1, MSG_DONTWAIT);
				if (r > 0 && !c->echoed) {
					if (send(c->fd, buf, 1, MSG_NOSIGNAL) != 1)
						done = 1;
					c->echoed = 1;
				} else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
					done = 1;
				}
			} else {
				/* drain everything there is, without copying it */
				for (;;) {
					r = recv(c->fd, NULL, 1 << 30, MSG_TRUNC | MSG_DONTWAIT);
					if (r > 0) {
						c->bytes += (uint64_t)r;
						continue;
					}
					if (r == 0) {
						uint64_t ans[2] = { c->bytes, (uint64_t)(cpu_ns() - c->cpu0) };

						if (send(c->fd, ans, sizeof(ans), MSG_NOSIGNAL) != (ssize_t)sizeof(ans))
							fprintf(stderr, "tcpbench: sink: answer: %s\n", strerror(errno));
						done = 1;
					} else if (errno != EAGAIN && errno != EINTR) {
						done = 1;
					}
					break;
				}
			}
			if (done) {
				close(c->fd);
				conns[i] = conns[--nconns];
			}
		}
	}
	return 0;
}

/* ---- clients ------------------------------------------------------------- */

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The order of the targets in a round: a fresh pseudo-random permutation
 * each round (fixed seed, so runs repeat), so that no path always follows
 * the same other one (socat's forked children, for one, exit just after
 * their connection and would slow whichever path comes next).
 */
static void round_order(size_t *order, size_t nt)
{
	static uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i, j, tmp;

	for (i = 0; i < nt; i++)
		order[i] = i;
	for (i = nt; i > 1; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (size_t)(x % i);
		tmp = order[i - 1];
		order[i - 1] = order[j];
		order[j] = tmp;
	}
}

static int parse_targets(int argc, char **argv, int a, struct target *t, size_t *nt)
{
	*nt = 0;
	for (; a < argc; a++) {
		if (*nt == MAX_TARGETS || parse_target(argv[a], &t[*nt]) < 0)
			return -1;
		(*nt)++;
	}
	return *nt ? 0 : -1;
}

static int stream_one(const struct target *t, int home, uint64_t bytes, const char *src, double *secs,
		      double *src_cpu, double *sink_cpu)
{
	int fd = target_socket(t, home);
	int64_t t0, c0, c1, t1;
	uint64_t sent = 0, ans[2];
	ssize_t n;

	if (fd < 0 || set_timeouts(fd))
		return -1;
	c0 = cpu_ns();
	t0 = now_ns();
	if (connect(fd, (const struct sockaddr *)&t->sa, sizeof(t->sa)) < 0) {
		fprintf(stderr, "tcpbench: %s: connect: %s\n", t->name, strerror(errno));
		close(fd);
		return -1;
	}
	while (sent < bytes) {
		size_t len = bytes - sent < SRC_BUF ? (size_t)(bytes - sent) : SRC_BUF;

		n = send(fd, src, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "tcpbench: %s: send after %llu bytes: %s\n", t->name,
				(unsigned long long)sent, n < 0 ? strerror(errno) : "0");
			close(fd);
			return -1;
		}
		sent += (uint64_t)n;
	}
	shutdown(fd, SHUT_WR);
	if (read_full(fd, ans, sizeof(ans)) < 0) {
		fprintf(stderr, "tcpbench: %s: all %llu bytes sent, but no answer from the sink within %d s: %s\n",
			t->name, (unsigned long long)bytes, IO_TIMEOUT_MS / 1000,
			errno == EAGAIN ? "stalled (the end of stream never reached the sink?)" : strerror(errno));
		close(fd);
		return -1;
	}
	t1 = now_ns();
	c1 = cpu_ns();
	close(fd);
	if (ans[0] != bytes) {
		fprintf(stderr, "tcpbench: %s: the sink got %llu bytes of %llu\n", t->name,
			(unsigned long long)ans[0], (unsigned long long)bytes);
		return -1;
	}
	*secs = (double)(t1 - t0) / 1e9;
	*src_cpu = 100.0 * (double)(c1 - c0) / (double)(t1 - t0);
	*sink_cpu = 100.0 * (double)ans[1] / (double)(t1 - t0);
	return 0;
}

static int do_stream(int argc, char **argv)
{
	struct target t[MAX_TARGETS];
	size_t nt, i, k;
	unsigned long long bytes = 0;
	unsigned long rounds = 0, r;
	double mibps[MAX_TARGETS][64];
	size_t nok[MAX_TARGETS] = { 0 };
	char *src;
	int a = 1, home, failed = 0;

	while (a + 1 < argc && argv[a][0] == '-') {
		if (!strcmp(argv[a], "--bytes"))
			bytes = strtoull(argv[a + 1], NULL, 10);
		else if (!strcmp(argv[a], "--rounds"))
			rounds = strtoul(argv[a + 1], NULL, 10);
		else
			break;
		a += 2;
	}
	if (!bytes || rounds < 1 || rounds > 64 || parse_targets(argc, argv, a, t, &nt) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	src = malloc(SRC_BUF);
	if (home < 0 || !src)
		return 1;
	memset(src, 'x', SRC_BUF);
	for (r = 0; r < rounds; r++) {
		for (k = 0; k < nt; k++) {
			const struct target *tg = &t[(k + r) % nt];
			double secs, sc, kc;

			size_t ti = (k + r) % nt;

			if (stream_one(tg, home, bytes, src, &secs, &sc, &kc) < 0) {
				failed = 1;
				printf("stream %s round %lu failed\n", tg->name, r + 1);
				fflush(stdout);
				continue;
			}
			mibps[ti][nok[ti]] = (double)bytes / 1048576.0 / secs;
			printf("stream %s round %lu bytes %llu secs %.4f MiBps %.1f src_cpu %.0f sink_cpu %.0f\n",
			       tg->name, r + 1, bytes, secs, mibps[ti][nok[ti]], sc, kc);
			nok[ti]++;
			fflush(stdout);
		}
	}
	for (i = 0; i < nt; i++) {
		if (!nok[i]) {
			printf("stream-summary %s median_MiBps nan best_MiBps nan ok 0 failed %lu\n", t[i].name, rounds);
			continue;
		}
		qsort(mibps[i], nok[i], sizeof(double), cmpd);
		printf("stream-summary %s median_MiBps %.1f best_MiBps %.1f ok %zu failed %zu\n", t[i].name,
		       mibps[i][nearest_rank(nok[i], 0.5)], mibps[i][nok[i] - 1], nok[i], rounds - nok[i]);
	}
	return failed;
}

static int do_connect(int argc, char **argv)
{
	struct target t[MAX_TARGETS];
	size_t nt, i, k;
	unsigned long count = 0, r;
	int64_t *lat[MAX_TARGETS];
	size_t nlat[MAX_TARGETS] = { 0 };
	int a = 1, home, failed = 0;

	if (a + 1 < argc && !strcmp(argv[a], "--count")) {
		count = strtoul(argv[a + 1], NULL, 10);
		a += 2;
	}
	if (count < 1 || count > 1000000 || parse_targets(argc, argv, a, t, &nt) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		return 1;
	for (i = 0; i < nt; i++)
		if (!(lat[i] = calloc(count, sizeof(int64_t))))
			return 1;
	for (r = 0; r < count; r++) {
		size_t order[MAX_TARGETS];

		round_order(order, nt);
		for (k = 0; k < nt; k++) {
			size_t ti = order[k];
			const struct target *tg = &t[ti];
			int fd = target_socket(tg, home);
			int64_t t0, t1;
			char c = 'p';

			if (fd < 0 || set_timeouts(fd)) {
				failed = 1;
				continue;
			}
			t0 = now_ns();
			if (connect(fd, (const struct sockaddr *)&tg->sa, sizeof(tg->sa)) < 0 ||
			    send(fd, &c, 1, MSG_NOSIGNAL) != 1 || read_full(fd, &c, 1) < 0) {
				if (failed++ < 3)
					fprintf(stderr, "tcpbench: %s: connection %lu failed: %s\n", tg->name, r,
						strerror(errno));
				close(fd);
				continue;
			}
			t1 = now_ns();
			close(fd);
			lat[ti][nlat[ti]++] = t1 - t0;
		}
	}
	for (i = 0; i < nt; i++) {
		if (!nlat[i]) {
			printf("connect-summary %s n 0\n", t[i].name);
			continue;
		}
		qsort(lat[i], nlat[i], sizeof(int64_t), cmp64);
		printf("connect-summary %s n %zu min_us %.1f p50_us %.1f p99_us %.1f\n", t[i].name, nlat[i],
		       (double)lat[i][0] / 1e3, (double)lat[i][nearest_rank(nlat[i], 0.5)] / 1e3,
		       (double)lat[i][nearest_rank(nlat[i], 0.99)] / 1e3);
	}
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "sink"))
		return do_sink(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "stream"))
		return do_stream(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "connect"))
		return do_connect(argc - 1, argv + 1);
	usage(stderr);
	return 2;
}
