#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# debug-dump.sh - the ambient debugging checks (seeds/000, 003, 004) of one pod
# netns in one go: its listeners, its iptables rules with counters, its policy
# routing, conntrack, and the daemon's `grep inpod`. With --trace it also
# follows a connection through the ISTIO_* chains with LOG rules and shows
# what the kernel logged; the LOG rules are removed and nf_log_all_netns is
# restored on every way out. Every command is echoed before it runs.
set -euo pipefail

PROG=${0##*/}
# die, usage_error, the colours, cmdline, show, say, warn:
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/lib.sh"
STATE=${ZE_LAB_STATE:-/run/ztunnel-emulator-lab}/ambient
NETNS_DIR=/var/run/netns
NF_LOG_ALL=/proc/sys/net/netfilter/nf_log_all_netns
DEFAULT_WAIT=15 # seconds to wait for the user's connection when there is nothing to probe

usage() {
	cat <<EOF
Usage: $PROG [--trace] [--probe [FROM:]ADDR:PORT | --wait SECONDS]
                     [--log FILE] NETNS

Shows, for the pod network namespace NETNS (each command echoed, run inside it):
  ss -ntulp                        the listeners (ztunnel's 15001/15006/
                                   15008/15053)
  iptables-save                    the rules istio-cni installed
  iptables -t nat -L -n -v -x      packet/byte counters per rule
  iptables -t mangle -L -n -v -x
  ip rule; ip route show table 100 the policy routing of marked packets
  conntrack -L                     the tracked flows (with conntrack)
  grep inpod LOG                   the daemon's in-pod log lines
  istio_dns_* from /metrics        the DNS proxy's counters, and its last
                                   query lines (grep ' dns: ' LOG)
LOG is --log FILE, else the lab's daemon log (lab.sh records it in
\$STATE/lab.env, \$STATE = \${ZE_LAB_STATE:-/run/ztunnel-emulator-lab}/ambient).

--trace  also traces one connection through the rules:
  1. inserts, as the first rule of every ISTIO_* chain in NETNS (iptables and,
     when it has ISTIO_* chains, ip6tables), a LOG rule with the prefix
     "CHAIN TABLE: " (e.g. "ISTIO_OUTPUT nat: "; at most 29 characters);
  2. sets $NF_LOG_ALL to 1 (the kernel logs nothing
     from a non-initial netns otherwise) and remembers its old value;
  3. makes the probe connection (below), or waits for yours;
  4. shows the kernel log lines it produced (dmesg --since, else journalctl -k,
     else dmesg | tail) and each LOG rule's packet counter (which chains the
     packets went through, also where the kernel log cannot be read);
  5. removes the LOG rules and restores
     $NF_LOG_ALL, also on a failure or Ctrl-C.
  In a user namespace $NF_LOG_ALL is out of reach
  (only the initial netns has it) and dmesg is refused: the LOG rules'
  counters still tell the path.

Options:
  -t, --trace            trace a connection as above
  -p, --probe [FROM:]ADDR:PORT
                         the probe: a TCP connection from netns FROM (default
                         NETNS) to ADDR:PORT ([ADDR]:PORT for IPv6). Default in
                         the lab: pod-a -> pod-b's address and port (lab.env);
                         with no lab recorded: --wait $DEFAULT_WAIT
  -w, --wait SECONDS     no probe: wait this long for your own connection
                         (Ctrl-C ends the wait early)
  -l, --log FILE         the daemon's log
  -h, --help             show this help and exit

Must be run as root. Exit status: 0 when every check ran, 1 when one failed or
the trace could not be set up, 2 on a usage error (or no such NETNS).
EOF
}

trace=0 probe='' wait_s='' log='' ns=''
while (($#)); do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	-t | --trace) trace=1 ;;
	-p | --probe | -w | --wait | -l | --log)
		(($# >= 2)) || usage_error "$1 needs an argument"
		case $1 in
		-p | --probe) probe=$2 ;;
		-w | --wait) wait_s=$2 ;;
		*) log=$2 ;;
		esac
		shift
		;;
	--probe=*) probe=${1#*=} ;;
	--wait=*) wait_s=${1#*=} ;;
	--log=*) log=${1#*=} ;;
	-*) usage_error "unknown option: $1" ;;
	*)
		[[ -z $ns ]] || usage_error "one NETNS only (got '$ns' and '$1')"
		ns=$1
		;;
	esac
	shift
done

