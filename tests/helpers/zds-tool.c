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
		"Usage: zds-tool send [--hex HEX | --size N | --empty] [--fd PATH]... [--idle]\n"
		"                     [--timeout SECONDS] [--wait-close SECONDS] SOCKET\n"
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

static int cmd_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hex", required_argument, NULL, 'x' },
		{ "size", required_argument, NULL, 'z' },
		{ "empty", no_argument, NULL, 'e' },
		{ "fd", required_argument, NULL, 'f' },
		{ "idle", no_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "wait-close", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	static uint8_t out[MAX_SEND];
	uint8_t buf[ZDS_MAX_MSG];
	int fds[FDPASS_MAX_FDS], nfds = 0, sock, ret, c, timeout_ms = 5000, wait_ms = 1000;
	size_t len = 0, i;
	bool idle = false, have_payload = false;
	struct fdpass_msg m;
	struct zds_response resp;
	const char *why;
	double t0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'x':
			len = parse_hex(optarg, out, sizeof(out));
			have_payload = true;
			break;
		case 'z':
			/* filler: only its size matters */
			len = (size_t)atol(optarg);
			if (len > sizeof(out))
				len = sizeof(out);
			memset(out, 0x78, len);
			have_payload = true;
			break;
		case 'e':
			len = 0;
			have_payload = true;
			break;
		case 'f':
			if (nfds >= FDPASS_MAX_FDS) {
				fprintf(stderr, "zds-tool: too many --fd\n");
				return 2;
			}
			fds[nfds] = open(optarg, O_RDONLY | O_CLOEXEC);
			if (fds[nfds] < 0) {
				fprintf(stderr, "zds-tool: %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			nfds++;
			break;
		case 'i':
			idle = true;
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
	if (optind != argc - 1 || (!idle && !have_payload)) {
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
		if (ret == -ETIMEDOUT)
			printf("open after %.2fs\n", now() - t0);
		else
			printf("closed after %.2fs\n", now() - t0);
		close(sock);
		return 0;
	}

	ret = fdpass_send(sock, out, len, fds, (size_t)nfds, 0);
	for (c = 0; c < nfds; c++)
		close(fds[c]);
	if (ret) {
		printf("send failed: %s\n", strerror(-ret));
		close(sock);
		return 1;
	}
	ret = uds_recv_timeout(sock, buf, sizeof(buf), timeout_ms, &m);
	fdpass_close_fds(&m);
	if (ret == -ETIMEDOUT) {
		printf("no ack: timeout\n");
	} else if (ret) {
		printf("no ack: %s\n", strerror(-ret));
	} else if (m.len == 0) {
		printf("no ack: closed\n");
		close(sock);
		return 0;
	} else if (zds_decode_response(buf, m.len, &resp, &why) || !resp.has_ack) {
		printf("bad response\n");
	} else if (resp.error.len) {
		printf("ack error: %.*s\n", (int)resp.error.len, resp.error.p);
	} else {
		printf("ack ok\n");
	}
	fflush(stdout);
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
