#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The command-line contract of both programs (util-linux conventions) and the
# daemon's start-up and shutdown: socket path rules, signals, capabilities,
# options that change the listeners.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

# run CMD...: sets OUT, ERR and RC.
run() {
	RC=0
	"$@" >"$T_DIR/out" 2>"$T_DIR/err" || RC=$?
	OUT=$(cat "$T_DIR/out")
	ERR=$(cat "$T_DIR/err")
}

for prog in "$ZT" "$CNI"; do
	name=$(basename "$prog")
	run "$prog" --help
	is "$RC" 0 "$name --help exits 0"
	like "$OUT" "Usage: $name" "$name --help prints usage on stdout"
	is "$ERR" "" "$name --help writes nothing on stderr"
	run "$prog" -V
	is "$RC:$OUT" "0:$name 0.1.0" "$name -V prints the version on stdout"
	run "$prog" --no-such-option
	is "$RC" 2 "$name: an unknown option exits 2"
	like "$ERR" "Try '$name --help' for more information." "$name: an unknown option points to --help"
	is "$OUT" "" "$name: usage errors print nothing on stdout"
done

run "$CNI" "$T_DIR/sock"
is "$RC" 2 "cni-emulator with one argument exits 2"
like "$ERR" "missing SOCKET or NETNS" "cni-emulator says what is missing"
run "$CNI" add a b c
is "$RC" 2 "cni-emulator with too many arguments exits 2"
run "$CNI" --timeout 0 a b
is "$RC" 2 "cni-emulator --timeout 0 exits 2"
like "$ERR" "invalid timeout '0'" "cni-emulator names the bad timeout"
run "$ZT" a b
is "$RC" 2 "ztunnel-emulator with two sockets exits 2"
run "$ZT" --listen-address 300.1.1.1 "$T_DIR/x.sock"
is "$RC" 2 "ztunnel-emulator with a bad address exits 2"
like "$ERR" "invalid listen address '300.1.1.1'" "ztunnel-emulator names the bad address"
check "a usage error creates no socket" test ! -e "$T_DIR/x.sock"

# A regular file at the socket path is refused and left alone.
echo "precious" >"$T_DIR/file.sock"
run "$ZT" "$T_DIR/file.sock"
is "$RC" 1 "a regular file at the socket path: exit 1"
like "$ERR" "$T_DIR/file.sock: exists and is not a socket; refusing to replace it" \
	"a regular file at the socket path: the error names it"
is "$(cat "$T_DIR/file.sock")" "precious" "the file is untouched"

# The socket's directory is created when missing.
SOCK=$T_DIR/run/ztunnel/zt.sock
start_daemon
check "the socket's missing directories were created" test -S "$SOCK"
first=$ZT_PID

# A second daemon on a live socket is refused; the first keeps serving.
# (as the first one's user: another user's directory is refused before that)
# shellcheck disable=SC2086
run $ZT_WRAPPER "$ZT" "$SOCK"
is "$RC" 1 "a second daemon on a live socket: exit 1"
like "$ERR" "$SOCK: another daemon is already serving on this socket" \
	"a second daemon: the error names the path"
mk_netns live
run "$CNI" "$SOCK" "$NS"
is "$RC:$OUT" "0:listeners ready" "the first daemon still serves"

# SIGINT: clean exit, socket and listeners gone.
kill -INT "$first"
status=0
wait "$first" || status=$?
is "$status" 0 "SIGINT: exit 0"
check "SIGINT: the socket is removed" test ! -e "$SOCK"
is "$(ip netns exec "$NS" ss -Htnl | wc -l)" 0 "SIGINT: the pod's listeners are closed"
like "$(cat "$ZT_LOG")" "received SIGINT, shutting down" "SIGINT is logged"

# A stale socket (daemon killed with SIGKILL) is reclaimed.
start_daemon
kill -KILL "$ZT_PID"
wait "$ZT_PID" 2>/dev/null || true
check "SIGKILL leaves a stale socket behind" test -S "$SOCK"
start_daemon
like "$(cat "$ZT_LOG")" "removed stale socket $SOCK" "a new daemon reclaims the stale socket"
run "$CNI" "$SOCK" "$NS"
is "$RC:$OUT" "0:listeners ready" "and serves on it"
stop_daemon

# Without CAP_SYS_ADMIN the daemon says so and how to fix it.
# (the build's own binary: a setcap'ed copy could not even be exec'ed without it in the bounding set)
nocap=$ZE_ROOT/ztunnel-emulator/ztunnel-emulator
run capsh --drop=cap_sys_admin -- -c "exec '$nocap' '$T_DIR/nocap.sock'"
is "$RC" 1 "without CAP_SYS_ADMIN: exit 1"
like "$ERR" "missing CAP_SYS_ADMIN" "without CAP_SYS_ADMIN: the error names the capability"
like "$ERR" "setcap cap_sys_admin+ep $nocap" "without CAP_SYS_ADMIN: the error shows the setcap fix"
check "without CAP_SYS_ADMIN: no socket is created" test ! -e "$T_DIR/nocap.sock"

# lo down in the pod: the listeners bind, and the log says how to fix it.
SOCK=$T_DIR/zt2.sock
start_daemon
mk_netns_lo_down lodown
run "$CNI" "$SOCK" "$NS"
is "$RC:$OUT" "0:listeners ready" "a pod with lo down is still enrolled"
like "$(cat "$ZT_LOG")" "loopback interface lo is down in its network namespace; listeners on 127.0.0.1 are unreachable (fix: ip -n $NS link set lo up)" \
	"lo down: a warning naming the fix"
