/* SPDX-License-Identifier: Apache-2.0 */
#include "sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "uds.h"

/* snprintf that reports truncation as -ENAMETOOLONG */
static int join(char *dst, size_t cap, const char *a, const char *b)
{
	int n = snprintf(dst, cap, "%s%s%s", a, a[0] && a[strlen(a) - 1] == '/' ? "" : "/", b);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int sockpath_init(struct sockpath *sp, const char *path, char *why, size_t cap)
{
	char cwd[PATH_MAX];
	const char *slash;
	size_t len;

	memset(sp, 0, sizeof(*sp));
	len = strlen(path);
	if (!len || path[len - 1] == '/')
		return ze_reason(why, cap, -EINVAL, "%s: a socket path must end in a file name", path);
	if (path[0] == '/') {
		if (len >= sizeof(sp->given))
			return ze_reason(why, cap, -ENAMETOOLONG, "%s: path too long", path);
		strcpy(sp->given, path);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return ze_reason(why, cap, -errno, "cannot find the current directory: %s",
				      strerror(errno));
		if (join(sp->given, sizeof(sp->given), cwd, path))
			return ze_reason(why, cap, -ENAMETOOLONG, "%s: path too long", path);
	}
	slash = strrchr(sp->given, '/');
	if (strlen(slash + 1) > NAME_MAX)
		return ze_reason(why, cap, -ENAMETOOLONG, "%s: file name too long", path);
	strcpy(sp->name, slash + 1);
	if (!strcmp(sp->name, ".") || !strcmp(sp->name, ".."))
		return ze_reason(why, cap, -EINVAL, "%s: a socket path must end in a file name", path);
	return 0;
}

/*
 * Whether uid has a name in this user namespace. Inside one, files of
 * unmapped owners (the host's root owning / and /tmp) show as the overflow
 * uid; they are outside the namespace's reach, so they pass the owner rule.
 */
static bool uid_mapped(uid_t uid)
{
	FILE *f = fopen("/proc/self/uid_map", "re");
	unsigned long inside, outside, count;
	bool mapped = false;

	if (!f)
		return true;	/* cannot tell: judge it as a real owner */
	while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
		if (uid >= inside && uid - inside < count)
			mapped = true;
	fclose(f);
	return mapped;
}

/* StrictModes for one directory: 0 or -EPERM with the reason. */
static int judge_dir(const char *dir, const struct stat *st, char *why, size_t cap)
{
	uid_t me = geteuid();
	mode_t m = st->st_mode;

	if (!S_ISDIR(m))
		return ze_reason(why, cap, -ENOTDIR, "%s: not a directory", dir);
	if (st->st_uid != 0 && st->st_uid != me && uid_mapped(st->st_uid))
		return ze_reason(why, cap, -EPERM,
			      "socket directory %s is owned by uid %u, not root or the daemon's uid %u: "
			      "that user could replace the socket",
			      dir, (unsigned)st->st_uid, (unsigned)me);
	if ((m & (S_IWGRP | S_IWOTH)) && !(m & S_ISVTX))
		return ze_reason(why, cap, -EPERM,
			      "socket directory %s is %s-writable without the sticky bit (mode %04o): "
			      "other users could replace the socket",
			      dir, m & S_IWOTH ? "world" : "group", (unsigned)(m & 07777));
	return 0;
}

/*
 * realpath() of the longest existing prefix of dir; the rest (to be created)
 * goes to missing. Components to create may not be "." or "..".
 */
static int resolve_existing(const char *dir, char *real, char *missing, size_t cap, char *why,
			    size_t wcap)
{
	char head[PATH_MAX], *slash;
	char tail[PATH_MAX] = "";

	snprintf(head, sizeof(head), "%s", dir);
	while (!realpath(head, real)) {
		if (errno != ENOENT)
			return ze_reason(why, wcap, -errno, "%s: %s", head, strerror(errno));
		slash = strrchr(head, '/');
		if (!slash)
			return ze_reason(why, wcap, -ENOENT, "%s: cannot resolve", dir);
		if (!strcmp(slash + 1, ".") || !strcmp(slash + 1, ".."))
			return ze_reason(why, wcap, -EINVAL, "%s: '.' or '..' after a missing directory",
				      dir);
		if (snprintf(missing, cap, "%s%s", slash, tail) >= (int)cap)
			return ze_reason(why, wcap, -ENAMETOOLONG, "%s: path too long", dir);
		snprintf(tail, sizeof(tail), "%s", missing);
		slash[slash == head] = '\0';	/* "/a" -> "/" */
	}
	snprintf(missing, cap, "%s", tail);
	return 0;
}

/* mkdirat 0755 whatever the umask; fd of the new (or concurrently made) directory */
static int make_dir(int parent, const char *comp, const char *path, char *why, size_t cap)
{
	struct stat st;
	int fd, ret;

	if (mkdirat(parent, comp, 0755) < 0 && errno != EEXIST)
		return ze_reason(why, cap, -errno, "cannot create %s: %s", path, strerror(errno));
	fd = openat(parent, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ze_reason(why, cap, -errno, "%s: %s", path, strerror(errno));
	/* only a directory we own is ours to chmod (EEXIST: someone else's is judged as is) */
	if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 07777) != 0755 &&
	    fchmod(fd, 0755) < 0) {
		ret = -errno;
		close(fd);
		return ze_reason(why, cap, ret, "cannot chmod %s: %s", path, strerror(-ret));
	}
	return fd;
}

