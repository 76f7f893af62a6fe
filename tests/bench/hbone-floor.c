/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hbone-floor: the work a new HBONE connection cannot avoid on the daemon's
 * path, and nothing else, to set the daemon's new-connection setup against
 * (make bench, section 6). One thread plays the source pod's 15001, the
 * destination pod's 15008 and both ends of the tunnel, each step called in
 * turn (no epoll, no timers, counters or log); the app is a child process,
 * as the probes' tcpbench is. In two pods whose rules are the enrolled
 * pods' (copied by the bench), the source pod's link ending in a bridge in
 * the destination pod, as the probes' do:
 *
 *   the app's connect to DST:PORT from SRC (the rules send it to 15001);
 *   accept on [::]:15001 (IP_TRANSPARENT, mark 0x539), its original
 *   destination (SO_ORIGINAL_DST); every socket TCP_NODELAY, and ztunnel's
 *   keepalive on the sockets it opens and on 15001's; a socket made in SRC
 *   (setns there and back), marked, connected to DST:15008 (the rules of
 *   DST send it to its 15008); accept there; the mutual TLS 1.3 handshake
 *   of tls-floor.c, with its SPIFFE checks; HTTP/2 both ends (nghttp2:
 *   SETTINGS, CONNECT DST:PORT); the server's upstream socket made in DST,
 *   marked, bound to the client's address (IP_TRANSPARENT), connected to
 *   DST:PORT (an echo server); the 200; the app's byte in a DATA frame to
 *   the upstream, its echo back the same way to the app. The app's and the
 *   upstream sockets closed; the tunnel (both TLS ends, both HTTP/2
 *   sessions, both sockets) kept open, as ztunnel's pool keeps a new
 *   connection (POOL_UNUSED_RELEASE_TIMEOUT, 5 minutes), so that the N
 *   tunnels are held as the probes' N new connections are in the daemon;
 *   then the next. (Freeing each tunnel before the next, the handshake's
 *   CPU was about 90 us lower: the next one reuses warm memory.)
 *
 *   hbone-floor [--samples] N SRC_NETNS DST_NETNS DST_ADDR PORT
 *     prints: hbone-floor n N min_us A p50_us B p99_us C cpu_us D
 *     (each from the app's connect() to its byte back, as tcpbench connect
 *     times; D: the proxy's CPU per connection, the app's and the echo
 *     server's not, as the daemon's is counted); with --samples, first a
 *     line "hbone-floor-sample us T" per connection (the bench runs the
 *     floor in parts between the probes' and takes the p50 of them all)
 *
 * Links OpenSSL and nghttp2; does not share code with the daemon.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROG "hbone-floor"
#include "floor-tls.h"
#include "timing.h"

#define MARK 0x539	/* ztunnel's: the in-pod rules let it through */

/* A tunnel kept open after its stream, as in ztunnel's pool. */
struct tunnel {
	SSL *c, *s;
	nghttp2_session *ch, *sh;
	int cfd, sfd;
};

/* One end of the tunnel: its TLS, its HTTP/2 session, the one stream's bytes to send. */
struct end {
	SSL *ssl;
	nghttp2_session *h2;
	int32_t id;		/* the stream */
	uint8_t out[64];	/* DATA to send (a deferred data source until then) */
	size_t outlen;
	int got_headers;	/* client: the 200; server: the CONNECT */
	uint8_t in[64];		/* DATA received */
	size_t inlen;
	int got_data;
};

static int src_ns, dst_ns, own_ns;

static int in_netns(int ns, int family, int type)
{
	int fd;

	if (setns(ns, CLONE_NEWNET) < 0)
		die("setns into a pod");
	fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (setns(own_ns, CLONE_NEWNET) < 0)
		die("setns back");
	if (fd < 0)
		die("socket");
	return fd;
}

static void set_int(int fd, int level, int opt, int v)
{
	if (setsockopt(fd, level, opt, &v, sizeof(v)) < 0)
		die("setsockopt");
}

static int listener(int ns, int port)
{
	int fd = in_netns(ns, AF_INET6, SOCK_STREAM);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };

	set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	set_int(fd, SOL_SOCKET, SO_MARK, MARK);
	set_int(fd, SOL_IP, IP_TRANSPARENT, 1);
	set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0)
		die("cannot listen in a pod");
	return fd;
}

