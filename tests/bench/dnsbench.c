/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsbench: a fake upstream resolver and a UDP load generator for the DNS
 * rows of the bench (issue 18, item 7). Written from RFC 1035 alone; it
 * shares no code with the daemon's ldns-based proxy.
 *
 *   dnsbench serve [--netns PATH] ADDR PORT
 *     Answers every UDP query at once: the question echoed, QR and RD/RA
 *     set, and for type A one answer 192.0.2.1 (TTL 30); other types get an
 *     empty NOERROR. Prints "ready" once bound. Runs until SIGTERM/SIGINT.
 *
 *   dnsbench load [--netns PATH] --inflight K --seconds S [--expect IP] NAME SERVER PORT QNAME
 *     Keeps K queries for QNAME (type A) in flight on one UDP socket for S
 *     seconds, each with its own id; a reply counts when its id and question
 *     match one in flight (with --expect, and its last record's data is IP:
 *     else it counts as wrong, so a reply from the wrong server shows). A
 *     query unanswered after 1 s is counted lost and sent again under a new
 *     id. Prints
 *       dns-summary NAME sent N answered M wrong W lost L qps Q p50_us A p99_us B
 *     (qps: answered per second of wall time; latency: send to reply,
 *     nearest rank). With K = 1 the latency is one query's round trip.
 *
 * libc only. Exit 1 when nothing was answered.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timing.h"

#define MAX_INFLIGHT 256
#define LOST_NS 1000000000LL
#define MAX_SAMPLES 4000000

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(void)
{
	fprintf(stderr,
		"Usage: dnsbench serve [--netns PATH] ADDR PORT\n"
		"       dnsbench load [--netns PATH] --inflight K --seconds S [--expect IP] NAME SERVER PORT QNAME\n");
	return 2;
}

static int enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "dnsbench: enter netns %s: %s\n", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int udp_addr(const char *addr, const char *port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)atoi(port));
	if (inet_pton(AF_INET, addr, &sa->sin_addr) != 1) {
		fprintf(stderr, "dnsbench: not an IPv4 address: %s\n", addr);
		return -1;
	}
	return 0;
}

/* End of the question (offset past QTYPE/QCLASS), or 0 when msg is no query. */
static size_t question_end(const unsigned char *msg, size_t len)
{
	size_t pos = 12;

	if (len < 12 || (msg[2] & 0x80) || msg[4] != 0 || msg[5] != 1)
		return 0;
	while (pos < len && msg[pos] != 0) {
		if (msg[pos] > 63)
			return 0;
		pos += 1 + msg[pos];
	}
	pos += 5;
	return pos <= len ? pos : 0;
}

/* The reply to the query in buf (len bytes, question ending at q), in place; its length. */
static size_t answer(unsigned char *buf, size_t q)
{
	static const unsigned char rr[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1 };
	int is_a = buf[q - 4] == 0 && buf[q - 3] == 1;

	buf[2] = 0x81;		/* QR, RD */
	buf[3] = 0x80;		/* RA, NOERROR */
	buf[6] = 0;
	buf[7] = (unsigned char)is_a;
	memset(buf + 8, 0, 4);
	if (!is_a)
		return q;
	memcpy(buf + q, rr, sizeof(rr));
	return q + sizeof(rr);
}

static int serve(const char *addr, const char *port)
{
	unsigned char buf[1024];
	struct sockaddr_in sa, from;
	socklen_t fl;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || udp_addr(addr, port, &sa) < 0)
		return 1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "dnsbench: bind %s:%s: %s\n", addr, port, strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		ssize_t n;
		size_t q;

		fl = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf) - 16, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		q = question_end(buf, (size_t)n);
		if (q)
			sendto(fd, buf, answer(buf, q), 0, (struct sockaddr *)&from, fl);
	}
	return 0;
}

/* A query for qname (type A, RD) with id; its length. */
static size_t build_query(unsigned char *buf, const char *qname, unsigned short id)
{
	size_t pos = 12;
	const char *s = qname;

	memset(buf, 0, 12);
	buf[0] = (unsigned char)(id >> 8);
	buf[1] = (unsigned char)id;
	buf[2] = 0x01;
	buf[5] = 1;
	while (*s) {
		const char *dot = strchrnul(s, '.');
		size_t n = (size_t)(dot - s);

		buf[pos++] = (unsigned char)n;
		memcpy(buf + pos, s, n);
		pos += n;
		s = *dot ? dot + 1 : dot;
	}
	buf[pos++] = 0;
	memcpy(buf + pos, "\0\1\0\1", 4);
	return pos + 4;
}

struct load {
	int fd;
	size_t qlen;
	unsigned char query[300];
	int64_t sent_at[65536];	/* by id; 0: not in flight */
	unsigned short next_id;
	long sent, answered, wrong, lost;
	int expect;		/* check the last 4 bytes against want */
	unsigned char want[4];
	int64_t *lat;
	size_t nlat;
};

