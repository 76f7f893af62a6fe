/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zds-tool: a deliberately misbehaving ZDS client for the integration tests.
 * It sends what cni-emulator never would (raw bytes, zero or several fds,
 * oversized or empty datagrams, silence) and reports exactly what the daemon
 * answered, one line per event:
 *   hello <hex>            the daemon's first message
 *   ack ok | ack error: T  the decoded response
 *   closed | open          whether the daemon then closed the connection
 * `hold-port ADDR PORT` binds a TCP port without SO_REUSEPORT and waits, to
 * occupy a pod port.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "uds.h"
#include "zds.h"

#define MAX_SEND 4096

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: zds-tool send [--hex HEX | --size N | --empty [--fd PATH]...]... [--idle]\n"
		"                     [--delay S] [--repeat N] [--quiet] [--timeout S]\n"
		"                     [--wait-close S] SOCKET\n"
		"  Messages are sent in order, each answered before the next; --fd attaches\n"
		"  to the message before it and is opened afresh for every send.\n"
		"       zds-tool hold-port [--reuseport] ADDR PORT\n");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t parse_hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*s) {
		int hi, lo;

		if (*s == ' ' || *s == ':') {
			s++;
			continue;
		}
		hi = hexval(s[0]);
		lo = s[1] ? hexval(s[1]) : -1;
		if (hi < 0 || lo < 0 || n >= cap) {
			fprintf(stderr, "zds-tool: bad hex at '%s'\n", s);
			exit(2);
		}
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* After the ack (or instead of it): does the daemon close the connection? */
static void report_close(int sock, int wait_ms)
{
	uint8_t buf[ZDS_MAX_MSG];
	struct fdpass_msg m;
	int ret = uds_recv_timeout(sock, buf, sizeof(buf), wait_ms, &m);

	fdpass_close_fds(&m);
	if (ret == -ETIMEDOUT)
		printf("open\n");
	else if (ret == 0 && m.len > 0)
		printf("unexpected message (%zu bytes)\n", m.len);
	else
		printf("closed\n");
}

#define MAX_MSGS 16

/* One message of a sequence: its bytes and the paths whose fds ride with it. */
struct msg {
	uint8_t *data;
	size_t len;
	const char *fd_paths[FDPASS_MAX_FDS];
	int nfds;
};

/* Sends m (opening its fds fresh) and reads the answer. 1 ack ok, 0 nack, -1 no ack. */
static int exchange(int sock, const struct msg *m, int timeout_ms, bool quiet)
{
	uint8_t buf[ZDS_MAX_MSG];
	int fds[FDPASS_MAX_FDS], i, ret;
	struct fdpass_msg r;
	struct zds_response resp;
	const char *why;

	for (i = 0; i < m->nfds; i++) {
		fds[i] = open(m->fd_paths[i], O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			fprintf(stderr, "zds-tool: %s: %s\n", m->fd_paths[i], strerror(errno));
			exit(2);
		}
	}
	ret = fdpass_send(sock, m->data, m->len, fds, (size_t)m->nfds, 0);
	for (i = 0; i < m->nfds; i++)
		close(fds[i]);
	if (ret) {
		printf("send failed: %s\n", strerror(-ret));
		return -1;
	}
	ret = uds_recv_timeout(sock, buf, sizeof(buf), timeout_ms, &r);
	fdpass_close_fds(&r);
	if (ret == -ETIMEDOUT) {
		printf("no ack: timeout\n");
	} else if (ret) {
		printf("no ack: %s\n", strerror(-ret));
	} else if (r.len == 0) {
		printf("no ack: closed\n");
	} else if (zds_decode_response(buf, r.len, &resp, &why) || !resp.has_ack) {
		printf("bad response\n");
	} else if (resp.error.len) {
		printf("ack error: %.*s\n", (int)resp.error.len, resp.error.p);
		return 0;
	} else {
		if (!quiet)
			printf("ack ok\n");
		return 1;
	}
	return -1;
}

static int cmd_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hex", required_argument, NULL, 'x' },
		{ "size", required_argument, NULL, 'z' },
		{ "empty", no_argument, NULL, 'e' },
		{ "fd", required_argument, NULL, 'f' },
		{ "idle", no_argument, NULL, 'i' },
		{ "delay", required_argument, NULL, 'd' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "timeout", required_argument, NULL, 't' },
		{ "wait-close", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	static uint8_t out[MAX_MSGS][MAX_SEND];
	struct msg msgs[MAX_MSGS];
	uint8_t buf[ZDS_MAX_MSG];
	int nmsgs = 0, sock, ret, c, k, timeout_ms = 5000, wait_ms = 1000;
	long repeat = 1, r, acks = 0, nacks = 0;
	size_t i;
	bool idle = false, quiet = false;
	double delay = 0, t0;
	struct fdpass_msg m;

	memset(msgs, 0, sizeof(msgs));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'x':
		case 'z':
		case 'e':
			if (nmsgs >= MAX_MSGS) {
				fprintf(stderr, "zds-tool: too many messages\n");
				return 2;
			}
			msgs[nmsgs].data = out[nmsgs];
			if (c == 'x') {
				msgs[nmsgs].len = parse_hex(optarg, out[nmsgs], MAX_SEND);
			} else if (c == 'z') {
				/* filler: only its size matters */
				msgs[nmsgs].len = (size_t)atol(optarg);
				if (msgs[nmsgs].len > MAX_SEND)
					msgs[nmsgs].len = MAX_SEND;
				memset(out[nmsgs], 0x78, msgs[nmsgs].len);
			}
			nmsgs++;
			break;
		case 'f':
			/* rides with the message named before it */
			if (!nmsgs || msgs[nmsgs - 1].nfds >= FDPASS_MAX_FDS) {
				fprintf(stderr, "zds-tool: --fd must follow a message, at most %d\n",
					FDPASS_MAX_FDS);
				return 2;
			}
			msgs[nmsgs - 1].fd_paths[msgs[nmsgs - 1].nfds++] = optarg;
			break;
		case 'i':
			idle = true;
			break;
		case 'd':
			delay = atof(optarg);
			break;
		case 'n':
			repeat = atol(optarg);
			break;
		case 'q':
			quiet = true;
			break;
		case 't':
			timeout_ms = (int)(atof(optarg) * 1000);
			break;
		case 'w':
			wait_ms = (int)(atof(optarg) * 1000);
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || (!idle && !nmsgs) || repeat < 1) {
		usage(stderr);
		return 2;
	}
	sock = uds_connect(argv[optind]);
	if (sock < 0) {
		printf("connect failed: %s\n", strerror(-sock));
		return 1;
	}
	ret = uds_recv_timeout(sock, buf, sizeof(buf), timeout_ms, &m);
	if (ret || m.len == 0) {
		printf("no hello: %s\n", ret ? strerror(-ret) : "closed");
		return 1;
	}
	printf("hello ");
	for (i = 0; i < m.len; i++)
		printf("%02x", buf[i]);
	printf("\n");
	fflush(stdout);

	if (idle) {
		t0 = now();
		ret = uds_recv_timeout(sock, buf, sizeof(buf), timeout_ms, &m);
		fdpass_close_fds(&m);
		if (ret == 0 && m.len) {
			/* a nack before any request: the daemon turned this client away */
			struct zds_response resp;
			const char *why;

			if (zds_decode_response(buf, m.len, &resp, &why) || !resp.has_ack)
				printf("bad response\n");
			else
				printf("ack error: %.*s\n", (int)resp.error.len, resp.error.p);
			ret = uds_recv_timeout(sock, buf, sizeof(buf), timeout_ms, &m);
			fdpass_close_fds(&m);
		}
		if (ret == -ETIMEDOUT)
			printf("open after %.2fs\n", now() - t0);
		else
			printf("closed after %.2fs\n", now() - t0);
		close(sock);
		return 0;
	}
	if (delay > 0) {
		struct timespec ts = { (time_t)delay, (long)((delay - (time_t)delay) * 1e9) };

		nanosleep(&ts, NULL);
	}
	for (r = 0; r < repeat; r++) {
		for (k = 0; k < nmsgs; k++) {
			ret = exchange(sock, &msgs[k], timeout_ms, quiet);
			fflush(stdout);
			if (ret < 0)
				goto done;
			if (ret)
				acks++;
			else
				nacks++;
		}
	}
done:
	if (quiet)
		printf("acks: %ld ok, %ld nack\n", acks, nacks);
	report_close(sock, wait_ms);
	close(sock);
	return 0;
}

static int cmd_hold_port(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd, one = 1, reuseport = 0;

	if (argc == 4 && !strcmp(argv[1], "--reuseport")) {
		reuseport = 1;
		argc--;
		argv++;
	}
	if (argc != 3 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		usage(stderr);
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	/*
	 * Without SO_REUSEPORT the port is truly taken, even for a reuseport
	 * binder; with it, it shares the port with a daemon that set it too.
	 */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		fprintf(stderr, "zds-tool: hold-port: %s\n", strerror(errno));
		return 1;
	}
	printf("holding %s:%s\n", argv[1], argv[2]);
	fflush(stdout);
	pause();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "send"))
		return cmd_send(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "hold-port"))
		return cmd_hold_port(argc - 1, argv + 1);
	usage(stderr);
	return 2;
}
