/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tcp-probe: TCP client and echo server for the data-path tests, reporting
 * precisely how a connection ended. libc only.
 *
 *   tcp-probe connect [-t S] [-i FILE] [-m TEXT] [-o FILE] HOST PORT
 *     Connects, sends FILE (or TEXT, or nothing), half-closes, reads until
 *     the peer ends the connection; the bytes read go to -o FILE (default:
 *     discarded). One status line on stdout:
 *       eof sent=N recv=M local=A:P       orderly close (FIN)
 *       reset sent=N recv=M local=A:P     the peer reset the connection (RST)
 *       refused                           connect() got ECONNREFUSED
 *       timeout [connect|io] ...          nothing happened for S seconds
 *       error: ...                        anything else
 *     Exit status: 0 eof, 3 reset, 4 refused, 5 timeout, 1 error, 2 usage.
 *
 *   tcp-probe many [-n N] [-t S] HOST PORT
 *     Opens N connections at once (all connected before any byte is sent),
 *     sends a distinct line on each, half-closes, and checks each echo.
 *     Prints "N/N complete" (exit 0), or how many failed and why (exit 1).
 *
 *   tcp-probe hold [-s] [-n N] [-t S] HOST PORT
 *     Opens N connections at once, sends a distinct line on each and waits
 *     for its echo (-s: sends nothing, connected is open), without closing,
 *     then prints
 *       open=A reset=B refused=C timeout=D other=E
 *     and holds the open ones. A "ping" line on stdin sends another line on
 *     each and prints "ping ok=X failed=Y" once the echoes are checked. A
 *     held connection ended by the peer prints "closed I eof|reset after S"
 *     (seconds since the status line). Stdin's EOF closes all and exits 0.
 *
 *   tcp-probe serve [-l LOG] ADDR PORT
 *     An echo server on ADDR:PORT (":: " is dual-stack). After each
 *     connection it appends "peer=A:P local=B:Q bytes=N" to LOG (default
 *     stdout): who connected, to which address, and how many bytes it echoed.
 *     Prints "listening on ADDR:PORT" once ready. Runs until SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
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

#define BUF 65536
#define MAX_CONNS 4096

enum { EX_EOF = 0, EX_ERROR = 1, EX_USAGE = 2, EX_RESET = 3, EX_REFUSED = 4, EX_TIMEOUT = 5 };

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tcp-probe connect [-t SECONDS] [-i FILE] [-m TEXT] [-o FILE] HOST PORT\n"
		"       tcp-probe many [-n N] [-t SECONDS] HOST PORT\n"
		"       tcp-probe hold [-s] [-n N] [-t SECONDS] HOST PORT\n"
		"       tcp-probe serve [-l LOG] ADDR PORT\n");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ms_left(double deadline)
{
	double left = deadline - now();

	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

/* "198.18.0.1:80" or "[fd00::1]:80"; IPv4-mapped IPv6 shown as IPv4. */
static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, cap, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], a, sizeof(a));
			snprintf(buf, cap, "%s:%u", a, ntohs(s6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
			snprintf(buf, cap, "[%s]:%u", a, ntohs(s6->sin6_port));
		}
	} else {
		snprintf(buf, cap, "?");
	}
}

static int resolve(const char *host, const char *port, struct sockaddr_storage *ss, socklen_t *len,
		   bool passive)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
					      (passive ? AI_PASSIVE : 0) };
	struct addrinfo *ai;
	int rc;

	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "tcp-probe: %s port %s: %s\n", host, port, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* Waits for fd to be ready for events; 0 ready, -1 timeout. */
static int wait_fd(int fd, short events, double deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, ms_left(deadline));
	} while (n < 0 && errno == EINTR);
	return n > 0 ? 0 : -1;
}

/*
 * Non-blocking connect with a deadline: fd, or -errno (-ETIMEDOUT). *local is
 * the address the socket got, read as soon as connect() has bound it (a reset
 * may follow before the connect is seen to complete).
 */
static int connect_to(const struct sockaddr_storage *ss, socklen_t len, double deadline,
		      struct sockaddr_storage *local)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err = 0;
	socklen_t el = sizeof(err), ll = sizeof(*local);

	memset(local, 0, sizeof(*local));
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)ss, len) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			close(fd);
			return -err;
		}
		getsockname(fd, (struct sockaddr *)local, &ll);
		if (wait_fd(fd, POLLOUT, deadline) < 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			close(fd);
			return -err;
		}
	} else {
		getsockname(fd, (struct sockaddr *)local, &ll);
	}
	return fd;
}

