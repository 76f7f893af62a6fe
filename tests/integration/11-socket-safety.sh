#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The ZDS socket file (faults.md 1, 14, 15): made without following a symlink,
# only in a directory root or the daemon controls, reachable by --socket-group
# whatever the umask, and watched: removed under the daemon, it makes it not
# ready and is re-created.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

in_userns=${ZE_TEST_IN_USERNS:-}
setcap=${ZE_TEST_SETCAP:-}
SHIM=$ZE_ROOT/tests/helpers/sock-race-preload.so
STRANGER=65533	# a uid with no account

# run CMD...: sets ERR and RC (for daemons expected to refuse to start).
run() {
	RC=0
	timeout 10 "$@" >/dev/null 2>"$T_DIR/err" || RC=$?
	ERR=$(cat "$T_DIR/err")
}
# the daemon as the tests run it (setcap mode: as nobody), no HTTP
# shellcheck disable=SC2206
zt=($ZT_WRAPPER "$ZT" --admin-addr none --ready-addr none --metrics-addr none)
# mkdir_daemon DIR [MODE]: a directory the daemon's user owns
mkdir_daemon() {
	mkdir -m "${2:-755}" "$1"
	[[ -z $setcap ]] || chown nobody:nogroup "$1"
}
not_ready_code() { [[ $READY_CODE == 500 ]] || { diag "HTTP $READY_CODE"; false; }; }
# a group the daemon may give its socket, and a uid other than the daemon's
grp=4321 other=$(id -u nobody)
[[ -z $in_userns ]] || grp=0
[[ -z $setcap ]] || { grp=$(id -g nobody) other=$STRANGER; }
[[ -n $setcap ]] || chmod 711 "$T_DIR"	# other users reach the sockets through it

# ---- fault 1: no chmod/chown by path; a symlink swapped in is refused --------
if [[ -n $setcap ]]; then
	diag "fault 1 (LD_PRELOAD race): the setcap'ed daemon ignores LD_PRELOAD (secure execution); checked in the root and --userns runs"
else
	# a sanitizer build's runtime must come first; the shim holds no sanitizer code
	asan_saved=${ASAN_OPTIONS-}
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
	victim=$T_DIR/victim
	echo secret >"$victim"
	chmod 600 "$victim"
	before=$(stat -c %a:%g "$victim")
	mkdir_daemon "$T_DIR/race"
	run env LD_PRELOAD="$SHIM" ZE_SHIM_SWAP="$victim" ZE_SHIM_LOG="$T_DIR/race.log" \
		"$ZT" --admin-addr none --ready-addr none --metrics-addr none --socket-mode 0666 \
		--socket-group "$grp" "$T_DIR/race/zt.sock"
	like "$(cat "$T_DIR/race.log" 2>/dev/null)" "swapped $T_DIR/race/zt.sock" \
		"fault 1: the shim swapped the new socket for a symlink right after bind"
	is "$(stat -c %a:%g "$victim")" "$before" \
		"fault 1: a symlink swapped in after bind: the file it points to keeps its mode and group"
	is "$RC" 1 "fault 1: a socket replaced right after bind: the daemon refuses to start"
	like "$ERR" "$T_DIR/race/zt.sock: replaced right after bind (not our socket any more)" \
		"fault 1: the error names the path and what happened"
	check "fault 1: the attacker's symlink is left alone" test -L "$T_DIR/race/zt.sock"

	# no swap: record what the daemon does to the path after bind
	SOCK=$T_DIR/calls.sock ZT_LOG=$T_DIR/calls.zt.log
	LD_PRELOAD=$SHIM ZE_SHIM_LOG=$T_DIR/calls.log start_daemon --socket-mode 0660 --socket-group "$grp"
	is "$(stat -c %a:%g "$SOCK")" "660:$grp" "fault 1: the socket still gets --socket-mode 0660 and the group"
	calls=$(cat "$T_DIR/calls.log" 2>/dev/null || true)
	like "$calls" "bind $SOCK" "fault 1: the shim saw the daemon's bind"
	bypath=$(grep -E "^(chmod|chown|lchown|fchmodat) |^fchownat '[^']+'" <<<"$calls" || true)
	is "$bypath" "" "fault 1: after bind nothing is chmod'ed or chown'ed by path (only through a pinned fd)"
	stop_daemon
	ASAN_OPTIONS=$asan_saved
	[[ -n $ASAN_OPTIONS ]] || unset ASAN_OPTIONS
fi

# ---- fault 1: the socket's directory ------------------------------------------
mkdir -m 777 "$T_DIR/open"
run "${zt[@]}" "$T_DIR/open/zt.sock"
is "$RC" 1 "fault 1: a world-writable directory without the sticky bit is refused"
like "$ERR" "socket directory $T_DIR/open is world-writable without the sticky bit (mode 0777)" \
	"fault 1: the error names the directory and why"
like "$ERR" "(--insecure-socket-dir to use it anyway)" "fault 1: the error names the override"
check "fault 1: no socket was made in it" test ! -e "$T_DIR/open/zt.sock"

mkdir_daemon "$T_DIR/grp" 775
run "${zt[@]}" "$T_DIR/grp/zt.sock"
like "$RC:$ERR" "1:ztunnel-emulator: socket directory $T_DIR/grp is group-writable" \
	"fault 1: a group-writable directory is refused"

mkdir -m 1777 "$T_DIR/sticky"
SOCK=$T_DIR/sticky/zt.sock ZT_LOG=$T_DIR/sticky.log
start_daemon
check "fault 1: a sticky world-writable directory (as /tmp) is accepted" test -S "$SOCK"
stop_daemon

