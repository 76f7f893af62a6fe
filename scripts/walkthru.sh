#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# walkthru.sh - the README walk-thru, narrated step by step, every command
# echoed before it runs: istio-cni (cni-emulator) hands a pod's network
# namespace to ztunnel (ztunnel-emulator), which binds the pod's listeners
# inside it; then the pod is deleted (ZDS Del) and ztunnel drains it. Leaves
# nothing behind, also when a step fails or on Ctrl-C.
set -euo pipefail

PROG=${0##*/}
SCRIPTS=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd)
ROOT=$(dirname -- "$SCRIPTS")
# die, usage_error, the colours, cmdline:
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPTS/lib.sh"
STATE=${ZE_LAB_STATE:-/run/ztunnel-emulator-lab}
NETNS_DIR=/var/run/netns
# relative to the repo root (the walk-thru cd's there) when run from a checkout
ZT=$(ze_bin ztunnel-emulator) CNI=$(ze_bin cni-emulator)
ZT=${ZT/#"$ROOT"\//./} CNI=${CNI/#"$ROOT"\//./}
SOCKET_WAIT=50 # tenths of a second to wait for the daemon's socket
STEPS=8

usage() {
	cat <<EOF
Usage: $PROG [--netns NAME] [--socket PATH] [--pause] [--admin-addr A]
              [--ready-addr A] [--metrics-addr A]
       $PROG --ambient [--variant tproxy|redirect] [--hbone]
              [--socket PATH] [--pause]
       $PROG --istio [--pause]

Runs the README walk-thru end to end, narrating each step and echoing each
command ('\$ command') before running it:
  1. build             make
  2. capabilities      what a non-root user would need (setcap)
  3. pod netns         scripts/netns-setup.sh NAME; ip -n NAME link show
  4. ztunnel           ztunnel-emulator PATH & (in the background)
  5. CNI handoff       ss -ntlp in the netns, cni-emulator PATH
                       /var/run/netns/NAME, ss -ntlp again
  6. verify            nc -v -z localhost 15008/15006/15001 (15002: refused),
                       scripts/verify.sh NAME, the daemon log | grep inpod
  7. delete the pod    cni-emulator del PATH NAME (ZDS Del: ztunnel drains
                       the pod's proxy), ss -ntlp in the netns (empty),
                       scripts/verify.sh --absent NAME,
                       grep 'draining proxy' in the daemon log
  8. cleanup           scripts/cleanup.sh
It refuses to start if netns NAME or PATH already exist (it never deletes what
it did not create), and cleans up after itself on failure or Ctrl-C.

With --ambient it runs the ambient data-path chapter instead, in the two-pod
lab of scripts/lab.sh:
  1. build             make
  2. the lab           scripts/lab.sh up --variant VARIANT: pod-a and pod-b on a
                       veth pair, an echo server in pod-b, ztunnel-emulator
                       --profile ambient, both pods enrolled with the in-pod
                       rules
  3. listeners         ss -ntlp in pod-a: ztunnel's listener set
  4. the rules         iptables-save, ip rule, ip route show table 100 in pod-a
  5. the exchange      counters zeroed (iptables -Z), then pod-a -> pod-b:8080
  6. counters          iptables -t nat -L ISTIO_OUTPUT -n -v -x in pod-a, and
                       the
                       inbound chain in pod-b (mangle ISTIO_PRERT for tproxy,
                       nat ISTIO_PRERT for redirect)
  7. the proof         the daemon's access log lines; the server's view of the
                       source address (pod-a's, not ztunnel's)
  8. inspect           cni-emulator inspect pod-b
  9. lab down          scripts/lab.sh down; nothing left
It refuses to start if a lab is already up, and takes the lab down on failure
or Ctrl-C. The pods are \${ZE_LAB_PREFIX}pod-a and \${ZE_LAB_PREFIX}pod-b.

With --istio it runs the chapter with Istio's real roles: the node agent
serves ZDS and ztunnel connects to it.
  1. build             make
  2. the node agent    cni-emulator agent --watch (ZDS server, control socket)
  3. ztunnel connects  ztunnel-emulator --connect: Hello, empty snapshot, ready
  4. a pod appears     ip netns add: the agent enrols it (rules, then the Add);
                       traffic from a client pod through ztunnel's 15006
  5. agent restart     ztunnel keeps serving, is not ready, reconnects and gets
                       the snapshot
  6. upgrade           a second ztunnel --connect co-owns the listeners; the old
                       one drains on SIGTERM while a long transfer completes
  7. pod deleted       ip netns del: Del to every ztunnel, the proxy drains
  8. cleanup           everything it made, by recorded PID
The pods are \${ZE_LAB_PREFIX}istio-web and \${ZE_LAB_PREFIX}istio-client.

Options:
  -n, --netns NAME    the pod's network namespace (default ns2)
  -s, --socket PATH   the daemon's Unix socket (default /tmp/zt.sock)
  -p, --pause         wait for Enter before each step (default: no pauses,
                      no stdin needed)
  -a, --ambient       the ambient data-path chapter (above)
      --hbone         with --ambient: pod-a -> pod-b goes over HBONE (mTLS
                      HTTP/2 to pod-b's 15008, as between mesh pods), and a
                      step shows the tunnel (ss, openssl s_client, metrics)
  -i, --istio         the chapter with Istio's real roles (above)
  -v, --variant V     with --ambient: the in-pod rules, tproxy (default) or
                      redirect
      --admin-addr A  the daemon's /config_dump (default 127.0.0.1:15000; when
                      that port is taken, a free one: 127.0.0.1:0)
      --ready-addr A  its /healthz/ready (default 127.0.0.1:15021, likewise)
      --metrics-addr A
                      its /metrics (default 127.0.0.1:15020, likewise)
  -h, --help          show this help and exit

Environment: ZE_ADMIN_ADDR, ZE_READY_ADDR, ZE_METRICS_ADDR (as the options).
State (PIDs, netns, log) is kept in \${ZE_LAB_STATE:-/run/ztunnel-emulator-lab}.
Must be run as root. Exit status: 0 when every step succeeded, 1 when one failed
(or it refused to start), 2 on a usage error, 128+N when stopped by signal N.
EOF
}

netns=ns2
sock=/tmp/zt.sock
pause=0
ambient=0
istio=0
hbone=0
variant=''
admin_addr=${ZE_ADMIN_ADDR-} ready_addr=${ZE_READY_ADDR-} metrics_addr=${ZE_METRICS_ADDR-}
netns_given=0
sock_given=0
while (($#)); do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	-n | --netns | -s | --socket | -v | --variant | --admin-addr | --ready-addr | --metrics-addr)
		(($# >= 2)) || usage_error "$1 needs an argument"
		case $1 in
		-n | --netns) netns=$2 netns_given=1 ;;
		-v | --variant) variant=$2 ;;
		--admin-addr) admin_addr=$2 ;;
		--ready-addr) ready_addr=$2 ;;
		--metrics-addr) metrics_addr=$2 ;;
		*) sock=$2 sock_given=1 ;;
		esac
		shift
		;;
	--netns=*) netns=${1#*=} netns_given=1 ;;
	--socket=*) sock=${1#*=} sock_given=1 ;;
	--variant=*) variant=${1#*=} ;;
	--admin-addr=*) admin_addr=${1#*=} ;;
	--ready-addr=*) ready_addr=${1#*=} ;;
	--metrics-addr=*) metrics_addr=${1#*=} ;;
	-p | --pause) pause=1 ;;
	-a | --ambient) ambient=1 ;;
	-i | --istio) istio=1 ;;
	--hbone) hbone=1 ;;
	*) usage_error "unknown argument: $1" ;;
	esac
	shift
