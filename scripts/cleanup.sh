#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# cleanup.sh - undo what netns-setup.sh and walkthru.sh recorded in the state
# dir: stop the daemon (by its recorded PID only), delete the recorded network
# namespaces and the daemon's socket, remove the state dir. Safe to run twice.
set -euo pipefail

PROG=${0##*/}
# die, start_time:
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/lib.sh"
STATE=${ZE_LAB_STATE:-/run/ztunnel-emulator-lab}
NETNS_DIR=/var/run/netns
DAEMON=ztunnel-emulator
TERM_WAIT=50 # tenths of a second to wait after SIGTERM before SIGKILL
KILL_WAIT=20 # tenths of a second to wait after SIGKILL

usage() {
	cat <<EOF
Usage: $PROG [-q|--quiet]

Removes what the lab scripts recorded in the state dir
$STATE (\${ZE_LAB_STATE:-/run/ztunnel-emulator-lab}):
  daemon.pid  the $DAEMON walkthru.sh started: sent SIGTERM
              (SIGKILL after $((TERM_WAIT / 10)) s) if /proc/PID/cmdline shows it
              really is $DAEMON
  netns       the network namespaces netns-setup.sh created: ip netns delete
  socket      the daemon's Unix socket: removed if it is still there and is
              a socket
  dirs        directories created for that socket: removed if empty
then the state dir itself. Nothing that was not recorded is touched: no
process is looked up by name, no other namespace or file is removed.
Running it again, or with nothing recorded, is harmless.

Options:
  -q, --quiet   print only problems
  -h, --help    show this help and exit

Must be run as root. Exit status: 0 when everything recorded is gone,
1 otherwise, 2 on a usage error.
EOF
}

quiet=0
while (($#)); do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	-q | --quiet) quiet=1 ;;
	*)
		printf '%s: unknown argument: %s (try --help)\n' "$PROG" "$1" >&2
		exit 2
		;;
	esac
	shift
done

((EUID == 0)) || die "must be run as root (try: sudo $0)"

say() { ((quiet)) || printf '%s\n' "$*"; }
warn() { printf '%s: %s\n' "$PROG" "$*" >&2; }

if [[ ! -d $STATE ]]; then
	say "# nothing to clean up ($STATE does not exist)"
	exit 0
fi

failed=0

# Is PID our daemon: alive (not a zombie), argv[0] is ztunnel-emulator and,
# when recorded, it started when the recorded one did?
is_our_daemon() {
	local pid=$1 want_start=$2 argv0 stat state
	argv0=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | head -n 1) || return 1
	[[ ${argv0##*/} == "$DAEMON" ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	state=${stat%% *}
	[[ $state != Z && $state != X ]] || return 1
	[[ -z $want_start || $(start_time "$pid") == "$want_start" ]]
}

# Wait up to $2 tenths of a second for the daemon to be gone.
wait_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		is_our_daemon "$1" "$3" || return 0
		sleep 0.1
	done
	! is_our_daemon "$1" "$3"
}

# 1. The daemon, by recorded PID only.
if [[ -f $STATE/daemon.pid ]]; then
	pid=$(head -n 1 "$STATE/daemon.pid")
	want_start=
	[[ -f $STATE/daemon.start ]] && want_start=$(head -n 1 "$STATE/daemon.start")
	if [[ ! $pid =~ ^[1-9][0-9]*$ ]]; then
		warn "ignoring $STATE/daemon.pid: '$pid' is not a PID"
	elif ! is_our_daemon "$pid" "$want_start"; then
		say "# $DAEMON PID $pid has already exited: nothing to stop"
	else
		say "+ kill -TERM $pid   # $DAEMON"
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_gone "$pid" "$TERM_WAIT" "$want_start"; then
			warn "$DAEMON (PID $pid) still running $((TERM_WAIT / 10)) s after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			if ! wait_gone "$pid" "$KILL_WAIT" "$want_start"; then
				warn "$DAEMON (PID $pid) survived SIGKILL"
				failed=1
			fi
		fi
	fi
	((failed)) || rm -f -- "$STATE/daemon.pid" "$STATE/daemon.start"
fi

# 2. The network namespaces netns-setup.sh created.
if [[ -f $STATE/netns ]]; then
	left=()
	while IFS= read -r name; do
		[[ -n $name ]] || continue
		if [[ $name == */* || $name == . || $name == .. ]]; then
			warn "ignoring odd netns name in $STATE/netns: '$name'"
		elif [[ -e $NETNS_DIR/$name ]]; then
			say "+ ip netns delete $name"
			if ! ip netns delete "$name"; then
				warn "could not delete netns '$name'"
				left+=("$name")
				failed=1
			fi
		else
			say "# netns $name is already gone"
		fi
	done <"$STATE/netns"
	if ((${#left[@]})); then
		printf '%s\n' "${left[@]}" >"$STATE/netns"
	else
		rm -f -- "$STATE/netns"
	fi
fi

# 3. The daemon's socket (it removes it itself on SIGTERM; not after SIGKILL).
if [[ -f $STATE/socket ]]; then
	sock=$(head -n 1 "$STATE/socket")
	if [[ -n $sock && -S $sock ]]; then
		if ((failed)); then
			warn "leaving $sock: the daemon may still be using it"
		else
			say "+ rm $sock"
			rm -f -- "$sock" || failed=1
		fi
	elif [[ -n $sock && (-e $sock || -L $sock) ]]; then
		warn "leaving $sock alone: it is no longer a socket"
	fi
	((failed)) || rm -f -- "$STATE/socket"
fi

# 4. Directories the daemon created for its socket (deepest first; only if
#    empty: rmdir never removes anything else).
if [[ -f $STATE/dirs ]]; then
	if ((failed)); then
		warn "leaving the socket's directories: the daemon may still be using them"
	else
		while IFS= read -r dir; do
			[[ $dir == /?* ]] || continue
			if [[ -d $dir && ! -L $dir ]]; then
				say "+ rmdir $dir"
				rmdir -- "$dir" 2>/dev/null || warn "left $dir: it is not empty"
			fi
		done <"$STATE/dirs"
		rm -f -- "$STATE/dirs"
	fi
fi

# 5. The state dir: only the files the lab scripts write, then the dir itself.
if ((failed)); then
	warn "some things could not be removed; their records stay in $STATE (run $PROG again)"
	exit 1
fi
rm -f -- "$STATE/daemon.log" "$STATE/walkthru.pid"
if ! rmdir -- "$STATE" 2>/dev/null; then
	warn "left $STATE: it holds files the lab scripts did not write"
	exit 1
fi
say "# cleanup done"
