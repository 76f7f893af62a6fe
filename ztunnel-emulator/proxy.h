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

#endif
