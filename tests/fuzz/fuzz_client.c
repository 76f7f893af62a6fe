/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the client role's request handling (--connect,
 * zds_client.c + wm.c with istio_rules): the daemon's own objects (libzt.a)
 * get requests from a node agent played by the harness over a real
 * SOCK_SEQPACKET socketpair (zds_client_adopt), with real fds; netns entry
 * and port binding are proxy_stub.c's.
 *
 * Input: the first byte picks --protocol-errors (bit 0: close, else exit)
 * and the log format (bit 1: current). Then steps, each an op byte:
 *   op bit 7 clear: a request from the agent
 *     bits 0-1  fds to send (0..3), one kind byte each follows
 *     bit 2     2-byte big-endian length instead of 1 byte
 *     then the length, then that many payload bytes (fewer at the end)
 *   op bit 7 set: a command, op & 0x07
 *     0 the agent hangs up   1 retry every pending pod now
 *     2 check the readiness text   others: a wake-up with nothing to read
 * fd kinds (byte % 6): 0-2 three network namespaces, 3 the "host" netns (the
 * daemon's own: refused), 4 /dev/null, 5 a UTS namespace.
 *
 * Checked after every step: the first datagram of a connection is Hello V1,
 * then exactly one well-formed Ack per request while the connection lasts; a
 * "failure to read message" nack ends the connection; a protocol error
 * either ends the run with exit status 1 (exit) or the connection (close);
 * after an acked SnapshotSent the readiness is ztunnel's (ready iff nothing
 * pending); a new connection starts with nothing pending and not ready; the
 * pod counts add up. At the end of each input everything is torn down and
 * the process must hold exactly the fds it held before.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/report.h"
#include "daemon.h"
#include "fdpass.h"
#include "fuzz_common.h"
#include "pods.h"
#include "proxy_stub.h"
#include "zds.h"
#include "zds_client.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KINDS 6
#define MAX_STEPS 200

static struct daemon D;
static int kind_fd[KINDS];
static int agent = -1;		/* the harness's end of the connection */
static bool hello_seen;
static FILE *null_out;

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	FUZZ_CHECK(dir, "opendir /proc/self/fd: %s", strerror(errno));
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1;
}

static int make_netns(int home)
{
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		return dup(home);	/* no CAP_SYS_ADMIN: one namespace, fewer paths */
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(setns(home, CLONE_NEWNET) == 0, "cannot return home: %s", strerror(errno));
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *args[] = {
		(char *)PROG, (char *)"--admin-addr", (char *)"none", (char *)"--ready-addr",
		(char *)"none", (char *)"--metrics-addr", (char *)"none", (char *)"--max-pods",
		(char *)"3", (char *)"--connect=@ztunnel-emulator-fuzz-client", NULL,
	};
	int home, i;

	(void)argc;
	(void)argv;
	fz_quiet_daemon();
	memset(&D, 0, sizeof(D));
	optind = 1;
	FUZZ_CHECK(config_parse(10, args, &D.cfg, NULL) == CONFIG_RUN && D.cfg.connect,
		   "config_parse");
	FUZZ_CHECK(loop_init(&D.loop) == 0, "loop_init");
	FUZZ_CHECK(pod_table_init(&D.pods) == 0, "pod_table_init");
	D.server.fd = -1;
	D.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	D.own_netns_fd = -1;
	list_init(&D.conns);
	list_init(&D.waiting);
	pods_start(&D);
	home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(home >= 0, "open own netns");
	kind_fd[0] = home;
	for (i = 1; i <= 3; i++)
		kind_fd[i] = make_netns(home);
	kind_fd[4] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	kind_fd[5] = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < KINDS; i++)
		FUZZ_CHECK(kind_fd[i] >= 0, "fd of kind %d", i);
	FUZZ_CHECK(netns_fd_id(kind_fd[3], &D.own_netns) == 0, "netns_fd_id");
	null_out = fopen("/dev/null", "w");
	FUZZ_CHECK(null_out, "fopen /dev/null");
	return 0;
}

/* A fresh connection, as after a successful connect(). */
static void connect_agent(void)
{
	int sv[2];

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
		   "socketpair: %s", strerror(errno));
	agent = sv[1];
	hello_seen = false;
	zds_client_adopt(&D, sv[0]);
	FUZZ_CHECK(zds_client_connected(&D), "adopt left the client disconnected");
	FUZZ_CHECK(D.n_pending == 0, "a new connection kept %zu pending pods", D.n_pending);
	FUZZ_CHECK(!zds_client_ready(&D), "ready on a new connection before any snapshot");
}

static void hang_up(void)
{
	if (agent >= 0)
		close(agent);
	agent = -1;
}

