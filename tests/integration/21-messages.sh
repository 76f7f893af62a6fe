#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Messages that name the cause (issue 17): a mistyped subcommand, SOCKET and
# NETNS swapped, a directory or a regular file as SOCKET are usage errors
# (exit 2) that say what was expected and print the "Try --help" line, and
# nothing reaches the daemon.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

mk_netns pod
start_daemon
touch "$T_DIR/regular"
streams0=$(stream_count)

# usage_error DESC EXPECTED-TEXT ARGS...: cni-emulator ARGS exits 2 with it
usage_error() {
	local desc=$1 want=$2 rc=0 err
	shift 2
	err=$("$CNI" "$@" 2>&1 >/dev/null) || rc=$?
	if [[ $rc == 2 && $err == *"$want"* && $err == *"Try 'cni-emulator --help' for more information."* ]]; then
		ok "messages: $desc"
	else
		not_ok "messages: $desc"
		diag "cni-emulator $*: exit $rc" "$err" "want exit 2, '$want' and the Try line"
	fi
}

usage_error "'delete NETNS' names the unknown subcommand" "unknown subcommand 'delete' (add, del, keep, sync, inspect)" \
	delete "$NS"
usage_error "'NETNS SOCKET' says they are swapped" "'$NS' is a network namespace, not the daemon's socket: SOCKET comes first" \
	"$NS" "$SOCK"
usage_error "'/run/netns/NETNS SOCKET' too" "SOCKET comes first (arguments swapped?)" "/run/netns/$NS" "$SOCK"
usage_error "'del UID SOCKET' too" "SOCKET comes first" del "$NS" "$SOCK"
usage_error "'sync NETNS SOCKET' too" "SOCKET comes first" sync "$NS" "$SOCK"
usage_error "a directory as SOCKET" "SOCKET '$T_DIR' is a directory, not a Unix socket: expected the socket ztunnel-emulator serves ZDS on" \
	"$T_DIR" "$NS"
usage_error "a regular file as SOCKET" "SOCKET '$T_DIR/regular' is a regular file, not a Unix socket" \
	"$T_DIR/regular" "$NS"
usage_error "del with a directory as SOCKET" "is a directory" del "$T_DIR" "$NS"
is "$(stream_count):$(pod_uids)" "$streams0:" \
	"messages: none of these reached the daemon (no connection, no pod)"

# and the right order still works, a missing socket still says so
out=$("$CNI" "$SOCK" "$NS" 2>&1) && rc=0 || rc=$?
like "$rc:$out" "0:" "messages: SOCKET NETNS in the right order still enrols" || diag "$out"
out=$("$CNI" "$T_DIR/none.sock" "$NS" 2>&1) && rc=0 || rc=$?
like "$rc:$out" "1:cni-emulator: connect to $T_DIR/none.sock: No such file or directory (is ztunnel-emulator running?)" \
	"messages: a SOCKET that does not exist is still the connect's error (exit 1)"

done_testing
