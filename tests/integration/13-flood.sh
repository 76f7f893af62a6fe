#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fair service under a flood (issue 10, faults 4, 9, 17, 18): peers that are
# not allowed, or over a limit, are told why and closed at once; a plain
# user's flood neither locks root out of ZDS nor takes the HTTP endpoints
# away; the daemon's own fd exhaustion is named as such; repeated warnings
# are rate-limited.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

in_userns=${ZE_TEST_IN_USERNS:-}
# A real plain user. With --setcap the daemon itself runs as nobody, whom it
# serves as its own user: the flood then comes from a uid with no account.
U=nobody
[[ -z ${ZE_TEST_SETCAP:-} ]] || U=65533
# An array, not a function: spawning a function backgrounds a subshell
# running setpriv as its child, and killing the recorded PID would orphan it.
as_u=(setpriv --reuid="$U" --regid="$U" --clear-groups --)
[[ $U != nobody ]] || as_u=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
chmod o+x "$T_DIR"	# other users reach the sockets only through it

# ---- fault 18: over --max-connections, the client is told why --------------
SOCK=$T_DIR/max1.sock
ZT_LOG=$T_DIR/max1.log
start_daemon --max-connections 1 --timeout 10
spawn "$TOOL" send --idle --timeout 8 "$SOCK" >/dev/null
holder=$LAST_PID
wait_for 5 eval '[[ $(stream_count) -ge 1 ]]'
mk_netns max1
out=$("$CNI" add "$SOCK" "$NS" 2>&1) && rc=0 || rc=$?
is "$rc" 1 "fault 18: an add over --max-connections 1 fails"
like "$out" "too many connections (1, see --max-connections)" \
	"fault 18: the client prints the daemon's nack naming the limit"
unlike "$out" "closed the connection before" "fault 18: not a bare 'closed the connection'"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
check "fault 18: with the slot free again the add succeeds" \
	wait_for 3 eval '[[ $("$CNI" add "$SOCK" "$NS" 2>&1) == "listeners ready" ]]'
stop_daemon

# ---- fault 17: the daemon's own fd exhaustion is named ------------------------
SOCK=$T_DIR/nofile.sock
ZT_LOG=$T_DIR/nofile.log
start_daemon
# root here may lack CAP_SYS_RESOURCE: the daemon's own user may set its limits
# shellcheck disable=SC2086
$ZT_WRAPPER prlimit --pid "$ZT_PID" --nofile=30:30
# each pod keeps 4 fds (netns + 3 listeners): a few adds reach the limit
outs=""
for i in $(seq 12); do
	mk_netns "nofile$i"
	out=$("$CNI" add --timeout 3 "$SOCK" "$NS" 2>&1) || true
	outs+="$out"$'\n'
	[[ $out != *"out of file descriptors"* ]] || break
done
like "$outs" "daemon out of file descriptors (limit 30)" \
	"fault 17: an add at the daemon's fd limit gets 'daemon out of file descriptors (limit 30)'"
unlike "$outs" "control message truncated" "fault 17: the client is not blamed for too many fds"
check "fault 17: the daemon still runs" daemon_alive
stop_daemon

# ---- fault 4: refused peers hold no slot and do not flood the log ------------
if [[ -n $in_userns ]]; then
	echo "# (faults 4 and 9 need a real plain user, which exists only as real root: checked in the root and --setcap runs)"
	done_testing
	exit
fi

SOCK=$T_DIR/flood.sock
ZT_LOG=$T_DIR/flood.log
start_daemon --socket-mode 0666 --max-connections 4
floods=()
for _ in 1 2 3 4 5 6; do
	# each loop reconnects as soon as its connection ends, holding it up to 5 s
	spawn "${as_u[@]}" bash -c 'while :; do "$0" send --idle --timeout 5 "$1" >/dev/null 2>&1; done' \
		"$TOOL" "$SOCK"
	floods+=("$LAST_PID")