/* Reads what the daemon sent: Acks counted, the last text in last; *eof at the end of stream. */
static int read_agent(char *last, size_t cap, bool *eof)
{
	uint8_t buf[ZDS_MAX_MSG * 2];
	struct fdpass_msg m;
	int acks = 0, ret;
	const char *why = "?";

	*eof = false;
	for (;;) {
		ret = fdpass_recv(agent, buf, sizeof(buf), MSG_DONTWAIT, &m);
		if (ret == -EAGAIN)
			return acks;
		if (ret == -ECONNRESET || (ret == 0 && m.len == 0)) {
			*eof = true;
			return acks;
		}
		FUZZ_CHECK(ret == 0 && m.nfds == 0, "agent recv: %d, %zu fds", ret, m.nfds);
		if (!hello_seen) {
			uint64_t v;

			FUZZ_CHECK(zds_decode_hello(buf, m.len, &v, &why) == 0 && v == ZDS_VERSION_V1,
				   "the first datagram is not Hello V1 (%s)", why);
			hello_seen = true;
			continue;
		}
		{
			struct zds_response r;

			FUZZ_CHECK(m.len <= ZDS_MAX_MSG && zds_decode_response(buf, m.len, &r, &why) == 0 &&
					   r.has_ack,
				   "not an Ack (%s)", why);
			snprintf(last, cap, "%.*s", (int)r.error.len, r.error.p ? r.error.p : "");
			acks++;
		}
	}
}

static void check_counts(void)
{
	size_t up = 0, pending = 0;
	struct pod *p;

	for (p = D.pods.head; p; p = p->next) {
		up += p->state == POD_UP;
		pending += p->state == POD_PENDING;
	}
	FUZZ_CHECK(up == D.n_up && pending == D.n_pending && up + pending == D.pods.count,
		   "counts: up %zu/%zu pending %zu/%zu of %zu", up, D.n_up, pending, D.n_pending,
		   D.pods.count);
}

/* Sends one request; returns false when the run must end (the daemon "exited"). */
static bool request(const uint8_t *msg, size_t len, const int *fds, size_t nfds, bool *snap)
{
	char last[ZDS_MAX_MSG] = "";
	bool eof;
	int acks, ret;

	ret = fdpass_send(agent, msg, len, fds, nfds, MSG_DONTWAIT);
	if (ret)
		return true;	/* e.g. over the socket's limits: nothing was sent */
	zds_client_read(&D);
	acks = read_agent(last, sizeof(last), &eof);
	FUZZ_CHECK(acks <= 1, "%d Acks for one request", acks);
	if (D.loop.stop) {
		FUZZ_CHECK(D.cfg.protocol_errors_exit && D.exit_status == 1 &&
				   strstr(last, "failure to process message : ProtocolError("),
			   "the loop stopped without a protocol error (status %d, '%s')", D.exit_status,
			   last);
		return false;
	}
	if (!strncmp(last, "failure to read message : ", 26) ||
	    !strncmp(last, "failure to process message : ", 29))
		FUZZ_CHECK(!zds_client_connected(&D), "the connection outlived the nack '%s'", last);
	FUZZ_CHECK(acks == 1 || !zds_client_connected(&D), "no Ack and still connected");
	*snap = acks == 1 && !last[0] && len == 2 && msg[0] == 0x1a && msg[1] == 0;
	return true;
}

/* One step; false when the run ends. */
static bool step(const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp;
	uint8_t op = *p++;
	int fds[3];
	size_t nfds = 0, len, i;
	bool snap = false, ok = true;

	if (!zds_client_connected(&D)) {
		hang_up();
		connect_agent();
	}
	if (op & 0x80) {
		switch (op & 0x07) {
		case 0:
			hang_up();
			zds_client_read(&D);
			FUZZ_CHECK(!zds_client_connected(&D), "the agent hung up, still connected");
			FUZZ_CHECK(!zds_client_ready(&D), "ready while disconnected");
			break;
		case 1:
			pods_retry_pending(&D);
			break;
		case 2: {
			char why[512];

			report_ready(&D, null_out, why, sizeof(why));
			break;
		}
		default:
			zds_client_read(&D);
			break;
		}
		*pp = p;
		return true;
	}
	for (i = 0; i < (size_t)(op & 3) && p < end; i++)
		fds[nfds++] = kind_fd[*p++ % KINDS];
	if (op & 4) {
		len = p + 1 < end ? (size_t)(p[0] << 8 | p[1]) : 0;
		p += p + 1 < end ? 2 : 0;
	} else {
		len = p < end ? *p++ : 0;
	}
	if (len > (size_t)(end - p))
		len = (size_t)(end - p);
	if (len)
		ok = request(p, len, fds, nfds, &snap);
	p += len;
	if (ok && snap)
		FUZZ_CHECK(zds_client_ready(&D) == (D.n_pending == 0),
			   "after SnapshotSent: ready %d with %zu pending", zds_client_ready(&D), D.n_pending);
	check_counts();
	*pp = p;
	return ok;
}

static void teardown(void)
{
	hang_up();
	zds_client_stop(&D);
	while (D.pods.head)
		pod_drain(&D, D.pods.head);
	loop_run_deferred(&D.loop);
	D.loop.stop = false;
	D.exit_status = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	int before = count_fds(), after, steps = 0;

	if (!size)
		return 0;
	D.cfg.protocol_errors_exit = !(*p & 1);
	D.cfg.log_format = *p & 2 ? LOG_FORMAT_CURRENT : LOG_FORMAT_LEGACY;
	p++;
	proxy_stub_start_attempts = 0;
	FUZZ_CHECK(zds_client_start(&D) == 0, "zds_client_start");
	while (p < end && steps++ < MAX_STEPS && step(&p, end))
		;
	teardown();
	after = count_fds();
	FUZZ_CHECK(after == before, "fds: %d before the input, %d after", before, after);
	return 0;
}
