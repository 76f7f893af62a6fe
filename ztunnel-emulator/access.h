/* SPDX-License-Identifier: Apache-2.0 */
/*
 * access.c: the lines a relayed or HBONE connection logs, as the chosen
 * release printed them (observability.md 2, hbone.md "Access log"): from
 * 1.22 the "access" target's connection complete / connection failed; in
 * 1.21 the proxy modules' own lines under the pod's proxy{uid=..} span.
 * Also the pod's span text drain.c and these lines share. Formats only what
 * it is given; never touches a relay. Interface: this header.
 */
#ifndef ZT_ACCESS_H
#define ZT_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

struct daemon;
struct pod;

/* One connection, as its lines need it. */
struct access_rec {
	const struct pod *pod;	/* the pod whose proxy took it */
	bool outbound;		/* 15001 (the pod is the source), else inbound */
	bool hbone;		/* over HBONE (15008 inbound, or outbound to a mesh pod) */
	const char *src, *dst;	/* addresses as text */
	const char *hbone_addr;	/* HBONE: the CONNECT target, else NULL */
	unsigned long long sent, recv;	/* bytes, from the client's side */
	long long ns;		/* how long it lasted */
	const char *error;	/* NULL: finished fine */
	bool early;		/* failed before it had a destination (warn "connection failed") */
	char id[33];		/* 1.21's outbound{id=..}: 32 hex digits */
};

/*
 * "NAME{wl=ns/name}: TARGET" (>= 1.23, a pod with workload_info), else
 * "NAME{uid=..}: TARGET": the pod's span before a target, tracing's way.
 */
void access_pod_span(char *out, size_t cap, const struct daemon *d, const struct pod *p,
		     const char *name, const char *target);
/* A fresh trace id: 32 hex digits and a NUL. */
void access_new_id(char id[33]);
/* The lines at the start: 1.21's "accepted connection" / "Proxying to ..."; none later. */
void access_start(const struct daemon *d, const struct access_rec *rec);
/* The lines at the end. */
void access_end(const struct daemon *d, const struct access_rec *rec);

#endif
