/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_UDS_H
#define ZE_UDS_H

/* The client end of the ZDS socket, with istio-cni's per-step deadlines. */
#include <stddef.h>

#include "fdpass.h"

/* Connects a SOCK_SEQPACKET socket to path: fd or -errno (-ENAMETOOLONG for long paths). */
int uds_connect(const char *path);

/* Waits up to timeout_ms for one datagram, then fdpass_recv(). -ETIMEDOUT when none came. */
int uds_recv_timeout(int fd, void *buf, size_t cap, int timeout_ms, struct fdpass_msg *m);

/* Waits up to timeout_ms for room, then sends. -ETIMEDOUT when the peer never read. */
int uds_send_timeout(int fd, const void *buf, size_t len, const int *fds, size_t nfds,
		     int timeout_ms);

#endif
