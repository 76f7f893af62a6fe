/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The release table (observability.md 6): one row per Istio minor release
 * from 1.21 to the newest the reference read (1.30). Interface: release.h.
 */
#include "release.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Columns: name, minor, tab layout, new texts, Keep at info, connect text,
 * redirect rules, DNS on, DNS from the pod, ProtocolError exits, Del before
 * the snapshot, Add's workload_info, config_dump shape, JSON logs, access log.
 */
#define ROW(n, m, tab, tx, kp, ct, rd, dns, dp, ex, del, ai, dump, json, acc) \
	{ n, m, tab, tx, kp, ct, rd, dns, dp, ex, del, ai, dump, json, acc }
#define C121 CONNECT_TEXT_121
#define C123 CONNECT_TEXT_123
#define C124 CONNECT_TEXT_124
#define NEWEST(n, m) ROW(n, m, true, true, true, C124, true, true, true, true, true, \
			 ADD_INFO_REQUIRED, DUMP_ARRAYS, JSON_ISTIO, true)
static const struct release table[] = {
	ROW("1.21", 21, false, false, false, C121, false, false, false, false, false,
	    ADD_INFO_ABSENT, DUMP_121, JSON_NONE, false),
	ROW("1.22", 22, true, false, false, C121, false, false, false, false, false,
	    ADD_INFO_OPTIONAL, DUMP_MAPS, JSON_TRACING, true),
	ROW("1.23", 23, true, true, true, C123, false, true, false, true, false,
	    ADD_INFO_OPTIONAL, DUMP_ARRAYS, JSON_ISTIO, true),
	ROW("1.24", 24, true, true, true, C124, true, true, true, true, false,
	    ADD_INFO_REQUIRED, DUMP_ARRAYS, JSON_ISTIO, true),
	NEWEST("1.25", 25),
	NEWEST("1.26", 26),
	NEWEST("1.27", 27),
	NEWEST("1.28", 28),
	NEWEST("1.29", 29),
	NEWEST("1.30", 30),
};
#define NROWS (sizeof(table) / sizeof(table[0]))

const struct release *release_default(void)
{
	return &table[NROWS - 1];
}

const struct release *release_oldest(void)
{
	return &table[0];
}

const char *release_names(void)
{
	static char names[NROWS * 6];
	size_t i, o = 0;

	if (!names[0])
		for (i = 0; i < NROWS; i++)
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? " " : "",
					      table[i].name);
	return names;
}

const struct release *release_parse(const char *text, struct ze_err *e)
{
	unsigned long major, minor;
	char *end;
	size_t i;

	errno = 0;
	major = strtoul(text, &end, 10);
	if (!errno && end != text && *end == '.' && end[1] >= '0' && end[1] <= '9') {
		minor = strtoul(end + 1, &end, 10);
		if (*end == '.' && end[1] >= '0' && end[1] <= '9')
			strtoul(end + 1, &end, 10);	/* a patch release behaves as its minor */
		if (!errno && !*end && major == 1)
			for (i = 0; i < NROWS; i++)
				if (table[i].minor == minor)
					return &table[i];
	}
	ze_fail(e, -EINVAL, "unknown Istio version '%s': expected one of %s", text, release_names());
	return NULL;
}

enum release_cni_texts release_cni_texts(const struct release *r)
{
	if (r->minor >= 26)
		return CNI_TEXTS_126;
	if (r->minor >= 25)
		return CNI_TEXTS_125;
	if (r->minor >= 23)
		return CNI_TEXTS_123;
	return r->minor >= 22 ? CNI_TEXTS_122 : CNI_TEXTS_121;
}
