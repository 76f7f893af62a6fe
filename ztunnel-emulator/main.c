/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ztunnel-emulator's composition root: start-up order, the loop, shutdown;
 * picks the exit code. Holds no protocol logic (zds, pods, proxy, relay and
 * http own theirs). Interface: none (main); the parts it composes: daemon.h.
 *
 * ztunnel-emulator: the ztunnel side of Istio ambient's in-pod handoff.
 * Serves ZDS v1 on a SOCK_SEQPACKET Unix socket; for each Add it receives
 * the pod's netns fd, setns()es into it, creates the pod's listeners there,
 * returns to its own netns and acks. One epoll loop serves every client,
 * pod and listener; a bad request costs only its own connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin/http.h"
#include "admin/report.h"
#include "cli.h"
#include "daemon.h"
#include "dns/server.h"
#include "drain.h"
#include "fdtable.h"
#include "hbone/hbone.h"
#include "log.h"
#include "netns.h"
#include "privs.h"
#include "zds_client.h"
#include "zds_server.h"

static const char *listener_summary(const struct config *cfg)
{
	static char buf[512];
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < cfg->nspecs && o < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s%s", i ? ", " : "",
				      cfg->specs[i].addr_text,
				      cfg->specs[i].socktype == SOCK_DGRAM ? "/udp" : "");
	return buf;
}

/* true when the daemon should exit */
static bool handle_signal(struct daemon *d)
{
	struct signalfd_siginfo si;
	const char *name;

	if (read(d->sig.fd, &si, sizeof(si)) != sizeof(si))
		return false;
	if (si.ssi_signo == SIGUSR1) {
		report_log_table(d);
		return false;
	}
	if (si.ssi_signo == SIGHUP) {
		dns_reload(d);
		return false;
	}
	name = si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
	if (d->drain) {
		/* ztunnel: a second signal exits at once (roles.md 4) */
		if (si.ssi_signo == SIGINT)
			log_line(LOG_INFO, "ztunnel::signal", "Double Ctrl+C, exit immediately");
		log_line(LOG_INFO, T_EMU, "received %s again, exiting at once", name);
		return true;
	}
	log_line(LOG_INFO, T_EMU, "received %s, shutting down", name);
	drain_begin(d, name);
	return false;
}

static void signal_ready(struct loop_src *src, uint32_t events)
{
	struct daemon *d = src->ctx;

	(void)events;
	if (handle_signal(d))
		loop_stop(&d->loop);
}

/* The release's layout (LOG_FORMAT=json: JSON lines) and the level filter. */
static void apply_log_options(const struct config *cfg)
{
	const char *json = getenv("LOG_FORMAT");
	char why[200];

	if (log_set_filter(cfg->log_level, why, sizeof(why)))
		cli_usage_error("%s (from --log-level or RUST_LOG)", why);
	/* LOG_FORMAT=json as the release printed it; 1.21 had no LOG_FORMAT */
	if (json && !strcmp(json, "json") && cfg->lines->json != JSON_NONE)
		log_set_layout(cfg->lines->json == JSON_ISTIO ? LOG_LAYOUT_JSON : LOG_LAYOUT_JSON_TRACING);
	else
		log_set_layout(cfg->lines->tab_layout ? LOG_LAYOUT_TAB : LOG_LAYOUT_FULL);
}

/* ztunnel's start-up config dump: its keys by release (observability.md 2). */
static void log_config(const struct config *cfg)
{
	unsigned m = cfg->lines->minor;

	if (m >= 22)
		log_plain("running with config:");
	if (m == 22)
		log_plain("inpodEnabled: true");
	else if (m < 22)
		log_plain("inpod_enabled: true");
	log_plain("%s: %s", m < 22 ? "inpod_uds" : "inpodUds", cfg->socket_path);
	log_plain("%s: %s", m < 22 ? "inpod_port_reuse" : "inpodPortReuse",
		  cfg->port_reuse ? "true" : "false");
	if (cfg->mark)
		log_plain("%s: %u", m < 22 ? "inpod_mark" : m == 22 ? "inpodMark" : "packetMark",
			  cfg->mark);
}

/* The command line into cfg; --help, --version and usage errors end here (exit 0 or 2). */
static void parse_command_line(int argc, char **argv, struct config *cfg)
{
	struct ze_err err;
	int ret = config_parse(argc, argv, cfg, &err);

	if (ret == CONFIG_HELP) {
		config_usage(stdout);
		exit(cli_close_stdout());
	}
	if (ret == CONFIG_VERSION) {
		printf("%s %s\n", PROG, ZE_VERSION);
		exit(cli_close_stdout());
	}
	if (ret < 0) {
		if (err.msg[0])
			cli_usage_error("%s", err.msg);
		cli_usage_error(NULL);
	}
	apply_log_options(cfg);
}

/* SIGINT, SIGTERM, SIGUSR1 and SIGHUP as a signalfd for the loop; SIGPIPE ignored. Dies on failure. */
static int open_signalfd(void)
{
	sigset_t mask;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		cli_die("sigprocmask: %s", strerror(errno));
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		cli_die("signalfd: %s", strerror(errno));
	return fd;
}