static bool is_reset(int err)
{
	return err == ECONNRESET || err == EPIPE;
}

/* ---- connect ------------------------------------------------------------- */

static int cmd_connect(int argc, char **argv)
{
	const char *in_path = NULL, *text = NULL, *out_path = NULL;
	double timeout = 10, deadline;
	struct sockaddr_storage ss, local;
	socklen_t len;
	unsigned long long sent = 0, recvd = 0;
	char lbuf[80];
	static char buf[BUF];
	size_t tlen = 0, toff = 0;
	int fd, in = -1, out = -1, c, err = 0;
	bool wr_done = false;

	while ((c = getopt(argc, argv, "t:i:m:o:")) != -1) {
		switch (c) {
		case 't': timeout = atof(optarg); break;
		case 'i': in_path = optarg; break;
		case 'm': text = optarg; break;
		case 'o': out_path = optarg; break;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return EX_USAGE;
	}
	if (resolve(argv[optind], argv[optind + 1], &ss, &len, false) < 0)
		return EX_USAGE;
	if (in_path) {
		in = strcmp(in_path, "-") == 0 ? 0 : open(in_path, O_RDONLY | O_CLOEXEC);
		if (in < 0) {
			printf("error: %s: %s\n", in_path, strerror(errno));
			return EX_ERROR;
		}
	}
	if (text)
		tlen = strlen(text);
	if (out_path) {
		out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (out < 0) {
			printf("error: %s: %s\n", out_path, strerror(errno));
			return EX_ERROR;
		}
	}
	deadline = now() + timeout;
	fd = connect_to(&ss, len, deadline, &local);
	if (fd == -ECONNREFUSED) {
		/* a RST in answer to the SYN */
		printf("refused\n");
		return EX_REFUSED;
	}
	if (fd == -ECONNRESET || fd == -EPIPE) {
		/* the handshake completed, then the peer reset it before we looked */
		fmt_addr(&local, lbuf, sizeof(lbuf));
		printf("reset sent=0 recv=0 local=%s\n", lbuf);
		return EX_RESET;
	}
	if (fd == -ETIMEDOUT) {
		printf("timeout connect\n");
		return EX_TIMEOUT;
	}
	if (fd < 0) {
		printf("error: connect: %s\n", strerror(-fd));
		return EX_ERROR;
	}
	fmt_addr(&local, lbuf, sizeof(lbuf));

	/* Write what there is to send while reading whatever comes back. */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (wr_done ? 0 : POLLOUT) };
		ssize_t n;
		int pn;

		pn = poll(&p, 1, ms_left(deadline));
		if (pn < 0 && errno == EINTR)
			continue;
		if (pn <= 0) {
			printf("timeout io sent=%llu recv=%llu local=%s\n", sent, recvd, lbuf);
			return EX_TIMEOUT;
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			n = recv(fd, buf, sizeof(buf), 0);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				err = errno;
				break;
			}
			if (n == 0)
				break;
			if (n > 0) {
				recvd += (unsigned long long)n;
				if (out >= 0 && write(out, buf, (size_t)n) != n) {
					printf("error: write %s: %s\n", out_path, strerror(errno));
					return EX_ERROR;
				}
			}
		}
		if (!wr_done && (p.revents & POLLOUT)) {
			const char *src = NULL;
			size_t avail = 0;

			if (in >= 0) {
				static char ibuf[BUF];
				static size_t ilen, ioff;

				if (ioff == ilen) {
					ssize_t r = read(in, ibuf, sizeof(ibuf));

					if (r < 0) {
						printf("error: read %s: %s\n", in_path, strerror(errno));
						return EX_ERROR;
					}
					ilen = (size_t)r;
					ioff = 0;
				}
				src = ibuf + ioff;
				avail = ilen - ioff;
				if (avail) {
					n = send(fd, src, avail, MSG_NOSIGNAL);
					if (n < 0 && errno != EAGAIN && errno != EINTR) {
						err = errno;
						break;
					}
					if (n > 0) {
						ioff += (size_t)n;
						sent += (unsigned long long)n;
					}
					continue;
				}
			} else if (toff < tlen) {
				n = send(fd, text + toff, tlen - toff, MSG_NOSIGNAL);
				if (n < 0 && errno != EAGAIN && errno != EINTR) {
					err = errno;
					break;
				}
				if (n > 0) {
					toff += (size_t)n;
					sent += (unsigned long long)n;
				}
				if (toff < tlen)
					continue;
			}
			if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN) {
				err = errno;
				break;
			}
			wr_done = true;
		}
	}
	if (!err) {
		/* EOF seen; a RST may still be queued behind it: one last look */
		int soerr = 0;
		socklen_t el = sizeof(soerr);

		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el);
		err = soerr;
	}
	close(fd);
	if (out >= 0)
		close(out);
	if (err && is_reset(err)) {
		printf("reset sent=%llu recv=%llu local=%s\n", sent, recvd, lbuf);
		return EX_RESET;
	}
	if (err) {
		printf("error: %s sent=%llu recv=%llu local=%s\n", strerror(err), sent, recvd, lbuf);
		return EX_ERROR;
	}
	printf("eof sent=%llu recv=%llu local=%s\n", sent, recvd, lbuf);
	return EX_EOF;
}

