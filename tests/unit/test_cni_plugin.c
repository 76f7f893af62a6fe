/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's control-socket bodies (cni-emulator/agent/plugin.c): a table
 * of POST /cmdadd bodies - the real CNI plugin's event (IPs as CNI IP
 * configs with a base64 Mask, roles.md §2), the lab's plain strings, and
 * what must be refused with a reason - plus /enroll's defaults and
 * /unenroll. Linked from the program's own objects (libcni.a).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/plugin.h"
#include "tap.h"

struct row {
	const char *body;
	int ret;		/* 0 or -EINVAL */
	const char *want;	/* ok: "netns uid name namespace sa ip,ip"; error: a part of why */
};

static const struct row cmdadd[] = {
	{ "{\"Netns\":\"/var/run/netns/cni-5f1e\",\"PodName\":\"web-0\",\"PodNamespace\":\"shop\","
	  "\"IPs\":[{\"Interface\":0,\"Address\":{\"IP\":\"198.18.0.1\",\"Mask\":\"////AA==\"},"
	  "\"Gateway\":\"198.18.0.254\"}]}",
	  0, "/var/run/netns/cni-5f1e web-0 web-0 shop default 198.18.0.1" },
	{ "{\"Netns\":\"/run/netns/a\",\"PodName\":\"p\",\"PodNamespace\":\"n\","
	  "\"IPs\":[{\"Interface\":null,\"Address\":{\"IP\":\"fd00::1\","
	  "\"Mask\":\"/////////////////////w==\"},\"Gateway\":null},\"198.18.0.9\"]}",
	  0, "/run/netns/a p p n default fd00::1,198.18.0.9" },
	{ "{\"Netns\":\"/run/netns/a\",\"PodName\":\"p\",\"PodNamespace\":\"n\",\"IPs\":null}",
	  0, "/run/netns/a p p n default " },
	{ "{\"Netns\":\"/run/netns/a\",\"PodName\":\"p\",\"PodNamespace\":\"n\"}", 0,
	  "/run/netns/a p p n default " },
	{ "{\"Netns\":\"/run/netns/a\",\"PodName\":\"p\",\"PodNamespace\":\"n\",\"Extra\":1}", 0,
	  "/run/netns/a p p n default " },
	{ "", -EINVAL, "empty body" },
	{ "{\"Netns\":", -EINVAL, "invalid JSON" },
	{ "[1]", -EINVAL, "expected a JSON object" },
	{ "{\"PodName\":\"p\",\"PodNamespace\":\"n\"}", -EINVAL, "Netns: missing" },
	{ "{\"Netns\":\"\",\"PodName\":\"p\",\"PodNamespace\":\"n\"}", -EINVAL, "Netns: empty" },
	{ "{\"Netns\":7,\"PodName\":\"p\",\"PodNamespace\":\"n\"}", -EINVAL, "Netns: expected a string" },
	{ "{\"Netns\":\"/x\",\"PodNamespace\":\"n\"}", -EINVAL, "PodName: missing" },
	{ "{\"Netns\":\"/x\",\"PodName\":\"p\"}", -EINVAL, "PodNamespace: missing" },
	{ "{\"Netns\":\"/x\",\"PodName\":\"p\\u0000q\",\"PodNamespace\":\"n\"}", -EINVAL, "NUL" },
	{ "{\"Netns\":\"/x\",\"PodName\":\"p\",\"PodName\":\"q\",\"PodNamespace\":\"n\"}", -EINVAL,
	  "invalid JSON" },
	{ "{\"Netns\":\"/x\",\"PodName\":\"p\",\"PodNamespace\":\"n\",\"IPs\":\"1.2.3.4\"}", -EINVAL,
	  "IPs: expected a list" },
	{ "{\"Netns\":\"/x\",\"PodName\":\"p\",\"PodNamespace\":\"n\",\"IPs\":[\"1.2.3\"]}", -EINVAL,
	  "not an IP address" },
	{ "{\"Netns\":\"/x\",\"PodName\":\"p\",\"PodNamespace\":\"n\",\"IPs\":[{\"Address\":{}}]}",
	  -EINVAL, "IPs: expected an address string" },
	{ "{\"Netns\":\"/x\",\"PodName\":\"p\",\"PodNamespace\":\"n\","
	  "\"IPs\":[{\"Address\":{\"IP\":\"1.2.3.4\",\"Mask\":\"////\"}}]}",
	  -EINVAL, "Address.Mask" },
	{ "{\"Netns\":\"/x\",\"PodName\":\"p\",\"PodNamespace\":\"n\","
	  "\"IPs\":[{\"Address\":{\"IP\":\"1.2.3.4\",\"Mask\":\"//!/AA==\"}}]}",
	  -EINVAL, "Address.Mask" },
	{ "{\"Netns\":\"/x\",\"PodName\":\"p\",\"PodNamespace\":\"n\",\"IPs\":"
	  "[\"1.1.1.1\",\"1.1.1.2\",\"1.1.1.3\",\"1.1.1.4\",\"1.1.1.5\",\"1.1.1.6\",\"1.1.1.7\","
	  "\"1.1.1.8\",\"1.1.1.9\"]}",
	  -EINVAL, "more than 8 addresses" },
};

