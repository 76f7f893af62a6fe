#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cni-emulator agent's log as istio-cni prints it (issue 16): Istio's Go
# layout (TIMESTAMP<TAB>level<TAB>scope<TAB>message[<TAB>labels]) and, per
# --istio-version, the node agent's lines with their levels and labels
# (observability.md 2, read from istio/istio cni/pkg/nodeagent at each tag).
# One scenario per release against the independent fake ztunnel
# (tests/helpers/zds-ztunnel-peer.py): a pod enrolled with no ztunnel, one
# whose netns then vanishes, a ztunnel connecting (snapshot: Add, Keep), a
# steady Add, a nacked Add, an un-enrol and the ztunnel leaving. The golden
# lines below have the timestamp as TS and the connection's UUID as UUID.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PEER=$ZE_ROOT/tests/helpers/zds-ztunnel-peer.py
T=$'\t'

# scenario DIR [AGENT OPTIONS]: runs the scenario; the agent's log is DIR/agent.log
scenario() {
	local d=$1 ag peer
	shift
	mkdir -p "$d"
	spawn "$CNI" agent --zds-socket "$d/zt.sock" --control-socket "$d/ctl.sock" \
		--state-file "$d/state.json" "$@" >"$d/agent.log" 2>&1
	ag=$LAST_PID
	wait_for 10 grep -q "node agent listening" "$d/agent.log" || return 1
	mk_netns "snap$((++n))"
	"$CNI" enroll --agent "$d/ctl.sock" --uid uid-snap --name snap --namespace shop \
		--service-account sa "$NS" >/dev/null 2>&1 || true
	mk_netns "gone$n"
	"$CNI" enroll --agent "$d/ctl.sock" --uid uid-gone --name gone --namespace shop \
		--service-account sa "$NS" >/dev/null 2>&1 || true
	ip netns del "$NS"
	: >"$d/peer.log"
	spawn python3 "$PEER" "$d/zt.sock" --log "$d/peer.log" --nack uid-bad
	peer=$LAST_PID
	wait_for 10 grep -q '^snapshot_sent' "$d/peer.log" || return 1
	mk_netns "web$n"
	"$CNI" enroll --agent "$d/ctl.sock" --uid uid-web --name web-0 --namespace shop \
		--service-account web "$NS" >/dev/null
	mk_netns "bad$n"
	"$CNI" enroll --agent "$d/ctl.sock" --uid uid-bad --name bad --namespace shop \
		--service-account sa "$NS" >/dev/null 2>&1 || true
	"$CNI" unenroll --agent "$d/ctl.sock" uid-web >/dev/null
	kill -TERM "$peer"
	wait "$peer" 2>/dev/null || true
	# (an EOF not yet read when SIGTERM comes gives the same lines)
	kill -TERM "$ag"
	wait "$ag" || true
}

# norm DIR SCOPE: DIR's log lines of SCOPE with TS and UUID
norm() {
	grep -P "^[^\t]*\t[a-z]*\t$2\t" "$1/agent.log" |
		sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z\t/TS\t/;
			s/conn_uuid=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/conn_uuid=UUID/g'
}

# golden VERSION: the cni-agent lines of the scenario, with --log-level debug
golden() {
	case $1 in
	1.21) cat <<EOF
TS${T}info${T}cni-agent${T}in pod mode - adding pod shop/snap to ztunnel 
TS${T}info${T}cni-agent${T}in pod mode - adding pod shop/gone to ztunnel 
TS${T}debug${T}cni-agent${T}ztunnel connected
TS${T}info${T}cni-agent${T}received hello from ztunnel. V1
TS${T}debug${T}cni-agent${T}Sending local pod uid-snap ztunnel
TS${T}info${T}cni-agent${T}netns not available for local pod uid-gone. sending keep to ztunnel
TS${T}info${T}cni-agent${T}in pod mode - adding pod shop/web-0 to ztunnel 
TS${T}debug${T}cni-agent${T}About to send added pod: uid-web to ztunnel: add:{uid:"uid-web" workload_info:{name:"web-0" namespace:"shop" service_account:"web"}}
TS${T}info${T}cni-agent${T}in pod mode - adding pod shop/bad to ztunnel 
TS${T}debug${T}cni-agent${T}About to send added pod: uid-bad to ztunnel: add:{uid:"uid-bad" workload_info:{name:"bad" namespace:"shop" service_account:"sa"}}
TS${T}error${T}cni-agent${T}add-workload: got ack error: failure to start proxy : test nack
TS${T}debug${T}cni-agent${T}in pod mode - removing pod from ztunnel${T}ns=shop name=web-0
TS${T}debug${T}cni-agent${T}ztunnel disconnected
EOF
	;;
	1.22) cat <<EOF
