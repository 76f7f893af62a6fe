/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log: the rate limit of repeated warnings, and the bounded queue that keeps
 * a stalled reader of stdout from stalling the daemon (faults.md 2): lines
 * are dropped and counted, never cut or reordered, and a summary line says
 * how many once the reader catches up.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/*
 * Reads fd into buf (NUL-terminated) until `until` appears in it, or the
 * pipe stays empty for timeout_ms. Returns the bytes read.
 */
static size_t read_until(int fd, char *buf, size_t cap, const char *until, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	buf[0] = '\0';
	while (len < cap - 1 && !(until && strstr(buf, until))) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
			break;
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return len;
}

static int count_str(const char *s, const char *what)
{
	int n = 0;

	while ((s = strstr(s, what))) {
		n++;
		s += strlen(what);
	}
	return n;
}

static void test_limited(void)
{
	struct log_limit lim = LOG_LIMIT_INIT(0.3, 3);
	static char out[8192];
	int p[2], i, passed = 0;

	if (pipe2(p, O_CLOEXEC) < 0 || log_start(p[1], 65536) < 0) {
		fail("log_limited: a pipe and log_start: %s", strerror(errno));
		return;
	}
	for (i = 0; i < 10; i++)
		passed += log_limited(&lim, LOG_WARN, "test", "refused peer %d", i);
	is_int(passed, 3, "log_limited: a burst of 10 lets the first 3 through");
	ok(log_flush(1.0), "log_flush: the lines are written");
	read_until(p[0], out, sizeof(out), NULL, 100);
	is_int(count_str(out, "refused peer"), 3, "log_limited: 3 lines written");
	ok(!strstr(out, "suppressed"), "log_limited: no summary while still suppressing");
	ok(strstr(out, "  WARN test: refused peer 2\n") != NULL, "log_limited: lines have the usual format");

	sleep_s(0.35);
	ok(log_limited(&lim, LOG_WARN, "test", "refused peer %d", 10), "log_limited: a new window lets a line through");
	log_flush(1.0);
	read_until(p[0], out, sizeof(out), NULL, 100);
	ok(strstr(out, "refused peer 10\n") && strstr(out, "  WARN test: suppressed 7 similar\n") &&
		   strstr(out, "refused peer 10") < strstr(out, "suppressed 7 similar"),
	   "log_limited: the next line is followed by 'suppressed 7 similar'");

	ok(log_limited(&lim, LOG_WARN, "test", "refused peer %d", 11), "log_limited: the window has room again");
	log_flush(1.0);
	read_until(p[0], out, sizeof(out), NULL, 100);
	ok(strstr(out, "refused peer 11\n") && !strstr(out, "suppressed"),
	   "log_limited: the count restarts after its summary");
	ok(log_stop(1.0), "log_stop: stops at once with nothing queued");
	close(p[0]);
	close(p[1]);
}

#define NLINES 1000
#define PAD "padding padding padding padding padding padding padding"

/* A full pipe nobody reads: logging returns at once; lines are dropped whole, in order. */
static void test_stalled_reader(void)
{
	static char out[1 << 20];
	char *s, *nl;
	int p[2], i, last = -1, seen = 0, cut = 0, disorder = 0, summaries = 0;
	uint64_t before = log_dropped(), reported = 0;
	double t0;

	if (pipe2(p, O_CLOEXEC) < 0 || log_start(p[1], 4096) < 0) {
		fail("stalled reader: a pipe and log_start: %s", strerror(errno));
		return;
	}
	/* one page: the pipe fills after a few dozen lines */
	fcntl(p[1], F_SETPIPE_SZ, 4096);

	log_line(LOG_INFO, "test", "first");
	ok(poll(&(struct pollfd){ .fd = p[0], .events = POLLIN }, 1, 0) == 1,
	   "a line is in the pipe when log_line returns (the reader keeps up: no delay)");
	read_until(p[0], out, sizeof(out), "first\n", 1000);

	t0 = now();
	for (i = 0; i < NLINES; i++)
		log_line(LOG_INFO, "test", "line %04d %s", i, PAD);
	ok(now() - t0 < 1.0, "%d lines into a full pipe take %.3fs (never blocked)", NLINES, now() - t0);
	ok(log_dropped() > before, "lines were dropped: %" PRIu64, log_dropped() - before);
	ok(!log_flush(0.2), "log_flush gives up after its bound while nobody reads");

	/* the reader comes back: everything kept arrives, then the summary */
	read_until(p[0], out, sizeof(out), "dropped: stdout", 2000);
	for (s = out; (nl = strchr(s, '\n')); s = nl + 1) {
		const char *l = strstr(s, "  INFO test: line ");
		const char *w = strstr(s, "  WARN ztunnel_emulator::log: ");
		int k;

		if (w && w < nl) {
			summaries++;
			reported += strtoull(w + strlen("  WARN ztunnel_emulator::log: "), NULL, 10);
			continue;
		}
		if (!l || l > nl || sscanf(l, "  INFO test: line %d", &k) != 1 || (size_t)(nl - l) != strlen("  INFO test: line 0000 " PAD)) {
			cut++;
			continue;
		}
		disorder += k <= last;
		last = k;
		seen++;
	}
	is_int(cut, 0, "every line arrived whole");
	is_int(disorder, 0, "lines arrived in order");
	is_int(summaries, 1, "one summary line after the gap");
	is_int(reported, log_dropped() - before, "the summary counts the dropped lines");
	is_int((uint64_t)seen + reported, NLINES, "written + dropped = logged");
	ok(last == NLINES - 1 || reported, "the last line is there or counted");
	ok(log_stop(1.0), "log_stop: the queue drained");
	close(p[0]);
	close(p[1]);
}

