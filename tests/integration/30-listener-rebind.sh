#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A pod deleted and added again into the same netns binds its listeners at
# once, though the connections its old listeners accepted (and the daemon
# closed first) still hold their ports in TIME_WAIT: SO_REUSEADDR on every
# TCP listener, with port reuse (the default) or without. The peer is bash's
# /dev/tcp; ss in the pod says what TIME_WAIT holds. The same past the
# TIME_WAIT of another program's server on 15008 (as 26-hbone-registry's
# stand-in for a remote ztunnel), which SO_REUSEPORT alone would not pass.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PORTS="15008 15006 15001"

# run CMD...: RC, and OUT (stdout and stderr together)
run() {
	RC=0
	OUT=$("$@" 2>&1) || RC=$?
}

# hit NS PORT: connect and wait for the daemon to close first (it accepts and
# closes: the walk-thru set relays nothing), so the TIME_WAIT is on its side
hit() {
	ip netns exec "$1" timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$2 && cat <&3 >/dev/null"
}

# time_wait NS PORT: a TIME_WAIT socket in NS whose local port is PORT
time_wait() {
	[[ -n $(ip netns exec "$1" ss -Htan state time-wait "( sport = :$2 )") ]]
}

# readd LABEL: add, a closed connection to each listener, del, add again
readd() {
	local p
	mk_netns "$1"
	run "$CNI" "$SOCK" "$NS"
	is "$RC:$OUT" "0:listeners ready" "$1: added"
	for p in $PORTS; do
		check "$1: a connection to $p, closed by the daemon first" hit "$NS" "$p"
		check "$1: its TIME_WAIT holds 127.0.0.1:$p in the pod" wait_for 10 time_wait "$NS" "$p"
	done
	run "$CNI" del --netns "$NS" "$SOCK" "$NS"
	is "$RC" 0 "$1: deleted"
	check "$1: no listener left" wait_for 10 eval "[[ \$(listener_count $NS) == 0 ]]"
	run "$CNI" "$SOCK" "$NS"
	is "$RC:$OUT" "0:listeners ready" "$1: added again at once, the TIME_WAIT sockets still there"
	is "$(listeners "$NS" | tr '\n' ' ')" "127.0.0.1:15001 127.0.0.1:15006 127.0.0.1:15008 " \
		"$1: its three listeners are back"
}

start_daemon
readd reuse

# another program's server on 15008 (SO_REUSEADDR, no SO_REUSEPORT): it
# closes its one connection first and exits, its TIME_WAIT stays
mk_netns foreign
spawn ip netns exec "$NS" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 15008)); s.listen(1)
print("listening", flush=True)
c, _ = s.accept(); c.close(); s.close()' >"$T_DIR/foreign.out"
check "foreign: another server listens on 15008" wait_for 10 grep -q listening "$T_DIR/foreign.out"
check "foreign: a connection to it, closed by the server first" hit "$NS" 15008
wait "$LAST_PID" || true
check "foreign: its TIME_WAIT holds 127.0.0.1:15008" wait_for 10 time_wait "$NS" 15008
run "$CNI" "$SOCK" "$NS"
is "$RC:$OUT" "0:listeners ready" "foreign: the pod's listeners bind past it"
stop_daemon

SOCK=$T_DIR/zt2.sock
start_daemon --no-port-reuse
readd noreuse
stop_daemon

done_testing
