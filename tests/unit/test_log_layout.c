/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log layouts and the level filter (observability.md 1): a line in each
 * layout after its timestamp, the message/field split, JSON escaping, and
 * RUST_LOG-style directives.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "log_format.h"
#include "release.h"
#include "tap.h"

/* the line composed in layout l, without its timestamp (27 bytes) */
static char *compose(enum log_layout l, enum log_level lv, const char *target, const char *body)
{
	size_t n;
	char *line, *rest;

	log_set_layout(l);
	line = log_compose(lv, target, body, &n);
	if (!line)
		return strdup("(null)");
	rest = strdup(l == LOG_LAYOUT_JSON || l == LOG_LAYOUT_JSON_TRACING ? line : line + 27);
	free(line);
	return rest;
}

static void layout(enum log_layout l, enum log_level lv, const char *target, const char *body,
		   const char *want, const char *desc)
{
	char *got = compose(l, lv, target, body);

	is_str(got, want, "%s", desc);
	free(got);
}

static void json(const char *body, const char *want, const char *desc)
{
	char *got = compose(LOG_LAYOUT_JSON, LOG_INFO, "ztunnel::inpod::statemanager", body);
	char *p = strstr(got, "\"scope\"");

	is_str(p ? p : got, want, "%s", desc);
	free(got);
}

