#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Istio's real roles end to end (issue 13, roles.md): cni-emulator agent as
# the node agent and ztunnel-emulator --connect as ztunnel, both ours, in the
# ambient profile - a pod enrolled by --watch, an agent restart (proxies kept,
# not ready until the new snapshot), an upgrade (a second ztunnel co-owns the
# listeners, the first drains and exits), the pod's deletion, enroll and
# unenroll. The wire itself is checked against independent peers in 23 and 24;
# as root, walkthru.sh --istio runs too.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

ZSOCK=$T_DIR/ztunnel.sock
CTL=$T_DIR/pluginevent.sock
AG_LOG=$T_DIR/agent.log
STATE=$T_DIR/agent.state
touch "$AG_LOG"
ambient_caps_daemon

# start_agent: the node agent (root in every mode: it only opens netns
# files); in the --setcap mode the ztunnels run as nobody, who may connect.
start_agent() {
	agent_start "$ZSOCK" --watch --watch-match "$T_PREFIX-*" || true
	[[ -z ${ZE_TEST_SETCAP:-} ]] || chmod 666 "$ZSOCK"
}

# start_zt NAME: ztunnel-emulator --connect (ambient) logging to NAME.log;
# sets ZT_PID and ZT_LOG (for lib.sh's http_port, ready, listeners)
start_zt() {
	ZT_LOG=$T_DIR/$1.log
	# shellcheck disable=SC2086
	spawn $ZT_WRAPPER "$ZT" ${ZT_LOG_ARGS---log-format legacy --log-level debug} --connect "$ZSOCK" --profile ambient --ca-dir "$T_DIR/ca" \
		--drain-deadline 2 --admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0 \
		--metrics-addr 127.0.0.1:0 >>"$ZT_LOG" 2>&1
	ZT_PID=$LAST_PID
	wait_for 10 grep -q 'handling new stream' "$ZT_LOG"
}

ready_is() { ready && [[ $READY_CODE == "$1" ]]; }
owners() { ip netns exec "$1" ss -Htlnp "sport = :15006" | grep -o 'pid=[0-9]*' | sort -u | tr '\n' ' '; }
agent_said() { wait_for 10 grep -qF -- "$1" "$AG_LOG"; }

# ---- the agent, the first ztunnel, a pod ------------------------------------

start_agent
start_zt zt1
ZT1=$ZT_PID ZT1_LOG=$ZT_LOG
check "agent: new ztunnel connected" agent_said "new ztunnel connected, total connected: 1"
check "zt1: ready after the (empty) snapshot" wait_for 10 ready_is 200

mk_netns web
WEB=$NS
check "agent --watch: sending pod add to ztunnel" agent_said "sending pod add to ztunnel"$'\t'"uid=$WEB "
check "zt1 binds the pod's listeners" wait_for 10 eval '[[ $(listener_count "$WEB") -ge 3 ]]'

# ---- the agent restarts -----------------------------------------------------

kill -TERM "$AG_PID"
wait "$AG_PID" && rc=0 || rc=$?
is "$rc" 0 "agent: SIGTERM exits 0"
check "zt1: process stream ended with eof" wait_for 10 grep -q 'process stream ended with eof' "$ZT1_LOG"
check "zt1: not ready without the agent (500)" wait_for 10 ready_is 500
is "$READY_BODY" $'not ready, pending: workload proxy manager\n' "zt1: ... pending: workload proxy manager"
check "zt1 keeps the pod's listeners" eval '[[ $(listener_count "$WEB") -ge 3 ]]'
start_agent
check "agent, restarted: the pod from its state file goes in the snapshot" \
	agent_said "sending pod to ztunnel as part of snapshot"$'\t'"uid=$WEB "
check "zt1: ready again after the new snapshot" wait_for 30 ready_is 200

# ---- upgrade: a second ztunnel, then SIGTERM to the first ------------------

start_zt zt2
ZT2=$ZT_PID ZT2_LOG=$ZT_LOG
check "zt2: ready after its snapshot" wait_for 10 ready_is 200
check "upgrade: 15006 in the pod has two owners, zt1 and zt2" wait_for 10 eval \
	'[[ $(owners "$WEB") == *"pid=$ZT1 "* && $(owners "$WEB") == *"pid=$ZT2 "* ]]'
[[ $(owners "$WEB") == *"pid=$ZT2 "* ]] || diag "zt2's log:" "$(tail -n 5 "$ZT2_LOG")"
kill -TERM "$ZT1"
wait "$ZT1" && rc=0 || rc=$?
is "$rc" 0 "zt1: SIGTERM drains and exits 0"
check "zt1 logged its drain (1.21's lines)" grep -q 'all inbound connections drained' "$ZT1_LOG"
is "$(owners "$WEB")" "pid=$ZT2 " "upgrade: zt2 alone owns 15006 afterwards"
check "agent: zt1 disconnected" agent_said "ztunnel disconnected, total connected %!s(int=1)"

# ---- the pod's deletion, enroll and unenroll --------------------------------

ip netns del "$WEB"
check "agent: removing pod from mesh" agent_said "removing pod from mesh"$'\t'"ns=default name=$WEB "
check "zt2 drains the pod" wait_for 10 grep -q "all inbound connections drained" "$ZT2_LOG"

mk_netns other
OTHER=$NS
check "agent --watch enrols a second pod" agent_said "sending pod add to ztunnel"$'\t'"uid=$OTHER "
out=$("$CNI" unenroll --agent "$CTL" "$OTHER" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:pod $OTHER removed from the mesh" "unenroll NETNS: pod X removed from the mesh"
check "zt2's listeners in it are gone" wait_for 10 eval '[[ $(listener_count "$OTHER") == 0 ]]'
out=$("$CNI" enroll --agent "$CTL" --uid "u-$OTHER" --namespace shop --service-account web \
	"/run/netns/$OTHER" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:pod u-$OTHER enrolled" "enroll --uid U --namespace NS NETNS: pod X enrolled"
check "zt2 binds its listeners" wait_for 10 eval '[[ $(listener_count "$OTHER") -ge 3 ]]'
like "$(config_dump)" "u-$OTHER" "zt2's config_dump has the pod"

kill -TERM "$ZT2"
wait "$ZT2" && rc=0 || rc=$?
is "$rc" 0 "zt2: SIGTERM exits 0"
kill -TERM "$AG_PID"
wait "$AG_PID" && rc=0 || rc=$?
is "$rc" 0 "agent: SIGTERM exits 0"
check "agent: both sockets removed" eval '[[ ! -e $ZSOCK && ! -e $CTL ]]'

# ---- the narrated chapter ---------------------------------------------------

if [[ -n ${ZE_TEST_IN_USERNS:-} || -n ${ZE_TEST_SETCAP:-} ]]; then
	diag "walkthru.sh --istio runs as root on the host (its pods in /run/netns): root mode only"
else
	out=$(ZE_LAB_PREFIX="$T_PREFIX-" ZE_LAB_STATE="$T_DIR/lab" NO_COLOR=1 \
		timeout 300 "$ZE_ROOT/scripts/walkthru.sh" --istio </dev/null 2>&1) && rc=0 || rc=$?
	is "$rc" 0 "walkthru.sh --istio runs end to end"
	[[ $rc == 0 ]] || diag "$(tail -n 30 <<<"$out")"
	like "$out" "Istio roles chapter complete" "walkthru.sh --istio: every step succeeded"
fi

done_testing
