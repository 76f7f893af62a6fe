#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The walk-thru (make demo) when something else holds the daemon's usual
# HTTP port 15000 (issue 17): it moves to free ports instead of failing, and
# ZE_*_ADDR moves them on request. Run inside a network namespace of the
# test's own, so that the held 15000 is not the host's.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

mk_netns host
host=$NS
hold_port "$host" 15000
export ZE_LAB_STATE=$T_DIR/state
ns="$T_PREFIX-demo"
_netns+=("$ns")

# walk ENV...: walkthru.sh in $host with ENV; sets RC, OUT
walk() {
	RC=0
	OUT=$(env "$@" ip netns exec "$host" "$ZE_ROOT/scripts/walkthru.sh" --netns "$ns" \
		--socket "$T_DIR/demo.sock" </dev/null 2>&1) || RC=$?
}

walk ZE_WALK=1
is "$RC" 0 "demo: the walk-thru passes while another process holds 127.0.0.1:15000" ||
	diag "$(tail -n 25 <<<"$OUT")"
like "$OUT" "A port of the HTTP endpoints is taken: the daemon picks free ones" \
	"demo: it says why it moved the ports"
like "$OUT" "ztunnel-emulator --admin-addr 127.0.0.1:0 " "demo: the daemon gets a free admin port"
unlike "$OUT" "--ready-addr" "demo: ports that are free stay where they were"

walk ZE_READY_ADDR=127.0.0.1:0
is "$RC" 0 "demo: ZE_READY_ADDR moves /healthz/ready" || diag "$(tail -n 25 <<<"$OUT")"
like "$OUT" "--admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0 " "demo: ... as the daemon's command line shows"
check "demo: nothing left (netns, socket, state)" \
	eval "! ip netns list | grep -q '^$ns\\b' && test ! -e '$T_DIR/demo.sock' -a ! -e '$ZE_LAB_STATE'"

done_testing
