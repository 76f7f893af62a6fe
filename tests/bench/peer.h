/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client waiting for the ack, for the bench's Add floors (add-floor,
 * scale-floor): a child process blocked reading a SOCK_SEQPACKET pair, so
 * that the floor's ack wakes a sleeping reader as the daemon's does. It
 * reads 2 bytes and answers 1, until EOF. Header-only, libc only.
 */
#ifndef BENCH_PEER_H
#define BENCH_PEER_H

#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* the peer's pid (its end is *fd), or -1 */
static inline pid_t waiting_peer(int *fd)
{
	int sv[2];
	char b[8];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		while (recv(sv[1], b, sizeof(b), 0) > 0)
			if (send(sv[1], b, 1, 0) < 0)
				break;
		_exit(0);
	}
	close(sv[1]);
	*fd = sv[0];
	return pid;
}

#endif
