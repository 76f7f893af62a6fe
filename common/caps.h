/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_CAPS_H
#define ZE_CAPS_H

#include <sys/capability.h>

/*
 * 1 when the calling thread holds cap in its effective set, 0 when not,
 * -errno when libcap cannot tell. libcap describes the current user
 * namespace only: setns into a netns owned by another user namespace can
 * still fail with EPERM, so callers handle that too.
 */
int caps_have_effective(cap_value_t cap);

#endif
