#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The reference walk-thru (seeds/001) with assertions: one netns, one daemon,
# one cni-emulator; the three listeners live in the pod netns only.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

mk_netns ns2
start_daemon

is "$(listener_count "$NS")" 0 "no listeners in the pod netns before the handoff"

out=$("$CNI" "$SOCK" "/var/run/netns/$NS" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "cni-emulator SOCKET /var/run/netns/NS exits 0"
is "$out" "listeners ready" "cni-emulator prints 'listeners ready'"

ss_out=$(ip netns exec "$NS" ss -ntlp)
for port in 15008 15006 15001; do
	line=$(grep -F "127.0.0.1:$port " <<<"$ss_out" || true)
	like "$line" "LISTEN" "ss in the pod shows 127.0.0.1:$port LISTEN"
	like "$line" "(\"ztunnel-emulato\",pid=$ZT_PID," "127.0.0.1:$port is owned by ztunnel-emulator (pid $ZT_PID)"
	# Go's net.Listen backlog (somaxconn), as the walk-thru's Send-Q column shows
	like "$line" " 4096 " "127.0.0.1:$port has the walk-thru's backlog 4096"
done
is "$(listener_count "$NS")" 3 "exactly three daemon listeners in the pod netns"
host=$(ss -Htnlp | grep -F "pid=$ZT_PID," | grep -E ':150(08|06|01) ' || true)
is "$host" "" "no pod listener (15008/15006/15001) in the daemon's own netns"

for port in 15008 15006 15001; do
	check "nc -z 127.0.0.1 $port succeeds inside the pod" \
		ip netns exec "$NS" nc -z -w 2 127.0.0.1 "$port"
done
err=$(ip netns exec "$NS" nc -v -z -w 2 127.0.0.1 15002 2>&1) && rc=0 || rc=$?
check "nc -z 127.0.0.1 15002 fails inside the pod" test "$rc" != 0
like "$err" "refused" "15002 is refused, not timed out"

check "scripts/verify.sh passes" quiet "$ZE_ROOT/scripts/verify.sh" "$NS"

log=$(cat "$ZT_LOG")
like "$log" "inpod_enabled: true" "log starts with the inpod config lines"
like "$log" "inpod_uds: $SOCK" "log names the socket"
like "$log" "inpod_port_reuse: true" "port reuse is on by default, as ztunnel's"
check "log lines have ztunnel's timestamp and level format" \
	grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z  INFO ztunnel::inpod::workloadmanager: handling new stream pid=[0-9]+ uid=0 gid=0$' "$ZT_LOG"
like "$log" "INFO ztunnel::inpod::statemanager: pod WorkloadUid(\"$NS\") received netns, starting proxy" \
	"log shows the pod received, with its uid"
for l in 'address=127.0.0.1:15008 component="inbound"' \
	'address=127.0.0.1:15006 component="inbound plaintext"' \
	'address=127.0.0.1:15001 component="outbound"'; do
	like "$log" "listener established $l" "log: listener established $l"
done
inpod=$(grep inpod "$ZT_LOG")
for l in "inpod_enabled: true" "inpod_uds: $SOCK" "handling new stream" "received netns, starting proxy"; do
	like "$inpod" "$l" "grep inpod (the seeds/000 exercise) shows '$l'"
done

check "every daemon thread is back in its own netns" in_own_netns "$ZT_PID"

stop_daemon
is "$ZT_STATUS" 0 "SIGTERM: the daemon exits 0"
check "SIGTERM: the socket is removed" test ! -e "$SOCK"
is "$(ip netns exec "$NS" ss -Htnl | wc -l)" 0 "after exit no listener remains in the pod"
like "$(cat "$ZT_LOG")" "received SIGTERM, shutting down" "the daemon logs its shutdown"

done_testing
