#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every bad input of the handoff issue: each gets a clear error naming the
# cause, the daemon keeps serving, and its fd count does not grow.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

# Golden ZDS bytes (shared/reference/zds.md).
ADD_U=0a0e0a017512090a016e1201641a0173
DEL_U=1203120175

is "$(zds_add_hex u n d s)" "$ADD_U" "the tests' ZDS encoder matches the golden Add bytes"
is "$(zds_del_hex u)" "$DEL_U" "the tests' ZDS encoder matches the golden Del bytes"
is "$(zds_keep_hex u)" 2a030a0175 "the tests' ZDS encoder matches the golden Keep bytes"

mk_netns pod
POD=$NS
start_daemon --timeout 1
base=$(fd_count "$ZT_PID")

# serves: a new client gets the hello (and the daemon drops it after --timeout).
serves() { [[ $("$TOOL" send --idle --timeout 0.3 "$SOCK") == "hello 0801"$'\n'"open after"* ]]; }

# after CASE: the daemon serves, is in its own netns, and holds $base fds again.
after() {
	check "$1: the daemon is still running" daemon_alive
	check "$1: the daemon still serves new clients" serves
	check "$1: the daemon's fd count is back to $base" wait_for 3 fds_back_to "$base"
	check "$1: the daemon is in its own netns" in_own_netns "$ZT_PID"
}

# cni_fails CASE NETNS WANT: cni-emulator exits 1 naming WANT, never reaching the daemon.
cni_fails() {
	local streams out rc
	streams=$(stream_count)
	out=$("$CNI" "$SOCK" "$2" 2>&1) && rc=0 || rc=$?
	is "$rc" 1 "$1: cni-emulator exits 1"
	like "$out" "$3" "$1: the error names the cause"
	is "$(stream_count)" "$streams" "$1: the bad netns never reached the daemon"
}

cni_fails "missing netns path" /run/netns/no-such-ns \
	"/run/netns/no-such-ns: No such file or directory"
touch "$T_DIR/regular"
cni_fails "regular file as NETNS" "$T_DIR/regular" "$T_DIR/regular: not a namespace file"
cni_fails "directory as NETNS" "$T_DIR" "$T_DIR: not a namespace file"
cni_fails "/proc/self/ns/uts as NETNS" /proc/self/ns/uts \
	"/proc/self/ns/uts: is a uts namespace, not a network namespace"
after "bad NETNS"

out=$("$CNI" "$SOCK" "$ZT_PID" 2>&1) && rc=0 || rc=$?
is "$rc" 1 "host netns: cni-emulator exits 1"
like "$out" "failure to start proxy : refusing to enroll the host network namespace" \
	"host netns: the daemon refuses it (istio#55139)"
after "host netns"

out=$("$CNI" "$T_DIR/no-daemon.sock" "$POD" 2>&1) && rc=0 || rc=$?
is "$rc" 1 "no daemon: cni-emulator exits 1"
like "$out" "connect to $T_DIR/no-daemon.sock: No such file or directory (is ztunnel-emulator running?)" \
	"no daemon: the error names the socket"

# raw CASE WANT_ACK WANT_AFTER TOOL_ARGS...: a hand-made message and its answer.
raw() {
	local desc=$1 want=$2 then=$3 out
	shift 3
	out=$("$TOOL" send "$@" "$SOCK" 2>&1)
	like "$out" "hello 0801" "$desc: the daemon says ZdsHello{V1} first"
	like "$out" "$want" "$desc: $want"
	like "$out" "$then" "$desc: connection $then"
	after "$desc"
}

raw "add without fd" "ack error: failure to read message : No control message" closed \
	--hex "$ADD_U"
raw "add with two fds" "ack error: failure to read message : Expected 1 FD, got 2" closed \
	--hex "$ADD_U" --fd "/run/netns/$POD" --fd "/run/netns/$POD"
raw "add with a regular file fd" \
	"ack error: failure to read message : the fd is not a namespace file" closed \
	--hex "$ADD_U" --fd "$T_DIR/regular"
raw "add with a uts namespace fd" \
	"ack error: failure to read message : the fd is a uts namespace, not a network namespace" closed \
	--hex "$ADD_U" --fd /proc/self/ns/uts
raw "add with the host netns fd" \
	"ack error: failure to start proxy : refusing to enroll the host network namespace" open \
	--hex "$ADD_U" --fd /proc/self/ns/net
raw "garbage" "ack error: failure to read message : failed to decode message: " closed \
	--hex ffffffffff
raw "truncated add" \
	"ack error: failure to read message : failed to decode message: length-delimited field exceeds the message" \
	closed --hex "${ADD_U:0:24}" --fd "/run/netns/$POD"
raw "empty datagram (reads as end of stream)" "no ack: closed" closed --empty
raw "oversized (1500 bytes)" \
	"ack error: failure to read message : message truncated: longer than 1024 bytes" closed \
	--size 1500 --fd "/run/netns/$POD"
raw "unknown request type (field 9)" \
	"ack error: failure to read message : unknown or missing request payload" closed --hex 4a00
raw "del carrying an fd" "ack error: failure to read message : Unexpected control message" closed \
	--hex "$DEL_U" --fd "/run/netns/$POD"
raw "add without workload_info" \
	"ack error: failure to process message : ProtocolError(\"workload_info is required but not present\")" closed \
	--hex 0a030a0175 --fd "/run/netns/$POD"
is "$(listener_count "$POD")" 0 "no bad request left a listener in the pod"

out=$("$TOOL" send --idle --timeout 5 "$SOCK")
secs=$(sed -n 's/^closed after \([0-9.]*\)s$/\1/p' <<<"$out")
check "silent client: closed by the daemon (--timeout 1)" test -n "$secs"
check "silent client: closed after about 1 s (${secs:-none})" \
	awk -v s="${secs:-99}" 'BEGIN { exit !(s >= 0.8 && s < 3.5) }'
like "$(cat "$ZT_LOG")" "no request within 1s of the hello" "silent client: the log says why"
after "silent client"

# A port already bound in the pod (without SO_REUSEPORT) fails the whole pod.
check "a pod process holds 127.0.0.1:15006" hold_port "$POD" 15006
out=$("$CNI" "$SOCK" "$POD" 2>&1) && rc=0 || rc=$?
is "$rc" 1 "port in use: cni-emulator exits 1"
like "$out" "failure to start proxy : failed to bind to address 127.0.0.1:15006: Address already in use" \
	"port in use: the nack names the address and the cause"
is "$(listener_count "$POD")" 0 "port in use: rolled back, no half-made listeners (15008 closed too)"
# the pod stays pending (retried later), holding only its netns fd
check "port in use: the pending pod holds just its netns fd" wait_for 3 fds_back_to $((base + 1))
check "port in use: the daemon still serves new clients" serves
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || true

out=$("$CNI" "$SOCK" "$POD" 2>&1) && rc=0 || rc=$?
is "$out" "listeners ready" "after all that, the same daemon enrolls the pod"
is "$(listener_count "$POD")" 3 "and the pod has its three listeners"

done_testing
