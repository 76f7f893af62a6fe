#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Soak test: one ztunnel-emulator, 100 network namespaces, 4 clients running
# 100,000 add/del cycles (SOAK_CYCLES) with a hostile request every 10th
# (tests/helpers/zds-soak). Prints the figures and a verdict: no wrong answer,
# the daemon's fd count back where it was, its RSS within 64 kB of where it
# was after a warm-up, and a clean exit on SIGTERM. Exit 1 if any fails.
# Cleans up (daemon by PID, its netns, temp files) on every exit, Ctrl-C too.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
ZT=$root/ztunnel-emulator/ztunnel-emulator
SOAK=$root/tests/helpers/zds-soak

CYCLES=${SOAK_CYCLES:-100000}
WARMUP=${SOAK_WARMUP:-1000}
CLIENTS=${SOAK_CLIENTS:-4}
NNETNS=${SOAK_NETNS:-100}
SEED=${SOAK_SEED:-1}
HOSTILE_EVERY=10
RSS_SLACK_KB=64 # 16 pages

usage() {
	cat <<USAGE
Usage: tests/soak.sh   (as root; 'make soak' builds first)

Starts ztunnel-emulator on a temporary socket, creates $NNETNS network namespaces
(lo up) and runs tests/helpers/zds-soak against it: $CLIENTS clients, SOAK_CYCLES
add/del cycles (default 100000), a hostile request every $HOSTILE_EVERY. A warm-up
of SOAK_WARMUP cycles (default 1000) runs before the starting figures are taken.
Verdict: 0 wrong answers, the daemon's fd count unchanged, its RSS within
$RSS_SLACK_KB kB, exit 0 on SIGTERM. Environment: SOAK_CYCLES, SOAK_WARMUP,
SOAK_CLIENTS, SOAK_NETNS, SOAK_SEED.
USAGE
}

case ${1:-} in
-h | --help) usage; exit 0 ;;
"") ;;
*) echo "soak.sh: unexpected argument '$1'" >&2; usage >&2; exit 2 ;;
esac

for v in CYCLES WARMUP CLIENTS NNETNS SEED; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]]; then
		echo "soak.sh: SOAK_$v must be a non-negative integer, not '${!v}'" >&2
		exit 2
	fi
done
if [[ $(id -u) != 0 ]]; then
	echo "soak.sh: must run as root: it creates network namespaces (ip netns) and the daemon needs CAP_SYS_ADMIN; try: sudo tests/soak.sh" >&2
	exit 1
fi
for f in "$ZT" "$SOAK"; do
	if [[ ! -x $f ]]; then
		echo "soak.sh: $f is missing: run 'make all' first (or 'make soak')" >&2
		exit 1
	fi
done

prefix="zsoak$$-"
if ip netns list | grep -q "^$prefix"; then
	echo "soak.sh: network namespaces named $prefix* already exist; not touching them" >&2
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ze-soak.XXXXXX")
sock=$tmp/zt.sock
log=$tmp/zt.log
zt_pid=
soak_pid=
created=()