/* Where the app's connection was going: SO_ORIGINAL_DST (REDIRECT), else its local address (TPROXY). */
static void original_dst(int fd, struct sockaddr_in6 *to)
{
	struct sockaddr_in v4;
	socklen_t sl = sizeof(v4);

	if (!getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &v4, &sl))
		return;
	sl = sizeof(*to);
	if (getsockname(fd, (struct sockaddr *)to, &sl) < 0)
		die("the original destination");
}

static void wait_for(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };

	while (poll(&p, 1, 5000) != 1)
		if (errno != EINTR)
			die("a socket never became ready");
}

/* ---- HTTP/2, memory I/O through TLS ------------------------------------------ */

static ssize_t read_out(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
			uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct end *e = ud;

	(void)h2;
	(void)id;
	(void)flags;
	(void)src;
	if (!e->outlen)
		return NGHTTP2_ERR_DEFERRED;
	len = len < e->outlen ? len : e->outlen;
	memcpy(buf, e->out, len);
	e->outlen = 0;
	return (ssize_t)len;
}

static int on_frame(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct end *e = ud;

	(void)h2;
	if (f->hd.type == NGHTTP2_HEADERS && (f->hd.flags & NGHTTP2_FLAG_END_HEADERS)) {
		e->got_headers = 1;
		e->id = f->hd.stream_id;
	}
	return 0;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *d, size_t len,
		   void *ud)
{
	struct end *e = ud;

	(void)h2;
	(void)flags;
	(void)id;
	if (len > sizeof(e->in) - e->inlen)
		die("more DATA than sent");
	memcpy(e->in + e->inlen, d, len);
	e->inlen += len;
	e->got_data = 1;
	return 0;
}

static void session(struct end *e, int server)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb))
		die("nghttp2");
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	if ((server ? nghttp2_session_server_new(&e->h2, cb, e) :
		      nghttp2_session_client_new(&e->h2, cb, e)) ||
	    nghttp2_submit_settings(e->h2, NGHTTP2_FLAG_NONE, NULL, 0))
		die("nghttp2 session");
	nghttp2_session_callbacks_del(cb);
}

/* What the session has to send, through TLS onto the socket. */
static void send_all(struct end *e)
{
	const uint8_t *d;
	ssize_t n;

	while ((n = nghttp2_session_mem_send(e->h2, &d)) > 0)
		if (SSL_write(e->ssl, d, (int)n) != n)
			die("SSL_write");
	if (n < 0)
		die("nghttp2_session_mem_send");
}

/* Reads what the socket holds into the session, until *until is set (spinning: the peer is us). */
static void recv_until(struct end *e, const int *until)
{
	uint8_t buf[16384];
	int n;

	while (!*until) {
		n = SSL_read(e->ssl, buf, sizeof(buf));
		if (n > 0) {
			if (nghttp2_session_mem_recv(e->h2, buf, (size_t)n) != n)
				die("nghttp2_session_mem_recv");
		} else if (SSL_get_error(e->ssl, n) != SSL_ERROR_WANT_READ) {
			die("SSL_read");
		}
	}
}

/* A byte into e's stream (its deferred data source), then sent. */
static void send_byte(struct end *e, uint8_t b)
{
	e->out[0] = b;
	e->outlen = 1;
	if (nghttp2_session_resume_data(e->h2, e->id))
		die("nghttp2_session_resume_data");
	send_all(e);
}

/* A byte read from fd `in`, sent by tx in a DATA frame, received by rx, written to fd `out`. */
static void hop(int in, struct end *tx, struct end *rx, int out)
{
	uint8_t b;

	wait_for(in, POLLIN);
	if (read(in, &b, 1) != 1)
		die("read a socket");
	send_byte(tx, b);
	recv_until(rx, &rx->got_data);
	if (write(out, rx->in, 1) != 1)
		die("write a socket");
}

/* ---- the app --------------------------------------------------------------- */

/*
 * The app is a process of its own, as tcpbench is for the daemon's probes:
 * the proxy is woken by its connection and wakes it with the echo, two
 * wake-ups no proxy avoids. Per byte on go: connect to dst from SRC, a byte
 * out and back; the time from connect() to the byte back goes to res.
 */
static void app_main(const struct sockaddr_in *dst, int go, int res)
{
	uint8_t b = 'x', g;
	int64_t t;
	int fd;

	if (setns(src_ns, CLONE_NEWNET) < 0)
		die("setns to the source pod");
	while (read(go, &g, 1) == 1) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		t = now_ns();
		if (fd < 0 || connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 ||
		    write(fd, &b, 1) != 1 || read(fd, &b, 1) != 1)
			die("the app's connect, write or read");
		t = now_ns() - t;
		close(fd);
		if (write(res, &t, sizeof(t)) != (ssize_t)sizeof(t))
			die("the app's report");
	}
	_exit(0);
}

