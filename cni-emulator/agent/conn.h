/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_AGENT_CONN_H
#define CNI_AGENT_CONN_H

/*
 * One ztunnel connection of the agent's ZDS server (conn.c), and its
 * snapshot (snapshot.c): a lock-step queue of requests, each written within
 * 5 s and acked within 5 s. Internal to cni-emulator/agent/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "agent.h"
#include "zds.h"

enum zc_state { ZC_HELLO, ZC_SNAPSHOT, ZC_STEADY };

/* One request waiting for its turn, or for its ack. */
struct zmsg {
	struct list_node node;
	enum zds_req_type type;
	uint8_t buf[ZDS_MAX_MSG];
	size_t len;
	int fd;			/* Add: a dup of the pod's netns fd */
	char *uid;
	struct agent_job *job;	/* answered when this message is, or NULL */
};

struct ztconn {
	struct list_node node;
	struct loop_src ev;
	struct agent *a;
	unsigned long id;
	char uuid[37];			/* istio-cni's conn_uuid label */
	pid_t pid;
	enum zc_state state;
	struct list_node queue;		/* struct zmsg; the head is in flight once sent */
	bool sent;			/* the head was written and awaits its ack */
	bool writing;			/* the head waits for room in the socket */
	struct timespec deadline;	/* Hello, write or ack deadline; 0 = none */
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
/* Writes the head of c's queue if nothing is in flight and the Hello came. */
void zc_pump(struct ztconn *c);
/* A deadline passed (Hello, write or ack). */
void zc_expired(struct ztconn *c);
/* Builds and queues the snapshot ahead of anything queued meanwhile (snapshot.c). */
void zc_snapshot(struct ztconn *c);

/* A request for uid (Add: p's netns fd dup'ed and its workload info), or NULL. */
struct zmsg *zmsg_new(enum zds_req_type type, const struct apod *p, const char *uid);
void zmsg_free(struct zmsg *m);

#endif
