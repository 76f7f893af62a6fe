#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# --istio-version (issue 16): the log lines each release prints for the
# handoff, Keep, Del, SnapshotSent, the drain and the stream's end, golden line by line
# (observability.md 1-2, roles.md 2), in ztunnel-emulator --connect against
# the independent node agent tests/helpers/zds-agent-peer.py; Del before the
# snapshot by release; the DNS proxy's default; the RUST_LOG filter,
# LOG_FORMAT=json, POST /logging;
# the release table's usage error.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

T=$'\t'
OS_ENOENT='Os { code: 2, kind: NotFound, message: "No such file or directory" }'


# start_client NAME [OPTIONS]: --connect $AGENT with the release's own log
# (no pinned format or level), logging to $T_DIR/NAME.log
start_client() {
	ZT_LOG=$T_DIR/$1.log
	shift
	# shellcheck disable=SC2086
	spawn $ZT_WRAPPER "$ZT" --admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0 \
		--metrics-addr 127.0.0.1:0 --ca-dir "$T_DIR/ca" "$@" --connect "$AGENT" >>"$ZT_LOG" 2>&1
	ZT_PID=$LAST_PID
}

# golden TEXT NAME: a line of $ZT_LOG is exactly TEXT after its timestamp
golden() {
	if sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{15}Z//' "$ZT_LOG" | grep -qxF -- "$1"; then
		ok "$2"
	else
		not_ok "$2"
		diag "no line: '$1'" "log:" "$(sed -n '1,60p' "$ZT_LOG")"
	fi
}
absent() { if grep -qF -- "$1" "$ZT_LOG"; then not_ok "$2"; else ok "$2"; fi; }

reap() {
	ST=0
	wait_for 15 eval "! kill -0 $1 2>/dev/null" || true
	wait "$1" 2>/dev/null || ST=$?
}

mk_netns a
A=$NS

# ---- the lines of one release --------------------------------------------------
# line REL KIND: the golden line (after the timestamp) of release REL
line() {
	local rel=$1 wm=inpod::workloadmanager sm=inpod::statemanager
	if [[ $rel == 1.21 ]]; then
		case $2 in
		connect) echo "  WARN ztunnel::$wm: failed to connect to server: $OS_ENOENT. retrying in 20ms" ;;
		stream) echo "  INFO ztunnel::$wm: handling new stream" ;;
		add) echo "  INFO ztunnel::$sm: pod WorkloadUid(\"$A\") received netns, starting proxy" ;;
		snap) echo "  INFO ztunnel::$sm: pod received snapshot sent" ;;
		del) echo "  INFO ztunnel::$sm: pod delete request, draining proxy" ;;
		drain) echo "  INFO proxy{uid=$A}: ztunnel::proxy::inbound: all inbound connections drained" ;;
		eof) echo "  INFO ztunnel::$wm: process stream ended with eof" ;;
		esac
		return
	fi
	case $2 in
	connect)
		case $rel in
		1.23) echo "${T}warn${T}$wm${T}failed to connect to server \"$AGENT\": $OS_ENOENT. retrying in 20ms$T" ;;
		*) echo "${T}warn${T}$wm${T}failed to connect to the Istio CNI node agent over \"$AGENT\", is the node agent healthy? details: $OS_ENOENT. retrying in 20ms$T" ;;
		esac ;;
	stream) echo "${T}info${T}$wm${T}handling new stream$T" ;;
	add) echo "${T}info${T}$sm${T}pod received, starting proxy${T}uid=\"$A\" name=\"web\" namespace=\"shop\"" ;;
	keep) echo "${T}info${T}$sm${T}pod keep received. will not delete it when snapshot is sent${T}uid=\"ghost\"" ;;
	snap) echo "${T}info${T}$sm${T}received snapshot sent$T" ;;
	del) echo "${T}info${T}$sm${T}pod delete request, shutting down proxy${T}uid=\"$A\"" ;;
	drain) echo "${T}info${T}drain:proxy{wl=shop/web}${T}shutdown complete${T}component=\"inbound\"" ;;
	eof) echo "${T}info${T}$wm${T}process stream ended with eof$T" ;;
	esac
}