/* ---- one connection --------------------------------------------------------- */

/* ztunnel's keepalive (config.rs): 180 s idle, every 180 s, 9 probes */
static void keepalive(int fd)
{
	set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 180);
	set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, 180);
	set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, 9);
}

/*
 * The proxy's side of one connection: from the accept on 15001 to the echo
 * written back; its tunnel left open in *keep.
 */
static void one(int l1, int l8, const struct sockaddr_in *dst, SSL_CTX *cc, SSL_CTX *sc,
		struct tunnel *keep)
{
	static const uint8_t key[] = ":authority", method[] = ":method", connect_[] = "CONNECT",
			     status[] = ":status", ok[] = "200";
	struct end c = { 0 }, s = { 0 };
	struct sockaddr_in to = *dst, from = { .sin_family = AF_INET };
	struct sockaddr_in6 orig, peer;
	nghttp2_data_provider cdp = { .read_callback = read_out }, sdp = { .read_callback = read_out };
	char auth[32];
	nghttp2_nv req[2], resp[1] = { { (uint8_t *)status, (uint8_t *)ok, 7, 3, 0 } };
	int pfd, cfd, sfd, ufd, cd = 0, sd = 0;

	/* 15001: the app's connection and where it was going */
	if ((pfd = accept4(l1, NULL, NULL, SOCK_CLOEXEC)) < 0)
		die("accept on 15001");
	set_int(pfd, IPPROTO_TCP, TCP_NODELAY, 1);	/* as ztunnel, on every connection */
	keepalive(pfd);
	original_dst(pfd, &orig);
	/* the tunnel: from the source pod to DST:15008 */
	cfd = in_netns(src_ns, AF_INET, SOCK_STREAM);
	set_int(cfd, SOL_SOCKET, SO_MARK, MARK);
	set_int(cfd, IPPROTO_TCP, TCP_NODELAY, 1);
	keepalive(cfd);
	nonblock(cfd);
	to.sin_port = htons(15008);
	if (connect(cfd, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS)
		die("connect to 15008");
	if ((sfd = accept4(l8, (struct sockaddr *)&peer, &(socklen_t){ sizeof(peer) }, SOCK_CLOEXEC)) < 0)
		die("accept on 15008");
	set_int(sfd, IPPROTO_TCP, TCP_NODELAY, 1);
	memcpy(&from.sin_addr, &peer.sin6_addr.s6_addr[12], 4);	/* v4-mapped: the source pod's */
	nonblock(sfd);
	wait_for(cfd, POLLOUT);
	c.ssl = SSL_new(cc);
	s.ssl = SSL_new(sc);
	if (!c.ssl || !s.ssl || !SSL_set_fd(c.ssl, cfd) || !SSL_set_fd(s.ssl, sfd))
		die("cannot make the SSL objects");
	SSL_set_connect_state(c.ssl);
	SSL_set_accept_state(s.ssl);
	while (!step(c.ssl, &cd) + !step(s.ssl, &sd))
		;
	if (SSL_get_verify_result(c.ssl) != X509_V_OK || SSL_get_verify_result(s.ssl) != X509_V_OK)
		die("a peer's certificate did not verify");
	/* HTTP/2: the CONNECT (its body a deferred source), the server's settings */
	session(&c, 0);
	session(&s, 1);
	snprintf(auth, sizeof(auth), "%s:%u", inet_ntoa(dst->sin_addr), ntohs(dst->sin_port));
	req[0] = (nghttp2_nv){ (uint8_t *)method, (uint8_t *)connect_, 7, 7, 0 };
	req[1] = (nghttp2_nv){ (uint8_t *)key, (uint8_t *)auth, 10, strlen(auth), 0 };
	if ((c.id = nghttp2_submit_request(c.h2, NULL, req, 2, &cdp, NULL)) < 0)
		die("nghttp2_submit_request");
	send_all(&c);
	send_all(&s);
	recv_until(&s, &s.got_headers);
	/* upstream: made in the destination pod, from the client's address */
	ufd = in_netns(dst_ns, AF_INET, SOCK_STREAM);
	set_int(ufd, SOL_SOCKET, SO_MARK, MARK);
	set_int(ufd, IPPROTO_TCP, TCP_NODELAY, 1);
	keepalive(ufd);
	set_int(ufd, SOL_IP, IP_TRANSPARENT, 1);
	nonblock(ufd);
	if (bind(ufd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
	    (connect(ufd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 && errno != EINPROGRESS))
		die("the upstream connect");
	wait_for(ufd, POLLOUT);
	if (nghttp2_submit_response(s.h2, s.id, resp, 1, &sdp))
		die("nghttp2_submit_response");
	send_all(&s);
	recv_until(&c, &c.got_headers);
	/* the byte: app -> 15001 -> DATA -> upstream, the echo back the same way */
	hop(pfd, &c, &s, ufd);
	hop(ufd, &s, &c, pfd);
	close(pfd);
	close(ufd);
	*keep = (struct tunnel){ c.ssl, s.ssl, c.h2, s.h2, cfd, sfd };
}

static void release(struct tunnel *t)
{
	nghttp2_session_del(t->ch);
	nghttp2_session_del(t->sh);
	SSL_free(t->c);
	SSL_free(t->s);
	close(t->cfd);
	close(t->sfd);
}

static int open_ns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die("cannot open a netns");
	return fd;
}

int main(int argc, char **argv)
{
	int samples = argc > 1 && !strcmp(argv[1], "--samples");
	long n = argc - samples == 6 ? strtol(argv[1 + samples], NULL, 10) : 0, i;
	struct sockaddr_in dst = { .sin_family = AF_INET };
	EVP_PKEY *rk, *ck, *sk;
	X509 *root, *cl, *sv;
	SSL_CTX *sc, *cc;
	int l1, l8, go[2], res[2];
	pid_t app;
	int64_t *t, c0 = 0;
	struct timespec cpu;
	struct tunnel *kept;

	argv += samples;
	if (n < 1 || inet_pton(AF_INET, argv[4], &dst.sin_addr) != 1 || atoi(argv[5]) <= 0 ||
	    !(t = calloc((size_t)n, sizeof(*t))) || !(kept = calloc((size_t)n + 1, sizeof(*kept)))) {
		fprintf(stderr, "usage: hbone-floor [--samples] N SRC_NETNS DST_NETNS DST_ADDR PORT\n");
		return 2;
	}
	dst.sin_port = htons((uint16_t)atoi(argv[5]));
	own_ns = open_ns("/proc/self/ns/net");
	src_ns = open_ns(argv[2]);
	dst_ns = open_ns(argv[3]);
	rk = p256(), ck = p256(), sk = p256();
	root = cert(rk, NULL, rk, NULL);
	cl = cert(ck, root, rk, "URI:" FLOOR_CLIENT_ID);
	sv = cert(sk, root, rk, "URI:" FLOOR_SERVER_ID);
	sc = ctx(1, root, sv, sk), cc = ctx(0, root, cl, ck);
	l1 = listener(src_ns, 15001);
	l8 = listener(dst_ns, 15008);
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0 || (app = fork()) < 0)
		die("cannot start the app");
	if (!app) {
		close(go[1]);
		app_main(&dst, go[0], res[1]);
	}
	close(go[0]);
	close(res[1]);
	for (i = -1; i < n; i++) {	/* the first a warm-up, untimed */
		if (i == 0) {
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
			c0 = (int64_t)cpu.tv_sec * 1000000000 + cpu.tv_nsec;
		}
		if (write(go[1], "g", 1) != 1)
			die("the app is gone");
		one(l1, l8, &dst, cc, sc, &kept[i + 1]);
		if (read(res[0], &t[i < 0 ? 0 : i], sizeof(*t)) != (ssize_t)sizeof(*t))
			die("the app did not report");
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	c0 = (int64_t)cpu.tv_sec * 1000000000 + cpu.tv_nsec - c0;
	close(go[1]);
	waitpid(app, NULL, 0);
	for (i = 0; i <= n; i++)
		release(&kept[i]);
	for (i = 0; samples && i < n; i++)
		printf("hbone-floor-sample us %.1f\n", (double)t[i] / 1e3);
	qsort(t, (size_t)n, sizeof(*t), cmp64);
	printf("hbone-floor n %ld min_us %.1f p50_us %.1f p99_us %.1f cpu_us %.1f\n", n,
	       (double)t[0] / 1e3, (double)t[nearest_rank((size_t)n, 0.5)] / 1e3,
	       (double)t[nearest_rank((size_t)n, 0.99)] / 1e3, (double)c0 / 1e3 / (double)n);
	return 0;
}
