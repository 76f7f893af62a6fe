/* SPDX-License-Identifier: Apache-2.0 */
/* See sockaddr.h. */
#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <string.h>

#include "sockaddr.h"

void sa_unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in s4 = { .sin_family = AF_INET };

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

void sa_original_dst(int fd, struct sockaddr_storage *dst)
{
	socklen_t sl = sizeof(struct sockaddr_in);

	memset(dst, 0, sizeof(*dst));
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, dst, &sl) == 0 && dst->ss_family == AF_INET)
		return;
	sl = sizeof(struct sockaddr_in6);
	if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, dst, &sl) == 0 &&
	    dst->ss_family == AF_INET6) {
		sa_unmap(dst);
		return;
	}
	sl = sizeof(*dst);
	getsockname(fd, (struct sockaddr *)dst, &sl);
	sa_unmap(dst);
}

socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

uint16_t sa_port(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port :
						 ((const struct sockaddr_in *)ss)->sin_port);
}
