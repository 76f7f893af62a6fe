# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034  # H_OPEN, H_RESET, PING: read by the sourcing test
# tests/held.sh - sourced by the relay tests (13-relay-limits, 29-relay-threads)
# after lib.sh: connections held open from pod-a through tcp-probe's "hold".
# Uses the caller's A, B4, PORT and PROBE.

# hold_start NAME ARGS...: tcp-probe hold in pod-a, reading commands from a
# FIFO held open on fd 7; its output in HOLD_OUT, its PID in HOLD_PID
hold_start() {
	local ctl=$T_DIR/$1.ctl
	HOLD_OUT=$T_DIR/$1.out
	shift
	ct_forget_resets "$A"	# the resets of an earlier step must not loop a relay
	mkfifo "$ctl"
	# opened read-write first, so neither open blocks; the probe does not get fd 7,
	# so closing it is the probe's EOF. Not through spawn: a background command
	# without its own redirection would read /dev/null.
	exec 7<>"$ctl"
	ip netns exec "$A" "$PROBE" hold "$@" "$B4" "$PORT" <"$ctl" >"$HOLD_OUT" 2>&1 7>&- &
	HOLD_PID=$!
	_pids+=("$HOLD_PID")
}
hold_status() { # waits for the status line; sets H_OPEN H_RESET HOLD_STATUS
	wait_for 30 grep -qs '^open=' "$HOLD_OUT" || true
	HOLD_STATUS=$(grep -m1 '^open=' "$HOLD_OUT" || echo "no status: $(head -c 300 "$HOLD_OUT")")
	H_OPEN=$(sed -n 's/^open=\([0-9]*\) .*/\1/p' <<<"$HOLD_STATUS")
	H_RESET=$(sed -n 's/.* reset=\([0-9]*\) .*/\1/p' <<<"$HOLD_STATUS")
}
hold_ping() { # sets PING
	echo ping >&7
	wait_for 30 grep -qs '^ping ' "$HOLD_OUT" || true
	PING=$(grep -m1 '^ping ' "$HOLD_OUT" || echo "no answer")
}
hold_stop() {
	exec 7>&-
	wait "$HOLD_PID" 2>/dev/null || true
}
