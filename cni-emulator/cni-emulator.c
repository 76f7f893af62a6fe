/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cni-emulator: the istio-cni node agent's side of Istio ambient's in-pod
 * handoff. Opens a pod's network namespace, checks it, and sends its fd to
 * ztunnel over ZDS v1 (SCM_RIGHTS on an Add request), then waits for the Ack.
 * del and keep send a pod's uid; sync replays istio-cni's snapshot after a
 * restart on one connection: an Add per netns, then SnapshotSent.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fdpass.h"
#include "log.h"
#include "netns.h"
#include "uds.h"
#include "zds.h"

#define PROG "cni-emulator"
#define NETNS_DIR "/run/netns"

enum cmd { CMD_ADD, CMD_DEL, CMD_KEEP, CMD_SYNC };

static const char *const cmd_names[] = { "add", "del", "keep", "sync" };

/* One bit per option given, so that a subcommand can refuse those it has no use for. */
enum { OPT_UID = 1, OPT_NAME = 2, OPT_NAMESPACE = 4, OPT_SA = 8, OPT_ALL = 16 };

struct opts {
	const char *uid, *name, *namespace_, *service_account;
	unsigned int given;
	int timeout_ms;
};

/* One connection to the daemon. Every error it prints starts with pfx. */
struct zconn {
	int sock;
	const char *path;
	int timeout_ms;
	const char *pfx;	/* "" or e.g. "pod \"uid\": " */
	uint8_t buf[ZDS_MAX_MSG];
};

/* zconn_call's outcomes besides the ack (0) */
enum { CALL_NACK = 1, CALL_NOT_SENT = -1, CALL_NO_ACK = -2 };

/* A pod to Add: its netns fd, uid and encoded request, all ready before connecting. */
struct pod {
	const char *spec;
	char *spec_owned;
	int nsfd;
	const char *uid;
	char uidbuf[32];
	size_t len;
	uint8_t msg[ZDS_MAX_MSG];
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [add] [OPTIONS] SOCKET NETNS\n"
		"       %s del [--timeout SECONDS] SOCKET UID\n"
		"       %s keep [--timeout SECONDS] SOCKET UID\n"
		"       %s sync [OPTIONS] SOCKET [NETNS...]\n"
		"       %s sync --all [OPTIONS] SOCKET\n"
		"\n"
		"Emulates the istio-cni node agent's side of Istio ambient's in-pod handoff,\n"
		"talking ZDS v1 to ztunnel-emulator on the Unix socket SOCKET.\n"
		"\n"
		"  add   opens the pod's network namespace NETNS and sends its fd to the daemon\n"
		"        (an Add with SCM_RIGHTS), then waits for the ack. Prints 'listeners\n"
		"        ready' once the daemon has bound the pod's listeners.\n"
		"  del   deletes pod UID: the daemon closes its listeners (an unknown UID is\n"
		"        acked too). Prints 'pod UID deleted'.\n"
		"  keep  sends a Keep for pod UID, as istio-cni does in a snapshot for a pod\n"
		"        whose netns it has not found; alone on a connection it changes\n"
		"        nothing. Prints 'pod UID kept'.\n"
		"  sync  what istio-cni does after a restart: on one connection an Add per NETNS,\n"
		"        each acked in turn, then SnapshotSent; the daemon drains every pod not\n"
		"        listed (with no NETNS, all of them). --all lists every network\n"
		"        namespace under " NETNS_DIR ", sorted by name. Prints 'UID: listeners\n"
		"        ready' or 'UID: <the daemon's nack>' per pod, then a 'sync:' summary.\n"
		"\n"
		"NETNS is a path (/var/run/netns/ns2), a name under /run/netns (ns2), or a\n"
		"process id (1234 = /proc/1234/ns/net). Every NETNS is opened and checked\n"
		"before anything is sent.\n"
		"\n"
		"Options:\n"
		"  -u, --uid UID                 add: pod uid (default: the netns name, or\n"
		"                                netns-<inode> for other paths and pids)\n"
		"  -n, --name NAME               add: pod name (default: as the uid)\n"
		"  -N, --namespace NAMESPACE     add, sync: pod's Kubernetes namespace\n"
		"                                (default: default)\n"
		"  -s, --service-account SA      add, sync: pod's service account\n"
		"                                (default: default)\n"
		"  -a, --all                     sync: every network namespace under " NETNS_DIR "\n"
		"  -t, --timeout SECONDS         deadline for each step: hello, each send, each\n"
		"                                ack (default 5)\n"
		"  -h, --help                    show this help and exit\n"
		"  -V, --version                 show the version and exit\n"
		"\n"
		"Exit status: 0 when the daemon acked every request, 1 on a nack, timeout or\n"
		"error, 2 on a usage error.\n",
		PROG, PROG, PROG, PROG, PROG);
}

