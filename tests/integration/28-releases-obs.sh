#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# --istio-version (issue 16), what each release shows beyond the handoff lines
# of 28-releases: the access lines of a plain inbound, a plain outbound and an
# HBONE connection, ok and refused (1.21's proxy-module lines in its
# proxy{uid=..}/outbound{id=..} spans; the "access" target from 1.22, error
# level for a failed upstream); the DNS server's drain lines; config_dump's
# shape (1.21 snake_case stores and GET /workloadmanager, 1.22 maps keyed by
# address, arrays from 1.23); an Add without workload_info (accepted by
# 1.21-1.23, ProtocolError from 1.24) against the independent node agent
# tests/helpers/zds-agent-peer.py. Lines are checked whole, after the
# timestamp, with ports, durations and trace ids normalised.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PROBE=$ZE_ROOT/tests/helpers/tcp-probe
PORT=8080
CLOSED=8081 # nothing listens there
A4=198.18.0.1 B4=198.18.0.2
T=$'\t'
REFUSED='Connection refused (os error 111)'

# the log after the timestamp, variable parts normalised
norm() {
	sed -E -e 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{15}Z//' \
		-e 's/duration="[0-9]+ms"/duration="Nms"/; s/dur=[0-9.]+(ns|µs|ms|s)/dur=D/' \
		-e 's/id=[0-9a-f]{32}/id=ID/; s/(198\.18\.0\.1):[0-9]+/\1:P/g' "$ZT_LOG"
}
# golden TEXT DESC: a (normalised) line of $ZT_LOG is exactly TEXT
has_line() { norm | grep -qxF -- "$WANT"; }
golden() {
	WANT=$1
	if wait_for 10 has_line; then
		ok "$2"
	else
		not_ok "$2"
		diag "no line: '$1'" "log:" "$(norm | tail -n 40)"
	fi
}
probe() { ip netns exec "$A" "$PROBE" connect -t 10 "$@" >/dev/null 2>&1 || true; }

mk_pod_pair --v4-only
PEERS=$T_DIR/peers.log
serve_echo "$PEERS"
ambient_caps_daemon

# line REL KIND: the expected line of release REL
line() {
	local rel=$1 ib=proxy::inbound_passthrough
	if [[ $rel == 1.21 ]]; then
		local sb="proxy{uid=$B}" ob="proxy{uid=$A}:outbound{id=ID}: ztunnel::proxy::outbound"
		case $2 in
		in-start) echo "  INFO $sb: ztunnel::$ib: accepted connection source=$A4:P destination=$B4:$PORT component=\"inbound plaintext\"" ;;
		in-ok) echo "  INFO $sb: ztunnel::$ib: connection complete source=$A4:P destination=$B4:$PORT component=\"inbound plaintext\"" ;;
		in-err) echo "  WARN $sb: ztunnel::$ib: proxying failed: $REFUSED source=$A4:P component=\"inbound plaintext\"" ;;
		hb-start) echo "  INFO $ob: proxy to $B4:$PORT using HBONE via $B4:15008 type Direct" ;;
		hb-in) echo "  INFO $sb: ztunnel::proxy::inbound: got CONNECT request to $B4:$PORT" ;;
		hb-ok) echo "  INFO $ob: complete dur=D" ;;
		dns1) echo "  INFO dns_proxy{uid=$B}: ztunnel::dns::server: shutting down the DNS server" ;;
		dns2) echo "  INFO dns_proxy{uid=$B}: ztunnel::dns::server: dns server drained" ;;
		out-start) echo "  INFO $ob: Proxying to $B4:$PORT using TCP via $B4:$PORT type Direct" ;;
		out-ok) echo "  INFO $ob: complete dur=D" ;;
		out-err) echo "  WARN $ob: failed dur=D err=$REFUSED" ;;
		esac
		return
	fi
	local wb='dst.workload="pb" dst.namespace="default"' wa='src.workload="pa" src.namespace="default"'
	local span="dns_proxy{uid=$B}"
	[[ $rel == 1.22 ]] || span="dns_proxy{wl=default/pb}"
	case $2 in
	in-ok) echo "${T}info${T}access${T}connection complete${T}src.addr=$A4:P dst.addr=$B4:$PORT $wb direction=\"inbound\" bytes_sent=2 bytes_recv=2 duration=\"Nms\"" ;;
	in-err) echo "${T}error${T}access${T}connection complete${T}src.addr=$A4:P dst.addr=$B4:$CLOSED $wb direction=\"inbound\" bytes_sent=0 bytes_recv=0 duration=\"Nms\" error=\"$REFUSED\"" ;;
	dns1) echo "${T}info${T}dns::server:$span${T}shutting down the DNS server$T" ;;
	dns2) echo "${T}info${T}dns::server:$span${T}dns server drained$T" ;;
	out-ok) echo "${T}info${T}access${T}connection complete${T}src.addr=$A4:P $wa dst.addr=$B4:$PORT direction=\"outbound\" bytes_sent=2 bytes_recv=2 duration=\"Nms\"" ;;
	out-err) echo "${T}error${T}access${T}connection complete${T}src.addr=$A4:P $wa dst.addr=$B4:$CLOSED direction=\"outbound\" bytes_sent=0 bytes_recv=0 duration=\"Nms\" error=\"$REFUSED\"" ;;
	esac
}

