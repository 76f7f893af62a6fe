/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the command line: the verb table, options, usage; picks the verb.
 * Never touches: sockets, netns, rules (the verbs do). Interface: cni.h.
 *
 * cni-emulator: the istio-cni node agent's side of Istio ambient's in-pod
 * handoff. Opens a pod's network namespace, checks it, and sends its fd to
 * ztunnel over ZDS v1 (SCM_RIGHTS on an Add request), then waits for the Ack.
 * del and keep send a pod's uid; sync replays istio-cni's snapshot after a
 * restart on one connection: an Add per netns, then SnapshotSent.
 * With --redirect, add first installs istio-cni's in-pod redirection rules
 * (redirect/redirect.h), as istio-cni does before it hands a pod to ztunnel;
 * inspect shows in one view what a person checks when debugging a pod.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "argcheck.h"
#include "cli.h"
#include "cni.h"
#include "inspect/admin.h"
#include "opts.h"
#include "redirect.h"
#include "release.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [add] [OPTIONS] SOCKET NETNS\n"
		"       %s del [--netns NETNS] [--timeout SECONDS] SOCKET UID\n"
		"       %s keep [--timeout SECONDS] SOCKET UID\n"
		"       %s sync [OPTIONS] SOCKET [NETNS...]\n"
		"       %s sync --all [--match GLOB] [--dry-run] [OPTIONS] SOCKET\n"
		"       %s inspect [--json] [--socket SOCKET] [--admin URL] NETNS\n"
		"       %s agent [--zds-socket PATH] [--control-socket PATH] [OPTIONS]\n"
		"       %s enroll [--agent PATH] [--uid U] ... NETNS\n"
		"       %s unenroll [--agent PATH] NETNS|UID\n"
		"\n"
		"Emulates the istio-cni node agent's side of Istio ambient's in-pod handoff,\n"
		"talking ZDS v1 to ztunnel-emulator on the Unix socket SOCKET.\n"
		"\n"
		"  add   opens the pod's network namespace NETNS and sends its fd to the daemon\n"
		"        (an Add with SCM_RIGHTS), then waits for the ack. Prints 'listeners\n"
		"        ready' once the daemon has bound the pod's listeners. With --redirect\n"
		"        it first installs istio-cni's redirection rules in NETNS (a 'rules:'\n"
		"        line says what it did) and removes them again if the add fails.\n"
		"        IPv4 and IPv6 alike (ip6tables, or nftables' inet tables); where\n"
		"        the pod's lo has no IPv6 a line says 'IPv6 not captured'.\n"
		"  del   deletes pod UID: the daemon closes its listeners (an unknown UID is\n"
		"        acked too). Prints 'pod UID deleted'. With --netns it first removes\n"
		"        the redirection rules from NETNS, if the netns still exists;\n"
		"        without it, from " NETNS_DIR "/UID when that holds Istio's rules (the\n"
		"        walk-thru's uid is the netns name), of whichever backend they are.\n"
		"        Both families go.\n"
		"  keep  sends a Keep for pod UID, as istio-cni does in a snapshot for a pod\n"
		"        whose netns it has not found; alone on a connection it changes\n"
		"        nothing. Prints 'pod UID kept'.\n"
		"  sync  what istio-cni does after a restart: on one connection an Add per NETNS,\n"
		"        each acked in turn, then SnapshotSent; the daemon drains every pod not\n"
		"        listed (with no NETNS, all of them). --all lists every network\n"
		"        namespace under " NETNS_DIR ", sorted by name. Prints 'UID: listeners\n"
		"        ready' or 'UID: <the daemon's nack>' per pod, then a 'sync:' summary.\n"
		"  agent    the long-lived istio-cni node agent: serves ZDS to ztunnel\n"
		"        (ztunnel connects), snapshots, Adds to the newest connection and\n"
		"        Dels to all; see '%s agent --help'.\n"
		"  enroll, unenroll  ask a running agent to enrol a pod or take it out of\n"
		"        the mesh; see '%s enroll --help'.\n"
		"  inspect  shows what to check when debugging a pod: the TCP/UDP listeners in\n"
		"        NETNS and their processes, the ISTIO_* chains (nftables: the\n"
		"        istio-ambient tables) with packet and byte counters per rule, the\n"
		"        ip rules and the routes of table 100 (both families), and\n"
		"        whether the daemon (its /config_dump) has the netns enrolled.\n"
		"\n"
		"NETNS is a path (/var/run/netns/ns2), a name under /run/netns (ns2), or a\n"
		"process id (1234 = /proc/1234/ns/net). Every NETNS is opened and checked\n"
		"before anything is sent.\n"
		"\n"
		"Options:\n"
		"  -u, --uid UID                 add: pod uid (default: the netns name, or\n"
		"                                netns-<inode> for other paths and pids)\n"
		"      --name NAME               add: pod name (default: as the uid)\n"
		"  -N, --namespace NAMESPACE     add, sync: pod's Kubernetes namespace\n"
		"                                (default: default)\n"
		"  -s, --service-account SA      add, sync: pod's service account\n"
		"                                (default: default)\n"
		"  -a, --all                     sync: every network namespace under " NETNS_DIR "\n"
		"      --match GLOB              sync --all: only the names that match GLOB\n"
		"                                (fnmatch(3), e.g. 'pod-*')\n"
		"      --dry-run                 sync: list what would be sent and drained, and\n"
		"                                change nothing (no connection, no rules)\n"
		"      --redirect[=VARIANT]      add, sync: install the in-pod redirection rules\n"
		"                                first: tproxy (Istio 1.21-1.23) or redirect\n"
		"                                (Istio >= 1.24, the default); plus the ip rule\n"
		"                                fwmark 0x111/0xfff lookup 100 and its route,\n"
		"                                for IPv4 and IPv6 (when lo has IPv6)\n"
		"      --istio-version X.Y       the Istio release to act as (1.21 to 1.30,\n"
		"                                default 1.30): a bare --redirect installs its\n"
		"                                variant (tproxy before 1.24)\n"
		"      --dns-capture=BOOL        with --redirect: true (default) or false (no\n"
		"                                port 53 -> 15053 rules)\n"
		"      --allow-host-netns        with --redirect: also a NETNS that is the host's\n"
		"                                (cni-emulator's own, init's or the daemon's),\n"
		"                                refused otherwise before anything is changed\n"
		"      --iptables-restore PATH   with --redirect or --netns: run this executable\n"
		"                                (an absolute path) instead of iptables-restore\n"
		"      --netns NETNS             del: remove the redirection rules from NETNS\n"
		"      --backend BACKEND         add, sync, del, inspect: where the rules go:\n"
		"                                iptables (default) or nftables (istio-cni >=\n"
		"                                1.28's native ruleset: tables inet\n"
		"                                istio-ambient-{nat,mangle,raw} for both\n"
		"                                families, one nft transaction); a pod with\n"
		"                                the other backend's rules is refused. del\n"
		"                                SOCKET UID finds the backend by itself\n"
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
		"--redirect, del --netns and inspect run iptables-restore/iptables-save (or\n"
		"nft) inside NETNS and change its routing: they need root (CAP_NET_ADMIN and\n"
		"CAP_SYS_ADMIN over the netns). The tools are taken from /usr/sbin, /sbin,\n"
		"/usr/bin or /bin only (never $PATH) and run with a fixed minimal environment.\n"
		"del --netns removes only istio-cni's own objects: ISTIO_PRERT and\n"
		"ISTIO_OUTPUT of mangle, nat and raw and the jumps into them (nftables: the\n"
		"three istio-ambient tables). add --redirect installs nothing over another\n"
		"ISTIO_* chain or a partial set; interrupted (SIGINT, SIGTERM, SIGHUP),\n"
		"it takes back what it installed. When the ack does not come, it sends a Del\n"
		"on a new connection and removes the rules only once that is acked.\n"
		"\n"
		"Exit status: 0 when the daemon acked every request (inspect: when everything,\n"
		"enrolment included, could be read and no verdict says the pod's traffic is\n"
		"refused), 1 on a nack, timeout or error, 2 on a usage error; 128+N when\n"
		"signal N interrupted an add or sync with --redirect.\n",
		PROG, PROG, PROG, PROG, PROG, PROG, PROG, PROG, PROG, PROG, PROG);
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