[[ -n $ns ]] || usage_error "no NETNS given"
[[ $ns != */* && $ns != . && $ns != .. ]] || usage_error "NETNS is a name under $NETNS_DIR: '$ns'"
[[ -z $wait_s || $wait_s =~ ^[0-9]+$ ]] || usage_error "--wait takes whole seconds"
[[ -z $probe || -z $wait_s ]] || usage_error "--probe and --wait exclude each other"
((trace)) || [[ -z $probe$wait_s ]] || usage_error "--probe and --wait go with --trace"
((EUID == 0)) || die "must be run as root (try: sudo $0 ...)"
if [[ ! -e $NETNS_DIR/$ns ]]; then
	printf '%s: no network namespace %s (%s/%s)\n' "$PROG" "$ns" "$NETNS_DIR" "$ns" >&2
	exit 2
fi

# parse_target ADDR:PORT|[ADDR6]:PORT: sets probe_host and probe_port
parse_target() {
	probe_port=${1##*:} probe_host=${1%:*}
	[[ $probe_port =~ ^[0-9]+$ && -n $probe_host && $probe_host != "$1" ]] || return 1
	if [[ $probe_host == \[*\] ]]; then
		probe_host=${probe_host#[}
		probe_host=${probe_host%]}
	elif [[ $probe_host == *:* ]]; then
		return 1 # an IPv6 address goes in brackets
	fi
	[[ -n $probe_host ]]
}
probe_from=$ns probe_host='' probe_port=''
if [[ -n $probe ]]; then
	first=${probe%%:*}
	if [[ $probe == *:* && $first != \[* && -e $NETNS_DIR/$first ]] && parse_target "${probe#*:}"; then
		probe_from=$first
	elif ! parse_target "$probe"; then
		usage_error "--probe: expected [FROM:]ADDR:PORT or [FROM:][ADDR6]:PORT (FROM a netns), got '$probe'"
	fi
fi

# ---- presentation (cmdline, show, say, warn: lib.sh) -------------------------

# (a reader gone away - a closed pipe - must not stop the cleanup half-way)
section() { printf '\n%s=== %s ===%s\n' "$B" "$*" "$N" || true; }

failures=0
# Echo a command, run it; a failure is counted, not fatal.
run() {
	local rc=0
	show "$(cmdline "$@")"
	"$@" || rc=$?
	if ((rc)); then
		warn "$(cmdline "$@") exited with status $rc"
		failures=$((failures + 1))
	fi
	return 0
}
in_ns() { run ip netns exec "$ns" "$@"; }

lab_get() {
	[[ -f $STATE/lab.env ]] || return 0
	sed -n "s/^$1=//p" "$STATE/lab.env" | tail -n 1
}

# --trace with neither --probe nor --wait probes the lab; with no lab, it waits.
if ((trace)) && [[ -z $probe$wait_s ]] &&
	[[ -z $(lab_get NETNS_A) || -z $(lab_get ADDR_B) || -z $(lab_get PORT) ]]; then
	wait_s=$DEFAULT_WAIT
fi

# ---- the trace ----------------------------------------------------------------

added=()           # "CMD|TABLE|CHAIN|PREFIX" of every LOG rule we inserted
nf_old=''          # nf_log_all_netns before we changed it ('' = untouched)
trace_cleaned=1

trace_cleanup() {
	local a cmd table chain prefix
	((trace_cleaned)) && return 0
	trace_cleaned=1
	trap '' INT TERM PIPE # let the cleanup finish
	if ((${#added[@]})); then
		say "removing the LOG rules"
		for a in "${added[@]}"; do
			IFS='|' read -r cmd table chain prefix <<<"$a"
			run ip netns exec "$ns" "$cmd" -t "$table" -D "$chain" -j LOG --log-prefix "$prefix"
		done
		added=()
	fi
	if [[ -n $nf_old ]]; then
		show "echo $nf_old > $NF_LOG_ALL"
		if ! printf '%s\n' "$nf_old" >"$NF_LOG_ALL"; then
			warn "could not restore $NF_LOG_ALL to $nf_old"
			failures=$((failures + 1))
		fi
		nf_old=''
	fi
}

on_exit() {
	local rc=$?
	trap - EXIT
	trap '' PIPE # writes to a closed pipe just fail from here on
	set +e
	trace_cleanup
	((rc == 0 && failures)) && rc=1
	exit "$rc"
}
trap on_exit EXIT
trap 'warn "interrupted"; exit 130' INT
trap 'warn "terminated"; exit 143' TERM
trap 'exit 141' PIPE # our reader went away: still remove the LOG rules

# chains CMD: "TABLE CHAIN" for every ISTIO_* chain CMD-save shows in the netns
chains() {
	ip netns exec "$ns" "$1-save" 2>/dev/null | awk '
		/^\*/ { table = substr($0, 2) }
		/^:ISTIO_/ { print table, substr($1, 2) }'
}

# log_counters: "pkts CMD TABLE CHAIN" of our LOG rules, from CMD-save -c
log_counters() {
	local a cmd table chain prefix line
	for a in "${added[@]}"; do
		IFS='|' read -r cmd table chain prefix <<<"$a"
		line=$(ip netns exec "$ns" "$cmd-save" -c -t "$table" 2>/dev/null |
			grep -F -- "-A $chain -j LOG --log-prefix \"$prefix\"" | head -n 1 || true)
		line=${line#[}
		printf '%8s  %s -t %s %s  (LOG "%s")\n' "${line%%:*}" "$cmd" "$table" "$chain" "$prefix"
	done
}

# The timestamp of the last kernel log line ('' when dmesg cannot read it).
# dmesg's own clock (seconds since boot), not the wall clock: `dmesg --since`
# converts through the boot time, which is off after a VM snapshot or suspend.
kmsg_mark() {
	{ dmesg 2>/dev/null || true; } | tail -n 1 | sed -n 's/^\[ *\([0-9]*\.[0-9]*\)\].*/\1/p'
}

# kernel_log SINCE MARK: the kernel log lines our LOG rules produced since
# then: dmesg after MARK, else journalctl -k --since SINCE, else dmesg | tail.
kernel_log() {
	local since=$1 mark=$2 out a cmd table chain prefix pat=() shown='' n
	for a in "${added[@]}"; do
		IFS='|' read -r cmd table chain prefix <<<"$a"
		pat+=(-e "$prefix")
		shown+=" -e '$prefix'"
	done
	if out=$(dmesg 2>&1); then
		if [[ -n $mark ]]; then
			say "the kernel log after [$mark], its last line before the probe:"
			show "dmesg | awk '\$2 > $mark' FS='[][ ]+' | grep -F$shown"
			out=$(awk -v m="$mark" -F '[][ ]+' '$2 + 0 > m + 0' <<<"$out" | grep -F "${pat[@]}" || true)
		else
			show "dmesg | grep -F$shown | tail -n 60"
			out=$(grep -F "${pat[@]}" <<<"$out" | tail -n 60 || true)
		fi
		if [[ -z $out ]]; then
			say "(no line: the kernel logged nothing for these rules)"
			return 1
		fi
		n=$(wc -l <<<"$out")
		if ((n > 60)); then
			head -n 60 <<<"$out"
			say "... and $((n - 60)) more lines"
		else
			printf '%s\n' "$out"
		fi
		return 0
	fi
	say "dmesg cannot read the kernel log here: ${out##*: }"
	if command -v journalctl >/dev/null 2>&1; then
		show "journalctl -k --since '$since' | grep -F$shown"
		out=$(journalctl -k -q --no-pager --since "$since" 2>/dev/null | grep -F "${pat[@]}" | tail -n 60 || true)
		if [[ -n $out ]]; then
			printf '%s\n' "$out"
			return 0
		fi
		say "(journalctl -k has none either)"
	fi
	say "the kernel log is out of reach (kernel.dmesg_restrict, or a user namespace):"
	say "read the LOG rules' packet counters below instead"
	return 1
}

do_trace() {
	local cmd table chain prefix from host pport since mark i rc
	trace_cleaned=0

	section "trace: LOG rules first in every ISTIO_* chain"
	for cmd in iptables ip6tables; do
		command -v "$cmd" >/dev/null 2>&1 || continue
		while read -r table chain; do
			[[ -n $chain ]] || continue
			prefix="$chain $table: "
			[[ $cmd == iptables ]] || prefix="$chain $table v6: "
			if ((${#prefix} > 29)); then
				prefix="${prefix:0:27}: "
			fi
			show "$(cmdline ip netns exec "$ns" "$cmd" -t "$table" -I "$chain" 1 -j LOG --log-prefix "$prefix")"
			if ip netns exec "$ns" "$cmd" -t "$table" -I "$chain" 1 -j LOG --log-prefix "$prefix"; then
				added+=("$cmd|$table|$chain|$prefix")
			else
				warn "could not add the LOG rule to $cmd -t $table $chain"
				failures=$((failures + 1))
			fi
		done < <(chains "$cmd")
	done
	if ((${#added[@]} == 0)); then
		say "no ISTIO_* chain in $ns: the pod has no redirection rules (nothing to trace);"
		say "the probe below goes straight to its destination"
	fi

	section "trace: let the kernel log from other network namespaces"
	if [[ ! -e $NF_LOG_ALL ]]; then
		say "$NF_LOG_ALL does not exist here: only the initial network namespace has it,"
		say "and this shell runs in another one (a user namespace?). The kernel will not log"
		say "the LOG rules of $ns; their packet counters below still show the path."
	elif [[ $(cat "$NF_LOG_ALL") != 0 ]]; then
		say "$NF_LOG_ALL is already $(cat "$NF_LOG_ALL"): leaving it"
	else
		show "echo 1 > $NF_LOG_ALL        # was 0; restored at the end"
		if printf '1\n' 2>/dev/null >"$NF_LOG_ALL"; then
			nf_old=0
		else
			say "cannot write $NF_LOG_ALL (not the initial netns's root?): the kernel will not"
			say "log from $ns; the LOG rules' packet counters below still show the path."
		fi
	fi

	since=$(date -d '-1 second' '+%Y-%m-%d %H:%M:%S')
	mark=$(kmsg_mark)
	if [[ -n $wait_s ]]; then
		section "trace: waiting ${wait_s} s for your connection (Ctrl-C to stop waiting)"
		local waiting=1
		trap 'waiting=0' INT
		for ((i = 0; i < wait_s * 10 && waiting; i++)); do
			sleep 0.1 || true
		done
		trap 'warn "interrupted"; exit 130' INT
	else
		if [[ -z $probe ]]; then
			from=$(lab_get NETNS_A) host=$(lab_get ADDR_B) pport=$(lab_get PORT)
		else
			from=$probe_from host=$probe_host pport=$probe_port
		fi
		section "trace: the probe, $from -> $host port $pport"
		rc=0
		if command -v socat >/dev/null 2>&1; then
			local addr="TCP4:$host:$pport"
			[[ $host != *:* ]] || addr="TCP6:[$host]:$pport"
			show "echo 'debug-dump probe' | $(cmdline timeout 10 ip netns exec "$from" socat -T 3 - "$addr,connect-timeout=3")"
			echo 'debug-dump probe' | timeout 10 ip netns exec "$from" socat -T 3 - "$addr,connect-timeout=3" || rc=$?
		else
			show "echo 'debug-dump probe' | $(cmdline timeout 10 ip netns exec "$from" nc -N -w 3 "$host" "$pport")"
			echo 'debug-dump probe' | timeout 10 ip netns exec "$from" nc -N -w 3 "$host" "$pport" || rc=$?
		fi
		if ((rc)); then
			say "the probe failed (exit status $rc): the log lines below show how far it got"
		else
			say "the probe connection completed"
		fi
	fi

	if ((${#added[@]})); then
		section "trace: what the kernel logged"
		kernel_log "$since" "$mark" || true
		section "trace: packets each LOG rule saw (iptables-save -c)"
		say "    pkts  chain"
		log_counters
	fi
	section "trace: clean up"
	trace_cleanup
}

# ---- the dump -----------------------------------------------------------------

section "listeners in $ns"
in_ns ss -ntulp
section "the in-pod rules"
in_ns iptables-save
section "counters per rule (iptables -Z zeroes them)"
in_ns iptables -t nat -L -n -v -x
in_ns iptables -t mangle -L -n -v -x
section "policy routing of marked packets"
in_ns ip rule
in_ns ip route show table 100

if ((trace)); then
	do_trace
fi

section "tracked connections"
if command -v conntrack >/dev/null 2>&1; then
	in_ns conntrack -L
else
	say "conntrack is not installed (Debian package conntrack; see scripts/deps.sh)"
fi

section "the daemon's log: grep inpod"
[[ -n $log ]] || log=$(lab_get DAEMON_LOG)
if [[ -z $log ]]; then
	say "no daemon log known: pass --log FILE (no lab recorded in $STATE)"
elif [[ ! -r $log ]]; then
	warn "cannot read the daemon log $log"
	failures=$((failures + 1))
else
	run grep inpod "$log"
	if grep -q ' access: ' "$log"; then
		say "and its last access log lines:"
		show "grep ' access: ' $(cmdline "$log") | tail -n 6"
		grep ' access: ' "$log" | tail -n 6
	fi
fi

section "the DNS proxy (15053): its counters and last queries"
metrics_url=$(lab_get METRICS_URL)
if [[ -z $metrics_url ]]; then
	say "no /metrics known (no lab recorded in $STATE): skipped"
elif ! command -v curl >/dev/null 2>&1; then
	say "curl is not installed (see scripts/deps.sh)"
else
	show "curl -s $metrics_url/metrics | grep -E '^(istio_dns_|ztunnel_emulator_dns_)' | grep -v _bucket"
	curl -s "$metrics_url/metrics" | grep -E '^(istio_dns_|ztunnel_emulator_dns_)' | grep -v _bucket ||
		say "(no DNS counters: a daemon without the DNS proxy, or none answered)"
fi
if [[ -n $log && -r $log ]] && grep -q ' dns: ' "$log"; then
	show "grep ' dns: ' $(cmdline "$log") | tail -n 6"
	grep ' dns: ' "$log" | tail -n 6
fi

echo
if ((failures)); then
	printf '%s%s: %d command(s) failed (see above)%s\n' "$R" "$PROG" "$failures" "$N"
	exit 1
fi
say "done: $ns"
