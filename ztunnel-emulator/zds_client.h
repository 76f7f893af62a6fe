/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zds_client.c: Istio's ZDS client role (--connect), as ztunnel plays it —
 * connect with backoff, Hello, per-connection reset, requests handed to wm.c
 * and its replies sent, reconnect keeping the proxies, exit on a protocol
 * error. Never touches the pod table itself (wm.c does). Interface: this header.
 */
#ifndef ZT_ZDS_CLIENT_H
#define ZT_ZDS_CLIENT_H

#include <stdbool.h>

struct daemon;

/* Puts the connect loop on the daemon's loop (first try at once): 0 or -errno. */
int zds_client_start(struct daemon *d);
/* Closes the connection (the node agent sees end of stream) and frees the client. */
void zds_client_stop(struct daemon *d);
/* ztunnel's readiness: connected, SnapshotSent received on this connection, nothing pending. */
bool zds_client_ready(const struct daemon *d);
/* A connected socket becomes the connection, as after a connect (the fuzzer's way in). */
void zds_client_adopt(struct daemon *d, int fd);
/* The connection is readable: one request read and answered. */
void zds_client_read(struct daemon *d);
/* Whether a connection is up (the fuzzer checks it). */
bool zds_client_connected(const struct daemon *d);

#endif