/* A verb's own checks of its arguments, then the verb: the exit status. */
typedef int verb_fn(char **pos, int npos, const struct opts *o);

static int verb_add(char **pos, int npos, const struct opts *o)
{
	if (npos != 2)
		cli_usage_error(npos < 2 ? "missing SOCKET or NETNS" : "too many arguments");
	if (o->uid && !*o->uid)
		cli_usage_error("empty --uid");
	return cmd_add(pos[0], pos[1], o);
}

static int verb_uid(enum zds_req_type type, char **pos, int npos, const struct opts *o)
{
	if (npos != 2)
		cli_usage_error(npos < 2 ? "missing SOCKET or UID" : "too many arguments");
	if (!*pos[1])
		cli_usage_error("empty UID");
	return cmd_uid(type, pos[0], pos[1], o);
}

static int verb_del(char **pos, int npos, const struct opts *o)
{
	return verb_uid(ZDS_REQ_DEL, pos, npos, o);
}

static int verb_keep(char **pos, int npos, const struct opts *o)
{
	return verb_uid(ZDS_REQ_KEEP, pos, npos, o);
}

static int verb_sync(char **pos, int npos, const struct opts *o)
{
	if (npos < 1)
		cli_usage_error("missing SOCKET");
	if ((o->given & OPT_ALL) && npos > 1)
		cli_usage_error("--all takes no NETNS arguments");
	return cmd_sync(pos[0], pos + 1, (size_t)npos - 1, o->given & OPT_ALL, o);
}

