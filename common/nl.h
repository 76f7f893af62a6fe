/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_NL_H
#define ZE_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mnl_socket;
struct nlmsghdr;

/*
 * Starts a netlink request in buf: the first zero bytes cleared (so that
 * attribute padding goes out defined), then the header with type,
 * NLM_F_REQUEST | flags and seq. Returns the header.
 */
struct nlmsghdr *nl_request(char *buf, size_t zero, uint16_t type, uint16_t flags, uint32_t seq);

/*
 * An rtnetlink socket. A netlink socket talks to the netns it was created in,
 * so create it while inside the pod's netns and query it after returning.
 * Returns NULL with errno set.
 */
struct mnl_socket *nl_route_open(void);
void nl_close(struct mnl_socket *nl);

/*
 * An rtnetlink socket that acts in the netns nsfd (created there, used from
 * here): 0 with *nl, or -errno; -ENOTRECOVERABLE when the thread could not
 * return to its own netns (see netns_run_in()).
 */
int nl_open_in(int nsfd, struct mnl_socket **nl);

/* The next sequence number of this process's requests (starts from the time). */
unsigned int nl_next_seq(void);

/*
 * Sends one request and reads until the kernel's ack or the end of a dump,
 * handing each message to cb (may be NULL): 0, or -errno (the kernel's, for
 * a refused change). The one talk-with-ack and dump loop of the tree.
 */
int nl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh,
	    int (*cb)(const struct nlmsghdr *nlh, void *data), void *data);

/* A link, by name or by index. */
struct nl_link_q {
	uint32_t index;
	unsigned int flags;	/* IFF_UP, ... */
	char name[16];		/* IFNAMSIZ */
};

/* RTM_GETLINK by name (q->name) or by index (q->index): fills in the other. 0 or -errno. */
int nl_link(struct mnl_socket *nl, struct nl_link_q *q);

/* Asks (RTM_GETLINK by name) whether ifname is administratively up: 0 or -errno. */
int nl_link_is_up(struct mnl_socket *nl, const char *ifname, bool *up);

#endif
