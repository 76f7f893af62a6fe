/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LD_PRELOAD shim for tests/integration/11-socket-safety.sh (faults.md 1):
 * makes the symlink race deterministic instead of hoping to win it.
 *   ZE_SHIM_LOG=FILE   appends every chmod/chown/lchown/fchmodat/fchownat the
 *                      program makes after its first pathname AF_UNIX bind
 *   ZE_SHIM_SWAP=FILE  right after that bind, renames the new socket away and
 *                      puts a symlink to FILE in its place, as an attacker
 *                      who owns the directory would on IN_CREATE
 * Built as a shared object (Makefile: tests/helpers/%-preload.so).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int bound;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	const char *log = getenv("ZE_SHIM_LOG");
	va_list ap;
	int fd;

	if (!log || !bound)
		return;
	fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	va_start(ap, fmt);
	vdprintf(fd, fmt, ap);
	va_end(ap);
	close(fd);
}

static void *real(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static void swap(const char *path)
{
	const char *victim = getenv("ZE_SHIM_SWAP");
	char moved[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];

	if (!victim)
		return;
	snprintf(moved, sizeof(moved), "%s.moved", path);
	if (rename(path, moved) == 0 && symlink(victim, path) == 0)
		note("swapped %s for a symlink to %s\n", path, victim);
}

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	int (*f)(int, const struct sockaddr *, socklen_t) = real("bind");
	const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
	int ret = f(fd, sa, len);

	if (ret == 0 && !bound && sa->sa_family == AF_UNIX && un->sun_path[0]) {
		bound = 1;
		note("bind %s\n", un->sun_path);
		swap(un->sun_path);
	}
	return ret;
}

int chmod(const char *path, mode_t mode)
{
	int (*f)(const char *, mode_t) = real("chmod");

	note("chmod '%s' %04o\n", path, (unsigned)mode);
	return f(path, mode);
}

int chown(const char *path, uid_t uid, gid_t gid)
{
	int (*f)(const char *, uid_t, gid_t) = real("chown");

	note("chown '%s' %d %d\n", path, (int)uid, (int)gid);
	return f(path, uid, gid);
}

int lchown(const char *path, uid_t uid, gid_t gid)
{
	int (*f)(const char *, uid_t, gid_t) = real("lchown");

	note("lchown '%s' %d %d\n", path, (int)uid, (int)gid);
	return f(path, uid, gid);
}

int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	int (*f)(int, const char *, mode_t, int) = real("fchmodat");

	note("fchmodat '%s' %04o flags=%#x\n", path, (unsigned)mode, (unsigned)flags);
	return f(dirfd, path, mode, flags);
}

int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	int (*f)(int, const char *, uid_t, gid_t, int) = real("fchownat");

	note("fchownat '%s' %d %d flags=%#x\n", path, (int)uid, (int)gid, (unsigned)flags);
	return f(dirfd, path, uid, gid, flags);
}