done
wait_for 5 grep -q 'is not allowed' "$ZT_LOG" || true
mk_netns flood
ok_adds=0
for i in 1 2 3; do
	out=$("$CNI" add "$SOCK" "$NS" 2>&1) && ok_adds=$((ok_adds + 1)) || diag "add $i: $out"
done
is "$ok_adds" 3 "fault 4: root's adds succeed while $U floods with 6 reconnecting connections"
check "fault 4: the log says 'suppressed N similar' instead of a line per attempt" \
	wait_for 5 grep -q 'suppressed [0-9]* similar' "$ZT_LOG"
refusals=$(grep -c 'is not allowed' "$ZT_LOG" || true)
streams=$(stream_count)
diag "refusal lines: $refusals, served streams: $streams"
kill "${floods[@]}" 2>/dev/null || true
wait "${floods[@]}" 2>/dev/null || true
stop_daemon

# an allowed plain user may hold at most half of the slots, never the last one
SOCK=$T_DIR/peruid.sock
ZT_LOG=$T_DIR/peruid.log
start_daemon --socket-mode 0666 --max-connections 4 --allow-uid "$U" --timeout 10
holders=()
for _ in 1 2 3 4; do
	spawn "${as_u[@]}" "$TOOL" send --idle --timeout 8 "$SOCK" >/dev/null
	holders+=("$LAST_PID")
done
wait_for 5 eval '[[ $(grep -c "too many connections from uid" "$ZT_LOG") -ge 2 ]]' || true
like "$(cat "$ZT_LOG")" "too many connections from uid" "fault 4: an allowed plain user is capped per uid"
out=$("$CNI" add "$SOCK" "$NS" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:listeners ready" "fault 4: root is still served while that user holds its share"
kill "${holders[@]}" 2>/dev/null || true
wait "${holders[@]}" 2>/dev/null || true
stop_daemon

# ---- fault 9: slow HTTP clients cannot take the endpoints away --------------
SLOW=$ZE_ROOT/tests/helpers/slow-http
SOCK=$T_DIR/http.sock
ZT_LOG=$T_DIR/http.log
start_daemon
base=$(fd_count "$ZT_PID")
ports=("$(http_port /healthz/ready)" "$(http_port /config_dump)" "$(http_port /metrics)")
# 80 connections to each endpoint, a header byte every 1.5 s, re-opened when closed
spawn "${as_u[@]}" "$SLOW" --conns 80 --interval 1.5 --reconnect 127.0.0.1 "${ports[@]}" >"$T_DIR/slow.out"
slow=$LAST_PID
wait_for 5 grep -q '^connected' "$T_DIR/slow.out" || true
diag "$U's slow clients: $(cat "$T_DIR/slow.out")"
sleep 2	# let the flood settle into its ticks (and MHD's idle timer be reset)
code() { curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$2" || true; }
is "$(code "${ports[0]}" /healthz/ready)" 200 "fault 9: /healthz/ready answers while $U holds 80 slow connections to it"
is "$(code "${ports[1]}" /config_dump)" 200 "fault 9: /config_dump answers under the same flood"
is "$(code "${ports[2]}" /metrics)" 200 "fault 9: /metrics answers under the same flood"
like "$(cat "$ZT_LOG")" "too many connections from uid=" "fault 9: the flood is capped per user, and that is logged"
kill "$slow" 2>/dev/null || true
wait "$slow" 2>/dev/null || true
check "fault 9: after the flood the daemon holds $base fds again" wait_for 5 fds_back_to "$base"
# a header trickled byte by byte is cut off at the deadline, not kept alive by each byte
out=$("${as_u[@]}" "$SLOW" --conns 1 --interval 1 --for 12 127.0.0.1 "${ports[0]}" | tail -n 1)
check "fault 9: a header sent a byte a second is closed within the request deadline ($out)" \
	eval '[[ $out =~ ^open\ 0,\ closed\ 1\ after\ ([0-9]+) && ${BASH_REMATCH[1]} -ge 4 && ${BASH_REMATCH[1]} -le 8 ]]'
stop_daemon

done_testing