done
if ((istio)); then
	((!ambient)) || usage_error "--istio and --ambient are two chapters: pick one"
	((!netns_given && !sock_given)) || usage_error "--netns and --socket do not go with --istio (it makes its own)"
	[[ -z $variant ]] || usage_error "--variant goes with --ambient"
fi
if ((ambient)); then
	((!netns_given)) || usage_error "--netns does not go with --ambient (the lab's pods are pod-a and pod-b)"
	case ${variant:-tproxy} in tproxy | redirect) ;; *) usage_error "unknown variant '$variant' (tproxy or redirect)" ;; esac
elif [[ -n $variant ]] || ((hbone)); then
	usage_error "--variant and --hbone go with --ambient"
fi

if [[ -z $netns || $netns == . || $netns == .. || $netns == */* || $netns == -* ]]; then
	usage_error "invalid netns name: '$netns'"
fi
[[ -n $sock ]] || usage_error "empty socket path"
[[ $sock == /* ]] || sock=$PWD/$sock # we cd to the repo root below

((EUID == 0)) || die "must be run as root (try: sudo $0)"
for cmd in ip ss nc ps grep; do
	command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found (run scripts/deps.sh)"
done
! in_source_tree || command -v make >/dev/null 2>&1 || die "'make' not found (run scripts/deps.sh)"

# http_addr GIVEN DEFAULT_PORT: GIVEN if set, else 127.0.0.1:DEFAULT_PORT when
# nothing listens there, else 127.0.0.1:0 (a free port: the daemon logs it) -
# another daemon or a dev server on 15000 must not fail the demo.
http_addr() {
	if [[ -n $1 ]]; then
		printf '%s\n' "$1"
	elif [[ -z $(ss -Htln "sport = :$2") ]]; then
		printf '127.0.0.1:%s\n' "$2"
	else
		printf '127.0.0.1:0\n'
	fi
}

# --- presentation (colours and cmdline: lib.sh) ------------------------------

# The walk-thru's own show and say, not lib.sh's: no quiet mode, and a write
# that fails is a failure here (set -e), not ignored.
show() { printf '%s$ %s%s\n' "$C" "$*" "$N"; }
say() { printf '%s# %s%s\n' "$D" "$*" "$N"; }
good() { printf '%sok%s   - %s\n' "$G" "$N" "$*"; }

failures=0
failed_steps=()
bad() {
	printf '%sFAIL%s - %s\n' "$R" "$N" "$*"
	failures=$((failures + 1))
	failed_steps+=("step $step_no: $*")
}

step_no=0
step() {
	if ((pause && step_no > 0)); then
		printf '%s[Enter] for step %d: %s %s' "$B" "$((step_no + 1))" "$1" "$N"
		read -r _ || echo
	fi
	step_no=$((step_no + 1))
	printf '\n%s=== Step %d/%d: %s ===%s\n' "$B" "$step_no" "$STEPS" "$1" "$N"
}

# Echo a command, run it; return its status.
run() {
	show "$(cmdline "$@")"
	local rc=0
	"$@" || rc=$?
	return "$rc"
}

# A command that must succeed: on failure, stop the walk-thru (the EXIT trap
# cleans up).
must() {
	local rc=0
	run "$@" || rc=$?
	if ((rc)); then
		bad "$(cmdline "$@") exited with status $rc"
		abort
	fi
}

# A check that should succeed: on failure note it and go on.
check() {
	local rc=0
	run "$@" || rc=$?
	((rc == 0)) || bad "$(cmdline "$@") exited with status $rc"
}

# A command that should fail (the demo's negative test).
expect_failure() {
	local rc=0
	run "$@" || rc=$?
	if ((rc)); then
		say "it failed, as expected (exit status $rc)"
	else
		bad "$(cmdline "$@") succeeded, but it should have failed"
	fi
}

# Step 1: build from a checkout; an installed walk-thru has nothing to build.
build_step() {
	step "build"
	if in_source_tree; then
		say "Build both programs (C; see the Makefile):"
		must make
	else
		say "Installed programs: nothing to build."
	fi
}

# --- the ambient data-path chapter (--ambient) ---------------------------------

LAB_STATE=$STATE/ambient

# lab_get KEY: a value scripts/lab.sh recorded in its lab.env
lab_get() {
	[[ -f $LAB_STATE/lab.env ]] || return 0
	sed -n "s/^$1=//p" "$LAB_STATE/lab.env" | tail -n 1
}

# feed TEXT CMD...: echo, then run, CMD with one line of TEXT on its stdin;
# its output is shown and kept in FED
feed() {
	local text=$1 rc=0
	shift
	show "echo '$text' | $(cmdline "$@")"
	FED=$(printf '%s\n' "$text" | "$@") || rc=$?
	[[ -z $FED ]] || printf '%s\n' "$FED"
	return "$rc"
}

# rule_packets NS TABLE CHAIN PATTERN: packets of CHAIN's rules holding PATTERN
rule_packets() {
	ip netns exec "$1" iptables-save -c -t "$2" 2>/dev/null | awk -v c="-A $3 " -v p="$4" '
		index($0, c) && index($0, p) { split(substr($1, 2), x, ":"); n += x[1] } END { print n + 0 }'
}

# On every way out of the chapter: take the lab down if it brought it up.
ambient_exit() {
	local rc=$?
	trap - EXIT
	set +e # a closed output pipe must not stop the cleanup
	trap '' INT TERM HUP PIPE # let the cleanup finish
	if ((lab_up && broken_pipe)); then
		# nobody reads our output any more: take the lab down silently
		scripts/lab.sh down -q >/dev/null 2>&1 || rc=1
	elif ((lab_up)); then
		printf '\n%s# taking the lab down%s\n' "$B" "$N"
		show "scripts/lab.sh down"
		scripts/lab.sh down || rc=1
	fi
	exit "$rc"
}

ambient_signal() {
	if [[ $1 == PIPE ]]; then
		broken_pipe=1
		trap '' PIPE # writing about it would raise it again
	fi
	printf '\n%s%s: interrupted by SIG%s%s\n' "$R" "$PROG" "$1" "$N" >&2 || true
	exit "$2"
}

# dig_a NETNS ARGS...: dig, shown; its output kept in DIG
dig_a() {
	show "$(cmdline ip netns exec "$1" dig +time=10 +tries=1 "${@:2}")"
	DIG=$(ip netns exec "$1" dig +time=10 +tries=1 "${@:2}" 2>&1) || true
	printf '%s\n' "$DIG" | sed -n '/HEADER/p; /flags:/p; /ANSWER SECTION/,/^$/p'
}

# The DNS step of the ambient chapter: one forwarded lookup, one registry answer.
dns_step() {
	local resolver dns_addr server
	resolver=$(lab_get RESOLVER_LOG) dns_addr=$(lab_get DNS_ADDR)
	step "DNS through ztunnel's 15053"
	say "The rules also send pod-a's UDP/53 to ztunnel's DNS proxy on 15053. A name ztunnel"
	say "does not know is forwarded to the resolver (lab.sh runs one on $dns_addr, in a"
	say "netns of its own; pod-a's resolv.conf names it), and the answer comes back as is:"
	# without a resolv.conf of its own (a user namespace) pod-a names the resolver
	server=()
	[[ $(lab_get RESOLV_CONF) != 0 ]] || server=("@$dns_addr")
	dig_a "$a" "${server[@]}" pod-b.lab
	if [[ $DIG == *"pod-b.lab."*"IN"*"A"*"$addr_b"* ]]; then
		good "pod-b.lab resolved to $addr_b (forwarded)"
	else
		bad "pod-b.lab did not resolve to $addr_b"
	fi
	check grep 'domain="pod-b.lab"' "$log"
	check tail -n 3 "$resolver"
	say "A service in ztunnel's registry (lab.sh's registry.yaml, LOCAL_XDS format) is"
	say "answered by ztunnel itself: authoritative (aa), TTL 30, never reaching the resolver:"
	dig_a "$a" "${server[@]}" echo.default.svc.cluster.local
	if [[ $DIG == *"flags: qr aa"* && $DIG == *"30"*"IN"*"A"*"10.96.0.20"* ]]; then
		good "echo.default.svc.cluster.local: A 10.96.0.20 from the registry (aa, TTL 30)"
	else
		bad "no registry answer for echo.default.svc.cluster.local"
	fi
	check grep 'domain="echo.default.svc.cluster.local" result="success"' "$log"
	if [[ $v == tproxy ]]; then
		say "With the tproxy rules (Istio 1.21-1.23) UDP/53 is redirected even with mark 1337,"
		say "so the proxy's own query came back to 15053; it forwards from its own netns"
		say "instead, as ztunnel did before 1.24:"
		check grep -P '\twarn\tdns\tpod' "$log"
	fi
}

# The proof, plain text: two access lines, outbound (pod-a's 15001) and
# inbound (pod-b's 15006), both to the original destination.
plain_proof() {
	local dir
	say "The daemon logged the connection twice, in ztunnel's access-log format: outbound"
	say "(pod-a's 15001) and inbound (pod-b's 15006), both to the original destination:"
	# (the lab's daemon logs as the newest release: tab-separated, target "access")
	check grep -P '\taccess\t' "$log"
	for dir in outbound inbound; do
		# the pod's own workload follows its address (src.* outbound, dst.* inbound)
		if grep -qP "connection complete\tsrc.addr=$addr_a:[0-9]*( src\.\w+=\S+)* dst.addr=$addr_b:$port( dst\.\w+=\S+)* direction=\"$dir\"" "$log"; then
			good "$dir: connection complete, dst.addr=$addr_b:$port"
		else
			bad "no complete $dir connection to $addr_b:$port in the access log"
		fi
	done
}

# shellcheck source-path=SCRIPTDIR source=walkthru-hbone.sh
. "$SCRIPTS/walkthru-hbone.sh"

lab_up=0
broken_pipe=0
ambient_walkthru() {
	local v=${variant:-tproxy} a b addr_a addr_b port log peers admin dpid n port_
	local in_table=mangle in_pat='--on-port 15006' in_what='TPROXY --on-port 15006'
	local lab_args=(--variant "$v")
	if [[ $v == redirect ]]; then
		in_table=nat in_pat='--to-ports 15006' in_what='REDIRECT --to-ports 15006'
	fi
	((sock_given)) && lab_args+=(--socket "$sock")
	STEPS=10
	if ((hbone)); then
		lab_args+=(--hbone)
		STEPS=11
	fi

	abort() {
		printf '%s%s: step %d failed; stopping here%s\n' "$R" "$PROG" "$step_no" "$N" >&2
		exit 1
	}

	if [[ -e $LAB_STATE ]]; then
		die "a lab is already up ($LAB_STATE); take it down first (scripts/lab.sh down), this chapter leaves nothing behind"
	fi
	for cmd in socat iptables-save; do
		command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found (run scripts/deps.sh)"
	done
	cd -- "$ROOT"
	# Build as a user typing `make` would, even when started by `make demo`.
	unset MAKELEVEL MAKEFLAGS MFLAGS
	trap ambient_exit EXIT
	trap 'ambient_signal INT 130' INT
	trap 'ambient_signal TERM 143' TERM
	trap 'ambient_signal HUP 129' HUP
	trap 'ambient_signal PIPE 141' PIPE

	printf '%sIstio ambient data path, emulated (%s variant)%s\n' "$B" "$v" "$N"
	say "In ambient mode the listeners ztunnel binds in a pod carry that pod's traffic:"
	say "istio-cni's in-pod rules send pod-a's outbound TCP to ztunnel's 15001, and the"
	say "inbound TCP of pod-b to its 15006; ztunnel relays both to the original destination."
	say "repo $ROOT, lab state $LAB_STATE"

	build_step

	step "the two-pod lab"
	say "Two network namespaces joined by a veth pair stand in for two pods on a node. An"
	say "echo server in pod-b plays the app. lab.sh starts ztunnel-emulator --profile ambient"
	say "and enrolls both pods the way istio-cni does: the in-pod rules first, then the Add."
	lab_up=1
	must scripts/lab.sh up "${lab_args[@]}"
	a=$(lab_get NETNS_A) b=$(lab_get NETNS_B) addr_a=$(lab_get ADDR_A) addr_b=$(lab_get ADDR_B)
	port=$(lab_get PORT) log=$(lab_get DAEMON_LOG) peers=$(lab_get PEERS_LOG) admin=$(lab_get ADMIN_URL)
	dpid=$(head -n 1 "$LAB_STATE/daemon.pid" 2>/dev/null || true)

	step "ztunnel's listeners in pod-a"
	say "As the debugging guide expects (seeds/000): 15001, 15006 and 15008 on every address"
	say "(*), DNS on 127.0.0.1:15053, all owned by the daemon, which runs in the host netns:"
	must ip netns exec "$a" ss -ntlp
	for port_ in 15001 15006 15008; do
		if [[ $(ip netns exec "$a" ss -Htnlp "sport = :$port_") == *"*:$port_ "*"pid=$dpid,"* ]]; then
			good "*:$port_ LISTEN in $a, owned by ztunnel-emulator (PID $dpid)"
		else
			bad "no *:$port_ listener of PID $dpid in $a"
		fi
	done

	step "the in-pod rules"
	say "What istio-cni installed in pod-a ($v variant). The last rule of nat ISTIO_OUTPUT,"
	say "REDIRECT --to-ports 15001, sends the pod's outbound TCP to ztunnel; ztunnel's own"
	say "connections carry mark 0x539 and pass. In pod-b, $in_table ISTIO_PRERT's $in_what"
	say "takes the inbound TCP to ztunnel's 15006."
	must ip netns exec "$a" iptables-save
	say "Marked packets (0x111) are delivered locally through table 100:"
	must ip netns exec "$a" ip rule
	must ip netns exec "$a" ip route show table 100

	step "the exchange"
	say "Zero the counters first, so that what grows is this exchange only:"
	must ip netns exec "$a" iptables -t nat -Z ISTIO_OUTPUT
	must ip netns exec "$b" iptables -t "$in_table" -Z ISTIO_PRERT
	say "pod-a connects to pod-b's address, as any app would; it knows nothing of ztunnel:"
	if feed "hello from pod-a" ip netns exec "$a" socat -t 2 - "TCP:$addr_b:$port" &&
		[[ $FED == "hello from pod-a" ]]; then
		good "the echo came back from $addr_b:$port"
	else
		bad "no echo from $addr_b:$port"
	fi

	step "the counters grew"
	say "The rule that caught the connection in pod-a (iptables -L -n -v -x: packets, bytes):"
	must ip netns exec "$a" iptables -t nat -L ISTIO_OUTPUT -n -v -x
	n=$(rule_packets "$a" nat ISTIO_OUTPUT '--to-ports 15001')
	if ((n > 0)); then
		good "pod-a: REDIRECT --to-ports 15001 matched $n packet(s): the connection went to ztunnel's 15001"
	else
		bad "pod-a: REDIRECT --to-ports 15001 matched no packet"
	fi
	if ((hbone)); then
		say "pod-b's $in_what did not take it: over HBONE it arrives on 15008, ztunnel's own"
		say "port, which the rules let through (the next step shows the tunnel)."
	else
		say "And the one that caught it arriving in pod-b:"
		must ip netns exec "$b" iptables -t "$in_table" -L ISTIO_PRERT -n -v -x
		n=$(rule_packets "$b" "$in_table" ISTIO_PRERT "$in_pat")
		if ((n > 0)); then
			good "pod-b: $in_what matched $n packet(s): the connection went to ztunnel's 15006"
		else
			bad "pod-b: $in_what matched no packet"
		fi
	fi

	step "the proof: ztunnel relayed it"
	if ((hbone)); then
		hbone_proof
	else
		plain_proof
	fi
	say "The server's view: who connected (SOCAT_PEERADDR). ztunnel in pod-b connected to the"
	say "app from the client's own address (IP_TRANSPARENT), so the app sees pod-a, not ztunnel:"
	check cat "$peers"
	if grep -q "^peer=$addr_a:" "$peers"; then
		good "the server saw $addr_a (pod-a) as the source"
	else
		bad "the server did not see $addr_a as the source"
	fi

	((!hbone)) || hbone_tunnel_step
	dns_step

	step "inspect"
	say "cni-emulator inspect puts it in one view: listeners, rules with counters, policy"
	say "routing, and whether the daemon has the pod enrolled:"
	check "$CNI" inspect --admin "$admin" "$b"

	step "lab down"
	say "lab.sh removes the rules and the pods (cni-emulator del --netns), stops the echo"
	say "server and the daemon by their recorded PIDs, deletes the netns and its state:"
	must scripts/lab.sh down
	lab_up=0
	if [[ -e $NETNS_DIR/$a || -e $NETNS_DIR/$b ]]; then
		bad "a pod's netns is still there"
	else
		good "netns $a and $b are gone"
	fi
	if [[ -n $dpid ]] && kill -0 "$dpid" 2>/dev/null && [[ $(awk '/^State:/ { print $2 }' "/proc/$dpid/status" 2>/dev/null) != Z ]]; then
		bad "ztunnel-emulator (PID $dpid) is still running"
	else
		good "ztunnel-emulator (PID $dpid) has exited"
	fi
	if [[ -e $LAB_STATE ]]; then
		bad "$LAB_STATE is still there"
	else
		good "$LAB_STATE is gone"
	fi

	echo
	if ((failures)); then
		printf '%s%s: %d check(s) FAILED:%s\n' "$R" "$PROG" "$failures" "$N"
		printf '  %s\n' "${failed_steps[@]}"
		exit 1
	fi
	printf '%sAmbient chapter complete: every step succeeded, nothing left behind.%s\n' "$B" "$N"
	exit 0
}

if ((ambient)); then
	ambient_walkthru
fi

# --- the chapter with Istio's real roles (--istio) -----------------------------
# shellcheck source-path=SCRIPTDIR source=walkthru-istio.sh
. "$SCRIPTS/walkthru-istio.sh"
if ((istio)); then
	istio_walkthru
fi

# Refuse, in one line, to touch anything that is not ours.
if [[ -e $NETNS_DIR/$netns ]]; then
	die "netns '$netns' already exists; refusing to touch it (delete it yourself, or pick another with --netns NAME)"
fi
if [[ -e $sock || -L $sock ]]; then
	die "$sock already exists; refusing to touch it (another ztunnel-emulator? remove it yourself, or pick another with --socket PATH)"
fi
for f in walkthru.pid daemon.pid netns socket dirs; do
	if [[ -e $STATE/$f ]]; then
		other=$(head -n 1 "$STATE/walkthru.pid" 2>/dev/null || true)
		if [[ $other =~ ^[0-9]+$ ]] && kill -0 "$other" 2>/dev/null; then
			die "another $PROG (PID $other) is running with state dir $STATE; wait for it (or set ZE_LAB_STATE)"
		fi
		die "$STATE holds records of an earlier run; run scripts/cleanup.sh first"
	fi
done

cd -- "$ROOT"
# Build as a user typing `make` would, even when started by `make demo`.
unset MAKELEVEL MAKEFLAGS MFLAGS

mkdir -p -- "$STATE"
# Claim the state dir; from here on, whatever we record gets cleaned up.
if ! (set -C && printf '%s\n' "$$" >"$STATE/walkthru.pid") 2>/dev/null; then
	die "another $PROG just claimed $STATE; try again later"
fi
export ZE_LAB_STATE=$STATE

daemon_pid=
daemon_launching=0
daemon_status= # its exit status, once reaped

# Collect the exit status of the daemon (our child) once it is gone.
reap_daemon() {
	if [[ -n $daemon_pid && -z $daemon_status ]] && ! alive "$daemon_pid"; then
		daemon_status=0
		wait "$daemon_pid" 2>/dev/null || daemon_status=$?
	fi
}

# Is PID running (and not a zombie waiting to be reaped)?
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

show_daemon_log() {
	if [[ -s $STATE/daemon.log ]]; then
		say "daemon log ($STATE/daemon.log):"
		sed 's/^/    /' "$STATE/daemon.log"
	fi
}

abort() {
	printf '%s%s: step %d failed; stopping here%s\n' "$R" "$PROG" "$step_no" "$N" >&2
	((step_no < 4)) || show_daemon_log
	exit 1
}

# --- cleanup, on every way out ---------------------------------------------

cleaned=0
record_daemon() {
	printf '%s\n' "$1" >"$STATE/daemon.pid"
	start_time "$1" >"$STATE/daemon.start" || true
}

cleanup_now() {
	local rc=0
	trap '' INT TERM HUP # let cleanup finish
	# Interrupted right after starting the daemon, before recording its PID?
	if ((daemon_launching)) && [[ ! -s $STATE/daemon.pid && -n ${!:-} ]]; then
		record_daemon "$!"
	fi
	scripts/cleanup.sh || rc=$?
	reap_daemon
	((rc)) || cleaned=1
	return "$rc"
}

on_exit() {
	local rc=$?
	trap - EXIT
	if ((!cleaned)); then
		printf '\n%s# cleaning up%s\n' "$B" "$N"
		show "scripts/cleanup.sh"
		cleanup_now || rc=1
	fi
	exit "$rc"
}

on_signal() {
	printf '\n%s%s: interrupted by SIG%s%s\n' "$R" "$PROG" "$1" "$N" >&2
	exit "$2"
}

trap on_exit EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP

# --- the walk-thru ---------------------------------------------------------

printf '%sIstio ambient pod handoff, emulated%s\n' "$B" "$N"
say "cni-emulator plays the istio-cni node agent: it opens the pod's network namespace"
say "and passes the fd over a Unix socket (SCM_RIGHTS) to ztunnel-emulator, which plays"
say "ztunnel: it setns()es into the pod's netns, binds 15008, 15006 and 15001 there and"
say "returns to its own netns; the sockets stay in the pod's."
say "repo $ROOT, pod netns $netns, socket $sock, state $STATE"

build_step
run ls -l "$CNI" "$ZT"

step "capabilities"
say "ztunnel-emulator needs CAP_SYS_ADMIN to setns() into another network namespace."
say "You are root, so there is nothing to do. Without root you would give it the capability"
say "(and re-run this after every rebuild, as linking drops it):"
show "sudo setcap cap_sys_admin+ep $ZT"
say "(not run: as root it is not needed)"

step "create the pod's network namespace"
say "A fresh netns stands in for the pod: only a loopback interface, brought up."
must scripts/netns-setup.sh "$netns"
must ip -n "$netns" link show

step "start ztunnel"
say "The daemon serves ZDS on $sock and waits for pods; its log goes to a file."
if [[ -e $sock || -L $sock ]]; then
	bad "$sock appeared meanwhile; not starting a daemon on it"
	abort
fi
# The daemon creates the socket's missing parent directories: record them too.
dirs=()
d=$(dirname -- "$sock")
while [[ $d != / && ! -e $d && ! -L $d ]]; do
	dirs+=("$d")
	d=$(dirname -- "$d")
done
if ((${#dirs[@]})); then
	printf '%s\n' "${dirs[@]}" >"$STATE/dirs"
fi
# The HTTP endpoints on their usual ports, or where asked, or on free ones
# when another process holds them (named on the command line only then).
http_opts=()
for w in admin:15000 ready:15021 metrics:15020; do
	v=${w%%:*}_addr
	a=$(http_addr "${!v}" "${w#*:}")
	[[ $a == "127.0.0.1:${w#*:}" ]] || http_opts+=("--${w%%:*}-addr" "$a")
done
if [[ ${#http_opts[@]} -gt 0 && -z $admin_addr$ready_addr$metrics_addr ]]; then
	say "A port of the HTTP endpoints is taken: the daemon picks free ones (its log says which)."
fi
# the walk-thru's seeds show Istio 1.21's log lines
http_opts+=(--log-format legacy)
show "$(cmdline "$ZT" "${http_opts[@]}" "$sock") > $(cmdline "$STATE/daemon.log") 2>&1 &"
daemon_launching=1
"$ZT" "${http_opts[@]}" "$sock" >"$STATE/daemon.log" 2>&1 </dev/null &
daemon_pid=$!
record_daemon "$daemon_pid"
daemon_launching=0
printf '[1] %s\n' "$daemon_pid"
say "PID $daemon_pid recorded in $STATE/daemon.pid (cleanup stops it by PID)"

for ((i = 0; i < SOCKET_WAIT; i++)); do
	[[ -S $sock ]] && break
	alive "$daemon_pid" || break
	sleep 0.1
done
if [[ -S $sock ]] && alive "$daemon_pid"; then
	printf '%s\n' "$sock" >"$STATE/socket"
	say "socket $sock is up after $((i / 10)).$((i % 10)) s"
elif alive "$daemon_pid"; then
	bad "no socket at $sock after $((SOCKET_WAIT / 10)) s"
	abort
else
	reap_daemon
	bad "ztunnel-emulator exited with status $daemon_status before creating $sock"
	abort
fi
must ls -l "$sock"
must ps -o pid,cmd -p "$daemon_pid"

step "hand the pod's netns to ztunnel (the CNI step)"
say "Before the handoff nothing listens in the pod's netns:"
must ip netns exec "$netns" ss -ntlp
say "cni-emulator opens $NETNS_DIR/$netns and sends its fd to the daemon:"
must "$CNI" "$sock" "$NETNS_DIR/$netns"
say "Now the pod's netns has the daemon's listeners, although the daemon runs in the host netns:"
must ip netns exec "$netns" ss -ntlp

step "verify the listeners in the pod's netns"
say "Connect from inside the pod's netns (the README does this from 'ip netns exec $netns bash'):"
for port in 15008 15006 15001; do
	check ip netns exec "$netns" nc -v -z localhost "$port"
done
say "Nothing listens on 15002, so this one is refused:"
expect_failure ip netns exec "$netns" nc -v -z localhost 15002
say "The same, checked by a script (and: no such listener in the host netns):"
check scripts/verify.sh "$netns"
say "The daemon's log, in ztunnel's format:"
check cat "$STATE/daemon.log"
say "The lab's 'kubectl logs ds/ztunnel -n istio-system | grep inpod':"
check grep inpod "$STATE/daemon.log"

step "delete the pod"
say "When the pod goes away, istio-cni sends ztunnel a ZDS Del with the pod's uid ($netns)."
say "ztunnel drains the pod's proxy: it closes the pod's listeners and drops its netns fd"
say "(the netns itself stays until it is deleted; here that is the cleanup step)."
must "$CNI" del "$sock" "$netns"
say "The pod's netns has no listeners any more:"
must ip netns exec "$netns" ss -ntlp
say "Checked by the script's inverse mode: no daemon listener, every port refused:"
check scripts/verify.sh --absent "$netns"
say "The daemon logged it as ztunnel does:"
check grep 'draining proxy' "$STATE/daemon.log"

step "cleanup"
say "Delete the netns and stop the daemon by its recorded PID (no pkill):"
show "scripts/cleanup.sh"
if cleanup_now; then
	rc=0
else
	rc=$?
	bad "scripts/cleanup.sh exited with status $rc"
fi
if [[ -e $NETNS_DIR/$netns ]]; then
	bad "netns $netns is still there"
else
	good "netns $netns is gone"
fi
if [[ -z $daemon_status ]]; then
	bad "ztunnel-emulator (PID $daemon_pid) is still running"
elif ((daemon_status == 0)); then
	good "ztunnel-emulator (PID $daemon_pid) has exited (status 0: it shut down cleanly on SIGTERM)"
else
	bad "ztunnel-emulator (PID $daemon_pid) exited with status $daemon_status (expected 0 after SIGTERM)"
fi
if [[ -e $sock ]]; then
	bad "$sock is still there"
else
	good "$sock is gone"
fi
if [[ -e $STATE ]]; then
	bad "$STATE is still there"
else
	good "$STATE is gone"
fi

echo
if ((failures)); then
	printf '%s%s: %d check(s) FAILED:%s\n' "$R" "$PROG" "$failures" "$N"
	printf '  %s\n' "${failed_steps[@]}"
	exit 1
fi
printf '%sWalk-thru complete: every step succeeded, nothing left behind.%s\n' "$B" "$N"
