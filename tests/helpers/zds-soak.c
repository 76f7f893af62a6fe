/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zds-soak: a load generator for ztunnel-emulator. It forks N clients; client
 * i owns the netns indexes i, i+N, i+2N, ... (/run/netns/<PREFIX><index>), so
 * no two clients ever touch the same pod. Each client keeps one connection
 * open (reconnecting whenever the daemon closes it) and runs its share of the
 * add/del cycles: Add uid "<PREFIX><index>" with the netns fd, and Del of the
 * pod it added LAG cycles earlier (so about LAG pods per client are up at any
 * time), each expecting "ack ok". Every K-th request is instead a hostile one,
 * drawn in rotation from the bad inputs of the README's "Error handling" table,
 * and its exact answer is checked: the nack text, then whether the daemon closed
 * the connection (read errors) or kept it open (the host netns). Pods left up
 * at the end are deleted, so the daemon ends with no pod.
 *
 * The host-netns case sends the client's own /proc/self/ns/net: run the soak in
 * the daemon's netns. SnapshotSent is never sent (it would drain pods).
 *
 * Output: one "key: value" line per figure (requests, hostile, wrong, elapsed,
 * rate, ...), indented detail lines, and the first wrong answers. Exit 0 when
 * every answer was the expected one, 1 otherwise, 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "uds.h"
#include "zds.h"

#define MAX_CLIENTS 64
#define MAX_DETAILS 5		/* wrong answers described per client */
#define DETAIL_LEN 768
#define OVERSIZED_LEN 1500
#define LAT_BUCKETS 32		/* log2 microseconds */

/* What a request is, for counting and for describing wrong answers. */
enum kind {
	K_ADD,
	K_DEL,
	/* hostile, in rotation order */
	K_GARBAGE,
	K_TRUNCATED_ADD,
	K_OVERSIZED,
	K_UNKNOWN_TYPE,
	K_ADD_NO_FD,
	K_ADD_TWO_FDS,
	K_ADD_DEVNULL,
	K_ADD_UTS,
	K_DEL_WITH_FD,
	K_HOST_NETNS,
	K_EMPTY,
	K_COUNT
};

#define FIRST_HOSTILE K_GARBAGE
#define NHOSTILE (K_COUNT - FIRST_HOSTILE)

static const char *const kind_names[K_COUNT] = {
	[K_ADD] = "add",
	[K_DEL] = "del",
	[K_GARBAGE] = "garbage bytes",
	[K_TRUNCATED_ADD] = "truncated add (+netns fd)",
	[K_OVERSIZED] = "oversized, 1500 bytes (+netns fd)",
	[K_UNKNOWN_TYPE] = "unknown request type (4a 00)",
	[K_ADD_NO_FD] = "add without fd",
	[K_ADD_TWO_FDS] = "add with 2 fds",
	[K_ADD_DEVNULL] = "add with /dev/null as fd",
	[K_ADD_UTS] = "add with /proc/self/ns/uts",
	[K_DEL_WITH_FD] = "del carrying an fd",
	[K_HOST_NETNS] = "add with the host netns",
	[K_EMPTY] = "empty datagram",
};

/* Per-client figures, in memory shared with the parent. */
struct client_stats {
	uint64_t requests, hostile, wrong, reconnects;
	uint64_t sent[K_COUNT], wrong_by[K_COUNT];
	uint64_t lat_n, lat_sum_us, lat_max_us, lat_hist[LAT_BUCKETS];
	int ndetails;
	char details[MAX_DETAILS][DETAIL_LEN];
	int finished;		/* ran to the end (not aborted) */
};

struct opts {
	int clients, hostile_every, timeout_ms;
	long cycles, lag;	/* lag < 0: half of each client's netns */
	unsigned long seed;
	const char *sock, *prefix;
	long nnetns;
};

/* One client's state. */
struct client {
	const struct opts *o;
	struct client_stats *st;
	int id, sock;
	uint64_t seq;		/* requests so far */
	unsigned hostile_next;	/* rotation position */
	uint64_t rng;
	enum kind prev;		/* the request before, for diagnostics */
	bool prev_valid;
};

