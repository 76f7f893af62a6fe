#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Istio's real roles, ztunnel's side (issue 13): ztunnel-emulator --connect
# against an independent node agent (tests/helpers/zds-agent-peer.py: its own
# protobuf encoding, Python's SOCK_SEQPACKET and send_fds), which checks the
# Hello bytes and the order of every datagram. Connect backoff, snapshot,
# ztunnel's readiness (faults.md 11), Del before and after SnapshotSent,
# reconnect keeping the proxies, pending retries, read and protocol errors
# (exit 1, or --protocol-errors close), the graceful drain with its deadline,
# and the upgrade: two daemons co-owning a pod's listeners.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PROBE=$ZE_ROOT/tests/helpers/tcp-probe
NACK_PE='nack failure to process message : ProtocolError'

# ---- helpers -----------------------------------------------------------------


# start_client NAME [OPTIONS]: ztunnel-emulator --connect $AGENT, logging to
# $T_DIR/NAME.log; sets ZT_PID and ZT_LOG (what lib.sh's HTTP helpers read)
start_client() {
	ZT_LOG=$T_DIR/$1.log
	shift
	local connect=(--connect "$AGENT")
	# USE_INPOD_UDS=1: the path from ztunnel's variable instead
	[[ -z ${USE_INPOD_UDS:-} ]] || connect=(--connect)
	# shellcheck disable=SC2086
	# the lab CA (ambient) in the test's own directory, as start_daemon does
	INPOD_UDS=$AGENT spawn $ZT_WRAPPER "$ZT" ${ZT_LOG_ARGS---log-format legacy --log-level debug} --admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0 \
		--metrics-addr 127.0.0.1:0 --ca-dir "$T_DIR/ca" "$@" "${connect[@]}" >>"$ZT_LOG" 2>&1
	ZT_PID=$LAST_PID
	wait_for 10 grep -q "connecting to the node agent at $AGENT" "$ZT_LOG"
}

# readiness: "BODY<newline>CODE", the body byte for byte
readiness() { curl -s -w '%{http_code}' "http://127.0.0.1:$(http_port /healthz/ready)/healthz/ready"; }
NOT_READY=$'not ready, pending: workload proxy manager\n500'
READY=$'ready\n200'

# reap PID: waits for it (at most 15 s, in this shell: its own child); ST = its exit status
reap() {
	ST=0
	wait_for 15 eval "! kill -0 $1 2>/dev/null" || true
	wait "$1" 2>/dev/null || ST=$?
}

# ---- the command line ---------------------------------------------------------------

usage() { out=$("$ZT" "$@" 2>&1) && rc=0 || rc=$?; }
usage --protocol-errors close
is "$rc:$out" "2:ztunnel-emulator: --protocol-errors needs --connect (the listening role always closes only the connection)
Try 'ztunnel-emulator --help' for more information." "--protocol-errors without --connect: usage error"
usage --connect --protocol-errors maybe
like "$rc:$out" "2:ztunnel-emulator: invalid --protocol-errors 'maybe': expected exit or close" \
	"--protocol-errors takes exit or close"
usage --connect=/a /b
like "$rc:$out" "2:ztunnel-emulator: too many arguments: --connect=/a and /b" "--connect=PATH and a PATH argument: usage error"
usage --drain-deadline soon
like "$rc:$out" "2:ztunnel-emulator: invalid drain deadline 'soon'" "--drain-deadline takes seconds"

mk_netns a
A=$NS A_HANDOFF=$NS
mk_netns b
B=$NS

# ---- connect backoff: the socket may appear later --------------------------------

start_client c1
check "backoff: the agent's socket is missing, the daemon retries" \
	wait_for 10 grep -q 'retrying in 160ms' "$ZT_LOG"
waits=$(grep -o 'retrying in [0-9.]*m\?s' "$ZT_LOG" | head -n 4 | sed 's/retrying in //' | tr '\n' ' ')
is "$waits" "20ms 40ms 80ms 160ms " "backoff: 10 ms doubled before each wait (20, 40, 80, 160 ms)"
like "$(grep -m1 'failed to connect' "$ZT_LOG")" \
	'WARN ztunnel::inpod::workloadmanager: failed to connect to server: Os { code: 2, kind: NotFound, message: "No such file or directory" }. retrying in 20ms' \
	"backoff: ztunnel's warning, with the Rust error"
is "$(readiness)" "$NOT_READY" "readiness before any connection: 500 'not ready, pending: workload proxy manager'"