/* Opens and checks NETNS before anything reaches the daemon: fd, or -errno and why. */
static int open_netns(const char *spec, char *path, size_t cap, const char **name, char *why,
		      size_t whycap)
{
	int fd, ret = netns_resolve(spec, path, cap, name);

	if (ret == -EINVAL) {
		snprintf(why, whycap, "invalid network namespace '%s'", spec);
		return ret;
	}
	if (ret) {
		snprintf(why, whycap, "%s: %s", spec, strerror(-ret));
		return ret;
	}
	fd = netns_open_path(path, &ret);
	if (fd >= 0)
		return fd;
	if (fd == -ENOENT && *name)
		snprintf(why, whycap, "%s: No such file or directory (create it with 'ip netns add %s')",
			 path, *name);
	else if (fd == -ENOTTY)
		snprintf(why, whycap, "%s: not a namespace file", path);
	else if (fd == -EINVAL)
		snprintf(why, whycap, "%s: is a %s namespace, not a network namespace", path,
			 ns_type_name(ret));
	else
		snprintf(why, whycap, "%s: %s", path, strerror(-fd));
	return fd;
}

/* Encodes a request into out (ZDS_MAX_MSG bytes): its length, or -ENOBUFS. */
static ssize_t encode_req(uint8_t *out, enum zds_req_type type, const char *uid, const char *name,
			  const struct opts *o)
{
	struct zds_request req = { .type = type, .uid = zds_str_c(uid) };

	if (type == ZDS_REQ_ADD) {
		req.has_workload_info = true;
		req.info.name = zds_str_c(name);
		req.info.namespace_ = zds_str_c(o->namespace_);
		req.info.service_account = zds_str_c(o->service_account);
	}
	return zds_encode_request(out, ZDS_MAX_MSG, &req);
}

/*
 * Opens spec and encodes its Add; uid and name default per netns (its name,
 * else netns-<inode>, so that two pods never share a uid by accident).
 * 0, or -errno with why (prefixed with ctx, when not NULL, for errors that
 * would not name the netns). Leaves no fd open on error.
 */
static int pod_prepare(struct pod *p, const char *spec, const struct opts *o, const char *ctx,
		       char *why, size_t whycap)
{
	char path[4096];
	const char *name;
	struct netns_id id;
	ssize_t n;

	p->spec = spec;
	p->nsfd = open_netns(spec, path, sizeof(path), &name, why, whycap);
	if (p->nsfd < 0)
		return p->nsfd;
	p->uid = o->uid;
	if (!p->uid && name) {
		p->uid = name;
	} else if (!p->uid) {
		netns_fd_id(p->nsfd, &id);
		snprintf(p->uidbuf, sizeof(p->uidbuf), "netns-%llu", (unsigned long long)id.ino);
		p->uid = p->uidbuf;
	}
	n = encode_req(p->msg, ZDS_REQ_ADD, p->uid, o->name ? o->name : p->uid, o);
	if (n < 0) {
		snprintf(why, whycap, "%s%sthe add request would exceed %d bytes; use shorter names",
			 ctx ? ctx : "", ctx ? ": " : "", ZDS_MAX_MSG);
		close(p->nsfd);
		p->nsfd = -1;
		return -ENOBUFS;
	}
	p->len = (size_t)n;
	return 0;
}

static int recv_step(struct zconn *c, const char *what, size_t *len)
{
	struct fdpass_msg m;
	int ret = uds_recv_timeout(c->sock, c->buf, ZDS_MAX_MSG, c->timeout_ms, &m);

	if (ret == -ETIMEDOUT)
		return cli_err("%s%s: timed out after %gs waiting for the %s", c->pfx, c->path,
			       c->timeout_ms / 1000.0, what);
	if (ret == -EMSGSIZE)
		return cli_err("%s%s: the %s is longer than %d bytes", c->pfx, c->path, what,
			       ZDS_MAX_MSG);
	if (ret)
		return cli_err("%s%s: receiving the %s: %s", c->pfx, c->path, what, strerror(-ret));
	if (m.nfds) {
		fdpass_close_fds(&m);
		return cli_err("%s%s: the %s unexpectedly carried file descriptors", c->pfx, c->path,
			       what);
	}
	if (m.len == 0)
		return cli_err("%s%s: the daemon closed the connection before the %s", c->pfx,
			       c->path, what);
	*len = m.len;
	return 0;
}

