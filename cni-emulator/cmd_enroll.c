/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: `cni-emulator enroll` and `unenroll`: their options, and an HTTP/1.1
 * client for the agent's control socket (POST /enroll, POST /unenroll).
 * Never touches: ZDS or rules (the agent does). Interface: cni.h.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "clock.h"
#include "cli.h"
#include "cni.h"

/* The agent answers after the ztunnel's ack (5 s) and the rules: room for both. */
#define REQUEST_TIMEOUT_MS 20000
#define REPLY_MAX 65536

static void enroll_usage(FILE *out, bool un)
{
	if (un) {
		fprintf(out,
			"Usage: %s unenroll [--agent PATH] NETNS|UID\n"
			"\n"
			"Ask a running 'cni-emulator agent' to take a pod (by uid, or by its\n"
			"netns) out of the mesh: its rules removed when the agent has --redirect,\n"
			"then a Del to every ztunnel. Prints 'pod UID removed from the mesh', else\n"
			"the agent's or ztunnel's error.\n"
			"\n"
			"Options:\n"
			"      --agent PATH             the agent's control socket (default\n"
			"                               " AGENT_DEFAULT_CONTROL ")\n"
			"  -h, --help                   show this help and exit\n"
			"  -V, --version                show the version and exit\n"
			"\n"
			"Exit status: 0 when done, 1 on an error, 2 on a usage error.\n",
			PROG);
		return;
	}
	fprintf(out,
		"Usage: %s enroll [--agent PATH] [--uid U] [--name N] [--namespace NS]\n"
		"                    [--service-account SA] NETNS\n"
		"\n"
		"Ask a running 'cni-emulator agent' to enrol a pod: it opens NETNS,\n"
		"installs the pod's rules when it has --redirect, sends the Add to the\n"
		"newest ztunnel and waits for its ack. Prints 'pod UID enrolled', else the\n"
		"agent's or ztunnel's error. A pod no ztunnel took ('no ztunnel\n"
		"connection') stays enrolled and goes out in the next snapshot.\n"
		"\n"
		"Options:\n"
		"      --agent PATH             the agent's control socket (default\n"
		"                               " AGENT_DEFAULT_CONTROL ")\n"
		"  -u, --uid UID                pod uid (default: the netns name)\n"
		"      --name NAME              pod name (default: the uid)\n"
		"  -N, --namespace NAMESPACE    the pod's namespace (default: default)\n"
		"  -s, --service-account SA     its service account (default: default)\n"
		"  -h, --help                   show this help and exit\n"
		"  -V, --version                show the version and exit\n"
		"\n"
		"Exit status: 0 when done, 1 on an error from the agent or ztunnel, 2 on a\n"
		"usage error.\n",
		PROG);
}