agent_peer_start
is "$(pc accept 20)" "conn 1" "the daemon connects once the socket exists and says Hello 08 01 first"
check "log: handling new stream" grep -q 'INFO ztunnel::inpod::workloadmanager: handling new stream' "$ZT_LOG"
is "$(readiness)" "$NOT_READY" "readiness: connected but no snapshot yet: 500"

# ---- snapshot, readiness, steady state -------------------------------------------

is "$(pc add 1 "$A" "/run/netns/$A" "$A" shop web)" ack "snapshot: Add with the netns fd is acked"
is "$(pc keep 1 ghost)" ack "snapshot: Keep of a pod whose netns is gone is acked"
is "$(readiness)" "$NOT_READY" "readiness: still 500 before SnapshotSent"
is "$(pc snap 1)" ack "snapshot: SnapshotSent is acked"
is "$(readiness)" "$READY" "readiness: 200 'ready' after SnapshotSent with nothing pending"
like "$(cat "$ZT_LOG")" "Task 'workload proxy manager' complete (" "log: ztunnel's 'marking server ready' line"
is "$(listener_count "$A")" 3 "pod a has its three listeners"
is "$(pod_uids)" "$A " "config_dump (the admin endpoint) lists pod a in the client role"
is "$(metric workload_manager_active_proxy_count)" 1 "metrics: one active proxy"
is "$(metric ztunnel_emulator_add_duration_seconds_count)" 1 "metrics: the Add is in the Add histogram in the client role too"
add_a=$(zds_add_hex "$A" "$A" shop web)
is "$(pc transcript 1)" "<0801,>$add_a,<0a00,>$(zds_keep_hex ghost),<0a00,>$ZDS_SNAPSHOT_HEX,<0a00" \
	"wire: Hello, then exactly one Ack 0a00 per request, in order"
is "$(pc add 1 "$B" "/run/netns/$B")" ack "steady state: Add of pod b"
is "$(listener_count "$B")" 3 "pod b has its listeners"
is "$(pc del 1 "$B")" ack "steady state: Del of pod b"
is "$(listener_count "$B")" 0 "a Del after the snapshot drains the pod at once"
is "$(pc keep 1 late)" "$NACK_PE(\"pod keep received after snapshot\")" \
	"Keep after SnapshotSent: ztunnel's ProtocolError nack"
is "$(pc waiteof 1 10)" eof "... then the daemon ends the connection"
reap "$ZT_PID"
is "$ST" 1 "... and exits 1, as ztunnel >= 1.23 does"
like "$(cat "$ZT_LOG")" "ERROR ztunnel::inpod::workloadmanager: protocol mismatch error while processing stream, shutting down" \
	"log: protocol mismatch error while processing stream, shutting down"
is "$(ip netns exec "$A" ss -Htnl | wc -l)" 0 "the exited daemon's listeners are gone"

# ---- faults.md 11: after a restart, not ready until the agent re-sent its snapshot ----

agent_peer_stop
agent_peer_start
USE_INPOD_UDS=1 start_client c2 --log-format current --retry-interval 5
check "--connect without PATH: the path from INPOD_UDS" grep -q "inpodUds: $AGENT\$" "$ZT_LOG"
is "$(pc accept 20)" "conn 1" "restarted daemon connects"
is "$(readiness)" "$NOT_READY" "fault 11: a restarted daemon with no snapshot is not ready (500), not 'ready' with zero pods"
is "$(pc add 1 "$A" "/run/netns/$A" "$A" shop web)" ack "fault 11: the agent re-sends pod a"
is "$(pc snap 1)" ack "fault 11: ... and SnapshotSent"
is "$(readiness)" "$READY" "fault 11: ready once the snapshot is in"
is "$(listener_count "$A")" 3 "pod a is served again"
pids_before=$(listeners "$A" | tr '\n' ' ')

# ---- the agent restarts: EOF, reconnect, proxies kept ----------------------------------

agent_peer_stop
check "agent gone: log 'process stream ended with eof'" \
	wait_for 10 grep -qP '\tinfo\tinpod::workloadmanager\tprocess stream ended with eof\t$' "$ZT_LOG"
