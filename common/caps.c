/* SPDX-License-Identifier: Apache-2.0 */
#include "caps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

int caps_have_effective(cap_value_t cap)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t c = cap_get_proc();
	int ret;

	if (!c)
		return -errno;
	ret = cap_get_flag(c, cap, CAP_EFFECTIVE, &v) < 0 ? -errno : (v == CAP_SET);
	cap_free(c);
	return ret;
}

static bool kept(cap_value_t cap, const cap_value_t *keep, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (keep[i] == cap)
			return true;
	return false;
}

int caps_limit_to(const cap_value_t *keep, size_t n, bool *bounding_trimmed)
{
	cap_value_t cap, last = cap_max_bits() - 1;
	cap_t c;
	int ret = 0;

	/* the bounding set first: dropping from it needs CAP_SETPCAP, still held here */
	*bounding_trimmed = caps_have_effective(CAP_SETPCAP) == 1;
	for (cap = 0; *bounding_trimmed && cap <= last; cap++)
		if (!kept(cap, keep, n) && CAP_IS_SUPPORTED(cap) && cap_drop_bound(cap) < 0)
			return -errno;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	c = cap_init();	/* all clear */
	if (!c)
		return -errno;
	if (n && (cap_set_flag(c, CAP_EFFECTIVE, (int)n, keep, CAP_SET) < 0 ||
		  cap_set_flag(c, CAP_PERMITTED, (int)n, keep, CAP_SET) < 0))
		ret = -errno;
	if (!ret && cap_set_proc(c) < 0)
		ret = -errno;
	cap_free(c);
	if (ret)
		return ret;
	/* nothing exec'd later can gain privileges back */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

char *caps_text(void)
{
	cap_t c = cap_get_proc();
	char *t, *dup = NULL;

	if (!c)
		return NULL;
	t = cap_to_text(c, NULL);
	if (t) {
		/* cap_to_text renders an empty set as "=" */
		dup = strdup(strcmp(t, "=") ? t : "none");
		cap_free(t);
	}
	cap_free(c);
	return dup;
}