/* The reader is gone: lines are counted as dropped, no SIGPIPE, no summary spin. */
static void test_reader_gone(void)
{
	uint64_t before = log_dropped();
	int p[2], i;

	if (pipe2(p, O_CLOEXEC) < 0 || log_start(p[1], 4096) < 0) {
		fail("reader gone: a pipe and log_start: %s", strerror(errno));
		return;
	}
	close(p[0]);
	for (i = 0; i < 5; i++)
		log_line(LOG_INFO, "test", "nobody hears %d", i);
	ok(log_flush(1.0), "reader gone: nothing stays queued");
	is_int(log_dropped() - before, 5, "reader gone: 5 lines counted as dropped");
	ok(log_stop(1.0), "reader gone: log_stop");
	close(p[1]);
}

/* A line longer than the stack buffer is formatted whole. */
static void test_long_line(void)
{
	static char out[16384], big[6000];
	int p[2];

	memset(big, 'x', sizeof(big) - 1);
	if (pipe2(p, O_CLOEXEC) < 0 || log_start(p[1], 65536) < 0) {
		fail("long line: a pipe and log_start: %s", strerror(errno));
		return;
	}
	log_plain("%s", big);
	log_flush(1.0);
	read_until(p[0], out, sizeof(out), "\n", 1000);
	is_int(strlen(out), sizeof(big), "log_plain: a 6000-byte line arrives whole with its newline");
	ok(log_stop(1.0), "long line: log_stop");
	close(p[0]);
	close(p[1]);
}

/* A batch holds the thread's lines and hands them on in one write, in order. */
static void test_batch(void)
{
	static char out[16384], big[6000];
	struct pollfd pfd;
	ssize_t n;
	int p[2];

	memset(big, 'y', sizeof(big) - 1);
	if (pipe2(p, O_CLOEXEC) < 0 || log_start(p[1], 65536) < 0) {
		fail("batch: a pipe and log_start: %s", strerror(errno));
		return;
	}
	pfd.fd = p[0];
	pfd.events = POLLIN;
	log_batch_begin();
	log_plain("one");
	log_plain("two");
	log_plain("three");
	is_int(poll(&pfd, 1, 0), 0, "batch: nothing written before log_batch_end");
	log_batch_end();
	n = read(p[0], out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	is_str(out, "one\ntwo\nthree\n", "batch: the three lines arrive in one read, in order");
	log_batch_begin();
	log_plain("held");
	log_plain("%s", big);	/* larger than a batch: the held line goes first */
	log_plain("after");
	log_batch_end();
	log_flush(1.0);
	read_until(p[0], out, sizeof(out), "after\n", 1000);
	ok(!strncmp(out, "held\n", 5) && strlen(out) == 5 + sizeof(big) + 6 &&
		   !strcmp(out + strlen(out) - 6, "after\n"),
	   "batch: a line too big for it flushes it and goes out whole, in order");
	log_plain("unbatched");
	read_until(p[0], out, sizeof(out), "\n", 1000);
	is_str(out, "unbatched\n", "after log_batch_end a line goes out at once");
	ok(log_stop(1.0), "batch: log_stop");
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	/* as the daemon does: a reader that is gone is an EPIPE, not a death */
	signal(SIGPIPE, SIG_IGN);
	alarm(30);	/* a logging call that blocks fails the test instead of hanging it */
	test_limited();
	test_stalled_reader();
	test_reader_gone();
	test_long_line();
	test_batch();
	return done_testing();
}
