/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_FDPASS_H
#define ZE_FDPASS_H

/*
 * One datagram plus SCM_RIGHTS file descriptors over a Unix socket, received
 * strictly: MSG_CMSG_CLOEXEC, MSG_TRUNC/MSG_CTRUNC are errors, every received
 * fd is owned (and closed on every error path) before anything else is judged.
 */
#include <stddef.h>
#include <sys/types.h>

/* More fds than this on one message truncate the control data (an error). */
#define FDPASS_MAX_FDS 8

struct fdpass_msg {
	size_t len;			/* bytes of payload */
	int fds[FDPASS_MAX_FDS];	/* received fds, close-on-exec */
	size_t nfds;
	size_t other_cmsgs;		/* non-SCM_RIGHTS control messages seen (ignored) */
};

/*
 * Receives one datagram into buf (cap bytes). flags are added to recvmsg's
 * (e.g. MSG_DONTWAIT). Returns 0 and fills *m, or a negative errno:
 *   -EMSGSIZE  the datagram was longer than cap (MSG_TRUNC)
 *   -ENOBUFS   the control data was truncated (MSG_CTRUNC): too many fds
 *   -EBADMSG   a malformed SCM_RIGHTS control message
 *   other      recvmsg's own errno (-EAGAIN, -ECONNRESET, ...)
 * On error no fd is left open. m->len == 0 with no fds is end of stream (or
 * an empty datagram, which a SOCK_SEQPACKET reader cannot tell apart).
 */
int fdpass_recv(int sock, void *buf, size_t cap, int flags, struct fdpass_msg *m);

/* Sends one datagram with nfds fds (0..FDPASS_MAX_FDS). Returns 0 or -errno. */
int fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags);

/* Closes the fds a message carried and forgets them. */
void fdpass_close_fds(struct fdpass_msg *m);

#endif
