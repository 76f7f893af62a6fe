/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZT_DAEMON_H
#define ZT_DAEMON_H

/* What the daemon's parts share: its configuration, state and counters. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>

#include "netns.h"
#include "admin/stats.h"
#include "config.h"
#include "loop.h"
#include "pods.h"
#include "sockpath.h"
#include "targets.h"
#include "wm.h"
#include "zds.h"


struct http_server;
struct dns_state;
struct zds_client;
struct drain;
struct hbone;

/* Relays in one state, in the order their deadline comes (relay.c). */
struct relay_queue {
	struct relay *head, *tail;
};

struct daemon {
	struct config cfg;
	struct loop loop;
	struct loop_src server, sig;
	/* each module's timer on the loop: idle peers, pending pods, the socket file, relays, HTTP */
	struct loop_timer conn_timer, retry_timer, sock_timer, relay_timer, http_timer;
	int own_netns_fd;
	int spare_fd;		/* given up to accept-and-drop when out of fds */
	struct netns_id own_netns;
	struct sockpath sock;	/* the socket file we made, to check and remove only ours */
	struct timespec sock_next_check;	/* CLOCK_MONOTONIC */
	char sock_lost[PATH_MAX + 64];	/* why not ready: the socket is gone ("" = fine) */
	struct pod_table pods;
	size_t n_up, n_pending;
	struct list_node pending;	/* pending pods, in retry order */
	struct list_node conns;	/* every connection served (zds_server.h), newest first */
	size_t n_conns;
	size_t n_unpriv_conns;	/* of n_conns, those of other users than root and the daemon's */
	struct list_node waiting;	/* connections awaiting a first request, oldest first */
	size_t n_relays;
	struct relay_queue relay_queued;	/* accepted, not started: oldest first */
	struct relay_pool *relay_pool;	/* where started relays run (relay_pool.c) */
	size_t fd_limit, fd_base;	/* RLIMIT_NOFILE, and the fds in use at start */
	uint64_t next_serial;
	struct timespec start_time;
	char *caps_kept;	/* the capability sets after start-up, as cap_to_text shows them */
	struct stats stats;
	struct http_server *http[3];	/* admin, ready, metrics */
	struct dns_state *dns;	/* the DNS proxy: registry, counters (dns/server.h) */
	struct zds_client *client;	/* --connect: the one connection to the node agent */
	struct drain *drain;	/* after SIGTERM: the graceful drain (drain.c) */
	int exit_status;	/* what main returns once the loop stops */
	struct hbone *hbone;	/* ambient: the CA, 15008 (hbone/hbone.h) */
};


/* relay.c: the data path of 15001 (outbound) and 15006 (inbound plaintext). */
void relay_start(struct daemon *d, struct listener *l, int client_fd);
/* Why a new connection of pod p cannot be relayed (the caps, HBONE streams included), or NULL. */
const char *relay_over_cap(const struct daemon *d, const struct pod *p, char *buf, size_t cap);
void relay_close_pod(struct daemon *d, struct pod *p);	/* pod drained: its connections go */
/* The pod's connections reset, each logged with why (a drain's deadline). */
void relay_reset_pod(struct daemon *d, struct pod *p, const char *why);
/* Each relay holds up to 6 fds: two sockets and two pipes (a pod-to-pod connection is two relays). */
#define RELAY_FDS 6
/* After start-up: sets --max-relays if not given; returns it. */
size_t relay_limits_init(struct daemon *d, size_t fd_limit, size_t fds_used);
/* Idle and connect timeouts, and the accepted connections still to start. */
void relay_expire(struct daemon *d);
/* Puts the start queue on the loop's timers; makes the relay threads' loops (not started). 0 or -errno. */
int relay_start_timers(struct daemon *d);
/* Starts the relay threads (--relay-threads), after the privileges are dropped. */
void relay_pool_run(struct daemon *d);
/* After every pod is drained: the relay threads end and their loops close. */
void relay_pool_stop(struct daemon *d);
long relay_next_timeout_ms(const struct daemon *d);	/* -1: none */
/* A TCP listener's accept-queue overflows (the kernel's count); logged when they grow. */
uint64_t relay_listener_drops(const struct listener *l);
/* config_dump: the pod's inbound or outbound relays as a JSON array (ztunnel's connections). */
void relay_report_conns(const struct pod *p, bool inbound, FILE *out);
void relay_check_overflow(struct daemon *d, struct listener *l);

/* daemon.c: closes and frees everything, removes the socket file. */
void daemon_shutdown(struct daemon *d);

/* zsock.c: the ZDS socket file (faults.md 1, 14, 15). */
/* 0, or -errno with e saying why (a socket that cannot be made safely) */
int zsock_setup(struct daemon *d, struct ze_err *e);
void zsock_watch(struct daemon *d);	/* in the loop: notices a lost socket, re-creates it */
long zsock_timeout_ms(const struct daemon *d);	/* until the next check */


#endif