/*
 * Walks dir from "/" one component at a time (O_NOFOLLOW: what was judged is
 * what the next step opens), judging each; creates the missing ones.
 */
static int walk(struct sockpath *sp, const char *real, const char *missing, bool insecure,
		char *why, size_t cap)
{
	char all[PATH_MAX], sofar[PATH_MAX] = "", tmp[PATH_MAX], *comp, *save = NULL;
	size_t nreal = strlen(real);
	bool first = true;
	struct stat st;
	int fd, next, ret;

	if (snprintf(all, sizeof(all), "%s%s", real, missing) >= (int)sizeof(all))
		return ze_reason(why, cap, -ENAMETOOLONG, "%s: path too long", sp->given);
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ze_reason(why, cap, -errno, "/: %s", strerror(errno));
	for (;;) {
		if (fstat(fd, &st) < 0) {
			ret = ze_reason(why, cap, -errno, "%s: %s", sofar, strerror(errno));
			goto fail;
		}
		ret = judge_dir(sofar[0] ? sofar : "/", &st, why, cap);
		if (ret && !(ret == -EPERM && insecure))
			goto fail;
		comp = strtok_r(first ? all : NULL, "/", &save);
		first = false;
		if (!comp)
			break;
		if (join(tmp, sizeof(tmp), sofar[0] ? sofar : "/", comp)) {
			ret = ze_reason(why, cap, -ENAMETOOLONG, "%s: path too long", sp->given);
			goto fail;
		}
		strcpy(sofar, tmp);
		if (comp - all >= (ptrdiff_t)nreal) {
			next = make_dir(fd, comp, sofar, why, cap);
		} else {
			next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (next < 0)
				next = ze_reason(why, cap, -errno, "%s: %s (changed while being checked?)",
					      sofar, strerror(errno));
		}
		if (next < 0) {
			ret = next;
			goto fail;
		}
		close(fd);
		fd = next;
	}
	if (join(sp->path, sizeof(sp->path), sofar[0] ? sofar : "/", sp->name)) {
		ret = ze_reason(why, cap, -ENAMETOOLONG, "%s: path too long", sp->given);
		goto fail;
	}
	snprintf(sp->dir, sizeof(sp->dir), "%s", sofar[0] ? sofar : "/");
	return fd;
fail:
	close(fd);
	return ret;
}

int sockpath_open_dir(struct sockpath *sp, bool insecure, char *why, size_t cap)
{
	char dir[PATH_MAX], real[PATH_MAX], missing[PATH_MAX], warn[512] = "";
	int fd;

	snprintf(dir, sizeof(dir), "%s", sp->given);
	*strrchr(dir, '/') = '\0';
	if (!dir[0])
		strcpy(dir, "/");
	fd = resolve_existing(dir, real, missing, sizeof(missing), why, cap);
	if (fd < 0)
		return fd;
	/* with insecure, judge_dir's last unsafe verdict is left in warn for the caller */
	fd = walk(sp, real, missing, insecure, warn, sizeof(warn));
	if (fd < 0)
		return ze_reason(why, cap, fd, "%s", warn);
	if (cap)
		why[0] = '\0';
	if (insecure && warn[0])
		ze_reason(why, cap, 0, "%s", warn);
	return fd;
}

static bool same_file(const struct stat *st, dev_t dev, ino_t ino)
{
	return st->st_dev == dev && st->st_ino == ino;
}

