/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: `cni-emulator agent`: its options, start-up order (state file, ZDS
 * server, control socket, watch), the loop, and a clean stop on SIGTERM or
 * SIGINT (sockets closed and removed, state written, pods' rules left in
 * place as istio-cni leaves them). Interface: agent.h.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent.h"
#include "cli.h"
#include "cni.h"
#include "fdtable.h"
#include "log.h"
#include "opts.h"
#include "log_go.h"
#include "release.h"

static void agent_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s agent [OPTIONS]\n"
		"\n"
		"The istio-cni node agent, long-lived: serves ZDS to ztunnel (ztunnel\n"
		"connects), sends each new connection a snapshot of the enrolled pods (Add\n"
		"with the netns fd, Keep for a pod whose netns is gone, then SnapshotSent),\n"
		"then every new pod's Add to the newest connection and every Del to all.\n"
		"Pods come from the control socket (POST /cmdadd as istio-cni's CNI plugin\n"
		"sends it, or 'cni-emulator enroll') and, with --watch, from " NETNS_DIR ".\n"
		"\n"
		"Options:\n"
		"      --zds-socket PATH        the ZDS socket ztunnel connects to (default\n"
		"                               $ZTUNNEL_UDS_ADDRESS, else\n"
		"                               " AGENT_DEFAULT_ZDS ")\n"
		"      --control-socket PATH    HTTP on a Unix socket: POST /cmdadd, /enroll,\n"
		"                               /unenroll, GET /pods (default\n"
		"                               " AGENT_DEFAULT_CONTROL ")\n"
		"      --state-file PATH        the enrolled pods, rebuilt from it at start\n"
		"                               (default " AGENT_DEFAULT_STATE ")\n"
		"      --watch                  enrol every netns that appears in " NETNS_DIR "\n"
		"                               (uid = its name); its removal is the pod's\n"
		"                               deletion (a Del to every ztunnel)\n"
		"      --watch-match GLOB       with --watch: only names that match GLOB\n"
		"      --redirect[=VARIANT]     install istio-cni's in-pod rules before the Add\n"
		"                               (tproxy or redirect, the default) and remove\n"
		"                               them when a running pod is un-enrolled\n"
		"      --istio-version X.Y      the Istio release to act as (1.21 to 1.30,\n"
		"                               default 1.30): its istio-cni log lines, and\n"
		"                               the variant a bare --redirect installs\n"
		"                               (tproxy before 1.24)\n"
		"      --log-level SPEC         istio-cni's log_output_level syntax: LEVEL or\n"
		"                               SCOPE:LEVEL,... (none error warn info debug;\n"
		"                               scopes cni-agent, cni-emulator; default info)\n"
		"      --dns-capture=BOOL       with --redirect: true (default) or false\n"
		"      --backend BACKEND        iptables (default) or nftables\n"
		"  -h, --help                   show this help and exit\n"
		"  -V, --version                show the version and exit\n"
		"\n"
		"SIGTERM or SIGINT stop it cleanly: ztunnel sees its connection end (and\n"
		"keeps its proxies), the sockets are removed, the state file is written, and\n"
		"the pods' rules stay in place. Exit status: 0 after a clean stop, 1 when it\n"
		"cannot start, 2 on a usage error.\n",
		PROG);
}

enum { A_ZDS = 300, A_CONTROL, A_STATE, A_WATCH, A_MATCH, A_REDIRECT, A_DNS, A_BACKEND,
	A_ISTIO_VERSION };
/* the log options' range */
enum { A_LOG_LEVEL = 0x900 };

