#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The admin side as ztunnel serves it (observability.md §3-5): /metrics in
# OpenMetrics or Prometheus text 0.0.4 by the Accept header, checked with
# prometheus_client's own parsers (tests/helpers/prom-parse.py), also at
# /stats/prometheus; readiness's answers (500 naming ztunnel's pending task,
# 405, 404); /config_dump in ztunnel's shape (the keys istioctl
# ztunnel-config reads), the emulator's own facts under "emulator"; POST
# /quitquitquit draining the daemon as SIGTERM does.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PARSE=$(dirname "$0")/../helpers/prom-parse.py
OM_ACCEPT='application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

if ! /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null; then
	not_ok "python3-prometheus-client is installed (scripts/deps.sh)"
	done_testing
	exit
fi

start_daemon
mk_netns a
A=$NS
"$CNI" add --namespace shop --service-account web "$SOCK" "$A" >/dev/null
MPORT=$(http_port /metrics)

# get PATH [ACCEPT]: headers and body of a metrics request, in $T_DIR/h and $T_DIR/b
get() {
	curl -s -D "$T_DIR/h" -o "$T_DIR/b" ${2:+-H "Accept: $2"} "http://127.0.0.1:$MPORT$1"
}
ctype() { tr -d '\r' <"$T_DIR/h" | sed -n 's/^Content-Type: //Ip'; }

# ---- OpenMetrics, when asked ------------------------------------------------
get /metrics "$OM_ACCEPT"
is "$(ctype)" "application/openmetrics-text;charset=utf-8;version=1.0.0" \
	"OpenMetrics asked: ztunnel's OpenMetrics content type"
is "$(tail -n 1 "$T_DIR/b")" "# EOF" "OpenMetrics: the body ends with # EOF"
om=$(/usr/bin/python3 "$PARSE" --openmetrics <"$T_DIR/b") && rc=0 || rc=$?
is "$rc" 0 "OpenMetrics: prometheus_client's strict OpenMetrics parser accepts the body" || diag "$om"
like "$(cat "$T_DIR/b")" $'# HELP workload_manager_proxies_started The total number of proxies that were started (unstable).\n# TYPE workload_manager_proxies_started counter\nworkload_manager_proxies_started_total 1\n' \
	"OpenMetrics: HELP/TYPE on the base name, ztunnel's help text, the sample ends in _total"
like "$om" "family workload_manager_proxies_started counter" "OpenMetrics parser: proxies_started is a counter"
like "$om" "sample workload_manager_proxies_started_total{} 1" "OpenMetrics parser: one proxy started"
like "$om" "family workload_manager_active_proxy_count gauge" "OpenMetrics parser: active_proxy_count is a gauge"
like "$om" "sample workload_manager_active_proxy_count{} 1" "OpenMetrics parser: one active proxy"
like "$om" 'sample ztunnel_emulator_zds_requests_total{result="ack",type="add"} 1' \
	"OpenMetrics parser: the acked Add, labelled"
like "$om" 'sample ztunnel_emulator_add_duration_seconds_count{} 1' "OpenMetrics parser: the Add histogram"
unlike "$om" "family [^ ]* unknown" "OpenMetrics parser: every family typed"

# ---- Prometheus text 0.0.4 otherwise, at both paths -------------------------
for path in /metrics /stats/prometheus; do
	get "$path"
	is "$(ctype)" "text/plain; version=0.0.4; charset=utf-8" "$path without Accept: Prometheus text 0.0.4"
	pt=$(/usr/bin/python3 "$PARSE" <"$T_DIR/b") && rc=0 || rc=$?
	is "$rc" 0 "$path: prometheus_client's text parser accepts the body" || diag "$pt"
	unlike "$pt" "family [^ ]* unknown" "$path: every family typed (a counter's TYPE names its _total sample)"
	is "$(grep '^sample' <<<"$pt" | sort)" "$(grep '^sample' <<<"$om" | sort)" \
		"$path: the same samples as the OpenMetrics body"
done
get /stats/prometheus "$OM_ACCEPT"
is "$(tail -n 1 "$T_DIR/b")" "# EOF" "/stats/prometheus honours Accept too"
is "$(metric workload_manager_proxies_started_total)" 1 "lib.sh's metric() still reads the samples"

# ---- readiness (observability.md §4, roles.md §1) ----------------------------
RPORT=$(http_port /healthz/ready)
# req METHOD PORT PATH: "CODE BODY" of a request (the body's newlines as \n)
req() {
	curl -s -o "$T_DIR/rb" -w '%{http_code}' -X "$1" "http://127.0.0.1:$2$3" >"$T_DIR/rc" || true
	printf '%s %s' "$(cat "$T_DIR/rc")" "$(sed -z 's/\n/\\n/g' "$T_DIR/rb")"
}
ready
is "$READY_CODE:$READY_BODY" $'200:ready\n' "ready: 200 'ready' with the pod up"
is "$(curl -s -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$RPORT/healthz/ready")" 405 \
	"ready: HEAD is refused (405), as ztunnel's GET-only handler does"