/* What one request carries and what the daemon must answer. */
struct request {
	enum kind kind;
	uint8_t data[OVERSIZED_LEN];
	size_t len;
	int fds[2];
	size_t nfds;
	char uid[128];
	bool want_ack;		/* false: the daemon must close without an ack */
	char want[512];		/* "" = ack ok, else the exact nack text */
	bool want_close;	/* the daemon then closes the connection */
};

static volatile sig_atomic_t stop_signal;
static pid_t children[MAX_CLIENTS];
static volatile sig_atomic_t nchildren;

static void stop_children(void)
{
	for (int i = 0; i < nchildren; i++)
		if (children[i] > 0)
			kill(children[i], SIGTERM);
}

/* SIGINT/SIGTERM: pass it on to the clients (kill() is async-signal-safe) */
static void on_stop(int sig)
{
	int saved = errno;

	stop_signal = sig;
	stop_children();
	errno = saved;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: zds-soak [--clients N] [--cycles N] [--hostile-every K] [--seed S]\n"
		"                [--lag L] [--timeout S] SOCKET NETNS_PREFIX NNETNS\n"
		"  N clients (default 4) each own the netns /run/netns/<NETNS_PREFIX><i>,\n"
		"  i = client, client+N, ... < NNETNS, and share --cycles add/del cycles\n"
		"  (default 1000); a Del follows its Add L cycles later (default: half of\n"
		"  the client's netns). Every K-th request (default 10, 0 = none) is a\n"
		"  hostile one. --timeout: seconds to wait for each answer (default 5).\n"
		"  Exit 0 when every answer was the expected one, 1 otherwise.\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: reproducible from --seed */
static uint64_t rnd(struct client *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1DULL;
}

static void hexdump(char *out, size_t cap, const uint8_t *p, size_t len)
{
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < len && n + 4 < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%02x", p[i]);
	if (i < len && n + 4 < cap)
		snprintf(out + n, cap - n, "..");
}

/* Counts one wrong answer and keeps the first few descriptions. */
__attribute__((format(printf, 3, 4)))
static void wrong(struct client *c, const struct request *r, const char *fmt, ...)
{
	struct client_stats *st = c->st;
	char what[400];
	va_list ap;

	st->wrong++;
	st->wrong_by[r ? r->kind : K_ADD]++;
	if (st->ndetails >= MAX_DETAILS)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (r)
		snprintf(st->details[st->ndetails], DETAIL_LEN,
			 "client %d request #%" PRIu64 " (%s, uid \"%s\"%s%s): %s", c->id, c->seq,
			 kind_names[r->kind], r->uid, c->prev_valid ? ", after " : "",
			 c->prev_valid ? kind_names[c->prev] : "", what);
	else
		snprintf(st->details[st->ndetails], DETAIL_LEN, "client %d: %s", c->id, what);
	st->ndetails++;
}

static void disconnect(struct client *c)
{
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
}

/* Connects (retrying briefly) and checks the hello. false: give up this client. */
static bool ensure_connected(struct client *c, const struct request *r)
{
	uint8_t buf[ZDS_MAX_MSG];
	char hex[64];
	struct fdpass_msg m;
	double deadline = now_s() + c->o->timeout_ms / 1000.0;
	int fd, ret;

	if (c->sock >= 0)
		return true;
	for (;;) {
		fd = uds_connect(c->o->sock);
		if (fd >= 0)
			break;
		/* a full accept backlog refuses for a moment */
		if ((fd != -EAGAIN && fd != -ECONNREFUSED) || now_s() > deadline) {
			wrong(c, r, "connect to %s failed: %s", c->o->sock, strerror(-fd));
			return false;
		}
		usleep(1000);
	}
	ret = uds_recv_timeout(fd, buf, sizeof(buf), c->o->timeout_ms, &m);
	if (ret || m.len != 2 || buf[0] != 0x08 || buf[1] != ZDS_VERSION_V1 || m.nfds) {
		if (ret)
			wrong(c, r, "no hello on a new connection: %s", strerror(-ret));
		else if (m.len == 0)
			wrong(c, r, "no hello on a new connection: closed");
		else {
			hexdump(hex, sizeof(hex), buf, m.len);
			wrong(c, r, "hello was %s (%zu fds), want 0801", hex, m.nfds);
		}
		fdpass_close_fds(&m);
		close(fd);
		return false;
	}
	c->sock = fd;
	c->st->reconnects++;
	return true;
}

static void lat_observe(struct client_stats *st, double secs)
{
	uint64_t us = (uint64_t)(secs * 1e6);
	int b = 0;

	while (b < LAT_BUCKETS - 1 && (1ULL << b) <= us)
		b++;
	st->lat_hist[b]++;	/* bucket b: us < 2^b */
	st->lat_n++;
	st->lat_sum_us += us;
	if (us > st->lat_max_us)
		st->lat_max_us = us;
}

/*
 * Sends r, reads the answer and checks it against the expectation. Returns
 * false only when the client cannot go on (no daemon to connect to).
 */
static bool exchange(struct client *c, struct request *r)
{
	uint8_t buf[ZDS_MAX_MSG];
	char hex[80];
	struct fdpass_msg m;
	struct zds_response resp;
	const char *why;
	double t0;
	int ret;
	bool ok = true;

	c->seq++;
	c->st->requests++;
	c->st->sent[r->kind]++;
	if (r->kind >= FIRST_HOSTILE)
		c->st->hostile++;
	if (!ensure_connected(c, r)) {
		for (size_t i = 0; i < r->nfds; i++)
			close(r->fds[i]);
		return false;
	}
	t0 = now_s();
	ret = uds_send_timeout(c->sock, r->data, r->len, r->fds, r->nfds, c->o->timeout_ms);
	for (size_t i = 0; i < r->nfds; i++)
		close(r->fds[i]);
	r->nfds = 0;
	if (ret) {
		wrong(c, r, "send failed: %s (the daemon closed the connection before it)",
		      strerror(-ret));
		disconnect(c);
		goto out;
	}
	ret = uds_recv_timeout(c->sock, buf, sizeof(buf), c->o->timeout_ms, &m);
	if (ret == 0 && m.nfds) {
		fdpass_close_fds(&m);
		wrong(c, r, "the answer carried %zu fds", m.nfds);
		disconnect(c);
		goto out;
	}
	if (!r->want_ack) {
		/* the empty datagram reads as end of stream: closed, no ack */
		if (ret == -ETIMEDOUT) {
			wrong(c, r, "connection still open after %d ms, want it closed without an ack",
			      c->o->timeout_ms);
		} else if (ret == 0 && m.len > 0) {
			hexdump(hex, sizeof(hex), buf, m.len);
			wrong(c, r, "got a message (%s), want the connection closed without an ack", hex);
		} else if (ret && ret != -ECONNRESET) {
			wrong(c, r, "recv failed: %s, want end of stream", strerror(-ret));
		}
		disconnect(c);
		goto out;
	}
	if (ret == -ETIMEDOUT) {
		wrong(c, r, "no answer within %d ms", c->o->timeout_ms);
		disconnect(c);	/* a late answer would be taken for the next one */
		goto out;
	}
	if (ret || m.len == 0) {
		wrong(c, r, "connection closed (%s) instead of %s%s%s",
		      ret ? strerror(-ret) : "end of stream", r->want[0] ? "nack \"" : "ack ok",
		      r->want, r->want[0] ? "\"" : "");
		disconnect(c);
		goto out;
	}
	if (zds_decode_response(buf, m.len, &resp, &why) || !resp.has_ack) {
		hexdump(hex, sizeof(hex), buf, m.len);
		wrong(c, r, "undecodable answer %s (%s)", hex, why ? why : "no ack");
		disconnect(c);
		goto out;
	}
	if (r->kind < FIRST_HOSTILE)
		lat_observe(c->st, now_s() - t0);
	if (resp.error.len != strlen(r->want) || memcmp(resp.error.p, r->want, resp.error.len)) {
		if (r->want[0])
			wrong(c, r, "got %s%.*s%s, want nack \"%s\"", resp.error.len ? "nack \"" : "ack ok",
			      (int)resp.error.len, resp.error.p, resp.error.len ? "\"" : "", r->want);
		else
			wrong(c, r, "got nack \"%.*s\", want ack ok", (int)resp.error.len, resp.error.p);
		ok = false;
	}
	if (r->want_close) {
		ret = uds_recv_timeout(c->sock, buf, sizeof(buf), c->o->timeout_ms, &m);
		fdpass_close_fds(&m);
		if (ok && ret == -ETIMEDOUT)
			wrong(c, r, "connection still open %d ms after the nack, want it closed",
			      c->o->timeout_ms);
		else if (ok && ret == 0 && m.len > 0)
			wrong(c, r, "an extra message after the nack, want the connection closed");
		disconnect(c);
	} else if (!ok) {
		disconnect(c);	/* unknown state: start afresh */
	}
	/* a connection wrongly closed after a "stays open" answer shows on the next request */
out:
	c->prev = r->kind;
	c->prev_valid = true;
	return true;
}

static void set_uid(struct client *c, struct request *r, long index)
{
	snprintf(r->uid, sizeof(r->uid), "%s%ld", c->o->prefix, index);
}

static int open_fd(struct client *c, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "zds-soak: client %d: %s: %s\n", c->id, path, strerror(errno));
		exit(2);
	}
	return fd;
}

