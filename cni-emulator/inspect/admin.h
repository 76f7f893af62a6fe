/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_INSPECT_ADMIN_H
#define CNI_INSPECT_ADMIN_H

/*
 * Owns: reading the daemon's /config_dump: a plain HTTP/1.0 GET, parsed with
 * jansson for what cni-emulator needs (the daemon's pid and profile, and
 * .pods[] = {uid, state, netns: {dev, inode}}), and finding the admin
 * endpoint of a daemon from its pid. Never touches: output (nothing here
 * prints), the pod's netns. Interface: this header (inspect/admin.c).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "netns.h"

struct url {
	char host[256], port[8], path[512], text[800];
};

struct dump_pod {
	char uid[256], state[32], dev[32];
	uint64_t inode;
	/* HBONE (ambient): the pod's SPIFFE identity and its certificate's expiry, or "" */
	char identity[320], cert_expiry[32];
};

struct dump_config {
	long pid;		/* 0 when absent */
	char profile[16];	/* "walkthru", "ambient", or "" */
};

/* "http://HOST[:PORT][/PATH]" (HOST may be [IPv6]); an empty path means /config_dump. 0 or -errno. */
int dump_parse_url(const char *s, struct url *u);

/* GET u: 0 with the HTTP status and body (malloc'd, NUL-terminated), or -errno and why. */
int dump_http_get(const struct url *u, int timeout_ms, int *status, char **body, char *err,
		  size_t cap);

/*
 * Walks a config_dump: fills *cfg (when not NULL) and calls cb for each pod
 * (a non-zero return stops the walk). 0, or -EINVAL when body is not the
 * JSON expected.
 */
int dump_scan(const char *body, struct dump_config *cfg,
	      int (*cb)(const struct dump_pod *p, void *arg), void *arg);

/*
 * Finds the pod whose netns is id in a config_dump: 0 with *found, *match
 * and *npods set, or -EINVAL when body is not the JSON expected.
 */
int dump_find_pod(const char *body, const struct netns_id *id, bool *found,
		  struct dump_pod *match, size_t *npods);

/*
 * The admin endpoint of the daemon whose pid is pid: its TCP listeners in the
 * caller's netns (sock_diag, matched with the inodes under /proc/PID/fd),
 * each asked for /config_dump until one answers with that pid in its
 * config. max_fds > 0 looks only at the daemon's fds 0..max_fds-1 (see
 * DUMP_ADMIN_FDS), 0 at all of them. 0 with *u set (and *body, when not
 * NULL, the dump: malloc'd), or -errno (-ENOENT: none found, e.g. another
 * user's daemon).
 */
int dump_find_admin(pid_t pid, int max_fds, int timeout_ms, struct url *u, char **body);

/*
 * The daemon opens its HTTP listeners at start, before any pod: they are
 * among its first fds (14-21 with every option), whatever it holds later.
 * A one-shot verb that only wants the dump for a message looks at that many
 * (issue 18: listing /proc/PID/fd of a daemon holding 4,977 pods, 20,000
 * fds, made every del 50 ms longer, and the kernel objects it touched
 * evicted the ones the next Add needs).
 */
#define DUMP_ADMIN_FDS 64

/* Does the dump hold a pod with this uid? 1, 0, or -EINVAL. */
int dump_has_uid(const char *body, const char *uid);

/*
 * The pods of the dump whose uid is none of uids[0..n-1]: their number,
 * each written to out (when not NULL) as "uid", separated by ", "; or -EINVAL.
 */
ssize_t dump_other_pods(const char *body, const char *const *uids, size_t n, FILE *out);

#endif
