/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relay-floor: the kernel work of the daemon's relay and nothing else, to
 * set its throughput against (make bench, section 5). It listens where the
 * daemon does, in pods with the enrolled pods' rules copied unchanged, and
 * makes the upstream socket the daemon makes; then each direction of each
 * connection is a thread of its own, blocked in splice() through a 1 MiB
 * pipe (the daemon's grown pipe) - no epoll, no timers, no counters, no
 * access log: the fewest syscalls and wake-ups a splice relay can have, on
 * as many CPUs as there are busy directions.
 *
 *   relay-floor SPEC...      SPEC: NETNS,PORT,out|in
 *
 * For each SPEC a thread enters NETNS (a path) and listens on [::]:PORT
 * (dual-stack, SO_MARK 0x539, SO_REUSEADDR, IP_TRANSPARENT: the ambient
 * profile's listener), backlog 128. For each connection, from inside that
 * netns: the original destination (SO_ORIGINAL_DST), a socket marked 0x539
 * (the rules let it through), for "in" bound to the client's address with
 * IP_TRANSPARENT (the app sees the real source, its replies take the pod's
 * table 100 back), a blocking connect; then one thread per direction:
 * splice(socket -> pipe, 1 MiB), splice(pipe -> socket) until drained,
 * at EOF shutdown(SHUT_WR) passes the half-close on. Both directions done:
 * both sockets closed.
 *
 * Prints "ready" once every listener listens; runs until SIGTERM/SIGINT.
 * libc and pthreads only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SPECS 16
#define PIPE_SIZE (1024 * 1024)
#define MARK 0x539	/* ztunnel's: the in-pod rules let it through */
#define BACKLOG 128

struct spec {
	char netns[512];
	int port;
	bool inbound;
	int lfd;
	pthread_barrier_t *ready;
};

/* One connection: its two sockets; the second direction runs on a thread of its own. */
struct conn {
	int client, upstream;
};

struct dir {
	int from, to;
};

static void die(const char *what)
{
	fprintf(stderr, "relay-floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* from -> pipe -> to until EOF (or an error), then the half-close passed on */
static void *pump(void *arg)
{
	const struct dir *d = arg;
	int p[2], size;
	ssize_t n, m;

	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe2");
	size = fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE);
	if (size <= 0)
		size = fcntl(p[1], F_GETPIPE_SZ);
	while ((n = splice(d->from, NULL, p[1], NULL, (size_t)size, SPLICE_F_MOVE)) > 0)
		for (; n > 0; n -= m) {
			m = splice(p[0], NULL, d->to, NULL, (size_t)n, SPLICE_F_MOVE);
			if (m <= 0)
				goto out;
		}
out:
	shutdown(d->to, SHUT_WR);
	close(p[0]);
	close(p[1]);
	return NULL;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct dir up = { c->client, c->upstream }, down = { c->upstream, c->client };
	pthread_t t;
	bool two = pthread_create(&t, NULL, pump, &down) == 0;

	pump(&up);
	if (two)
		pthread_join(t, NULL);
	else
		pump(&down);
	close(c->client);
	close(c->upstream);
	free(c);
	return NULL;
}

/* Inbound: connect from the client's own address (an IPv4 client is v4-mapped on [::]). */
static void bind_client(int fd, int client)
{
	struct sockaddr_in6 peer;
	struct sockaddr_in src = { .sin_family = AF_INET };
	socklen_t sl = sizeof(peer);
	int one = 1;

	if (getpeername(client, (struct sockaddr *)&peer, &sl) < 0)
		die("getpeername");
	memcpy(&src.sin_addr, &peer.sin6_addr.s6_addr[12], 4);
	if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		die("bind to the client's address");
}

/* The upstream of an accepted connection, made in the pod's netns (this thread's); -1 on failure */
static int upstream_of(const struct spec *s, int client)
{
	struct sockaddr_in dst;
	socklen_t sl = sizeof(dst);
	int fd, mark = MARK;

	if (getsockopt(client, SOL_IP, SO_ORIGINAL_DST, &dst, &sl) < 0)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
		die("SO_MARK");
	if (s->inbound)
		bind_client(fd, client);
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int listen_in_pod(const struct spec *s)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	int one = 1, zero = 0, mark = MARK, nfd, fd;

	nfd = open(s->netns, O_RDONLY | O_CLOEXEC);
	if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0)
		die(s->netns);
	close(nfd);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	a.sin6_port = htons((uint16_t)s->port);
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
	    setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)) < 0)
		die("listener options");
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, BACKLOG) < 0)
		die("bind/listen");
	return fd;
}

static void *accept_main(void *arg)
{
	struct spec *s = arg;
	struct conn *c;
	pthread_t t;
	int client, up;

	s->lfd = listen_in_pod(s);
	pthread_barrier_wait(s->ready);
	for (;;) {
		client = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (client < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		up = upstream_of(s, client);
		c = up >= 0 ? malloc(sizeof(*c)) : NULL;
		if (!c) {
			close(client);
			if (up >= 0)
				close(up);
			continue;
		}
		c->client = client;
		c->upstream = up;
		if (pthread_create(&t, NULL, conn_main, c) != 0)
			die("pthread_create");
		pthread_detach(t);
	}
	return NULL;
}

static void parse_spec(const char *arg, struct spec *s)
{
	const char *c1 = strchr(arg, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
	char *end;

	if (!c2 || (size_t)(c1 - arg) >= sizeof(s->netns)) {
		fprintf(stderr, "relay-floor: bad SPEC '%s' (NETNS,PORT,out|in)\n", arg);
		exit(2);
	}
	memcpy(s->netns, arg, (size_t)(c1 - arg));
	s->netns[c1 - arg] = '\0';
	s->port = (int)strtol(c1 + 1, &end, 10);
	s->inbound = strcmp(c2 + 1, "in") == 0;
	if (end != c2 || s->port <= 0 || s->port > 65535 || (!s->inbound && strcmp(c2 + 1, "out"))) {
		fprintf(stderr, "relay-floor: bad SPEC '%s' (NETNS,PORT,out|in)\n", arg);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	static struct spec specs[MAX_SPECS];
	pthread_barrier_t ready;
	pthread_t t;
	sigset_t set;
	int i, n = argc - 1, sig;

	if (n < 1 || n > MAX_SPECS) {
		fprintf(stderr, "usage: relay-floor NETNS,PORT,out|in ... (1-%d)\n", MAX_SPECS);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* the threads inherit it; main waits for it */
	signal(SIGPIPE, SIG_IGN);
	pthread_barrier_init(&ready, NULL, (unsigned)n + 1);
	for (i = 0; i < n; i++) {
		parse_spec(argv[i + 1], &specs[i]);
		specs[i].ready = &ready;
		if (pthread_create(&t, NULL, accept_main, &specs[i]) != 0)
			die("pthread_create");
		pthread_detach(t);
	}
	pthread_barrier_wait(&ready);
	printf("ready\n");
	fflush(stdout);
	sigwait(&set, &sig);
	return 0;
}