TS${T}info${T}cni-agent${T}in pod mode - adding pod shop/snap to ztunnel 
TS${T}info${T}cni-agent${T}in pod mode - adding pod shop/gone to ztunnel 
TS${T}debug${T}cni-agent${T}ztunnel connected
TS${T}info${T}cni-agent${T}received hello from ztunnel. V1
TS${T}info${T}cni-agent${T}Sending local pod uid-snap ztunnel
TS${T}info${T}cni-agent${T}netns not available for local pod uid-gone. sending keep to ztunnel
TS${T}info${T}cni-agent${T}in pod mode - adding pod shop/web-0 to ztunnel 
TS${T}info${T}cni-agent${T}About to send added pod: uid-web to ztunnel: add:{uid:"uid-web" workload_info:{name:"web-0" namespace:"shop" service_account:"web"}}
TS${T}info${T}cni-agent${T}in pod mode - adding pod shop/bad to ztunnel 
TS${T}info${T}cni-agent${T}About to send added pod: uid-bad to ztunnel: add:{uid:"uid-bad" workload_info:{name:"bad" namespace:"shop" service_account:"sa"}}
TS${T}error${T}cni-agent${T}add-workload: got ack error: failure to start proxy : test nack
TS${T}debug${T}cni-agent${T}in pod mode - removing pod from ztunnel${T}ns=shop name=web-0
TS${T}debug${T}cni-agent${T}ztunnel disconnected
EOF
	;;
	1.23) cat <<EOF
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=snap
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=gone
TS${T}debug${T}cni-agent${T}ztunnel connected
TS${T}info${T}cni-agent${T}received hello from ztunnel${T}version=V1
TS${T}info${T}cni-agent${T}sending pod to ztunnel as part of snapshot${T}uid=uid-snap name=snap namespace=shop serviceAccount=sa
TS${T}info${T}cni-agent${T}netns is not available for pod, sending 'keep' to ztunnel${T}uid=uid-gone name=gone namespace=shop serviceAccount=sa
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=web-0
TS${T}info${T}cni-agent${T}sending pod add to ztunnel${T}uid=uid-web name=web-0 namespace=shop serviceAccount=web
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=bad
TS${T}info${T}cni-agent${T}sending pod add to ztunnel${T}uid=uid-bad name=bad namespace=shop serviceAccount=sa
TS${T}error${T}cni-agent${T}failed to add workload: failure to start proxy : test nack${T}uid=uid-bad name=bad namespace=shop serviceAccount=sa
TS${T}debug${T}cni-agent${T}removing pod from the mesh${T}ns=shop name=web-0 delete=false
TS${T}debug${T}cni-agent${T}ztunnel disconnected
EOF
	;;
	1.25) cat <<EOF
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=snap
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=gone
TS${T}info${T}cni-agent${T}new ztunnel connected, total connected %!s(int=1)${T}conn_uuid=UUID
TS${T}info${T}cni-agent${T}received hello from ztunnel${T}conn_uuid=UUID version=V1
TS${T}info${T}cni-agent${T}sending pod to ztunnel as part of snapshot${T}uid=uid-snap name=snap namespace=shop serviceAccount=sa
TS${T}info${T}cni-agent${T}netns is not available for pod, sending 'keep' to ztunnel${T}uid=uid-gone name=gone namespace=shop serviceAccount=sa
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=web-0
TS${T}info${T}cni-agent${T}sending pod add to ztunnel${T}uid=uid-web name=web-0 namespace=shop serviceAccount=web conn_uuid=UUID
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=bad
TS${T}info${T}cni-agent${T}sending pod add to ztunnel${T}uid=uid-bad name=bad namespace=shop serviceAccount=sa conn_uuid=UUID
TS${T}error${T}cni-agent${T}failed to add workload: failure to start proxy : test nack${T}uid=uid-bad name=bad namespace=shop serviceAccount=sa conn_uuid=UUID
TS${T}info${T}cni-agent${T}removing pod from mesh${T}ns=shop name=web-0 deleted=false
TS${T}debug${T}cni-agent${T}removing pod from the mesh${T}ns=shop name=web-0 delete=false
TS${T}info${T}cni-agent${T}ztunnel disconnected, total connected %!s(int=0)${T}conn_uuid=UUID
EOF
	;;
	1.30) cat <<EOF
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=snap
TS${T}error${T}cni-agent${T}failed to add pod to ztunnel: pod partially added, annotating with pending status${T}ns=shop name=snap
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=gone
TS${T}error${T}cni-agent${T}failed to add pod to ztunnel: pod partially added, annotating with pending status${T}ns=shop name=gone
TS${T}info${T}cni-agent${T}new ztunnel connected, total connected: 1${T}conn_uuid=UUID
TS${T}info${T}cni-agent${T}received hello from ztunnel${T}conn_uuid=UUID version=V1
TS${T}info${T}cni-agent${T}sending pod to ztunnel as part of snapshot${T}uid=uid-snap name=snap namespace=shop serviceAccount=sa
TS${T}info${T}cni-agent${T}netns is not available for pod, sending 'keep' to ztunnel${T}uid=uid-gone name=gone namespace=shop serviceAccount=sa
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=web-0
TS${T}info${T}cni-agent${T}sending pod add to ztunnel${T}uid=uid-web name=web-0 namespace=shop serviceAccount=web conn_uuid=UUID
TS${T}info${T}cni-agent${T}adding pod to the mesh${T}ns=shop name=bad
TS${T}info${T}cni-agent${T}sending pod add to ztunnel${T}uid=uid-bad name=bad namespace=shop serviceAccount=sa conn_uuid=UUID
TS${T}error${T}cni-agent${T}failed to add workload: failure to start proxy : test nack${T}uid=uid-bad name=bad namespace=shop serviceAccount=sa conn_uuid=UUID
TS${T}info${T}cni-agent${T}removing pod from mesh${T}ns=shop name=web-0 deleted=false
TS${T}debug${T}cni-agent${T}removing pod from the mesh${T}ns=shop name=web-0 delete=false
TS${T}debug${T}cni-agent${T}ztunnel disconnected
TS${T}info${T}cni-agent${T}ztunnel disconnected, total connected %!s(int=0)${T}conn_uuid=UUID
EOF
	;;
	esac
}