admin() { curl -s "http://127.0.0.1:$(http_port /config_dump)$1"; }

for rel in ${OBS_RELS:-1.21 1.22 1.23 1.30}; do
	echo "# ---- $rel"
	SOCK=$T_DIR/$rel.sock ZT_LOG=$T_DIR/$rel.log
	# the release's own layout: 28-releases' way (ZT_LOG_ARGS empty), waited for by its socket
	ZT_LOG_ARGS="" start_daemon --profile ambient --istio-version "$rel" --dns-proxy on \
		--dns-upstream 127.0.0.1:53 || true
	check "$rel: the daemon serves $SOCK" wait_for 10 test -S "$SOCK"

	# plain inbound: pod-b enrolled, pod-a not
	"$CNI" add --redirect=redirect --name pb "$SOCK" "$B" >/dev/null
	probe -m hi "$B4" "$PORT"
	[[ $rel != 1.21 ]] || golden "$(line "$rel" in-start)" "$rel: plain inbound: accepted connection"
	golden "$(line "$rel" in-ok)" "$rel: plain inbound: connection complete"
	probe -m x "$B4" "$CLOSED"
	golden "$(line "$rel" in-err)" "$rel: plain inbound, refused upstream"

	# HBONE: both enrolled
	"$CNI" add --redirect=redirect --name pa "$SOCK" "$A" >/dev/null
	probe -m hi "$B4" "$PORT"
	if [[ $rel == 1.21 ]]; then
		golden "$(line "$rel" hb-start)" "1.21: HBONE outbound: proxy to ... using HBONE"
		golden "$(line "$rel" hb-in)" "1.21: HBONE inbound: got CONNECT request"
		golden "$(line "$rel" hb-ok)" "1.21: HBONE outbound: complete dur="
	else
		check "$rel: HBONE: an access line with dst.hbone_addr" wait_for 10 \
			grep -qP "\taccess\tconnection complete\tsrc.addr=$A4:\d+ .*dst.addr=$B4:15008 dst.hbone_addr=$B4:$PORT .*direction=\"outbound\"" "$ZT_LOG"
	fi

	# config_dump by release (observability.md 3)
	dump=$(admin /config_dump)
	case $rel in
	1.21)
		is "$(jq -r '[has("by_addr", "by_uid", "static_config", "workloadState", "workloads")] | @tsv' <<<"$dump")" \
			"true${T}true${T}true${T}false${T}false" "1.21: config_dump has the flattened stores, no workloadState"
		is "$(jq -r --arg s "$SOCK" '.config | [.inpod_uds == $s, .inpod_mark, .inpod_enabled] | @tsv' <<<"$dump")" \
			"true${T}1337${T}true" "1.21: config keys in snake_case"
		is "$(jq -r --arg b "$B" '.by_uid[$b].name' <<<"$dump")" pb "1.21: by_uid holds the workload"
		is "$(admin /workloadmanager)" "{\"$A\":{\"state\":\"Up\"},\"$B\":{\"state\":\"Up\"}}" \
			"1.21: GET /workloadmanager: each pod's state, compact"
		;;
	1.22)
		is "$(jq -r '[(.workloads | type), (.services | type), has("stagedServices"), (.workloadState | type)] | @tsv' <<<"$dump")" \
			"object${T}object${T}true${T}object" "1.22: workloads and services are maps, workloadState present"
		is "$(jq -r --arg k "/$B4" '.workloads[$k].name' <<<"$dump")" pb "1.22: a workload keyed by its network address"
		is "$(jq -r '.config | [.inpodEnabled, .inpodMark] | @tsv' <<<"$dump")" "true${T}1337" "1.22: camelCase inpod* config"
		is "$(admin /workloadmanager)" "not found: /workloadmanager" "1.22: no /workloadmanager"
		;;
	*)
		is "$(jq -r '[(.workloads | type), .config.packetMark, (.config | has("inpodEnabled"))] | @tsv' <<<"$dump")" \
			"array${T}1337${T}false" "$rel: workloads as an array, packetMark"
		;;
	esac

	# Del: the DNS server's two lines in the pod's dns_proxy span
	"$CNI" del --netns "$B" "$SOCK" "$B" >/dev/null
	golden "$(line "$rel" dns1)" "$rel: Del: shutting down the DNS server"
	golden "$(line "$rel" dns2)" "$rel: Del: dns server drained"

	# plain outbound: pod-b no longer in the mesh
	probe -m hi "$B4" "$PORT"
	[[ $rel != 1.21 ]] || golden "$(line "$rel" out-start)" "1.21: plain outbound: Proxying to ... using TCP"
	golden "$(line "$rel" out-ok)" "$rel: plain outbound: complete"
	probe -m x "$B4" "$CLOSED"
	golden "$(line "$rel" out-err)" "$rel: plain outbound, refused upstream"
	stop_daemon
	"$CNI" del --netns "$A" "$SOCK" "$A" >/dev/null 2>&1 || true
