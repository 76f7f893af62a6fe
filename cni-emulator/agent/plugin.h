/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_AGENT_PLUGIN_H
#define CNI_AGENT_PLUGIN_H

/*
 * The JSON bodies the control socket takes (plugin.c), parsed into fixed
 * buffers without touching the agent's state, so that an HTTP thread can
 * parse and the unit tests and fuzzer can call it alone:
 *  - POST /cmdadd: istio-cni's CNI plugin event, Go's JSON of
 *    {Netns, PodName, PodNamespace, IPs}; IPs holds the CNI result's IP
 *    configs ({"Address": {"IP": "...", "Mask": "<base64>"}, ...}) or, as
 *    the lab's extension, plain address strings (roles.md §2).
 *  - POST /enroll: {"netns", "uid", "name", "namespace", "serviceAccount", "ips"}.
 *  - POST /unenroll: {"pod": UID or NETNS}.
 */
#include <limits.h>
#include <stddef.h>

#include "agent.h"

#define PLUGIN_STR 254	/* a Kubernetes name is at most 253 bytes */

struct plugin_event {
	char netns[PATH_MAX];
	char uid[PLUGIN_STR], name[PLUGIN_STR], namespace_[PLUGIN_STR], service_account[PLUGIN_STR];
	char ips[AGENT_MAX_IPS][AGENT_IP_LEN];
	size_t nips;
};

/* 0, or -EINVAL with why (one line) for a body that is not what the route takes. */
int plugin_parse_cmdadd(const char *body, size_t len, struct plugin_event *ev, char *why,
			size_t cap);
int plugin_parse_enroll(const char *body, size_t len, struct plugin_event *ev, char *why,
			size_t cap);
int plugin_parse_unenroll(const char *body, size_t len, char *pod, size_t podcap, char *why,
			  size_t cap);

#endif
