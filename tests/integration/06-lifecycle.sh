#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod lifecycle as ztunnel does it - add, del, re-add into a recreated netns,
# pending and retried starts, keep, snapshot reconcile with sync - each state
# checked three ways: ss in the pod, config_dump/readiness/metrics, the log.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

start_daemon --retry-interval 0.5
base=$(fd_count "$ZT_PID")

# consistent NS UID WANT: WANT listeners in ss and in config_dump (a pod absent from it has none)
consistent() {
	local n
	n=$(pod_field "$2" '.listeners | length')
	is "$(listener_count "$1")" "$3" "$2: ss shows $3 daemon listeners in its netns"
	is "${n:-0}" "$3" "$2: config_dump lists $3 listeners"
}

# ---- add, seen in config_dump ----------------------------------------------
mk_netns a
A=$NS
out=$("$CNI" add --namespace shop --service-account web "$SOCK" "$A" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:listeners ready" "add: listeners ready"
is "$(pod_field "$A" '[.state, .name, .namespace, .service_account] | join(" ")')" "Up $A shop web" \
	"config_dump: state Up with the pod's name, namespace and service account"
is "$(pod_field "$A" '.netns.inode')" "$(ns_inode "$A")" "config_dump: the netns inode is the pod's"
is "$(pod_field "$A" '[.listeners[].address] | join(" ")')" "127.0.0.1:15008 127.0.0.1:15006 127.0.0.1:15001" \
	"config_dump: the listeners in ztunnel's order"
ip netns exec "$A" nc -z -w 2 127.0.0.1 15006
check "config_dump: the accepted connection is counted" \
	wait_for 3 eval '[[ $(pod_field "$A" ".listeners[1].accepted") == 1 ]]'
consistent "$A" "$A" 3
ready
is "$READY_CODE" 200 "ready: 200 with nothing pending"
is "$(metric workload_manager_active_proxy_count)" 1 "metrics: one active proxy"
is "$(metric workload_manager_proxies_started_total)" 1 "metrics: one proxy started"
is "$(metric 'ztunnel_emulator_listener_accepted_total{uid="'"$A"'",component="inbound plaintext",address="127.0.0.1:15006",protocol="tcp"}')" 1 \
	"metrics: the accepted connection, per listener"

# ---- del ---------------------------------------------------------------------
ino=$(ns_inode "$A")
out=$("$CNI" del "$SOCK" "$A" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:pod $A deleted" "del: cni-emulator says so"
consistent "$A" "$A" 0
is "$(pod_uids)" "" "config_dump: no pods after del"
like "$(cat "$ZT_LOG")" "pod delete request, draining proxy" "log: pod delete request, draining proxy"
check "del: the daemon no longer holds the netns (no fd pins it)" eval "! holds_inode $ZT_PID $ino"
check "del: the daemon's fd count is back to where it started" wait_for 3 fds_back_to "$base"
is "$(metric workload_manager_active_proxy_count)" 0 "metrics: no active proxy"
is "$(metric workload_manager_proxies_stopped_total)" 1 "metrics: one proxy stopped"
out=$("$CNI" del "$SOCK" no-such-pod 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:pod no-such-pod deleted (no such pod)" "del of an unknown uid is acked (idempotent), and says it was unknown"

# ---- re-add after the netns is recreated under the same name -----------------
mk_netns b
B=$NS
"$CNI" "$SOCK" "$B" >/dev/null
old=$(ns_inode "$B")
ip netns del "$B"
ip netns add "$B"
ip -n "$B" link set lo up
new=$(ns_inode "$B")
check "the recreated netns has a new inode" test "$old" != "$new"
out=$("$CNI" "$SOCK" "$B" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:listeners ready" "re-add into the recreated netns succeeds"
consistent "$B" "$B" 3
is "$(pod_field "$B" '.netns.inode')" "$new" "config_dump: the pod now has the new netns"
like "$(cat "$ZT_LOG")" "pod WorkloadUid(\"$B\") netns changed, draining old proxy" "log: the old proxy is drained"
check "the old netns is released (no fd pins it)" eval "! holds_inode $ZT_PID $old"
is "$(metric workload_manager_proxies_started_total)" 3 "metrics: started counts the replacement"

# ---- pending: a start failure is retried until it works ---------------------
mk_netns c
C=$NS
hold_port "$C" 15006
out=$("$CNI" "$SOCK" "$C" 2>&1) && rc=0 || rc=$?
is "$rc" 1 "pending: the add is nacked"
like "$out" "failure to start proxy : failed to bind to address 127.0.0.1:15006" "pending: the nack says why"
is "$(pod_field "$C" .state)" Pending "config_dump: the pod is Pending (it survived the client's exit)"
like "$(pod_field "$C" .last_error)" "Address already in use" "config_dump: with its last error"
consistent "$C" "$C" 0
ready
is "$READY_CODE" 500 "ready: 500 while a pod is pending, as ztunnel answers"
is "$READY_BODY" $'not ready, pending: workload proxy manager\n' "ready: ztunnel's body names the blocked task"
like "$READY_WHY" "1 pod(s) pending: \"$C\"" "ready: X-Emulator-Not-Ready names the pending uid"
is "$(metric workload_manager_pending_proxy_count)" 1 "metrics: one pending proxy"
check "pending: retries are logged" wait_for 3 grep -q "pod WorkloadUid(\"$C\") retry 1 failed, still pending" "$ZT_LOG"
kill "$HOLDER"
check "pending: the pod starts by itself once the port is free" \
	wait_for 5 eval '[[ $(listener_count "$C") == 3 ]]'
is "$(pod_field "$C" .state)" Up "config_dump: the pod is Up"
like "$(cat "$ZT_LOG")" "pod WorkloadUid(\"$C\") proxy started on retry" "log: started on a retry"
ready
is "$READY_CODE" 200 "ready: 200 again"
is "$(metric workload_manager_pending_proxy_count)" 0 "metrics: nothing pending"

# a pending pod can be deleted; its netns is released and readiness recovers
mk_netns d
D=$NS
hold_port "$D" 15001
"$CNI" "$SOCK" "$D" >/dev/null 2>&1 || true
is "$(pod_field "$D" .state)" Pending "a second pending pod"
"$CNI" del "$SOCK" "$D" >/dev/null
is "$(pod_field "$D" .state)" "" "del removes a pending pod"
check "del of a pending pod releases its netns" eval "! holds_inode $ZT_PID $(ns_inode "$D")"
ready
is "$READY_CODE" 200 "ready: 200 once the pending pod is gone"
kill "$HOLDER"

# ---- keep --------------------------------------------------------------------
out=$("$CNI" keep "$SOCK" "$B" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:pod $B kept" "keep: acked"

# ---- sync: one connection, Adds then SnapshotSent; unlisted pods drained -----
mk_netns e1
E1=$NS
mk_netns e2
E2=$NS
for ns in "$E1" "$E2"; do "$CNI" "$SOCK" "$ns" >/dev/null; done
is "$(pod_uids)" "$B $C $E1 $E2 " "before sync: four pods"
out=$("$CNI" sync "$SOCK" "$E1" "$B" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "sync of a subset exits 0"
like "$out" "$E1: listeners ready" "sync prints a line per pod"
like "$out" "sync: " "sync prints a summary"
is "$(pod_uids)" "$B $E1 " "config_dump: only the synced pods remain"
consistent "$E2" "$E2" 0
consistent "$C" "$C" 0
consistent "$E1" "$E1" 3
like "$(cat "$ZT_LOG")" "pod received snapshot sent" "log: pod received snapshot sent"
like "$(cat "$ZT_LOG")" "pod WorkloadUid(\"$E2\") not in snapshot, draining proxy" "log: the unlisted pod is drained"

# sync where one pod cannot start: exit 1, that pod pending, the others fine
hold_port "$E2" 15008
out=$("$CNI" sync "$SOCK" "$E1" "$E2" 2>&1) && rc=0 || rc=$?
is "$rc" 1 "sync with a failing pod exits 1"
like "$out" "$E2: failure to start proxy : failed to bind to address 127.0.0.1:15008" "sync names the failing pod and why"
is "$(pod_uids)" "$E1 $E2 " "config_dump: the snapshot kept the listed pods, dropped the rest"
is "$(pod_field "$E2" .state)" Pending "the failing pod is pending"
ino=$(ns_inode "$E2")
out=$("$CNI" sync "$SOCK" "$E1" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "sync without the pending pod exits 0"
is "$(pod_uids)" "$E1 " "SnapshotSent drops a pending pod that is not listed"
check "the dropped pending pod's netns is released" eval "! holds_inode $ZT_PID $ino"
ready
is "$READY_CODE" 200 "ready: 200 once the pending pod is dropped"
kill "$HOLDER"

# ---- the human view ------------------------------------------------------------
kill -USR1 "$ZT_PID"
check "SIGUSR1 prints the pod table" wait_for 3 grep -q "pods: 1 (1 up, 0 pending)" "$ZT_LOG"
like "$(cat "$ZT_LOG")" "\"$E1\"" "the table lists the pods"

# ---- metrics agree with what happened -----------------------------------------
adds=$(grep -c 'received netns, starting proxy' "$ZT_LOG")
is "$(metric ztunnel_emulator_add_duration_seconds_count)" "$adds" "metrics: the Add histogram counted every Add"
is "$(metric 'ztunnel_emulator_zds_requests_total{type="del",result="ack"}')" 3 "metrics: three dels acked"
is "$(metric 'ztunnel_emulator_zds_requests_total{type="snapshot_sent",result="ack"}')" 3 "metrics: three snapshots acked"

done_testing
