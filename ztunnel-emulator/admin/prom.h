/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prom.c: the metrics exposition, in the two text formats a scraper may ask
 * for: OpenMetrics 1.0 (what ztunnel's prometheus-client writes: HELP/TYPE on
 * the base name, counters' samples end in _total, "# EOF" last) or Prometheus
 * text 0.0.4 (HELP/TYPE on the sample name). Only the family headers and the
 * end differ; samples are written by the callers to p->out.
 * Interface: this header.
 */
#ifndef ZT_PROM_H
#define ZT_PROM_H

#include <stdbool.h>
#include <stdio.h>

struct prom {
	FILE *out;
	bool om;	/* OpenMetrics; else Prometheus text 0.0.4 */
};

/* The content type of the format the request's Accept header asks for; sets *om. */
const char *prom_negotiate(const char *accept, bool *om);
/*
 * HELP and TYPE of a family. name: the base name (a counter's without
 * _total); help: the text without its final period, which is added as
 * ztunnel's library does.
 */
void prom_family(const struct prom *p, const char *name, const char *type, const char *help);
/* The end of the exposition ("# EOF" in OpenMetrics). */
void prom_end(const struct prom *p);

#endif
