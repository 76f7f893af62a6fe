/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cni-emulator: the istio-cni node agent's side of Istio ambient's in-pod
 * handoff. Opens a pod's network namespace, checks it, and sends its fd to
 * ztunnel over ZDS v1 (SCM_RIGHTS on an Add request), then waits for the Ack.
 * del and keep send a pod's uid; sync replays istio-cni's snapshot after a
 * restart on one connection: an Add per netns, then SnapshotSent.
 * With --redirect, add first installs istio-cni's in-pod redirection rules
 * (common/redirect.h), as istio-cni does before it hands a pod to ztunnel;
 * inspect shows in one view what a person checks when debugging a pod.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dump.h"
#include "fdpass.h"
#include "guard.h"
#include "log.h"
#include "netns.h"
#include "redirect.h"
#include "sockdiag.h"
#include "uds.h"
#include "zds.h"

#define PROG "cni-emulator"
#define NETNS_DIR "/run/netns"
#define DEFAULT_ADMIN "http://127.0.0.1:15000"

enum cmd { CMD_ADD, CMD_DEL, CMD_KEEP, CMD_SYNC, CMD_INSPECT };

static const char *const cmd_names[] = { "add", "del", "keep", "sync", "inspect" };

/* One bit per option given, so that a subcommand can refuse those it has no use for. */
enum {
	OPT_UID = 1,
	OPT_NAME = 2,
	OPT_NAMESPACE = 4,
	OPT_SA = 8,
	OPT_ALL = 16,
	OPT_REDIRECT = 32,
	OPT_DNS = 64,
	OPT_NETNS = 128,
	OPT_JSON = 256,
	OPT_SOCKET = 512,
	OPT_ADMIN = 1024,
	OPT_ALLOW_HOST = 2048,
	OPT_RESTORE = 4096,
};

/* long-only options */
enum { LO_REDIRECT = 256, LO_DNS, LO_NETNS, LO_JSON, LO_SOCKET, LO_ADMIN, LO_ALLOW_HOST, LO_RESTORE };

struct opts {
	const char *uid, *name, *namespace_, *service_account;
	unsigned int given;
	int timeout_ms;
	enum rd_variant variant;	/* with --redirect */
	bool dns_capture;
	const char *netns;		/* del --netns */
	const char *socket, *admin;	/* inspect */
};

/* One connection to the daemon. Every error it prints starts with pfx. */
struct zconn {
	int sock;
	const char *path;
	int timeout_ms;
	const char *pfx;	/* "" or e.g. "pod \"uid\": " */
	int sigfd;		/* guard_signals()'s fd, or -1: waits end on SIGINT/SIGTERM/SIGHUP */
	int signo;		/* the signal that ended a wait, or 0 */
	uint8_t buf[ZDS_MAX_MSG];
};

/* zconn_call's outcomes besides the ack (0) */
enum { CALL_NACK = 1, CALL_NOT_SENT = -1, CALL_NO_ACK = -2 };

/* A pod to Add: its netns fd, uid and encoded request, all ready before connecting. */
struct pod {
	const char *spec;
	char *spec_owned;
	const char *where;	/* the netns as messages name it: its name, else spec */
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
		"       %s del [--netns NETNS] [--timeout SECONDS] SOCKET UID\n"
		"       %s keep [--timeout SECONDS] SOCKET UID\n"
		"       %s sync [OPTIONS] SOCKET [NETNS...]\n"
		"       %s sync --all [OPTIONS] SOCKET\n"
		"       %s inspect [--json] [--socket SOCKET] [--admin URL] NETNS\n"
		"\n"
		"Emulates the istio-cni node agent's side of Istio ambient's in-pod handoff,\n"
		"talking ZDS v1 to ztunnel-emulator on the Unix socket SOCKET.\n"
		"\n"
		"  add   opens the pod's network namespace NETNS and sends its fd to the daemon\n"
		"        (an Add with SCM_RIGHTS), then waits for the ack. Prints 'listeners\n"
		"        ready' once the daemon has bound the pod's listeners. With --redirect\n"
		"        it first installs istio-cni's redirection rules in NETNS (a 'rules:'\n"
		"        line says what it did) and removes them again if the add fails.\n"
		"  del   deletes pod UID: the daemon closes its listeners (an unknown UID is\n"
		"        acked too). Prints 'pod UID deleted'. With --netns it first removes\n"
		"        the redirection rules from NETNS, if the netns still exists.\n"
		"  keep  sends a Keep for pod UID, as istio-cni does in a snapshot for a pod\n"
		"        whose netns it has not found; alone on a connection it changes\n"
		"        nothing. Prints 'pod UID kept'.\n"
		"  sync  what istio-cni does after a restart: on one connection an Add per NETNS,\n"
		"        each acked in turn, then SnapshotSent; the daemon drains every pod not\n"
		"        listed (with no NETNS, all of them). --all lists every network\n"
		"        namespace under " NETNS_DIR ", sorted by name. Prints 'UID: listeners\n"
		"        ready' or 'UID: <the daemon's nack>' per pod, then a 'sync:' summary.\n"
		"  inspect  shows what to check when debugging a pod: the TCP/UDP listeners in\n"
		"        NETNS and their processes, the ISTIO_* chains with packet and byte\n"
		"        counters per rule, the ip rule and the routes of table 100, and\n"
		"        whether the daemon (its /config_dump) has the netns enrolled.\n"
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
		"      --redirect[=VARIANT]      add, sync: install the in-pod redirection rules\n"
		"                                first: tproxy (Istio 1.21-1.23, the default) or\n"
		"                                redirect (Istio >= 1.24); plus the ip rule\n"
		"                                fwmark 0x111/0xfff lookup 100 and its route\n"
		"      --dns-capture=BOOL        with --redirect: true (default) or false (no\n"
		"                                port 53 -> 15053 rules)\n"
		"      --allow-host-netns        with --redirect: also a NETNS that is the host's\n"
		"                                (cni-emulator's own, init's or the daemon's),\n"
		"                                refused otherwise before anything is changed\n"
		"      --iptables-restore PATH   with --redirect or --netns: run this executable\n"
		"                                (an absolute path) instead of iptables-restore\n"
		"      --netns NETNS             del: remove the redirection rules from NETNS\n"
		"      --json                    inspect: one JSON object on stdout\n"
		"      --socket SOCKET           inspect: also check that the daemon answers on\n"
		"                                SOCKET (its ZDS hello), and without --admin\n"
		"                                read that daemon's /config_dump (found from its\n"
		"                                pid and listening ports)\n"
		"      --admin URL               inspect: the daemon's admin endpoint\n"
		"                                (default " DEFAULT_ADMIN ")\n"
		"  -t, --timeout SECONDS         deadline for each step: hello, each send, each\n"
		"                                ack, inspect's HTTP request (default 5)\n"
		"  -h, --help                    show this help and exit\n"
		"  -V, --version                 show the version and exit\n"
		"\n"
		"--redirect, del --netns and inspect run iptables-restore/iptables-save inside\n"
		"NETNS and change its routing: they need root (CAP_NET_ADMIN and CAP_SYS_ADMIN\n"
		"over the netns). The tools are taken from /usr/sbin, /sbin, /usr/bin or /bin\n"
		"only (never $PATH) and run with a fixed minimal environment. del --netns\n"
		"removes only istio-cni's own objects: ISTIO_PRERT and ISTIO_OUTPUT of mangle,\n"
		"nat and raw and the jumps into them. add --redirect installs nothing over\n"
		"another ISTIO_* chain or a partial set; interrupted (SIGINT, SIGTERM, SIGHUP),\n"
		"it takes back what it installed. When the ack does not come, it sends a Del\n"
		"on a new connection and removes the rules only once that is acked.\n"
		"\n"
		"Exit status: 0 when the daemon acked every request (inspect: when everything,\n"
		"enrolment included, could be read and no verdict says the pod's traffic is\n"
		"refused), 1 on a nack, timeout or error, 2 on a usage error; 128+N when\n"
		"signal N interrupted an add or sync with --redirect.\n",
		PROG, PROG, PROG, PROG, PROG, PROG);
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
	p->where = name ? name : spec;
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