static int open_netns(struct client *c, long index)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/run/netns/%s%ld", c->o->prefix, index);
	return open_fd(c, path);
}

static size_t encode_add(struct request *r)
{
	struct zds_request q = {
		.type = ZDS_REQ_ADD,
		.uid = zds_str_c(r->uid),
		.has_workload_info = true,
		.info = { zds_str_c(r->uid), zds_str_c("soak"), zds_str_c("default") },
	};
	ssize_t n = zds_encode_request(r->data, sizeof(r->data), &q);

	if (n < 0) {
		fprintf(stderr, "zds-soak: cannot encode an Add for %s\n", r->uid);
		exit(2);
	}
	return (size_t)n;
}

static size_t encode_del(struct request *r)
{
	struct zds_request q = { .type = ZDS_REQ_DEL, .uid = zds_str_c(r->uid) };
	ssize_t n = zds_encode_request(r->data, sizeof(r->data), &q);

	if (n < 0) {
		fprintf(stderr, "zds-soak: cannot encode a Del for %s\n", r->uid);
		exit(2);
	}
	return (size_t)n;
}

#define READ_ERR "failure to read message : "

/* Builds hostile request `kind` aimed at netns `index` (a pod of this client). */
static void build_hostile(struct client *c, struct request *r, enum kind kind, long index)
{
	struct zds_request q;
	const char *why = NULL;
	size_t full;

	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->want_ack = true;
	r->want_close = true;
	set_uid(c, r, index);
	switch (kind) {
	case K_GARBAGE:
		/* random bytes our own (identical) codec rejects; the reason must match */
		do {
			why = NULL;
			r->len = 1 + rnd(c) % 48;
			for (size_t i = 0; i < r->len; i++)
				r->data[i] = (uint8_t)rnd(c);
		} while (zds_decode_request(r->data, r->len, &q, &why) == 0 || !why);
		snprintf(r->want, sizeof(r->want), READ_ERR "failed to decode message: %s", why);
		break;
	case K_TRUNCATED_ADD:
		full = encode_add(r);
		/* cut inside the outer field, after its tag and length */
		r->len = 2 + rnd(c) % (full - 2);
		if (zds_decode_request(r->data, r->len, &q, &why) == 0 || !why) {
			fprintf(stderr, "zds-soak: a truncated Add decoded\n");
			exit(2);
		}
		snprintf(r->want, sizeof(r->want), READ_ERR "failed to decode message: %s", why);
		r->fds[r->nfds++] = open_netns(c, index);
		break;
	case K_OVERSIZED:
		r->len = OVERSIZED_LEN;
		memset(r->data, 0x78, r->len);
		snprintf(r->want, sizeof(r->want), READ_ERR "message truncated: longer than 1024 bytes");
		r->fds[r->nfds++] = open_netns(c, index);
		break;
	case K_UNKNOWN_TYPE:
		r->data[0] = 0x4a;
		r->data[1] = 0x00;
		r->len = 2;
		snprintf(r->want, sizeof(r->want), READ_ERR "unknown or missing request payload");
		break;
	case K_ADD_NO_FD:
		r->len = encode_add(r);
		snprintf(r->want, sizeof(r->want), READ_ERR "No control message");
		break;
	case K_ADD_TWO_FDS:
		r->len = encode_add(r);
		r->fds[r->nfds++] = open_netns(c, index);
		r->fds[r->nfds++] = open_netns(c, index);
		snprintf(r->want, sizeof(r->want), READ_ERR "Expected 1 FD, got 2");
		break;
	case K_ADD_DEVNULL:
		r->len = encode_add(r);
		r->fds[r->nfds++] = open_fd(c, "/dev/null");
		snprintf(r->want, sizeof(r->want), READ_ERR "the fd is not a namespace file");
		break;
	case K_ADD_UTS:
		r->len = encode_add(r);
		r->fds[r->nfds++] = open_fd(c, "/proc/self/ns/uts");
		snprintf(r->want, sizeof(r->want),
			 READ_ERR "the fd is a uts namespace, not a network namespace");
		break;
	case K_DEL_WITH_FD:
		r->len = encode_del(r);
		r->fds[r->nfds++] = open_netns(c, index);
		snprintf(r->want, sizeof(r->want), READ_ERR "Unexpected control message");
		break;
	case K_HOST_NETNS:
		/* its own uid: a refused host netns must not create a pod */
		snprintf(r->uid, sizeof(r->uid), "%shost-c%d", c->o->prefix, c->id);
		r->len = encode_add(r);
		r->fds[r->nfds++] = open_fd(c, "/proc/self/ns/net");
		snprintf(r->want, sizeof(r->want),
			 "failure to start proxy : refusing to enroll the host network namespace");
		r->want_close = false;
		break;
	case K_EMPTY:
		r->len = 0;
		r->want_ack = false;
		break;
	default:
		abort();
	}
}