for rel in 1.21 1.23 1.24 1.25 1.30; do
	start_client "r$rel" --istio-version "$rel"
	check "$rel: the agent's socket is missing, the daemon retries" \
		wait_for 10 grep -q 'retrying in 40ms' "$ZT_LOG"
	golden "$(line "$rel" connect)" "$rel: connect failure warning"
	agent_peer_start
	is "$(pc accept 20)" "conn 1" "$rel: connects once the socket exists"
	golden "$(line "$rel" stream)" "$rel: handling new stream"
	is "$(pc add 1 "$A" "/run/netns/$A" web shop default)" ack "$rel: Add acked"
	golden "$(line "$rel" add)" "$rel: Add line"
	is "$(pc keep 1 ghost)" ack "$rel: Keep acked"
	if [[ $rel == 1.21 ]]; then
		absent "pod keep" "1.21: Keep is a debug line, not shown at info"
	else
		golden "$(line "$rel" keep)" "$rel: Keep line at info"
	fi
	is "$(pc snap 1)" ack "$rel: SnapshotSent acked"
	golden "$(line "$rel" snap)" "$rel: SnapshotSent line"
	is "$(pc del 1 "$A")" ack "$rel: Del acked"
	golden "$(line "$rel" del)" "$rel: Del line"
	golden "$(line "$rel" drain)" "$rel: the pod's drain line"
	is "$(pc close 1)" closed "$rel: the agent closes the stream"
	check "$rel: stream end logged" wait_for 10 grep -q 'process stream ended with eof' "$ZT_LOG"
	golden "$(line "$rel" eof)" "$rel: stream end line"
	# Del before SnapshotSent on the next connection (roles.md 2)
	is "$(pc accept 20)" "conn 2" "$rel: reconnects"
	case $rel in
	1.21)
		is "$(pc del 2 "$A")" "nack failure to process message : ProtocolError" \
			"1.21: Del before the snapshot: ProtocolError without a text"
		golden "  WARN ztunnel::inpod::workloadmanager: process stream ended: ProtocolError" \
			"1.21: ... the stream ends, no exit"
		is "$(pc accept 20)" "conn 3" "1.21: ... and the daemon reconnects"
		stop_daemon
		;;
	1.23 | 1.24)
		is "$(pc del 2 "$A")" "nack failure to process message : ProtocolError(\"pod delete received before snapshot\")" \
			"$rel: Del before the snapshot: ProtocolError"
		reap "$ZT_PID"
		is "$ST" 1 "$rel: ... and the daemon exits 1"
		golden "${T}error${T}inpod::workloadmanager${T}protocol mismatch error while processing stream, shutting down$T" \
			"$rel: protocol mismatch line"
		;;
	*)
		is "$(pc del 2 "$A")" ack "$rel: Del before the snapshot is accepted"
		stop_daemon
		;;
	esac
	agent_peer_stop
done

# ---- the filter, JSON, POST /logging ---------------------------------------------
ZT_LOG=$T_DIR/filter.log
RUST_LOG=info,ztunnel_emulator=off start_client filter --istio-version 1.30
check "RUST_LOG: the daemon runs" wait_for 10 grep -q 'retrying in 40ms' "$ZT_LOG"
absent "${T}ztunnel_emulator$T" "RUST_LOG=info,ztunnel_emulator=off silences the emulator's own lines"
stop_daemon
start_client filter2 --istio-version 1.30 --log-level warn
check "--log-level warn: warnings still shown" wait_for 10 grep -q 'retrying in 40ms' "$ZT_LOG"
absent "${T}info$T" "--log-level warn: no info line"
stop_daemon

LOG_FORMAT=json start_client json --istio-version 1.30
agent_peer_start
is "$(pc accept 20)" "conn 1" "json: connects"
is "$(pc add 1 "$A" "/run/netns/$A" web shop default)" ack "json: Add acked"
check "json: the Add line is logged" wait_for 10 grep -q 'pod received' "$ZT_LOG"
is "$(grep 'pod received' "$ZT_LOG" | python3 -c 'import json,sys; o=json.loads(sys.stdin.readline()); print(o["level"], o["scope"], o["message"], o["uid"], o["name"], o["namespace"])')" \
	"info ztunnel::inpod::statemanager pod received, starting proxy $A web shop" "LOG_FORMAT=json: ztunnel's JSON line with its fields"
