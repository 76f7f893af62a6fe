/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the TCP listeners and bound UDP sockets of a netns (sock_diag) and
 * the processes holding them (/proc/PID/fd). Never touches: the rules, the
 * daemon, output. Interface: inspect/sockets.h.
 */
#include "sockets.h"

#include <dirent.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "netns.h"
#include "redirect.h"
#include "sockdiag.h"

static int lsock_cb(const struct sd_sock *s, void *data)
{
	struct lsocks *ls = data;
	struct lsock *l;

	if (ls->n == ls->cap) {
		size_t ncap = ls->cap ? ls->cap * 2 : 16;

		l = realloc(ls->v, ncap * sizeof(*l));
		if (!l) {
			ls->err = -ENOMEM;
			return 1;
		}
		ls->v = l;
		ls->cap = ncap;
	}
	l = &ls->v[ls->n++];
	memset(l, 0, sizeof(*l));
	l->proto = ls->proto;
	l->state = ls->state;
	l->inode = s->inode;
	l->uid = s->uid;
	sd_format_addr(&s->local, l->local, sizeof(l->local));
	return 0;
}

void lsocks_free(struct lsocks *ls)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		free(ls->v[i].owners);
	free(ls->v);
	memset(ls, 0, sizeof(*ls));
}

static int open_sockdiag(void *arg)
{
	struct mnl_socket **nl = arg;

	*nl = sd_open();
	return *nl ? 0 : -errno;
}

/* Who holds each socket, as `ss -p` finds out: socket:[inode] links under /proc/PID/fd. */
static void find_owners(struct lsocks *ls)
{
	char path[300], link[64], comm[32];
	struct dirent *pe, *fe;
	DIR *proc, *fds;
	size_t i;
	ssize_t n;
	unsigned long ino;
	char *end;
	FILE *f;

	if (!ls->n)
		return;
	proc = opendir("/proc");
	if (!proc)
		return;
	while ((pe = readdir(proc))) {
		if (!all_digits(pe->d_name))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		fds = opendir(path);
		if (!fds)
			continue;	/* gone, or not ours to read: ss shows no owner either */
		comm[0] = '\0';
		while ((fe = readdir(fds))) {
			n = readlinkat(dirfd(fds), fe->d_name, link, sizeof(link) - 1);
			if (n < 9)
				continue;
			link[n] = '\0';
			if (strncmp(link, "socket:[", 8))
				continue;
			ino = strtoul(link + 8, &end, 10);
			if (*end != ']')
				continue;
			for (i = 0; i < ls->n; i++) {
				struct lsock *l = &ls->v[i];
				struct owner *o;

				if (l->inode != ino)
					continue;
				if (!comm[0]) {
					snprintf(path, sizeof(path), "/proc/%s/comm", pe->d_name);
					f = fopen(path, "re");
					if (!f || !fgets(comm, sizeof(comm), f))
						snprintf(comm, sizeof(comm), "?");
					if (f)
						fclose(f);
					comm[strcspn(comm, "\n")] = '\0';
				}
				o = realloc(l->owners, (l->nowners + 1) * sizeof(*o));
				if (!o)
					continue;
				l->owners = o;
				o = &l->owners[l->nowners++];
				o->pid = atoi(pe->d_name);
				o->fd = atoi(fe->d_name);
				snprintf(o->comm, sizeof(o->comm), "%s", comm);
			}
		}
		closedir(fds);
	}
	closedir(proc);
}

/* TCP listeners and bound UDP sockets in the netns, with their owners: 0 or -errno. */
int read_listeners(int nsfd, struct lsocks *ls, char *err, size_t cap)
{
	static const struct {
		int family, protocol;
		uint32_t states;
		const char *proto, *state;
	} dumps[] = {
		{ AF_INET, IPPROTO_TCP, 1u << TCP_LISTEN, "tcp", "LISTEN" },
		{ AF_INET6, IPPROTO_TCP, 1u << TCP_LISTEN, "tcp", "LISTEN" },
		{ AF_INET, IPPROTO_UDP, 1u << TCP_CLOSE, "udp", "UNCONN" },
		{ AF_INET6, IPPROTO_UDP, 1u << TCP_CLOSE, "udp", "UNCONN" },
	};
	struct mnl_socket *nl = NULL;
	size_t i;
	int ret;

	memset(ls, 0, sizeof(*ls));
	/* a sock_diag socket answers for the netns it was made in */
	ret = netns_run_in(nsfd, open_sockdiag, &nl);
	if (ret == -ENOTRECOVERABLE) {
		if (nl)
			mnl_socket_close(nl);
		snprintf(err, cap, "could not return to the original network namespace");
		return ret;
	}
	if (ret) {
		snprintf(err, cap, "sock_diag socket in the network namespace: %s", strerror(-ret));
		return ret;
	}
	for (i = 0; i < sizeof(dumps) / sizeof(dumps[0]) && !ret; i++) {
		ls->proto = dumps[i].proto;
		ls->state = dumps[i].state;
		ret = sd_dump(nl, dumps[i].family, dumps[i].protocol, dumps[i].states, lsock_cb, ls);
		/* a kernel without IPv6 has nothing to dump there */
		if (ret == -ENOENT || ret == -EAFNOSUPPORT)
			ret = 0;
		if (!ret && ls->err)
			ret = ls->err;
	}
	mnl_socket_close(nl);
	if (ret) {
		snprintf(err, cap, "sock_diag dump: %s", strerror(-ret));
		lsocks_free(ls);
		return ret;
	}
	find_owners(ls);
	return 0;
}
