/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mknetns: create and remove many named network namespaces quickly, the way
 * `ip netns add` names them (a bind mount of the netns file on
 * /run/netns/NAME), without one ip(8) process per namespace.
 *
 *   mknetns add PREFIX COUNT [START]
 *     Creates PREFIX<START> .. PREFIX<START+COUNT-1> under /run/netns, each
 *     with lo up. /run/netns is made a shared mount point first, exactly as
 *     iproute2 does. The loop runs in this process: unshare(CLONE_NEWNET),
 *     bind-mount /proc/self/ns/net onto the name, bring lo up with
 *     SIOCSIFFLAGS; at the end it returns to the netns it started in. An
 *     existing name is an error (never reused). On any failure it removes
 *     what this call made and exits 1. Prints one line:
 *       created COUNT netns PREFIX<START>..PREFIX<END> in S s (R per s)
 *
 *   mknetns del PREFIX
 *     Removes every /run/netns/PREFIX<digits> (umount2 MNT_DETACH, unlink):
 *     the entries a bench made under its own unique prefix, however many an
 *     interrupted `add` got to. Prints "removed N netns PREFIX*".
 *
 * Root (CAP_SYS_ADMIN) is needed. libc only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"

#define RUN_DIR "/run/netns"

static void usage(FILE *out)
{
	fprintf(out, "Usage: mknetns add PREFIX COUNT [START]\n"
		     "       mknetns del PREFIX\n");
}

/* As iproute2's netns_add(): /run/netns must be a shared mount point. */
static int prepare_run_dir(void)
{
	int made_mount = 0;

	if (mkdir(RUN_DIR, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "mknetns: mkdir %s: %s\n", RUN_DIR, strerror(errno));
		return -1;
	}
	while (mount("", RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
		if (errno != EINVAL || made_mount) {
			fprintf(stderr, "mknetns: mount --make-shared %s: %s\n", RUN_DIR, strerror(errno));
			return -1;
		}
		if (mount(RUN_DIR, RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0) {
			fprintf(stderr, "mknetns: mount --bind %s %s: %s\n", RUN_DIR, RUN_DIR, strerror(errno));
			return -1;
		}
		made_mount = 1;
	}
	return 0;
}

static int lo_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = -1;

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) == 0)
			ret = 0;
	}
	close(fd);
	return ret;
}

static int remove_one(const char *path)
{
	int ret = 0;

	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		ret = -1;
	if (unlink(path) < 0 && errno != ENOENT)
		ret = -1;
	return ret;
}

static int parse_count(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return (errno || !*s || *end || *out > 1000000) ? -1 : 0;
}

static int valid_prefix(const char *p)
{
	size_t i, n = strlen(p);

	if (n == 0 || n > 200)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == '_' || p[i] == '.'))
			return 0;
	return 1;
}

static int do_add(const char *prefix, unsigned long count, unsigned long start)
{
	char path[300];
	unsigned long i, made = 0;
	int home, fd, failed = 0;
	int64_t t0 = now_ns();
	double dt;

	if (prepare_run_dir() < 0)
		return 1;
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0) {
		fprintf(stderr, "mknetns: open /proc/self/ns/net: %s\n", strerror(errno));
		return 1;
	}
	for (i = start; i < start + count; i++) {
		snprintf(path, sizeof(path), RUN_DIR "/%s%lu", prefix, i);
		fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
		if (fd < 0) {
			fprintf(stderr, "mknetns: create %s: %s\n", path, strerror(errno));
			failed = 1;
			break;
		}
		close(fd);
		made++;
		if (unshare(CLONE_NEWNET) < 0) {
			fprintf(stderr, "mknetns: unshare(CLONE_NEWNET): %s\n", strerror(errno));
			failed = 1;
			break;
		}
		if (mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0) {
			fprintf(stderr, "mknetns: bind-mount netns on %s: %s\n", path, strerror(errno));
			failed = 1;
			break;
		}
		if (lo_up() < 0) {
			fprintf(stderr, "mknetns: bring lo up in %s: %s\n", path, strerror(errno));
			failed = 1;
			break;
		}
	}
	if (setns(home, CLONE_NEWNET) < 0) {
		fprintf(stderr, "mknetns: setns back home: %s\n", strerror(errno));
		failed = 1;
	}
	close(home);
	if (failed) {
		for (i = start; i < start + made; i++) {
			snprintf(path, sizeof(path), RUN_DIR "/%s%lu", prefix, i);
			remove_one(path);
		}
		fprintf(stderr, "mknetns: removed the %lu netns this call made\n", made);
		return 1;
	}
	dt = (double)(now_ns() - t0) / 1e9;
	printf("created %lu netns %s%lu..%s%lu in %.2f s (%.0f per s)\n", count, prefix, start, prefix,
	       start + count - 1, dt, dt > 0 ? (double)count / dt : 0.0);
	return 0;
}

static int do_del(const char *prefix)
{
	DIR *dir = opendir(RUN_DIR);
	struct dirent *e;
	size_t plen = strlen(prefix), n = 0, bad = 0;
	char path[600];
	const char *s;

	if (!dir) {
		if (errno == ENOENT) {
			printf("removed 0 netns %s*\n", prefix);
			return 0;
		}
		fprintf(stderr, "mknetns: opendir %s: %s\n", RUN_DIR, strerror(errno));
		return 1;
	}
	while ((e = readdir(dir))) {
		if (strncmp(e->d_name, prefix, plen) != 0)
			continue;
		s = e->d_name + plen;
		if (!*s || strspn(s, "0123456789") != strlen(s))
			continue;
		snprintf(path, sizeof(path), RUN_DIR "/%s", e->d_name);
		if (remove_one(path) < 0) {
			fprintf(stderr, "mknetns: remove %s: %s\n", path, strerror(errno));
			bad++;
		} else {
			n++;
		}
	}
	closedir(dir);
	printf("removed %zu netns %s*\n", n, prefix);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long count, start = 0;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 4 && argc <= 5 && !strcmp(argv[1], "add")) {
		if (!valid_prefix(argv[2]) || parse_count(argv[3], &count) ||
		    (argc == 5 && parse_count(argv[4], &start))) {
			usage(stderr);
			return 2;
		}
		return do_add(argv[2], count, start);
	}
	if (argc == 3 && !strcmp(argv[1], "del")) {
		if (!valid_prefix(argv[2])) {
			usage(stderr);
			return 2;
		}
		return do_del(argv[2]);
	}
	usage(stderr);
	return 2;
}
