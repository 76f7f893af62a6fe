/* SPDX-License-Identifier: Apache-2.0 */
/* POST /logging?level= on the admin port. Interface: logging.h. */
#include "logging.h"

#include <string.h>

#include "log.h"

unsigned admin_logging(const struct daemon *d, const char *method, const char *level, FILE *out)
{
	char why[256], now[256];

	if (strcmp(method, "POST")) {
		fprintf(out, "Invalid HTTP method\n");
		return 405;
	}
	if (!level || !*level) {
		log_filter_text(now, sizeof(now));
		fprintf(out, "usage: POST /logging?level=FILTER (e.g. debug, or info,inpod=debug; reset: the start's)\n"
			     "current log level is %s\n", now);
		return 400;
	}
	if (!strcmp(level, "reset"))
		level = d->cfg.log_level;
	if (log_set_filter(level, why, sizeof(why))) {
		fprintf(out, "%s\n", why);
		return 400;
	}
	log_filter_text(now, sizeof(now));
	log_line(LOG_INFO, "ztunnel::admin", "log level set to %s", now);
	fprintf(out, "current log level is %s\n", now);
	return 200;
}
