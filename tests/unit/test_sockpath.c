/* SPDX-License-Identifier: Apache-2.0 */
/* common/sockpath: directory rules, modes whatever the umask, only our file removed. */
#include "sockpath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static char base[] = "/tmp/test_sockpath.XXXXXX";
static char why[1024];

static mode_t mode_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

/* a sockpath for base/rel, its directory opened (or -errno) */
static int open_at(struct sockpath *sp, const char *rel, bool insecure)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	if (sockpath_init(sp, path, why, sizeof(why)) < 0)
		return -EINVAL;
	return sockpath_open_dir(sp, insecure, why, sizeof(why));
}

static void test_init(void)
{
	struct sockpath sp;
	char cwd[PATH_MAX], want[PATH_MAX + 16];

	is_int(sockpath_init(&sp, "/run/x/", why, sizeof(why)), -EINVAL, "a path ending in / is refused");
	is_int(sockpath_init(&sp, "/run/..", why, sizeof(why)), -EINVAL, "a path ending in .. is refused");
	if (getcwd(cwd, sizeof(cwd))) {
		snprintf(want, sizeof(want), "%s/zt.sock", cwd);
		is_int(sockpath_init(&sp, "zt.sock", why, sizeof(why)), 0, "a relative path is accepted");
		is_str(sp.given, want, "a relative path is made absolute");
		is_str(sp.name, "zt.sock", "the name is split off");
	}
}

static void test_dirs(void)
{
	char path[PATH_MAX + 64], open_dir[PATH_MAX + 32];
	struct sockpath sp;
	mode_t old;
	int fd;

	old = umask(077);
	fd = open_at(&sp, "a/b/zt.sock", false);
	umask(old);
	ok(fd >= 0, "missing directories are created (%s)", fd < 0 ? why : "ok");
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/a", base);
	is_int(mode_of(path), 0755, "under umask 077 a created directory is 0755");
	snprintf(path, sizeof(path), "%s/a/b/zt.sock", base);
	is_str(sp.path, path, "the resolved socket path");

	snprintf(open_dir, sizeof(open_dir), "%s/open", base);
	mkdir(open_dir, 0700);
	chmod(open_dir, 0777);
	is_int(open_at(&sp, "open/zt.sock", false), -EPERM, "a world-writable directory is refused");
	ok(strstr(why, open_dir) && strstr(why, "world-writable without the sticky bit"),
	   "the reason names the directory and why: %s", why);
	is_int(open_at(&sp, "open/new/zt.sock", false), -EPERM,
	       "nothing is created below a refused directory");
	snprintf(path, sizeof(path), "%s/new", open_dir);
	is_int(access(path, F_OK), -1, "(the subdirectory was not made)");
	fd = open_at(&sp, "open/zt.sock", true);
	ok(fd >= 0 && strstr(why, "world-writable"), "insecure: the fd, and the reason to warn about");
	if (fd >= 0)
		close(fd);
	chmod(open_dir, 01777);
	fd = open_at(&sp, "open/zt.sock", false);
	ok(fd >= 0 && !why[0], "a sticky world-writable directory is accepted");
	if (fd >= 0)
		close(fd);
	is_int(open_at(&sp, "gone/../zt.sock", false), -EINVAL, "'..' after a missing directory is refused");

	snprintf(path, sizeof(path), "%s/foreign", base);
	mkdir(path, 0755);
	if (geteuid() == 0 && chown(path, 65533, 65533) == 0) {
		is_int(open_at(&sp, "foreign/zt.sock", false), -EPERM,
		       "a directory owned by another uid is refused");
		ok(strstr(why, "owned by uid 65533"), "the reason names the owner: %s", why);
	} else {
		diag("a directory of another uid needs real root (chown to 65533): left out");
	}
}

static void test_listen(void)
{
	char other[PATH_MAX + 32];
	struct sockpath sp;
	int dirfd, fd, probe;
	mode_t old;

	dirfd = open_at(&sp, "l/zt.sock", false);
	if (!ok(dirfd >= 0, "open the directory (%s)", dirfd < 0 ? why : "ok"))
		return;
	old = umask(022);
	fd = sockpath_listen(&sp, dirfd, SOCK_SEQPACKET | SOCK_CLOEXEC, 0660, (gid_t)-1, 8, why,
			     sizeof(why));
	umask(old);
	ok(fd >= 0, "listen (%s)", fd < 0 ? why : "ok");
	is_int(mode_of(sp.path), 0660, "the socket is born 0660 under umask 022");
	is_int(umask(old), old, "the umask is restored");
	is_int(sockpath_check(&sp), 0, "check: still ours");
	is_int(sockpath_claim(dirfd, &sp, why, sizeof(why)), -EADDRINUSE, "claim: a live socket is refused");

	/* removed, then another file in its place */
	unlink(sp.path);
	is_int(sockpath_check(&sp), -ENOENT, "check: removed");
	probe = open(sp.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(probe);
	is_int(sockpath_check(&sp), -ESTALE, "check: replaced by another file");
	is_int(sockpath_claim(dirfd, &sp, why, sizeof(why)), -EEXIST, "claim: a regular file is refused");
	is_int(sockpath_remove(&sp), -ESTALE, "remove: another file is not ours");
	is_int(access(sp.path, F_OK), 0, "(the other file is still there)");
	unlink(sp.path);
	close(fd);

	/* a stale socket of ours (listener closed, file left) is reclaimed */
	fd = sockpath_listen(&sp, dirfd, SOCK_SEQPACKET | SOCK_CLOEXEC, 0600, (gid_t)-1, 8, why,
			     sizeof(why));
	close(fd);
	is_int(sockpath_claim(dirfd, &sp, why, sizeof(why)), 1, "claim: a stale socket of ours is removed");
	is_int(access(sp.path, F_OK), -1, "(it is gone)");

	/* a symlink at the name is never followed nor removed */
	snprintf(other, sizeof(other), "%s/target", base);
	probe = open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(probe);
	if (symlink(other, sp.path) == 0) {
		is_int(sockpath_claim(dirfd, &sp, why, sizeof(why)), -EEXIST, "claim: a symlink is refused");
		is_int(sockpath_remove(&sp), -ESTALE, "remove: a symlink at the name is not ours");
		ok(access(sp.path, F_OK) == 0 && mode_of(other) == 0600,
		   "(the symlink and its target are untouched)");
	}
	close(dirfd);
}

int main(void)
{
	char cmd[PATH_MAX + 16];
	int fds;

	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 1;
	}
	fds = count_fds();
	test_init();
	test_dirs();
	test_listen();
	is_int(count_fds(), fds, "no fd leaked");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd) != 0)
		diag("cleanup failed");
	return done_testing();
}