int main(void)
{
	char why[256], now[64], *got, *p;
	struct ze_err e;

	layout(LOG_LAYOUT_FULL, LOG_INFO, "ztunnel::inpod::workloadmanager", "handling new stream",
	       "  INFO ztunnel::inpod::workloadmanager: handling new stream\n", "full: 1.21's layout");
	layout(LOG_LAYOUT_TAB, LOG_INFO, "ztunnel::inpod::workloadmanager", "handling new stream",
	       "\tinfo\tinpod::workloadmanager\thandling new stream\t\n", "tab: a tab after a message without fields");
	layout(LOG_LAYOUT_TAB, LOG_WARN, "ztunnel::inpod::statemanager",
	       "pod received, starting proxy uid=\"u1\" name=\"web\" namespace=\"default\"",
	       "\twarn\tinpod::statemanager\tpod received, starting proxy\tuid=\"u1\" name=\"web\" namespace=\"default\"\n",
	       "tab: the fields after the first ' name='");
	layout(LOG_LAYOUT_TAB, LOG_INFO, "proxy{wl=default/web}: ztunnel::drain",
	       "shutdown complete component=\"inbound\"",
	       "\tinfo\tdrain:proxy{wl=default/web}\tshutdown complete\tcomponent=\"inbound\"\n",
	       "tab: spans after the target");
	layout(LOG_LAYOUT_TAB, LOG_WARN, "ztunnel::inpod::workloadmanager",
	       "failed to connect to server \"/a b=c\": Os { code: 2 }. retrying in 20ms",
	       "\twarn\tinpod::workloadmanager\tfailed to connect to server \"/a b=c\": Os { code: 2 }. retrying in 20ms\t\n",
	       "tab: a quoted ' b=' in the message is not a field");
	layout(LOG_LAYOUT_GO, LOG_INFO, "cni-agent", "sending pod add to ztunnel uid=u1",
	       "\tinfo\tcni-agent\tsending pod add to ztunnel\tuid=u1\n", "go: istio-cni's layout");
	layout(LOG_LAYOUT_GO, LOG_INFO, "cni-agent", "ztunnel connected",
	       "\tinfo\tcni-agent\tztunnel connected\n", "go: no tab without fields");
	json("pod received uid=\"u\\\"1\" n=3 ok=true addr=[::]:15008",
	     "\"scope\":\"ztunnel::inpod::statemanager\",\"message\":\"pod received\",\"uid\":\"u\\\"1\",\"n\":3,\"ok\":true,\"addr\":\"[::]:15008\"}\n",
	     "json: string, number, bool and bare fields");
	json("x=\"a\\u{1}b\"", "\"scope\":\"ztunnel::inpod::statemanager\",\"x\":\"a\\u0001b\"}\n",
	     "json: Rust's \\u{..} escapes become JSON's");

	/* ztunnel src/telemetry.rs: the whole target as scope, each span a key (>= 1.23) */
	got = compose(LOG_LAYOUT_JSON, LOG_INFO, "proxy{wl=shop/web}: ztunnel::drain",
		      "shutdown complete component=\"inbound\"");
	p = strstr(got, "\"scope\"");
	is_str(p ? p : got,
	       "\"scope\":\"ztunnel::drain\",\"message\":\"shutdown complete\",\"component\":\"inbound\",\"proxy\":{\"wl\":\"shop/web\"}}\n",
	       "json: the span as its own key, the scope without it");
	free(got);
	/* 1.22: tracing-subscriber's json, flattened */
	got = compose(LOG_LAYOUT_JSON_TRACING, LOG_WARN, "proxy{uid=u1}: ztunnel::proxy::inbound",
		      "all inbound connections drained n=2");
	p = strstr(got, "\"level\"");
	is_str(p ? p : got,
	       "\"level\":\"WARN\",\"message\":\"all inbound connections drained\",\"n\":2,\"target\":\"ztunnel::proxy::inbound\",\"span\":{\"uid\":\"u1\",\"name\":\"proxy\"},\"spans\":[{\"uid\":\"u1\",\"name\":\"proxy\"}]}\n",
	       "json (1.22): upper-case level, target, span and spans with their names");
	ok(!strncmp(got, "{\"timestamp\":\"", 14), "json (1.22): timestamp first");
	free(got);

	ok(log_enabled(LOG_INFO, "ztunnel::inpod") && !log_enabled(LOG_DEBUG, "ztunnel::inpod"),
	   "filter: info by default");
	is_int(log_set_filter("info,inpod=debug,ztunnel_emulator=off", why, sizeof(why)), 0,
	       "filter: directives accepted");
	ok(log_enabled(LOG_DEBUG, "ztunnel::inpod::statemanager"), "filter: inpod=debug covers ztunnel::inpod::*");
	ok(!log_enabled(LOG_DEBUG, "ztunnel::inpodx"), "filter: ... but not a sibling with the prefix");
	ok(!log_enabled(LOG_ERROR, "ztunnel_emulator"), "filter: =off silences a target");
	ok(!log_enabled(LOG_DEBUG, "ztunnel::drain") && log_enabled(LOG_INFO, "ztunnel::drain"),
	   "filter: the rest at the bare level");
	ok(log_set_filter("info,inpod=loud", why, sizeof(why)) < 0 && strstr(why, "inpod=loud"),
	   "filter: a bad level is refused, naming it");
	log_filter_text(now, sizeof(now));
	is_str(now, "info,inpod=debug,ztunnel_emulator=off", "filter: the old one kept after a refusal");
	is_int(log_set_filter("warn", why, sizeof(why)), 0, "filter: a bare level");
	ok(!log_enabled(LOG_INFO, "ztunnel::inpod"), "filter: warn hides info");

	ok(release_parse("1.25", &e) && release_parse("1.25", &e)->del_before_snapshot,
	   "release: 1.25 accepts Del before the snapshot");
	ok(release_parse("1.24.3", &e) && release_parse("1.24.3", &e)->redirect_rules,
	   "release: a patch release is its minor");
	ok(!release_parse("1.23", &e)->redirect_rules && release_parse("1.23", &e)->dns_proxy,
	   "release: 1.23 tproxy, DNS on");
	ok(!release_parse("1.20", &e) && strstr(e.msg, "1.21 1.22"), "release: 1.20 unknown, the known ones named");
	is_str(release_default()->name, "1.30", "release: the default is the newest");
	ok(release_parse("1.21", &e)->dump == DUMP_121 && release_parse("1.22", &e)->dump == DUMP_MAPS &&
	   release_parse("1.23", &e)->dump == DUMP_ARRAYS, "release: config_dump shapes 1.21, 1.22, 1.23");
	ok(release_parse("1.23", &e)->add_info == ADD_INFO_OPTIONAL &&
	   release_parse("1.24", &e)->add_info == ADD_INFO_REQUIRED, "release: workload_info required from 1.24");
	ok(release_parse("1.21", &e)->json == JSON_NONE && release_parse("1.22", &e)->json == JSON_TRACING &&
	   release_parse("1.30", &e)->json == JSON_ISTIO, "release: LOG_FORMAT=json by release");
	return done_testing();
}
