/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spawn-timer: wall time of a program from fork() to its exit, by
 * CLOCK_MONOTONIC, next to the same for a trivial program (the floor any
 * one-shot client pays for fork + exec + exit + wait).
 *
 *   spawn-timer alt [--floor PROG] [--raw FILE] [--errlog FILE] RUNS NSDIR PREFIX -- CMD ARG...
 *     RUNS rounds. Round i runs the floor program (default /bin/true) and
 *     CMD, alternating which goes first, so that noise hits both alike. In
 *     CMD, an argument "{}" (if any) becomes NSDIR/PREFIX<i> (a fresh netns
 *     per round, i = 0..RUNS-1).
 *     Each child's stdout goes to /dev/null, stderr too, CMD's to --errlog
 *     FILE if given (dup2 in the child, before exec, for both programs
 *     alike). A round where CMD exits non-zero is counted as a failure.
 *     Prints, for each program, n min median p99 max mean in
 *     microseconds (median and p99 by nearest rank), and the median ratio.
 *     With --raw, every timed sample goes to FILE as "floor|cmd NS".
 *
 *   spawn-timer once [--out FILE] -- CMD ARG...
 *     Runs CMD once, its stdout to FILE (default /dev/null), stderr kept,
 *     and prints "elapsed_ns N status S".
 *
 * Output lines are "key value ..." for scripts. libc only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: spawn-timer alt [--floor PROG] [--raw FILE] [--errlog FILE] RUNS NSDIR PREFIX -- CMD ARG...\n"
		"       spawn-timer once [--out FILE] -- CMD ARG...\n");
}

/* Runs argv with stdout -> out_fd (or /dev/null), stderr -> err_fd (or /dev/null); returns ns, sets *status. */
static int64_t timed_run(char *const argv[], int out_fd, int err_fd, int *status)
{
	int64_t t0, t1;
	pid_t pid;
	int st;

	t0 = now_ns();
	pid = fork();
	if (pid < 0) {
		perror("spawn-timer: fork");
		exit(1);
	}
	if (pid == 0) {
		if (out_fd >= 0)
			dup2(out_fd, 1);
		if (err_fd >= 0)
			dup2(err_fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			perror("spawn-timer: waitpid");
			exit(1);
		}
	}
	t1 = now_ns();
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return t1 - t0;
}

/* nearest rank: the smallest sample with at least q of the samples at or below it */
static int64_t rank(const int64_t *v, size_t n, double q)
{
	return v[nearest_rank(n, q)];
}

static void summary(const char *name, int64_t *v, size_t n)
{
	double sum = 0;
	size_t i;

	qsort(v, n, sizeof(*v), cmp64);
	for (i = 0; i < n; i++)
		sum += (double)v[i];
	printf("%s n %zu min_us %.1f median_us %.1f p99_us %.1f max_us %.1f mean_us %.1f\n", name, n,
	       (double)v[0] / 1e3, (double)rank(v, n, 0.5) / 1e3, (double)rank(v, n, 0.99) / 1e3,
	       (double)v[n - 1] / 1e3, sum / (double)n / 1e3);
}

static int do_alt(int argc, char **argv)
{
	const char *floor_prog = "/bin/true", *raw = NULL, *errlog = "/dev/null", *nsdir, *prefix;
	unsigned long runs, i;
	char **cmd, *floor_argv[2], nspath[4096];
	int64_t *tf, *tc, dt;
	size_t nf = 0, nc = 0, ncmd, k, slot = (size_t)-1;
	unsigned long failures = 0;
	int devnull, errfd, status, a = 1;
	FILE *rawf = NULL;

	while (a < argc && argv[a][0] == '-' && strcmp(argv[a], "--")) {
		if (!strcmp(argv[a], "--floor") && a + 1 < argc)
			floor_prog = argv[++a];
		else if (!strcmp(argv[a], "--raw") && a + 1 < argc)
			raw = argv[++a];
		else if (!strcmp(argv[a], "--errlog") && a + 1 < argc)
			errlog = argv[++a];
		else {
			usage(stderr);
			return 2;
		}
		a++;
	}
	if (argc - a < 5 || strcmp(argv[a + 3], "--")) {
		usage(stderr);
		return 2;
	}
	runs = strtoul(argv[a], NULL, 10);
	nsdir = argv[a + 1];
	prefix = argv[a + 2];
	cmd = argv + a + 4;
	ncmd = (size_t)(argc - a - 4);
	if (runs < 1 || runs > 1000000) {
		usage(stderr);
		return 2;
	}
	for (k = 0; k < ncmd; k++)
		if (!strcmp(cmd[k], "{}"))
			slot = k;
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	errfd = open(errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	tf = calloc(runs, sizeof(*tf));
	tc = calloc(runs, sizeof(*tc));
	if (devnull < 0 || errfd < 0 || !tf || !tc) {
		perror("spawn-timer");
		return 1;
	}
	if (raw && !(rawf = fopen(raw, "w"))) {
		perror(raw);
		return 1;
	}
	floor_argv[0] = (char *)floor_prog;
	floor_argv[1] = NULL;
	if (slot != (size_t)-1)
		cmd[slot] = nspath;
	for (i = 0; i < runs; i++) {
		int order;

		snprintf(nspath, sizeof(nspath), "%s/%s%lu", nsdir, prefix, i);
		for (order = 0; order < 2; order++) {
			int which = (int)((i + (unsigned long)order) & 1); /* 0: floor, 1: cmd */

			if (which == 0) {
				dt = timed_run(floor_argv, devnull, devnull, &status);
				if (status)
					fprintf(stderr, "spawn-timer: %s exited %d\n", floor_prog, status);
				tf[nf++] = dt;
				if (rawf)
					fprintf(rawf, "floor %lld\n", (long long)dt);
			} else {
				dt = timed_run(cmd, devnull, errfd, &status);
				if (status && failures++ < 3)
					fprintf(stderr, "spawn-timer: round %lu: %s exited %d\n", i, cmd[0], status);
				tc[nc++] = dt;
				if (rawf)
					fprintf(rawf, "cmd %lld\n", (long long)dt);
			}
		}
	}
	if (rawf)
		fclose(rawf);
	summary("floor", tf, nf);
	summary("cmd", tc, nc);
	printf("ratio median %.3f min %.3f\n", (double)rank(tc, nc, 0.5) / (double)rank(tf, nf, 0.5),
	       (double)tc[0] / (double)tf[0]);
	printf("failures %lu\n", failures);
	return failures ? 1 : 0;
}

static int do_once(int argc, char **argv)
{
	const char *out = "/dev/null";
	int a = 1, fd, status;
	int64_t dt;

	while (a < argc && strcmp(argv[a], "--")) {
		if (!strcmp(argv[a], "--out") && a + 1 < argc) {
			out = argv[++a];
		} else {
			usage(stderr);
			return 2;
		}
		a++;
	}
	if (a + 1 >= argc) {
		usage(stderr);
		return 2;
	}
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(out);
		return 1;
	}
	dt = timed_run(argv + a + 1, fd, -1, &status);
	close(fd);
	printf("elapsed_ns %lld status %d\n", (long long)dt, status);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "alt"))
		return do_alt(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "once"))
		return do_once(argc - 1, argv + 1);
	usage(stderr);
	return 2;
}
