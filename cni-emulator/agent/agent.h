/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_AGENT_H
#define CNI_AGENT_H

/*
 * cni-emulator agent: the long-lived istio-cni node agent (roles.md §2).
 * It serves ZDS on --zds-socket (ztunnel connects), keeps the enrolled pods,
 * sends each new connection a snapshot, then Adds to the newest connection
 * and Dels to all; pods come from the control socket (HTTP, POST /cmdadd as
 * istio-cni's CNI plugin sends it) and, with --watch, from /run/netns.
 *
 * Everything runs on one event loop (common/loop.c) in the main thread; the
 * HTTP server's threads only hand jobs to it (control.c) and wait.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "list.h"
#include "loop.h"
#include "netns.h"
#include "redirect.h"
#include "release.h"
#include "sockpath.h"

#define AGENT_DEFAULT_ZDS "/var/run/ztunnel/ztunnel.sock"
#define AGENT_DEFAULT_CONTROL "/var/run/istio-cni/pluginevent.sock"
#define AGENT_DEFAULT_STATE "/var/run/istio-cni/agent-state.json"
#define AGENT_MAX_IPS 8
#define AGENT_IP_LEN 64
/* istio-cni's deadlines: Hello, each write, each ack; the idle probe */
#define AGENT_DEADLINE_MS 5000

struct agent_job;

/*
 * An enrolled pod: what istio-cni's pod cache holds, plus the lab's netns
 * path. Kept small (issue 18: a few hundred bytes a pod): the addresses are
 * allocated only when there are some.
 */
struct apod {
	struct list_node node;
	struct apod *hnext;	/* the next in its bucket of the uid index (pods.c) */
	char *uid, *name, *namespace_, *service_account;
	char *netns;		/* the path as given (re-checked at each snapshot) */
	int nsfd;		/* -1: not available (sent as Keep) */
	struct netns_id id;
	char (*ips)[AGENT_IP_LEN];	/* nips addresses, malloc'ed; NULL when none */
	unsigned char nips;
	bool acked;		/* the newest connection acked its Add */
	bool rules;		/* --redirect rules installed by this agent */
	bool watched;		/* enrolled by --watch */
};

/* The agent's options as parsed. */
struct agent_cfg {
	const char *zds_path, *control_path, *state_path;
	bool watch, redirect, dns_capture;
	const char *watch_match;
	enum rd_variant variant;
	const struct release *release;	/* --istio-version: its istio-cni lines (lines.c) */
};

struct agent {
	struct agent_cfg cfg;
	struct loop loop;
	struct loop_src sig;
	struct list_node pods;		/* struct apod, in enrolment order */
	struct apod **pod_index;	/* by uid: nbuckets chains (pods.c) */
	size_t nbuckets, npods;
	/* state.c: the journal of changes since the state file was last written */
	int journal_fd;			/* -1: not open */
	size_t journal_lines;
	/* server.c */
	struct sockpath zsock;
	struct loop_src zserver;
	struct list_node conns;		/* struct ztconn (conn.h), oldest first */
	size_t nconns;
	unsigned long next_conn_id;
	struct loop_timer conn_timer;
	struct timespec accept_next;	/* istio-cni >= 1.24 accepts 5 per second, burst 1 */
	bool accept_paused;
	/* control.c */
	struct control *control;
	/* watch.c */
	struct loop_src watch;
	bool stopping;
	bool started;		/* up and serving: its table may be saved */
};

/* pods.c: the pod table */
struct apod *apod_find(struct agent *a, const char *uid);
struct apod *apod_find_netns(struct agent *a, const char *spec);
struct apod *apod_new(struct agent *a, const char *uid, const char *name, const char *ns,
		      const char *sa, const char *netns);
/* Takes p out of the table (the list and the uid index); it stays p's caller's. */
void apod_remove(struct agent *a, struct apod *p);
/* Frees p, taken out of the table first if it is in one. */
void apod_free(struct agent *a, struct apod *p);
/* Sets p's addresses (a copy of n of them): 0 or -ENOMEM (p unchanged). */
int apod_set_ips(struct apod *p, const char (*ips)[AGENT_IP_LEN], size_t n);
/* Opens p->netns again (a fresh fd), or releases the fd when the path is gone: 0 or -errno. */
int apod_open_netns(struct apod *p, char *why, size_t cap);
void apod_release_fd(struct apod *p);
/* Is the netns p holds still at its path? (the lab rule for a vanished netns) */
bool apod_netns_present(const struct apod *p);
/* One pod as a JSON object (GET /pods, the state file). */
struct json_t *apod_json(const struct apod *p);
size_t apods_count(struct agent *a);
/* JSON text of every pod (GET /pods), malloc'ed. */
char *apods_json(struct agent *a);

/* server.c: the ZDS server */
int server_start(struct agent *a, char *why, size_t cap);
void server_stop(struct agent *a);
/*
 * Sends p's Add to the newest connection: 0 when queued (job completes on
 * the ack), -ENOTCONN when there is none.
 */
int server_add(struct agent *a, struct apod *p, struct agent_job *job);
/* Sends a Del of uid to every connection; job completes when all answered. */
void server_del(struct agent *a, const char *uid, struct agent_job *job);
/* The ztunnels' pids (SO_PEERCRED), for the host-netns guard: how many filled. */
size_t server_peer_pids(struct agent *a, pid_t *pids, size_t cap);

/* enroll.c: enrol and un-enrol, istio-cni's steps in its order */
struct enroll_req {
	const char *uid, *name, *namespace_, *service_account, *netns;
	char ips[AGENT_MAX_IPS][AGENT_IP_LEN];
	size_t nips;
	bool watched;
};
/* Starts an enrolment; the job completes now (an error) or on the ztunnel's ack. */
void agent_enroll(struct agent *a, const struct enroll_req *r, struct agent_job *job);
/* uid_or_netns names a pod; deleted: the netns is gone (--watch), rules not touched. */
void agent_unenroll(struct agent *a, const char *uid_or_netns, bool deleted,
		    struct agent_job *job);

/*
 * state.c: the state file and its journal. state_save() writes every pod
 * (temp file, rename) and empties the journal; state_pod()/state_gone()
 * append one change to the journal (one write, O(1)), which is written out
 * into the state file when it grows past twice the table.
 */
int state_save(struct agent *a, char *why, size_t cap);
int state_pod(struct agent *a, const struct apod *p, char *why, size_t cap);
int state_gone(struct agent *a, const char *uid, char *why, size_t cap);
int state_load(struct agent *a, char *why, size_t cap);
void state_close(struct agent *a);

/* watch.c: --watch */
int watch_start(struct agent *a, char *why, size_t cap);
void watch_stop(struct agent *a);

/* control.c: the control socket (libmicrohttpd on a listening fd of ours) */
int control_start(struct agent *a, char *why, size_t cap);
void control_quiesce(struct agent *a);
void control_stop(struct agent *a);

/* A request the loop answers: HTTP status and body (a line of text or JSON). */
struct agent_job {
	void (*done)(struct agent_job *job);	/* called on the loop thread */
	unsigned status;
	char body[1024];
	int waiting;		/* answers still awaited (Del to all) */
	char *json;		/* GET /pods: malloc'ed body instead of body[] */
	void *ctx;
};
void job_finish(struct agent_job *job, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Logging in the agent's voice (istio-cni's lines). */

int agent_main(int argc, char **argv);

#endif