/* Writes all of buf before the deadline: 0 or -errno. */
static int send_all(int fd, const char *buf, size_t len, const struct timespec *deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	ssize_t n;

	while (len) {
		if (poll(&p, 1, (int)ms_until(deadline)) <= 0)
			return -ETIMEDOUT;
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

/* Reads until the agent closes (Connection: close): the length, or -errno. */
static ssize_t recv_all(int fd, char *buf, size_t cap, const struct timespec *deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	for (;;) {
		if (poll(&p, 1, (int)ms_until(deadline)) <= 0)
			return -ETIMEDOUT;
		n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n == 0 || len + (size_t)(n > 0 ? n : 0) >= cap - 1)
			break;
		if (n > 0)
			len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

static int connect_agent(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* POSTs body to route; *status and reply (the body) from the answer: 0 or -errno. */
static int agent_post(const char *path, const char *route, const char *body, unsigned *status,
		      char *reply, size_t cap)
{
	char *req = NULL, *resp = malloc(REPLY_MAX), *p;
	struct timespec deadline;
	ssize_t n;
	int fd, ret;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	timespec_add(&deadline, REQUEST_TIMEOUT_MS / 1000.0);
	fd = connect_agent(path);
	if (fd < 0 || !resp) {
		free(resp);
		return fd < 0 ? fd : -ENOMEM;
	}
	ret = asprintf(&req, "POST %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		       route, strlen(body), body) < 0 ? -ENOMEM : 0;
	if (!ret)
		ret = send_all(fd, req, strlen(req), &deadline);
	n = ret ? ret : recv_all(fd, resp, REPLY_MAX, &deadline);
	close(fd);
	free(req);
	ret = n < 0 ? (int)n : 0;
	if (!ret && (sscanf(resp, "HTTP/1.%*c %u", status) != 1 || !(p = strstr(resp, "\r\n\r\n"))))
		ret = -EBADMSG;
	if (!ret)
		snprintf(reply, cap, "%s", p + 4);
	free(resp);
	return ret;
}

enum { E_AGENT = 400, E_NAME };

static const struct option enroll_opts[] = {
	{ "agent", required_argument, NULL, E_AGENT },
	{ "uid", required_argument, NULL, 'u' },
	{ "name", required_argument, NULL, E_NAME },
	{ "namespace", required_argument, NULL, 'N' },
	{ "service-account", required_argument, NULL, 's' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* The request body: the pod for /enroll, {"pod"} for /unenroll; malloc'ed or NULL. */
static char *enroll_body(bool un, const char *target, const char *const fields[4])
{
	static const char *const keys[4] = { "uid", "name", "namespace", "serviceAccount" };
	json_t *o = json_object();
	char *s;
	int i;

	json_object_set_new(o, un ? "pod" : "netns", json_string(target));
	for (i = 0; !un && i < 4; i++)
		if (fields[i])
			json_object_set_new(o, keys[i], json_string(fields[i]));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Prints the agent's answer: 0 on 200, else 1. */
static int report(unsigned status, char *reply)
{
	size_t len = strlen(reply);

	while (len && reply[len - 1] == '\n')
		reply[--len] = '\0';
	if (status == 200) {
		printf("%s\n", reply);
		return 0;
	}
	return cli_err("%s", len ? reply : "the agent answered an error without a reason");
}

int cmd_enroll_main(int argc, char **argv, bool un)
{
	const char *agent = AGENT_DEFAULT_CONTROL, *fields[4] = { NULL, NULL, NULL, NULL };
	char reply[4096], *body;
	unsigned status = 0;
	int c, ret;

	while ((c = getopt_long(argc, argv, "u:N:s:hV", enroll_opts, NULL)) != -1) {
		switch (c) {
		case E_AGENT: agent = optarg; break;
		case 'u': fields[0] = optarg; break;
		case E_NAME: fields[1] = optarg; break;
		case 'N': fields[2] = optarg; break;
		case 's': fields[3] = optarg; break;
		case 'h':
			enroll_usage(stdout, un);
			return cli_close_stdout();
		case 'V':
			printf("%s %s\n", PROG, ZE_VERSION);
			return cli_close_stdout();
		default:
			cli_usage_error(NULL);
		}
		if (c != E_AGENT && un)
			cli_usage_error("unenroll takes only --agent and NETNS|UID");
		if (!*optarg)
			cli_usage_error("empty option value");
	}
	if (argc - optind != 1)
		cli_usage_error(argc == optind ? "missing %s" : "too many arguments",
				un ? "NETNS or UID" : "NETNS");
	if (!*argv[optind])
		cli_usage_error("empty %s", un ? "NETNS or UID" : "NETNS");
	body = enroll_body(un, argv[optind], fields);
	if (!body)
		return cli_err("out of memory");
	ret = agent_post(agent, un ? "/unenroll" : "/enroll", body, &status, reply, sizeof(reply));
	free(body);
	if (ret)
		return cli_err("cannot reach the agent on %s: %s", agent,
			       ret == -EBADMSG ? "not an HTTP answer" : strerror(-ret));
	return report(status, reply);
}
