/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the agent's control-socket bodies
 * (cni-emulator/agent/plugin.c): POST /cmdadd, /enroll and /unenroll, the
 * first byte picking the parser. Invariants on every input:
 *   - a refusal always says why, a success never leaves a reason;
 *   - a parsed event has a netns, uid, name, namespace and service account,
 *     each NUL-terminated within its buffer, at most 8 addresses, and every
 *     address is one inet_pton(3) reads back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "agent/plugin.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t cap, const char *what)
{
	FUZZ_CHECK(memchr(s, '\0', cap) != NULL, "%s is not NUL-terminated", what);
	FUZZ_CHECK(s[0] != '\0', "%s is empty", what);
}

static void check_event(const struct plugin_event *ev)
{
	unsigned char buf[16];
	size_t i;

	check_str(ev->netns, sizeof(ev->netns), "netns");
	check_str(ev->uid, sizeof(ev->uid), "uid");
	check_str(ev->name, sizeof(ev->name), "name");
	check_str(ev->namespace_, sizeof(ev->namespace_), "namespace");
	check_str(ev->service_account, sizeof(ev->service_account), "service account");
	FUZZ_CHECK(ev->nips <= AGENT_MAX_IPS, "%zu addresses", ev->nips);
	for (i = 0; i < ev->nips; i++)
		FUZZ_CHECK(inet_pton(AF_INET, ev->ips[i], buf) == 1 ||
				   inet_pton(AF_INET6, ev->ips[i], buf) == 1,
			   "address %zu '%s' does not parse", i, ev->ips[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct plugin_event ev;
	char why[512], pod[256];
	const char *body = (const char *)data + 1;
	int ret;

	if (size < 1)
		return 0;
	why[0] = '\0';
	switch (data[0] % 3) {
	case 0:
		ret = plugin_parse_cmdadd(body, size - 1, &ev, why, sizeof(why));
		break;
	case 1:
		ret = plugin_parse_enroll(body, size - 1, &ev, why, sizeof(why));
		break;
	default:
		ret = plugin_parse_unenroll(body, size - 1, pod, sizeof(pod), why, sizeof(why));
		if (!ret)
			check_str(pod, sizeof(pod), "pod");
		FUZZ_CHECK(ret == 0 || (ret == -EINVAL && why[0]), "ret %d, why '%s'", ret, why);
		return 0;
	}
	FUZZ_CHECK(ret == 0 || (ret == -EINVAL && why[0]), "ret %d, why '%s'", ret, why);
	if (!ret)
		check_event(&ev);
	return 0;
}
