/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_INSPECT_SOCKETS_H
#define CNI_INSPECT_SOCKETS_H

/* What listens in a pod's netns, as `ss -ltunp` shows it. Nothing here prints. */
#include <stddef.h>
#include <stdint.h>

struct owner {
	int pid, fd;
	char comm[32];
};

struct lsock {
	const char *proto, *state;
	char local[64];
	uint32_t inode, uid;
	struct owner *owners;
	size_t nowners;
};

struct lsocks {
	struct lsock *v;
	size_t n, cap;
	const char *proto, *state;
	int err;
};

/*
 * TCP listeners and bound UDP sockets in the netns, with their owners: 0 or
 * -errno with why in err; -ENOTRECOVERABLE: the thread is stuck in the netns.
 */
int read_listeners(int nsfd, struct lsocks *ls, char *err, size_t cap);
void lsocks_free(struct lsocks *ls);

#endif
