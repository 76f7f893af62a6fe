/* SPDX-License-Identifier: Apache-2.0 */
#include "caps.h"

#include <errno.h>

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
