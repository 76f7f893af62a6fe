#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs integration tests with the daemon under valgrind memcheck: tests/lib.sh's
# start_daemon runs "$ZT_WRAPPER ztunnel-emulator ...". The tests assert that
# the daemon exits 0 on SIGTERM, and valgrind exits 99 on any memory error or
# definite/indirect leak, so those surface as test failures; the valgrind logs
# are checked afterwards as well. Ends with the runner's "N passed, N failed".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")

DEFAULT_TESTS=(
	"$here/integration/01-walkthru.sh"
	"$here/integration/02-bad-input.sh"
	"$here/integration/03-many-pods.sh"
	"$here/integration/06-lifecycle.sh"
)

usage() {
	cat <<USAGE
Usage: tests/valgrind.sh [TEST...]   ('make valgrind' builds first)

Runs tests/run.sh on the integration tests that start the daemon (default:
01-walkthru, 02-bad-input, 03-many-pods, 06-lifecycle) with ztunnel-emulator
under valgrind memcheck (leak kinds definite and indirect are errors), then
checks every valgrind log. Exit 0 only when the tests pass and no log shows
an error or a leak.
USAGE
}

tests=()
for a in "$@"; do
	case $a in
	-h | --help) usage; exit 0 ;;
	-*) echo "valgrind.sh: unknown option '$a'" >&2; usage >&2; exit 2 ;;
	*) tests+=("$a") ;;
	esac
done
[[ ${#tests[@]} -gt 0 ]] || tests=("${DEFAULT_TESTS[@]}")

if ! command -v valgrind >/dev/null; then
	echo "valgrind.sh: valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)" >&2
	exit 1
fi
if [[ ! -x $root/ztunnel-emulator/ztunnel-emulator ]]; then
	echo "valgrind.sh: $root/ztunnel-emulator/ztunnel-emulator is missing: run 'make all' first" >&2
	exit 1
fi
# shellcheck disable=SC2016 # the literal text of that line
if ! grep -qF 'spawn $ZT_WRAPPER ' "$here/lib.sh"; then
	echo "valgrind.sh: tests/lib.sh's start_daemon does not honour ZT_WRAPPER yet; the daemon would run without valgrind" >&2
	exit 1
fi

vgdir=$(mktemp -d "${TMPDIR:-/tmp}/ze-valgrind.XXXXXX")
out=$vgdir/run.out
trap 'rm -rf "$vgdir"' EXIT
# ZT_WRAPPER is split on spaces by start_daemon: the path must have none
if [[ $vgdir == *[[:space:]]* ]]; then
	echo "valgrind.sh: temporary directory '$vgdir' contains white space; set TMPDIR" >&2
	exit 1
fi

# The walk-thru checks that the listeners belong to "ztunnel-emulato" (ss shows
# the process name). Under plain valgrind that name is memcheck's; so the
# memcheck tool runs through a link named ztunnel-emulator, started the way
# the valgrind launcher starts it.
vglib=${VALGRIND_LIB:-/usr/libexec/valgrind}
case $(uname -m) in
x86_64) vgarch=amd64 ;;
aarch64) vgarch=arm64 ;;
*) vgarch=$(uname -m) ;;
esac
tool=$vglib/memcheck-$vgarch-linux
[[ -x $tool ]] || tool=
if [[ -z $tool ]]; then
	echo "valgrind.sh: memcheck's tool binary not found under $vglib (set VALGRIND_LIB)" >&2
	exit 1
fi
ln -s "$tool" "$vgdir/ztunnel-emulator"
launcher=$(command -v valgrind)
export ZT_WRAPPER="env VALGRIND_LIB=$vglib VALGRIND_LAUNCHER=$launcher $vgdir/ztunnel-emulator --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no --log-file=$vgdir/vg.%p.log"
echo "# ZT_WRAPPER=$ZT_WRAPPER"
echo "# valgrind: $(valgrind --version); kernel $(uname -r)"

status=0
"$here/run.sh" "${tests[@]}" 2>&1 | tee "$out" || status=$?
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)

# Every daemon run left one log; with --quiet a clean run's log is empty.
# Valgrind's note about an ioctl it has no wrapper for (0xb703 is
# NS_GET_NSTYPE, whose answer is the return value: no memory to check) is
# benign; any other output counts as a finding.
benign='^==[0-9]+== *$|Warning: noted but unhandled ioctl|This could cause spurious value errors|README_MISSING_SYSCALL_OR_IOCTL|Warning: set address range perms'
shopt -s nullglob
logs=("$vgdir"/vg.*.log)
bad=()
benign_only=0
for f in "${logs[@]}"; do
	if grep -qE 'ERROR SUMMARY: [1-9]|definitely lost|indirectly lost' "$f" ||
		grep -vqE "$benign" "$f"; then
		bad+=("$f")
	elif [[ -s $f ]]; then
		benign_only=$((benign_only + 1))
	fi
done
ioctls=$(cat /dev/null "${logs[@]}" | grep -o 'unhandled ioctl 0x[0-9a-f]*' | sort -u | sed 's/unhandled ioctl //' | tr '\n' ' ' || true)

echo
echo "# ---- valgrind memcheck of the daemon"
echo "# tests: $(printf '%s ' "${tests[@]#"$root"/}")"
echo "# daemon runs under valgrind: ${#logs[@]}; with errors or leaks: ${#bad[@]}"
if ((benign_only > 0)); then
	echo "# note: $benign_only log(s) hold only valgrind's 'noted but unhandled ioctl' warning (${ioctls% }; 0xb703 = NS_GET_NSTYPE): not an error"
fi
for f in "${bad[@]}"; do
	echo "# ERROR in $(basename "$f"):"
	sed 's/^/#   /' "$f"
done
if [[ ${#logs[@]} == 0 ]]; then
	echo "# ERROR: no valgrind log at all: the daemon never ran under valgrind"
fi
if [[ $status != 0 ]]; then
	echo "# tests: FAILED (run.sh exit $status; the failures are listed above under 'not passed')"
fi
if [[ ${#logs[@]} == 0 || ${#bad[@]} -gt 0 ]]; then
	echo "# valgrind: FAILED (see above)"
	status=1
else
	echo "# valgrind: no memory errors, no definite or indirect leaks in ${#logs[@]} daemon run(s)"
fi
echo "${summary:-run.sh printed no summary line}"
exit "$status"