static const struct option agent_opts[] = {
	{ "zds-socket", required_argument, NULL, A_ZDS },
	{ "control-socket", required_argument, NULL, A_CONTROL },
	{ "state-file", required_argument, NULL, A_STATE },
	{ "watch", no_argument, NULL, A_WATCH },
	{ "watch-match", required_argument, NULL, A_MATCH },
	{ "redirect", optional_argument, NULL, A_REDIRECT },
	{ "dns-capture", required_argument, NULL, A_DNS },
	{ "backend", required_argument, NULL, A_BACKEND },
	{ "istio-version", required_argument, NULL, A_ISTIO_VERSION },
	{ "log-level", required_argument, NULL, A_LOG_LEVEL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* --istio-version: the release whose lines are logged and whose rules a bare --redirect installs */
static const struct release *agent_release(const char *text)
{
	struct ze_err e;
	const struct release *r = release_parse(text, &e);

	if (!r)
		cli_usage_error("%s", e.msg);
	return r;
}

/* One option into cfg: 0, or 1 after --help/--version; usage errors exit 2. */
static int agent_option(int c, struct agent_cfg *cfg, bool *dns_given)
{
	static bool variant_given;
	char why[512];

	switch (c) {
	case A_ISTIO_VERSION:
		cfg->release = agent_release(optarg);
		if (!variant_given)
			cfg->variant = cfg->release->redirect_rules ? RD_REDIRECT : RD_TPROXY;
		break;
	case A_LOG_LEVEL:
		if (golog_set_levels(optarg, why, sizeof(why)))
			cli_usage_error("%s", why);
		break;
	case A_ZDS: cfg->zds_path = optarg; break;
	case A_CONTROL: cfg->control_path = optarg; break;
	case A_STATE: cfg->state_path = optarg; break;
	case A_WATCH: cfg->watch = true; break;
	case A_MATCH: cfg->watch_match = optarg; break;
	case A_REDIRECT:
		if (optarg && rd_variant_parse(optarg, &cfg->variant))
			cli_usage_error("invalid --redirect '%s': expected tproxy or redirect", optarg);
		variant_given |= optarg != NULL;
		cfg->redirect = true;
		break;
	case A_DNS:
		if (strcmp(optarg, "true") && strcmp(optarg, "false"))
			cli_usage_error("invalid --dns-capture '%s': expected true or false", optarg);
		cfg->dns_capture = !strcmp(optarg, "true");
		*dns_given = true;
		break;
	case A_BACKEND:
		opts_backend(optarg);
		break;
	default:
		return opts_tail(c, agent_usage);
	}
	return 0;
}

/* The command line into cfg; exits after --help/--version (0) or a usage error (2). */
static void agent_parse(int argc, char **argv, struct agent_cfg *cfg)
{
	const char *env = getenv("ZTUNNEL_UDS_ADDRESS");
	bool dns_given = false;
	int c;

	cfg->zds_path = env && *env ? env : AGENT_DEFAULT_ZDS;
	cfg->control_path = AGENT_DEFAULT_CONTROL;
	cfg->state_path = AGENT_DEFAULT_STATE;
	cfg->dns_capture = true;
	cfg->release = release_default();
	cfg->variant = cfg->release->redirect_rules ? RD_REDIRECT : RD_TPROXY;
	while ((c = getopt_long(argc, argv, "hV", agent_opts, NULL)) != -1)
		if (agent_option(c, cfg, &dns_given))
			exit(cli_close_stdout());
	if (optind < argc)
		cli_usage_error("agent takes no arguments ('%s')", argv[optind]);
	if (dns_given && !cfg->redirect)
		cli_usage_error("--dns-capture needs --redirect");
	if (cfg->watch_match && !cfg->watch)
		cli_usage_error("--watch-match needs --watch");
	if (!*cfg->zds_path || !*cfg->control_path || !*cfg->state_path)
		cli_usage_error("empty socket or state file path");
}

static void signal_ready(struct loop_src *src, uint32_t events)
{
	struct agent *a = src->ctx;
	struct signalfd_siginfo si;

	(void)events;
	if (read(src->fd, &si, sizeof(si)) != sizeof(si))
		return;
	golog(LOG_INFO, SCOPE_EMU, "received %s, shutting down",
	      si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
	a->stopping = true;
	loop_stop(&a->loop);
}

/* SIGINT and SIGTERM as a signalfd, blocked before any thread starts: fd or -errno. */
static int open_signals(void)
{
	sigset_t mask;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

/* Everything in start-up order; -errno with why. */
static int agent_start(struct agent *a, char *why, size_t cap)
{
	int ret;

	ret = loop_init(&a->loop);
	if (ret)
		return ze_reason(why, cap, ret, "epoll: %s", strerror(-ret));
	a->sig.fd = open_signals();
	if (a->sig.fd < 0)
		return ze_reason(why, cap, a->sig.fd, "signalfd: %s", strerror(-a->sig.fd));
	ret = loop_watch(&a->loop, &a->sig, EPOLLIN, signal_ready, a);
	if (!ret)
		ret = state_load(a, why, cap);
	if (!ret)
		ret = server_start(a, why, cap);
	if (!ret)
		ret = control_start(a, why, cap);
	if (!ret && a->cfg.watch)
		ret = watch_start(a, why, cap);
	return ret;
}

/* The clean stop: no new requests, ztunnels see EOF, sockets removed, state written. */
static void agent_finish(struct agent *a)
{
	char why[512];

	control_quiesce(a);
	watch_stop(a);
	server_stop(a);
	control_stop(a);
	/* only a started agent's table is the truth: a failed start keeps the old file */
	if (a->started && state_save(a, why, sizeof(why)))
		golog(LOG_WARN, SCOPE_EMU, "%s", why);
	while (!list_empty(&a->pods))
		apod_free(a, container_of(a->pods.next, struct apod, node));
	state_close(a);
	loop_run_deferred(&a->loop);
	if (a->sig.fd >= 0)
		close(a->sig.fd);
	loop_close(&a->loop);
}

int agent_main(int argc, char **argv)
{
	struct agent a;
	char why[4096];
	int ret;

	memset(&a, 0, sizeof(a));
	a.sig.fd = a.zserver.fd = a.watch.fd = a.journal_fd = -1;
	list_init(&a.pods);
	list_init(&a.conns);
	agent_parse(argc, argv, &a.cfg);
	/* a pod holds its netns fd (and a snapshot a dup of each): the fd table at its full size now (fdtable.h) */
	fdtable_reserve(FDTABLE_MAX);
	ret = log_start(STDOUT_FILENO, 1 << 20);
	if (ret)
		cli_die("cannot start the log writer: %s", strerror(-ret));
	ret = agent_start(&a, why, sizeof(why));
	if (ret) {
		a.stopping = true;
		agent_finish(&a);
		log_stop(1);
		return cli_err("%s", why);
	}
	golog(LOG_INFO, SCOPE_EMU, "node agent listening\tzds=%s control=%s pods=%zu istio_version=%s",
	      a.zsock.path, a.cfg.control_path, apods_count(&a), a.cfg.release->name);
	a.started = true;
	while ((ret = loop_turn(&a.loop)) == 0)
		;
	agent_finish(&a);
	log_stop(1);
	if (ret < 0)
		return cli_err("event loop: %s", strerror(-ret));
	return 0;
}
