#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Least privilege and access control: the capabilities kept after start-up,
# the socket's mode, who is served, limits, the host-netns switch, EPERM from
# a user namespace, and (as real root) a setcap'ed daemon run by a plain user.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

in_userns=${ZE_TEST_IN_USERNS:-}
OTHER=65533	# a uid with no account: a stranger to the daemon
run_as() { setpriv --reuid="$1" --regid="$1" --clear-groups -- "${@:2}"; }

start_daemon
# ---- capabilities kept ----------------------------------------------------
status=$(cat "/proc/$ZT_PID/status")
cap() { awk -v k="$1:" '$1 == k { print $2 }' <<<"$status"; }
is "$(cap CapEff)" 0000000000200000 "effective set: CAP_SYS_ADMIN only"
is "$(cap CapPrm)" 0000000000200000 "permitted set: CAP_SYS_ADMIN only"
is "$(cap CapInh):$(cap CapAmb)" 0000000000000000:0000000000000000 "no inheritable, no ambient capabilities"
if [[ -n ${ZE_TEST_SETCAP:-} ]]; then
	# a plain user's daemon lacks CAP_SETPCAP: the bounding set cannot shrink
	is "$(cap CapBnd)" 000001fffeffffff "bounding set unchanged for a plain user"
	bounding="bounding set unchanged: trimming it needs CAP_SETPCAP"
else
	is "$(cap CapBnd)" 0000000000200000 "bounding set trimmed to CAP_SYS_ADMIN"
	bounding="bounding set trimmed to match"
fi
is "$(cap NoNewPrivs)" 1 "no_new_privs is set"
like "$(cat "$ZT_LOG")" "capabilities kept: cap_sys_admin=ep ($bounding; no ambient; no_new_privs)" \
	"the start-up log shows the set kept"
