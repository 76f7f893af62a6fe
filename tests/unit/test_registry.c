// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the LOCAL_XDS registry (ztunnel-emulator/dns/registry.h):
 * the fixtures in tests/fixtures/registry/, every kind of bad file giving
 * -EINVAL with "FILE:LINE: reason", and the service lookup rules (aliases
 * are answer.c's; here: exact, wildcards, visibility, which one wins).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "registry.h"
#include "tap.h"

static char fixtures[PATH_MAX];

static void find_fixtures(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = '\0';
	snprintf(fixtures, sizeof(fixtures), "%s/../fixtures/registry", dirname(exe));
}

static struct registry *load_fixture(const char *name, struct reg_error *err)
{
	char path[PATH_MAX + 64];
	struct registry *reg = NULL;

	snprintf(path, sizeof(path), "%s/%s", fixtures, name);
	if (registry_load(path, &reg, err) < 0)
		diag("%s", err->why);
	return reg;
}

static void test_lab_file(void)
{
	struct reg_error err;
	struct registry *reg = load_fixture("lab.yaml", &err);
	const struct reg_workload *w;
	const struct reg_service *s;

	ok(reg != NULL, "lab.yaml loads");
	if (!reg)
		return;
	is_int(reg->n_workloads, 3, "three workloads");
	is_int(reg->n_services, 10, "ten services");
	is_int(reg->n_policies, 1, "one policy (shape only)");
	w = registry_find_workload(reg, "default", "pod-b");
	ok(w && w->protocol == REG_PROTO_HBONE, "pod-b found, protocol HBONE");
	ok(w && w->n_ips == 2 && w->ips[1].af == AF_INET6, "pod-b has an IPv4 and an IPv6 address");
	ok(w && w->n_services == 2 && !strcmp(w->services[1].namespace, "shop") &&
	   !strcmp(w->services[1].hostname, "db.shop.svc.cluster.local") &&
	   w->services[1].n_ports == 1 && w->services[1].ports[0].target == 5432,
	   "pod-b's services map: \"shop/db...\" 5432: 5432");
	ok(registry_find_workload(reg, "shop", "pod-b") == NULL, "workloads are found by namespace too");
	s = registry_service_at(reg, 1);
	ok(s && !strcmp(s->hostname, "cart.shop.svc.cluster.local") && s->n_vips == 4 &&
	   !strcmp(s->vips[3].network, "remote") && s->ip_families == REG_FAM_DUAL,
	   "cart: four VIPs, the last on network \"remote\", ipFamilies Dual");
	s = registry_service_at(reg, 0);
	ok(s && s->n_sans == 1 && s->line == 38 && s->n_ports == 1 && s->ports[0].port == 80,
	   "echo: subjectAltNames, ports, line 38");
	ok(registry_service_at(reg, 10) == NULL && registry_workload_at(reg, 3) == NULL &&
	   registry_workload_at(reg, 2) != NULL, "iteration ends at the count");
	registry_free(reg);
	reg = load_fixture("minimal.yaml", &err);
	ok(reg && reg->n_workloads == 1 && reg->n_services == 1, "dns.md's minimal example loads");
	registry_free(reg);
}

struct bad_case {
	const char *yaml;
	int line;
	const char *why;	/* a substring of the reason */
};

static const struct bad_case bad_cases[] = {
	{ "services:\n- name: a\n  namespace: b\n  hostname: c\n  vips: [\"/10.0.0.1\"]\n"
	  "  ports: {}\n  vipz: []\n", 7, "unknown key \"vipz\"" },
	{ "workload:\n- {}\n", 1, "unknown key \"workload\"" },
	{ "services:\n- name: a\n  namespace: b\n  hostname: c\n  vips: [\"10.0.0.1\"]\n"
	  "  ports: {}\n", 5, "<network>/<IP>" },
	{ "services:\n- name: a\n  namespace: b\n  hostname: c\n  ports: {}\n", 2,
	  "missing key \"vips\"" },
	{ "workloads:\n- namespace: a\n  workloadIps: [\"198.18.0.300\"]\n  services: {}\n", 3,
	  "not an IP address" },
	{ "workloads:\n- namespace: a\n  workloadIps: []\n", 2, "missing key \"services\"" },
	{ "workloads:\n- namespace: a\n  workloadIps: []\n  services: {\"nons\": {}}\n", 4,
	  "<namespace>/<hostname>" },
	{ "workloads:\n- namespace: a\n  workloadIps: []\n  services: {}\n  protocol: UDP\n", 5,
	  "allowed values" },
	{ "services:\n- name: a\n  namespace: b\n  hostname: c\n  vips: []\n"
	  "  ports: {80: 70000}\n", 6, "not a port" },
	{ "services:\n- name: a\n  namespace: b\n  hostname: c\n  vips: []\n"
	  "  ports: {80: 1, 80: 2}\n", 6, "port 80 given twice" },
	{ "services:\n- name: a\n  name: b\n", 3, "given twice" },
	{ "services:\n- name: a\n  namespace: b\n  hostname: c\n  vips: []\n  ports: {}\n"
	  "  canonical: maybe\n", 7, "not true or false" },
	{ "services: [\n", 2, "YAML" },
	{ "services: {}\n", 1, "expected a list" },
	{ "- a\n", 1, "expected a mapping" },
	{ "services: []\n---\nservices: []\n", 3, "more than one YAML document" },
	{ "policies:\n- 3\n", 2, "expected a mapping" },
	{ "services: []\nservices: []\n", 2, "given twice" },
	{ "workloads:\n- namespace: a\n  workloadIps: [\"1.2.3.4\\nx\"]\n  services: {}\n", 3,
	  "\"1.2.3.4?x\" is not an IP address" },	/* the reason stays one line */
};

static void test_bad_files(void)
{
	struct registry *reg;
	struct reg_error err;
	char want[64];

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(*bad_cases); i++) {
		const struct bad_case *b = &bad_cases[i];
		int r = registry_load_mem(b->yaml, strlen(b->yaml), "t.yaml", &reg, &err);

		snprintf(want, sizeof(want), "t.yaml:%d: ", b->line);
		ok(r == -EINVAL && !reg && err.err == -EINVAL && err.line == b->line &&
		   !strncmp(err.why, want, strlen(want)) && strstr(err.why, b->why) &&
		   !strchr(err.why, '\n'),
		   "bad file %zu: -EINVAL, line %d, \"%s\"", i, b->line, b->why);
		if (!strstr(err.why, b->why) || err.line != b->line)
			diag("got r=%d line=%d why=%s", r, err.line, err.why);
	}
	reg = load_fixture("bad-unknown-key.yaml", &err);
	ok(!reg && err.line == 7 && strstr(err.why, "bad-unknown-key.yaml:7: services[0]: unknown key"),
	   "a bad file's reason names the file and the line: %s", err.why);
	ok(registry_load("/nonexistent/registry.yaml", &reg, &err) == -ENOENT && !reg &&
	   strstr(err.why, "/nonexistent/registry.yaml: "), "a missing file: -ENOENT, named");
	ok(registry_load("/", &reg, &err) == -EINVAL && strstr(err.why, "not a regular file"),
	   "a directory: -EINVAL");
	ok(registry_load_mem("", 0, NULL, &reg, &err) == 0 && reg && !reg->n_services,
	   "an empty file is an empty registry");
	registry_free(reg);
}