/* The parsed event as one line, as the table's want. */
static void render(const struct plugin_event *ev, char *out, size_t cap)
{
	size_t i, o;

	o = (size_t)snprintf(out, cap, "%s %s %s %s %s ", ev->netns, ev->uid, ev->name,
			     ev->namespace_, ev->service_account);
	for (i = 0; i < ev->nips && o < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", ev->ips[i]);
}

static void check_rows(const char *what, const struct row *rows, size_t n,
		       int (*parse)(const char *, size_t, struct plugin_event *, char *, size_t))
{
	static struct plugin_event ev;
	char why[512], got[8192];
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		why[0] = '\0';
		ret = parse(rows[i].body, strlen(rows[i].body), &ev, why, sizeof(why));
		is_int(ret, rows[i].ret, "%s row %zu: %s", what, i, ret ? "refused" : "parsed");
		if (ret) {
			ok(strstr(why, rows[i].want) != NULL, "%s row %zu: why '%s' names '%s'", what, i,
			   why, rows[i].want);
			continue;
		}
		render(&ev, got, sizeof(got));
		is_str(got, rows[i].want, "%s row %zu: the fields", what, i);
	}
}

static const struct row enroll[] = {
	{ "{\"netns\":\"/run/netns/pod-a\"}", 0, "/run/netns/pod-a pod-a pod-a default default " },
	{ "{\"netns\":\"pod-a\",\"uid\":\"u1\",\"namespace\":\"shop\",\"serviceAccount\":\"web\"}", 0,
	  "pod-a u1 u1 shop web " },
	{ "{\"netns\":\"pod-a\",\"name\":\"web-0\",\"ips\":[\"10.0.0.1\"]}", 0,
	  "pod-a pod-a web-0 default default 10.0.0.1" },
	{ "{\"netns\":\"/run/netns/\"}", -EINVAL, "no name to take the uid from" },
	{ "{\"uid\":\"u\"}", -EINVAL, "netns: missing" },
	{ "{\"netns\":\"a\",\"uid\":\"\"}", -EINVAL, "uid: empty" },
};

int main(void)
{
	static const char one[] = "{\"pod\":\"u1\"}";
	char pod[64], why[256];

	check_rows("cmdadd", cmdadd, sizeof(cmdadd) / sizeof(cmdadd[0]), plugin_parse_cmdadd);
	check_rows("enroll", enroll, sizeof(enroll) / sizeof(enroll[0]), plugin_parse_enroll);
	is_int(plugin_parse_unenroll(one, strlen(one), pod, sizeof(pod), why, sizeof(why)), 0,
	       "unenroll: parsed");
	is_str(pod, "u1", "unenroll: the pod");
	is_int(plugin_parse_unenroll("{}", 2, pod, sizeof(pod), why, sizeof(why)), -EINVAL,
	       "unenroll: no pod is refused");
	return done_testing();
}
