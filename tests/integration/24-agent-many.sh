#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cni-emulator agent with more pods than select() can watch (issue 18: the
# bench's 4,000-pod snapshot): restored from its state file, each pod holds
# its netns fd, so the control socket's listener gets a number past
# FD_SETSIZE (1024). The agent must still start and serve its HTTP API.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

N=1100
CTL=$T_DIR/ctl.sock
STATE=$T_DIR/state.json
AG_LOG=$T_DIR/agent.log

if ! ulimit -Sn $((N + 200)) 2>/dev/null; then
	diag "the open-file hard limit ($(ulimit -Hn)) is below $((N + 200)): $N pods' netns fds do not fit; nothing to check in this mode"
	done_testing
	exit 0
fi

mk_netns many
# N pods in one netns: each restored pod opens the file again (its own fd)
awk -v n="$N" -v ns="/run/netns/$NS" 'BEGIN {
	printf "["
	for (i = 0; i < n; i++)
		printf "%s{\"uid\": \"many-%d\", \"name\": \"many-%d\", \"namespace\": \"default\", \"netns\": \"%s\", \"ips\": []}", (i ? "," : ""), i, i, ns
	print "]" }' >"$STATE"

spawn "$CNI" agent --zds-socket "$T_DIR/zt.sock" --control-socket "$CTL" --state-file "$STATE" >"$AG_LOG" 2>&1
AG_PID=$LAST_PID
check "the agent starts with $N pods restored" wait_for 30 grep -q "node agent listening.* pods=$N" "$AG_LOG" ||
	diag "its log ends:" "$(grep -v 'restored pod' "$AG_LOG" | tail -n 5)"
fds=$(find "/proc/$AG_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
check "it holds more than 1024 fds ($fds): its listener is past FD_SETSIZE" test "$fds" -gt 1024
pods=$(curl -sf --max-time 10 --unix-socket "$CTL" http://agent/pods | jq length 2>/dev/null || echo none)
is "$pods" "$N" "GET /pods on the control socket lists the $N pods"
out=$("$CNI" unenroll --agent "$CTL" many-7 2>&1) && rc=0 || rc=$?
is "$rc $out" "0 pod many-7 removed from the mesh" "unenroll over the control socket"

done_testing
