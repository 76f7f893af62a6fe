/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_IFFLAGS_H
#define ZE_IFFLAGS_H

#include <stdbool.h>

/*
 * Whether interface ifname is administratively up in the network namespace
 * socket fd was made in (SIOCGIFFLAGS: any socket, whatever the thread's
 * netns now): 0 with *up set, or -errno (-ENODEV: no such interface).
 */
int if_is_up(int fd, const char *ifname, bool *up);

/*
 * The same for the netns nsfd: one visit to make a socket there. 1 up,
 * 0 down, or -errno (as netns_run_in(): -ENOTRECOVERABLE when the thread
 * could not get back).
 */
int if_is_up_in(int nsfd, const char *ifname);

#endif
