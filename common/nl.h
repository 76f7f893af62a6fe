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

/* Asks (RTM_GETLINK by name) whether ifname is administratively up: 0 or -errno. */
int nl_link_is_up(struct mnl_socket *nl, const char *ifname, bool *up);

#endif