is "$(readiness)" "$NOT_READY" "agent gone: readiness 500 again"
is "$(listener_count "$A")" 3 "agent gone: pod a's listeners keep serving"
check "agent gone: pod a still accepts connections" ip netns exec "$A" nc -z -w 5 127.0.0.1 15006
agent_peer_start
is "$(pc accept 30)" "conn 1" "reconnect: a new stream with a new Hello"
is "$(pc add 1 "$A" "/run/netns/$A" "$A" shop web)" ack "reconnect: Add of the running pod (same netns) is acked"
check "reconnect: ... and is idempotent (no restart)" \
	grep -q "pod WorkloadUid(\"$A\") already running in this netns, nothing to do" "$ZT_LOG"
is "$(listeners "$A" | tr '\n' ' ')" "$pids_before" "reconnect: the same listeners"
is "$(pc snap 1)" ack "reconnect: SnapshotSent"
is "$(readiness)" "$READY" "reconnect: ready again"

# ---- Del before SnapshotSent only forgets the uid; SnapshotSent reconciles ----------------

pc close 1 >/dev/null
is "$(pc accept 30)" "conn 2" "the agent drops the connection: the daemon reconnects"
is "$(pc del 2 "$A")" ack "Del before SnapshotSent is acked"
is "$(listener_count "$A")" 3 "Del before SnapshotSent leaves the running proxy alone (ztunnel >= 1.25)"
is "$(pc snap 2)" ack "SnapshotSent"
check "SnapshotSent drains pod a: neither added nor kept on this connection" \
	wait_for 10 eval '[[ $(listener_count "$A") == 0 ]]'

# ---- pending pods: nack, not ready, retried every 5 s -----------------------------

pc close 2 >/dev/null
is "$(pc accept 30)" "conn 3" "a new connection"
hold_port "$B" 15006
out=$(pc add 3 "$B" "/run/netns/$B")
like "$out" "nack failure to start proxy : failed to bind to address 127.0.0.1:15006" \
	"a pod whose port is taken: nack 'failure to start proxy : ...'"
is "$(pc snap 3)" ack "SnapshotSent with a pending pod is acked"
is "$(readiness)" "$NOT_READY" "pending pod: not ready (500)"
kill "$HOLDER"
check "pending pod: started by the 5 s retry" wait_for 20 eval '[[ $(listener_count "$B") == 3 ]]'
check "pending pod: ready once nothing is pending" wait_for 10 eval '[[ $(readiness) == "$READY" ]]'

# ---- read errors: nack, reconnect -----------------------------------------------------

like "$(pc raw 3 0a)" "nack failure to read message : failed to decode message: " \
	"a malformed datagram: nack 'failure to read message : failed to decode message: ...'"
is "$(pc waiteof 3 10)" eof "... and the connection ends"
is "$(pc accept 30)" "conn 4" "... and the daemon reconnects"
is "$(pc raw 4 "$(zds_add_hex x x)")" "nack failure to read message : No control message" \
	"an Add without an fd: nack 'No control message'"
is "$(pc accept 30)" "conn 5" "... reconnect"
is "$(pc raw 5 "$ZDS_SNAPSHOT_HEX" "/run/netns/$A")" "nack failure to read message : Unexpected control message" \
	"a SnapshotSent with an fd: nack 'Unexpected control message'"
is "$(pc accept 30)" "conn 6" "... reconnect"
is "$(pc add-noinfo 6 nw "/run/netns/$A")" "$NACK_PE(\"workload_info is required but not present\")" \
	"an Add without workload_info: ProtocolError"
reap "$ZT_PID"
is "$ST" 1 "... the daemon exits 1"

# ---- --protocol-errors close: the connection ends, the daemon reconnects ---------------------

start_client c3 --protocol-errors close
is "$(pc accept 30)" "conn 7" "--protocol-errors close: connected"
is "$(pc add 7 "$B" "/run/netns/$B")" ack "Add of pod b"
is "$(pc snap 7)" ack "SnapshotSent"
is "$(pc snap 7)" "$NACK_PE(\"pod snapshot received already\")" "a second SnapshotSent: ProtocolError nack"
is "$(pc accept 30)" "conn 8" "--protocol-errors close: the daemon reconnects instead of exiting"
like "$(cat "$ZT_LOG")" "(--protocol-errors close: reconnecting instead of exiting)" "... and says so in its log"
is "$(listener_count "$B")" 3 "... keeping pod b's proxy"

# ---- drain on SIGTERM: listeners at once, the ZDS stream ends, exit 0 ---------------------

