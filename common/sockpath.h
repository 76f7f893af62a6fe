/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_SOCKPATH_H
#define ZE_SOCKPATH_H

/*
 * A listening Unix socket at a path, made and removed without following a
 * symlink or trusting a directory another user controls (faults.md 1, 14, 15).
 * Every function returns -errno and, where it says so, writes a one-line
 * reason naming the file into why[cap]; nothing here prints.
 *
 * The directory rules are sshd's StrictModes: the socket's directory and each
 * one above it must be owned by root or the caller, and not group- or
 * world-writable unless sticky (as /tmp), or another user could rename the
 * socket away and put their own listener (or a symlink) in its place.
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sockpath {
	char given[PATH_MAX];	/* absolute, as given (re-resolved on re-creation) */
	char dir[PATH_MAX];	/* its directory, resolved: no symlinks */
	char path[PATH_MAX];	/* dir + "/" + name: what is bound, checked, removed */
	char name[NAME_MAX + 1];
	bool bound;		/* dev/ino are the socket file this process made */
	dev_t dev;
	ino_t ino;
};

/* Makes path absolute (relative to the cwd) and splits off the name: 0, -EINVAL, -ENAMETOOLONG. */
int sockpath_init(struct sockpath *sp, const char *path, char *why, size_t cap);

/*
 * Resolves the directory (sp->dir, sp->path), checks it and every parent,
 * and creates missing directories mode 0755 whatever the umask (fchmod after
 * mkdirat, so a --socket-group can reach the socket). Returns an O_PATH fd of
 * the directory or -errno. An unsafe directory is -EPERM, unless insecure:
 * then the fd is returned and why holds the reason to warn about (why[0] is
 * '\0' when there is nothing to say).
 */
int sockpath_open_dir(struct sockpath *sp, bool insecure, char *why, size_t cap);

/*
 * Makes the name in dirfd free for bind: 0 when nothing is there, 1 after
 * removing a stale socket of ours (nobody answers). -EEXIST: not a socket;
 * -EADDRINUSE: a live daemon answers; -EPROTOTYPE: another kind of listener;
 * -EPERM: a socket of another user (never removed). why says which.
 */
int sockpath_claim(int dirfd, const struct sockpath *sp, char *why, size_t cap);

/*
 * Binds and listens a new socket of type (SOCK_* flags allowed) at sp->path,
 * born with mode (umask around bind: nothing is chmod'ed), its group set to
 * gid ((gid_t)-1: unchanged) through an O_PATH fd of the inode checked to be
 * that socket, so a symlink swapped in cannot redirect either. Records the
 * socket file's (dev, ino). Returns the fd or -errno with why.
 */
int sockpath_listen(struct sockpath *sp, int dirfd, int type, mode_t mode, gid_t gid,
		    int backlog, char *why, size_t cap);

/* 0: sp->path is still our socket; -ENOENT: gone; -ESTALE: something else is there. */
int sockpath_check(const struct sockpath *sp);

/* Unlinks sp->path only if it is still our socket (never through a symlink). 0 or -errno. */
int sockpath_remove(struct sockpath *sp);

#endif
