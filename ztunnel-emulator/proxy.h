/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy.c: the privileged half of a pod's proxy — the netns visit, socket
 * options, bind/listen, the sock_diag confirmation, the lo warning. The only
 * file that enters a pod's netns; tests/fuzz/proxy_stub.c replaces it at link
 * time. Interface: this header.
 */
#ifndef ZT_PROXY_H
#define ZT_PROXY_H

#include <stddef.h>

struct daemon;
struct pod;

/*
 * Creates the pod's listeners inside its netns and hands them to
 * pod_take_listeners(). 0, or -errno with err saying why (nothing left behind).
 */
int proxy_start(struct daemon *d, struct pod *p, char *err, size_t errlen);
/* A socket created inside the pod's netns (fd, or -errno). */
int pod_socket(struct daemon *d, struct pod *p, int family, int type);
/*
 * A TCP socket in the pod's netns for one of ztunnel's own connections (a
 * relay's upstream, an HBONE tunnel, an HBONE stream's upstream), with what
 * ztunnel's socket factory sets: the mark, TCP_NODELAY, keepalive. fd or -errno.
 */
int pod_tcp_socket(struct daemon *d, struct pod *p, int family);
/*
 * The options ztunnel gives a TCP connection it accepted or opened:
 * TCP_NODELAY always; with keepalive, its SocketConfig's probes too.
 */
void tcp_conn_options(int fd, bool keepalive);

#endif
