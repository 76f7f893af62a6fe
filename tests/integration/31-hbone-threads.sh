#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HBONE on the relay threads: pod-a and pod-b both enrolled, pod-a's
# connections to pod-b go over HBONE (15001 -> mutual TLS HTTP/2 -> pod-b's
# 15008), an echo server in pod-b. With --relay-threads 2 the inbound end
# (the connection accepted on 15008, its stream and upstream socket) of a
# busy connection runs on a relay thread: their CPU time grows during a
# transfer, as the main thread's does (it runs the outbound end), and every
# thread is back in the daemon's own netns after the upstream connects;
# short connections stay on the main loop, the relay threads idle. With 0
# all stays on the main loop. In both: a Del of pod-b in the middle of an endless transfer
# ends the stream (pod-a's client sees the end at once, the inbound access
# line says "pod drained"), the daemon keeps serving (HBONE again after a new
# Add) and its fds go back to idle.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PROBE=$ZE_ROOT/tests/helpers/tcp-probe
PORT=8080
A4=198.18.0.1 B4=198.18.0.2
BIG_MIB=32

# cpu NAME-REGEX: utime + stime (clock ticks) of the daemon's threads whose name matches
cpu() {
	local t s sum=0 rest
	for t in /proc/"$ZT_PID"/task/*; do
		[[ $(cat "$t/comm" 2>/dev/null) =~ ^($1)$ ]] || continue
		s=$(cat "$t/stat" 2>/dev/null) || continue
		rest=${s##*) }
		read -ra f <<<"$rest"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}
# oncpu NAME-REGEX: ns on a CPU (schedstat) of the daemon's threads whose name matches
oncpu() {
	local t sum=0 ns
	for t in /proc/"$ZT_PID"/task/*; do
		[[ $(cat "$t/comm" 2>/dev/null) =~ ^($1)$ ]] || continue
		read -r ns _ <"$t/schedstat" 2>/dev/null || continue
		sum=$((sum + ns))
	done
	echo "$sum"
}
relay_threads() { grep -lx 'relay-[0-9]*' /proc/"$ZT_PID"/task/*/comm 2>/dev/null | wc -l; }
enroll() { "$CNI" add --redirect=tproxy --namespace "$2" --service-account "$3" "$SOCK" "$1" >/dev/null; }

mk_pod_pair --v4-only
serve_echo "$T_DIR/peers.log"
TCPBENCH=$T_DIR/tcpbench
check "tests/bench/tcpbench.c builds (a one-way sink for bulk streams)" \
	cc -O2 -o "$TCPBENCH" "$ZE_ROOT/tests/bench/tcpbench.c"
spawn ip netns exec "$B" "$TCPBENCH" sink 0.0.0.0 5001 5002 >"$T_DIR/sink.log"
check "the sink listens in pod-b" wait_for 10 grep -q ready "$T_DIR/sink.log"
# more addresses of pod-b (known to the daemon from its Add): each a pool entry, a new HBONE connection
for k in 1 2 3; do ip -n "$B" addr add "198.18.0.$((10 + k))/24" dev eth0; done
ambient_caps_daemon
head -c $((BIG_MIB * 1048576)) /dev/urandom >"$T_DIR/big"