kill -TERM "$ZT_PID"
is "$(pc waiteof 8 10)" eof "SIGTERM: the node agent sees the stream end"
reap "$ZT_PID"
is "$ST" 0 "SIGTERM with no open connection: exit 0"
is "$(listener_count "$B")" 0 "SIGTERM: the listeners are gone"
log=$(cat "$ZT_LOG")
like "$log" "INFO ztunnel::signal: received signal SIGTERM, starting shutdown" "log: received signal SIGTERM, starting shutdown"
like "$log" "workload proxy manager: drain requested" "log: workload proxy manager: drain requested"
# Istio 1.21's drain lines (28-releases has the >= 1.23 ones)
like "$log" "INFO proxy{uid=$B}: ztunnel::proxy::inbound: draining connections" "log: draining connections"
like "$log" "proxy{uid=$B}: ztunnel::proxy::inbound: all inbound connections drained" "log: all inbound connections drained"
like "$log" "proxy{uid=$B}: ztunnel::proxy::inbound_passthrough: inbound passthrough drained" "log: inbound passthrough drained"
like "$log" "proxy{uid=$B}: ztunnel::proxy::outbound: outbound drained" "log: outbound drained"

# the deadline: --drain-deadline, or TERMINATION_GRACE_PERIOD_SECONDS as ztunnel reads it
deadline_line() { # GRACE [OPTIONS]: the drain-started line of a daemon stopped at once
	local pid
	TERMINATION_GRACE_PERIOD_SECONDS=$1 start_client "dl$1${2:-}" "${@:2}"
	pid=$ZT_PID
	pc accept 30 >/dev/null
	kill -TERM "$pid"
	reap "$pid"
	grep -o 'drain started, waiting [0-9.]*m\?s' "$ZT_LOG" || echo none
}
is "$(deadline_line 30)" "drain started, waiting 25s" "TERMINATION_GRACE_PERIOD_SECONDS=30: deadline 25 s (g - 5)"
is "$(deadline_line 8)" "drain started, waiting 7s" "TERMINATION_GRACE_PERIOD_SECONDS=8: deadline 7 s (g - 1)"
is "$(deadline_line 1)" "drain started, waiting 1s" "TERMINATION_GRACE_PERIOD_SECONDS=1: deadline at least 1 s"
is "$(deadline_line '' --drain-deadline 2.5)" "drain started, waiting 2.5s" "--drain-deadline 2.5"
is "$(deadline_line '')" "drain started, waiting 5s" "default deadline: 5 s"

# ---- drain with an open relay (ambient): it flows until the deadline, then is reset ------

# shellcheck disable=SC2034 # A4: mk_pod_pair reads it
A4=198.18.0.1 B4=198.18.0.2 PORT=8080
mk_pod_pair --v4-only
serve_echo "$T_DIR/peers.log"
# pod-a's connections to pod-b:PORT go to 15001; the daemon's own (mark 1337) go out as they are
ip netns exec "$A" iptables -t nat -A OUTPUT -m mark --mark 1337 -j RETURN
ip netns exec "$A" iptables -t nat -A OUTPUT -p tcp -d "$B4" --dport "$PORT" -j REDIRECT --to-ports 15001
zt_handoff=$ZT
ambient_caps_daemon

# hold_start NAME: one relayed connection from pod-a held open by tcp-probe,
# driven through a FIFO on fd 7; output in HOLD_OUT
hold_start() {
	local ctl=$T_DIR/$1.ctl
	HOLD_OUT=$T_DIR/$1.out
	mkfifo "$ctl"
	exec 7<>"$ctl"
	ip netns exec "$A" "$PROBE" hold -n 1 -t 60 "$B4" "$PORT" <"$ctl" >"$HOLD_OUT" 2>&1 7>&- &
	HOLD_PID=$!
	_pids+=("$HOLD_PID")
	wait_for 30 grep -qs '^open=' "$HOLD_OUT" || true
}
hold_ping() { # PING = the answer to one more line on the held connection
	echo ping >&7
	wait_for 30 grep -qs '^ping ' "$HOLD_OUT" || true
	PING=$(grep -m1 '^ping ' "$HOLD_OUT" || echo "no answer")
}
ambient_client() { # NAME OPTIONS: an ambient daemon serving pod-a
	local c
	start_client "$@" --profile ambient
	c=$(pc accept 30)
	pc add "${c#conn }" "$A" "/run/netns/$A" >/dev/null
	pc snap "${c#conn }" >/dev/null
	wait_for 10 eval '[[ $(listener_count "$A") -ge 3 ]]'
}