done

# ---- an Add without workload_info, by release (zds.md, roles.md 1) ---------------
start_client() {
	ZT_LOG=$T_DIR/$1.log
	shift
	# shellcheck disable=SC2086
	spawn $ZT_WRAPPER "$ZT" --admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0 \
		--metrics-addr 127.0.0.1:0 --ca-dir "$T_DIR/ca" "$@" --connect "$AGENT" >>"$ZT_LOG" 2>&1
	ZT_PID=$LAST_PID
}
for rel in 1.21 1.22 1.23 1.24 1.30; do
	agent_peer_start
	start_client "noinfo$rel" --istio-version "$rel" --log-level debug
	is "$(pc accept 20)" "conn 1" "$rel: connects"
	case $rel in
	1.21 | 1.22 | 1.23)
		is "$(pc add-noinfo 1 nw "/run/netns/$A")" ack "$rel: an Add without workload_info is accepted"
		[[ $rel != 1.23 ]] || golden "${T}info${T}inpod::statemanager${T}pod received, starting proxy${T}uid=\"nw\" name=\"\" namespace=\"\"" \
			"1.23: the Add line with empty name and namespace"
		if [[ $rel != 1.21 ]]; then
			is "$(config_dump | jq -c '.workloadState.nw | del(.connections)')" '{"state":"Up"}' \
				"$rel: workloadState has no info for it"
		fi
		is "$(pc snap 1)" ack "$rel: SnapshotSent acked"
		is "$(pc del 1 nw)" ack "$rel: Del acked"
		if [[ $rel == 1.23 ]]; then
			golden "${T}debug${T}drain:proxy{uid=nw}${T}terminating${T}component=\"inbound\"" \
				"1.23: a Del drains at once: terminating (debug), the span names the uid"
			golden "${T}info${T}drain:proxy{uid=nw}${T}shutdown complete${T}component=\"inbound\"" \
				"1.23: ... then shutdown complete"
		fi
		stop_daemon
		;;
	*)
		is "$(pc add-noinfo 1 nw "/run/netns/$A")" \
			"nack failure to process message : ProtocolError(\"workload_info is required but not present\")" \
			"$rel: an Add without workload_info: ProtocolError"
		golden "${T}info${T}inpod::statemanager${T}pod received, starting proxy${T}uid=\"nw\" name=\"\" namespace=\"\"" \
			"$rel: ... after the Add line"
		wait_for 15 eval "! kill -0 $ZT_PID 2>/dev/null" || true
		st=0
		wait "$ZT_PID" 2>/dev/null || st=$?
		is "$st" 1 "$rel: ... and the daemon exits 1"
		;;
	esac
	agent_peer_stop
done

# LOG_FORMAT=json by release (ztunnel src/telemetry.rs)
for rel in 1.21 1.22 1.30; do
	agent_peer_start
	LOG_FORMAT=json start_client "json$rel" --istio-version "$rel"
	is "$(pc accept 20)" "conn 1" "json $rel: connects"
	check "json $rel: handling new stream logged" wait_for 10 grep -q 'handling new stream' "$ZT_LOG"
	got=$(grep 'handling new stream' "$ZT_LOG" | head -n 1)
	case $rel in
	1.21) like "$got" "Z  INFO ztunnel::inpod::workloadmanager: handling new stream" "1.21: no JSON logs (no LOG_FORMAT)" ;;
	1.22) is "$(python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(list(o), o["level"], o["target"])' "$got")" \
		"['timestamp', 'level', 'message', 'target'] INFO ztunnel::inpod::workloadmanager" "1.22: tracing-subscriber's json keys" ;;
	*) is "$(python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(list(o), o["level"], o["scope"])' "$got")" \
		"['level', 'time', 'scope', 'message'] info ztunnel::inpod::workloadmanager" "$rel: IstioJsonFormat keys, whole target as scope" ;;
	esac
	stop_daemon
	agent_peer_stop
done

done_testing
