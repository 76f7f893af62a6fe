#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# verify.sh - check that ztunnel-emulator's listeners (15008, 15006, 15001)
# live in the pod's network namespace, and only there.
set -euo pipefail

PROG=${0##*/}
NETNS_DIR=/var/run/netns
PORTS=(15008 15006 15001)
CLOSED_PORT=15002
# ss shows the process name (comm), which the kernel truncates to 15 characters.
COMM=ztunnel-emulato
DAEMON=ztunnel-emulator

usage() {
	cat <<EOF
Usage: $PROG [-a|--address ADDR] NAME

Verifies the in-pod listeners of $DAEMON in network namespace NAME:
  - 'ip netns exec NAME ss -ntlp' is shown;
  - each of ${PORTS[*]} is LISTENing on ADDR in NAME, owned by a process named
    $COMM (ss shows the name truncated to 15 characters);
  - 'nc -z' to ADDR on each of them succeeds inside NAME;
  - 'nc -z' to ADDR port $CLOSED_PORT inside NAME is refused (nothing else listens);
  - the host network namespace has no $COMM listener on ${PORTS[*]}:
    the sockets live only in the pod.
One line per check ("ok   - ..." or "FAIL - ..."), then a summary line.

Options:
  -a, --address ADDR  address the listeners are bound to (default 127.0.0.1;
                      as given to ztunnel-emulator --listen-address)
  -h, --help          show this help and exit

Must be run as root. Exit status: 0 when every check passed, 1 when one failed,
2 on a usage error (including a netns NAME that does not exist).
EOF
}

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}

usage_error() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 2
}