/* Connects and checks the daemon's hello: 0, or 1 after printing why. */
static int zconn_open(struct zconn *c)
{
	const char *why = NULL;
	uint64_t version;
	size_t len;

	c->sock = uds_connect(c->path);
	if (c->sock < 0) {
		int err = -c->sock;

		if (err == ENOENT || err == ECONNREFUSED)
			return cli_err("%sconnect to %s: %s (is ztunnel-emulator running?)", c->pfx,
				       c->path, strerror(err));
		if (err == EPROTOTYPE)
			return cli_err("%sconnect to %s: not a ZDS (SOCK_SEQPACKET) socket", c->pfx,
				       c->path);
		return cli_err("%sconnect to %s: %s", c->pfx, c->path, strerror(err));
	}
	if (recv_step(c, "hello", &len))
		return 1;
	if (zds_decode_hello(c->buf, len, &version, &why))
		return cli_err("%s%s: malformed hello: %s", c->pfx, c->path, why);
	if (version != ZDS_VERSION_V1)
		return cli_err("%s%s: unsupported ZDS version %llu in the hello (want 1)", c->pfx,
			       c->path, (unsigned long long)version);
	return 0;
}

static void zconn_close(struct zconn *c)
{
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
}

/*
 * Sends one request (carrying nsfd when it is >= 0) and waits for its ack:
 * 0 when acked; CALL_NACK with *nack the daemon's text (a view into c->buf);
 * CALL_NOT_SENT or CALL_NO_ACK after printing why the exchange failed.
 */
static int zconn_call(struct zconn *c, const uint8_t *msg, size_t len, int nsfd, const char *what,
		      struct zds_str *nack)
{
	struct zds_response resp;
	const char *why = NULL;
	size_t n;
	int ret = uds_send_timeout(c->sock, msg, len, &nsfd, nsfd >= 0, c->timeout_ms);

	if (ret == -ETIMEDOUT) {
		cli_err("%s%s: timed out after %gs sending the %s", c->pfx, c->path,
			c->timeout_ms / 1000.0, what);
		return CALL_NOT_SENT;
	}
	if (ret == -EPIPE || ret == -ECONNRESET) {
		cli_err("%s%s: the daemon closed the connection before the %s was sent", c->pfx,
			c->path, what);
		return CALL_NOT_SENT;
	}
	if (ret) {
		cli_err("%s%s: sending the %s: %s", c->pfx, c->path, what, strerror(-ret));
		return CALL_NOT_SENT;
	}
	if (recv_step(c, "ack", &n))
		return CALL_NO_ACK;
	if (zds_decode_response(c->buf, n, &resp, &why)) {
		cli_err("%s%s: malformed response: %s", c->pfx, c->path, why);
		return CALL_NO_ACK;
	}
	if (!resp.has_ack) {
		cli_err("%s%s: the response carries no ack", c->pfx, c->path);
		return CALL_NO_ACK;
	}
	*nack = resp.error;
	return resp.error.len ? CALL_NACK : 0;
}

static int cmd_add(const char *socket_path, const char *spec, const struct opts *o)
{
	struct zconn c = { .sock = -1, .path = socket_path, .timeout_ms = o->timeout_ms, .pfx = "" };
	char why[8192], q[1100];
	struct zds_str nack;
	struct pod p;
	int ret;

	if (pod_prepare(&p, spec, o, NULL, why, sizeof(why)))
		return cli_err("%s", why);
	ret = zconn_open(&c) ? CALL_NOT_SENT :
			       zconn_call(&c, p.msg, p.len, p.nsfd, "add request", &nack);
	if (ret == CALL_NACK)
		cli_err("pod %s: %.*s", log_quote(q, sizeof(q), p.uid, strlen(p.uid)), (int)nack.len,
			nack.p);
	else if (ret == 0)
		printf("listeners ready\n");
	zconn_close(&c);
	close(p.nsfd);
	return ret ? 1 : 0;
}

