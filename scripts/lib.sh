# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# lib.sh - the helpers the lab scripts (and the bench) share: their
# messages (die, usage_error, warn), process lookups (start_time, children),
# their colours and the echo-before-run narration (cmdline, show, say).
# Sourced, not run: it sets no shell options of its own; the script sets
# PROG, the name its messages start with.

# Set by `make install` to the BINDIR it installed the programs to; empty in
# the source tree (the line is rewritten at install time, keep its form).
ZE_INSTALLED_BINDIR=

# ze_bin NAME: the path of program NAME (ztunnel-emulator or cni-emulator):
# the source tree's build when the script runs from one ($ROOT/NAME/NAME),
# else the installed one (the BINDIR `make install` recorded, then the bin/
# next to the script's share/ztunnel-emulator/scripts/, then $PATH). Needs
# ROOT and SCRIPTS. Prints the source tree's path when none is found, so
# that "build first" messages name it.
ze_bin() {
	local d
	if [[ -f $ROOT/Makefile && -d $ROOT/$1 ]]; then
		printf '%s\n' "$ROOT/$1/$1"
		return
	fi
	for d in "$ZE_INSTALLED_BINDIR" "$SCRIPTS/../../../bin"; do
		if [[ -n $d && -x $d/$1 ]]; then
			readlink -f -- "$d/$1"
			return
		fi
	done
	command -v -- "$1" || printf '%s\n' "$ROOT/$1/$1"
}

# in_source_tree: the script runs from a checkout (which it may build with make).
in_source_tree() { [[ -f $ROOT/Makefile ]]; }

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}

usage_error() {
	printf '%s: %s (try --help)\n' "$PROG" "$*" >&2
	exit 2
}

# The start time of process PID (field 22 of /proc/PID/stat, after the
# "(comm)" that may itself hold spaces), to tell a recorded process from a
# later one that reuses its PID. Status 1 when there is no such process.
start_time() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	# shellcheck disable=SC2086 # split the remaining fields on purpose
	set -- $stat
	printf '%s\n' "${20}"
}

# children PID: the PIDs whose parent is PID (e.g. socat's per-connection forks)
children() {
	local s stat ppid f
	for s in /proc/[0-9]*/stat; do
		stat=$(cat "$s" 2>/dev/null) || continue
		stat=${stat##*) }
		read -r _ ppid _ <<<"$stat"
		[[ $ppid == "$1" ]] || continue
		f=${s#/proc/}
		printf '%s\n' "${f%/stat}"
	done
}

# ---- presentation -------------------------------------------------------------

# Bold, cyan (commands), green, red, dim (narration), normal: only on a
# terminal, and not with NO_COLOR.
# shellcheck disable=SC2034 # each script uses some of them
if [[ -t 1 && -z ${NO_COLOR-} ]]; then
	B=$'\e[1m' C=$'\e[1;36m' G=$'\e[32m' R=$'\e[1;31m' D=$'\e[2m' N=$'\e[0m'
else
	B='' C='' G='' R='' D='' N=''
fi

# A command line as one would type it (arguments quoted only when needed).
cmdline() {
	local out='' w
	for w in "$@"; do
		if [[ $w =~ ^[][A-Za-z0-9_./:=@%+,-]+$ ]]; then
			out+=" $w"
		elif [[ $w != *[\'[:cntrl:]]* ]]; then
			out+=" '$w'"
		else
			out+=" $(printf '%q' "$w")"
		fi
	done
	printf '%s' "${out# }"
}

# show CMDLINE: '$ CMDLINE'; say TEXT: '# TEXT'; warn TEXT: 'PROG: TEXT' on
# stderr. show and say print nothing when the script sets quiet=1 (lab.sh -q).
# (a reader gone away - a closed pipe - must not stop a cleanup half-way)
quiet=0
show() { ((quiet)) || printf '%s$ %s%s\n' "$C" "$*" "$N" || true; }
say() { ((quiet)) || printf '%s# %s%s\n' "$D" "$*" "$N" || true; }
warn() { printf '%s%s: %s%s\n' "$R" "$PROG" "$*" "$N" >&2 || true; }
