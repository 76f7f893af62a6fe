#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cni-emulator's rules can do harm as root: faults.md 3, 7, 8, 10, 12, 21, 22.
# No rules in a host netns (refused before anything, also with the daemon
# stopped; an interrupted add takes its rules back), a missing ack never
# leaves a pod Up without its rules, removal spares other tools' chains, no
# install over foreign or partial ISTIO_* chains, tools by fixed path with a
# clean environment, a plain user told why the socket is closed, and inspect's
# verdict when the rules point at ports nobody listens on.
# Every "host" netns here is a scratch one (ip netns exec, unshare --pid):
# a regression must never redirect the real host's traffic.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

in_userns=${ZE_TEST_IN_USERNS:-}

# run CMD...: sets OUT (stdout), ERR (stderr) and RC.
run() {
	RC=0
	"$@" >"$T_DIR/out" 2>"$T_DIR/err" || RC=$?
	OUT=$(cat "$T_DIR/out")
	ERR=$(cat "$T_DIR/err")
}
# istio_lines NS: every ISTIO-related line of iptables-save in NS, "table: line"
istio_lines() {
	ip netns exec "$1" iptables-save |
		awk '/^\*/ { t = substr($0, 2) }
		     /^:ISTIO_/ || /^-A .*ISTIO_/ { sub(/ \[[0-9]+:[0-9]+\]$/, ""); print t ": " $0 }'
}
istio_count() { istio_lines "$1" | grep -c . || true; }
# anything of ours in NS: ISTIO chains, the ip rule 32764, a table 100 route
traces() {
	istio_lines "$1"
	ip -n "$1" rule | grep -F 32764 || true
	ip -n "$1" route show table 100 2>/dev/null || true
}

if ! command -v iptables-restore >/dev/null || ! command -v iptables-save >/dev/null; then
	echo "# iptables-restore/iptables-save missing (scripts/deps.sh installs iptables)"
	exit 77
fi

start_daemon
MAIN_PID=$ZT_PID MAIN_SOCK=$SOCK MAIN_LOG=$ZT_LOG
ADMIN="http://127.0.0.1:$(http_port /config_dump)"

# ---- fault 3: a host netns is refused before anything is written -------------------
# The client runs in a scratch netns standing for the host: its own netns
# (/proc/self/ns/net) is refused, at once, even while the daemon is stopped.
mk_netns host
HOST=$NS
for spec in /proc/self/ns/net /proc/thread-self/ns/net; do
	run ip netns exec "$HOST" "$CNI" add --redirect=tproxy "$SOCK" "$spec"
	is "$RC" 1 "fault 3: add --redirect $spec (the client's own netns): exit 1"
	like "$ERR" "refusing to install redirection rules in the host network namespace: it is cni-emulator's own" \
		"fault 3: $spec: refused with the reason"
	is "$(traces "$HOST")" "" "fault 3: $spec: no ISTIO chain, no ip rule 32764, no table 100 route"
done
# pid 1 and /proc/1/ns/net: in a private pid namespace, pid 1 is a shell in the
# scratch host netns and the client runs in another one
mk_netns client
CLIENT_NS=$NS
for spec in 1 /proc/1/ns/net; do
	run unshare --pid --fork --mount-proc -- ip netns exec "$HOST" \
		bash -c '"$@"; exit $?' _ ip netns exec "$CLIENT_NS" "$CNI" add --redirect=tproxy "$SOCK" "$spec"
	is "$RC" 1 "fault 3: add --redirect $spec (init's netns): exit 1"
	like "$ERR" "it is the host's: init's network namespace (/proc/1/ns/net)" "fault 3: $spec: refused as init's"
done
is "$(traces "$HOST")" "" "fault 3: init's netns: nothing written"
mk_netns hostok
run ip netns exec "$NS" "$CNI" add --redirect=tproxy --allow-host-netns --uid "$NS" "$SOCK" /proc/self/ns/net
is "$RC:$(( $(istio_count "$NS") > 0 ))" "0:1" "fault 3: --allow-host-netns lets the own netns through"
"$CNI" del --netns "$NS" "$SOCK" "$NS" >/dev/null
run "$CNI" add --allow-host-netns "$SOCK" "$HOST"
like "$RC:$ERR" "2:cni-emulator: --allow-host-netns needs --redirect" "fault 3: --allow-host-netns without --redirect: usage error"

