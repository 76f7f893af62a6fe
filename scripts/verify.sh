#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# verify.sh - check that ztunnel-emulator's listeners (15008, 15006, 15001)
# live in the pod's network namespace, and only there; or, with --absent, that
# they are gone (after a ZDS Del). --json reports the same checks as one object.
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
Usage: $PROG [-a|--address ADDR] [--absent] [--json] NAME

Verifies the in-pod listeners of $DAEMON in network namespace NAME.

By default (the pod is enrolled: a ZDS Add was acked):
  - 'ip netns exec NAME ss -ntlp' is shown;
  - each of ${PORTS[*]} is LISTENing on ADDR in NAME, owned by a
    process named $COMM (ss shows the name cut to 15
    characters);
  - 'nc -z' to ADDR on each of them succeeds inside NAME;
  - 'nc -z' to ADDR port $CLOSED_PORT inside NAME is refused (nothing else
    listens);
  - the host network namespace has no $COMM listener on
    ${PORTS[*]}: the sockets live only in the pod.

With --absent (the pod's listeners are gone, e.g. after a ZDS Del):
  - 'ip netns exec NAME ss -ntlp' is shown;
  - NAME has no $COMM listener on any of ${PORTS[*]}
    (on any address);
  - 'nc -z' to ADDR on each of them is refused inside NAME.

One line per check ("ok   - ..." or "FAIL - ..."), then a summary line.

Options:
  -a, --address ADDR  address the listeners are bound to (default 127.0.0.1;
                      as given to ztunnel-emulator --listen-address)
      --absent        check that the listeners are gone instead
      --json          print one JSON object on stdout instead of the lines:
                        {"netns": NAME, "address": ADDR,
                         "mode": "present" | "absent",
                         "passed": N, "failed": N,
                         "checks": [{"name": "...", "ok": true | false,
                                     "detail": "..."}, ...]}
                      (detail is the text of the check's line); same exit status
  -h, --help          show this help and exit

Must be run as root. Exit status: 0 when every check passed, 1 when one failed,
2 on a usage error (including a netns NAME that does not exist). On a usage
error, or an error that stops it before the checks (exit 1), it prints a
message on stderr and nothing on stdout, also with --json.
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
mode=present
json=0
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
	--absent) mode=absent ;;
	--json) json=1 ;;
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
check_names=()
check_oks=()
check_details=()
# record NAME OK DETAIL: one check; printed at once unless --json.
record() {
	check_names+=("$1")
	check_oks+=("$2")
	check_details+=("$3")
	if (($2)); then
		passed=$((passed + 1))
		((json)) || printf 'ok   - %s\n' "$3"
	else
		failed=$((failed + 1))
		((json)) || printf 'FAIL - %s\n' "$3"
	fi
}
ok() { record "$1" 1 "$2"; }
fail() { record "$1" 0 "$2"; }

