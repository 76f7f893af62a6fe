/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_AGENT_CONN_H
#define CNI_AGENT_CONN_H

/*
 * One ztunnel connection of the agent's ZDS server (conn.c), and its
 * snapshot (snapshot.c): the node agent's side of a common/zds_conn.c
 * endpoint (its lock-step queue: each request written within 5 s and acked
 * within 5 s) and istio-cni's answers. Internal to cni-emulator/agent/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "agent.h"
#include "zds.h"
#include "zds_conn.h"

enum zc_state { ZC_HELLO, ZC_SNAPSHOT, ZC_STEADY };

/* One request waiting for its turn, or for its ack. */
struct zmsg {
	struct zds_out out;	/* the request on the wire; an Add's fd: a dup of the pod's netns fd */
	char *uid;
	struct agent_job *job;	/* answered when this message is, or NULL */
	bool stub;		/* a snapshot's pod, built only shortly before it is due (snapshot.c) */
};

struct ztconn {
	struct list_node node;
	struct zds_conn zc;	/* the endpoint: socket, lock-step queue of struct zmsg, deadline */
	struct agent *a;
	unsigned long id;
	char uuid[37];			/* istio-cni's conn_uuid label */
	pid_t pid;
	enum zc_state state;
	struct loop_deferred dead;
};

/*
 * A new connection on fd from pid: watched, appended (the newest), its Hello
 * deadline set; NULL on failure (fd closed).
 */
struct ztconn *zc_new(struct agent *a, int fd, pid_t pid);
/* Closes c: its requests' jobs get why (NULL: EOF); out of the list, freed after the turn. */
void zc_drop(struct ztconn *c, const char *why);
/* The newest connection (Adds go there only), or NULL. */
struct ztconn *zc_newest(struct agent *a);
/* Queues m and writes the head if nothing is in flight. */
void zc_enqueue(struct ztconn *c, struct zmsg *m);
/* A deadline passed (Hello, write or ack). */
void zc_expired(struct ztconn *c);
/* Builds and queues the snapshot ahead of anything queued meanwhile (snapshot.c). */
void zc_snapshot(struct ztconn *c);
void zc_snapshot_ahead(struct ztconn *c);

/* A request for uid (Add: p's netns fd dup'ed and its workload info), or NULL. */
struct zmsg *zmsg_new(enum zds_req_type type, const struct apod *p, const char *uid);
int zmsg_fill(struct zmsg *m, enum zds_req_type type, const struct apod *p);
void zmsg_free(struct zmsg *m);

#endif