/*
 * Waits up to the step's timeout for events on the socket, or for a signal
 * when c->sigfd is set: 0 ready, -ETIMEDOUT, -EINTR with c->signo set.
 */
static int zconn_wait(struct zconn *c, short events)
{
	struct pollfd pf[2] = { { c->sock, events, 0 }, { c->sigfd, POLLIN, 0 } };
	struct timespec t0, now;
	long left;
	int n;

	if (c->sigfd < 0)
		return 0;	/* uds_*_timeout() wait on their own */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = c->timeout_ms - ((now.tv_sec - t0.tv_sec) * 1000 +
					(now.tv_nsec - t0.tv_nsec) / 1000000);
		n = poll(pf, 2, left > 0 ? (int)left : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (pf[1].revents && (c->signo = guard_signal(c->sigfd)))
			return -EINTR;
		if (pf[0].revents)
			return 0;
		if (!n)
			return -ETIMEDOUT;
	}
}

static int recv_step(struct zconn *c, const char *what, size_t *len)
{
	struct fdpass_msg m;
	int ret = zconn_wait(c, POLLIN);

	if (!ret)
		ret = uds_recv_timeout(c->sock, c->buf, ZDS_MAX_MSG, c->timeout_ms, &m);
	if (ret == -EINTR)
		return cli_err("%s%s: interrupted by %s while waiting for the %s", c->pfx, c->path,
			       strsignal(c->signo), what);
	/*
	 * A daemon that closes with our request unread (turning us away) resets
	 * the connection, yet what it sent before is still queued: read that.
	 */
	if (ret == -ECONNRESET && fdpass_recv(c->sock, c->buf, ZDS_MAX_MSG, MSG_DONTWAIT, &m) == 0 &&
	    m.len)
		ret = 0;
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

/* Connects (the daemon's hello is not read yet): 0, or 1 after printing why. */
static int zconn_connect(struct zconn *c)
{
	char hint[4400];

	c->sock = uds_connect(c->path);
	if (c->sock < 0) {
		int err = -c->sock;

		if (err == ENOENT || err == ECONNREFUSED)
			return cli_err("%sconnect to %s: %s (is ztunnel-emulator running?)", c->pfx,
				       c->path, strerror(err));
		if (err == EPROTOTYPE)
			return cli_err("%sconnect to %s: not a ZDS (SOCK_SEQPACKET) socket", c->pfx,
				       c->path);
		if (err == EACCES) {
			guard_explain_eacces(c->path, hint, sizeof(hint));
			return cli_err("%sconnect to %s: %s%s", c->pfx, c->path, strerror(err),
				       hint);
		}
		return cli_err("%sconnect to %s: %s", c->pfx, c->path, strerror(err));
	}
	return 0;
}

/* Reads and checks the daemon's hello: 0, or 1 after printing why. */
static int zconn_hello(struct zconn *c)
{
	const char *why = NULL;
	uint64_t version;
	size_t len;

	if (recv_step(c, "hello", &len))
		return 1;
	if (zds_decode_hello(c->buf, len, &version, &why))
		return cli_err("%s%s: malformed hello: %s", c->pfx, c->path, why);
	if (version != ZDS_VERSION_V1)
		return cli_err("%s%s: unsupported ZDS version %llu in the hello (want 1)", c->pfx,
			       c->path, (unsigned long long)version);
	return 0;
}

/* Connects and checks the daemon's hello: 0, or 1 after printing why. */
static int zconn_open(struct zconn *c)
{
	return zconn_connect(c) || zconn_hello(c);
}

static void zconn_close(struct zconn *c)
{
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
}

/*
 * The config_dump of the daemon at the other end of c (found from its pid,
 * see dump_find_admin()): malloc'd, or NULL when it cannot be read (another
 * user's daemon, no admin endpoint). Only for messages that must be true.
 */
static char *zconn_dump(const struct zconn *c)
{
	struct url u;
	char *body = NULL;

	if (dump_find_admin(guard_peer_pid(c->sock), c->timeout_ms, &u, &body))
		return NULL;
	return body;
}

/*
 * A daemon that turns a client away (not allowed, too many connections)
 * sends the Hello, a nack saying why, and closes before any request: the
 * nack is still queued here. True with *nack set when it was.
 */
static bool queued_nack(struct zconn *c, struct zds_str *nack)
{
	struct zds_response resp;
	struct fdpass_msg m;
	const char *why = NULL;

	if (fdpass_recv(c->sock, c->buf, ZDS_MAX_MSG, MSG_DONTWAIT, &m))
		return false;
	fdpass_close_fds(&m);
	if (!m.len || zds_decode_response(c->buf, m.len, &resp, &why) || !resp.has_ack ||
	    !resp.error.len)
		return false;
	*nack = resp.error;
	return true;
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
	int ret = zconn_wait(c, POLLOUT);

	if (!ret)
		ret = uds_send_timeout(c->sock, msg, len, &nsfd, nsfd >= 0, c->timeout_ms);
	if (ret == -EINTR) {
		cli_err("%s%s: interrupted by %s before the %s was sent", c->pfx, c->path,
			strsignal(c->signo), what);
		return CALL_NOT_SENT;
	}
	if (ret == -ETIMEDOUT) {
		cli_err("%s%s: timed out after %gs sending the %s", c->pfx, c->path,
			c->timeout_ms / 1000.0, what);
		return CALL_NOT_SENT;
	}
	if ((ret == -EPIPE || ret == -ECONNRESET) && queued_nack(c, nack))
		return CALL_NACK;
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

/* ---- redirection rules (common/redirect.h) ---------------------------------- */

#define RULE_DESC "ip rule fwmark 0x111/0xfff lookup 100"
#define ROUTE_DESC "route local default dev lo table 100"

/* What to do about a refusal to enter the netns or change its rules. */
static const char *perm_hint(int ret)
{
	return ret == -EPERM || ret == -EACCES ?
		       " (needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN over the netns)" : "";
}

static void variant_desc(char *buf, size_t cap, enum rd_variant v, bool dns)
{
	snprintf(buf, cap, "%s variant%s", rd_variant_name(v), dns ? "" : " without DNS capture");
}

/* After rd_apply(): one line on stdout saying what it did in the pod's netns. */
static void print_rules_applied(const char *pfx, const char *where, int nsfd,
				const struct opts *o, const struct rd_state *added)
{
	char want[64], found[64], have[192], why[512];
	struct rd_rules r;
	enum rd_variant v = RD_TPROXY;
	bool dns = true;
	int ret;

	variant_desc(want, sizeof(want), o->variant, o->dns_capture);
	if (added->chains) {
		snprintf(have, sizeof(have), "%s installed", want);
	} else {
		ret = rd_read(nsfd, &r, why, sizeof(why));
		if (!ret) {
			ret = rd_identify(&r, &v, &dns);
			rd_rules_free(&r);
		}
		variant_desc(found, sizeof(found), v, dns);
		if (!ret && v == o->variant && dns == o->dns_capture)
			snprintf(have, sizeof(have), "%s already present", want);
		else if (!ret)
			snprintf(have, sizeof(have), "%s already present (%s requested; left as is)",
				 found, want);
		else
			snprintf(have, sizeof(have),
				 "ISTIO_* chains already present, matching no known variant (left as is)");
	}
	if (added->ip_rule == added->route)
		printf("%srules: %s in %s (%s and %s %s)\n", pfx, have, where, RULE_DESC, ROUTE_DESC,
		       added->ip_rule ? "added" : "already present");
	else
		printf("%srules: %s in %s (%s %s, %s %s)\n", pfx, have, where, RULE_DESC,
		       added->ip_rule ? "added" : "already present", ROUTE_DESC,
		       added->route ? "added" : "already present");
}

/*
 * After a failed add: takes back what this run installed, and only that;
 * outcome says what became of the pod. 0, or 1 after printing why.
 */
static int undo_rules(const char *where, int nsfd, const struct rd_state *added,
		      const char *outcome)
{
	char why[1024];
	int ret;

	if (!added->chains && !added->ip_rule && !added->route)
		return 0;
	ret = rd_undo(nsfd, added, why, sizeof(why));
	if (ret)
		return cli_err("%s: removing the redirection rules this add installed: %s%s", where,
			       why, perm_hint(ret));
	cli_err("%s: removed the redirection rules this add installed (%s)", where, outcome);
	return 0;
}

/* Fault 3: before any rule goes into a pod's netns, a host netns is refused. 0, or 1 after printing why. */
static int refuse_host_netns(const struct pod *p, pid_t daemon, const struct opts *o)
{
	char why[256];
	int ret;

	if (o->given & OPT_ALLOW_HOST)
		return 0;
	ret = guard_host_netns(p->nsfd, daemon, why, sizeof(why));
	if (ret < 0)
		return cli_err("%s: identifying the network namespace: %s", p->where, strerror(-ret));
	if (ret)
		return cli_err("%s: refusing to install redirection rules in the host network "
			       "namespace: %s; nothing was changed (--allow-host-netns overrides)",
			       p->where, why);
	return 0;
}

/* How long the Del that takes back an unanswered add may wait, at least */
#define RECOVER_MS 5000

/*
 * The add got no ack after this run installed rules (a timeout, a lost
 * connection, an interruption), so the daemon may still start the pod.
 * Removing the rules now could leave it Up with no redirection: first a Del
 * on a new connection; only when that is acked do the rules go. Otherwise
 * they stay (istio-cni keeps them too and retries). Prints what happened.
 */
static void recover_no_ack(const char *socket_path, const struct pod *p,
			   const struct rd_state *added, const struct opts *o)
{
	char q[1100], pfx[1150];
	struct zconn d = { .sock = -1, .path = socket_path, .pfx = pfx, .sigfd = -1,
			   .timeout_ms = o->timeout_ms > RECOVER_MS ? o->timeout_ms : RECOVER_MS };
	uint8_t msg[ZDS_MAX_MSG];
	struct zds_str nack;
	ssize_t n = encode_req(msg, ZDS_REQ_DEL, p->uid, NULL, o);
	int ret;

	log_quote(q, sizeof(q), p->uid, strlen(p->uid));
	snprintf(pfx, sizeof(pfx), "pod %s: taking back the unanswered add: ", q);
	ret = n < 0 || zconn_open(&d) ? CALL_NOT_SENT :
					zconn_call(&d, msg, (size_t)n, -1, "del request", &nack);
	zconn_close(&d);
	if (ret == CALL_NACK)
		cli_err("%s%.*s", pfx, (int)nack.len, nack.p);
	if (!ret) {
		undo_rules(p->where, p->nsfd, added,
			   "no ack for the add; a Del sent on a new connection was acked, so the "
			   "pod is not enrolled");
		return;
	}
	cli_err("%s: no ack for the add and none for the Del that would take it back: the "
		"outcome is unknown (the pod may be Up), so the redirection rules stay in place; "
		"to remove both: %s del --netns %s %s %s", p->where, PROG, p->spec, socket_path, q);
}

/*
 * del --netns: removes the rules as istio-cni does for a pod leaving the mesh.
 * 0 done (or the netns is gone), 1 after printing why (the Del still goes),
 * -1 when spec is not a network namespace (nothing is sent).
 */
static int remove_rules(const char *spec)
{
	char path[4096], why[8192], what[256];
	struct rd_state had;
	const char *name, *where;
	size_t len = 0;
	int fd, ret;

	fd = open_netns(spec, path, sizeof(path), &name, why, sizeof(why));
	where = name ? name : spec;
	if (fd == -ENOENT) {
		printf("rules: %s is gone; nothing to remove\n", where);
		return 0;
	}
	if (fd < 0)
		return cli_err("%s", why), -1;
	ret = rd_remove(fd, &had, why, sizeof(why));
	close(fd);
	if (ret)
		return cli_err("%s: removing the redirection rules: %s%s", where, why, perm_hint(ret));
	what[0] = '\0';
	if (had.chains)
		len += (size_t)snprintf(what + len, sizeof(what) - len, "ISTIO_* chains");
	if (had.ip_rule)
		len += (size_t)snprintf(what + len, sizeof(what) - len, "%s" RULE_DESC,
					len ? ", " : "");
	if (had.route)
		snprintf(what + len, sizeof(what) - len, "%s" ROUTE_DESC, len ? ", " : "");
	if (what[0])
		printf("rules: removed from %s: %s\n", where, what);
	else
		printf("rules: none in %s\n", where);
	return 0;
}

/*
 * The end of a guarded add or sync: the signal that interrupted it, else one
 * still pending unless the work was done (done: it is dropped then). The
 * signal fd is closed and the mask restored with nothing left pending.
 */
static int guard_finish(const struct zconn *c, bool done)
{
	int signo = c->signo ? c->signo : done ? 0 : guard_signal(c->sigfd);

	while (guard_signal(c->sigfd))
		;
	guard_end(c->sigfd);
	return signo;
}

/*
 * The walkthru profile's 127.0.0.1:15001 accepts and closes: with the rules,
 * every outbound connection of the pod seems to succeed and reaches nothing.
 */
static void warn_walkthru(const struct zconn *c)
{
	struct dump_config cfg;
	char *body = zconn_dump(c);

	if (body && !dump_scan(body, &cfg, NULL, NULL) && !strcmp(cfg.profile, "walkthru"))
		cli_err("warning: the daemon (pid %ld) runs the walkthru profile: its 15001 accepts "
			"and closes, so the pod's redirected connections seem to succeed and reach "
			"nothing (start it with --profile ambient)", cfg.pid);
	free(body);
}

/* The daemon warns in its log only; the person who ran the add should hear it too. */
static void warn_lo_down(const struct pod *p)
{
	if (rd_link_up(p->nsfd, "lo") == 0)
		cli_err("warning: %s: the loopback interface lo is down: the listeners on 127.0.0.1 "
			"are unreachable (fix: ip -n %s link set lo up)", p->where, p->where);
}

static int cmd_add(const char *socket_path, const char *spec, const struct opts *o)
{
	struct zconn c = { .sock = -1, .path = socket_path, .timeout_ms = o->timeout_ms, .pfx = "",
			   .sigfd = -1 };
	char why[8192], q[1100];
	struct rd_state added = { false, false, false };
	bool redirect = o->given & OPT_REDIRECT;
	struct zds_str nack;
	struct pod p;
	int ret, signo;

	if (pod_prepare(&p, spec, o, NULL, why, sizeof(why)))
		return cli_err("%s", why);
	/* connected first: the daemon's pid (its netns) is known before any rule is written */
	if (zconn_connect(&c)) {
		close(p.nsfd);
		return 1;
	}
	/* istio-cni's order: the rules are in place before ztunnel hears of the pod */
	if (redirect) {
		ret = refuse_host_netns(&p, guard_peer_pid(c.sock), o);
		if (!ret && (c.sigfd = guard_signals()) < 0)
			ret = cli_err("blocking signals: %s", strerror(-c.sigfd));
		if (!ret && (ret = rd_apply(p.nsfd, o->variant, o->dns_capture, &added, why,
					    sizeof(why))))
			ret = cli_err("%s: installing the %s rules: %s%s", p.where,
				      rd_variant_name(o->variant), why, perm_hint(ret));
		if (ret) {
			guard_end(c.sigfd);
			zconn_close(&c);
			close(p.nsfd);
			return 1;
		}
		print_rules_applied("", p.where, p.nsfd, o, &added);
	}
	ret = zconn_hello(&c) ? CALL_NOT_SENT : 0;
	if (!ret && redirect)
		warn_walkthru(&c);
	if (!ret)
		ret =
				zconn_call(&c, p.msg, p.len, p.nsfd, "add request", &nack);
	if (ret == CALL_NACK)
		cli_err("pod %s: %.*s", log_quote(q, sizeof(q), p.uid, strlen(p.uid)), (int)nack.len,
			nack.p);
	else if (ret == 0)
		printf("listeners ready\n");
	if (ret == 0)
		warn_lo_down(&p);
	/* the first connection stays open until the Del is answered */
	if (ret == CALL_NO_ACK && redirect && (added.chains || added.ip_rule || added.route))
		recover_no_ack(socket_path, &p, &added, o);
	else if (ret && redirect)
		undo_rules(p.where, p.nsfd, &added, c.signo ? "interrupted; the add was not sent" :
				"the pod was not added");
	zconn_close(&c);
	close(p.nsfd);
	/* a signal that came after the ack finds the work done: it is dropped */
	signo = guard_finish(&c, ret == 0);
	return signo ? 128 + signo : ret ? 1 : 0;
}

/* del and keep: one request naming a pod by uid. */
static int cmd_uid(enum cmd cmd, const char *socket_path, const char *uid, const struct opts *o)
{
	enum zds_req_type type = cmd == CMD_DEL ? ZDS_REQ_DEL : ZDS_REQ_KEEP;
	char q[1100], pfx[1110], what[32];
	struct zconn c = { .sock = -1, .path = socket_path, .timeout_ms = o->timeout_ms, .pfx = pfx,
			  .sigfd = -1 };
	uint8_t msg[ZDS_MAX_MSG];
	struct zds_str nack;
	char *body;
	ssize_t n;
	int ret, rules_ret = 0, known;

	snprintf(pfx, sizeof(pfx), "pod %s: ", log_quote(q, sizeof(q), uid, strlen(uid)));
	snprintf(what, sizeof(what), "%s request", cmd_names[cmd]);
	n = encode_req(msg, type, uid, NULL, o);
	if (n < 0)
		return cli_err("%sthe %s would exceed %d bytes; use a shorter UID", pfx, what,
			       ZDS_MAX_MSG);
	/* istio-cni's order for a running pod leaving the mesh: rules out, then the Del */
	if (cmd == CMD_DEL && o->netns) {
		rules_ret = remove_rules(o->netns);
		if (rules_ret < 0)
			return 1;
	}
	ret = zconn_open(&c) ? CALL_NOT_SENT : 0;
	/* ztunnel acks an unknown uid too: the daemon's own list says whether it knew it */
	body = ret ? NULL : zconn_dump(&c);
	known = body ? dump_has_uid(body, uid) : -1;
	free(body);
	if (!ret)
		ret = zconn_call(&c, msg, (size_t)n, -1, what, &nack);
	if (ret == CALL_NACK)
		cli_err("%s%.*s", pfx, (int)nack.len, nack.p);
	else if (ret == 0)
		printf("pod %s %s%s\n", uid, cmd == CMD_DEL ? "deleted" : "kept",
		       known == 0 ? " (no such pod)" : "");
	zconn_close(&c);
	return ret || rules_ret ? 1 : 0;
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

/*
 * Which pods the snapshot will drain: those the daemon has (its config_dump)
 * that are not among pods, as '"a", "b"' (malloc'd; *n their number), or
 * NULL when the daemon's list cannot be read.
 */
static char *drained_pods(const struct zconn *c, const struct pod *pods, size_t npods,
			  ssize_t *n)
{
	const char **uids = calloc(npods ? npods : 1, sizeof(*uids));
	char *body = uids ? zconn_dump(c) : NULL, *text = NULL;
	size_t len = 0, i;
	FILE *f = body ? open_memstream(&text, &len) : NULL;

	for (i = 0; i < npods && uids; i++)
		uids[i] = pods[i].uid;
	*n = f ? dump_other_pods(body, uids, npods, f) : -1;
	if (f && fclose(f))
		*n = -1;
	free(uids);
	free(body);
	if (*n < 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* What a sync did, for its summary line. */
struct sync_tally {
	size_t sent, ready, failed, skipped, stopped_at;	/* stopped_at: npods when all were tried */
	int last, snap;		/* the last add's and the snapshot's zconn_call() outcome */
	char *drained;		/* drained_pods(), or NULL */
	ssize_t ndrained;
};

/*
 * sync --redirect, before a pod's Add: not into a host netns, and its rules
 * installed. 0 to send it; 1 skipped (said why on stdout).
 */
static int sync_rules(struct pod *p, pid_t daemon, const struct opts *o, struct rd_state *added)
{
	char why[1024], rpfx[1110];
	int ret;

	if (refuse_host_netns(p, daemon, o)) {
		printf("%s: not sent: %s is a host network namespace\n", p->uid, p->where);
		return 1;
	}
	ret = rd_apply(p->nsfd, o->variant, o->dns_capture, added, why, sizeof(why));
	if (ret == -ENOTRECOVERABLE)
		cli_die("%s", why);
	if (ret) {
		printf("%s: installing the %s rules in %s: %s%s\n", p->uid,
		       rd_variant_name(o->variant), p->where, why, perm_hint(ret));
		return 1;
	}
	snprintf(rpfx, sizeof(rpfx), "%s: ", p->uid);
	print_rules_applied(rpfx, p->where, p->nsfd, o, added);
	return 0;
}

/* The summary: on stdout when the snapshot was acknowledged, else an error. */
static void print_sync_summary(const struct sync_tally *t, const struct pod *pods, size_t npods,
			       const struct zds_str *nack)
{
	char *line = NULL;
	size_t linelen = 0;
	FILE *f = open_memstream(&line, &linelen);

	if (!f) {
		cli_err("out of memory");
		return;
	}
	fprintf(f, "sync: %zu pod%s sent, %zu ready, %zu failed", t->sent, t->sent == 1 ? "" : "s",
		t->ready, t->failed);
	if (t->stopped_at < npods && t->last == CALL_NO_ACK)
		fprintf(f, ", 1 unanswered");
	if (t->snap == 0 && t->drained) {
		fprintf(f, "; snapshot acknowledged; %zd pod%s not listed drained%s%s", t->ndrained,
			t->ndrained == 1 ? "" : "s", t->ndrained ? ": " : "", t->drained);
	} else if (t->snap == 0) {
		fprintf(f, "; snapshot acknowledged (pods not listed were drained)");
	} else if (t->snap == CALL_NACK) {
		fprintf(f, "; snapshot nacked: %.*s", (int)nack->len, nack->p);
	} else if (t->stopped_at < npods) {
		fprintf(f, "; connection lost");
		if (t->sent + t->skipped < npods) {
			fprintf(f, ", not sent: ");
			print_uids(f, pods, t->sent + t->skipped, npods);
		}
		fprintf(f, "; snapshot not sent (nothing drained)");
	} else if (t->snap == CALL_NOT_SENT) {
		fprintf(f, "; connection lost; snapshot not sent (nothing drained)");
	} else {
		fprintf(f, "; connection lost; snapshot unanswered (pods not listed may have been drained)");
	}
	fclose(f);
	if (t->snap == 0)
		printf("%s\n", line);
	else
		cli_err("%s", line);
	free(line);
}

static int cmd_sync(const char *socket_path, char **specs, size_t nspecs, bool all,
		    const struct opts *o)
{
	char q[1100], pfx[1110];
	struct zconn c = { .sock = -1, .path = socket_path, .timeout_ms = o->timeout_ms, .pfx = pfx,
			  .sigfd = -1 };
	struct sync_tally t = { .last = 0, .snap = CALL_NOT_SENT };
	bool redirect = o->given & OPT_REDIRECT;
	uint8_t snap[16];
	struct zds_str nack = { NULL, 0 };
	struct pod *pods;
	ssize_t n, npods;
	size_t i;
	pid_t daemon;
	int ret = 0, signo;

	npods = prepare_pods(&pods, specs, nspecs, all, o);
	if (npods < 0)
		return 1;
	n = encode_req(snap, ZDS_REQ_SNAPSHOT_SENT, NULL, NULL, o);
	pfx[0] = '\0';
	if (n < 0 || check_pods(pods, (size_t)npods) || zconn_connect(&c)) {
		pods_free(pods, (size_t)npods);
		return 1;
	}
	daemon = guard_peer_pid(c.sock);
	if (redirect && (c.sigfd = guard_signals()) < 0)
		cli_err("blocking signals: %s", strerror(-c.sigfd));
	if (c.sigfd < -1 || zconn_hello(&c)) {
		signo = guard_finish(&c, false);
		zconn_close(&c);
		pods_free(pods, (size_t)npods);
		return signo ? 128 + signo : 1;
	}

	for (i = 0; i < (size_t)npods; i++) {
		struct pod *p = &pods[i];
		struct rd_state added = { false, false, false };

		snprintf(pfx, sizeof(pfx), "pod %s: ", log_quote(q, sizeof(q), p->uid, strlen(p->uid)));
		/* as istio-cni: a pod whose rules could not be installed is not sent to ztunnel */
		if (redirect && sync_rules(p, daemon, o, &added)) {
			t.failed++;
			t.skipped++;
			continue;
		}
		ret = zconn_call(&c, p->msg, p->len, p->nsfd, "add request", &nack);
		if (ret == CALL_NO_ACK && redirect && (added.chains || added.ip_rule || added.route))
			recover_no_ack(socket_path, p, &added, o);
		else if (ret && redirect)
			undo_rules(p->where, p->nsfd, &added,
				   c.signo ? "interrupted; the add was not sent" : "the pod was not added");
		if (ret == CALL_NOT_SENT)
			break;
		t.sent++;
		if (ret == CALL_NO_ACK)
			break;
		if (ret == CALL_NACK)
			printf("%s: %.*s\n", p->uid, (int)nack.len, nack.p);
		else
			printf("%s: listeners ready\n", p->uid);
		t.ready += !ret;
		t.failed += ret == CALL_NACK;
	}
	t.stopped_at = i;
	t.last = ret;
	if (i == (size_t)npods) {
		t.drained = drained_pods(&c, pods, (size_t)npods, &t.ndrained);
		snprintf(pfx, sizeof(pfx), "snapshot: ");
		t.snap = zconn_call(&c, snap, (size_t)n, -1, "snapshot request", &nack);
	}
	zconn_close(&c);
	print_sync_summary(&t, pods, (size_t)npods, &nack);
	free(t.drained);
	pods_free(pods, (size_t)npods);
	signo = guard_finish(&c, t.snap == 0);
	if (signo)
		return 128 + signo;
	return t.snap == 0 && !t.failed ? 0 : 1;
}

/* ---- inspect ----------------------------------------------------------------------- */

struct owner {
	int pid, fd;
	char comm[32];
};

struct lsock {
	const char *proto, *state;
	char local[64];
	uint32_t inode, uid;
	struct owner *owners;
	size_t nowners;
};

struct lsocks {
	struct lsock *v;
	size_t n, cap;
	const char *proto, *state;
	int err;
};

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

static void lsocks_free(struct lsocks *ls)
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
static int read_listeners(int nsfd, struct lsocks *ls, char *err, size_t cap)
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
	ret = rd_in_netns(nsfd, open_sockdiag, &nl);
	if (ret == -ENOTRECOVERABLE)
		cli_die("could not return to the original network namespace");
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

/* ---- inspect: collect, then print ------------------------------------------------ */

struct inspect {
	const char *spec, *name;
	char path[4096];
	struct netns_id id;
	struct lsocks ls;
	char ls_err[512];
	int ls_ret;
	struct rd_rules rules;
	char rules_err[1024];
	int rules_ret, variant_ret;
	enum rd_variant variant;
	bool dns;
	struct rd_policy pol;
	char pol_err[512];
	int pol_ret;
	struct url url;
	char http_err[512];
	int http_ret;	/* 0 reachable and parsed; < 0 not */
	bool reachable, enrolled;
	struct dump_pod pod;
	size_t npods;
	const char *sock;
	char sock_err[512];
	int sock_ret;
	char verdict[256];	/* "" when nothing is wrong that inspect can tell */
	pid_t daemon_pid;	/* the --socket peer's, or 0 */
	bool no_admin;		/* --socket without --admin, and no endpoint of it found */
};

/* Is there a TCP listener on port (any address) in ls? */
static bool tcp_listens(const struct lsocks *ls, unsigned int port)
{
	char suffix[16];
	size_t i, n = (size_t)snprintf(suffix, sizeof(suffix), ":%u", port);

	for (i = 0; i < ls->n; i++) {
		size_t len = strlen(ls->v[i].local);

		if (!strcmp(ls->v[i].proto, "tcp") && len > n &&
		    !strcmp(ls->v[i].local + len - n, suffix))
			return true;
	}
	return false;
}

/*
 * Fault 22: rules that send TCP to ports nobody listens on refuse the pod's
 * traffic (e.g. after the daemon was killed). DNS (15053) is left out: the
 * walk-thru daemon has no DNS proxy and says so elsewhere.
 */
static void inspect_verdict(struct inspect *in)
{
	static const char *const keys[] = { "--to-ports ", "--to-port ", "--on-port " };
	unsigned int ports[8], port;
	size_t i, k, n = 0, len = 0, j;
	const char *p;

	if (in->rules_ret || in->ls_ret)
		return;
	for (i = 0; i < in->rules.n; i++) {
		if (!in->rules.e[i].rule || strncmp(in->rules.e[i].chain, "ISTIO_", 6))
			continue;
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			p = strstr(in->rules.e[i].rule, keys[k]);
			if (!p || sscanf(p + strlen(keys[k]), "%u", &port) != 1 || port == 15053)
				continue;
			for (j = 0; j < n && ports[j] != port; j++)
				;
			if (j == n && n < sizeof(ports) / sizeof(ports[0]) && !tcp_listens(&in->ls, port))
				ports[n++] = port;
		}
	}
	if (!n)
		return;
	len = (size_t)snprintf(in->verdict, sizeof(in->verdict),
			       "traffic of this pod is refused: its rules redirect to ");
	for (j = 0; j < n && len < sizeof(in->verdict); j++)
		len += (size_t)snprintf(in->verdict + len, sizeof(in->verdict) - len, "%s%u",
					j ? (j + 1 == n ? " and " : ", ") : "", ports[j]);
	if (len < sizeof(in->verdict))
		snprintf(in->verdict + len, sizeof(in->verdict) - len,
			 " but nothing listens there (re-add the pod, or remove its rules with "
			 "del --netns)");
}

static void inspect_daemon(struct inspect *in, int timeout_ms)
{
	char *body = NULL;
	int status = 0;

	if (in->no_admin) {
		in->http_ret = -ENOENT;
		snprintf(in->http_err, sizeof(in->http_err),
			 "no listener of it answers /config_dump (give --admin URL)");
		return;
	}
	in->http_ret = dump_http_get(&in->url, timeout_ms, &status, &body, in->http_err,
				sizeof(in->http_err));
	if (in->http_ret)
		return;
	in->reachable = true;
	if (status != 200) {
		snprintf(in->http_err, sizeof(in->http_err), "it answered HTTP %d", status);
		in->http_ret = -EPROTO;
	} else if (dump_find_pod(body, &in->id, &in->enrolled, &in->pod, &in->npods)) {
		snprintf(in->http_err, sizeof(in->http_err),
			 "its answer is not a config_dump (JSON with .pods[].netns.inode)");
		in->http_ret = -EPROTO;
	}
	free(body);
}

/* --socket: does the daemon answer with a ZDS v1 hello? (it logs a stream that ends at once) */
static void inspect_socket(struct inspect *in, int timeout_ms)
{
	uint8_t buf[ZDS_MAX_MSG];
	struct fdpass_msg m;
	const char *why = NULL;
	uint64_t version;
	int fd = uds_connect(in->sock), ret;

	if (fd < 0) {
		char hint[400] = "";

		if (fd == -EACCES)
			guard_explain_eacces(in->sock, hint, sizeof(hint));
		in->sock_ret = fd;
		snprintf(in->sock_err, sizeof(in->sock_err), "connect: %s%s", strerror(-fd), hint);
		return;
	}
	in->daemon_pid = guard_peer_pid(fd);
	ret = uds_recv_timeout(fd, buf, sizeof(buf), timeout_ms, &m);
	if (!ret && m.nfds) {
		fdpass_close_fds(&m);
		ret = -EPROTO;
	}
	if (ret)
		snprintf(in->sock_err, sizeof(in->sock_err), "receiving the hello: %s",
			 strerror(-ret));
	else if (zds_decode_hello(buf, m.len, &version, &why) || version != ZDS_VERSION_V1)
		snprintf(in->sock_err, sizeof(in->sock_err), "no ZDS v1 hello%s%s", why ? ": " : "",
			 why ? why : "");
	in->sock_ret = ret ? ret : in->sock_err[0] ? -EPROTO : 0;
	close(fd);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_err(FILE *f, int ret, const char *err)
{
	if (ret)
		json_str(f, err);
	else
		fputs("null", f);
}

static void owners_text(FILE *f, const struct lsock *l)
{
	size_t k;

	if (!l->nowners)
		return;
	fputs(" users:(", f);
	for (k = 0; k < l->nowners; k++)
		fprintf(f, "%s(\"%s\",pid=%d,fd=%d)", k ? "," : "", l->owners[k].comm,
			l->owners[k].pid, l->owners[k].fd);
	fputc(')', f);
}

static void print_json(FILE *f, const struct inspect *in)
{
	char line[256];
	size_t i, k;

	fputs("{\n  \"netns\": {\"spec\": ", f);
	json_str(f, in->spec);
	fputs(", \"name\": ", f);
	if (in->name)
		json_str(f, in->name);
	else
		fputs("null", f);
	fputs(", \"path\": ", f);
	json_str(f, in->path);
	fprintf(f, ", \"dev\": \"%u:%u\", \"inode\": %" PRIu64 "},\n", major(in->id.dev),
		minor(in->id.dev), (uint64_t)in->id.ino);

	fputs("  \"listeners\": [", f);
	for (i = 0; i < in->ls.n; i++) {
		const struct lsock *l = &in->ls.v[i];

		fprintf(f, "%s\n    {\"protocol\": \"%s\", \"state\": \"%s\", \"address\": \"%s\", "
			"\"inode\": %" PRIu32 ", \"uid\": %" PRIu32 ", \"owners\": [",
			i ? "," : "", l->proto, l->state, l->local, l->inode, l->uid);
		for (k = 0; k < l->nowners; k++) {
			fprintf(f, "%s{\"comm\": ", k ? ", " : "");
			json_str(f, l->owners[k].comm);
			fprintf(f, ", \"pid\": %d, \"fd\": %d}", l->owners[k].pid, l->owners[k].fd);
		}
		fputs("]}", f);
	}
	fputs(in->ls.n ? "\n  ],\n  \"listeners_error\": " : "],\n  \"listeners_error\": ", f);
	json_err(f, in->ls_ret, in->ls_err);

	fputs(",\n  \"iptables\": {\"variant\": ", f);
	if (!in->rules_ret && !in->variant_ret)
		fprintf(f, "\"%s\", \"dns_capture\": %s", rd_variant_name(in->variant),
			in->dns ? "true" : "false");
	else if (!in->rules_ret && in->variant_ret == -ENOMSG)
		fputs("\"unknown\", \"dns_capture\": null", f);
	else
		fputs("null, \"dns_capture\": null", f);
	fputs(", \"chains\": [", f);
	for (i = 0, k = 0; i < in->rules.n; i++) {
		const struct rd_entry *e = &in->rules.e[i];

		if (e->rule)
			continue;
		fprintf(f, "%s{\"table\": \"%s\", \"chain\": \"%s\"}", k++ ? ", " : "", e->table,
			e->chain);
	}
	fputs("],\n    \"rules\": [", f);
	for (i = 0, k = 0; i < in->rules.n; i++) {
		const struct rd_entry *e = &in->rules.e[i];

		if (!e->rule)
			continue;
		fprintf(f, "%s\n      {\"table\": \"%s\", \"chain\": \"%s\", \"packets\": %" PRIu64
			", \"bytes\": %" PRIu64 ", \"rule\": ", k++ ? "," : "", e->table, e->chain,
			e->packets, e->bytes);
		json_str(f, e->rule);
		fputc('}', f);
	}
	fputs(k ? "\n    ], \"error\": " : "], \"error\": ", f);
	json_err(f, in->rules_ret, in->rules_err);

	fputs("},\n  \"policy_routing\": {\"rules\": [", f);
	for (i = 0; i < in->pol.nrules; i++) {
		const struct rd_ip_rule *r = &in->pol.rules[i];

		rd_format_ip_rule(r, line, sizeof(line));
		fprintf(f, "%s{\"priority\": %" PRIu32 ", \"fwmark\": ", i ? ", " : "", r->priority);
		if (r->has_fwmark)
			fprintf(f, "\"%#" PRIx32 "/%#" PRIx32 "\"", r->fwmark, r->fwmask);
		else
			fputs("null", f);
		fprintf(f, ", \"table\": %" PRIu32 ", \"text\": ", r->table);
		json_str(f, line);
		fputc('}', f);
	}
	fputs("],\n    \"routes\": [", f);
	for (i = 0; i < in->pol.nroutes; i++) {
		const struct rd_route *r = &in->pol.routes[i];

		rd_format_route(r, line, sizeof(line));
		fprintf(f, "%s{\"table\": %" PRIu32 ", \"dev\": ", i ? ", " : "", r->table);
		json_str(f, r->dev);
		fputs(", \"text\": ", f);
		json_str(f, line);
		fputc('}', f);
	}
	fputs("], \"error\": ", f);
	json_err(f, in->pol_ret, in->pol_err);

	fputs("},\n  \"daemon\": {\"url\": ", f);
	json_str(f, in->url.text);
	fprintf(f, ", \"reachable\": %s, \"pods\": ", in->reachable ? "true" : "false");
	if (!in->http_ret)
		fprintf(f, "%zu", in->npods);
	else
		fputs("null", f);
	fputs(", \"error\": ", f);
	json_err(f, in->http_ret, in->http_err);
	if (in->sock) {
		fputs(", \"socket\": {\"path\": ", f);
		json_str(f, in->sock);
		fprintf(f, ", \"hello\": %s, \"error\": ", in->sock_ret ? "false" : "true");
		json_err(f, in->sock_ret, in->sock_err);
		fputc('}', f);
	}
	fputs("},\n  \"enrolled\": ", f);
	fputs(in->http_ret ? "null" : in->enrolled ? "true" : "false", f);
	fputs(",\n  \"verdict\": ", f);
	if (in->verdict[0])
		json_str(f, in->verdict);
	else
		fputs("null", f);
	fputs(",\n  \"pod\": ", f);
	if (!in->http_ret && in->enrolled) {
		fputs("{\"uid\": ", f);
		json_str(f, in->pod.uid);
		fputs(", \"state\": ", f);
		json_str(f, in->pod.state);
		fputc('}', f);
	} else {
		fputs("null", f);
	}
	fputs("\n}\n", f);
}

static void print_human(FILE *f, const struct inspect *in)
{
	char line[256], q[300];
	const char *table = NULL;
	size_t i, k;

	fprintf(f, "netns: %s (%s, inode %" PRIu64 ")\n", in->name ? in->name : in->spec, in->path,
		(uint64_t)in->id.ino);

	fputs("listeners:\n", f);
	if (in->ls_ret)
		fprintf(f, "  error: %s\n", in->ls_err);
	else if (!in->ls.n)
		fputs("  (none)\n", f);
	for (i = 0; i < in->ls.n; i++) {
		fprintf(f, "  %s %-6s %-24s", in->ls.v[i].proto, in->ls.v[i].state, in->ls.v[i].local);
		owners_text(f, &in->ls.v[i]);
		fputc('\n', f);
	}

	if (in->rules_ret) {
		fprintf(f, "iptables:\n  error: %s\n", in->rules_err);
	} else if (in->variant_ret == -ENOENT) {
		fputs("iptables: no ISTIO_* chains\n", f);
	} else {
		if (in->variant_ret)
			fputs("iptables: ISTIO_* chains matching no known variant\n", f);
		else
			fprintf(f, "iptables: %s variant, DNS capture %s\n",
				rd_variant_name(in->variant), in->dns ? "on" : "off");
		for (i = 0; i < in->rules.n; i++) {
			const struct rd_entry *e = &in->rules.e[i];

			if (table && !strcmp(table, e->table))
				continue;
			table = e->table;
			fprintf(f, "  %s: chains", table);
			for (k = i; k < in->rules.n; k++)
				if (!in->rules.e[k].rule && !strcmp(in->rules.e[k].table, table))
					fprintf(f, " %s", in->rules.e[k].chain);
			fprintf(f, "\n  %10s %12s  %s\n", "pkts", "bytes", "rule");
			for (k = i; k < in->rules.n; k++)
				if (in->rules.e[k].rule && !strcmp(in->rules.e[k].table, table))
					fprintf(f, "  %10" PRIu64 " %12" PRIu64 "  %s\n",
						in->rules.e[k].packets, in->rules.e[k].bytes,
						in->rules.e[k].rule);
		}
	}

	fputs("ip rules (fwmark or table 100):\n", f);
	if (in->pol_ret)
		fprintf(f, "  error: %s\n", in->pol_err);
	else if (!in->pol.nrules)
		fputs("  (none)\n", f);
	for (i = 0; i < in->pol.nrules; i++) {
		rd_format_ip_rule(&in->pol.rules[i], line, sizeof(line));
		fprintf(f, "  %s\n", line);
	}
	fputs("routes (table 100):\n", f);
	if (in->pol_ret)
		fprintf(f, "  error: %s\n", in->pol_err);
	else if (!in->pol.nroutes)
		fputs("  (none)\n", f);
	for (i = 0; i < in->pol.nroutes; i++) {
		rd_format_route(&in->pol.routes[i], line, sizeof(line));
		fprintf(f, "  %s\n", line);
	}

	if (in->sock && !in->sock_ret)
		fprintf(f, "daemon socket: %s answers (ZDS v1 hello)\n", in->sock);
	else if (in->sock)
		fprintf(f, "daemon socket: %s: %s\n", in->sock, in->sock_err);
	if (!in->reachable)
		fprintf(f, "enrolled: unknown: daemon not reachable at %s: %s\n", in->url.text,
			in->http_err);
	else if (in->http_ret)
		fprintf(f, "enrolled: unknown: the daemon at %s: %s\n", in->url.text, in->http_err);
	else if (in->enrolled)
		fprintf(f, "enrolled: yes, pod %s (%s) at %s\n",
			log_quote(q, sizeof(q), in->pod.uid, strlen(in->pod.uid)), in->pod.state,
			in->url.text);
	else
		fprintf(f, "enrolled: no: none of the %zu pod%s at %s has this netns\n", in->npods,
			in->npods == 1 ? "" : "s", in->url.text);
	if (in->verdict[0])
		fprintf(f, "verdict: %s\n", in->verdict);
}

static int cmd_inspect(const char *spec, const struct opts *o)
{
	struct inspect in;
	char why[8192];
	int fd, ret;

	memset(&in, 0, sizeof(in));
	in.spec = spec;
	in.sock = o->socket;
	if (dump_parse_url(o->admin ? o->admin : DEFAULT_ADMIN, &in.url))
		cli_usage_error("invalid --admin '%s': expected http://HOST:PORT[/PATH]", o->admin);
	fd = open_netns(spec, in.path, sizeof(in.path), &in.name, why, sizeof(why));
	if (fd < 0)
		return cli_err("%s", why);
	netns_fd_id(fd, &in.id);

	in.ls_ret = read_listeners(fd, &in.ls, in.ls_err, sizeof(in.ls_err));
	in.rules_ret = rd_read(fd, &in.rules, in.rules_err, sizeof(in.rules_err));
	if (!in.rules_ret)
		in.variant_ret = rd_identify(&in.rules, &in.variant, &in.dns);
	in.pol_ret = rd_policy_read(fd, &in.pol, in.pol_err, sizeof(in.pol_err));
	if (in.pol_ret == -ENOTRECOVERABLE)
		cli_die("%s", in.pol_err);
	close(fd);
	if (in.sock)
		inspect_socket(&in, o->timeout_ms);
	/* the daemon behind --socket, not whatever answers on the default port */
	if (in.sock && !o->admin &&
	    dump_find_admin(in.daemon_pid, o->timeout_ms, &in.url, NULL)) {
		in.no_admin = true;
		if (in.daemon_pid > 0)
			snprintf(in.url.text, sizeof(in.url.text), "the daemon behind %s (pid %d)",
				 in.sock, (int)in.daemon_pid);
		else
			snprintf(in.url.text, sizeof(in.url.text), "the daemon behind %s", in.sock);
	}
	inspect_daemon(&in, o->timeout_ms);
	inspect_verdict(&in);

	if (o->given & OPT_JSON)
		print_json(stdout, &in);
	else
		print_human(stdout, &in);
	ret = in.ls_ret ? in.ls_ret : in.rules_ret ? in.rules_ret : in.pol_ret;
	if (ret)
		cli_err("%s: could not read everything: %s%s", in.name ? in.name : spec,
			in.ls_ret ? in.ls_err : in.rules_ret ? in.rules_err : in.pol_err,
			perm_hint(ret));
	lsocks_free(&in.ls);
	rd_rules_free(&in.rules);
	rd_policy_free(&in.pol);
	/* enrolment that could not be read is no "all clear" either */
	return ret || in.verdict[0] || in.http_ret ? 1 : 0;
}

static bool parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
			*v = !strcmp(s, yes[i]);
			return true;
		}
	}
	return false;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "uid", required_argument, NULL, 'u' },
		{ "name", required_argument, NULL, 'n' },
		{ "namespace", required_argument, NULL, 'N' },
		{ "service-account", required_argument, NULL, 's' },
		{ "all", no_argument, NULL, 'a' },
		{ "redirect", optional_argument, NULL, LO_REDIRECT },
		{ "dns-capture", optional_argument, NULL, LO_DNS },
		{ "netns", required_argument, NULL, LO_NETNS },
		{ "json", no_argument, NULL, LO_JSON },
		{ "socket", required_argument, NULL, LO_SOCKET },
		{ "admin", required_argument, NULL, LO_ADMIN },
		{ "allow-host-netns", no_argument, NULL, LO_ALLOW_HOST },
		{ "iptables-restore", required_argument, NULL, LO_RESTORE },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	/* the options each subcommand takes besides --timeout */
	static const unsigned int allowed[] = {
		[CMD_ADD] = OPT_UID | OPT_NAME | OPT_NAMESPACE | OPT_SA | OPT_REDIRECT | OPT_DNS |
			    OPT_ALLOW_HOST | OPT_RESTORE,
		[CMD_DEL] = OPT_NETNS | OPT_RESTORE,
		[CMD_KEEP] = 0,
		[CMD_SYNC] = OPT_NAMESPACE | OPT_SA | OPT_ALL | OPT_REDIRECT | OPT_DNS | OPT_ALLOW_HOST |
			     OPT_RESTORE,
		[CMD_INSPECT] = OPT_JSON | OPT_SOCKET | OPT_ADMIN,
	};
	static const char *const opt_names[] = { "--uid", "--name", "--namespace",
						 "--service-account", "--all", "--redirect",
						 "--dns-capture", "--netns", "--json", "--socket",
						 "--admin", "--allow-host-netns", "--iptables-restore" };
	/* where an option belongs, for the usage error that refuses it elsewhere */
	static const char *const opt_homes[] = { "add", "add", "add and sync", "add and sync",
						 "sync", "add and sync", "add and sync", "del",
						 "inspect", "inspect", "inspect", "add and sync",
						 "add, sync and del" };
	struct opts o = {
		.namespace_ = "default",
		.service_account = "default",
		.timeout_ms = 5000,
		.variant = RD_TPROXY,
		.dns_capture = true,
	};
	enum cmd cmd = CMD_ADD;
	unsigned int bad;
	char **pos;
	int c, npos, i;

	cli_set_prog(PROG);
	i = cli_guard_stdio();
	if (i)
		cli_die("cannot open /dev/null onto a closed stdin, stdout or stderr: %s", strerror(-i));
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
		case LO_REDIRECT:
			if (optarg && rd_variant_parse(optarg, &o.variant))
				cli_usage_error("invalid --redirect '%s': expected tproxy or redirect",
						optarg);
			o.given |= OPT_REDIRECT;
			break;
		case LO_DNS:
			if (optarg && !parse_bool(optarg, &o.dns_capture))
				cli_usage_error("invalid --dns-capture '%s': expected true or false",
						optarg);
			if (!optarg)
				o.dns_capture = true;
			o.given |= OPT_DNS;
			break;
		case LO_NETNS:
			o.netns = optarg;
			o.given |= OPT_NETNS;
			break;
		case LO_JSON:
			o.given |= OPT_JSON;
			break;
		case LO_SOCKET:
			o.socket = optarg;
			o.given |= OPT_SOCKET;
			break;
		case LO_ADMIN:
			o.admin = optarg;
			o.given |= OPT_ADMIN;
			break;
		case LO_ALLOW_HOST:
			o.given |= OPT_ALLOW_HOST;
			break;
		case LO_RESTORE:
			c = rd_set_tool("iptables-restore", optarg);
			if (c)
				cli_usage_error("invalid --iptables-restore '%s': %s", optarg,
						c == -EINVAL ? "not an absolute path" : strerror(-c));
			o.given |= OPT_RESTORE;
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
		if (cmd == CMD_SYNC && (bad & (OPT_UID | OPT_NAME)))
			cli_usage_error("%s is not valid with 'sync' (each pod's uid and name come "
					"from its NETNS)", opt_names[i]);
		if ((cmd == CMD_DEL || cmd == CMD_KEEP) && (bad & OPT_UID))
			cli_usage_error("--uid is not valid with '%s' (give the UID as an argument)",
					cmd_names[cmd]);
		cli_usage_error("%s is not valid with '%s' (it is for %s)", opt_names[i],
				cmd_names[cmd], opt_homes[i]);
	}
	if ((o.given & OPT_DNS) && !(o.given & OPT_REDIRECT))
		cli_usage_error("--dns-capture needs --redirect");
	if ((o.given & OPT_ALLOW_HOST) && !(o.given & OPT_REDIRECT))
		cli_usage_error("--allow-host-netns needs --redirect");
	if ((o.given & OPT_RESTORE) && !(o.given & (OPT_REDIRECT | OPT_NETNS)))
		cli_usage_error("--iptables-restore needs --redirect (add, sync) or --netns (del)");
	if ((o.given & OPT_NETNS) && !*o.netns)
		cli_usage_error("empty --netns");
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
	case CMD_INSPECT:
		if (npos != 1)
			cli_usage_error(npos < 1 ? "missing NETNS" : "too many arguments");
		return cmd_inspect(pos[0], &o);
	}
	return 1;
}
