#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cni-emulator agent's state file and its journal (issue 18): each enrol and
# un-enrol is one line appended to STATE.journal before it is answered (not
# a rewrite of the whole file), so an agent killed with SIGKILL comes back
# with every answered change, in enrolment order; a torn last line is
# ignored; the journal is folded into the state file when it grows past
# twice the table, and at a clean stop. No ztunnel is needed: a pod no
# ztunnel took stays enrolled.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

CTL=$T_DIR/ctl.sock
STATE=$T_DIR/state.json
JOURNAL=$STATE.journal
AG_LOG=$T_DIR/agent.log
touch "$AG_LOG"

start_agent() { agent_start "$T_DIR/zt.sock"; }
# enroll UID NETNS: through the control socket (exit 1 without a ztunnel; the pod stays)
enroll() { "$CNI" enroll --agent "$CTL" --uid "$1" --name "$1" "$2" >/dev/null 2>&1 || true; }
unenroll() { "$CNI" unenroll --agent "$CTL" "$1" 2>&1; }
uids() { curl -s --max-time 10 --unix-socket "$CTL" http://agent/pods | jq -r '[.[].uid] | join(" ")'; }
lines() { if [[ -e $1 ]]; then wc -l <"$1"; else echo 0; fi; }

mk_netns a
NA=$NS
mk_netns b
NB=$NS

start_agent
enroll pod-1 "$NA"
enroll pod-2 "$NB"
enroll pod-3 "$NA"
is "$(uids)" "pod-1 pod-2 pod-3" "three pods enrolled"
is "$(lines "$JOURNAL")" 3 "each enrolment is one journal line"
check "the state file is not rewritten for each change" test ! -e "$STATE"
is "$(unenroll pod-2)" "pod pod-2 removed from the mesh" "unenroll pod-2"
enroll pod-1 "$NB"
is "$(lines "$JOURNAL")" 5 "the un-enrolment and a re-enrolment: two more lines"
is "$(jq -r 'keys[0]' "$JOURNAL" | tr '\n' ' ')" "pod pod pod gone pod " \
	"journal lines: {\"pod\": ...} and {\"gone\": uid}"

# ---- a crash: SIGKILL, then a restart from the journal ---------------------------
kill -KILL "$AG_PID"
wait "$AG_PID" 2>/dev/null || true
rm -f "$CTL" "$T_DIR/zt.sock"
start_agent
is "$(uids)" "pod-1 pod-3" "after SIGKILL: every answered change is back, in enrolment order"
is "$(curl -s --unix-socket "$CTL" http://agent/pods | jq -r '.[] | select(.uid == "pod-1") | .netns')" \
	"/run/netns/$NB" "after SIGKILL: the re-enrolment's netns"

# ---- a torn last line (a crash in the middle of a write) is ignored ------------
kill -KILL "$AG_PID"
wait "$AG_PID" 2>/dev/null || true
rm -f "$CTL" "$T_DIR/zt.sock"
printf '{"gone": "pod-' >>"$JOURNAL"
start_agent
is "$(uids)" "pod-1 pod-3" "a torn last journal line: ignored, the rest restored"
enroll pod-4 "$NB"
kill -KILL "$AG_PID"
wait "$AG_PID" 2>/dev/null || true
rm -f "$CTL" "$T_DIR/zt.sock"
start_agent
is "$(uids)" "pod-1 pod-3 pod-4" "a change after the torn line: restored too (the torn part was cut)"
is "$(unenroll pod-4)" "pod pod-4 removed from the mesh" "unenroll pod-4"

# ---- a clean stop folds the journal into the state file -----------------------
kill -TERM "$AG_PID"
wait "$AG_PID" 2>/dev/null || true
check "SIGTERM: the journal is gone" test ! -e "$JOURNAL"
is "$(jq -r '[.[].uid] | join(" ")' "$STATE")" "pod-1 pod-3" "SIGTERM: the state file lists the pods"

# ---- the journal stays within twice the table (+ 64 lines) ----------------------
start_agent
for ((i = 0; i < 40; i++)); do
	printf 'unix-socket = "%s"\nurl = "http://agent/enroll"\ndata = "{\\"netns\\": \\"%s\\", \\"uid\\": \\"c-%d\\"}"\noutput = "/dev/null"\nnext\n' "$CTL" "$NA" "$i"
	printf 'unix-socket = "%s"\nurl = "http://agent/unenroll"\ndata = "{\\"pod\\": \\"c-%d\\"}"\noutput = "/dev/null"\n%s\n' "$CTL" "$i" "$( ((i < 39)) && echo next)"
done >"$T_DIR/churn.curl"
curl -s --max-time 60 -K "$T_DIR/churn.curl" || true
is "$(uids)" "pod-1 pod-3" "80 enrol/un-enrol requests: the table is back to its two pods"
n=$(lines "$JOURNAL")
check "the journal was folded into the state file on the way ($n lines <= 2 x 2 + 64)" test "$n" -le 68
kill -KILL "$AG_PID"
wait "$AG_PID" 2>/dev/null || true
rm -f "$CTL" "$T_DIR/zt.sock"
start_agent
is "$(uids)" "pod-1 pod-3" "after SIGKILL: the folded file and the journal give the same table"
kill -TERM "$AG_PID"
wait "$AG_PID" 2>/dev/null || true

done_testing
