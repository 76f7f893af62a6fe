/* SPDX-License-Identifier: Apache-2.0 */
/* sock_diag: our own sockets show up with the inode, address and state ss would show. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockdiag.h"
#include "tap.h"

#include <libmnl/libmnl.h>

struct find {
	uint32_t inode;
	int found;
	uint8_t state;
	char addr[64];
};

static int find_cb(const struct sd_sock *s, void *data)
{
	struct find *f = data;

	if (s->inode != f->inode)
		return 0;
	f->found++;
	f->state = s->state;
	sd_format_addr(&s->local, f->addr, sizeof(f->addr));
	return 1;	/* stop early: the rest of the dump must be drained */
}

/* A socket bound to loopback (or [::], dual-stack with SO_REUSEPORT, as ztunnel's). */
static int bound(int family, int type, bool any, struct sockaddr_storage *ss, uint32_t *inode)
{
	socklen_t sl = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	struct stat st;
	int fd = socket(family, type | SOCK_CLOEXEC, 0), one = 1, zero = 0;

	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)family;
	if (family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_addr = any ? in6addr_any : in6addr_loopback;
	else
		((struct sockaddr_in *)ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && any)
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) {
			close(fd);
			return -1;
		}
	if (fd < 0 || bind(fd, (struct sockaddr *)ss, sl) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 1) < 0) ||
	    getsockname(fd, (struct sockaddr *)ss, &sl) < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*inode = (uint32_t)st.st_ino;
	return fd;
}

static int listener(int family, struct sockaddr_storage *ss, uint32_t *inode)
{
	return bound(family, SOCK_STREAM, false, ss, inode);
}

/* sd_lookup: one socket by its local address, no dump */
static void lookups(struct mnl_socket *nl)
{
	static const struct {
		int family, type;
		bool any;
		const char *what;
	} cases[] = {
		{ AF_INET, SOCK_STREAM, false, "TCP listener on 127.0.0.1" },
		{ AF_INET6, SOCK_STREAM, false, "TCP listener on [::1]" },
		{ AF_INET6, SOCK_STREAM, true, "dual-stack TCP listener on [::] with SO_REUSEPORT" },
		{ AF_INET, SOCK_DGRAM, false, "UDP socket on 127.0.0.1" },
		{ AF_INET6, SOCK_DGRAM, true, "dual-stack UDP socket on [::] with SO_REUSEPORT" },
	};
	struct sockaddr_storage ss;
	uint32_t inode, got;
	size_t i;
	int fd, proto;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		proto = cases[i].type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
		fd = bound(cases[i].family, cases[i].type, cases[i].any, &ss, &inode);
		if (!ok(fd >= 0, "sd_lookup: made a %s", cases[i].what))
			continue;
		got = 0;
		is_int(sd_lookup(nl, proto, &ss, &got), 0, "sd_lookup: finds the %s", cases[i].what);
		ok(got == inode, "sd_lookup: with its inode (%u, want %u)", got, inode);
		close(fd);
		is_int(sd_lookup(nl, proto, &ss, &got), -ENOENT, "sd_lookup: once closed: ENOENT");
	}
}

/* sd_lookup_batch: the same sockets in one exchange, a closed one among them */
static void batch(struct mnl_socket *nl)
{
	static const struct {
		int family, type;
		bool any;
	} cases[] = {
		{ AF_INET, SOCK_STREAM, false }, { AF_INET6, SOCK_STREAM, false },
		{ AF_INET6, SOCK_STREAM, true }, { AF_INET, SOCK_DGRAM, false },
		{ AF_INET6, SOCK_DGRAM, true },
	};
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	struct sd_query q[N];
	uint32_t inode[N];
	int fd[N], i, found = 0;

	for (i = 0; i < N; i++) {
		fd[i] = bound(cases[i].family, cases[i].type, cases[i].any, &q[i].local, &inode[i]);
		q[i].protocol = cases[i].type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
		if (fd[i] < 0) {
			ok(0, "sd_lookup_batch: made socket %d", i);
			while (i-- > 0)
				close(fd[i]);
			return;
		}
	}
	/* the middle one gone: its answer is ENOENT, the others' are theirs */
	close(fd[2]);
	is_int(sd_lookup_batch(nl, q, N), 0, "sd_lookup_batch: %d lookups in one exchange", N);
	for (i = 0; i < N; i++)
		if (i != 2)
			found += q[i].err == 0 && q[i].inode == inode[i];
	is_int(found, N - 1, "sd_lookup_batch: each open socket found with its inode");
	is_int(q[2].err, -ENOENT, "sd_lookup_batch: the closed one: ENOENT");
	is_int(sd_lookup_batch(nl, q, SD_BATCH_MAX + 1), -E2BIG,
	       "sd_lookup_batch: more than SD_BATCH_MAX refused");
	for (i = 0; i < N; i++)
		if (i != 2)
			close(fd[i]);
}

int main(void)
{
	struct mnl_socket *nl = sd_open();
	struct sockaddr_storage ss;
	struct find f;
	char want[64];
	int fd, i;

	if (!ok(nl != NULL, "sd_open: a NETLINK_SOCK_DIAG socket"))
		return done_testing();
	for (i = 0; i < 2; i++) {
		int family = i ? AF_INET6 : AF_INET;
		const char *fam = i ? "IPv6" : "IPv4";

		memset(&f, 0, sizeof(f));
		fd = listener(family, &ss, &f.inode);
		if (!ok(fd >= 0, "%s: a listener on loopback", fam))
			continue;
		sd_format_addr(&ss, want, sizeof(want));
		is_int(sd_dump(nl, family, IPPROTO_TCP, 1u << TCP_LISTEN, find_cb, &f), 0,
		       "%s: the TCP LISTEN dump succeeds", fam);
		is_int(f.found, 1, "%s: our listener is in it, found by inode", fam);
		is_int(f.state, TCP_LISTEN, "%s: in state LISTEN", fam);
		is_str(f.addr, want, "%s: with its local address", fam);
		/* the socket is reusable after an early stop */
		f.found = 0;
		is_int(sd_dump(nl, family, IPPROTO_TCP, 1u << TCP_LISTEN, find_cb, &f), 0,
		       "%s: a second dump on the same socket works", fam);
		is_int(f.found, 1, "%s: and finds it again", fam);
		close(fd);
		f.found = 0;
		sd_dump(nl, family, IPPROTO_TCP, 1u << TCP_LISTEN, find_cb, &f);
		is_int(f.found, 0, "%s: once closed it is gone", fam);
	}
	lookups(nl);
	batch(nl);
	mnl_socket_close(nl);
	nl = sd_open_lookup();
	if (ok(nl != NULL, "sd_open_lookup: a non-blocking, unbound NETLINK_SOCK_DIAG socket")) {
		lookups(nl);
		batch(nl);
	}
	if (nl)
		mnl_socket_close(nl);
	return done_testing();
}
