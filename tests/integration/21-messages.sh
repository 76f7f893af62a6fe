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

# -n is a netns in iproute2 and nsenter: it is not --name here
usage_error "-n is not short for --name" "invalid option -- 'n'" -n web "$SOCK" "$NS"
out=$("$CNI" --name web "$T_DIR/none.sock" "$NS" 2>&1) && rc=0 || rc=$?
like "$rc:$out" "1:cni-emulator: connect to" "messages: --name still works (the connect is what fails here)"

# sync --all --match GLOB --dry-run: only our netns, nothing sent or changed
mk_netns pod2
out=$("$CNI" sync --all --match "$T_PREFIX-*" --dry-run "$SOCK" 2>&1) && rc=0 || rc=$?
is "$rc:$(grep -c '^would add ' <<<"$out")" "0:2" "messages: sync --all --match GLOB --dry-run lists the 2 matching netns"
like "$out" "would add \"$T_PREFIX-pod2\" ($T_PREFIX-pod2)" "messages: ... by uid and netns"
like "$out" "sync: dry run, nothing sent or changed" "messages: ... and says nothing was sent"
is "$(stream_count):$(pod_uids)" "$streams0:" "messages: --dry-run never connected (no stream, no pod)"
out=$("$CNI" sync --all --match "$T_PREFIX-nothing*" "$SOCK" 2>&1) && rc=0 || rc=$?
like "$rc:$out" "1:cni-emulator: --match '$T_PREFIX-nothing*' matches no usable network namespace" \
	"messages: a --match that matches nothing sends no snapshot that would drain every pod"
is "$(stream_count)" "$streams0" "messages: ... nothing reached the daemon"
usage_error "--match without --all" "--match needs --all" sync --match "$T_PREFIX-*" "$SOCK"
usage_error "--dry-run is for sync only" "--dry-run is not valid with 'add' (it is for sync)" \
	--dry-run "$SOCK" "$NS"

# and the right order still works, a missing socket still says so
out=$("$CNI" "$SOCK" "$NS" 2>&1) && rc=0 || rc=$?
like "$rc:$out" "0:" "messages: SOCKET NETNS in the right order still enrols" || diag "$out"
out=$("$CNI" "$T_DIR/none.sock" "$NS" 2>&1) && rc=0 || rc=$?
like "$rc:$out" "1:cni-emulator: connect to $T_DIR/none.sock: No such file or directory (is ztunnel-emulator running?)" \
	"messages: a SOCKET that does not exist is still the connect's error (exit 1)"

done_testing
