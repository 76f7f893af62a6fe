#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cni-emulator agent, istio-cni's node agent role (issue 13, roles.md §2),
# against fake ztunnels written from the reference (tests/helpers/
# zds-ztunnel-peer.py, not the programs' code): the ZDS socket, the snapshot
# (Add with the netns fd, Keep for a vanished netns, SnapshotSent) byte for
# byte, Adds to the newest connection only, Dels to all, the Hello and ack
# deadlines, a stray message while idle, enroll/unenroll and their errors,
# and a restart from the state file.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PEER=$ZE_ROOT/tests/helpers/zds-ztunnel-peer.py
ZSOCK=$T_DIR/zt.sock
CTL=$T_DIR/ctl.sock
STATE=$T_DIR/state.json
AG_LOG=$T_DIR/agent.log
touch "$AG_LOG"

# start_agent: the agent on $ZSOCK/$CTL/$STATE; sets AG_PID.
start_agent() { agent_start "$ZSOCK"; }

# stop_agent: SIGTERM, waits; AG_STATUS is its exit status.
stop_agent() {
	kill -TERM "$AG_PID"
	AG_STATUS=0
	wait "$AG_PID" || AG_STATUS=$?
}

# start_peer NAME [OPTIONS]: a fake ztunnel logging to $T_DIR/NAME.log; its PID in PEER_PID.
start_peer() {
	local name=$1
	shift
	: >"$T_DIR/$name.log"
	spawn python3 "$PEER" "$ZSOCK" --log "$T_DIR/$name.log" "$@"
	PEER_PID=$LAST_PID
	wait_for 10 grep -q '^connected' "$T_DIR/$name.log"
}