/* One normal request (Add or Del of netns `index`), preceded by any hostile ones due. */
static bool normal(struct client *c, enum kind kind, long index)
{
	static struct request r;	/* large; one per process */

	while (c->o->hostile_every > 0 && (c->seq + 1) % (uint64_t)c->o->hostile_every == 0) {
		enum kind h = (enum kind)(FIRST_HOSTILE + c->hostile_next++ % NHOSTILE);

		build_hostile(c, &r, h, index);
		if (!exchange(c, &r))
			return false;
	}
	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.want_ack = true;
	set_uid(c, &r, index);
	if (kind == K_ADD) {
		r.len = encode_add(&r);
		r.fds[r.nfds++] = open_netns(c, index);
	} else {
		r.len = encode_del(&r);
	}
	return exchange(c, &r);
}

static void run_client(const struct opts *o, int id, struct client_stats *st)
{
	struct client c = { .o = o, .st = st, .id = id, .sock = -1 };
	long owned[4096], m = 0, lag, cycles, j, i;

	c.rng = (o->seed + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(id + 1) * 0xBF58476D1CE4E5B9ULL;
	if (!c.rng)
		c.rng = 1;
	c.hostile_next = (unsigned)((o->seed + (unsigned long)id) % NHOSTILE);
	for (i = id; i < o->nnetns && m < (long)(sizeof(owned) / sizeof(owned[0])); i += o->clients)
		owned[m++] = i;
	cycles = o->cycles / o->clients + (id < o->cycles % o->clients);
	lag = o->lag < 0 ? m / 2 : (o->lag < m ? o->lag : m - 1);

	for (j = 0; j < cycles; j++) {
		/* Add pod j, Del pod j - lag (before that: an unknown uid, acked too) */
		if (!normal(&c, K_ADD, owned[j % m]))
			goto out;
		if (!normal(&c, K_DEL, owned[((j - lag) % m + m) % m]))
			goto out;
	}
	/* the pods still up */
	for (j = cycles - lag > 0 ? cycles - lag : 0; j < cycles; j++)
		if (!normal(&c, K_DEL, owned[j % m]))
			goto out;
	st->finished = 1;
out:
	disconnect(&c);
}

static long parse_long(const char *what, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "zds-soak: %s: '%s' is not a number in %ld..%ld\n", what, s, min, max);
		exit(2);
	}
	return v;
}

