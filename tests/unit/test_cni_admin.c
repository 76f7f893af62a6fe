/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cni-emulator/inspect/admin.c's config_dump reader (jansson), from the
 * program's own objects (libcni.a): the fields it takes, what it refuses.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "inspect/admin.h"
#include "tap.h"

struct seen {
	struct dump_pod p[4];
	size_t n;
};

static int collect(const struct dump_pod *p, void *arg)
{
	struct seen *s = arg;

	if (s->n < 4)
		s->p[s->n++] = *p;
	return 0;
}

int main(void)
{
	static const char dump[] =
		"{\"workloads\": [], \"config\": {\"proxyMode\": \"Shared\"}, \"workloadState\": {},\n"
		"  \"emulator\": {\"config\": {\"pid\": 4242, \"profile\": \"ambient\", \"other\": [1, {}]},\n"
		"  \"pods\": [\n"
		"    {\"uid\": \"q\\\"b\\\\s\\te\\u00e9\", \"state\": \"Up\", "
		"\"netns\": {\"dev\": \"0:4\", \"inode\": 4026532353}},\n"
		"    {\"uid\": \"nul\\u0000cut\", \"state\": \"Pending\", \"netns\": null}\n"
		"  ]}\n}\n";
	struct dump_config cfg;
	struct seen s = { .n = 0 };
	struct netns_id id = { .dev = 4, .ino = 4026532353 };
	struct dump_pod match;
	size_t npods;
	bool found;

	is_int(dump_scan(dump, &cfg, collect, &s), 0, "a config_dump reads");
	ok(cfg.pid == 4242 && !strcmp(cfg.profile, "ambient"), "config: pid and profile");
	is_int((long long)s.n, 2, "two pods");
	is_str(s.p[0].uid, "q\"b\\s\te\xc3\xa9", "escapes and \\u00e9 decoded (as UTF-8)");
	ok(!strcmp(s.p[0].state, "Up") && !strcmp(s.p[0].dev, "0:4") &&
	   s.p[0].inode == 4026532353ull, "state, dev and inode");
	ok(!strcmp(s.p[1].uid, "nul") && s.p[1].inode == 0 && !s.p[1].dev[0],
	   "a uid with U+0000 reads up to it; netns null names no netns");
	is_int(dump_find_pod(dump, &id, &found, &match, &npods), 0, "dump_find_pod");
	ok(found && npods == 2 && !strcmp(match.state, "Up"), "finds the pod by dev and inode");
	is_int(dump_has_uid(dump, "nul"), 1, "dump_has_uid: a known uid");
	is_int(dump_has_uid(dump, "none"), 0, "dump_has_uid: an unknown one");

	is_int(dump_scan("not json", NULL, NULL, NULL), -EINVAL, "not JSON: -EINVAL");
	is_int(dump_scan("[1, 2]", NULL, NULL, NULL), -EINVAL, "not an object: -EINVAL");
	is_int(dump_scan("{\"emulator\": {\"pods\": {}}}", NULL, NULL, NULL), -EINVAL, "pods not an array: -EINVAL");
	is_int(dump_scan("{\"emulator\": {\"pods\": [{\"uid\": 7}]}}", NULL, NULL, NULL), -EINVAL,
	       "a uid that is not a string: -EINVAL");
	is_int(dump_scan("{\"emulator\": {\"pods\": [{\"netns\": {\"inode\": \"7\"}}]}}", NULL, NULL, NULL), -EINVAL,
	       "an inode that is not an integer: -EINVAL");
	is_int(dump_scan("{\"emulator\": {\"config\": {\"pid\": \"12\"}}}", &cfg, NULL, NULL), 0,
	       "a pid of another type is ignored");
	ok(cfg.pid == 0 && !cfg.profile[0], "... and reads as none");
	s.n = 0;
	is_int(dump_scan("{\"config\": {\"pid\": 7}, \"pods\": [{\"uid\": \"old\"}]}", &cfg, collect, &s), 0,
	       "the old top-level pods and config: no longer read");
	ok(s.n == 0 && cfg.pid == 0, "... no pod, no pid");
	return done_testing();
}