static int verb_inspect(char **pos, int npos, const struct opts *o)
{
	struct url admin;

	if (npos != 1)
		cli_usage_error(npos < 1 ? "missing NETNS" : "too many arguments");
	if (dump_parse_url(o->admin ? o->admin : DEFAULT_ADMIN, &admin))
		cli_usage_error("invalid --admin '%s': expected http://HOST:PORT[/PATH]", o->admin);
	return cmd_inspect(pos[0], &admin, o);
}

/*
 * The verbs, and the options each takes besides --timeout. The first is the
 * default: without a verb, the walk-thru's two-argument form of add. A verb
 * is the first argument that is not an option (getopt permutes), so options
 * before it keep working as they always did.
 */
static const struct verb {
	const char *name;
	verb_fn *fn;
	const char *summary;
	unsigned int options;
} verbs[] = {
	{ "add", verb_add, "hand a pod's netns to the daemon",
	  OPT_UID | OPT_NAME | OPT_NAMESPACE | OPT_SA | OPT_REDIRECT | OPT_DNS | OPT_ALLOW_HOST |
		  OPT_RESTORE | OPT_BACKEND },
	{ "del", verb_del, "delete a pod by uid", OPT_NETNS | OPT_RESTORE | OPT_BACKEND },
	{ "keep", verb_keep, "keep a pod by uid (snapshot)", 0 },
	{ "sync", verb_sync, "replay the snapshot after a restart",
	  OPT_NAMESPACE | OPT_SA | OPT_ALL | OPT_REDIRECT | OPT_DNS | OPT_ALLOW_HOST | OPT_RESTORE |
	  OPT_MATCH | OPT_DRY_RUN | OPT_BACKEND },
	{ "inspect", verb_inspect, "show what to check when debugging a pod",
	  OPT_JSON | OPT_SOCKET | OPT_ADMIN | OPT_BACKEND },
};

