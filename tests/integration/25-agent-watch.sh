#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cni-emulator agent (issue 13): --watch on /run/netns (enrol on appearance,
# Del on removal, --watch-match), --redirect (rules in the pod before its
# Add, seen by the fake ztunnel through the Add's own fd; removed on
# unenroll of a running pod; left in place by SIGTERM), the host-netns
# refusal, and POST /cmdadd with the real CNI plugin's body and the lab's.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PEER=$ZE_ROOT/tests/helpers/zds-ztunnel-peer.py
ZSOCK=$T_DIR/zt.sock
CTL=$T_DIR/ctl.sock
AG_LOG=$T_DIR/agent.log
STATE=$T_DIR/state.json
WATCH=(--watch --watch-match "$T_PREFIX-w*" --redirect=redirect)

check "the agent starts with --watch" agent_start "$ZSOCK" "${WATCH[@]}"
: >"$T_DIR/peer.log"
spawn python3 "$PEER" "$ZSOCK" --log "$T_DIR/peer.log" --check-rules
check "the fake ztunnel gets its (empty) snapshot" wait_for 10 grep -q '^snapshot_sent' "$T_DIR/peer.log"

rules_in() { ip netns exec "$1" iptables-save 2>/dev/null | grep -c '^:ISTIO_' || true; }
pods() { curl -s --unix-socket "$CTL" http://agent/pods; }
uids() { pods | jq -r '[.[].uid] | sort | join(" ")'; }
seen() { wait_for 10 grep -q "$1" "$T_DIR/peer.log"; }

# ---- --watch: a new netns is a new pod, with its rules before the Add ------------
mk_netns w1
W1=$NS
check "watch: the new netns is enrolled and sent to ztunnel" seen "^add uid=$W1 name=$W1 namespace=default sa=default"
like "$(grep "^add uid=$W1 " "$T_DIR/peer.log")" "rules=yes" "the rules were in the pod before its Add reached ztunnel"
is "$(pods | jq -r --arg u "$W1" '.[] | select(.uid == $u) | .netns')" "/run/netns/$W1" "GET /pods: netns path"
mk_netns other
check "watch: a name outside --watch-match is left alone" eval "sleep 1; [[ \$(uids) != *'$NS'* ]]"

ip netns del "$W1"
check "watch: removing the netns sends a Del" seen "^del uid=$W1 "
like "$(cat "$AG_LOG")" "removing pod from mesh"$'\t'"ns=default name=$W1 deleted=true" \
	"log: removing pod from mesh ... deleted=true"
is "$(uids)" "" "GET /pods: the pod is gone"

# ---- un-enrol of a running pod: rules out, Del to ztunnel ------------------------
mk_netns w2
W2=$NS
check "watch: w2 enrolled" seen "^add uid=$W2 "
check "w2 has istio-cni's chains" eval "(( \$(rules_in $W2) > 0 ))"
out=$("$CNI" unenroll --agent "$CTL" "$W2" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:pod $W2 removed from the mesh" "unenroll w2"
is "$(rules_in "$W2")" 0 "unenroll of a running pod removes its rules"
check "and sends the Del" seen "^del uid=$W2 "

# ---- the host netns is never a pod (istio#55139) -------------------------------
host_rules() { ip rule show | grep -c 'lookup 100' || true; }
before=$(host_rules)
out=$("$CNI" enroll --agent "$CTL" --uid host "$$" 2>&1) && rc=0 || rc=$?
like "$rc:$out" "1:cni-emulator: refusing /proc/$$/ns/net" "enroll of the agent's own netns is refused"
is "$(host_rules)" "$before" "nothing was installed in the host's netns"
is "$(uids)" "" "and it is not enrolled"
# the same netns appearing under /run/netns (as in istio#55139) is not enrolled by --watch
bind_mount /proc/$$/ns/net "/run/netns/$T_PREFIX-whost"
_netns+=("$T_PREFIX-whost")	# ip netns del unmounts and removes the file
check "watch: a host netns bind-mounted in /run/netns is refused" \
	wait_for 10 grep -qP "failed to add pod to the mesh: refusing .*\tuid=$T_PREFIX-whost\$" "$AG_LOG"
is "$(uids)" "" "and it is not enrolled"
is "$(host_rules)" "$before" "and nothing was installed in the host's netns"

# ---- POST /cmdadd -------------------------------------------------------------
mk_netns c1
C1=$NS
body='{"Netns":"/var/run/netns/'$C1'","PodName":"web-0","PodNamespace":"shop","IPs":[{"Interface":0,"Address":{"IP":"198.18.0.1","Mask":"////AA=="},"Gateway":"198.18.0.254"}]}'
out=$(curl -s -w '%{http_code}' --unix-socket "$CTL" -H 'Content-Type: application/json' -d "$body" http://agent/cmdadd)
is "$out" "200" "/cmdadd with the real plugin's body: 200, empty"
is "$(pods | jq -c '.[] | select(.uid == "web-0") | [.name, .namespace, .ips]')" '["web-0","shop",["198.18.0.1"]]' \
	"GET /pods: the pod with its address as a string"
check "/cmdadd: ztunnel got the Add" seen "^add uid=web-0 name=web-0 namespace=shop sa=default"
out=$(curl -s -w ' %{http_code}' --unix-socket "$CTL" \
	-d '{"Netns":"/var/run/netns/'$C1'","PodName":"web-1","PodNamespace":"shop","IPs":["198.18.0.2","fd00::2"]}' \
	http://agent/cmdadd)
is "$out" " 200" "/cmdadd with plain address strings: 200"
is "$(pods | jq -c '.[] | select(.uid == "web-1") | .ips')" '["198.18.0.2","fd00::2"]' "GET /pods: both addresses"
out=$(curl -s -w ' %{http_code}' --unix-socket "$CTL" -d '{"Netns":' http://agent/cmdadd)
like "$out" " 400" "/cmdadd with broken JSON: 400"
out=$(curl -s -w ' %{http_code}' --unix-socket "$CTL" -d '{"PodName":"x","PodNamespace":"y"}' http://agent/cmdadd)
is "$out" "Netns: missing
 400" "/cmdadd without Netns: 400 saying so"
out=$(curl -s -w ' %{http_code}' --unix-socket "$CTL" \
	-d '{"Netns":"/var/run/netns/nope-'$$'","PodName":"x","PodNamespace":"y"}' http://agent/cmdadd)
like "$out" " 500" "/cmdadd for a netns that does not exist: 500"
out=$(curl -s -w ' %{http_code}' --unix-socket "$CTL" http://agent/nothing)
is "$out" "not found
 404" "an unknown path: 404"

# ---- SIGTERM leaves the pods' rules ---------------------------------------------
mk_netns w3
W3=$NS
check "watch: w3 enrolled" seen "^add uid=$W3 "
kill -TERM "$AG_PID"
st=0
wait "$AG_PID" || st=$?
is "$st" 0 "SIGTERM: exit 0"
check "SIGTERM leaves w3's rules in place" eval "(( \$(rules_in $W3) > 0 ))"
is "$(grep -c '^error' "$T_DIR/peer.log" || true)" 0 "the fake ztunnel saw no malformed request"

# ---- a restart with --watch: what changed in /run/netns meanwhile counts -------
ip netns del "$W3"
ip netns del "$W2"	# un-enrolled, but a watched name that exists is enrolled again
mk_netns w4
W4=$NS
check "the agent starts again" agent_start "$ZSOCK" "${WATCH[@]}"
check "restart: a watched pod whose netns went while the agent was down is deleted" \
	wait_for 10 eval "[[ \$(uids) == 'web-0 web-1 $W4' ]]"
: >"$T_DIR/peer2.log"
spawn python3 "$PEER" "$ZSOCK" --log "$T_DIR/peer2.log"
check "restart: the snapshot has the new pod" wait_for 10 grep -q '^snapshot_sent' "$T_DIR/peer2.log"
is "$(grep -o '^[a-z_]* uid=[^ ]*' "$T_DIR/peer2.log" | tr '\n' ' ')" "add uid=web-0 add uid=web-1 add uid=$W4 " \
	"restart: the state file's pods and the new one, nothing of the deleted one"

done_testing
