/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_H
#define CNI_H

/* The verb layer of cni-emulator: options as parsed, the verbs, their shared rule steps. */
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "redirect.h"
#include "zds.h"

#define PROG "cni-emulator"
#define NETNS_DIR "/run/netns"
#define DEFAULT_ADMIN "http://127.0.0.1:15000"

/* One bit per option given, so that a subcommand can refuse those it has no use for. */
enum {
	OPT_UID = 1,
	OPT_NAME = 2,
	OPT_NAMESPACE = 4,
	OPT_SA = 8,
	OPT_ALL = 16,
	OPT_REDIRECT = 32,
	OPT_DNS = 64,
	OPT_NETNS = 128,
	OPT_JSON = 256,
	OPT_SOCKET = 512,
	OPT_ADMIN = 1024,
	OPT_ALLOW_HOST = 2048,
	OPT_RESTORE = 4096,
	OPT_MATCH = 8192,
	OPT_DRY_RUN = 16384,
	OPT_BACKEND = 32768,
};

/* long-only options */
enum { LO_REDIRECT = 256, LO_DNS, LO_NETNS, LO_JSON, LO_SOCKET, LO_ADMIN, LO_ALLOW_HOST, LO_RESTORE,
       LO_MATCH, LO_DRY_RUN, LO_BACKEND, LO_ISTIO_VERSION };

struct opts {
	const char *uid, *name, *namespace_, *service_account;
	unsigned int given;
	int timeout_ms;
	enum rd_variant variant;	/* with --redirect */
	bool variant_given;		/* else the release's (--istio-version) */
	bool dns_capture;
	const char *netns;		/* del --netns */
	const char *socket, *admin;	/* inspect */
	const char *match;		/* sync --all --match: a glob over the netns names */
};

struct pod;
struct url;
struct rd_state;
struct zconn;

/* The verbs: each returns the exit status. */
int cmd_add(const char *socket_path, const char *spec, const struct opts *o);
/* del and keep (type ZDS_REQ_DEL or ZDS_REQ_KEEP) */
int cmd_uid(enum zds_req_type type, const char *socket_path, const char *uid, const struct opts *o);
int cmd_sync(const char *socket_path, char **specs, size_t nspecs, bool all, const struct opts *o);
/* admin: the daemon's endpoint, --admin or the default */
int cmd_inspect(const char *spec, const struct url *admin, const struct opts *o);

/* enroll and unenroll (un): their own options, an HTTP client of the agent (cmd_enroll.c) */
int cmd_enroll_main(int argc, char **argv, bool un);

/* The rule steps add, del and sync share (cmd_rules.c). */
const char *perm_hint(int ret);
void print_rules_applied(const char *pfx, const char *where, int nsfd, const struct opts *o,
			 const struct rd_state *added);
int undo_rules(const char *where, int nsfd, const struct rd_state *added, const char *outcome);
void recover_no_ack(const char *socket_path, const struct pod *p, const struct rd_state *added,
		    const struct opts *o);
int remove_rules(const char *spec);
int remove_rules_of_uid(const char *uid);
int guard_finish(const struct zconn *c, bool done);

#endif
