/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_SOCKADDR_H
#define ZE_SOCKADDR_H

/*
 * Owns: the address chores of the data path (the plain relay and HBONE):
 * IPv4 seen through a dual-stack [::] socket, a connection's original
 * destination, lengths and ports. Never touches: anything but its arguments.
 */
#include <stdint.h>
#include <sys/socket.h>

/* ::ffff:a.b.c.d (IPv4 through a dual-stack socket) becomes a.b.c.d. */
void sa_unmap(struct sockaddr_storage *ss);

/*
 * The original destination of an accepted connection: SO_ORIGINAL_DST where
 * REDIRECT rewrote it (the outbound rules, inbound in the redirect variant),
 * otherwise - TPROXY - the socket's own local address.
 */
void sa_original_dst(int fd, struct sockaddr_storage *dst);

socklen_t sa_len(const struct sockaddr_storage *ss);
uint16_t sa_port(const struct sockaddr_storage *ss);	/* host order */

#endif
