/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_CAPS_H
#define ZE_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/capability.h>

/*
 * libcap describes the current user namespace only: setns into a netns owned
 * by another user namespace can still fail with EPERM, so callers handle that
 * too.
 */

/* 1 when the calling thread holds cap in its effective set, 0 when not, -errno when unknown. */
int caps_have_effective(cap_value_t cap);

/*
 * Keeps exactly keep[0..n-1] in the effective and permitted sets, clears the
 * inheritable and ambient sets, drops every other capability from the
 * bounding set (possible only with CAP_SETPCAP: *bounding_trimmed says
 * whether it was), and sets PR_SET_NO_NEW_PRIVS. 0 or -errno.
 */
int caps_limit_to(const cap_value_t *keep, size_t n, bool *bounding_trimmed);

/* The thread's capability sets as cap_to_text prints them ("cap_sys_admin=ep"); free() it. */
char *caps_text(void);

#endif