static const struct option long_opts[] = {
	{ "uid", required_argument, NULL, 'u' },
	/* no -n: iproute2 and nsenter use it for a netns, istioctl for a namespace */
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
	{ "match", required_argument, NULL, LO_MATCH },
	{ "dry-run", no_argument, NULL, LO_DRY_RUN },
	{ "backend", required_argument, NULL, LO_BACKEND },
	{ "istio-version", required_argument, NULL, LO_ISTIO_VERSION },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* --istio-version: the rules variant a bare --redirect installs (release.h). */
static void set_release(const char *text, struct opts *o)
{
	struct ze_err e;
	const struct release *r = release_parse(text, &e);

	if (!r)
		cli_usage_error("%s", e.msg);
	if (!o->variant_given)
		o->variant = r->redirect_rules ? RD_REDIRECT : RD_TPROXY;
}

/*
 * One option into *o: 0, or 1 after --help or --version (main then exits
 * 0). A bad value is a usage error (exit 2, common/cli.h).
 */
static int parse_option(int c, struct opts *o)
{
	int ret;

	switch (c) {
	case 'u':
		o->uid = optarg;
		o->given |= OPT_UID;
		break;
	case 'n':
		o->name = optarg;
		o->given |= OPT_NAME;
		break;
	case 'N':
		o->namespace_ = optarg;
		o->given |= OPT_NAMESPACE;
		break;
	case 's':
		o->service_account = optarg;
		o->given |= OPT_SA;
		break;
	case 'a':
		o->given |= OPT_ALL;
		break;
	case LO_REDIRECT:
		if (optarg && rd_variant_parse(optarg, &o->variant))
			cli_usage_error("invalid --redirect '%s': expected tproxy or redirect", optarg);
		o->variant_given |= optarg != NULL;
		o->given |= OPT_REDIRECT;
		break;
	case LO_ISTIO_VERSION:
		set_release(optarg, o);
		break;
	case LO_DNS:
		if (optarg && !parse_bool(optarg, &o->dns_capture))
			cli_usage_error("invalid --dns-capture '%s': expected true or false", optarg);
		if (!optarg)
			o->dns_capture = true;
		o->given |= OPT_DNS;
		break;
	case LO_NETNS:
		o->netns = optarg;
		o->given |= OPT_NETNS;
		break;
	case LO_JSON:
		o->given |= OPT_JSON;
		break;
	case LO_SOCKET:
		o->socket = optarg;
		o->given |= OPT_SOCKET;
		break;
	case LO_ADMIN:
		o->admin = optarg;
		o->given |= OPT_ADMIN;
		break;
	case LO_ALLOW_HOST:
		o->given |= OPT_ALLOW_HOST;
		break;
	case LO_RESTORE:
		ret = rd_set_tool("iptables-restore", optarg);
		if (ret)
			cli_usage_error("invalid --iptables-restore '%s': %s", optarg,
					ret == -EINVAL ? "not an absolute path" : strerror(-ret));
		o->given |= OPT_RESTORE;
		break;
	case LO_MATCH:
		if (!*optarg)
			cli_usage_error("empty --match");
		o->match = optarg;
		o->given |= OPT_MATCH;
		break;
	case LO_DRY_RUN:
		o->given |= OPT_DRY_RUN;
		break;
	case LO_BACKEND:
		opts_backend(optarg);
		o->given |= OPT_BACKEND;
		break;
	case 't':
		o->timeout_ms = (int)(cli_parse_seconds("timeout", optarg) * 1000 + 0.5) ?: 1;
		break;
	default:
		return opts_tail(c, usage);
	}
	return 0;
}

/* Refuses (a usage error) an option the verb has no use for, or one missing its partner. */
static void check_options(const struct verb *v, const struct opts *o)
{
	static const char *const opt_names[] = { "--uid", "--name", "--namespace",
						 "--service-account", "--all", "--redirect",
						 "--dns-capture", "--netns", "--json", "--socket",
						 "--admin", "--allow-host-netns", "--iptables-restore",
						 "--match", "--dry-run", "--backend" };
	/* where an option belongs, for the usage error that refuses it elsewhere */
	static const char *const opt_homes[] = { "add", "add", "add and sync", "add and sync",
						 "sync", "add and sync", "add and sync", "del",
						 "inspect", "inspect", "inspect", "add and sync",
						 "add, sync and del", "sync --all", "sync",
						 "add, sync, del and inspect" };
	unsigned int bad = o->given & ~v->options;
	int i;

	if (bad) {
		i = __builtin_ctz(bad);
		if (v->fn == verb_sync && (bad & (OPT_UID | OPT_NAME)))
			cli_usage_error("%s is not valid with 'sync' (each pod's uid and name come "
					"from its NETNS)", opt_names[i]);
		if ((v->fn == verb_del || v->fn == verb_keep) && (bad & OPT_UID))
			cli_usage_error("--uid is not valid with '%s' (give the UID as an argument)",
					v->name);
		cli_usage_error("%s is not valid with '%s' (it is for %s)", opt_names[i], v->name,
				opt_homes[i]);
	}
	if ((o->given & OPT_DNS) && !(o->given & OPT_REDIRECT))
		cli_usage_error("--dns-capture needs --redirect");
	if ((o->given & OPT_ALLOW_HOST) && !(o->given & OPT_REDIRECT))
		cli_usage_error("--allow-host-netns needs --redirect");
	if ((o->given & OPT_RESTORE) && !(o->given & (OPT_REDIRECT | OPT_NETNS)))
		cli_usage_error("--iptables-restore needs --redirect (add, sync) or --netns (del)");
	if ((o->given & OPT_MATCH) && !(o->given & OPT_ALL))
		cli_usage_error("--match needs --all (it filters the names under " NETNS_DIR ")");
	if ((o->given & OPT_NETNS) && !*o->netns)
		cli_usage_error("empty --netns");
}

/*
 * Does any argument look like an option ("-" alone is an operand)? Without
 * one, getopt_long() would return -1 at once with optind 1, so a plain
 * 'add SOCKET NETNS' skips it: its code and its getenv("POSIXLY_CORRECT")
 * were two or three page faults of a one-shot add (issue 18).
 */
static bool has_options(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1])
			return true;
	return false;
}

