/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c: the daemon's options — defaults, parsing, --help text, profiles
 * turned into listener specs. Never prints (main does), never exits, never
 * touches the running daemon. Interface: this header.
 */
#ifndef ZT_CONFIG_H
#define ZT_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "dns/options.h"
#include "err.h"
#include "pods.h"
#include "release.h"

#define PROG "ztunnel-emulator"

/* Log lines of Istio 1.21 (seeds/000, the default) or of today's ztunnel. */
enum log_format { LOG_FORMAT_LEGACY, LOG_FORMAT_CURRENT };

/* An HTTP endpoint's address (host netns, loopback by default); port 0 = any free one. */
struct http_addr {
	bool enabled;
	char text[INET6_ADDRSTRLEN + 8];	/* as given, e.g. 127.0.0.1:15000 */
	struct sockaddr_storage sa;
	int family;
};

/* walkthru: seeds/001's three 127.0.0.1 listeners; ambient: real ztunnel's set, relaying */
enum profile { PROFILE_WALKTHRU, PROFILE_AMBIENT };

struct config {
	enum profile profile;
	struct listener_spec specs[POD_MAX_LISTENERS];
	size_t nspecs;
	int backlog;
	uint32_t mark;		/* SO_MARK on every socket; 0 = none */
	bool transparent;	/* IP_TRANSPARENT on the TCP listeners, best-effort */
	bool confirm;		/* check the listeners through sock_diag before acking */
	bool relay;		/* relay 15001/15006 traffic (ambient) */
	bool socks5;
	const char *socket_path;
	int family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
	char addr_text[INET6_ADDRSTRLEN];
	bool loopback;		/* lo down makes the listeners unreachable */
	bool port_reuse;
	double timeout;		/* for a connection's first request */
	double retry_interval;	/* pending pods */
	enum log_format log_format;	/* follows lines: current from 1.23's texts */
	const struct release *rel;	/* --istio-version: the behaviour */
	const struct release *lines;	/* the log layout and texts (--log-format overrides) */
	const char *log_level;	/* --log-level, else $RUST_LOG, else "info" */
	bool dns_proxy;		/* ambient: the DNS proxy's 15053 listeners */
	struct http_addr admin, ready, metrics;
	/* who may talk to the daemon */
	mode_t socket_mode;
	gid_t socket_gid;	/* (gid_t)-1: unchanged */
	bool insecure_socket_dir;	/* warn about, not refuse, a directory others control */
	bool recreate_socket;	/* put the socket back when it is removed under us */
	uid_t allow_uids[16];
	size_t n_allow_uids;
	gid_t allow_gids[16];
	size_t n_allow_gids;
	bool allow_host_netns;	/* istio#55139: refused unless asked for */
	size_t max_conns, max_pods;
	/* relays (ambient): caps and timeouts, faults.md 5; max_relays 0 = from the fd limit */
	size_t max_relays, max_relays_per_pod;
	double relay_idle_timeout, relay_connect_timeout;
	int relay_threads;	/* --relay-threads: -1 one per online CPU, 0 the main loop */
	struct dns_opts dns;	/* the DNS proxy on 15053 (ambient) */
	/* Istio's role (--connect): ztunnel connects to the node agent at socket_path */
	bool connect;
	bool protocol_errors_exit;	/* --protocol-errors exit (ztunnel >= 1.23) or close */
	double drain_deadline;	/* SIGTERM: established relays flow this long (roles.md 4) */
	const char *ca_dir, *trust_domain;	/* HBONE (ambient) */
	bool hbone_outbound;	/* 15001 to an enrolled pod goes over HBONE */
};

/* What config_parse() asks of main besides running. */
enum { CONFIG_RUN, CONFIG_HELP, CONFIG_VERSION };

/*
 * Fills cfg from the command line: CONFIG_RUN, CONFIG_HELP, CONFIG_VERSION,
 * or -EINVAL for a usage error, e saying why ("" when getopt already did).
 */
int config_parse(int argc, char **argv, struct config *cfg, struct ze_err *e);
/* The --help text. */
/* the defaults, for the options and their --help text (usage.c) */
#define DEFAULT_SOCKET "/var/run/ztunnel/ztunnel.sock"
#define DEFAULT_CA_DIR "/var/lib/ztunnel-emulator/ca"

void config_usage(FILE *out);

#endif