args=("$@")
addr=127.0.0.1
name=
while (($#)); do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	-a | --address)
		(($# >= 2)) || usage_error "$1 needs an ADDR (try --help)"
		addr=$2
		shift
		;;
	--address=*) addr=${1#*=} ;;
	--)
		shift
		(($# <= 1)) || usage_error "only one netns NAME, please (try --help)"
		name=${1-}
		break
		;;
	-*) usage_error "unknown option: $1 (try --help)" ;;
	*)
		[[ -z $name ]] || usage_error "only one netns NAME, please (try --help)"
		name=$1
		;;
	esac
	shift
done

[[ -n $name ]] || usage_error "no netns NAME given (try --help)"
[[ -n $addr ]] || usage_error "empty --address (try --help)"
((EUID == 0)) || die "must be run as root (try: sudo $0 ${args[*]})"
if [[ $name == */* || $name == . || $name == .. || ! -e $NETNS_DIR/$name ]]; then
	usage_error "netns '$name' does not exist (see 'ip netns list'; create it with scripts/netns-setup.sh)"
fi
for cmd in ip ss nc; do
	command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found (see scripts/deps.sh)"
done

# How ss prints ADDR in its "Local Address:Port" column.
ss_addrs=("$addr")
case $addr in
*:*)
	ss_addrs=("[$addr]")
	# A dual-stack wildcard (:: without IPV6_V6ONLY) is shown as "*".
	[[ $addr == :: ]] && ss_addrs+=("*")
	;;
esac

passed=0
failed=0
ok() {
	printf 'ok   - %s\n' "$*"
	passed=$((passed + 1))
}
fail() {
	printf 'FAIL - %s\n' "$*"
	failed=$((failed + 1))
}

# Print "pid comm" for every process holding a listener on one of ss_addrs:PORT
# in the output of `ss -Hntlp` given on stdin.
owners() {
	local port=$1 state recvq sendq laddr peer procs a match rest
	while read -r state recvq sendq laddr peer procs; do
		: "$state" "$recvq" "$sendq" "$peer"
		match=0
		for a in "${ss_addrs[@]}"; do
			# ss may append "%iface" to a bound address: "127.0.0.1%lo:15008".
			if [[ $laddr == "$a:$port" || $laddr == "$a%"*":$port" ]]; then
				match=1
			fi
		done
		((match)) || continue
		if [[ -z $procs ]]; then
			printf '%s %s\n' '-' '?'
			continue
		fi
		# users:(("ztunnel-emulato",pid=4070,fd=9),("other",pid=1,fd=3))
		rest=$procs
		while [[ $rest =~ \(\"([^\"]*)\",pid=([0-9]+), ]]; do
			printf '%s %s\n' "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
			rest=${rest#*"${BASH_REMATCH[0]}"}
		done
	done
}

printf '$ ip netns exec %s ss -ntlp\n' "$name"
ip netns exec "$name" ss -ntlp || die "'ip netns exec $name ss -ntlp' failed"
echo

pod_ss=$(ip netns exec "$name" ss -Hntlp) || die "'ip netns exec $name ss -Hntlp' failed"
host_ss=$(ss -Hntlp) || die "'ss -Hntlp' failed"

if [[ $addr == *:* ]]; then
	shown="[$addr]"
else
	shown=$addr
fi

# 1. Each port LISTENs on ADDR in the pod netns, owned by the daemon.
for port in "${PORTS[@]}"; do
	list=$(owners "$port" <<<"$pod_ss")
	pids=$(awk -v c="$COMM" '$2 == c { print $1 }' <<<"$list" | sort -un | paste -sd, -)
	others=$(awk -v c="$COMM" '$2 != c { print $2 "(pid " $1 ")" }' <<<"$list" | sort -u | paste -sd' ' -)
	if [[ -n $pids ]]; then
		ok "$shown:$port LISTEN in netns $name, owned by $DAEMON (pid $pids)${others:+; also by $others}"
	elif [[ -n $list ]]; then
		fail "$shown:$port LISTEN in netns $name, but owned by ${others:-an unknown process}, not $DAEMON"
	else
		fail "$shown:$port: no LISTEN socket in netns $name"
	fi
done

# 2. Connecting to each succeeds from inside the pod netns.
for port in "${PORTS[@]}"; do
	if out=$(ip netns exec "$name" nc -v -z -w 2 "$addr" "$port" 2>&1); then
		ok "nc -z $addr $port in netns $name: connected"
	else
		out=$(tail -n 1 <<<"$out")
		fail "nc -z $addr $port in netns $name: ${out:-failed}"
	fi
done

# 3. A port nobody listens on is refused: the answers above are not a fluke.
if out=$(ip netns exec "$name" nc -v -z -w 2 "$addr" "$CLOSED_PORT" 2>&1); then
	fail "nc -z $addr $CLOSED_PORT in netns $name: connected, expected 'Connection refused'"
elif [[ $out == *[Rr]efused* ]]; then
	ok "nc -z $addr $CLOSED_PORT in netns $name: refused (nothing listens there, as expected)"
else
	out=$(tail -n 1 <<<"$out")
	fail "nc -z $addr $CLOSED_PORT in netns $name: expected 'Connection refused', got: ${out:-no output}"
fi

# 4. The host netns has none of the daemon's listeners on these ports.
host_hits=()
for port in "${PORTS[@]}"; do
	while read -r laddr procs; do
		if [[ $laddr == *":$port" && $procs == *"(\"$COMM\","* ]]; then
			host_hits+=("$laddr")
		fi
	done < <(awk '{ print $4, $6 }' <<<"$host_ss")
done
if ((${#host_hits[@]})); then
	fail "host netns has $COMM listeners on ${host_hits[*]} (they should only be in netns $name)"
else
	ok "host netns has no $COMM listener on ${PORTS[*]}: the sockets live only in netns $name"
fi

total=$((passed + failed))
if ((failed)); then
	printf '# %d of %d checks FAILED in netns %s\n' "$failed" "$total" "$name"
	exit 1
fi
printf '# all %d checks passed: %s listeners in netns %s\n' "$total" "$DAEMON" "$name"