# the daemon's own netns: a second daemon started inside a scratch netns
mk_netns dmn
DNS_NS=$NS
SOCK=$T_DIR/dmn.sock ZT_LOG=$T_DIR/dmn.log
ZT_WRAPPER="ip netns exec $DNS_NS ${ZT_WRAPPER:-}" start_daemon
DMN_PID=$ZT_PID
run "$CNI" add --redirect=tproxy "$SOCK" "$DNS_NS"
is "$RC" 1 "fault 3: add --redirect of the daemon's own netns: exit 1"
like "$ERR" "it is the daemon's own network namespace (pid $DMN_PID)" "fault 3: refused as the daemon's, naming its pid"
is "$(traces "$DNS_NS")" "" "fault 3: the daemon's netns: nothing written"
kill -TERM "$DMN_PID"
wait "$DMN_PID" 2>/dev/null || true
ZT_PID=$MAIN_PID SOCK=$MAIN_SOCK ZT_LOG=$MAIN_LOG

# with the daemon stopped the refusal comes at once, not after the hello timeout
kill -STOP "$ZT_PID"
spawn ip netns exec "$HOST" "$CNI" add --redirect=tproxy -t 20 "$SOCK" /proc/self/ns/net >"$T_DIR/cli.out" 2>&1
CLI=$LAST_PID
if wait_for 5 eval '! kill -0 $CLI 2>/dev/null'; then
	rc=0
	wait "$CLI" || rc=$?
	is "$rc" 1 "fault 3: daemon stopped: refused at once (exit 1, without waiting for the hello)"
else
	not_ok "fault 3: daemon stopped: refused at once (exit 1, without waiting for the hello)"
	diag "still waiting after 5 s; rules in the scratch host netns:" "$(traces "$HOST")"
	kill -KILL "$CLI" 2>/dev/null || true
fi
is "$(traces "$HOST")" "" "fault 3: daemon stopped: nothing written in the host netns"

# SIGINT while waiting for the stopped daemon's hello: the rules go again
mk_netns sigint
SIG=$NS
spawn "$CNI" add --redirect=tproxy -t 20 "$SOCK" "$SIG" >"$T_DIR/cli.out" 2>&1
CLI=$LAST_PID
wait_for 10 eval '[[ $(istio_count "$SIG") -gt 0 ]]' || true
kill -INT "$CLI"
rc=0
wait "$CLI" || rc=$?
is "$rc" 130 "fault 3: SIGINT while waiting for the hello: exit 130"
is "$(traces "$SIG")" "" "fault 3: SIGINT: the rules, the ip rule and the route are taken back"
spawn "$CNI" add --redirect=tproxy -t 20 "$SOCK" "$SIG" >"$T_DIR/cli.out" 2>&1
CLI=$LAST_PID
wait_for 10 eval '[[ $(istio_count "$SIG") -gt 0 ]]' || true
kill -TERM "$CLI"
rc=0
wait "$CLI" || rc=$?
is "$rc:$(traces "$SIG")" "143:" "fault 3: SIGTERM: exit 143, nothing left"
kill -CONT "$ZT_PID"
check "fault 3: the daemon serves again after SIGCONT" quiet "$CNI" del "$SOCK" "$SIG"

# ---- fault 8: removal spares other tools' chains ------------------------------------
mk_netns audit
AUD=$NS
"$CNI" add --redirect=redirect "$SOCK" "$AUD" >/dev/null 2>&1
ip netns exec "$AUD" iptables -N ISTIO_AUDIT
ip netns exec "$AUD" iptables -A INPUT -j ISTIO_AUDIT
ip netns exec "$AUD" iptables -t nat -N ISTIO_CUSTOM
ip netns exec "$AUD" iptables -t nat -A POSTROUTING -j ISTIO_CUSTOM
run "$CNI" del --netns "$AUD" "$SOCK" "$AUD"
is "$RC" 0 "fault 8: del --netns with foreign ISTIO_* chains: exit 0"
is "$(istio_lines "$AUD" | sort)" "filter: -A INPUT -j ISTIO_AUDIT
filter: :ISTIO_AUDIT -
nat: -A POSTROUTING -j ISTIO_CUSTOM
nat: :ISTIO_CUSTOM -" "fault 8: filter ISTIO_AUDIT and nat ISTIO_CUSTOM survive, with their jumps; Istio's chains are gone"
is "$(ip -n "$AUD" rule | grep -c 32764 || true)" 0 "fault 8: the ip rule is removed"

