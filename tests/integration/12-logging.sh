#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Logging never blocks the daemon: a real full pipe on its stdout (a FIFO whose
# reader opens it and stops reading) must not stall ZDS, HTTP or SIGTERM; lines
# are dropped, counted in /metrics and summed up once the reader is back. And
# closed fds 0-2 are filled with /dev/null before anything is opened, so no
# netns fd or socket ever becomes the daemon's stdout (faults.md 2 and 19).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

CYCLES=60
FLOOD=12000	# Dels of an unknown uid: ~1.3 MB of log, more than the pipe and the 1 MiB queue
ts_re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z +(INFO|WARN|ERROR|DEBUG) '

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# bounded curl: a frozen daemon must fail the test, not hang it
get() { curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(http_port "$1")$1"; }
dropped_metric() {
	curl -sf -m 3 "http://127.0.0.1:$(http_port /metrics)/metrics" |
		awk '$1 == "ztunnel_emulator_log_dropped_total" { print $2 }' || true
}

# stop_within SECONDS: SIGTERM, then SIGKILL if it still runs after SECONDS
# (a daemon stuck on its log must fail the test, not hang it); sets ZT_STATUS
# (137 when it had to be killed) and TOOK (seconds until it was gone).
exited() { [[ ! -e /proc/$1 || $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]; }
stop_within() {
	local t0
	t0=$(now)
	kill -TERM "$ZT_PID"
	wait_for "$1" exited "$ZT_PID" || kill -KILL "$ZT_PID"
	TOOK=$(elapsed "$t0")
	ZT_STATUS=0
	wait "$ZT_PID" || ZT_STATUS=$?
}

# start_stalled NAME: the daemon's stdout is a FIFO whose reader copies the
# start-up lines (up to "listening on") to $ZT_LOG, then keeps the FIFO open
# without reading another byte. Sets FIFO, ZT_PID, SOCK, ZT_LOG.
start_stalled() {
	FIFO=$T_DIR/$1.fifo
	SOCK=$T_DIR/$1.sock
	ZT_LOG=$T_DIR/$1.start
	mkfifo "$FIFO"
	: >"$ZT_LOG"
	spawn bash -c 'exec <"$1"
		while IFS= read -r l; do
			printf "%s\n" "$l" >>"$2"
			[[ $l != *" listening on "* ]] || break
		done
		exec sleep 1000' _ "$FIFO" "$ZT_LOG"
	# shellcheck disable=SC2086
	spawn $ZT_WRAPPER "$ZT" ${ZT_LOG_ARGS---log-format legacy --log-level debug} --admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0 \
		--metrics-addr 127.0.0.1:0 "$SOCK" >"$FIFO" 2>>"$T_DIR/$1.err"
	ZT_PID=$LAST_PID
	wait_for 5 grep -q " listening on " "$ZT_LOG"
}

# flood: fills the pipe and the queue behind it
flood() {
	timeout 60 "$TOOL" send --timeout 3 --quiet --repeat "$FLOOD" --hex "$(zds_del_hex nosuchpod)" "$SOCK" \
		2>&1 | grep '^acks:' || true
}

# more floods until lines are being dropped (the pipe and the queue are full),
# whatever the length of the daemon's lines; at most 4 more
fill() {
	local _
	for _ in 1 2 3 4; do
		[[ $(dropped_metric) -gt 0 ]] && return 0
		[[ $(flood) == "acks: $FLOOD ok, 0 nack" ]] || return 1
	done
	[[ $(dropped_metric) -gt 0 ]]
}

# status_field TASKDIR KEY: a field of /proc/PID/task/TID/status
status_field() { awk -v k="$2:" '$1 == k { print $2 }' "$1/status"; }
# threads_within_main PID: every thread holds no capability and no bounding
# set beyond the main thread's, and has no_new_privs (the log writer starts
# before the daemon drops its capabilities, and they are per thread)
threads_within_main() {
	local t k main_v v bad=""
	for t in /proc/"$1"/task/*; do
		for k in CapPrm CapEff CapInh CapAmb CapBnd; do
			main_v=$(status_field "/proc/$1/task/$1" "$k")
			v=$(status_field "$t" "$k")
			(((0x$v & ~0x$main_v) == 0)) || bad+=" ${t##*/}:$k=$v"
		done
		[[ $(status_field "$t" NoNewPrivs) == 1 ]] || bad+=" ${t##*/}:NoNewPrivs=0"
	done
	[[ -z $bad ]] || diag "beyond the main thread's:$bad"
	[[ -z $bad ]]
}

# ---- fault 2: a stalled log reader ----------------------------------------
start_stalled stall
check "fault 2: the log writer thread exists and keeps no privilege beyond the main thread's" \
	eval '[[ $(find "/proc/$ZT_PID/task" -mindepth 1 -maxdepth 1 | wc -l) -ge 2 ]] && threads_within_main "$ZT_PID"'
out=$(flood)
is "$out" "acks: $FLOOD ok, 0 nack" "fault 2: $FLOOD requests are answered while nobody reads the daemon's stdout"
check "fault 2: ... and more, until the queue is full and lines are dropped" fill
failed=""
for i in $(seq "$CYCLES"); do
	mk_netns "c$i"
	if ! out=$("$CNI" --timeout 10 "$SOCK" "$NS" 2>&1) || [[ $out != "listeners ready" ]]; then
		failed="add $i: $out"
		break
	fi
	if ! out=$("$CNI" --timeout 10 del "$SOCK" "$NS" 2>&1); then
		failed="del $i: $out"
		break
	fi
	del_netns "$NS"
done
is "$failed" "" "fault 2: $CYCLES add/del cycles succeed with a full log pipe"
is "$(get /healthz/ready)" 200 "fault 2: /healthz/ready answers with a full log pipe"
n=$(dropped_metric)
check "fault 2: /metrics counts the dropped lines (ztunnel_emulator_log_dropped_total $n)" \
	test "${n:-0}" -gt 0
check "fault 2: the daemon stays in its own netns" in_own_netns "$ZT_PID"

# the reader is back: what was kept arrives whole, then the summary
spawn bash -c 'exec cat "$1" >"$2"' _ "$FIFO" "$T_DIR/stall.out"
check "fault 2: a summary line follows once the pipe drains" \
	wait_for 10 grep -qs "log lines dropped: stdout was not read fast enough" "$T_DIR/stall.out"
sum=$(sed -n 's/.*WARN ztunnel_emulator::log: \([0-9]*\) log lines\{0,1\} dropped.*/\1/p' "$T_DIR/stall.out" |
	awk '{ s += $1 } END { print s + 0 }')
n=$(dropped_metric)
is "$sum" "$n" "fault 2: the summary lines add up to ztunnel_emulator_log_dropped_total"
bad=$(grep -cvE "$ts_re" "$T_DIR/stall.out" || true)
is "$bad" 0 "fault 2: every line after the gap is whole (starts with its timestamp)"
mk_netns after
check "fault 2: a pod is added after the reader is back" \
	quiet "$CNI" --timeout 10 "$SOCK" "$NS"
check "fault 2: ... and its lines reach the reader" \
	wait_for 3 grep -q "WorkloadUid(\"$NS\") received netns" "$T_DIR/stall.out"
stop_within 5
is "$ZT_STATUS" 0 "fault 2: exit status 0 after SIGTERM"
check "fault 2: a normal shutdown loses nothing (its last line reaches the reader)" \
	wait_for 3 grep -q "received SIGTERM, shutting down" "$T_DIR/stall.out"

# SIGTERM while the pipe is still full: the daemon must not wait for the reader
start_stalled term
flood >/dev/null
check "fault 2: a second daemon's log pipe and queue are full" fill
stop_within 5
# status 0, not 137: the daemon stopped by itself; stop_within would have had
# to SIGKILL one that waits for the reader (no fixed time limit: a loaded
# machine is slow, not frozen)
is "$ZT_STATUS" 0 "fault 2: SIGTERM with a full log pipe: the daemon stops by itself (${TOOK}s), exit status 0"

# ---- fault 19: closed stdin, stdout, stderr -------------------------------
# fds 0-2 closed: the first files the daemon opens would become them.
wrap=$ZT_WRAPPER
if [[ $wrap == *valgrind* ]]; then
	diag "valgrind opens its own log file onto a closed fd 1 before the daemon runs:" \
		"the closed-fd daemons run without it"
	wrap=
fi
SOCK=$T_DIR/closed.sock
# shellcheck disable=SC2086
spawn $wrap "$ZT" --admin-addr none --ready-addr none --metrics-addr none "$SOCK" <&- >&- 2>&-
ZT_PID=$LAST_PID
check "fault 19: the daemon starts with fds 0-2 closed" wait_for 5 test -S "$SOCK"
mk_netns closed
out=$("$CNI" --timeout 10 "$SOCK" "$NS" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:listeners ready" "fault 19: it still enrols a pod"
for fd in 0 1 2; do
	is "$(readlink "/proc/$ZT_PID/fd/$fd")" /dev/null "fault 19: the daemon's fd $fd is /dev/null"
done
ino=$(ns_inode "$NS")
check "fault 19: it holds the pod's netns (on a descriptor above 2)" holds_inode "$ZT_PID" "$ino"
low=""
for fd in 0 1 2; do
	f=$(readlink "/proc/$ZT_PID/fd/$fd")
	[[ $f != net:* && $(stat -L -c %i "/proc/$ZT_PID/fd/$fd") != "$ino" ]] || low+=" $fd=$f"
done
is "$low" "" "fault 19: no netns (the daemon's or the pod's) is among fds 0-2"
check "fault 19: the pod's listeners run" test "$(listener_count "$NS")" -gt 0
check "fault 19: del works" quiet "$CNI" --timeout 10 del "$SOCK" "$NS"
stop_within 5
is "$ZT_STATUS" 0 "fault 19: exit status 0 after SIGTERM"

# stdout closed, stderr open: one warning there
SOCK=$T_DIR/warn.sock
# shellcheck disable=SC2086
spawn $wrap "$ZT" --admin-addr none --ready-addr none --metrics-addr none "$SOCK" >&- 2>"$T_DIR/warn.err"
ZT_PID=$LAST_PID
wait_for 5 test -S "$SOCK" || true
is "$(readlink "/proc/$ZT_PID/fd/1")" /dev/null "fault 19: stdout closed: fd 1 is /dev/null"
want="ztunnel-emulator: stdout is closed: its output goes to /dev/null"
if [[ -n ${ZE_TEST_SETCAP:-} ]]; then
	diag "setcap mode: glibc itself fills a closed fd 1 of a setcap'ed (AT_SECURE) program" \
		"with /dev/null opened read-only, so the daemon finds it unwritable"
	want="ztunnel-emulator: stdout is open read-only: its output is lost"
fi
is "$(cat "$T_DIR/warn.err")" "$want" "fault 19: stdout closed: one warning on stderr"
stop_within 5

# the client too: its stdout closed, the netns it opens must not become fd 1
SOCK=$T_DIR/cni.sock
ZT_LOG=$T_DIR/cni.log
start_daemon
mk_netns cni
out=$("$CNI" --timeout 10 "$SOCK" "$NS" 2>&1 >&-) && rc=0 || rc=$?
is "$rc:$out" "0:cni-emulator: stdout is closed: its output goes to /dev/null" \
	"fault 19: cni-emulator with stdout closed still enrols the pod, and warns"
stop_within 5

done_testing
