/* SPDX-License-Identifier: Apache-2.0 */
/*
 * slow-http: a slow-header ("slowloris") HTTP client for the integration
 * tests (fault 9). It opens CONNS connections to each PORT on HOST, sends
 * "GET /healthz/ready HTTP/1.1" and then one header byte per connection
 * every INTERVAL seconds, never finishing the header.
 *   --reconnect   a connection the server closes is opened again at the next
 *                 tick (a flood that keeps its slots taken)
 *   --for S       stop after S seconds (default: run until killed)
 * Prints "connected N" once the first round of connects is done, and at
 * the end "open N, closed M after S s"; without --reconnect it ends as soon
 * as the server has closed every connection.
 * Exit status: 0; 1 when not one connection could be made; 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024

static const char request[] = "GET /healthz/ready HTTP/1.1\r\nHost: x\r\n";

struct sconn {
	int fd;
	unsigned short port;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_one(const struct in_addr *host, unsigned short port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = *host };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The server closed it (or reset it): anything readable on a header never finished. */
static bool closed_by_server(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	char buf[512];

	if (poll(&p, 1, 0) <= 0)
		return false;
	return recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0 || (p.revents & (POLLHUP | POLLERR));
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: slow-http [--conns N] [--interval S] [--reconnect] [--for S] HOST PORT...\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conns", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'i' },
		{ "reconnect", no_argument, NULL, 'r' },
		{ "for", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	static struct sconn c[MAX_CONNS];
	double interval = 1, duration = 0, t0, next;
	int conns = 1, nports, total, i, opt, open_n = 0, closed = 0;
	bool reconnect = false;
	struct in_addr host;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			conns = atoi(optarg);
			break;
		case 'i':
			interval = atof(optarg);
			break;
		case 'r':
			reconnect = true;
			break;
		case 'f':
			duration = atof(optarg);
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	nports = argc - optind - 1;
	total = conns * nports;
	if (nports < 1 || conns < 1 || total > MAX_CONNS || interval <= 0 ||
	    inet_pton(AF_INET, argv[optind], &host) != 1) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < total; i++) {
		c[i].port = (unsigned short)atoi(argv[optind + 1 + i / conns]);
		c[i].fd = open_one(&host, c[i].port);
		open_n += c[i].fd >= 0;
	}
	printf("connected %d\n", open_n);
	fflush(stdout);
	if (!open_n)
		return 1;
	t0 = now();
	for (next = t0 + interval;; next += interval) {
		while (now() < next) {
			double left = next - now();
			struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };

			nanosleep(&ts, NULL);
		}
		open_n = 0;
		for (i = 0; i < total; i++) {
			if (c[i].fd >= 0 && (closed_by_server(c[i].fd) ||
					     send(c[i].fd, "X", 1, MSG_NOSIGNAL) < 0)) {
				close(c[i].fd);
				c[i].fd = -1;
				closed++;
			}
			if (c[i].fd < 0 && reconnect)
				c[i].fd = open_one(&host, c[i].port);
			open_n += c[i].fd >= 0;
		}
		if ((!reconnect && !open_n) || (duration > 0 && now() - t0 >= duration))
			break;
	}
	printf("open %d, closed %d after %.1f s\n", open_n, closed, now() - t0);
	return 0;
}