cleanup() {
	local status=$? ns
	trap - EXIT INT TERM
	if [[ -n $soak_pid ]]; then
		kill -TERM "$soak_pid" 2>/dev/null || true
		wait "$soak_pid" 2>/dev/null || true
	fi
	if [[ -n $zt_pid ]]; then
		kill -TERM "$zt_pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$zt_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$zt_pid" 2>/dev/null || true
		wait "$zt_pid" 2>/dev/null || true
	fi
	for ns in "${created[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'echo "soak.sh: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# run_soak OUT ARGS...: zds-soak in the background, so that a signal to this
# script interrupts the wait at once; sets SOAK_STATUS.
run_soak() {
	local o=$1
	shift
	"$SOAK" "$@" >"$o" 2>&1 &
	soak_pid=$!
	SOAK_STATUS=0
	wait "$soak_pid" || SOAK_STATUS=$?
	soak_pid=
}
# field NAME FILE: the value of zds-soak's "NAME: value" line
field() { awk -v k="$1:" '$1 == k { print $2; exit }' "$2"; }

echo "# creating $NNETNS network namespaces ${prefix}0..${prefix}$((NNETNS - 1))"
for ((i = 0; i < NNETNS; i++)); do
	created+=("$prefix$i") # recorded first: an interrupt in between still deletes it
	ip netns add "$prefix$i"
	ip -n "$prefix$i" link set lo up
done

zt_cmd=("$ZT" --admin-addr none --ready-addr none --metrics-addr none "$sock")
"${zt_cmd[@]}" >"$log" 2>&1 &
zt_pid=$!
for _ in $(seq 100); do
	grep -q " listening on " "$log" && break
	kill -0 "$zt_pid" 2>/dev/null || break
	sleep 0.05
done
if ! grep -q " listening on " "$log"; then
	echo "soak.sh: the daemon did not start; its log:" >&2
	sed 's/^/  /' "$log" >&2
	exit 1
fi
echo "# daemon pid $zt_pid on $sock"

soak_args=(--clients "$CLIENTS" --hostile-every "$HOSTILE_EVERY" --seed "$SEED" "$sock" "$prefix" "$NNETNS")

status_warm=0
if ((WARMUP > 0)); then
	echo "# warm-up: $WARMUP cycles"
	run_soak "$tmp/warmup.out" --cycles "$WARMUP" "${soak_args[@]}"
	status_warm=$SOAK_STATUS
	if ((status_warm != 0)); then
		echo "# warm-up failed (status $status_warm):"
		sed 's/^/#   /' "$tmp/warmup.out"
	fi
fi
fds0=$(fd_count "$zt_pid")
rss0=$(rss_kb "$zt_pid")

soak_cmd=("$SOAK" --cycles "$CYCLES" "${soak_args[@]}")
echo "# soak: $CYCLES cycles"
run_soak "$tmp/soak.out" "${soak_cmd[@]:1}"
status_soak=$SOAK_STATUS
sed 's/^/# /' "$tmp/soak.out"

# the clients' connections close just after they exit
fds1=$(fd_count "$zt_pid")
for _ in $(seq 100); do
	[[ $fds1 == "$fds0" ]] && break
	sleep 0.05
	fds1=$(fd_count "$zt_pid")
done
rss1=$(rss_kb "$zt_pid")
log_lines=$(wc -l <"$log")
log_errors=$(grep -c ' ERROR ' "$log" || true)
log_warns=$(grep -c ' WARN ' "$log" || true)

kill -TERM "$zt_pid"
zt_status=0
wait "$zt_pid" || zt_status=$?
zt_pid=

requests=$(field requests "$tmp/soak.out")
hostile=$(field hostile "$tmp/soak.out")
wrong=$(field wrong "$tmp/soak.out")
rate=$(field rate "$tmp/soak.out")
elapsed=$(field elapsed "$tmp/soak.out")
warm_wrong=$(field wrong "$tmp/warmup.out" 2>/dev/null || true)

echo
echo "command:  $(printf '%q ' "${soak_cmd[@]}")"
echo "daemon:   $(printf '%q ' "${zt_cmd[@]}") (log: $log_lines lines, $log_errors ERROR, $log_warns WARN)"
echo "warm-up:  $WARMUP cycles before the start figures, same arguments"
echo "kernel:   $(uname -srmv)"
echo "cpu:      $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) online; memory $(awk '/^MemTotal/ { print $2, $3 }' /proc/meminfo)"
echo
printf '%-24s %s\n' "figure" "value"
printf '%-24s %s\n' "cycles" "$CYCLES ($CLIENTS clients, $NNETNS netns)"
printf '%-24s %s\n' "requests" "${requests:-?}"
printf '%-24s %s\n' "hostile requests" "${hostile:-?}"
printf '%-24s %s\n' "elapsed" "${elapsed:-?} s"
printf '%-24s %s\n' "requests/s" "${rate:-?}"
printf '%-24s %s\n' "daemon fds start/end" "$fds0 / $fds1"
printf '%-24s %s\n' "daemon RSS start/end" "$rss0 / $rss1 kB ($((rss1 - rss0)) kB)"
printf '%-24s %s\n' "wrong answers" "${wrong:-?} (warm-up: ${warm_wrong:-none})"
echo

failed=0
verdict() { # verdict OK DESC
	if [[ $1 == 1 ]]; then
		echo "ok   - $2"
	else
		echo "FAIL - $2"
		failed=$((failed + 1))
	fi
}
ok=0
[[ $status_soak == 0 && $status_warm == 0 && ${wrong:-x} == 0 && ${warm_wrong:-0} == 0 ]] && ok=1
verdict "$ok" "wrong answers: ${wrong:-?} (warm-up ${warm_wrong:-none}; zds-soak exit $status_soak, warm-up exit $status_warm)"
ok=0
[[ $fds1 == "$fds0" ]] && ok=1
verdict "$ok" "daemon fd count unchanged: $fds0 -> $fds1"
ok=0
((rss1 - rss0 <= RSS_SLACK_KB)) && ok=1
verdict "$ok" "daemon RSS within $RSS_SLACK_KB kB of the start: $rss0 -> $rss1 kB ($((rss1 - rss0)) kB)"
ok=0
[[ $zt_status == 0 ]] && ok=1
verdict "$ok" "daemon exited $zt_status on SIGTERM"
if ((failed > 0)); then
	echo "soak: $failed check(s) failed"
	echo "daemon log tail:"
	tail -n 20 "$log" | sed 's/^/  /'
	exit 1
fi
echo "soak: all checks passed"