/* A billion laughs: one anchored list referenced many times must not cost without bound */
static void test_alias_bomb(void)
{
	size_t cap = 64 * 1024, len;
	char *yaml = malloc(cap);
	struct registry *reg;
	struct reg_error err;
	int r;

	if (!yaml)
		return;
	len = (size_t)snprintf(yaml, cap, "workloads:\n- namespace: a\n  workloadIps: []\n"
			       "  services: {}\n  authorizationPolicies: &l [");
	for (int i = 0; i < 1000; i++)
		len += (size_t)snprintf(yaml + len, cap - len, "p,");
	len += (size_t)snprintf(yaml + len, cap - len, "p]\n");
	for (int i = 0; i < 400; i++)
		len += (size_t)snprintf(yaml + len, cap - len, "- {namespace: a, workloadIps: [], "
					"services: {}, authorizationPolicies: *l}\n");
	r = registry_load_mem(yaml, len, "bomb.yaml", &reg, &err);
	ok(r == -EINVAL && !reg && strstr(err.why, "too many nodes"),
	   "an anchor referenced 400 times is refused: %s", err.why);
	len = (size_t)snprintf(yaml, cap,
			       "services:\n- name: a\n  namespace: b\n  hostname: c\n  vips: []\n"
			       "  ports: {}\n  subjectAltNames: &l [x, x, x, x]\n");
	r = registry_load_mem(yaml, len, "alias.yaml", &reg, &err);
	ok(r == 0 && reg && reg->services[0].n_sans == 4, "a plain anchor is fine");
	registry_free(reg);
	free(yaml);
}