for threads in 2 0; do
	echo "# ---- --relay-threads $threads"
	SOCK=$T_DIR/zt$threads.sock ZT_LOG=$T_DIR/zt$threads.log
	start_daemon --profile ambient --relay-threads "$threads"
	check "--relay-threads $threads: the daemon runs $threads relay threads" \
		wait_for 10 eval "[[ \$(relay_threads) == $threads ]]"
	wait_for 10 fds_settled || true
	idle=$(fd_count "$ZT_PID")
	enroll "$B" shop cart
	enroll "$A" web front

	# a transfer over HBONE: which threads did the work
	mark_logs
	main0=$(cpu 'ztunnel-emulato') relay0=$(cpu 'relay-[0-9]+')
	out=$(ip netns exec "$A" "$PROBE" connect -t 60 -i "$T_DIR/big" "$B4" "$PORT" 2>&1) && rc=0 || rc=$?
	main1=$(cpu 'ztunnel-emulato') relay1=$(cpu 'relay-[0-9]+')
	is "$rc:${out%% local=*}" "0:eof sent=$((BIG_MIB * 1048576)) recv=$((BIG_MIB * 1048576))" \
		"--relay-threads $threads: $BIG_MIB MiB out and back from pod-a to pod-b"
	check "--relay-threads $threads: ... over HBONE (the outbound access line names $B4:15008)" wait_for 10 log_has \
		"connection complete src\.addr=$A4:[0-9]+ .*dst\.addr=$B4:15008 dst\.hbone_addr=$B4:$PORT .*direction=\"outbound\""
	dm=$((main1 - main0)) dr=$((relay1 - relay0))
	echo "# CPU during the transfer (clock ticks): main thread $dm, relay threads $dr"
	if ((threads)); then
		# the inbound end's TLS, HTTP/2 and upstream socket: about as much work as the outbound end's
		check "--relay-threads $threads: the relay threads ran the inbound end ($dr ticks beside the main thread's $dm)" \
			eval "(( dr >= 3 && 4 * dr >= dm ))"
	fi
	check "--relay-threads $threads: every thread is back in the daemon's own netns" in_own_netns "$ZT_PID"

	# short connections (another address of pod-b: a pool entry of their own) stay on the
	# main loop, beside their client end: the relay threads take a connection once it is busy
	# (each one's inbound end on a thread cost it 0.1-0.3 ms of CPU: 2-6 ms for the 20)
	r0=$(oncpu 'relay-[0-9]+') ok=0
	for k in $(seq 20); do
		out=$(ip netns exec "$A" "$PROBE" connect -t 10 -m "short $k" 198.18.0.11 "$PORT" 2>&1) &&
			[[ $out == eof* ]] && ok=$((ok + 1))
	done
	r1=$(oncpu 'relay-[0-9]+')
	is "$ok" 20 "--relay-threads $threads: 20 short connections to 198.18.0.11 echoed"
	check "--relay-threads $threads: ... over HBONE" wait_for 10 log_has \
		"connection complete .*dst\.addr=198\.18\.0\.11:15008 .*direction=\"inbound\""
	check "--relay-threads $threads: ... on the main loop: the relay threads stayed idle ($(((r1 - r0) / 1000)) us on a CPU)" \
		eval "(( r1 - r0 < 500000 ))"

	# one-way bulk streams, each on a new HBONE connection (another address of pod-b): the
	# outbound end once left a DATA frame waiting in nghttp2 after a partly written c->out
	# until the next event, which was the keepalive PING 10 s later (about every second run)
	stalls=0
	for k in 1 2 3; do
		out=$(ip netns exec "$A" "$TCPBENCH" stream --bytes $((64 * 1048576)) --rounds 1 \
			"s$k,-,198.18.0.$((10 + k)),5001" 2>&1)
		secs=$(awk '$1 == "stream" && $5 == "bytes" { print $8 }' <<<"$out")
		# a normal run is well under a second; the stall was the PING's 10 s
		[[ -n $secs ]] && awk -v s="$secs" 'BEGIN { exit !(s < 9) }' || stalls=$((stalls + 1))
		echo "# bulk stream $k: ${secs:-failed} s"
	done
	is "$stalls" 0 "--relay-threads $threads: 3 bulk streams on new HBONE connections, none waits for the PING"

	# an endless transfer; pod-b's Del in the middle of it
	mark_logs
	spawn ip netns exec "$A" "$PROBE" connect -t 60 -i /dev/zero "$B4" "$PORT" >"$T_DIR/endless$threads.out" 2>&1
	endless=$LAST_PID
	wait_for 20 eval "(( \$(cpu 'ztunnel-emulato|relay-[0-9]+') > $((main1 + relay1 + 20)) ))" || true
	check "--relay-threads $threads: the endless transfer is running" kill -0 "$endless"
	"$CNI" del --netns "$B" "$SOCK" "$B" >/dev/null
	check "--relay-threads $threads: pod-b's Del ends the stream: pod-a's client sees the end" \
		wait_for 15 eval "! kill -0 $endless 2>/dev/null"
	wait "$endless" 2>/dev/null || true
	end=$(cat "$T_DIR/endless$threads.out")
	check "--relay-threads $threads: ... as a reset or an end, not a timeout (${end%% local=*})" \
		eval '[[ $end =~ ^(reset|eof|error) ]]'
	check "--relay-threads $threads: ... and the inbound access line says \"pod drained\"" wait_for 10 log_has \
		"connection complete .*dst\.addr=$B4:15008 .*direction=\"inbound\" .*error=\"pod drained\"" ||
		diag "$(log_since | grep 'connection complete' | tail -n 3)"
	check "--relay-threads $threads: the daemon is alive" daemon_alive

	# it keeps serving: pod-b enrolled again, HBONE again
	enroll "$B" shop cart
	mark_logs
	out=$(ip netns exec "$A" "$PROBE" connect -t 10 -m "again $threads" "$B4" "$PORT" 2>&1) && rc=0 || rc=$?
	is "$rc:${out%% *}" "0:eof" "--relay-threads $threads: after a new Add of pod-b, pod-a reaches it again"
	check "--relay-threads $threads: ... over HBONE" wait_for 10 log_has \
		"connection complete .*dst\.addr=$B4:15008 .*direction=\"outbound\""
	"$CNI" del --netns "$A" "$SOCK" "$A" >/dev/null
	"$CNI" del --netns "$B" "$SOCK" "$B" >/dev/null
	check "--relay-threads $threads: after both Dels the daemon's fds return to idle ($idle)" wait_for 15 fds_back_to "$idle"
	fds_back_to "$idle" || diag "fds: $(fd_count "$ZT_PID")" \
		"$(ls -l "/proc/$ZT_PID/fd" | tail -n +2 | sed 's/.* -> //; s/\[[0-9]*\]//' | sort | uniq -c)"
	stop_daemon
	is "$ZT_STATUS" 0 "--relay-threads $threads: the daemon exits 0 on SIGTERM"
done

done_testing
