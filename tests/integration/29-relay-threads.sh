#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The relay threads (--relay-threads), in the ambient lab of 13-relay-limits.sh:
# pod-a enrolled with --redirect, its outbound connections relayed through
# 15001 to an echo server in pod-b. With 0 threads (the main loop) and with 2,
# held connections are relayed and carry data; a Del of pod-a while they are
# open ends every one of them (each logged with error "pod drained"), the daemon keeps
# serving and its fds and active-connection gauge go back to idle. With 2, the
# daemon runs two threads named relay-0 and relay-1. A bad value is a usage
# error.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PROBE=$ZE_ROOT/tests/helpers/tcp-probe
PORT=8080
A4=198.18.0.1 B4=198.18.0.2
N=6

# shellcheck source=tests/held.sh
. "$(dirname "$0")/../held.sh"
relay_threads() { grep -lx 'relay-[0-9]*' /proc/"$ZT_PID"/task/*/comm 2>/dev/null | wc -l; }
# plain NAME: the sum of istio_tcp NAME_total over reporter="source", policy "unknown" (plain
# TCP, hbone.md "Telemetry"), as prometheus_client parses /metrics ("parse error" if it cannot)
plain() {
	metrics | /usr/bin/python3 "$ZE_ROOT/tests/helpers/prom-parse.py" | awk -v n="istio_tcp_$1_total{" '
		/^parse error/ { print; bad = 1; exit }
		$1 == "sample" && index($2, n) == 1 && index($2, "reporter=\"source\"") &&
			index($2, "connection_security_policy=\"unknown\"") { v += $3 }
		END { if (!bad) print v + 0 }'
}

# ---- usage -----------------------------------------------------------------------

out=$("$ZT" --relay-threads 257 "$T_DIR/x.sock" 2>&1) && rc=0 || rc=$?
is "$rc" 2 "--relay-threads 257 is a usage error (exit 2)"
like "$out" "invalid --relay-threads '257': expected 0 to 256" "... saying the range"
like "$("$ZT" --help)" "--relay-threads N" "--help lists --relay-threads"

# ---- two pods, a veth pair, an echo server in pod-b --------------------------------

mk_pod_pair --v4-only
serve_echo "$T_DIR/peers.log"
ambient_caps_daemon

for threads in 0 2; do
	echo "# ---- --relay-threads $threads"
	SOCK=$T_DIR/zt$threads.sock ZT_LOG=$T_DIR/zt$threads.log
	start_daemon --profile ambient --no-hbone-outbound --relay-threads "$threads"
	check "--relay-threads $threads: the daemon runs $threads relay threads" \
		wait_for 10 eval "[[ \$(relay_threads) == $threads ]]"
	idle=$(fd_count "$ZT_PID")
	"$CNI" add --redirect=tproxy "$SOCK" "$A" >/dev/null

	mark_logs
	hold_start "held$threads" -n "$N" -t 20
	wait_for 30 grep -qs '^open=' "$HOLD_OUT" || true
	is "$(grep -m1 '^open=' "$HOLD_OUT" || echo none)" "open=$N reset=0 refused=0 timeout=0 other=0" \
		"--relay-threads $threads: $N connections from pod-a are relayed and echo"
	echo ping >&7
	wait_for 30 grep -qs '^ping ' "$HOLD_OUT" || true
	is "$(grep -m1 '^ping ' "$HOLD_OUT" || echo none)" "ping ok=$N failed=0" \
		"--relay-threads $threads: ... and carry data again"
	is "$(metric ztunnel_emulator_active_connections)" "$N" "--relay-threads $threads: /metrics counts $N active relays"
	is "$(plain connections_opened):$(plain connections_closed)" "$N:0" \
		"--relay-threads $threads: istio_tcp_connections_opened_total{reporter=source, policy unknown} counts them, none closed"

	# Del while they are open: every relay of the pod goes, wherever it runs
	"$CNI" del --netns "$A" "$SOCK" "$A" >/dev/null
	check "--relay-threads $threads: a Del of pod-a ends its $N open relays, each logged as drained" \
		wait_for 15 eval "[[ \$(count_since 'connection complete .* direction=\"outbound\" .* error=\"pod drained\"') == $N ]]"
	echo ping >&7
	wait_for 30 eval "[[ \$(grep -c '^ping ' \"\$HOLD_OUT\") == 2 ]]" || true
	is "$(grep '^ping ' "$HOLD_OUT" | tail -n 1)" "ping ok=0 failed=$N" \
		"--relay-threads $threads: ... and the held connections carry no more data"
	is "$(metric ztunnel_emulator_active_connections)" 0 "--relay-threads $threads: ... and none is counted any more"
	is "$(plain connections_closed)" "$N" "--relay-threads $threads: ... istio_tcp_connections_closed_total counts them closed"
	check "--relay-threads $threads: ... with the bytes each way (istio_tcp_received/sent_bytes_total > 0)" \
		eval '(( $(plain received_bytes) > 0 && $(plain sent_bytes) > 0 ))'
	check "--relay-threads $threads: the daemon's fds return to idle ($idle)" wait_for 15 fds_back_to "$idle"
	fds_back_to "$idle" || diag "fds: $(fd_count "$ZT_PID")" \
		"$(ls -l "/proc/$ZT_PID/fd" | tail -n +2 | sed 's/.* -> //; s/\[[0-9]*\]//' | sort | uniq -c)"
	hold_stop

	# the daemon still serves: enrolled again, a new connection is relayed
	"$CNI" add --redirect=tproxy "$SOCK" "$A" >/dev/null
	out=$(ip netns exec "$A" "$PROBE" connect -t 10 -m "again $threads" "$B4" "$PORT" 2>&1) && rc=0 || rc=$?
	is "$rc:${out%% *}" "0:eof" "--relay-threads $threads: after the Del and a new Add, pod-a's connections are relayed again"
	"$CNI" del --netns "$A" "$SOCK" "$A" >/dev/null
	stop_daemon
	is "$ZT_STATUS" 0 "--relay-threads $threads: the daemon exits 0 on SIGTERM"
done

done_testing
