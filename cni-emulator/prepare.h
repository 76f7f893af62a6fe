/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_PREPARE_H
#define CNI_PREPARE_H

/* Pods ready to send, from NETNS arguments or /run/netns (prepare.c). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "zds.h"

struct opts;


/* A pod to Add: its netns fd, uid and encoded request, all ready before connecting. */
struct pod {
	const char *spec;
	char *spec_owned;
	const char *where;	/* the netns as messages name it: its name, else spec */
	int nsfd;
	const char *uid;
	char uidbuf[32];
	size_t len;
	uint8_t msg[ZDS_MAX_MSG];
};

/* Opens and checks NETNS before anything reaches the daemon: fd, or -errno and why. */
int open_netns(const char *spec, char *path, size_t cap, const char **name, char *why,
	       size_t whycap);
/* Encodes a request into out (ZDS_MAX_MSG bytes): its length, or -ENOBUFS. */
ssize_t encode_req(uint8_t *out, enum zds_req_type type, const char *uid, const char *name,
		   const struct opts *o);
/* Opens spec and encodes its Add: 0, or -errno with why; no fd left open on error. */
int pod_prepare(struct pod *p, const char *spec, const struct opts *o, const char *ctx,
		char *why, size_t whycap);
/*
 * Opens and checks every NETNS (or, with all, every entry under /run/netns)
 * into *pods: their number, or -errno with why in *e (nothing left open).
 * An entry of /run/netns that is no netns (or is gone) is skipped: skip()
 * gets why ("/run/netns/x: not a namespace file").
 */
ssize_t prepare_pods(struct pod **pods, char **specs, size_t nspecs, bool all,
		     const struct opts *o, void (*skip)(const char *why), struct ze_err *e);
void pods_free(struct pod *pods, size_t n);
/*
 * Fault 3: before any rule goes into a pod's netns, a host netns (cni's own,
 * init's, the daemon's: guard_host_netns()) is refused unless allow: 0, or
 * -EPERM (a host netns) or -errno (it cannot be identified) with why in *e.
 */
int pod_refuse_host(const struct pod *p, pid_t daemon, bool allow, struct ze_err *e);
/*
 * What the daemon would refuse in a way that ends the connection for every
 * pod after it: a uid listed twice, strings that are not UTF-8 (decoding our
 * own request is the daemon's strictness). 0, or -errno with why in *e.
 */
int check_pods(const struct pod *pods, size_t npods, struct ze_err *e);

#endif