is "$(config_dump | jq -r .emulator.config.capabilities)" "cap_sys_admin=ep" "config_dump shows the set kept"
mk_netns caps
out=$("$CNI" "$SOCK" "$NS" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:listeners ready" "with only CAP_SYS_ADMIN left, pods are still enrolled"

# ---- the socket ----------------------------------------------------------
is "$(stat -c %a "$SOCK")" 600 "the socket is created with mode 0600"
like "$(cat "$ZT_LOG")" "listening on $SOCK (mode 0600)" "the log shows the mode"
stop_daemon

SOCK=$T_DIR/shared.sock
ZT_LOG=$T_DIR/shared.log
# (a user namespace maps only gid 0; a plain user may only pick its own groups)
grp=4321
[[ -z $in_userns ]] || grp=0
[[ -z ${ZE_TEST_SETCAP:-} ]] || grp=$(id -g nobody)
start_daemon --socket-mode 0660 --socket-group "$grp"
is "$(stat -c %a:%g "$SOCK")" "660:$grp" "--socket-mode 0660 --socket-group $grp"
stop_daemon

# ---- limits and the host netns ---------------------------------------------
SOCK=$T_DIR/limits.sock
ZT_LOG=$T_DIR/limits.log
start_daemon --max-pods 1 --max-connections 2 --timeout 5
like "$(cat "$ZT_LOG")" "room for" "the log reports the pod capacity the fd limit allows"
mk_netns lim1
"$CNI" "$SOCK" "$NS" >/dev/null
mk_netns lim2
out=$("$CNI" "$SOCK" "$NS" 2>&1) && rc=0 || rc=$?
is "$rc" 1 "--max-pods 1: a second pod is refused"
like "$out" "failure to start proxy : pod limit reached (1 pods, see --max-pods)" "--max-pods: the nack says why"
is "$(pod_uids)" "$T_PREFIX-lim1 " "--max-pods: the refused pod is not kept pending"
"$TOOL" send --idle --timeout 3 "$SOCK" >/dev/null &
i1=$!
"$TOOL" send --idle --timeout 3 "$SOCK" >/dev/null &
i2=$!
wait_for 3 eval '[[ $(stream_count) -ge 4 ]]'
out=$("$TOOL" send --idle --timeout 2 "$SOCK") || true
like "$out" "ack error: too many connections (2, see --max-connections)" \
	"--max-connections 2: a third connection is told why"
like "$out" "closed after" "--max-connections 2: and closed at once"
like "$(cat "$ZT_LOG")" "too many connections (2, see --max-connections)" "--max-connections: logged"
wait "$i1" "$i2" || true
stop_daemon

# the host netns only with --allow-host-netns (a daemon in its own netns, so the host is untouched)
mk_netns hostns
HN=$NS
spawn ip netns exec "$HN" "$ZT" --allow-host-netns --admin-addr none --ready-addr none \
	--metrics-addr none "$T_DIR/hn.sock" >"$T_DIR/hn.log" 2>&1
hn=$LAST_PID
wait_for 5 test -S "$T_DIR/hn.sock"
out=$("$CNI" "$T_DIR/hn.sock" "$hn" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:listeners ready" "--allow-host-netns: the daemon's own netns is accepted"
is "$(ip netns exec "$HN" ss -Htnl | grep -c ':1500[168] ')" 3 "--allow-host-netns: listeners in the daemon's netns"
kill "$hn"

# ---- EPERM from a user namespace ---------------------------------------------
# libcap reports CAP_SYS_ADMIN inside a user namespace, but the pod's netns
# belongs to the outer one: setns fails with EPERM, and the nack says so.
spawn unshare --user --map-root-user -- "$ZT" --admin-addr none --ready-addr none \
	--metrics-addr none "$T_DIR/userns.sock" >"$T_DIR/userns.log" 2>&1
wait_for 5 test -S "$T_DIR/userns.sock"
mk_netns eperm
out=$("$CNI" "$T_DIR/userns.sock" "$NS" 2>&1) && rc=0 || rc=$?
is "$rc" 1 "a daemon in a user namespace cannot enter an outer netns"
like "$out" "failed to enter the pod network namespace: Operation not permitted (os error 1) (the daemon lacks CAP_SYS_ADMIN over that namespace's owner)" \
	"EPERM from setns is explained"

# ---- who is served (needs uids other than root: real root only) ------------
if [[ -n $in_userns ]]; then
	echo "# (other uids and setcap exist only outside a user namespace: checked in the root run)"
	done_testing
	exit
fi

chmod o+x "$T_DIR"	# other users reach the sockets only through it
SOCK=$T_DIR/peers.sock
ZT_LOG=$T_DIR/peers.log
start_daemon --socket-mode 0666
mk_netns peer
out=$(run_as "$OTHER" "$CNI" "$SOCK" "$NS" 2>&1) && rc=0 || rc=$?
is "$rc" 1 "a uid that is not allowed is refused"
like "$out" "pod \"$NS\": permission denied" "it gets the nack 'permission denied'"
like "$(cat "$ZT_LOG")" "peer pid=" "the refusal is logged with the peer's pid"
like "$(cat "$ZT_LOG")" "uid=$OTHER" "the refusal names the uid"
is "$(listener_count "$NS")" 0 "nothing was enrolled for it"
stop_daemon

SOCK=$T_DIR/allowed.sock
ZT_LOG=$T_DIR/allowed.log
start_daemon --socket-mode 0666 --allow-uid "$OTHER"
out=$(run_as "$OTHER" "$CNI" "$SOCK" "$NS" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:listeners ready" "--allow-uid: that uid is served"
stop_daemon

SOCK=$T_DIR/closed.sock
ZT_LOG=$T_DIR/closed.log
start_daemon
out=$(run_as "$OTHER" "$CNI" "$SOCK" "$NS" 2>&1) && rc=0 || rc=$?
like "$out" "connect to $SOCK: Permission denied" "mode 0600: other users cannot even connect"
stop_daemon

# ---- the walk-thru's step 2: setcap, then a plain user runs the daemon -------
bin=$T_DIR/bin
mkdir -m 755 "$bin"
cp "$ZE_ROOT/ztunnel-emulator/ztunnel-emulator" "$ZE_ROOT/cni-emulator/cni-emulator" "$bin/"
setcap cap_sys_admin+ep "$bin/ztunnel-emulator"
run_dir=$T_DIR/plain
mkdir -m 1777 "$run_dir"	# sticky: a plain user's daemon may make its socket here
# setpriv execs the daemon: the PID recorded is the daemon's
spawn setpriv --reuid="$OTHER" --regid="$OTHER" --clear-groups -- "$bin/ztunnel-emulator" \
	--admin-addr none --ready-addr none --metrics-addr none "$run_dir/zt.sock" >"$run_dir/log" 2>&1
plain=$LAST_PID
check "a plain user starts the setcap'ed daemon" wait_for 5 test -S "$run_dir/zt.sock"
mk_netns plain
out=$(run_as "$OTHER" "$bin/cni-emulator" "$run_dir/zt.sock" "/var/run/netns/$NS" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:listeners ready" "the plain user's cni-emulator hands over a root-made netns"
ss_out=$(ip netns exec "$NS" ss -ntlp)
for port in 15008 15006 15001; do
	like "$ss_out" "127.0.0.1:$port " "the pod has 127.0.0.1:$port"
done
check "scripts/verify.sh passes" quiet "$ZE_ROOT/scripts/verify.sh" "$NS"
like "$(grep Cap "/proc/$plain/status")" "CapEff:	0000000000200000" "the plain user's daemon holds CAP_SYS_ADMIN only"
like "$(cat "$run_dir/log")" "bounding set unchanged: trimming it needs CAP_SETPCAP" \
	"without CAP_SETPCAP the log says the bounding set stays"
kill "$plain"

done_testing