int sockpath_claim(int dirfd, const struct sockpath *sp, char *why, size_t cap)
{
	struct stat st, again;
	int fd;

	if (fstatat(dirfd, sp->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return ze_reason(why, cap, -errno, "%s: %s", sp->path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return ze_reason(why, cap, -EEXIST, "%s: exists and is not a socket; refusing to replace it",
			      sp->path);
	fd = uds_connect(sp->path);
	if (fd >= 0)
		close(fd);
	if (fd >= 0 || fd == -EAGAIN)
		return ze_reason(why, cap, -EADDRINUSE, "%s: another daemon is already serving on this socket",
			      sp->path);
	if (fd == -EPROTOTYPE)
		return ze_reason(why, cap, -EPROTOTYPE, "%s: another program is listening on this socket",
			      sp->path);
	if (fd != -ECONNREFUSED)
		return ze_reason(why, cap, fd, "%s: cannot probe the existing socket: %s", sp->path,
			      strerror(-fd));
	/* a dead daemon of another user is not ours to clean up (sticky /tmp) */
	if (st.st_uid != geteuid())
		return ze_reason(why, cap, -EPERM,
			      "%s: a stale socket of uid %u, not the daemon's uid %u; refusing to remove it",
			      sp->path, (unsigned)st.st_uid, (unsigned)geteuid());
	/* still the file probed, not one swapped in since */
	if (fstatat(dirfd, sp->name, &again, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !same_file(&again, st.st_dev, st.st_ino))
		return ze_reason(why, cap, -ESTALE, "%s: changed while being checked", sp->path);
	if (unlinkat(dirfd, sp->name, 0) < 0 && errno != ENOENT)
		return ze_reason(why, cap, -errno, "%s: cannot remove the stale socket: %s", sp->path,
			      strerror(errno));
	return 1;
}

/*
 * After bind: the name must be a socket we own with exactly the mode bind
 * gave it (a default ACL on the directory overrides the umask). Returns an
 * O_PATH fd pinning that inode, for fchownat and the (dev, ino).
 */
static int pin_socket(const struct sockpath *sp, int dirfd, mode_t mode, struct stat *st,
		      char *why, size_t cap)
{
	int pfd = openat(dirfd, sp->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (pfd < 0)
		return ze_reason(why, cap, -errno, "%s: gone right after bind: %s", sp->path,
			      strerror(errno));
	if (fstat(pfd, st) < 0 || !S_ISSOCK(st->st_mode) || st->st_uid != geteuid()) {
		close(pfd);
		return ze_reason(why, cap, -ESTALE,
			      "%s: replaced right after bind (not our socket any more); refusing it",
			      sp->path);
	}
	if ((st->st_mode & 0777) != mode) {
		close(pfd);
		return ze_reason(why, cap, -EINVAL,
			      "%s: created with mode %04o instead of %04o (a default ACL on the directory?)",
			      sp->path, (unsigned)(st->st_mode & 0777), (unsigned)mode);
	}
	return pfd;
}

int sockpath_listen(struct sockpath *sp, int dirfd, int type, mode_t mode, gid_t gid,
		    int backlog, char *why, size_t cap)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd = -1, pfd = -1, ret;
	mode_t old;

	sp->bound = false;
	if (strlen(sp->path) >= sizeof(sa.sun_path))
		return ze_reason(why, cap, -ENAMETOOLONG, "%s: socket path too long (at most %zu bytes)",
			      sp->path, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, sp->path);
	fd = socket(AF_UNIX, type, 0);
	if (fd < 0)
		return ze_reason(why, cap, -errno, "socket: %s", strerror(errno));
	/* born with its final mode: no chmod by path afterwards, and no window with a wider one */
	old = umask(~mode & 0777);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old);
	if (ret) {
		if (ret == -EADDRINUSE)
			ze_reason(why, cap, ret, "%s: another daemon is already serving on this socket",
			       sp->path);
		else
			ze_reason(why, cap, ret, "%s: bind: %s", sp->path, strerror(-ret));
		goto fail;
	}
	pfd = pin_socket(sp, dirfd, mode, &st, why, cap);
	if (pfd < 0) {
		ret = pfd;
		goto fail;	/* the name is not ours: leave it alone */
	}
	sp->dev = st.st_dev;
	sp->ino = st.st_ino;
	sp->bound = true;
	if (gid != (gid_t)-1 && fchownat(pfd, "", (uid_t)-1, gid, AT_EMPTY_PATH) < 0) {
		ret = ze_reason(why, cap, -errno, "%s: cannot set the socket's group to %u: %s", sp->path,
			     (unsigned)gid, strerror(errno));
		goto fail;
	}
	if (listen(fd, backlog) < 0) {
		ret = ze_reason(why, cap, -errno, "%s: listen: %s", sp->path, strerror(errno));
		goto fail;
	}
	close(pfd);
	return fd;
fail:
	if (pfd >= 0)
		close(pfd);
	close(fd);
	sockpath_remove(sp);
	return ret;
}

int sockpath_check(const struct sockpath *sp)
{
	struct stat st;

	if (lstat(sp->path, &st) < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	return S_ISSOCK(st.st_mode) && same_file(&st, sp->dev, sp->ino) ? 0 : -ESTALE;
}

int sockpath_remove(struct sockpath *sp)
{
	struct stat st;
	int dirfd, ret = 0;

	if (!sp->bound)
		return 0;
	sp->bound = false;
	dirfd = open(sp->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	if (fstatat(dirfd, sp->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	else if (!same_file(&st, sp->dev, sp->ino))
		ret = -ESTALE;
	else if (unlinkat(dirfd, sp->name, 0) < 0)
		ret = -errno;
	close(dirfd);
	return ret;
}