int main(int argc, char **argv)
{
	static char out_buf[BUFSIZ];
	struct opts o = {
		.namespace_ = "default",
		.service_account = "default",
		.timeout_ms = 5000,
		/* the newest release's (Istio >= 1.24) unless --istio-version says older */
		.variant = release_default()->redirect_rules ? RD_REDIRECT : RD_TPROXY,
		.dns_capture = true,
	};
	const struct verb *v = &verbs[0];
	bool any_option = has_options(argc, argv);
	char **pos, why[512];
	int c, npos;
	size_t i;

	cli_set_prog(PROG);
	c = cli_guard_stdio();
	if (c)
		cli_die("cannot open /dev/null onto a closed stdin, stdout or stderr: %s", strerror(-c));
	/* the node agent's verbs: first word, then their own option tables */
	if (argc > 1 && !strcmp(argv[1], "agent"))
		return agent_main(argc - 1, argv + 1);
	if (argc > 1 && (!strcmp(argv[1], "enroll") || !strcmp(argv[1], "unenroll")))
		return cmd_enroll_main(argc - 1, argv + 1, !strcmp(argv[1], "unenroll"));
	while (any_option && (c = getopt_long(argc, argv, "u:N:s:at:hV", long_opts, NULL)) != -1)
		if (parse_option(c, &o))
			return cli_close_stdout();	/* --help, --version: written, or 1 */
	pos = argv + optind;
	npos = argc - optind;
	for (i = 0; npos >= 1 && i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (!strcmp(pos[0], verbs[i].name)) {
			v = &verbs[i];
			pos++;
			npos--;
			break;
		}
	}
	check_options(v, &o);
	/* SOCKET first for all but inspect: name a swapped or mistyped one */
	if (v->fn != verb_inspect && npos >= 1 &&
	    socket_arg_problem(pos[0], npos > 1 ? pos[1] : NULL, pos != argv + optind, why,
			       sizeof(why)))
		cli_usage_error("%s", why);
	/*
	 * Live output when a sync of many pods runs into a pipe. The buffer is
	 * ours: stdio would malloc() one, and a plain add uses no heap
	 * otherwise (its first use costs brk() twice, getrandom(), an fstat()
	 * of stdout and two page faults: issue 18).
	 */
	setvbuf(stdout, out_buf, _IOLBF, sizeof(out_buf));
	return v->fn(pos, npos, &o);
}
