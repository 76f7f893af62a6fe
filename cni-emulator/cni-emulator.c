/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cni-emulator: the istio-cni node agent's side of Istio ambient's in-pod
 * handoff. Opens a pod's network namespace, checks it, and sends its fd to
 * ztunnel over ZDS v1 (SCM_RIGHTS on an Add request), then waits for the Ack.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fdpass.h"
#include "log.h"
#include "netns.h"
#include "uds.h"
#include "zds.h"

#define PROG "cni-emulator"

struct add_opts {
	const char *uid, *name, *namespace_, *service_account;
	int timeout_ms;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [add] [OPTIONS] SOCKET NETNS\n"
		"\n"
		"Emulates the istio-cni node agent's side of Istio ambient's in-pod handoff:\n"
		"opens the pod's network namespace NETNS and sends its fd to ztunnel-emulator\n"
		"on the Unix socket SOCKET (ZDS v1 Add with SCM_RIGHTS), then waits for the ack.\n"
		"Prints 'listeners ready' once the daemon has bound the pod's listeners.\n"
		"\n"
		"NETNS is a path (/var/run/netns/ns2), a name under /run/netns (ns2), or a\n"
		"process id (1234 = /proc/1234/ns/net).\n"
		"\n"
		"Options:\n"
		"  -u, --uid UID                 pod uid (default: the netns name, or\n"
		"                                netns-<inode> for other paths and pids)\n"
		"  -n, --name NAME               pod name (default: as the uid)\n"
		"  -N, --namespace NAMESPACE     pod's Kubernetes namespace (default: default)\n"
		"  -s, --service-account SA      pod's service account (default: default)\n"
		"  -t, --timeout SECONDS         deadline for each step: hello, send, ack (default 5)\n"
		"  -h, --help                    show this help and exit\n"
		"  -V, --version                 show the version and exit\n"
		"\n"
		"Exit status: 0 when the daemon acked, 1 on a nack, timeout or error, 2 on a usage error.\n",
		PROG);
}

/* Opens and checks NETNS before anything reaches the daemon. fd, or -1 after printing why. */
static int open_netns(const char *spec, char *path, size_t cap, const char **name)
{
	int fd, ret = netns_resolve(spec, path, cap, name);

	if (ret == -EINVAL)
		return cli_err("invalid network namespace '%s'", spec), -1;
	if (ret)
		return cli_err("%s: %s", spec, strerror(-ret)), -1;
	fd = netns_open_path(path, &ret);
	if (fd >= 0)
		return fd;
	if (fd == -ENOENT && *name)
		cli_err("%s: No such file or directory (create it with 'ip netns add %s')", path, *name);
	else if (fd == -ENOTTY)
		cli_err("%s: not a namespace file", path);
	else if (fd == -EINVAL)
		cli_err("%s: is a %s namespace, not a network namespace", path, ns_type_name(ret));
	else
		cli_err("%s: %s", path, strerror(-fd));
	return -1;
}

static int recv_step(int sock, uint8_t *buf, int timeout_ms, const char *socket_path,
		     const char *what, size_t *len)
{
	struct fdpass_msg m;
	int ret = uds_recv_timeout(sock, buf, ZDS_MAX_MSG, timeout_ms, &m);

	if (ret == -ETIMEDOUT)
		return cli_err("%s: timed out after %gs waiting for the %s", socket_path,
			    timeout_ms / 1000.0, what);
	if (ret == -EMSGSIZE)
		return cli_err("%s: the %s is longer than %d bytes", socket_path, what, ZDS_MAX_MSG);
	if (ret)
		return cli_err("%s: receiving the %s: %s", socket_path, what, strerror(-ret));
	if (m.nfds) {
		fdpass_close_fds(&m);
		return cli_err("%s: the %s unexpectedly carried file descriptors", socket_path, what);
	}
	if (m.len == 0)
		return cli_err("%s: the daemon closed the connection before the %s", socket_path, what);
	*len = m.len;
	return 0;
}