/* del and keep: one request naming a pod by uid. */
static int cmd_uid(enum cmd cmd, const char *socket_path, const char *uid, const struct opts *o)
{
	enum zds_req_type type = cmd == CMD_DEL ? ZDS_REQ_DEL : ZDS_REQ_KEEP;
	char q[1100], pfx[1110], what[32];
	struct zconn c = { .sock = -1, .path = socket_path, .timeout_ms = o->timeout_ms, .pfx = pfx };
	uint8_t msg[ZDS_MAX_MSG];
	struct zds_str nack;
	ssize_t n;
	int ret;

	snprintf(pfx, sizeof(pfx), "pod %s: ", log_quote(q, sizeof(q), uid, strlen(uid)));
	snprintf(what, sizeof(what), "%s request", cmd_names[cmd]);
	n = encode_req(msg, type, uid, NULL, o);
	if (n < 0)
		return cli_err("%sthe %s would exceed %d bytes; use a shorter UID", pfx, what,
			       ZDS_MAX_MSG);
	ret = zconn_open(&c) ? CALL_NOT_SENT : zconn_call(&c, msg, (size_t)n, -1, what, &nack);
	if (ret == CALL_NACK)
		cli_err("%s%.*s", pfx, (int)nack.len, nack.p);
	else if (ret == 0)
		printf("pod %s %s\n", uid, cmd == CMD_DEL ? "deleted" : "kept");
	zconn_close(&c);
	return ret ? 1 : 0;
}

static int netns_dir_entry(const struct dirent *e)
{
	return strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
}

/* One entry of NETNS_DIR for sync --all: 0 prepared, 1 skipped (warned), -1 after printing why. */
static int prepare_entry(struct pod *p, const char *entry, const struct opts *o)
{
	char why[8192];
	struct stat st;
	int ret;

	if (asprintf(&p->spec_owned, NETNS_DIR "/%s", entry) < 0) {
		p->spec_owned = NULL;
		return cli_err("out of memory"), -1;
	}
	/* opening a fifo would block; a netns bind mount is a regular file */
	if (stat(p->spec_owned, &st) == 0 && !S_ISREG(st.st_mode)) {
		cli_err("warning: %s: not a namespace file; skipped", p->spec_owned);
		ret = 1;
	} else {
		ret = pod_prepare(p, p->spec_owned, o, p->spec_owned, why, sizeof(why));
		if (ret == -ENOENT)
			cli_err("warning: %s: removed while listing; skipped", p->spec_owned);
		else if (ret == -ENOTTY || ret == -EINVAL)
			cli_err("warning: %s; skipped", why);
		else if (ret)
			cli_err("%s", why);
		ret = ret == -ENOENT || ret == -ENOTTY || ret == -EINVAL ? 1 : ret ? -1 : 0;
	}
	if (ret) {
		free(p->spec_owned);
		p->spec_owned = NULL;
	}
	return ret;
}

static void pods_free(struct pod *pods, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		close(pods[i].nsfd);
		free(pods[i].spec_owned);
	}
	free(pods);
}

/*
 * Opens and checks every NETNS (or, with all, every entry under NETNS_DIR)
 * into *pods: their number, or -1 after printing why (nothing left open).
 */
static ssize_t prepare_pods(struct pod **pods, char **specs, size_t nspecs, bool all,
			    const struct opts *o)
{
	struct dirent **ents = NULL;
	char why[8192];
	size_t i, n = nspecs, npods = 0;
	int ret = 0, scanned;

	if (all) {
		scanned = scandir(NETNS_DIR, &ents, netns_dir_entry, alphasort);
		if (scanned < 0 && errno != ENOENT)
			return cli_err("%s: %s", NETNS_DIR, strerror(errno)), -1;
		n = scanned < 0 ? 0 : (size_t)scanned;	/* no `ip netns add` yet: no pods */
	}
	*pods = calloc(n ? n : 1, sizeof(**pods));
	if (!*pods)
		ret = cli_err("out of memory");
	for (i = 0; i < n && !ret; i++) {
		if (all) {
			ret = prepare_entry(&(*pods)[npods], ents[i]->d_name, o);
			npods += !ret;
			ret = ret < 0;
		} else if (pod_prepare(&(*pods)[npods], specs[i], o, specs[i], why, sizeof(why))) {
			ret = cli_err("%s", why);
		} else {
			npods++;
		}
	}
	for (i = 0; all && i < n; i++)
		free(ents[i]);
	free(ents);
	if (ret) {
		pods_free(*pods, npods);
		*pods = NULL;
		return -1;
	}
	return (ssize_t)npods;
}

