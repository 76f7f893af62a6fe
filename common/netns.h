/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_NETNS_H
#define ZE_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A network namespace's identity, as ztunnel's NetnsID: the nsfs inode. */
struct netns_id {
	dev_t dev;
	ino_t ino;
};

static inline bool netns_id_eq(const struct netns_id *a, const struct netns_id *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

/*
 * Namespace type of fd (CLONE_NEWNET, CLONE_NEWUTS, ...), or -ENOTTY when fd
 * is not a namespace file at all.
 */
int ns_fd_type(int fd);

/* "net", "uts", ... for a CLONE_NEW* value; "unknown" otherwise. */
const char *ns_type_name(int nstype);

/* 0 when fd is a network namespace; -ENOTTY (not a namespace) or -EINVAL (another kind). */
int netns_check_fd(int fd);

int netns_fd_id(int fd, struct netns_id *id);

/*
 * Resolves NETNS the way iproute2 names namespaces: text containing '/' is a
 * path, all digits is a pid (/proc/PID/ns/net), anything else a name under
 * /run/netns. Writes the path; *name gets the bare netns name when it is one
 * (a bare word, or /run/netns/NAME, /var/run/netns/NAME), else NULL.
 * Returns 0 or -ENAMETOOLONG / -EINVAL (empty, ".", "..").
 */
int netns_resolve(const char *spec, char *path, size_t cap, const char **name);

/*
 * Opens path (O_RDONLY|O_CLOEXEC) and checks it is a netns: fd, or -errno
 * (open's, or -ENOTTY / -EINVAL as netns_check_fd). On -EINVAL *nstype (if
 * not NULL) says which kind of namespace it was instead.
 */
int netns_open_path(const char *path, int *nstype);

/* The calling thread's own netns: fd (O_CLOEXEC) or -errno. */
int netns_open_current(void);

/* Identity of the calling thread's netns, without opening it. */
int netns_current_id(struct netns_id *id);

/* setns(fd, CLONE_NEWNET): 0 or -errno. */
int netns_enter(int fd);

/*
 * Back home after a visit: setns(fd) where fd must still be the namespace
 * home names (an fd number closed and reused by a pod's netns would pass
 * setns). 0 only when both hold: setns() succeeded, so the thread is now
 * in fd's namespace, and fd's nsfs inode is home's. -errno otherwise, -EIO
 * for a different namespace. An fstat() of the fd, not a path walk of
 * /proc/thread-self/ns/net: this runs twice per pod Add (issue 18).
 */
int netns_return(int fd, const struct netns_id *home);

/* Non-empty and only 0-9: a PID, as a NETNS argument or a /proc entry. */
bool all_digits(const char *s);

/*
 * Runs fn(arg) with the calling thread in the netns nsfd, then returns to the
 * thread's own netns: fn's result, or -errno from entering. A socket fn
 * creates belongs to that netns for good. -ENOTRECOVERABLE means the thread
 * could not get back and is still inside: the caller must not go on.
 */
int netns_run_in(int nsfd, int (*fn)(void *), void *arg);

#endif