static int cmd_add(const char *socket_path, const char *netns_spec, const struct add_opts *o)
{
	char path[4096], uidbuf[64], q[1100];
	uint8_t buf[ZDS_MAX_MSG], add[ZDS_MAX_MSG];
	const char *name, *why = NULL, *uid;
	struct zds_request req = { .type = ZDS_REQ_ADD, .has_workload_info = true };
	struct zds_response resp;
	struct netns_id id;
	uint64_t version;
	size_t len;
	ssize_t n;
	int nsfd, sock = -1, ret, rc = 1;

	nsfd = open_netns(netns_spec, path, sizeof(path), &name);
	if (nsfd < 0)
		return 1;
	uid = o->uid;
	if (!uid && name) {
		uid = name;
	} else if (!uid) {
		/* so that two pods never share a uid by accident */
		netns_fd_id(nsfd, &id);
		snprintf(uidbuf, sizeof(uidbuf), "netns-%llu", (unsigned long long)id.ino);
		uid = uidbuf;
	}
	req.uid = zds_str_c(uid);
	req.info.name = zds_str_c(o->name ? o->name : uid);
	req.info.namespace_ = zds_str_c(o->namespace_);
	req.info.service_account = zds_str_c(o->service_account);
	n = zds_encode_request(add, sizeof(add), &req);
	if (n < 0) {
		cli_err("the add request would exceed %d bytes; use shorter names", ZDS_MAX_MSG);
		goto out;
	}

	sock = uds_connect(socket_path);
	if (sock < 0) {
		if (sock == -ENOENT || sock == -ECONNREFUSED)
			cli_err("connect to %s: %s (is ztunnel-emulator running?)", socket_path,
			     strerror(-sock));
		else if (sock == -EPROTOTYPE)
			cli_err("connect to %s: not a ZDS (SOCK_SEQPACKET) socket", socket_path);
		else
			cli_err("connect to %s: %s", socket_path, strerror(-sock));
		goto out;
	}

	if (recv_step(sock, buf, o->timeout_ms, socket_path, "hello", &len))
		goto out;
	if (zds_decode_hello(buf, len, &version, &why)) {
		cli_err("%s: malformed hello: %s", socket_path, why);
		goto out;
	}
	if (version != ZDS_VERSION_V1) {
		cli_err("%s: unsupported ZDS version %llu in the hello (want 1)", socket_path,
		     (unsigned long long)version);
		goto out;
	}

	ret = uds_send_timeout(sock, add, (size_t)n, &nsfd, 1, o->timeout_ms);
	if (ret == -ETIMEDOUT) {
		cli_err("%s: timed out after %gs sending the add request", socket_path,
		     o->timeout_ms / 1000.0);
		goto out;
	} else if (ret) {
		cli_err("%s: sending the add request: %s", socket_path, strerror(-ret));
		goto out;
	}

	if (recv_step(sock, buf, o->timeout_ms, socket_path, "ack", &len))
		goto out;
	if (zds_decode_response(buf, len, &resp, &why)) {
		cli_err("%s: malformed response: %s", socket_path, why);
		goto out;
	}
	if (!resp.has_ack) {
		cli_err("%s: the response carries no ack", socket_path);
		goto out;
	}
	if (resp.error.len) {
		cli_err("pod %s: %.*s", log_quote(q, sizeof(q), uid, strlen(uid)), (int)resp.error.len,
		     resp.error.p);
		goto out;
	}
	printf("listeners ready\n");
	rc = 0;
out:
	if (sock >= 0)
		close(sock);
	close(nsfd);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "uid", required_argument, NULL, 'u' },
		{ "name", required_argument, NULL, 'n' },
		{ "namespace", required_argument, NULL, 'N' },
		{ "service-account", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct add_opts o = {
		.namespace_ = "default",
		.service_account = "default",
		.timeout_ms = 5000,
	};
	char **pos;
	int c, npos;

	cli_set_prog(PROG);
	while ((c = getopt_long(argc, argv, "u:n:N:s:t:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o.uid = optarg;
			break;
		case 'n':
			o.name = optarg;
			break;
		case 'N':
			o.namespace_ = optarg;
			break;
		case 's':
			o.service_account = optarg;
			break;
		case 't':
			o.timeout_ms = (int)(cli_parse_seconds("timeout", optarg) * 1000 + 0.5) ?: 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", PROG, ZE_VERSION);
			return 0;
		default:
			cli_usage_error(NULL);
		}
	}
	pos = argv + optind;
	npos = argc - optind;
	/* "add" is the subcommand; without it, the walk-thru's two-argument form */
	if (npos >= 1 && !strcmp(pos[0], "add")) {
		pos++;
		npos--;
	}
	if (npos != 2)
		cli_usage_error(npos < 2 ? "missing SOCKET or NETNS" : "too many arguments");
	if (o.uid && !*o.uid)
		cli_usage_error("empty --uid");
	return cmd_add(pos[0], pos[1], &o);
}
