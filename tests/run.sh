#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every test (C unit tests, then integration scripts in real network
# namespaces), each speaking TAP, and ends with "N passed, N failed".
# As root it uses `ip netns` on the host; as a plain user (or with --userns)
# it re-executes itself under `unshare --user --map-root-user --net --mount`
# with a private /run, so the same tests run rootless.
# Exit status: 0 when nothing failed. With CI=true a skipped test is a failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# ip, iptables, setcap, ss live in /usr/sbin and /sbin, which a plain user's
# PATH (Debian's login PATH) lacks: add them, whatever the PATH.
for _d in /sbin /usr/sbin; do
	case :$PATH: in *:"$_d":*) ;; *) PATH=$_d:$PATH ;; esac
done
unset _d
root=$(dirname "$here")

usage() {
	cat <<USAGE
Usage: tests/run.sh [--userns | --setcap] [TEST...]

Runs the unit tests (tests/unit/test_*) and integration tests
(tests/integration/*.sh), or only the TEST files named, and ends with a
table (file, passed, failed) and the line "N passed, N failed". The three
ways the suite runs:
  (as root)   everything as root, netns with ip netns on the host
  --userns    in a user namespace (what a plain user gets automatically)
  --setcap    as root, but every test daemon is a copy of ztunnel-emulator
              with 'setcap cap_sys_admin+ep', run by the plain user nobody
              against the root-made netns (the walk-thru's step 2)
USAGE
}

want_userns=0
want_setcap=0
tests=()
for a in "$@"; do
	case $a in
	-h | --help) usage; exit 0 ;;
	--userns) want_userns=1 ;;
	--setcap) want_setcap=1 ;;
	-*) echo "run.sh: unknown option '$a'" >&2; usage >&2; exit 2 ;;
	*) tests+=("$a") ;;
	esac
done

if [[ -z ${ZE_TEST_IN_USERNS:-} ]] && { [[ $want_userns == 1 ]] || [[ $(id -u) != 0 ]]; }; then
	if ! command -v unshare >/dev/null; then
		echo "run.sh: not root and unshare(1) is missing: run as root or install util-linux" >&2
		exit 1
	fi
	echo "# running as uid $(id -u) in a user namespace (unshare --user --map-root-user --net --mount)"
	export ZE_TEST_IN_USERNS=1
	# A private /run makes `ip netns add` work without touching the host's;
	# lo up, as on a host, for the daemon's HTTP endpoints on 127.0.0.1.
	exec unshare --user --map-root-user --net --mount -- \
		bash -c 'mount -t tmpfs tmpfs /run && ip link set lo up && exec "$0" "$@"' \
		"$here/run.sh" "${tests[@]}"
fi

if [[ $want_setcap == 1 ]]; then
	if [[ $(id -u) != 0 || -n ${ZE_TEST_IN_USERNS:-} ]]; then
		echo "run.sh: --setcap needs real root (to setcap a copy and switch to nobody)" >&2
		exit 1
	fi
	capdir=$(mktemp -d)
	chmod 755 "$capdir"
	trap 'rm -rf "$capdir"' EXIT
	cp "$root/ztunnel-emulator/ztunnel-emulator" "$capdir/"
	setcap cap_sys_admin+ep "$capdir/ztunnel-emulator"
	echo "# daemons: $capdir/ztunnel-emulator (cap_sys_admin+ep), run as nobody"
	export ZE_TEST_ZT=$capdir/ztunnel-emulator
	export ZT_WRAPPER="setpriv --reuid=nobody --regid=nogroup --clear-groups --"
	export ZE_TEST_SETCAP=1
fi

if [[ ${#tests[@]} == 0 ]]; then
	for t in "$here"/unit/test_* "$here"/integration/*.sh; do
		[[ $t == *.c ]] && continue
		[[ -x $t ]] && tests+=("$t")
	done
fi

pass=0 fail=0 skip=0
failed_names=()
table=() # one line per file: name, passed, failed
for t in "${tests[@]}"; do
	pass0=$pass fail0=$fail skip0=$skip
	name=${t#"$root"/}
	echo "# ---- $name"
	out=$(mktemp)
	set +e
	"$t" >"$out" 2>&1
	status=$?
	set -e
	planned=-1 seen=0 tfail=0
	while IFS= read -r line; do
		case $line in
		"ok "*"# SKIP"* | "ok "*"# skip"*)
			seen=$((seen + 1))
			skip=$((skip + 1))
			failed_names+=("$name: ${line#ok } (skipped)")
			;;
		"ok "*)
			seen=$((seen + 1))
			pass=$((pass + 1))
			;;
		"not ok "*)
			seen=$((seen + 1))
			tfail=$((tfail + 1))
			fail=$((fail + 1))
			failed_names+=("$name: ${line#not ok }")
			;;
		1..*)
			planned=${line#1..}
			planned=${planned%% *}
			;;
		esac
		printf '%s\n' "$line"
	done <"$out"
	rm -f "$out"
	if [[ $status == 77 ]]; then
		skip=$((skip + 1))
		failed_names+=("$name: skipped as a whole")
	elif [[ $status != 0 && $tfail == 0 ]]; then
		fail=$((fail + 1))
		failed_names+=("$name: exited with status $status")
	elif [[ $planned != -1 && $planned != "$seen" ]]; then
		fail=$((fail + 1))
		failed_names+=("$name: planned $planned tests, ran $seen")
	elif [[ $planned == -1 ]]; then
		fail=$((fail + 1))
		failed_names+=("$name: no TAP plan (crashed?)")
	fi
	# with CI=true a skip is a failure (below): count it so in the table too
	f=$((fail - fail0))
	[[ ${CI:-} != true ]] || f=$((f + skip - skip0))
	table+=("$(printf '%-48s %6d %6d' "$name" $((pass - pass0)) "$f")")
done

if [[ ${CI:-} == true && $skip -gt 0 ]]; then
	echo "# CI=true: $skip skipped test(s) count as failures"
	fail=$((fail + skip))
	skip=0
fi
if [[ ${#failed_names[@]} -gt 0 ]]; then
	echo "# not passed:"
	printf '#   %s\n' "${failed_names[@]}"
fi
[[ $skip -gt 0 ]] && echo "# $skip skipped"
# the table, then the summary: the very last line (.ci/run looks for it)
printf '%-48s %6s %6s\n' file passed failed
printf '%s\n' "${table[@]}"
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