static uint64_t lat_quantile(const struct client_stats *t, double q)
{
	uint64_t want = (uint64_t)((double)t->lat_n * q), seen = 0;
	int b;

	for (b = 0; b < LAT_BUCKETS; b++) {
		seen += t->lat_hist[b];
		if (seen > want || seen == t->lat_n)
			return 1ULL << b;
	}
	return 1ULL << (LAT_BUCKETS - 1);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "clients", required_argument, NULL, 'c' },
		{ "cycles", required_argument, NULL, 'n' },
		{ "hostile-every", required_argument, NULL, 'k' },
		{ "seed", required_argument, NULL, 's' },
		{ "lag", required_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .clients = 4, .cycles = 1000, .hostile_every = 10, .seed = 1,
			  .lag = -1, .timeout_ms = 5000 };
	struct client_stats *stats, tot;
	pid_t *pids = children, parent;
	double t0, elapsed;
	int ch, i, k, failed_clients = 0;
	bool printed = false;

	while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.clients = (int)parse_long("--clients", optarg, 1, MAX_CLIENTS);
			break;
		case 'n':
			o.cycles = parse_long("--cycles", optarg, 0, LONG_MAX / 4);
			break;
		case 'k':
			o.hostile_every = (int)parse_long("--hostile-every", optarg, 0, INT_MAX);
			break;
		case 's':
			o.seed = (unsigned long)parse_long("--seed", optarg, 0, LONG_MAX);
			break;
		case 'l':
			o.lag = parse_long("--lag", optarg, 0, LONG_MAX);
			break;
		case 't':
			o.timeout_ms = (int)parse_long("--timeout", optarg, 1, 3600) * 1000;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 3) {
		usage(stderr);
		return 2;
	}
	o.sock = argv[optind];
	o.prefix = argv[optind + 1];
	o.nnetns = parse_long("NNETNS", argv[optind + 2], 1, 1L << 20);
	if (o.nnetns < o.clients) {
		fprintf(stderr, "zds-soak: %ld netns cannot be shared by %d clients\n", o.nnetns,
			o.clients);
		return 2;
	}
	if (o.hostile_every == 1) {
		fprintf(stderr, "zds-soak: --hostile-every 1 would leave no room for add/del\n");
		return 2;
	}
	stats = mmap(NULL, sizeof(*stats) * (size_t)o.clients, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stats == MAP_FAILED) {
		perror("zds-soak: mmap");
		return 1;
	}
	memset(stats, 0, sizeof(*stats) * (size_t)o.clients);
	signal(SIGPIPE, SIG_IGN);	/* send errors come back as EPIPE */
	fflush(NULL);
	/* SIGINT/SIGTERM: stop the clients and reap them before exiting (no SA_RESTART) */
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	parent = getpid();
	t0 = now_s();
	for (i = 0; i < o.clients; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("zds-soak: fork");
			return 1;
		}
		if (pids[i] == 0) {
			signal(SIGINT, SIG_DFL);
			signal(SIGTERM, SIG_DFL);
			/* a parent killed outright takes its clients along */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent || stop_signal)
				_exit(1);
			run_client(&o, i, &stats[i]);
			_exit(0);
		}
		nchildren = i + 1;
	}
	if (stop_signal)
		stop_children();
	for (i = 0; i < o.clients; i++) {
		int status;

		while (waitpid(pids[i], &status, 0) < 0) {
			if (errno != EINTR) {
				perror("zds-soak: waitpid");
				return 1;
			}
		}
		if (stop_signal)
			continue;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			failed_clients++;
			if (WIFSIGNALED(status))
				fprintf(stderr, "zds-soak: client %d killed by signal %d\n", i,
					WTERMSIG(status));
			else
				fprintf(stderr, "zds-soak: client %d exited with status %d\n", i,
					WEXITSTATUS(status));
		} else if (!stats[i].finished) {
			failed_clients++;
			fprintf(stderr, "zds-soak: client %d gave up early\n", i);
		}
	}
	elapsed = now_s() - t0;
	if (stop_signal) {
		fprintf(stderr, "zds-soak: stopped by signal %d after %.3f s; clients stopped\n",
			(int)stop_signal, elapsed);
		return 128 + stop_signal;
	}

	memset(&tot, 0, sizeof(tot));
	for (i = 0; i < o.clients; i++) {
		const struct client_stats *s = &stats[i];

		tot.requests += s->requests;
		tot.hostile += s->hostile;
		tot.wrong += s->wrong;
		tot.reconnects += s->reconnects;
		for (k = 0; k < K_COUNT; k++) {
			tot.sent[k] += s->sent[k];
			tot.wrong_by[k] += s->wrong_by[k];
		}
		tot.lat_n += s->lat_n;
		tot.lat_sum_us += s->lat_sum_us;
		if (s->lat_max_us > tot.lat_max_us)
			tot.lat_max_us = s->lat_max_us;
		for (k = 0; k < LAT_BUCKETS; k++)
			tot.lat_hist[k] += s->lat_hist[k];
	}

	printf("zds-soak: %d clients, %ld add/del cycles over %ld netns (%s0..%s%ld), "
	       "hostile every %d requests, seed %lu\n",
	       o.clients, o.cycles, o.nnetns, o.prefix, o.prefix, o.nnetns - 1, o.hostile_every,
	       o.seed);
	printf("requests: %" PRIu64 "\n", tot.requests);
	for (k = 0; k < FIRST_HOSTILE; k++)
		printf("  %-36s %10" PRIu64 "\n", kind_names[k], tot.sent[k]);
	printf("hostile: %" PRIu64 "\n", tot.hostile);
	for (k = FIRST_HOSTILE; k < K_COUNT; k++)
		printf("  %-36s %10" PRIu64 "%s\n", kind_names[k], tot.sent[k],
		       tot.wrong_by[k] ? " WRONG ANSWERS" : "");
	printf("connections: %" PRIu64 "\n", tot.reconnects);
	printf("wrong: %" PRIu64 "\n", tot.wrong);
	for (i = 0; i < o.clients; i++) {
		for (k = 0; k < stats[i].ndetails; k++) {
			if (!printed)
				printf("first wrong answers (up to %d per client):\n", MAX_DETAILS);
			printed = true;
			printf("  %s\n", stats[i].details[k]);
		}
	}
	printf("elapsed: %.3f s\n", elapsed);
	printf("rate: %.0f requests/s\n", elapsed > 0 ? (double)tot.requests / elapsed : 0.0);
	if (tot.lat_n)
		printf("latency: add/del ack mean %.1f us, p50 < %" PRIu64 " us, p99 < %" PRIu64
		       " us, max %" PRIu64 " us\n",
		       (double)tot.lat_sum_us / (double)tot.lat_n, lat_quantile(&tot, 0.5),
		       lat_quantile(&tot, 0.99), tot.lat_max_us);
	if (failed_clients)
		printf("failed clients: %d\n", failed_clients);
	return tot.wrong || failed_clients ? 1 : 0;
}