# ---- fault 12: no install over foreign or half-present ISTIO_* chains ----------------
mk_netns custom
CUS=$NS
ip netns exec "$CUS" iptables -t nat -N ISTIO_CUSTOM
run "$CNI" add --redirect=tproxy "$SOCK" "$CUS"
is "$RC" 1 "fault 12: add --redirect over a foreign nat ISTIO_CUSTOM: exit 1"
like "$ERR" "nat ISTIO_CUSTOM is not one of istio-cni's chains" "fault 12: the error names the foreign chain"
unlike "$OUT" "listeners ready" "fault 12: no 'listeners ready'"
is "$(pod_field "$CUS" .uid)" "" "fault 12: the pod was not sent to the daemon"
is "$(istio_lines "$CUS")" "nat: :ISTIO_CUSTOM -" "fault 12: nothing installed besides the foreign chain"

mk_netns half
HALF=$NS
ip netns exec "$HALF" iptables -t mangle -N ISTIO_PRERT
ip netns exec "$HALF" iptables -t mangle -A PREROUTING -j ISTIO_PRERT
run "$CNI" add --redirect=tproxy "$SOCK" "$HALF"
is "$RC" 1 "fault 12: add --redirect over a half-present set: exit 1"
like "$ERR" "ISTIO_* chains already present but not a complete tproxy variant" "fault 12: says the set is incomplete"
like "$ERR" "mangle ISTIO_OUTPUT missing" "fault 12: names a missing chain"
like "$ERR" "nat ISTIO_OUTPUT missing" "fault 12: names the missing nat chain"
is "$(pod_field "$HALF" .uid)" "" "fault 12: half-present: the pod was not sent"

# ---- fault 10: tools by fixed path, clean environment ----------------------------------
mk_netns tools
TLS=$NS
mkdir -p "$T_DIR/evil"
printf '#!/bin/sh\ntouch %s/marker\nexit 0\n' "$T_DIR/evil" >"$T_DIR/evil/iptables-save"
chmod +x "$T_DIR/evil/iptables-save"
run bash -c 'cd "$1" && PATH=.:/usr/bin exec "$2" inspect --admin "$3" "$4"' _ "$T_DIR/evil" "$CNI" "$ADMIN" "$TLS"
check "fault 10: PATH=.:/usr/bin: ./iptables-save is never run" test ! -e "$T_DIR/evil/marker"
like "$OUT" "iptables: no ISTIO_* chains" "fault 10: the system's iptables-save was run instead"
real_restore=$(command -v iptables-restore)
printf '#!/bin/sh\nenv >%s/env.txt\nexec %s "$@"\n' "$T_DIR/evil" "$real_restore" >"$T_DIR/evil/dump-env"
chmod +x "$T_DIR/evil/dump-env"
run env XTABLES_LIBDIR=/nonexistent ZE_CANARY=1 "$CNI" add --redirect=tproxy \
	--iptables-restore "$T_DIR/evil/dump-env" "$SOCK" "$TLS"
is "$RC" 0 "fault 10: add --redirect --iptables-restore PATH: exit 0"
env_txt=$(cat "$T_DIR/evil/env.txt" 2>/dev/null || echo "(not run)")
unlike "$env_txt" "XTABLES_LIBDIR" "fault 10: XTABLES_LIBDIR does not reach the tool"
unlike "$env_txt" "ZE_CANARY" "fault 10: the caller's environment does not reach the tool"
like "$env_txt" "PATH=/usr/sbin:/usr/bin:/sbin:/bin" "fault 10: the tool gets the fixed PATH"
run "$CNI" add --redirect=tproxy --iptables-restore dump-env "$SOCK" "$TLS"
like "$RC:$ERR" "2:cni-emulator: invalid --iptables-restore 'dump-env': not an absolute path" \
	"fault 10: a relative --iptables-restore is refused"

# ---- fault 21: a plain user against root's 0600 socket ----------------------------------
if [[ -n $in_userns || -n ${ZE_TEST_SETCAP:-} ]]; then
	echo "# fault 21 needs real root's socket and a real plain user: left out in this mode"