ambient_client amb --drain-deadline 4
hold_start relay1
is "$(grep -m1 -o '^open=[0-9]*' "$HOLD_OUT")" "open=1" "drain: a relayed connection pod-a -> pod-b through 15001"
kill -TERM "$ZT_PID"
check "drain: SIGTERM closes the pod's listeners at once" wait_for 10 eval '[[ $(listener_count "$A") == 0 ]]'
check "drain: the daemon keeps running while a relay is open" daemon_alive
hold_ping
is "$PING" "ping ok=1 failed=0" "drain: the established relay still carries data both ways"
is "$(ip netns exec "$A" "$PROBE" connect -t 5 -m x "$B4" "$PORT" 2>&1 | head -n 1)" refused \
	"drain: a new connection is refused (no listener)"
reap "$ZT_PID"
is "$ST" 0 "drain: at the deadline the daemon exits 0"
check "drain: the held connection was reset at the deadline" wait_for 10 grep -q '^closed 0 reset' "$HOLD_OUT"
log=$(cat "$ZT_LOG")
like "$log" "WARN ztunnel::drain: drain duration expired with pending connections, forcefully shutting down" \
	"log: drain duration expired with pending connections, forcefully shutting down"
like "$log" "connection closed due to connection drain" "log: the reset relay's access line says why"
exec 7>&-

ambient_client amb2 --drain-deadline 60
hold_start relay2
kill -TERM "$ZT_PID"
wait_for 10 grep -q 'drain started' "$ZT_LOG"
kill -TERM "$ZT_PID"
reap "$ZT_PID"
is "$ST" 0 "a second SIGTERM during the drain exits 0 at once"
like "$(cat "$ZT_LOG")" "received SIGTERM again, exiting at once" "log: the second signal"
like "$(cat "$ZT_LOG")" "INFO ztunnel::inpod::workloadmanager: drain requested" "log: the manager's second 'drain requested'"
exec 7>&-

# a second SIGINT: ztunnel's own line for it (roles.md 4), and exit 0
ambient_client amb3 --drain-deadline 60
hold_start relay3
kill -INT "$ZT_PID"
wait_for 10 grep -q 'drain started' "$ZT_LOG"
kill -INT "$ZT_PID"
reap "$ZT_PID"
is "$ST" 0 "a second SIGINT during the drain exits 0 at once"
like "$(cat "$ZT_LOG")" "INFO ztunnel::signal: Double Ctrl+C, exit immediately" "log: Double Ctrl+C, exit immediately"
exec 7>&-
ZT=$zt_handoff
A=$A_HANDOFF

# ---- upgrade: a second daemon co-binds, the old one drains, no refused client -----------

start_client old
OLD=$ZT_PID
old_conn=$(pc accept 30)
start_client new
NEW=$ZT_PID NEW_LOG=$ZT_LOG
new_conn=$(pc accept 30)
for c in "${old_conn#conn }" "${new_conn#conn }"; do
	pc add "$c" "$A" "/run/netns/$A" >/dev/null
	pc snap "$c" >/dev/null
done
owners=$(ip netns exec "$A" ss -Htnlp 'sport = :15006' | grep -o 'pid=[0-9]*' | sort -u | tr '\n' ' ')
is "$owners" "$(printf 'pid=%s\n' "$OLD" "$NEW" | sort | tr '\n' ' ')" \
	"upgrade: both daemons own pod a's 15006 (SO_REUSEPORT, same user)"
ZT_LOG=$NEW_LOG
is "$(readiness)" "$READY" "upgrade: the new daemon is ready after its snapshot"
# clients connect all through the handover; none may be refused
ip netns exec "$A" bash -c 'for i in $(seq 300); do nc -z -w 5 127.0.0.1 15006 || echo refused; done' \
	>"$T_DIR/probes.out" 2>&1 &
probes=$!
sleep 0.3
kill -TERM "$OLD"
reap "$OLD"
is "$ST" 0 "upgrade: the old daemon drains and exits 0"
wait "$probes" || true
is "$(grep -c refused "$T_DIR/probes.out" || true)" 0 "upgrade: no client refused during the handover"
owners=$(ip netns exec "$A" ss -Htnlp 'sport = :15006' | grep -o 'pid=[0-9]*' | sort -u | tr '\n' ' ')
is "$owners" "pid=$NEW " "upgrade: the new daemon alone owns the listeners"
check "upgrade: new clients are served" ip netns exec "$A" nc -z -w 5 127.0.0.1 15006
kill -TERM "$NEW"
reap "$NEW"

done_testing