/*
 * What the daemon would refuse in a way that ends the connection for every
 * pod after it: a uid listed twice, strings that are not UTF-8 (decoding our
 * own request is the daemon's strictness). 0, or 1 after printing why.
 */
static int check_pods(const struct pod *pods, size_t npods)
{
	struct zds_request req;
	const char *why = NULL;
	char q[1100];
	size_t i, j;

	for (i = 0; i < npods; i++) {
		log_quote(q, sizeof(q), pods[i].uid, strlen(pods[i].uid));
		if (zds_decode_request(pods[i].msg, pods[i].len, &req, &why))
			return cli_err("%s: pod %s: %s; the daemon would refuse the add request",
				       pods[i].spec, q, why);
		for (j = 0; j < i; j++)
			if (!strcmp(pods[i].uid, pods[j].uid))
				return cli_err("%s: pod %s is already listed (as %s)", pods[i].spec, q,
					       pods[j].spec);
	}
	return 0;
}

/* The pods from..npods-1 as "a", "b", ... on f. */
static void print_uids(FILE *f, const struct pod *pods, size_t from, size_t npods)
{
	char q[1100];
	size_t i;

	for (i = from; i < npods; i++)
		fprintf(f, "%s%s", i > from ? ", " : "",
			log_quote(q, sizeof(q), pods[i].uid, strlen(pods[i].uid)));
}