if [[ -n $in_userns ]]; then
	diag "fault 1 (foreign owner): a user namespace maps no other uid; checked in the root and --setcap runs"
else
	# sticky and world-writable, so a daemon of another user can make its socket there
	mkdir -m 1777 "$T_DIR/foreign"
	chown "$other" "$T_DIR/foreign"
	run "${zt[@]}" "$T_DIR/foreign/zt.sock"
	is "$RC" 1 "fault 1: a directory owned by another uid ($other) is refused"
	like "$ERR" "socket directory $T_DIR/foreign is owned by uid $other, not root or the daemon's uid" \
		"fault 1: the error names the directory and its owner"
	check "fault 1: no socket was made in the foreign directory" test ! -e "$T_DIR/foreign/zt.sock"
	# the override: a loud warning, then it serves
	SOCK=$T_DIR/foreign/zt.sock ZT_LOG=$T_DIR/foreign.log
	start_daemon --insecure-socket-dir
	like "$(cat "$ZT_LOG")" "WARN ztunnel_emulator: socket directory $T_DIR/foreign is owned by uid" \
		"fault 1: --insecure-socket-dir: a warning names the directory"
	check "fault 1: --insecure-socket-dir: the socket is made" test -S "$SOCK"
	stop_daemon
fi

# ---- fault 15: directories made under umask 077 --------------------------------
if [[ -n $in_userns ]]; then
	diag "fault 15: needs a second real user; checked in the root and --setcap runs"
else
	mkdir_daemon "$T_DIR/um"
	SOCK=$T_DIR/um/new/deeper/zt.sock ZT_LOG=$T_DIR/um.log
	old_umask=$(umask)
	umask 077
	start_daemon --socket-mode 0660 --socket-group "$grp" --allow-gid "$grp"
	umask "$old_umask"
	is "$(stat -c %a "$T_DIR/um/new"):$(stat -c %a "$T_DIR/um/new/deeper")" 755:755 \
		"fault 15: under umask 077 the created directories are 0755"
	is "$(stat -c %a:%g "$SOCK")" "660:$grp" "fault 15: the socket is 0660 with group $grp"
	mk_netns um
	out=$(setpriv --reuid="$STRANGER" --regid="$grp" --clear-groups -- "$CNI" "$SOCK" "$NS" 2>&1) &&
		rc=0 || rc=$?
	is "$rc:$out" "0:listeners ready" "fault 15: a member of group $grp (uid $STRANGER) connects and is served"
	stop_daemon
fi

# ---- fault 14: the socket removed under the daemon -------------------------------
mkdir_daemon "$T_DIR/w14"
SOCK=$T_DIR/w14/run/zt.sock ZT_LOG=$T_DIR/w14.log
start_daemon
ready
is "$READY_CODE" 200 "fault 14: ready at first"
# a world-writable parent makes re-creation fail, so the not-ready state holds still
chmod 777 "$T_DIR/w14"
rm -rf "$T_DIR/w14/run"
check "fault 14: the removal is logged as an ERROR with the absolute path" wait_for 5 \
	grep -q "ERROR ztunnel_emulator: ZDS socket $SOCK was removed" "$ZT_LOG"
ready
check "fault 14: readiness answers 500 while the socket is missing" not_ready_code
is "$READY_BODY" $'not ready, pending: workload proxy manager\n' "fault 14: ztunnel's body: the workload proxy manager is pending"
like "$READY_WHY" "ZDS socket $SOCK was removed" "fault 14: readiness says why (X-Emulator-Not-Ready)"
check "fault 14: a failed re-creation says why" wait_for 5 \
	grep -q "cannot re-create the ZDS socket: socket directory $T_DIR/w14 is world-writable" "$ZT_LOG"
chmod 755 "$T_DIR/w14"
check "fault 14: the socket is re-created" wait_for 5 test -S "$SOCK"
like "$(cat "$ZT_LOG")" "re-created the ZDS socket $SOCK" "fault 14: the re-creation is logged"
is "$(stat -c %a "$T_DIR/w14/run")" 755 "fault 14: its directory is re-made 0755"
ready
is "$READY_CODE" 200 "fault 14: ready again after the re-creation"
mk_netns w14
out=$("$CNI" "$SOCK" "$NS" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:listeners ready" "fault 14: an add works through the re-created socket"
stop_daemon
is "$ZT_STATUS" 0 "fault 14: the daemon exits 0 after SIGTERM"

mkdir_daemon "$T_DIR/norec"
SOCK=$T_DIR/norec/run/zt.sock ZT_LOG=$T_DIR/norec.log
start_daemon --no-recreate-socket
rm -rf "$T_DIR/norec/run"
check "fault 14: --no-recreate-socket: the removal is logged" wait_for 5 \
	grep -q "ERROR ztunnel_emulator: ZDS socket $SOCK was removed.*--no-recreate-socket" "$ZT_LOG"
# someone else's file now at the path (the daemon must never remove it)
mkdir_daemon "$T_DIR/norec/run"
echo other >"$SOCK"
sleep 1.5	# more than one check interval: nothing re-creates it
ready
check "fault 14: --no-recreate-socket: stays not ready (500)" not_ready_code
like "$READY_WHY" "ZDS socket $SOCK" "fault 14: --no-recreate-socket: readiness says why"
stop_daemon
is "$(cat "$SOCK" 2>/dev/null)" other "fault 14: another file at the path is not removed at exit"

done_testing