else
	chmod o+x "$T_DIR"
	mkdir -m 0755 "$T_DIR/pub"
	SOCK=$T_DIR/pub/zt.sock ZT_LOG=$T_DIR/pub.log
	start_daemon
	run setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$CNI" add "$SOCK" "$TLS"
	is "$RC" 1 "fault 21: nobody against root's 0600 socket: exit 1"
	is "$ERR" "cni-emulator: connect to $SOCK: Permission denied (socket mode 0600 owned by root; run as root or start the daemon with --socket-mode/--allow-uid)" \
		"fault 21: the error names the socket's mode, its owner and the fix"
	stop_daemon
	chmod o-x "$T_DIR"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$CNI" add "$MAIN_SOCK" "$TLS"
	like "$ERR" "Permission denied (its directory $T_DIR is mode 0700 owned by root:root, closed to uid $(id -u nobody)" \
		"fault 21: a closed directory on the way is named"
	ZT_PID=$MAIN_PID SOCK=$MAIN_SOCK ZT_LOG=$MAIN_LOG
fi

# ---- fault 7: a missing ack never leaves the pod Up without its rules --------------------
# strace delays the daemon's first setns() (entering the pod): the ack is late.
strace_ok=1
if ! command -v strace >/dev/null; then
	strace_ok=0
	echo "# fault 7 needs strace: left out"
fi
# strace_delay MS: the daemon's next setns() waits MS ms; sets STRACE_PID
strace_delay() {
	: >"$T_DIR/strace.err"
	spawn strace -f -p "$ZT_PID" -e trace=setns -e "inject=setns:delay_enter=$(($1 * 1000)):when=1" \
		-o /dev/null 2>"$T_DIR/strace.err"
	STRACE_PID=$LAST_PID
	wait_for 5 grep -q attached "$T_DIR/strace.err"
}
if [[ $strace_ok == 1 ]] && ! strace_delay 1; then
	strace_ok=0
	echo "# fault 7: strace cannot attach to the daemon here: left out"
	sed 's/^/#   /' "$T_DIR/strace.err"
fi
if [[ $strace_ok == 1 ]]; then
	kill "$STRACE_PID"
	wait "$STRACE_PID" 2>/dev/null || true
	mk_netns late
	LATE=$NS
	strace_delay 3000
	run "$CNI" add --redirect=tproxy -t 1 "$SOCK" "$LATE"
	is "$RC" 1 "fault 7: ack later than -t 1: exit 1"
	like "$ERR" "timed out after 1s waiting for the ack" "fault 7: says the ack timed out"
	like "$ERR" "a Del sent on a new connection was acked, so the pod is not enrolled" \
		"fault 7: a Del on a new connection is acked before the rules go"
	unlike "$ERR" "the pod was not added" "fault 7: never claims 'not added'"
	kill "$STRACE_PID" 2>/dev/null || true
	wait "$STRACE_PID" 2>/dev/null || true
	state=$(pod_field "$LATE" .state)
	rules=$(istio_count "$LATE")
	check "fault 7: the pod is not Up without its rules (state '${state:-none}', $rules ISTIO lines)" \
		test "$state" != Up -o "$rules" -gt 0
	is "$state:$rules" ":0" "fault 7: the Del was acked: no pod, no rules"

	# the Del is not answered either (the daemon is late beyond it): the rules stay
	mk_netns later
	LATER=$NS
	strace_delay 8000
	run "$CNI" add --redirect=tproxy -t 1 "$SOCK" "$LATER"
	is "$RC" 1 "fault 7: ack and Del both late: exit 1"
	like "$ERR" "the outcome is unknown (the pod may be Up), so the redirection rules stay in place" \
		"fault 7: outcome unknown, rules kept, said so"
	like "$ERR" "del --netns $LATER $SOCK" "fault 7: the command that cleans up is given"
	wait_for 10 eval '[[ $(pod_field "$LATER" .state) == Up ]]' || true
	kill "$STRACE_PID" 2>/dev/null || true
	wait "$STRACE_PID" 2>/dev/null || true
	is "$(pod_field "$LATER" .state):$(( $(istio_count "$LATER") > 0 ))" "Up:1" \
		"fault 7: once the daemon goes on, the pod is Up with its rules"
fi

# ---- related misleading outputs (faults.md, end) -------------------------------------------
mk_netns rel
REL=$NS
run "$CNI" add --redirect=tproxy "$SOCK" "$REL"
is "$RC" 0 "related: add --redirect against the walkthru daemon: exit 0"
like "$ERR" "warning: the daemon (pid $ZT_PID) runs the walkthru profile: its 15001 accepts and closes" \
	"related: --redirect against a walkthru-profile daemon is warned about"
