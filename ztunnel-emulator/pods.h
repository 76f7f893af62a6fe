/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZT_PODS_H
#define ZT_PODS_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdint.h>
#include <time.h>

#include "loop.h"
#include "netns.h"

enum listener_role { ROLE_HBONE, ROLE_PLAINTEXT, ROLE_OUTBOUND, ROLE_DNS, ROLE_SOCKS5 };

/* One of a pod's listeners, in ztunnel's order (ports and log targets as ztunnel's). */
struct listener_spec {
	int family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
	uint16_t port;
	int socktype;		/* SOCK_STREAM or SOCK_DGRAM */
	enum listener_role role;
	const char *component;	/* as ztunnel's "listener established ... component=" */
	const char *target;	/* ztunnel's log target for that proxy */
	bool optional;		/* skipped when the pod lacks the address ([::1] without IPv6) */
	char addr_text[48];	/* "127.0.0.1:15008", "[::]:15008" */
};

#define POD_MAX_LISTENERS 8

struct pod;
struct relay;
struct dns_pod;
struct hbone_pod;

struct listener {
	struct loop_src ev;	/* ev.fd -1 when closed */
	struct pod *pod;
	const struct listener_spec *spec;
	bool transparent;	/* IP_TRANSPARENT took */
	uint64_t accepted, completed, failed, bytes_sent, bytes_recv;
	uint64_t refused;	/* reset at once: a relay cap was reached */
	uint64_t drops;		/* accept-queue overflows last seen (the socket's sk_drops) */
};

/*
 * New: being started. Up: listeners bound. Pending: the start failed (e.g. a
 * port taken in the pod); the netns is kept and the start retried until it
 * works or a Del.
 */
enum pod_state { POD_NEW, POD_UP, POD_PENDING };

struct pod {
	enum pod_state state;
	char *uid, *name, *namespace_, *service_account;
	bool no_info;		/* the Add had no workload_info (1.22-1.23 accept it) */
	size_t uid_len;		/* a uid may hold any UTF-8, NUL included */
	struct netns_id nsid;
	int netns_fd;		/* held for the pod's life, as ztunnel does */
	struct listener listeners[POD_MAX_LISTENERS];
	size_t nlisteners;
	struct relay *relays;	/* connections being relayed for this pod */
	size_t n_relays;
	struct dns_pod *dns;	/* its DNS proxy state, made on the first query */
	size_t pipe_bytes;	/* grown relay pipes, against relay.c's per-pod budget */
	uint64_t seen_conn;	/* serial of the last connection that Added/Kept it */
	struct timespec added, started;	/* realtime: Add received, proxy up */
	struct timespec next_retry;	/* monotonic, while pending */
	unsigned retries;
	char *last_error;	/* why the last start failed, while pending */
	struct hbone_pod *hbone;	/* HBONE: certificate, addresses (hbone/), from the Add */
	struct list_node pending;	/* in d->pending while pending */
	struct pod *next_uid, *next_ns;	/* hash chains */
	struct pod *prev, *next;	/* all pods, for iteration */
	struct loop_deferred dead;	/* drained: freed at the end of the loop turn */
};

struct pod_table {
	struct pod **by_uid, **by_ns;
	size_t nbuckets, count;
	struct pod *head;
};

int pod_table_init(struct pod_table *t);
void pod_table_free(struct pod_table *t);	/* the table only; pods must be gone */
struct pod *pod_find_uid(const struct pod_table *t, const char *uid, size_t len);
struct pod *pod_find_ns(const struct pod_table *t, const struct netns_id *id);
int pod_insert(struct pod_table *t, struct pod *p);
void pod_remove(struct pod_table *t, struct pod *p);

/* A pod object with copies of its strings; netns_fd and listeners closed (-1). */
struct pod *pod_new(const char *uid, size_t uid_len, const char *name, size_t name_len,
		    const char *ns, size_t ns_len, const char *sa, size_t sa_len);
/* Closes what the pod still holds and frees it. */
void pod_free(struct pod *p);

struct daemon;

/* Starts the proxy (Up), or leaves the pod pending: 0 or -errno, err saying why. */
int pod_try_start(struct daemon *d, struct pod *p, char *err, size_t errlen);
/*
 * Closes the pod's listeners, relays and netns fd at once and takes it out
 * of the table; the memory waits until the current batch of events is done.
 */
void pod_drain(struct daemon *d, struct pod *p);
/* Retries the pending pods whose --retry-interval is up. */
void pods_retry_pending(struct daemon *d);
/* Before any pod: the pending FIFO, and the retries on the loop's timers. */
void pods_start(struct daemon *d);

#endif