/* ---- many ---------------------------------------------------------------- */

struct mconn {
	int fd;
	char msg[32];
	size_t mlen, sent;
	char got[64];
	size_t glen;
	bool connected, wr_done, done, ok;
	int err;
};

static int cmd_many(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	double timeout = 20, deadline;
	struct mconn *m;
	struct pollfd *p;
	int n = 200, i, c, complete = 0, failed = 0, pending, conn_left;
	int refused = 0, reset = 0, mismatch = 0, other = 0, timedout = 0;

	while ((c = getopt(argc, argv, "n:t:")) != -1) {
		switch (c) {
		case 'n': n = atoi(optarg); break;
		case 't': timeout = atof(optarg); break;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (argc - optind != 2 || n < 1 || n > MAX_CONNS) {
		usage(stderr);
		return EX_USAGE;
	}
	if (resolve(argv[optind], argv[optind + 1], &ss, &len, false) < 0)
		return EX_USAGE;
	m = calloc((size_t)n, sizeof(*m));
	p = calloc((size_t)n, sizeof(*p));
	if (!m || !p) {
		printf("error: out of memory\n");
		return EX_ERROR;
	}
	deadline = now() + timeout;

	/* 1. every connection opened and connected before any byte is sent */
	for (i = 0; i < n; i++) {
		m[i].mlen = (size_t)snprintf(m[i].msg, sizeof(m[i].msg), "conn-%d\n", i);
		m[i].fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (m[i].fd < 0) {
			printf("error: socket: %s\n", strerror(errno));
			return EX_ERROR;
		}
		if (connect(m[i].fd, (struct sockaddr *)&ss, len) == 0)
			m[i].connected = true;
		else if (errno != EINPROGRESS) {
			m[i].err = errno;
			m[i].done = true;
		}
	}
	for (;;) {
		conn_left = 0;
		for (i = 0; i < n; i++) {
			p[i].fd = m[i].done || m[i].connected ? -1 : m[i].fd;
			p[i].events = POLLOUT;
			p[i].revents = 0;
			conn_left += p[i].fd >= 0;
		}
		if (!conn_left)
			break;
		if (poll(p, (nfds_t)n, ms_left(deadline)) <= 0 && now() >= deadline)
			break;
		for (i = 0; i < n; i++) {
			int err = 0;
			socklen_t el = sizeof(err);

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			getsockopt(m[i].fd, SOL_SOCKET, SO_ERROR, &err, &el);
			if (err) {
				m[i].err = err;
				m[i].done = true;
			} else {
				m[i].connected = true;
			}
		}
	}
	for (i = 0; i < n; i++)
		if (!m[i].done && !m[i].connected) {
			m[i].err = ETIMEDOUT;
			m[i].done = true;
		}

	/* 2. send, half-close, read the echo until EOF, on all of them at once */
	for (;;) {
		pending = 0;
		for (i = 0; i < n; i++) {
			p[i].fd = m[i].done ? -1 : m[i].fd;
			p[i].events = POLLIN | (m[i].wr_done ? 0 : POLLOUT);
			p[i].revents = 0;
			pending += p[i].fd >= 0;
		}
		if (!pending)
			break;
		if (poll(p, (nfds_t)n, ms_left(deadline)) <= 0 && now() >= deadline)
			break;
		for (i = 0; i < n; i++) {
			struct mconn *x = &m[i];
			ssize_t r;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (!x->wr_done && (p[i].revents & POLLOUT)) {
				r = send(x->fd, x->msg + x->sent, x->mlen - x->sent, MSG_NOSIGNAL);
				if (r > 0)
					x->sent += (size_t)r;
				else if (r < 0 && errno != EAGAIN) {
					x->err = errno;
					x->done = true;
					continue;
				}
				if (x->sent == x->mlen) {
					shutdown(x->fd, SHUT_WR);
					x->wr_done = true;
				}
			}
			if (p[i].revents & (POLLIN | POLLERR | POLLHUP)) {
				char tmp[64];

				r = recv(x->fd, tmp, sizeof(tmp), 0);
				if (r < 0 && errno != EAGAIN) {
					x->err = errno;
					x->done = true;
				} else if (r == 0) {
					x->done = true;
					x->ok = x->glen == x->mlen && memcmp(x->got, x->msg, x->mlen) == 0;
				} else if (r > 0) {
					size_t room = sizeof(x->got) - x->glen;
					size_t k = (size_t)r < room ? (size_t)r : room;

					memcpy(x->got + x->glen, tmp, k);
					x->glen += k;
				}
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (m[i].ok) {
			complete++;
			continue;
		}
		failed++;
		if (!m[i].done)
			timedout++;
		else if (m[i].err == ECONNREFUSED)
			refused++;
		else if (is_reset(m[i].err))
			reset++;
		else if (m[i].err == ETIMEDOUT)
			timedout++;
		else if (m[i].err)
			other++;
		else
			mismatch++;
		close(m[i].fd);
		m[i].fd = -1;
	}
	for (i = 0; i < n; i++)
		if (m[i].fd >= 0)
			close(m[i].fd);
	printf("%d/%d complete\n", complete, n);
	if (failed)
		printf("%d failed: refused=%d reset=%d timeout=%d wrong-echo=%d other=%d\n", failed,
		       refused, reset, timedout, mismatch, other);
	free(m);
	free(p);
	return failed ? EX_ERROR : EX_EOF;
}

/* ---- hold ---------------------------------------------------------------- */

enum hstate { H_CONNECTING, H_ECHO, H_OPEN, H_DONE };

struct hconn {
	int fd;
	enum hstate st;
	char msg[32];
	size_t mlen, sent, got;
	int err;		/* why it ended: 0 EOF */
};

/* Sends c's line (again) and waits for its echo. */
static void hold_send(struct hconn *c, int i, const char *word)
{
	c->mlen = (size_t)snprintf(c->msg, sizeof(c->msg), "%s-%d\n", word, i);
	c->sent = c->got = 0;
	c->st = H_ECHO;
}

/* One poll event for c: 1 when its echo completed, -1 when it ended, else 0. */
static int hold_event(struct hconn *c, short rev)
{
	char tmp[64];
	ssize_t r;
	int err = 0;
	socklen_t el = sizeof(err);

	if (c->st == H_CONNECTING) {
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		c->st = err ? H_DONE : c->mlen ? H_ECHO : H_OPEN;
		c->err = err;
		return err ? -1 : 0;
	}
	if (c->st == H_ECHO && c->sent < c->mlen && (rev & POLLOUT)) {
		r = send(c->fd, c->msg + c->sent, c->mlen - c->sent, MSG_NOSIGNAL);
		if (r > 0)
			c->sent += (size_t)r;
		else if (r < 0 && errno != EAGAIN) {
			/* the error (a RST) is reported once: a recv after it sees EOF */
			c->err = errno;
			c->st = H_DONE;
			return -1;
		}
	}
	if (!(rev & (POLLIN | POLLERR | POLLHUP)))
		return 0;
	r = recv(c->fd, tmp, sizeof(tmp), 0);
	if (r < 0 && errno == EAGAIN)
		return 0;
	if (r <= 0) {
		c->err = r < 0 ? errno : 0;
		c->st = H_DONE;
		return -1;
	}
	c->got += (size_t)r;
	if (c->st == H_ECHO && c->got >= c->mlen) {
		c->st = H_OPEN;
		return 1;
	}
	return 0;
}

static void hold_poll_set(struct hconn *m, struct pollfd *p, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		p[i].fd = m[i].st == H_DONE ? -1 : m[i].fd;
		p[i].events = m[i].st == H_CONNECTING ? POLLOUT :
			      POLLIN | (m[i].st == H_ECHO && m[i].sent < m[i].mlen ? POLLOUT : 0);
		p[i].revents = 0;
	}
}

/* Until no connection is connecting or waiting for an echo, or the deadline. */
static void hold_settle(struct hconn *m, struct pollfd *p, int n, double deadline, double t0)
{
	int i, busy;

	for (;;) {
		hold_poll_set(m, p, n);
		for (i = busy = 0; i < n; i++)
			busy += m[i].st == H_CONNECTING || m[i].st == H_ECHO;
		if (!busy || poll(p, (nfds_t)n, ms_left(deadline)) <= 0)
			return;
		for (i = 0; i < n; i++)
			if (p[i].revents && hold_event(&m[i], p[i].revents) < 0 && t0 > 0)
				printf("closed %d %s after %.1f\n", i, is_reset(m[i].err) ? "reset" : "eof",
				       now() - t0);
	}
}

static int cmd_hold(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	double timeout = 20, t0;
	struct hconn *m;
	struct pollfd *p;
	int n = 1, i, c, open_ = 0, reset = 0, refused = 0, timedout = 0, other = 0;
	bool silent = false;

	while ((c = getopt(argc, argv, "sn:t:")) != -1) {
		switch (c) {
		case 's': silent = true; break;
		case 'n': n = atoi(optarg); break;
		case 't': timeout = atof(optarg); break;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (argc - optind != 2 || n < 1 || n > MAX_CONNS) {
		usage(stderr);
		return EX_USAGE;
	}
	if (resolve(argv[optind], argv[optind + 1], &ss, &len, false) < 0)
		return EX_USAGE;
	m = calloc((size_t)n, sizeof(*m));
	p = calloc((size_t)n + 1, sizeof(*p));
	if (!m || !p) {
		printf("error: out of memory\n");
		return EX_ERROR;
	}
	for (i = 0; i < n; i++) {
		m[i].fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (m[i].fd < 0) {
			printf("error: socket: %s\n", strerror(errno));
			return EX_ERROR;
		}
		hold_send(&m[i], i, "conn");
		if (silent)
			m[i].mlen = 0;
		m[i].st = H_CONNECTING;
		if (connect(m[i].fd, (struct sockaddr *)&ss, len) == 0)
			m[i].st = silent ? H_OPEN : H_ECHO;
		else if (errno != EINPROGRESS) {
			m[i].err = errno;
			m[i].st = H_DONE;
		}
	}
	hold_settle(m, p, n, now() + timeout, 0);
	for (i = 0; i < n; i++) {
		if (m[i].st == H_OPEN)
			open_++;
		else if (m[i].st != H_DONE)
			timedout++;
		else if (m[i].err == ECONNREFUSED)
			refused++;
		else if (is_reset(m[i].err))
			reset++;
		else
			other++;
		if (m[i].st != H_OPEN && m[i].st != H_DONE)
			m[i].st = H_DONE;
	}
	printf("open=%d reset=%d refused=%d timeout=%d other=%d\n", open_, reset, refused, timedout,
	       other);
	t0 = now();
	for (;;) {
		hold_poll_set(m, p, n);
		p[n].fd = 0;
		p[n].events = POLLIN;
		p[n].revents = 0;
		if (poll(p, (nfds_t)n + 1, -1) < 0 && errno != EINTR)
			break;
		for (i = 0; i < n; i++)
			if (p[i].revents && hold_event(&m[i], p[i].revents) < 0)
				printf("closed %d %s after %.1f\n", i, is_reset(m[i].err) ? "reset" : "eof",
				       now() - t0);
		if (p[n].revents) {
			char line[64];
			int ok = 0, failed = 0;

			if (!fgets(line, sizeof(line), stdin))
				break;
			if (strncmp(line, "ping", 4))
				continue;
			for (i = 0; i < n; i++)
				if (m[i].st == H_OPEN)
					hold_send(&m[i], i, "again");
			hold_settle(m, p, n, now() + timeout, t0);
			for (i = 0; i < n; i++) {
				ok += m[i].st == H_OPEN && !strncmp(m[i].msg, "again", 5);
				failed += m[i].st == H_ECHO || (m[i].st == H_DONE && !strncmp(m[i].msg, "again", 5));
			}
			printf("ping ok=%d failed=%d\n", ok, failed);
		}
	}
	for (i = 0; i < n; i++)
		close(m[i].fd);
	free(m);
	free(p);
	return EX_EOF;
}

/* ---- serve --------------------------------------------------------------- */

struct sconn {
	int fd;
	char buf[BUF];
	size_t len, off;
	bool eof;
	unsigned long long bytes;
	struct sockaddr_storage peer, local;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void serve_close(struct sconn *s, FILE *log)
{
	char a[80], b[80];

	fmt_addr(&s->peer, a, sizeof(a));
	fmt_addr(&s->local, b, sizeof(b));
	fprintf(log, "peer=%s local=%s bytes=%llu\n", a, b, s->bytes);
	fflush(log);
	close(s->fd);
	s->fd = -1;
}

static int cmd_serve(int argc, char **argv)
{
	static struct sconn *conns[MAX_CONNS];
	static struct pollfd p[MAX_CONNS + 1];
	struct sigaction sa = { .sa_handler = on_signal };
	struct sockaddr_storage ss;
	socklen_t len;
	FILE *log = stdout;
	int lfd, one = 1, zero = 0, c, i, nconns = 0;

	while ((c = getopt(argc, argv, "l:")) != -1) {
		switch (c) {
		case 'l':
			log = fopen(optarg, "a");
			if (!log) {
				fprintf(stderr, "tcp-probe: %s: %s\n", optarg, strerror(errno));
				return EX_ERROR;
			}
			break;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return EX_USAGE;
	}
	if (resolve(argv[optind], argv[optind + 1], &ss, &len, true) < 0)
		return EX_USAGE;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0) {
		fprintf(stderr, "tcp-probe: socket: %s\n", strerror(errno));
		return EX_ERROR;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(lfd, (struct sockaddr *)&ss, len) < 0 || listen(lfd, 1024) < 0) {
		fprintf(stderr, "tcp-probe: bind %s port %s: %s\n", argv[optind], argv[optind + 1],
			strerror(errno));
		return EX_ERROR;
	}
	printf(strchr(argv[optind], ':') ? "listening on [%s]:%s\n" : "listening on %s:%s\n",
	       argv[optind], argv[optind + 1]);
	fflush(stdout);

	while (!stop) {
		int np = 0;

		p[np].fd = nconns < MAX_CONNS ? lfd : -1;
		p[np++].events = POLLIN;
		for (i = 0; i < MAX_CONNS; i++) {
			struct sconn *s = conns[i];

			if (!s)
				continue;
			p[np].fd = s->fd;
			p[np].events = (s->len == s->off && !s->eof ? POLLIN : 0) |
				       (s->len > s->off ? POLLOUT : 0);
			p[np].revents = 0;
			np++;
		}
		if (poll(p, (nfds_t)np, 1000) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tcp-probe: poll: %s\n", strerror(errno));
			return EX_ERROR;
		}
		if (p[0].revents & POLLIN) {
			for (;;) {
				struct sockaddr_storage peer;
				socklen_t pl = sizeof(peer), ll;
				int fd = accept4(lfd, (struct sockaddr *)&peer, &pl,
						 SOCK_CLOEXEC | SOCK_NONBLOCK);
				struct sconn *s;

				if (fd < 0)
					break;
				for (i = 0; i < MAX_CONNS && conns[i]; i++)
					;
				s = i < MAX_CONNS ? calloc(1, sizeof(*s)) : NULL;
				if (!s) {
					close(fd);
					break;
				}
				s->fd = fd;
				s->peer = peer;
				ll = sizeof(s->local);
				getsockname(fd, (struct sockaddr *)&s->local, &ll);
				conns[i] = s;
				nconns++;
			}
		}
		for (i = 0; i < MAX_CONNS; i++) {
			struct sconn *s = conns[i];
			ssize_t r;

			if (!s)
				continue;
			if (s->len == s->off && !s->eof) {
				r = recv(s->fd, s->buf, sizeof(s->buf), 0);
				if (r == 0) {
					s->eof = true;
				} else if (r > 0) {
					s->len = (size_t)r;
					s->off = 0;
				} else if (errno != EAGAIN && errno != EINTR) {
					goto gone;
				}
			}
			if (s->len > s->off) {
				r = send(s->fd, s->buf + s->off, s->len - s->off, MSG_NOSIGNAL);
				if (r > 0) {
					s->off += (size_t)r;
					s->bytes += (unsigned long long)r;
				} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
					goto gone;
				}
			}
			if (s->eof && s->len == s->off) {
				shutdown(s->fd, SHUT_WR);
				goto gone;
			}
			continue;
gone:
			serve_close(s, log);
			free(s);
			conns[i] = NULL;
			nconns--;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "connect"))
		return cmd_connect(argc - 1, argv + 1);
	if (!strcmp(argv[1], "many"))
		return cmd_many(argc - 1, argv + 1);
	if (!strcmp(argv[1], "hold"))
		return cmd_hold(argc - 1, argv + 1);
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	usage(stderr);
	return EX_USAGE;
}