run "$CNI" inspect --socket "$SOCK" "$REL"
is "$RC" 0 "related: inspect --socket without --admin: exit 0"
like "$OUT" "enrolled: yes, pod \"$REL\" (Up) at $ADMIN/config_dump" \
	"related: inspect --socket finds the daemon's own /config_dump (not 127.0.0.1:15000)"
run "$CNI" inspect --socket "$T_DIR/none.sock" "$REL"
is "$RC" 1 "related: inspect with no daemon behind --socket: exit 1 (enrolment unknown)"
like "$OUT" "enrolled: unknown: " "related: says enrolment is unknown"
run "$CNI" del "$SOCK" "$T_PREFIX-never-added"
is "$RC:$OUT" "0:pod $T_PREFIX-never-added deleted (no such pod)" "related: del of an unknown uid says (no such pod), exit 0"
run "$CNI" keep "$SOCK" "$T_PREFIX-never-added"
is "$RC:$OUT" "0:pod $T_PREFIX-never-added kept (no such pod)" "related: keep of an unknown uid says (no such pod), exit 0"
run "$CNI" del "$SOCK" "$REL"
# (the netns named like the uid holds the rules: del takes them out first, see 15-ipv6.sh)
is "$(tail -n 1 <<<"$OUT")" "pod $REL deleted" "related: del of a known uid: no '(no such pod)'"
# The config_dump contract: what the daemon writes (report.c with common/json.c) is what
# cni-emulator reads back (inspect/admin.c with jansson), escapes and UTF-8 included.
odd=$'q"b\\s\te\xc3\xa9'
run "$CNI" add --uid "$odd" "$SOCK" "$REL"
is "$RC" 0 "contract: add with a uid holding a quote, a backslash, a tab and UTF-8"
run "$CNI" inspect --json --socket "$SOCK" "$REL"
is "$(jq -r .pod.uid <<<"$OUT")" "$odd" "contract: inspect --json reads that uid back from config_dump"
run "$CNI" del "$SOCK" "$odd"
is "$RC:$OUT" "0:pod $odd deleted" "contract: del finds that uid in config_dump"
mk_netns_lo_down lodown
run "$CNI" add "$SOCK" "$NS"
like "$ERR" "warning: $NS: the loopback interface lo is down" "related: lo down: the client warns too"
"$CNI" del "$SOCK" "$NS" >/dev/null

# sync with no NETNS drains everything: on a daemon of its own, the drained pods are named
SOCK=$T_DIR/sync.sock ZT_LOG=$T_DIR/sync.log
start_daemon
mk_netns sy1
SY1=$NS
mk_netns sy2
SY2=$NS
"$CNI" add "$SOCK" "$SY1" >/dev/null
"$CNI" add "$SOCK" "$SY2" >/dev/null
run "$CNI" sync "$SOCK"
is "$RC" 0 "related: sync with no NETNS: exit 0"
like "$OUT" "snapshot acknowledged; 2 pods not listed drained: \"$SY1\", \"$SY2\"" \
	"related: sync names and counts the pods it drained"
stop_daemon
ZT_PID=$MAIN_PID SOCK=$MAIN_SOCK ZT_LOG=$MAIN_LOG

# ---- fault 22: inspect's verdict after a crash -------------------------------------------
mk_netns crash
CR=$NS
"$CNI" add --redirect=tproxy "$SOCK" "$CR" >/dev/null 2>&1
run "$CNI" inspect --admin "$ADMIN" "$CR"
is "$RC" 0 "fault 22: inspect of a healthy enrolled pod: exit 0"
unlike "$OUT" "verdict:" "fault 22: a healthy pod gets no verdict"
{ kill -KILL "$ZT_PID"; wait "$ZT_PID"; } 2>/dev/null || true
run "$CNI" inspect --admin "$ADMIN" "$CR"
is "$RC" 1 "fault 22: inspect after kill -9 of the daemon: exit 1"
like "$OUT" "verdict: traffic of this pod is refused: its rules redirect to 15008, 15006 and 15001 but nothing listens there" \
	"fault 22: the verdict names the ports nobody listens on"
run "$CNI" inspect --json --admin "$ADMIN" "$CR"
like "$(jq -r .verdict <<<"$OUT")" "traffic of this pod is refused" "fault 22: inspect --json carries the verdict"

done_testing