static void send_one(struct load *l)
{
	unsigned short id = l->next_id;

	while (l->sent_at[id])
		id++;
	l->next_id = (unsigned short)(id + 1);
	l->query[0] = (unsigned char)(id >> 8);
	l->query[1] = (unsigned char)id;
	l->sent_at[id] = now_ns();	/* before: the reply may come within send() */
	if (send(l->fd, l->query, l->qlen, 0) == (ssize_t)l->qlen)
		l->sent++;
	else
		l->sent_at[id] = 0;
}

/* One reply read and matched; 1 when it was one of ours. */
static int take_reply(struct load *l)
{
	unsigned char buf[1024];
	ssize_t n = recv(l->fd, buf, sizeof(buf), MSG_DONTWAIT);
	unsigned short id;

	if (n < (ssize_t)l->qlen || !(buf[2] & 0x80) || memcmp(buf + 12, l->query + 12, l->qlen - 12))
		return 0;
	id = (unsigned short)(buf[0] << 8 | buf[1]);
	if (!l->sent_at[id])
		return 0;
	if (l->expect && memcmp(buf + n - 4, l->want, 4)) {
		l->sent_at[id] = 0;
		l->wrong++;
		return 1;
	}
	if (l->nlat < MAX_SAMPLES)
		l->lat[l->nlat++] = now_ns() - l->sent_at[id];
	l->sent_at[id] = 0;
	l->answered++;
	return 1;
}

/* Queries in flight for longer than LOST_NS: counted lost, forgotten. */
static int expire(struct load *l, int64_t now)
{
	int n = 0;

	for (size_t i = 0; i < 65536; i++) {
		if (l->sent_at[i] && now - l->sent_at[i] > LOST_NS) {
			l->sent_at[i] = 0;
			l->lost++;
			n++;
		}
	}
	return n;
}

static void run_load(struct load *l, int inflight, double seconds)
{
	int64_t t0 = now_ns(), end = t0 + (int64_t)(seconds * 1e9), last_expire = t0;
	struct pollfd p = { .fd = l->fd, .events = POLLIN };
	int busy = 0;

	while (!stop && now_ns() < end) {
		while (busy < inflight) {
			send_one(l);
			busy++;
		}
		if (poll(&p, 1, 100) > 0)
			while (take_reply(l))
				busy--;
		if (now_ns() - last_expire > LOST_NS / 4) {
			last_expire = now_ns();
			busy -= expire(l, last_expire);
		}
	}
	qsort(l->lat, l->nlat, sizeof(*l->lat), cmp64);
}

static int load(int argc, char **argv)
{
	int inflight = 0, expect = 0;
	unsigned char want[4];
	double seconds = 0;
	struct sockaddr_in sa;
	struct load *l;
	int64_t t0;

	for (; argc > 2 && argv[0][0] == '-'; argc -= 2, argv += 2) {
		if (!strcmp(argv[0], "--inflight"))
			inflight = atoi(argv[1]);
		else if (!strcmp(argv[0], "--seconds"))
			seconds = atof(argv[1]);
		else if (!strcmp(argv[0], "--expect") && inet_pton(AF_INET, argv[1], want) == 1)
			expect = 1;
		else
			return usage();
	}
	if (argc != 4 || inflight < 1 || inflight > MAX_INFLIGHT || seconds <= 0 ||
	    strlen(argv[3]) > 250 || udp_addr(argv[1], argv[2], &sa) < 0)
		return usage();
	l = calloc(1, sizeof(*l));
	if (!l || !(l->lat = malloc(MAX_SAMPLES * sizeof(*l->lat))))
		return 1;
	l->fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (l->fd < 0 || connect(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "dnsbench: connect %s:%s: %s\n", argv[1], argv[2], strerror(errno));
		return 1;
	}
	l->qlen = build_query(l->query, argv[3], 0);
	l->expect = expect;
	memcpy(l->want, want, 4);
	l->next_id = (unsigned short)getpid();
	t0 = now_ns();
	run_load(l, inflight, seconds);
	printf("dns-summary %s sent %ld answered %ld wrong %ld lost %ld qps %.0f p50_us %.1f p99_us %.1f\n",
	       argv[0], l->sent, l->answered, l->wrong, l->lost,
	       (double)l->answered / ((double)(now_ns() - t0) / 1e9),
	       l->nlat ? (double)l->lat[nearest_rank(l->nlat, 0.5)] / 1e3 : 0.0,
	       l->nlat ? (double)l->lat[nearest_rank(l->nlat, 0.99)] / 1e3 : 0.0);
	return l->answered ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	const char *mode = argc > 1 ? argv[1] : "";

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	argc -= 2;
	argv += 2;
	if (argc >= 2 && !strcmp(argv[0], "--netns")) {
		if (enter_netns(argv[1]) < 0)
			return 1;
		argc -= 2;
		argv += 2;
	}
	if (!strcmp(mode, "serve") && argc == 2)
		return serve(argv[0], argv[1]);
	if (!strcmp(mode, "load"))
		return load(argc, argv);
	return usage();
}