/* The ZDS role on the loop: the listening socket (walk-thru), or the connect loop (--connect). */
static void start_zds(struct daemon *d)
{
	struct ze_err err;
	int ret;

	if (d->cfg.connect) {
		/* no ZDS server: its connection lists stay empty */
		list_init(&d->conns);
		list_init(&d->waiting);
		ret = zds_client_start(d);
	} else {
		if (zsock_setup(d, &err))
			cli_die("%s", err.msg);
		ret = zds_server_start(d);
	}
	if (!ret)
		ret = loop_watch(&d->loop, &d->sig, EPOLLIN, signal_ready, d);
	if (ret) {
		sockpath_remove(&d->sock);
		cli_die("cannot start the ZDS %s: %s", d->cfg.connect ? "client" : "server",
			strerror(-ret));
	}
}

static void log_start_line(const struct config *cfg)
{
	const char *profile = cfg->profile == PROFILE_AMBIENT ? "ambient" : "walkthru";

	if (cfg->connect)
		log_line(LOG_INFO, T_EMU, "%s %s connecting to the node agent at %s; profile %s: pod listeners %s",
			 PROG, ZE_VERSION, cfg->socket_path, profile, listener_summary(cfg));
	else
		log_line(LOG_INFO, T_EMU, "%s %s listening on %s (mode %04o); profile %s: pod listeners %s",
			 PROG, ZE_VERSION, cfg->socket_path, (unsigned)cfg->socket_mode, profile,
			 listener_summary(cfg));
}

int main(int argc, char **argv)
{
	struct daemon d;
	struct ze_err err;
	int ret;

	memset(&d, 0, sizeof(d));
	d.server.fd = -1;
	cli_set_prog(PROG);
	ret = cli_guard_stdio();
	if (ret)
		cli_die("cannot open /dev/null onto a closed stdin, stdout or stderr: %s", strerror(-ret));
	/*
	 * A fixed mmap threshold: a /metrics or /config_dump body for thousands
	 * of pods (megabytes) is then always its own mapping, returned to the
	 * kernel when freed. glibc's default raises the threshold after the first
	 * big free, and the next body stays in the heap for good (measured: RSS
	 * 9.6 -> 26 MB at 4,977 pods after two scrapes, and never back).
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	parse_command_line(argc, argv, &d.cfg);
	/* the fd table at its full size while this is the only thread (fdtable.h) */
	privs_raise_fd_limit(&d.cfg);
	fdtable_reserve(FDTABLE_MAX);
	/* a stalled reader of stdout must not stall ZDS, HTTP or SIGTERM; 1 MiB: a table of ~7,000 pods */
	ret = log_start(STDOUT_FILENO, 1 << 20);
	if (ret)
		cli_die("cannot start the log writer: %s", strerror(-ret));
	ret = privs_check(&d.cfg, &err);
	if (ret)
		cli_die("%s", err.msg);
	clock_gettime(CLOCK_REALTIME, &d.start_time);

	/* ztunnel saves its own netns once, before any pod is handled */
	d.own_netns_fd = netns_open_current();
	if (d.own_netns_fd < 0)
		cli_die("cannot open the daemon's own network namespace: %s", strerror(-d.own_netns_fd));
	ret = netns_fd_id(d.own_netns_fd, &d.own_netns);
	if (ret)
		cli_die("cannot identify the daemon's own network namespace: %s", strerror(-ret));
	if (pod_table_init(&d.pods) < 0)
		cli_die("out of memory");
	d.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	d.sig.fd = open_signalfd();
	ret = loop_init(&d.loop);
	if (ret)
		cli_die("epoll_create1: %s", strerror(-ret));

	/* each part puts its sources and timers on the loop as it starts */
	start_zds(&d);
	pods_start(&d);
	ret = relay_start_timers(&d);
	if (ret) {
		sockpath_remove(&d.sock);
		cli_die("cannot set up the relays: %s", strerror(-ret));
	}
	if (dns_start(&d, &err) ||
	    (d.cfg.profile == PROFILE_AMBIENT && hbone_init(&d, &err))) {
		sockpath_remove(&d.sock);
		cli_die("%s", err.msg);
	}

	log_config(&d.cfg);
	ret = http_start(&d, &err);
	if (ret) {
		/* all the rest is up: the same teardown as at exit (socket removed, pod table freed) */
		cli_err("%s", err.msg);
		daemon_shutdown(&d);
		return 1;
	}
	privs_log_capacity(&d);
	privs_drop(&d);
	relay_pool_run(&d);	/* the threads get the privileges kept, no more */
	log_start_line(&d.cfg);

	for (;;) {
		ret = loop_turn(&d.loop);
		if (ret < 0) {
			log_line(LOG_ERROR, T_EMU, "epoll_wait: %s", strerror(-ret));
			daemon_shutdown(&d);
			return 1;
		}
		if (d.loop.failed) {
			/*
			 * Not back in our own netns (proxy.c): nothing more is
			 * done here but removing the socket file; the exit
			 * flushes the log.
			 */
			sockpath_remove(&d.sock);
			return d.loop.failed;
		}
		if (ret > 0) {	/* drained, a second signal, or a protocol error (--connect) */
			daemon_shutdown(&d);
			return d.exit_status;
		}
	}
}