# requests NAME: what the peer received, one line each, without the ino= field
requests() { grep -v '^connected' "$T_DIR/$1.log" | sed 's/ ino=[0-9]*//'; }
# got NAME LINE: the peer's log has LINE (wait up to 10 s)
has_line() { grep -qxF -- "$2" <<<"$(requests "$1")"; }
got() { wait_for 10 has_line "$1" "$2"; }
# snapshot_done NAME: one TAP check that peer NAME got SnapshotSent (its log and the agent's if not)
snapshot_done() {
	if got "$1" "snapshot_sent hex=$ZDS_SNAPSHOT_HEX"; then
		ok "peer $1: snapshot done"
	else
		not_ok "peer $1: snapshot done"
		diag "peer $1's log:" "$(cat "$T_DIR/$1.log")" "the agent's log:" "$(tail -n 20 "$AG_LOG")"
	fi
}
enroll() { "$CNI" enroll --agent "$CTL" "$@" 2>&1; }
unenroll() { "$CNI" unenroll --agent "$CTL" "$@" 2>&1; }
pods() { curl -s --unix-socket "$CTL" http://agent/pods; }
add_line() { echo "add uid=$1 name=$1 namespace=default sa=default fds=1 hex=$(zds_add_hex "$1" "$1" default default)"; }

start_agent

# ---- the sockets -------------------------------------------------------------
is "$(stat -c '%a %F' "$ZSOCK")" "600 socket" "the ZDS socket is a socket, mode 0600"
is "$(ss -Hxl "src $ZSOCK" | awk '{ print $1 }')" "u_seq" "the ZDS socket is SOCK_SEQPACKET"
is "$(ss -Hxl "src $CTL" | awk '{ print $1 }')" "u_str" "the control socket is a stream socket"
is "$(pods)" "[]" "GET /pods: no pods yet"

# ---- a pod with no ztunnel: stays enrolled, goes in the first snapshot --------
mk_netns p1
P1=$NS
out=$(enroll "$P1") && rc=0 || rc=$?
is "$rc:$out" "1:cni-emulator: no ztunnel connection" "enroll with no ztunnel: exit 1, 'no ztunnel connection'"
is "$(pods | jq -r '.[0] | [.uid, .name, .namespace, .serviceAccount, .netns, .state] | join(" ")')" \
	"$P1 $P1 default default /run/netns/$P1 pending" "GET /pods: the pod stays enrolled, pending"

start_peer a
check "peer a: the snapshot is the pod's Add (with its netns fd), then SnapshotSent" \
	got a "snapshot_sent hex=$ZDS_SNAPSHOT_HEX"
is "$(requests a)" "$(add_line "$P1")
snapshot_sent hex=1a00" "peer a: exactly Add, SnapshotSent, byte for byte"
is "$(sed -n 's/^add .* ino=\([0-9]*\) .*/\1/p' "$T_DIR/a.log")" "$(ns_inode "$P1")" \
	"peer a: the Add's fd is the pod's netns"
log=$(cat "$AG_LOG")
like "$log" "new ztunnel connected, total connected: 1" "log: new ztunnel connected, total connected: 1"
like "$log" "received hello from ztunnel" "log: received hello from ztunnel"
like "$log" "sending pod to ztunnel as part of snapshot"$'\t'"uid=$P1" "log: sending pod to ztunnel as part of snapshot"
is "$(pods | jq -r '.[0].state')" "enrolled" "GET /pods: enrolled once a ztunnel acked it"

# ---- steady state: Add to the newest only, Del to all -------------------------
mk_netns p2
P2=$NS
out=$(enroll --namespace shop --service-account web --name web-0 --uid uid-2 "$P2") && rc=0 || rc=$?
is "$rc:$out" "0:pod uid-2 enrolled" "enroll: pod uid-2 enrolled"
check "peer a gets the Add with name, namespace and service account" \
	got a "add uid=uid-2 name=web-0 namespace=shop sa=web fds=1 hex=$(zds_add_hex uid-2 web-0 shop web)"
like "$(cat "$AG_LOG")" "sending pod add to ztunnel"$'\t'"uid=uid-2 name=web-0 namespace=shop serviceAccount=web conn_uuid=" \
	"log: sending pod add to ztunnel"

start_peer b
check "peer b: a snapshot of its own" got b "snapshot_sent hex=$ZDS_SNAPSHOT_HEX"
is "$(requests b)" "$(add_line "$P1")
add uid=uid-2 name=web-0 namespace=shop sa=web fds=1 hex=$(zds_add_hex uid-2 web-0 shop web)
snapshot_sent hex=1a00" "peer b: both pods' Adds in enrolment order, then SnapshotSent"
like "$(cat "$AG_LOG")" "new ztunnel connected, total connected: 2" "log: total connected: 2"

mk_netns p3
P3=$NS
out=$(enroll "$P3") && rc=0 || rc=$?
is "$rc:$out" "0:pod $P3 enrolled" "enroll a third pod"
check "the newest connection (b) gets its Add" got b "$(add_line "$P3")"
is "$(grep -c "uid=$P3" "$T_DIR/a.log" || true)" 0 "the older connection (a) does not"

out=$(unenroll uid-2) && rc=0 || rc=$?
is "$rc:$out" "0:pod uid-2 removed from the mesh" "unenroll by uid"
check "peer a gets the Del" got a "del uid=uid-2 hex=$(zds_del_hex uid-2)"
check "peer b gets the Del" got b "del uid=uid-2 hex=$(zds_del_hex uid-2)"
like "$(cat "$AG_LOG")" "removing pod from mesh"$'\t'"ns=shop name=web-0 deleted=false" "log: removing pod from mesh"
out=$(unenroll "$P3") && rc=0 || rc=$?
is "$rc:$out" "0:pod $P3 removed from the mesh" "unenroll by netns name"
out=$(unenroll no-such-pod) && rc=0 || rc=$?
is "$rc:$out" "1:cni-emulator: no enrolled pod with uid or netns 'no-such-pod'" "unenroll of an unknown pod: exit 1"

# ---- a nack reaches the caller --------------------------------------------------
start_peer c --nack "$T_PREFIX-nacked"
snapshot_done c
mk_netns nacked
out=$(enroll "$NS") && rc=0 || rc=$?
is "$rc:$out" "1:cni-emulator: failure to start proxy : test nack" "enroll: ztunnel's nack text, exit 1"
like "$(cat "$AG_LOG")" "failed to add workload: failure to start proxy : test nack" "log: failed to add workload"
is "$(pods | jq -r --arg u "$NS" '.[] | select(.uid == $u) | .state')" "pending" \
	"GET /pods: a nacked pod stays enrolled, pending"
unenroll "$NS" >/dev/null || true	# c nacks its Del too

# ---- the ack deadline: 5 s, then the connection is kept -------------------------
start_peer d --silent "$T_PREFIX-slow"
D_PID=$PEER_PID
snapshot_done d
mk_netns slow
out=$(enroll "$NS") && rc=0 || rc=$?
is "$rc:$out" "1:cni-emulator: timed out waiting for valid ztunnel response" \
	"enroll: no ack in 5 s is an error"
like "$(cat "$AG_LOG")" "timed out waiting for valid ztunnel response" "log: timed out waiting for valid ztunnel response"
mk_netns after
out=$(enroll "$NS") && rc=0 || rc=$?
is "$rc:$out" "0:pod $NS enrolled" "the connection was kept: the next Add is acked"
check "peer d got it" got d "$(add_line "$NS")"
unenroll "$T_PREFIX-slow" >/dev/null || true

# ---- the Hello deadline and a stray message while idle --------------------------
start_peer mute --no-hello
check "a ztunnel that sends no Hello is dropped after 5 s" wait_for 15 grep -qx eof "$T_DIR/mute.log"
# istio-cni logs the error after the close, so the line may follow the peer's eof
check "log: failed to read hello" wait_for 5 grep -qF "failed to read hello from ztunnel" "$AG_LOG"
start_peer stray --stray
check "a message while idle ends the connection" wait_for 10 grep -qx eof "$T_DIR/stray.log"
check "log: ztunnel protocol error, unexpected message" \
	wait_for 5 grep -qF "ztunnel protocol error, unexpected message" "$AG_LOG"
kill -TERM "$D_PID"
check "a ztunnel that leaves is counted out" \
	wait_for 10 grep -q "ztunnel disconnected, total connected" "$AG_LOG"

# ---- a vanished netns goes out as Keep -----------------------------------------
ino_p1=$(ns_inode "$P1")
ip netns del "$P1"
start_peer e
snapshot_done e
check "peer e: Keep for the pod whose netns is gone" has_line e "keep uid=$P1 hex=$(zds_keep_hex "$P1")"
like "$(cat "$AG_LOG")" "netns is not available for pod, sending 'keep' to ztunnel"$'\t'"uid=$P1" \
	"log: netns is not available for pod, sending 'keep' to ztunnel"
is "$(pods | jq -r --arg u "$P1" '.[] | select(.uid == $u) | .state')" "netns-gone" "GET /pods: netns-gone"
check "the agent released the vanished netns's fd" eval "! holds_inode $AG_PID $ino_p1"

# ---- SIGTERM and a restart from the state file ---------------------------------
before=$(uids=$(pods | jq -r '[.[].uid] | sort | join(" ")'); echo "$uids")
stop_agent
is "$AG_STATUS" 0 "SIGTERM: exit 0"
check "SIGTERM: both sockets removed" eval "[[ ! -e $ZSOCK && ! -e $CTL ]]"
is "$(jq -r '[.[].uid] | sort | join(" ")' "$STATE")" "$before" "SIGTERM: the state file lists the enrolled pods"
check "the ztunnels saw their connection end" wait_for 10 grep -qx eof "$T_DIR/e.log"
start_agent
is "$(pods | jq -r '[.[].uid] | sort | join(" ")')" "$before" "restart: the pods are back from the state file"
start_peer f
check "restart: the new connection gets the snapshot" got f "snapshot_sent hex=$ZDS_SNAPSHOT_HEX"
check "restart: Add for a pod whose netns is there" has_line f "$(add_line "$T_PREFIX-after")"
check "restart: Keep for the one whose netns is gone" has_line f "keep uid=$P1 hex=$(zds_keep_hex "$P1")"
is "$(grep -c '^error' "$T_DIR"/*.log || true)" "$(printf '%s\n' "$T_DIR"/*.log | sed 's/$/:0/')" \
	"no peer saw a malformed request, a wrong fd count or a non-canonical encoding"

done_testing