check "json: every line is a JSON object" python3 -c '
import json, sys
for l in open(sys.argv[1]):
    if l.startswith("{"):
        json.loads(l)' "$ZT_LOG"
stop_daemon
agent_peer_stop

start_client live --istio-version 1.21
check "POST /logging: the daemon serves its admin port" wait_for 10 grep -q 'serving /config_dump' "$ZT_LOG"
agent_peer_start
is "$(pc accept 20)" "conn 1" "live: connects"
is "$(pc keep 1 one)" ack "live: Keep at info: not logged (1.21's debug line)"
admin=http://127.0.0.1:$(http_port /config_dump)
is "$(curl -s -X POST "$admin/logging?level=debug" -w ' %{http_code}')" "current log level is debug
 200" "POST /logging?level=debug answers the new level"
is "$(pc keep 1 two)" ack "live: Keep after the change"
golden " DEBUG ztunnel::inpod::statemanager: pod keep recieved. will not delete it when snapshot is sent uid=\"two\"" \
	"POST /logging: the debug line shows at once"
absent 'uid="one"' "... and the earlier one never did"
is "$(curl -s -X POST "$admin/logging?level=inpod=loud" -w ' %{http_code}' | tail -c 4)" " 400" "POST /logging with a bad level: 400"
is "$(curl -s "$admin/logging" -w ' %{http_code}' | tail -c 4)" " 405" "GET /logging: 405, as ztunnel's"
stop_daemon
agent_peer_stop

# ---- the DNS proxy's default by release (ambient) ------------------------------------
ambient_caps_daemon
for rel in 1.21:0 1.23:1 1.30:1; do
	v=${rel%:*}
	SOCK=$T_DIR/dns-$v.sock
	ZT_LOG=$T_DIR/dns-$v.log
	start_daemon --profile ambient --istio-version "$v" --dns-upstream 127.0.0.1:53
	mk_netns "dns${v/./}"
	"$CNI" add "$SOCK" "$NS" >/dev/null
	n=$(ip netns exec "$NS" ss -Hlnu 'sport = :15053' | wc -l)
	is "$((n > 0))" "${rel#*:}" "$v: the DNS proxy is $( ((${rel#*:})) && echo on || echo off) by default"
	stop_daemon
done
SOCK=$T_DIR/dns-off.sock ZT_LOG=$T_DIR/dns-off.log
start_daemon --profile ambient --istio-version 1.30 --dns-proxy off
mk_netns dnsoff
"$CNI" add "$SOCK" "$NS" >/dev/null
is "$(ip netns exec "$NS" ss -Hlnu 'sport = :15053' | wc -l)" 0 "--dns-proxy off overrides the release"
is "$(ip netns exec "$NS" ss -Htln | wc -l)" 3 "... the three proxy listeners still run"
stop_daemon

# ---- the table's edges --------------------------------------------------------------
out=$("$ZT" --istio-version 1.20 2>&1) && rc=0 || rc=$?
like "$rc:$out" "2:ztunnel-emulator: unknown Istio version '1.20': expected one of 1.21 1.22 1.23 1.24 1.25 1.26 1.27 1.28 1.29 1.30" \
	"--istio-version 1.20: usage error naming the known versions"
out=$("$CNI" --istio-version 2.0 add x y 2>&1) && rc=0 || rc=$?
like "$rc:$out" "2:cni-emulator: unknown Istio version '2.0'" "cni-emulator --istio-version 2.0: usage error"
out=$("$ZT" --log-level 'inpod=loud' 2>&1) && rc=0 || rc=$?
like "$rc:$out" "2:ztunnel-emulator: invalid log level 'inpod=loud'" "--log-level with a bad level: usage error"
out=$("$ZT" --dns-proxy on 2>&1) && rc=0 || rc=$?
like "$rc:$out" "2:ztunnel-emulator: --dns-proxy needs --profile ambient" "--dns-proxy is for the ambient profile"

done_testing