# A JSON string literal for $1, escaped as common/json.c's json_str() does
# (one escaper for config_dump, inspect --json and this): quote and
# backslash, \n and \t, the other control characters and DEL as \u00XX, and
# each byte that is not part of valid UTF-8 as \u00XX, so that the output
# is always valid UTF-8 (bash strings hold no NUL).
json_str() {
	local LC_ALL=C
	local s=$1 out='' i=0 n k len cp b c
	n=${#s}
	# the common case: printable ASCII only
	if [[ $s =~ ^[\ -~]*$ ]]; then
		s=${s//\\/\\\\}
		printf '"%s"' "${s//\"/\\\"}"
		return
	fi
	while ((i < n)); do
		c=${s:i:1}
		printf -v b '%d' "'$c"
		if ((b == 34 || b == 92)); then
			out+="\\$c"
		elif ((b == 10)); then
			out+='\n'
		elif ((b == 9)); then
			out+='\t'
		elif ((b < 32 || b == 127)); then
			printf -v c '\\u%04x' "$b"
			out+=$c
		elif ((b < 128)); then
			out+=$c
		else
			json_utf8_len "$s" "$i" "$b"
			len=$REPLY
			if ((len)); then
				out+=${s:i:len}
				((i += len))
				continue
			fi
			printf -v c '\\u%04x' "$b"
			out+=$c
		fi
		((i++))
	done
	printf '"%s"' "$out"
}

# REPLY: the length (2-4) of the valid UTF-8 sequence at byte $2 of $1
# (whose first byte is $3), or 0; as utf8_char_len() in common/json.c.
json_utf8_len() {
	local LC_ALL=C
	local s=$1 i=$2 b=$3 k n cp c
	REPLY=0
	if (((b & 0xe0) == 0xc0)); then
		n=1 cp=$((b & 0x1f))
	elif (((b & 0xf0) == 0xe0)); then
		n=2 cp=$((b & 0x0f))
	elif (((b & 0xf8) == 0xf0)); then
		n=3 cp=$((b & 0x07))
	else
		return
	fi
	((i + n < ${#s})) || return
	for ((k = 1; k <= n; k++)); do
		printf -v c '%d' "'${s:i+k:1}"
		(((c & 0xc0) == 0x80)) || return
		cp=$(((cp << 6) | (c & 0x3f)))
	done
	if (((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))); then
		return
	fi
	REPLY=$((n + 1))
}

print_json() {
	local i sep=''
	printf '{"netns": %s, "address": %s, "mode": %s, "passed": %d, "failed": %d, "checks": [' \
		"$(json_str "$name")" "$(json_str "$addr")" "$(json_str "$mode")" "$passed" "$failed"
	for i in "${!check_names[@]}"; do
		printf '%s\n  {"name": %s, "ok": %s, "detail": %s}' "$sep" \
			"$(json_str "${check_names[i]}")" \
			"$( ((check_oks[i])) && echo true || echo false)" \
			"$(json_str "${check_details[i]}")"
		sep=,
	done
	printf '%s]}\n' "${sep:+$'\n'}"
}

# Print "pid comm" for every process holding a listener on PORT in the output
# of `ss -Hntlp` given on stdin: on one of ss_addrs, or with "any", on any
# address.
owners() {
	local port=$1 any=${2-} state recvq sendq laddr peer procs a match rest
	while read -r state recvq sendq laddr peer procs; do
		: "$state" "$recvq" "$sendq" "$peer"
		match=0
		if [[ $any == any ]]; then
			[[ $laddr == *":$port" ]] && match=1
		else
			for a in "${ss_addrs[@]}"; do
				# ss may append "%iface" to a bound address: "127.0.0.1%lo:15008".
				if [[ $laddr == "$a:$port" || $laddr == "$a%"*":$port" ]]; then
					match=1
				fi
			done
		fi
		((match)) || continue
		if [[ -z $procs ]]; then
			printf '%s %s %s\n' '-' '?' "$laddr"
			continue
		fi
		# users:(("ztunnel-emulato",pid=4070,fd=9),("other",pid=1,fd=3))
		rest=$procs
		while [[ $rest =~ \(\"([^\"]*)\",pid=([0-9]+), ]]; do
			printf '%s %s %s\n' "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}" "$laddr"
			rest=${rest#*"${BASH_REMATCH[0]}"}
		done
	done
}

# nc -z ADDR PORT inside the pod netns: sets nc_out to nc's last line and
# returns nc's status.
nc_pod() {
	local rc=0
	nc_out=$(ip netns exec "$name" nc -v -z -w 2 "$addr" "$1" 2>&1) || rc=$?
	nc_out=$(tail -n 1 <<<"$nc_out")
	return "$rc"
}

# Check that connecting to PORT in the pod netns is refused.
expect_refused() {
	local port=$1 why=$2
	if nc_pod "$port"; then
		fail "refused-$port" "nc -z $addr $port in netns $name: connected, expected 'Connection refused'"
	elif [[ $nc_out == *[Rr]efused* ]]; then
		ok "refused-$port" "nc -z $addr $port in netns $name: refused ($why)"
	else
		fail "refused-$port" "nc -z $addr $port in netns $name: expected 'Connection refused', got: ${nc_out:-no output}"
	fi
}

if ((!json)); then
	printf '$ ip netns exec %s ss -ntlp\n' "$name"
	ip netns exec "$name" ss -ntlp || die "'ip netns exec $name ss -ntlp' failed"
	echo
fi

pod_ss=$(ip netns exec "$name" ss -Hntlp) || die "'ip netns exec $name ss -Hntlp' failed"

if [[ $addr == *:* ]]; then
	shown="[$addr]"
else
	shown=$addr
fi

if [[ $mode == absent ]]; then
	# 1. No port has a listener of the daemon left in the pod netns, on any
	#    address (a daemon started with another --listen-address counts too).
	for port in "${PORTS[@]}"; do
		list=$(owners "$port" any <<<"$pod_ss")
		hits=$(awk -v c="$COMM" '$2 == c { print $3 " (pid " $1 ")" }' <<<"$list" | sort -u | paste -sd' ' -)
		if [[ -n $hits ]]; then
			fail "no-listener-$port" "$COMM still LISTENs on $hits in netns $name"
		else
			ok "no-listener-$port" "no $COMM listener on port $port in netns $name"
		fi
	done

	# 2. Connecting to each is refused: nothing answers there any more.
	for port in "${PORTS[@]}"; do
		expect_refused "$port" "nothing listens there"
	done
else
	host_ss=$(ss -Hntlp) || die "'ss -Hntlp' failed"

	# 1. Each port LISTENs on ADDR in the pod netns, owned by the daemon.
	for port in "${PORTS[@]}"; do
		list=$(owners "$port" <<<"$pod_ss")
		pids=$(awk -v c="$COMM" '$2 == c { print $1 }' <<<"$list" | sort -un | paste -sd, -)
		others=$(awk -v c="$COMM" '$2 != c { print $2 "(pid " $1 ")" }' <<<"$list" | sort -u | paste -sd' ' -)
		if [[ -n $pids ]]; then
			ok "listen-$port" "$shown:$port LISTEN in netns $name, owned by $DAEMON (pid $pids)${others:+; also by $others}"
		elif [[ -n $list ]]; then
			fail "listen-$port" "$shown:$port LISTEN in netns $name, but owned by ${others:-an unknown process}, not $DAEMON"
		else
			fail "listen-$port" "$shown:$port: no LISTEN socket in netns $name"
		fi
	done

	# 2. Connecting to each succeeds from inside the pod netns.
	for port in "${PORTS[@]}"; do
		if nc_pod "$port"; then
			ok "connect-$port" "nc -z $addr $port in netns $name: connected"
		else
			fail "connect-$port" "nc -z $addr $port in netns $name: ${nc_out:-failed}"
		fi
	done

	# 3. A port nobody listens on is refused: the answers above are not a fluke.
	expect_refused "$CLOSED_PORT" "nothing listens there, as expected"

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
		fail host-netns "host netns has $COMM listeners on ${host_hits[*]} (they should only be in netns $name)"
	else
		ok host-netns "host netns has no $COMM listener on ${PORTS[*]}: the sockets live only in netns $name"
	fi
fi

total=$((passed + failed))
if ((json)); then
	print_json
elif ((failed)); then
	printf '# %d of %d checks FAILED in netns %s\n' "$failed" "$total" "$name"
elif [[ $mode == absent ]]; then
	printf '# all %d checks passed: no %s listeners in netns %s\n' "$total" "$DAEMON" "$name"
else
	printf '# all %d checks passed: %s listeners in netns %s\n' "$total" "$DAEMON" "$name"
fi
((failed == 0)) || exit 1
