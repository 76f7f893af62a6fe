/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics exposition headers in OpenMetrics or Prometheus text 0.0.4
 * (observability.md §5). Writes text only. Interface: admin/prom.h.
 */
#include <string.h>

#include "admin/prom.h"

#define OM_TYPE "application/openmetrics-text;charset=utf-8;version=1.0.0"
#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

const char *prom_negotiate(const char *accept, bool *om)
{
	*om = accept && strstr(accept, "application/openmetrics-text");
	return *om ? OM_TYPE : PROM_TYPE;
}

/* HELP text escapes \ and newline in both formats. */
static void help_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

void prom_family(const struct prom *p, const char *name, const char *type, const char *help)
{
	/* 0.0.4 names a counter family by its sample, so that a parser types it */
	const char *sfx = !p->om && !strcmp(type, "counter") ? "_total" : "";

	fprintf(p->out, "# HELP %s%s ", name, sfx);
	help_text(p->out, help);
	fprintf(p->out, ".\n# TYPE %s%s %s\n", name, sfx, type);
}

void prom_end(const struct prom *p)
{
	if (p->om)
		fputs("# EOF\n", p->out);
}