ip -n "$NS" link set lo up
check "after 'ip link set lo up' the listener answers" ip netns exec "$NS" nc -z -w 2 127.0.0.1 15008

# SO_REUSEPORT (on by default, as ztunnel's inpod_port_reuse): a reuseport
# socket of the same user can share the port; with --no-port-reuse it cannot.
mk_netns reuse
run "$CNI" "$SOCK" "$NS"
# (SO_REUSEPORT shares a port only between sockets of the same user: the daemon's)
# shellcheck disable=SC2086
run timeout 2 ip netns exec "$NS" $ZT_WRAPPER "$TOOL" hold-port --reuseport 127.0.0.1 15008
is "$RC" 124 "port reuse on: another SO_REUSEPORT socket binds 15008 too (it held until the timeout)"
stop_daemon

SOCK=$T_DIR/zt3.sock
start_daemon --no-port-reuse
like "$(cat "$ZT_LOG")" "inpod_port_reuse: false" "--no-port-reuse shows in the config lines"
mk_netns noreuse
run "$CNI" "$SOCK" "$NS"
# shellcheck disable=SC2086
run timeout 2 ip netns exec "$NS" $ZT_WRAPPER "$TOOL" hold-port --reuseport 127.0.0.1 15008
is "$RC" 1 "--no-port-reuse: a SO_REUSEPORT socket cannot bind 15008"
like "$ERR" "Address already in use" "--no-port-reuse: the port is taken"
stop_daemon

# --listen-address: IPv6 loopback.
SOCK=$T_DIR/zt4.sock
start_daemon --listen-address ::1
mk_netns v6
run "$CNI" "$SOCK" "$NS"
is "$RC:$OUT" "0:listeners ready" "--listen-address ::1: enrolled"
is "$(listeners "$NS" | tr '\n' ' ')" "[::1]:15001 [::1]:15006 [::1]:15008 " \
	"--listen-address ::1: the listeners are on [::1]"
like "$(cat "$ZT_LOG")" "listener established address=[::1]:15008" "--listen-address ::1: logged as [::1]:15008"
check "--listen-address ::1: nc -z ::1 15001 succeeds" ip netns exec "$NS" nc -z -w 2 ::1 15001
stop_daemon

# Out of fds: pod starts fail with a clear nack, and a connection the daemon
# cannot take is dropped instead of spinning the event loop.
SOCK=$T_DIR/zt5.sock
ZT_LOG=$T_DIR/zt5.log
spawn prlimit --nofile=24:24 "$ZT" --admin-addr none --ready-addr none --metrics-addr none \
	"$SOCK" >"$ZT_LOG" 2>&1
ZT_PID=$LAST_PID
wait_for 5 test -S "$SOCK"
nack=""
for i in $(seq 1 8); do
	mk_netns "fd$i"
	run "$CNI" "$SOCK" "$NS"
	if [[ $RC != 0 ]]; then nack=$ERR; break; fi
done
like "$nack" "Too many open files (os error 24)" "out of fds: the pod start is nacked, naming the cause"
is "$(listener_count "$NS")" 0 "out of fds: the failed pod has no half-made listeners"
# fill the table to the last fd with idle clients, then one more
idle=()
for i in $(seq 1 8); do
	"$TOOL" send --idle --timeout 3 "$SOCK" >/dev/null 2>&1 &
	idle+=($!)
done
ticks() { awk '{ print $14 + $15 }' "/proc/$ZT_PID/stat"; }
sleep 0.5
t0=$(ticks)
sleep 1
t1=$(ticks)
check "out of fds: the event loop does not spin (used $((t1 - t0)) ticks in 1 s)" test $((t1 - t0)) -lt 30
like "$(cat "$ZT_LOG")" "out of file descriptors: dropped a new connection" "out of fds: the drop is logged"
for p in "${idle[@]}"; do wait "$p" || true; done
check "out of fds: the daemon still runs" daemon_alive
stop_daemon
is "$ZT_STATUS" 0 "out of fds: still exits 0 on SIGTERM"

# an HTTP port already taken: one clear line, exit 1, the socket removed and
# everything freed (this exit path leaked the pod table: LeakSanitizer aborted
# the daemon in a sanitize run whenever its stack held no stale copy of it)
SOCK=$T_DIR/busy-a.sock ZT_LOG=$T_DIR/busy-a.log
start_daemon
busy=$(http_port /config_dump)
# shellcheck disable=SC2086
out=$($ZT_WRAPPER "$ZT" --admin-addr "127.0.0.1:$busy" --ready-addr 127.0.0.1:0 \
	--metrics-addr 127.0.0.1:0 "$T_DIR/busy-b.sock" 2>&1) && rc=0 || rc=$?
like "$rc:$out" "1:" "HTTP port taken: exit 1" || diag "$out"
like "$out" "ztunnel-emulator: cannot serve /config_dump on 127.0.0.1:$busy: Address already in use" \
	"HTTP port taken: one line naming the endpoint, the address and the cause"
check "HTTP port taken: the socket it made is removed again" test ! -e "$T_DIR/busy-b.sock"
check "HTTP port taken: the other daemon still serves" daemon_alive
stop_daemon

done_testing
