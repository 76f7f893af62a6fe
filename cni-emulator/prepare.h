/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_PREPARE_H
#define CNI_PREPARE_H

/* Pods ready to send, from NETNS arguments or /run/netns (prepare.c). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
/* Every NETNS (or, with all, every entry of /run/netns): their number, or -1 after printing why. */
ssize_t prepare_pods(struct pod **pods, char **specs, size_t nspecs, bool all,
		     const struct opts *o);
void pods_free(struct pod *pods, size_t n);
/* A uid listed twice, strings the daemon would refuse: 0, or 1 after printing why. */
int check_pods(const struct pod *pods, size_t npods);

#endif