n=0
for v in 1.21 1.22 1.23 1.25 1.30; do
	d=$T_DIR/$v
	opts=(--log-level debug)
	[[ $v == 1.30 ]] || opts+=(--istio-version "$v")	# 1.30: the default
	if ! scenario "$d" "${opts[@]}"; then
		not_ok "--istio-version $v: the scenario ran"
		diag "agent log:" "$(cat "$d/agent.log" 2>/dev/null)" "peer log:" "$(cat "$d/peer.log" 2>/dev/null)"
		continue
	fi
	is "$(norm "$d" cni-agent)" "$(golden "$v")" "--istio-version $v: istio-cni's lines, levels and labels"
	bad=$(grep -vP '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\t(error|warn|info|debug)\t(cni-agent|cni-emulator)\t[^\t]+(\t[^\t]+)?$' "$d/agent.log" || true)
	is "$bad" "" "--istio-version $v: every line is TIMESTAMP<TAB>level<TAB>scope<TAB>message[<TAB>labels]"
	like "$(norm "$d" cni-emulator)" "TS${T}info${T}cni-emulator${T}node agent listening${T}zds=$d/zt.sock " \
		"--istio-version $v: the emulator's own lines are under scope cni-emulator"
done

# ---- the level filter: istio-cni's --log_output_level syntax ---------------------
d=$T_DIR/info
scenario "$d" --istio-version 1.21 || not_ok "default level: the scenario ran"
is "$(norm "$d" cni-agent | grep -c "${T}debug${T}")" 0 "default level info: no debug line"
like "$(norm "$d" cni-agent)" "received hello from ztunnel. V1" "default level info: info lines"
d=$T_DIR/quiet
scenario "$d" --log-level 'default:info,cni-agent:none' || not_ok "cni-agent:none: the scenario ran"
is "$(norm "$d" cni-agent)" "" "--log-level cni-agent:none silences istio-cni's lines"
like "$(cat "$d/agent.log")" "node agent listening" "... and keeps the emulator's own"
err=$("$CNI" agent --log-level loud 2>&1) && rc=0 || rc=$?
is "$rc" 2 "--log-level loud: usage error, exit 2"
like "$err" "invalid --log-level 'loud'" "--log-level loud: says what is wrong"

done_testing