static int cmd_sync(const char *socket_path, char **specs, size_t nspecs, bool all,
		    const struct opts *o)
{
	char q[1100], pfx[1110], *line = NULL;
	struct zconn c = { .sock = -1, .path = socket_path, .timeout_ms = o->timeout_ms, .pfx = pfx };
	size_t i, sent = 0, ready = 0, failed = 0, linelen = 0;
	uint8_t snap[16];
	struct zds_str nack = { NULL, 0 };
	struct pod *pods;
	ssize_t n, npods;
	FILE *f;
	int ret = 0, snap_ret = CALL_NOT_SENT;

	npods = prepare_pods(&pods, specs, nspecs, all, o);
	if (npods < 0)
		return 1;
	n = encode_req(snap, ZDS_REQ_SNAPSHOT_SENT, NULL, NULL, o);
	pfx[0] = '\0';
	if (n < 0 || check_pods(pods, (size_t)npods) || zconn_open(&c)) {
		zconn_close(&c);
		pods_free(pods, (size_t)npods);
		return 1;
	}

	for (i = 0; i < (size_t)npods; i++) {
		struct pod *p = &pods[i];

		snprintf(pfx, sizeof(pfx), "pod %s: ", log_quote(q, sizeof(q), p->uid, strlen(p->uid)));
		ret = zconn_call(&c, p->msg, p->len, p->nsfd, "add request", &nack);
		if (ret == CALL_NOT_SENT)
			break;
		sent++;
		if (ret == CALL_NO_ACK)
			break;
		if (ret == CALL_NACK)
			printf("%s: %.*s\n", p->uid, (int)nack.len, nack.p);
		else
			printf("%s: listeners ready\n", p->uid);
		ready += !ret;
		failed += ret == CALL_NACK;
	}
	if (i == (size_t)npods) {
		snprintf(pfx, sizeof(pfx), "snapshot: ");
		snap_ret = zconn_call(&c, snap, (size_t)n, -1, "snapshot request", &nack);
	}
	zconn_close(&c);

	/* the summary: on stdout when the snapshot was acknowledged, else an error */
	f = open_memstream(&line, &linelen);
	if (!f) {
		pods_free(pods, (size_t)npods);
		return cli_err("out of memory");
	}
	fprintf(f, "sync: %zu pod%s sent, %zu ready, %zu failed", sent, sent == 1 ? "" : "s", ready,
		failed);
	if (i < (size_t)npods && ret == CALL_NO_ACK)
		fprintf(f, ", 1 unanswered");
	if (snap_ret == 0) {
		fprintf(f, "; snapshot acknowledged (pods not listed were drained)");
	} else if (snap_ret == CALL_NACK) {
		fprintf(f, "; snapshot nacked: %.*s", (int)nack.len, nack.p);
	} else if (i < (size_t)npods) {
		fprintf(f, "; connection lost");
		if (sent < (size_t)npods) {
			fprintf(f, ", not sent: ");
			print_uids(f, pods, sent, (size_t)npods);
		}
		fprintf(f, "; snapshot not sent (nothing drained)");
	} else if (snap_ret == CALL_NOT_SENT) {
		fprintf(f, "; connection lost; snapshot not sent (nothing drained)");
	} else {
		fprintf(f, "; connection lost; snapshot unanswered (pods not listed may have been drained)");
	}
	fclose(f);
	if (snap_ret == 0)
		printf("%s\n", line);
	else
		cli_err("%s", line);
	free(line);
	pods_free(pods, (size_t)npods);
	return snap_ret == 0 && !failed ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "uid", required_argument, NULL, 'u' },
		{ "name", required_argument, NULL, 'n' },
		{ "namespace", required_argument, NULL, 'N' },
		{ "service-account", required_argument, NULL, 's' },
		{ "all", no_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	/* the options each subcommand takes besides --timeout */
	static const unsigned int allowed[] = {
		[CMD_ADD] = OPT_UID | OPT_NAME | OPT_NAMESPACE | OPT_SA,
		[CMD_DEL] = 0,
		[CMD_KEEP] = 0,
		[CMD_SYNC] = OPT_NAMESPACE | OPT_SA | OPT_ALL,
	};
	static const char *const opt_names[] = { "--uid", "--name", "--namespace",
						 "--service-account", "--all" };
	struct opts o = {
		.namespace_ = "default",
		.service_account = "default",
		.timeout_ms = 5000,
	};
	enum cmd cmd = CMD_ADD;
	unsigned int bad;
	char **pos;
	int c, npos, i;

	cli_set_prog(PROG);
	while ((c = getopt_long(argc, argv, "u:n:N:s:at:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o.uid = optarg;
			o.given |= OPT_UID;
			break;
		case 'n':
			o.name = optarg;
			o.given |= OPT_NAME;
			break;
		case 'N':
			o.namespace_ = optarg;
			o.given |= OPT_NAMESPACE;
			break;
		case 's':
			o.service_account = optarg;
			o.given |= OPT_SA;
			break;
		case 'a':
			o.given |= OPT_ALL;
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
	/* a subcommand; without one, the walk-thru's two-argument form of add */
	for (i = 0; npos >= 1 && i < (int)(sizeof(cmd_names) / sizeof(cmd_names[0])); i++) {
		if (!strcmp(pos[0], cmd_names[i])) {
			cmd = (enum cmd)i;
			pos++;
			npos--;
			break;
		}
	}
	bad = o.given & ~allowed[cmd];
	if (bad) {
		i = __builtin_ctz(bad);
		cli_usage_error("%s is not valid with '%s'%s", opt_names[i], cmd_names[cmd],
				cmd == CMD_SYNC ? " (each pod's uid and name come from its NETNS)" :
				cmd == CMD_ADD ? " (it is for sync)" :
				(bad & OPT_UID) ? " (give the UID as an argument)" : "");
	}
	/* live output when a sync of many pods runs into a pipe */
	setvbuf(stdout, NULL, _IOLBF, 0);
	switch (cmd) {
	case CMD_ADD:
		if (npos != 2)
			cli_usage_error(npos < 2 ? "missing SOCKET or NETNS" : "too many arguments");
		if (o.uid && !*o.uid)
			cli_usage_error("empty --uid");
		return cmd_add(pos[0], pos[1], &o);
	case CMD_DEL:
	case CMD_KEEP:
		if (npos != 2)
			cli_usage_error(npos < 2 ? "missing SOCKET or UID" : "too many arguments");
		if (!*pos[1])
			cli_usage_error("empty UID");
		return cmd_uid(cmd, pos[0], pos[1], &o);
	case CMD_SYNC:
		if (npos < 1)
			cli_usage_error("missing SOCKET");
		if ((o.given & OPT_ALL) && npos > 1)
			cli_usage_error("--all takes no NETNS arguments");
		return cmd_sync(pos[0], pos + 1, (size_t)npos - 1, o.given & OPT_ALL, &o);
	}
	return 1;
}