static void test_match(void)
{
	struct reg_error err;
	struct registry *reg = load_fixture("lab.yaml", &err);
	struct reg_query q = { .client_ns = "default", .svc_domain = "svc.cluster.local" };
	const struct reg_service *s;
	struct reg_ip ips[4];
	bool wild;

	if (!reg) {
		fail("lab.yaml loads");
		return;
	}
	s = registry_match(reg, "echo.default.svc.cluster.local", &q, &wild);
	ok(s && !strcmp(s->name, "echo") && !wild, "exact hostname");
	s = registry_match(reg, "ECHO.Default.svc.cluster.local", &q, &wild);
	ok(s && !strcmp(s->name, "echo"), "hostnames compare case-insensitively");
	ok(!registry_match(reg, "echo", &q, &wild), "no alias expansion here (answer.c's job)");
	s = registry_match(reg, "www.example.com", &q, &wild);
	ok(s && !strcmp(s->name, "wild") && wild, "*.example.com matches www.example.com");
	s = registry_match(reg, "a.b.example.com", &q, &wild);
	ok(s && !strcmp(s->name, "wild") && wild, "... and a.b.example.com");
	ok(!registry_match(reg, "example.com", &q, &wild), "... not example.com itself");
	ok(!registry_match(reg, "ext.example.org", &q, &wild),
	   "a service without VIPs outside svc.<cd> is not answered (forwarded)");
	s = registry_match(reg, "db.shop.svc.cluster.local", &q, &wild);
	ok(s && !strcmp(s->name, "db"), "a headless svc.<cd> service is answered");
	ok(!registry_match(reg, "private.secret.svc.cluster.local", &q, &wild),
	   "visibility Namespace: hidden from another namespace");
	q.client_ns = "secret";
	ok(registry_match(reg, "private.secret.svc.cluster.local", &q, &wild) != NULL,
	   "... visible to its own");
	s = registry_match(reg, "dup.example.net", &q, &wild);
	ok(s && !strcmp(s->namespace, "third"), "several: a canonical one beats the first");
	q.client_ns = "default";
	s = registry_match(reg, "dup.example.net", &q, &wild);
	ok(s && !strcmp(s->namespace, "default"), "several: the client's namespace wins");
	s = registry_match(reg, "db.shop.svc.cluster.local", &q, &wild);
	ok(s && registry_endpoint_ips(reg, s, AF_INET, ips, 4) == 2 && ips[0].addr[3] == 2 &&
	   ips[1].addr[3] == 3, "headless: the endpoint workloads' IPv4 addresses");
	ok(s && registry_endpoint_ips(reg, s, AF_INET6, ips, 4) == 1, "... and IPv6 ones");
	ok(s && registry_endpoint_ips(reg, s, AF_INET, ips, 1) == 1, "... bounded by cap");
	ok(registry_visible(registry_service_at(reg, 0), NULL), "public is visible to anyone");
	registry_free(reg);
}

int main(void)
{
	find_fixtures();
	test_lab_file();
	test_bad_files();
	test_alias_bomb();
	test_match();
	return done_testing();
}
