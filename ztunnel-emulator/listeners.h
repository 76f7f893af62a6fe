/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listeners.c: the bookkeeping half of a pod's listeners — taking made
 * sockets onto the loop, closing them, and accepting on them (accept queues
 * drained, faults.md 16). Never enters a netns (proxy.c does); shared by the
 * daemon and the fuzzer's proxy stub. Interface: this header.
 */
#ifndef ZT_LISTENERS_H
#define ZT_LISTENERS_H

#include <stddef.h>

struct daemon;
struct listener;
struct pod;

/*
 * The made sockets (fds[i] >= 0, one per spec) become the pod's listeners,
 * watched by epoll; taken ones are set to -1. 0, or -errno with err saying
 * why: the pod's listeners are then closed and what is left in fds is the
 * caller's.
 */
int pod_take_listeners(struct daemon *d, struct pod *p, int *fds, char *err, size_t errlen);
/* Closes every listener of the pod (epoll forgets them). */
void listeners_close(struct pod *p);
/*
 * accept4() that cannot spin when out of fds (the spare-fd dance): the fd,
 * or -errno (-EMFILE after dropping one connection).
 */
int accept_or_drop(struct daemon *d, int lfd, int flags);
/* A listener is readable: takes what its queue holds, up to a batch. */
void listener_accept(struct daemon *d, struct listener *l);

#endif
