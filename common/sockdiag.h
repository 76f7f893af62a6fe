/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_SOCKDIAG_H
#define ZE_SOCKDIAG_H

/*
 * What `ss` sees, through NETLINK_SOCK_DIAG (libmnl). A netlink socket
 * answers for the netns it was created in: open it inside the netns to
 * inspect, use it from anywhere.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

struct mnl_socket;

struct sd_sock {
	int family;		/* AF_INET / AF_INET6 */
	int protocol;		/* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t state;		/* TCP_LISTEN, TCP_ESTABLISHED, ... (UDP: TCP_CLOSE/ESTABLISHED) */
	struct sockaddr_storage local, remote;
	uint32_t inode;		/* matches fstat(socket fd).st_ino */
	uint32_t uid;
};

/* Return 0 to go on, non-zero to stop the dump early. */
typedef int (*sd_cb)(const struct sd_sock *s, void *data);

struct mnl_socket *sd_open(void);	/* NULL with errno */
/* For sd_lookup only: non-blocking and unbound (two syscalls fewer). */
struct mnl_socket *sd_open_lookup(void);

/*
 * Dumps the sockets of one family and protocol whose state bit is set in
 * states (1 << TCP_LISTEN, ...). 0, or -errno.
 */
int sd_dump(struct mnl_socket *nl, int family, int protocol, uint32_t states, sd_cb cb,
	    void *data);

/*
 * Looks up the one socket bound to local (a listening TCP or an unconnected
 * UDP socket) without a dump, and gives its inode. 0; -ENOENT when there is
 * none; or -errno.
 */
int sd_lookup(struct mnl_socket *nl, int protocol, const struct sockaddr_storage *local,
	      uint32_t *inode);

/* One socket of a batch of exact lookups: protocol and local in, inode and err out. */
struct sd_query {
	int protocol;			/* IPPROTO_TCP / IPPROTO_UDP */
	struct sockaddr_storage local;
	uint32_t inode;			/* the socket's, when err is 0 */
	int err;			/* 0; -ENOENT when there is none; or -errno */
};

#define SD_BATCH_MAX 8

/*
 * sd_lookup() for n (<= SD_BATCH_MAX) sockets at once: every request in one
 * datagram, every reply read by one call, each answer in its q[i]. On a
 * socket from sd_open_lookup() (the replies are queued before sendto()
 * returns). 0 when each q[i] holds its answer; or -errno.
 */
int sd_lookup_batch(struct mnl_socket *nl, struct sd_query *q, size_t n);

/*
 * The uid owning the connected TCP socket whose own address is local and
 * whose peer is remote: a local client of one of our servers, looked up from
 * the addresses the server sees swapped. 0; -ENOENT when no such socket is
 * on this host (a remote peer); or -errno.
 */
int sd_tcp_owner(struct mnl_socket *nl, const struct sockaddr_storage *local,
		 const struct sockaddr_storage *remote, uint32_t *uid);

/* "127.0.0.1:15001" / "[::]:15008" */
void sd_format_addr(const struct sockaddr_storage *ss, char *buf, size_t cap);

#endif
