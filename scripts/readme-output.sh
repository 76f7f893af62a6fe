#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# readme-output.sh - regenerate the walk-thru output quoted in README.md from
# a real run of scripts/walkthru.sh: every block between
# <!-- walkthru:NAME --> and <!-- /walkthru --> is rewritten
# (scripts/readme_blocks.py holds what each block shows). With --check it
# changes nothing and says whether the README's blocks match a fresh run once
# the truly volatile parts are normalised (timestamps, PIDs).
set -euo pipefail

PROG=${0##*/}
SCRIPTS=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd)
ROOT=$(dirname -- "$SCRIPTS")
# die, usage_error:
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPTS/lib.sh"

usage() {
	cat <<EOF
Usage: $PROG [--check] [--readme FILE] [--transcript FILE]
                          [--save FILE]

Runs the README walk-thru (scripts/walkthru.sh) and rewrites the blocks of
README.md marked <!-- walkthru:NAME --> ... <!-- /walkthru --> with what the
run printed: commands as the README writes them, outputs as they came (fd
numbers included). The run uses a netns and socket of its own, shown as the
README's ns2 and /tmp/zt.sock, inside a private network namespace (so the
daemon's HTTP ports are its usual ones), with no inherited file descriptors.
ss lists the three listeners in hash order, which differs from one netns to
the next: the blocks show them in the order they were bound.

  --check            change nothing: exit 0 when the README's blocks match the
                     run, else 1 with a diff. Timestamps and PIDs are
                     normalised; everything else, fd numbers included, must
                     match
  --readme FILE      the README to rewrite or check (default README.md)
  --transcript FILE  use a run kept with --save instead of running the walk-thru
  --save FILE        keep this run's output in FILE
  -h, --help         show this help and exit

Must be run as root (the walk-thru is). Exit status: 0 done (or the blocks
match), 1 on a failure (or a mismatch), 2 on a usage error.
EOF
}
check=0 readme=$ROOT/README.md transcript='' save=''
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--check) check=1 ;;
	--readme | --transcript | --save)
		(($# >= 2)) || usage_error "$1 needs an argument"
		case $1 in --readme) readme=$2 ;; --transcript) transcript=$2 ;; *) save=$2 ;; esac
		shift
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
	shift
done
[[ -f $readme ]] || die "$readme: no such file"
command -v python3 >/dev/null 2>&1 || die "'python3' not found (run scripts/deps.sh)"

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
if [[ -z $transcript ]]; then
	((EUID == 0)) || die "must be run as root (the walk-thru is; try: sudo $0)"
	command -v unshare >/dev/null 2>&1 || die "'unshare' not found (run scripts/deps.sh)"
	# names of this run only (a netns or socket of that name is refused by walkthru.sh)
	netns=ze-readme-$$ sock=$tmp/zt.sock
	transcript=$tmp/walkthru.out
	# the first line names what the README shows as ns2 and /tmp/zt.sock
	printf '# readme-output: netns=%s socket=%s\n' "$netns" "$sock" >"$transcript"
	# Close every inherited fd but 0-2 (the daemon inherits the rest and its
	# own fd numbers would shift), then run the walk-thru in a network
	# namespace of its own with lo up.
	rc=0
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			((fd > 2)) && eval "exec $fd>&-" 2>/dev/null || true
		done
		export NO_COLOR=1 ZE_LAB_STATE=$tmp/state
		exec unshare --net -- bash -c 'ip link set lo up && exec "$@"' bash \
			"$SCRIPTS/walkthru.sh" --netns "$netns" --socket "$sock"
	) </dev/null >>"$transcript" 2>&1 || rc=$?
	[[ -z $save ]] || cp -- "$transcript" "$save"
	if ((rc)); then
		tail -n 20 "$transcript" >&2
		die "walkthru.sh failed (exit status $rc); nothing changed"
	fi
fi
mode=--write
((!check)) || mode=--check
rc=0
python3 "$SCRIPTS/readme_blocks.py" "$mode" "$transcript" "$readme" || rc=$?
exit "$rc"