is "$(req POST "$RPORT" /healthz/ready)" "405 " "ready: POST 405, no body"
is "$(req GET "$RPORT" /healthz)" "404 " "ready: another path 404, no body"
mk_netns c
C=$NS
hold_port "$C" 15006
"$CNI" "$SOCK" "$C" >/dev/null 2>&1 || true
ready
is "$READY_CODE" 500 "pending pod: 500"
is "$(req GET "$RPORT" /healthz/ready)" '500 not ready, pending: workload proxy manager\n' \
	"pending pod: ztunnel's body, naming the blocked task"
like "$READY_WHY" "1 pod(s) pending: \"$C\"" "pending pod: the emulator's reason in X-Emulator-Not-Ready"

# ---- /config_dump in ztunnel's shape (observability.md §3, istioctl's ZtunnelDump) ----
CD=$(config_dump)
jqr() { jq -r "$@" <<<"$CD"; }
is "$(jqr -c 'keys_unsorted')" '["workloads","services","policies","certificates","config","workloadState","emulator"]' \
	"config_dump: ztunnel's top-level keys, then the emulator's"
is "$(jqr '[.services, .policies, .certificates] | map(type) | join(" ")')" "array array array" \
	"config_dump: services, policies and certificates are arrays (the >= 1.23 form)"
is "$(jqr --arg u "$A" '.workloads[] | select(.uid == $u) | [.name, .namespace, .serviceAccount, .protocol, .status, (.workloadIps | type), (.node | type)] | join(" ")')" \
	"$A shop web TCP Healthy array string" "config_dump: the pod's workload, istioctl's fields"
is "$(jqr --arg u "$A" '.workloadState[$u] | [.state, .info.name, .info.namespace, .info.serviceAccount, (.connections.inbound | type), (.connections.outbound | type)] | join(" ")')" \
	"Up $A shop web array array" "config_dump: workloadState: Up, info, connections"
is "$(jqr --arg u "$C" '.workloadState[$u] | [.state, has("connections")] | join(" ")')" "Pending false" \
	"config_dump: a pending pod's workloadState: Pending, no connections"
is "$(jqr '.config | [.proxyMode, .inpodUds, (.inpodPortReuse | type), (.packetMark | type)] | join(" ")')" \
	"Shared $SOCK boolean number" "config_dump: config by ztunnel's camelCase names"
is "$(jqr '[.config | keys[] | select(test("_"))] | length')" 0 "config_dump: no snake_case key in config"
is "$(jqr --arg u "$A" '.emulator.pods[] | select(.uid == $u) | [.state, (.netns.inode | type), (.listeners | length)] | join(" ")')" \
	"Up number 3" "config_dump: the emulator's own view of the pod under .emulator.pods"
is "$(jqr '.emulator.config.pid')" "$ZT_PID" "config_dump: the emulator's settings under .emulator.config"
out=$("$CNI" inspect --admin "http://127.0.0.1:$(http_port /config_dump)" "$A" 2>&1) || true
like "$out" "enrolled: yes, pod \"$A\" (Up)" "cni-emulator inspect reads the new shape" || diag "$out"
"$CNI" del "$SOCK" "$C" >/dev/null
ready
is "$READY_CODE:$READY_WHY" "200:" "ready again once the pending pod is deleted, no reason header"

# ---- POST /quitquitquit (ztunnel's admin) ------------------------------------
APORT=$(http_port /config_dump)
is "$(req GET "$APORT" /quitquitquit)" "405 " "quitquitquit: GET refused (405), the daemon keeps serving"
is "$(req PUT "$APORT" /quitquitquit)" "405 " "quitquitquit: PUT refused (405)"
check "quitquitquit: still serving after the refused methods" daemon_alive
is "$(req POST "$APORT" /quitquitquit)" '200 shutdown now\n' "quitquitquit: POST answers 'shutdown now'"
gone() { [[ ! -e /proc/$ZT_PID || $(awk '{ print $3 }' "/proc/$ZT_PID/stat" 2>/dev/null) == Z ]]; }
check "quitquitquit: the daemon drains and exits" wait_for 20 gone
ZT_STATUS=0
wait "$ZT_PID" || ZT_STATUS=$?
is "$ZT_STATUS" 0 "quitquitquit: exit status 0, as after SIGTERM"
like "$(cat "$ZT_LOG")" "ztunnel::signal: received explicit shutdown signal" "quitquitquit: ztunnel's line for it"
like "$(cat "$ZT_LOG")" "Shutdown completed gracefully" "quitquitquit: the graceful drain ran to its end"
# ztunnel's hyper_util lines for its three HTTP servers, each with the address it listens on
log=$(cat "$ZT_LOG")
for c in "admin $APORT" "readiness $RPORT" "stats $MPORT"; do
	like "$log" "INFO ztunnel::hyper_util: listener established address=127.0.0.1:${c#* } component=\"${c%% *}\"" \
		"log: listener established component=\"${c%% *}\" at start"
	like "$log" "INFO ztunnel::hyper_util: listener drained address=127.0.0.1:${c#* } component=\"${c%% *}\"" \
		"log: listener drained component=\"${c%% *}\" at the end of the drain"
done
is "$(listener_count "$A")" 0 "quitquitquit: the pod's listeners are closed"

done_testing
