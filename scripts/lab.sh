#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# lab.sh - the two-pod ambient lab: network namespaces pod-a and pod-b joined
# by a veth pair, an echo server in pod-b, ztunnel-emulator --profile ambient,
# and both pods enrolled with istio-cni's in-pod redirection rules
# (cni-emulator add --redirect). `down` removes exactly what `up` made,
# processes by their recorded PIDs only. Every command is echoed before it runs.
set -euo pipefail

PROG=${0##*/}
SCRIPTS=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd)
ROOT=$(dirname -- "$SCRIPTS")
# die, usage_error, the colours, cmdline, show, say, warn:
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPTS/lib.sh"
ZT=$(ze_bin ztunnel-emulator)
CNI=$(ze_bin cni-emulator)
STATE_BASE=${ZE_LAB_STATE:-/run/ztunnel-emulator-lab}
STATE=$STATE_BASE/ambient
NETNS_DIR=/var/run/netns
ADDR_A=198.18.0.1
ADDR_B=198.18.0.2
# The pods' IPv6 (ULA) addresses: a /64 inside fd00::/8 (RFC 4193 local
# addresses, never routed beyond a site) whose digits echo the IPv4 pair's
# 198.18.0.0/15 benchmarking block, so it cannot collide with a real site
# prefix (those have 40 random bits after fd) by more than chance, and reads
# as "the lab's" next to 198.18.0.1.
ADDR6_A=fd00:198:18::1
ADDR6_B=fd00:198:18::2
IFACE=eth0
# The lab's DNS: a resolver in netns ${P}dns on a bridge there, with a veth
# (dns0) from each pod and one from the host (the daemon's netns: with the
# tproxy rules it forwards from there, as Istio 1.21-1.23's ztunnel did).
DNS_ADDR=198.18.53.1
DNS_A=198.18.53.11
DNS_B=198.18.53.12
DNS_HOST=198.18.53.254
SEARCH="default.svc.cluster.local svc.cluster.local cluster.local"
WAIT=50      # tenths of a second to wait for the daemon, the server
TERM_WAIT=50 # tenths of a second after SIGTERM before SIGKILL

usage() {
	cat <<EOF
Usage: $PROG up [--variant tproxy|redirect] [--socket PATH] [--prefix P]
                [--port N] [--no-ipv6] [--dns-capture=false] [--hbone] [-q]
       $PROG down [-q]
       $PROG status

up    builds the lab (each step skipped when already done, so running it twice
      is harmless):
        - network namespaces \${P}pod-a and \${P}pod-b, lo up, joined by a veth
          pair ($IFACE in each): $ADDR_A/24 and $ADDR_B/24, and (unless
          --no-ipv6, or the kernel has no IPv6) $ADDR6_A/64 and
          $ADDR6_B/64, nodad;
        - the lab's DNS resolver (scripts/lab-resolver.py) in netns \${P}dns
          on $DNS_ADDR, reachable from both pods (dns0) and the host; the
          pods' /etc/netns/NETNS/resolv.conf name it, so dig pod-b.lab works;
          the daemon forwards to it and answers echo.default.svc.cluster.local
          (10.96.0.20) from the registry \$STATE/registry.yaml;
        - a TCP echo server in pod-b on port N
          (socat TCP-LISTEN:N,fork,reuseaddr) that appends who connected
          (SOCAT_PEERADDR) to peers.log;
        - ztunnel-emulator --profile ambient on PATH, in the background, its
          HTTP endpoints on free ports of 127.0.0.1 (the URLs are recorded);
        - both pods enrolled: cni-emulator add --redirect=VARIANT PATH NETNS
          (istio-cni's in-pod rules first, then the ZDS Add).
      It refuses to touch a pod-a/pod-b netns or a socket it did not make. If a
      step fails (or on Ctrl-C) it removes what it made.
down  stops the echo server and the daemon (by recorded PID only), removes the
      rules and deletes the pods (cni-emulator del --netns), deletes the
      network namespaces, the socket and the state files. Harmless when the
      lab is not up.
status  prints what is recorded and whether it is still there (exit 0 when the
      lab is up and whole, 1 otherwise).

Options (up):
  -v, --variant V     in-pod rules: tproxy (Istio 1.21-1.23, default) or
                      redirect (Istio >= 1.24)
  -s, --socket PATH   the daemon's ZDS socket (default: \$STATE/ztunnel.sock)
  -p, --prefix P      prefix of the netns names (default
                      \${ZE_LAB_PREFIX:-}, i.e. pod-a and pod-b); lets several
                      labs run side by side
      --port N        the echo server's port (default 8080)
      --no-ipv6       IPv4 only: no IPv6 addresses, no IPv6 echo server (by
                      default both are there, and cni-emulator captures IPv6
                      with the ip6tables twin of the rules); --ipv6 asks for
                      IPv6 explicitly (warned about when the kernel lacks it)
      --dns-capture=false   no port 53 -> 15053 rules
      --hbone         pod-a -> pod-b goes over HBONE (mTLS HTTP/2 to pod-b's
                      15008), as between mesh pods; by default it stays plain
                      TCP through pod-b's 15006 (--no-hbone-outbound), the
                      path the rest of the lab narrates
  -q, --quiet         do not echo the commands
  -h, --help          show this help and exit

State (PIDs, names, log paths, as KEY=VALUE lines in lab.env) is kept in
\$STATE = \${ZE_LAB_STATE:-/run/ztunnel-emulator-lab}/ambient, here
$STATE.
debug-dump.sh and walkthru.sh --ambient read it.

Must be run as root. Exit status: 0 on success, 1 on an error or refusal,
2 on a usage error.
EOF
}

# ---- arguments --------------------------------------------------------------

(($#)) || usage_error "no command given (up, down or status)"
case $1 in
-h | --help)
	usage
	exit 0
	;;
up | down | status) cmd=$1 ;;
*) usage_error "unknown command: $1" ;;
esac
shift

variant='' sock='' prefix=${ZE_LAB_PREFIX:-} port='' ipv6='' dns='' hbone='' quiet=0
prefix_given=0
if [[ -n ${ZE_LAB_PREFIX:-} ]]; then prefix_given=1; fi
while (($#)); do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	-v | --variant | -s | --socket | -p | --prefix | --port)
		(($# >= 2)) || usage_error "$1 needs an argument"
		case $1 in
		-v | --variant) variant=$2 ;;
		-s | --socket) sock=$2 ;;
		-p | --prefix) prefix=$2 prefix_given=1 ;;
		--port) port=$2 ;;
		esac
		shift
		;;
	--variant=* | --redirect=*) variant=${1#*=} ;;
	--socket=*) sock=${1#*=} ;;
	--prefix=*) prefix=${1#*=} prefix_given=1 ;;
	--port=*) port=${1#*=} ;;
	--ipv6) ipv6=1 ;;
	--no-ipv6) ipv6=0 ;;
	--dns-capture=*) dns=${1#*=} ;;
	--hbone) hbone=1 ;;
	-q | --quiet) quiet=1 ;;
	*) usage_error "unknown argument: $1" ;;
	esac
	shift
done

if [[ $cmd != up ]] && [[ -n $variant$sock$port$ipv6$dns$hbone ]]; then
	usage_error "$cmd takes no options but -q (it reads what up recorded)"
fi
case $variant in '' | tproxy | redirect) ;; *) usage_error "unknown variant '$variant' (tproxy or redirect)" ;; esac
case $dns in '' | true | false) ;; *) usage_error "--dns-capture takes true or false" ;; esac
if [[ -n $port ]] && ! [[ $port =~ ^[1-9][0-9]{0,4}$ && $port -le 65535 ]]; then
	usage_error "invalid port '$port'"
fi
[[ $prefix =~ ^[A-Za-z0-9_.-]{0,40}$ ]] || usage_error "invalid prefix '$prefix' (letters, digits, _ . -; at most 40)"
if [[ -n $sock && $sock != /* ]]; then sock=$PWD/$sock; fi

((EUID == 0)) || die "must be run as root (try: sudo $0 $cmd)"

# ---- presentation (cmdline, show, say, warn: lib.sh) -------------------------

# Echo a command, run it (its output shown unless quiet); return its status.
run() {
	show "$(cmdline "$@")"
	if ((quiet)); then
		"$@" >/dev/null
	else
		"$@"
	fi
}

# ---- state ------------------------------------------------------------------

# lab_get KEY: a value recorded in lab.env ('' when absent)
lab_get() {
	[[ -f $STATE/lab.env ]] || return 0
	sed -n "s/^$1=//p" "$STATE/lab.env" | tail -n 1
}

lab_set() {
	local tmp=$STATE/lab.env.tmp
	{
		[[ ! -f $STATE/lab.env ]] || grep -v "^$1=" "$STATE/lab.env" || true
		printf '%s=%s\n' "$1" "$2"
	} >"$tmp"
	mv -f -- "$tmp" "$STATE/lab.env"
}

recorded() { [[ -f $STATE/$1 ]] && grep -Fqx -- "$2" "$STATE/$1"; }
record() { recorded "$1" "$2" || printf '%s\n' "$2" >>"$STATE/$1"; }

# ours NAME EXE: the process recorded as NAME (NAME.pid, NAME.start) is alive,
# not a zombie, runs EXE (argv[0]'s base name) and started when recorded.
ours() {
	local pid want argv0 stat
	[[ -f $STATE/$1.pid ]] || return 1
	pid=$(head -n 1 "$STATE/$1.pid")
	[[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
	want=$(head -n 1 "$STATE/$1.start" 2>/dev/null || true)
	argv0=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | head -n 1) || return 1
	[[ ${argv0##*/} == "$2" ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != [ZX] ]] || return 1
	[[ -z $want || $(start_time "$pid") == "$want" ]]
}

record_pid() {
	printf '%s\n' "$2" >"$STATE/$1.pid"
	start_time "$2" >"$STATE/$1.start" || true
}

# stop NAME EXE: SIGTERM (then SIGKILL) the recorded process, if it is still ours.
stop() {
	local name=$1 exe=$2 pid i kids=()
	if [[ ! -f $STATE/$name.pid ]]; then
		return 0
	fi
	pid=$(head -n 1 "$STATE/$name.pid")
	if ! ours "$name" "$exe"; then
		say "$exe ($name, PID $pid) has already exited"
		rm -f -- "$STATE/$name.pid" "$STATE/$name.start"
		return 0
	fi
	if [[ $exe == socat ]]; then
		mapfile -t kids < <(children "$pid")
	fi
	show "kill -TERM $pid${kids[*]:+ ${kids[*]}}   # $exe ($name)"
	kill -TERM "$pid" "${kids[@]}" 2>/dev/null || true
	for ((i = 0; i < TERM_WAIT; i++)); do
		ours "$name" "$exe" || break
		sleep 0.1
	done
	if ours "$name" "$exe"; then
		warn "$exe (PID $pid) still running $((TERM_WAIT / 10)) s after SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.2
		if ours "$name" "$exe"; then
			warn "$exe (PID $pid) survived SIGKILL"
			return 1
		fi
	fi
	rm -f -- "$STATE/$name.pid" "$STATE/$name.start"
}

netns_exists() { [[ -e $NETNS_DIR/$1 ]]; }

# ---- down -------------------------------------------------------------------

do_down() {
	local failed=0 ns s sockp
	if [[ ! -d $STATE ]]; then
		say "the lab is not up: nothing to do ($STATE does not exist)"
		return 0
	fi
	sockp=$(lab_get SOCKET)
	# 1. rules and pods, while the daemon still answers
	if [[ -f $STATE/enrolled ]]; then
		while IFS= read -r ns; do
			[[ -n $ns ]] || continue
			if ! netns_exists "$ns"; then
				say "netns $ns is already gone (its rules went with it)"
			elif ours daemon ztunnel-emulator && [[ -S $sockp ]]; then
				run "$CNI" del --netns "$ns" "$sockp" "$ns" ||
					warn "could not delete pod $ns cleanly (its netns is deleted below anyway)"
			else
				say "the daemon is gone; the rules in $ns go with its netns below"
			fi
		done <"$STATE/enrolled"
		rm -f -- "$STATE/enrolled"
	fi
	# 2. the echo servers and the daemon, by recorded PID
	for s in server server6; do
		stop "$s" socat || failed=1
	done
	stop resolver python3 || failed=1
	dns_down
	stop daemon ztunnel-emulator || failed=1
	# 3. the network namespaces (the veth pair goes with them)
	if [[ -f $STATE/netns ]]; then
		while IFS= read -r ns; do
			[[ -n $ns && $ns != */* ]] || continue
			if netns_exists "$ns"; then
				run ip netns delete "$ns" || failed=1
			fi
		done <"$STATE/netns"
		((failed)) || rm -f -- "$STATE/netns"
	fi
	# 4. the socket (the daemon removes it on SIGTERM; not after SIGKILL)
	if [[ -n $sockp && -S $sockp && -f $STATE/socket.ours ]] && ((!failed)); then
		run rm -f -- "$sockp"
	fi
	if ((failed)); then
		warn "some things could not be removed; their records stay in $STATE (run '$PROG down' again)"
		return 1
	fi
	# 5. the state files, then the dir (and its parent if up made it and it is empty)
	local base_ours=0
	[[ ! -e $STATE/base.ours ]] || base_ours=1
	rm -f -- "$STATE"/{lab.env,lab.env.tmp,socket.ours,daemon.log,server.log,peers.log,base.ours,lock}
	rm -f -- "$STATE"/{registry.yaml,resolver.log}
	rm -f -- "$STATE"/ca/{root-cert.pem,root-key.pem}
	[[ ! -d $STATE/ca ]] || rmdir -- "$STATE/ca" 2>/dev/null || true
	if ! rmdir -- "$STATE" 2>/dev/null; then
		warn "left $STATE: it holds files $PROG did not write"
		return 1
	fi
	((!base_ours)) || rmdir -- "$STATE_BASE" 2>/dev/null || true
	say "lab down: nothing left"
}

# ---- status -----------------------------------------------------------------

do_status() {
	local ok=1 ns s
	if [[ ! -f $STATE/lab.env ]]; then
		echo "lab: down (no $STATE/lab.env)"
		return 1
	fi
	echo "lab: $STATE"
	sed 's/^/  /' "$STATE/lab.env"
	for ns in $(lab_get NETNS_A) $(lab_get NETNS_B); do
		if netns_exists "$ns"; then echo "  netns $ns: present"; else echo "  netns $ns: MISSING"; ok=0; fi
	done
	local procs=(daemon:ztunnel-emulator server:socat resolver:python3)
	[[ $(lab_get IPV6) != 1 ]] || procs+=(server6:socat)
	for s in "${procs[@]}"; do
		if ours "${s%%:*}" "${s#*:}"; then
			echo "  ${s#*:} (${s%%:*}): running, PID $(head -n 1 "$STATE/${s%%:*}.pid")"
		else
			echo "  ${s#*:} (${s%%:*}): NOT RUNNING"
			ok=0
		fi
	done
	((ok))
}

# ---- up ---------------------------------------------------------------------

wait_listen() { # NS PORT FAMILY(4|6)
	local i
	for ((i = 0; i < WAIT; i++)); do
		[[ -n $(ip netns exec "$1" ss -Htln -"$3" "sport = :$2" 2>/dev/null) ]] && return 0
		sleep 0.1
	done
	return 1
}

# The echo handler: socat runs it (sh -c) per connection, with SOCAT_* set.
# No commas (socat's option separator) in it.
# shellcheck disable=SC2016 # expanded by the handler's shell, not here
HANDLER='echo "peer=$SOCAT_PEERADDR:$SOCAT_PEERPORT local=$SOCAT_SOCKADDR:$SOCAT_SOCKPORT" >>"$LAB_PEERS_LOG"; exec cat'

start_server() { # NAME FAMILY
	local name=$1 listen pid
	if ours "$name" socat; then
		say "echo server ($name) already running, PID $(head -n 1 "$STATE/$name.pid")"
		return 0
	fi
	if [[ $2 == 4 ]]; then
		listen=TCP4-LISTEN:$port,fork,reuseaddr
	else
		listen=TCP6-LISTEN:$port,fork,reuseaddr,ipv6only=1
	fi
	show "LAB_PEERS_LOG=$(cmdline "$STATE/peers.log") $(cmdline ip netns exec "$ns_b" socat "$listen" "SYSTEM:$HANDLER") >>$(cmdline "$STATE/server.log") 2>&1 &"
	LAB_PEERS_LOG=$STATE/peers.log ip netns exec "$ns_b" socat "$listen" "SYSTEM:$HANDLER" \
		</dev/null >>"$STATE/server.log" 2>&1 9>&- &
	pid=$!
	record_pid "$name" "$pid"
	wait_listen "$ns_b" "$port" "$2" || die "the echo server ($listen) is not listening in $ns_b; $(tail -n 3 "$STATE/server.log" 2>/dev/null)"
	say "echo server PID $pid listening on port $port (IPv$2) in $ns_b"
}

start_daemon() {
	local pid i before
	if ours daemon ztunnel-emulator; then
		say "ztunnel-emulator already running, PID $(head -n 1 "$STATE/daemon.pid")"
		return 0
	fi
	if [[ -e $sock || -L $sock ]]; then
		if [[ -f $STATE/socket.ours && -S $sock ]]; then
			run rm -f -- "$sock" # left by our daemon, which has died
		else
			die "$sock already exists and is not this lab's; refusing to touch it (another ztunnel-emulator? pick another with --socket PATH)"
		fi
	fi
	before=$(grep -c ' listening on ' "$STATE/daemon.log" 2>/dev/null || true)
	# the lab's CA lives (and goes) with the lab's state, not in /var/lib;
	# without --hbone the lab narrates the plain-text path (15001 -> 15006)
	local dns_opts=(--registry "$STATE/registry.yaml" --dns-upstream "$DNS_ADDR")
	local hbone_opts=(--ca-dir "$STATE/ca")
	[[ $hbone == 1 ]] || hbone_opts+=(--no-hbone-outbound)
	# the newest release's log, with ztunnel's DNS query events (debug)
	local log_opts=(--log-level 'info,dns=debug')
	show "$(cmdline "$ZT" --profile ambient --admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0 \
		--metrics-addr 127.0.0.1:0 "${log_opts[@]}" "${dns_opts[@]}" "${hbone_opts[@]}" "$sock") >>$(cmdline "$STATE/daemon.log") 2>&1 &"
	"$ZT" --profile ambient --admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
		"${log_opts[@]}" "${dns_opts[@]}" "${hbone_opts[@]}" "$sock" </dev/null >>"$STATE/daemon.log" 2>&1 9>&- &
	pid=$!
	record_pid daemon "$pid"
	: >"$STATE/socket.ours"
	for ((i = 0; i < WAIT; i++)); do
		[[ -S $sock && $(grep -c ' listening on ' "$STATE/daemon.log" || true) -gt ${before:-0} ]] && break
		ours daemon ztunnel-emulator || break
		sleep 0.1
	done
	if ! [[ -S $sock ]] || ! ours daemon ztunnel-emulator; then
		tail -n 5 "$STATE/daemon.log" | sed 's/^/    /' >&2
		die "ztunnel-emulator did not come up on $sock (log: $STATE/daemon.log)"
	fi
	local url
	for url in config_dump:ADMIN_URL metrics:METRICS_URL healthz/ready:READY_URL; do
		lab_set "${url#*:}" "$(sed -n "s|.*[[:space:]]serving /${url%%:*} on \(http://[0-9.:]*\)/${url%%:*}[[:space:]]*\$|\1|p" \
			"$STATE/daemon.log" | tail -n 1)"
	done
	say "ztunnel-emulator PID $pid on $sock; admin $(lab_get ADMIN_URL)"
}

# resolv_conf NETNS: the pod's resolv.conf, which ip netns exec bind-mounts
# (/etc/netns/NETNS/resolv.conf) over /etc/resolv.conf.
# A user namespace cannot write the host's /etc: the pod then keeps the host's
# resolv.conf (RESOLV_CONF=0 is recorded), and a lookup names the resolver
# (dig @ADDR), which the rules still send through ztunnel's 15053.
resolv_conf() {
	local dir=/etc/netns/$1 made=0
	if [[ -e $dir ]] && ! recorded etcnetns "$dir"; then
		warn "$dir exists and is not this lab's: $1 keeps its resolv.conf"
		return 0
	fi
	[[ -e /etc/netns ]] || made=1
	show "mkdir -p -- $dir"
	if ! mkdir -p -- "$dir" 2>/dev/null; then
		warn "cannot create $dir (the host's /etc is not writable here): $1 keeps the host's resolv.conf; 'dig @$DNS_ADDR NAME' still goes through ztunnel's 15053"
		lab_set RESOLV_CONF 0
		return 0
	fi
	((made == 0)) || record etcnetns /etc/netns
	record etcnetns "$dir"
	show "printf 'nameserver %s\\nsearch %s\\n' $DNS_ADDR '$SEARCH' >$dir/resolv.conf"
	printf 'nameserver %s\nsearch %s\n' "$DNS_ADDR" "$SEARCH" >"$dir/resolv.conf"
}

# host_if: the host's leg to the DNS bridge, named after the prefix (<= 15 characters)
host_if() { printf 'zedns%s' "$(printf '%s' "$prefix" | cksum | cut -c1-6)"; }

# dns_leg NETNS|host ADDR N: a veth from NETNS (dns0) or the host to the bridge
dns_leg() {
	local ns=${prefix}dns hif
	ip -n "$ns" link show "leg$3" >/dev/null 2>&1 && return 0
	if [[ $1 == host ]]; then
		if ip -o addr show to "$2" | grep -q .; then
			warn "the host already has $2 (another lab?): no host leg to the resolver"
			return 0
		fi
		hif=$(host_if)
		record hostif "$hif"
		run ip link add "$hif" type veth peer name "leg$3" netns "$ns"
		run ip addr add "$2/24" dev "$hif"
		run ip link set "$hif" up
	else
		run ip link add dns0 netns "$1" type veth peer name "leg$3" netns "$ns"
		run ip -n "$1" addr add "$2/24" dev dns0
		run ip -n "$1" link set dns0 up
		resolv_conf "$1"
	fi
	run ip -n "$ns" link set "leg$3" master br0 up
}

lab_registry() {
	cat >"$STATE/registry.yaml" <<EOF
# The lab's registry (ztunnel's LOCAL_XDS format): pod-b serves echo.
workloads:
- uid: lab//v1/Pod/default/pod-b
  name: pod-b
  namespace: default
  workloadIps: ["$ADDR_B"]
  services:
    "default/echo.default.svc.cluster.local":
      80: $port
services:
- name: echo
  namespace: default
  hostname: echo.default.svc.cluster.local
  vips: ["/10.96.0.20"]
  ports:
    80: $port
EOF
}

dns_up() {
	local ns=${prefix}dns i
	say "the lab's DNS resolver in its own netns $ns ($DNS_ADDR), bridged to both pods and the host"
	if netns_exists "$ns" && ! recorded netns "$ns"; then
		die "netns '$ns' already exists and was not made by $PROG; refusing to touch it (delete it yourself, or use --prefix P)"
	fi
	if ! netns_exists "$ns"; then
		record netns "$ns"
		run ip netns add "$ns"
	fi
	run ip -n "$ns" link set lo up
	ip -n "$ns" link show br0 >/dev/null 2>&1 || run ip -n "$ns" link add br0 type bridge
	run ip -n "$ns" addr replace "$DNS_ADDR/24" dev br0
	run ip -n "$ns" link set br0 up
	dns_leg "$ns_a" "$DNS_A" 1
	dns_leg "$ns_b" "$DNS_B" 2
	dns_leg host "$DNS_HOST" 3
	lab_registry
	lab_set DNS_ADDR "$DNS_ADDR"
	lab_set REGISTRY "$STATE/registry.yaml"
	lab_set RESOLVER_LOG "$STATE/resolver.log"
	if ours resolver python3; then
		say "resolver already running, PID $(head -n 1 "$STATE/resolver.pid")"
		return 0
	fi
	show "$(cmdline ip netns exec "$ns" python3 "$SCRIPTS/lab-resolver.py" "$DNS_ADDR" \
		"pod-a.lab=$ADDR_A" "pod-b.lab=$ADDR_B") >>$(cmdline "$STATE/resolver.log") 2>&1 &"
	ip netns exec "$ns" python3 "$SCRIPTS/lab-resolver.py" "$DNS_ADDR" "pod-a.lab=$ADDR_A" \
		"pod-b.lab=$ADDR_B" </dev/null >>"$STATE/resolver.log" 2>&1 9>&- &
	record_pid resolver "$!"
	for ((i = 0; i < WAIT; i++)); do
		[[ -n $(ip netns exec "$ns" ss -Hlun "sport = :53" 2>/dev/null) ]] && return 0
		sleep 0.1
	done
	die "the resolver is not listening in $ns; $(tail -n 3 "$STATE/resolver.log" 2>/dev/null)"
}

# The host's leg and the pods' resolv.conf directories (the pods' legs and
# the bridge go with the netns).
dns_down() {
	local dir
	if [[ -f $STATE/hostif ]]; then
		dir=$(head -n 1 "$STATE/hostif")
		if [[ $dir == zedns* ]] && ip link show "$dir" >/dev/null 2>&1; then
			run ip link del "$dir"
		fi
		rm -f -- "$STATE/hostif"
	fi
	[[ -f $STATE/etcnetns ]] || return 0
	while IFS= read -r dir; do
		[[ $dir == /etc/netns/* ]] || continue
		rm -f -- "$dir/resolv.conf"
		rmdir -- "$dir" 2>/dev/null || warn "left $dir: it holds files $PROG did not write"
	done <"$STATE/etcnetns"
	# /etc/netns itself when up made it and it is empty now
	! grep -qx /etc/netns "$STATE/etcnetns" || rmdir /etc/netns 2>/dev/null || true
	rm -f -- "$STATE/etcnetns"
}

do_up() {
	local ns

	# The binaries, built with the --redirect support.
	[[ -x $ZT && -x $CNI ]] || die "build first: make -C $ROOT"
	local help
	help=$("$CNI" --help 2>/dev/null) || true
	[[ $help == *--redirect* ]] || die "$CNI has no --redirect (rebuild: make -C $ROOT)"
	for c in ip ss socat iptables-save flock python3; do
		command -v "$c" >/dev/null 2>&1 || die "'$c' not found (run scripts/deps.sh)"
	done

	# What is recorded wins for anything not given; a conflict is refused.
	if [[ -f $STATE/lab.env ]]; then
		local r
		for r in variant:VARIANT sock:SOCKET port:PORT ipv6:IPV6 dns:DNS_CAPTURE hbone:HBONE; do
			local var=${r%%:*} key=${r#*:} rec
			rec=$(lab_get "$key")
			if [[ -n ${!var} && -n $rec && ${!var} != "$rec" ]]; then
				die "the lab is up with $key=$rec ($STATE/lab.env); run '$PROG down' first to change it"
			fi
			[[ -n ${!var} ]] || printf -v "$var" '%s' "$rec"
		done
		rec=$(lab_get PREFIX)
		if ((prefix_given)) && [[ $prefix != "$rec" ]]; then
			die "the lab is up with prefix '$rec' ($STATE/lab.env); run '$PROG down' first"
		fi
		prefix=$rec
	fi
	variant=${variant:-tproxy} sock=${sock:-$STATE/ztunnel.sock} port=${port:-8080}
	dns=${dns:-true} hbone=${hbone:-0}
	ns_a=${prefix}pod-a ns_b=${prefix}pod-b
	# IPv6 by default, as istio-cni's ambient.ipv6; not on a kernel without it
	if [[ $ipv6 == 1 && ! -d /proc/sys/net/ipv6 ]]; then
		warn "this kernel has no IPv6: --ipv6 ignored"
	fi
	if [[ -d /proc/sys/net/ipv6 && $ipv6 != 0 ]]; then ipv6=1; else ipv6=0; fi

	# Never touch what is not ours.
	for ns in "$ns_a" "$ns_b"; do
		if netns_exists "$ns" && ! recorded netns "$ns"; then
			die "netns '$ns' already exists and was not made by $PROG; refusing to touch it (delete it yourself, or use --prefix P)"
		fi
	done
	if [[ -e $sock || -L $sock ]] && ! { [[ -f $STATE/socket.ours ]] && [[ $(lab_get SOCKET) == "$sock" ]]; }; then
		die "$sock already exists and is not this lab's; refusing to touch it (pick another with --socket PATH)"
	fi

	local made_base=0
	[[ -e $STATE_BASE ]] || made_base=1
	mkdir -p -- "$STATE"
	((!made_base)) || : >"$STATE/base.ours" # down removes $STATE_BASE too, if empty
	exec 9>>"$STATE/lock"
	flock -n 9 || die "another $PROG is working on $STATE; try again later"

	trap 'on_up_exit' EXIT
	trap 'warn "interrupted"; exit 130' INT
	trap 'warn "terminated"; exit 143' TERM
	trap 'exit 141' PIPE # our reader went away: still remove what we made

	lab_set VARIANT "$variant"
	lab_set PREFIX "$prefix"
	lab_set NETNS_A "$ns_a"
	lab_set NETNS_B "$ns_b"
	lab_set ADDR_A "$ADDR_A"
	lab_set ADDR_B "$ADDR_B"
	lab_set PORT "$port"
	lab_set IPV6 "$ipv6"
	if [[ $ipv6 == 1 ]]; then
		lab_set ADDR6_A "$ADDR6_A"
		lab_set ADDR6_B "$ADDR6_B"
	fi
	lab_set DNS_CAPTURE "$dns"
	lab_set HBONE "$hbone"
	lab_set SOCKET "$sock"
	lab_set DAEMON_LOG "$STATE/daemon.log"
	lab_set SERVER_LOG "$STATE/server.log"
	lab_set PEERS_LOG "$STATE/peers.log"

	say "two pods joined by a veth pair: $ns_a ($ADDR_A) and $ns_b ($ADDR_B), state in $STATE"
	for ns in "$ns_a" "$ns_b"; do
		if netns_exists "$ns"; then
			say "netns $ns exists (made earlier by $PROG)"
		else
			record netns "$ns"
			run ip netns add "$ns"
		fi
		run ip -n "$ns" link set lo up
	done
	if ! ip -n "$ns_a" link show "$IFACE" >/dev/null 2>&1; then
		run ip link add "$IFACE" netns "$ns_a" type veth peer name "$IFACE" netns "$ns_b"
	fi
	run ip -n "$ns_a" addr replace "$ADDR_A/24" dev "$IFACE"
	run ip -n "$ns_b" addr replace "$ADDR_B/24" dev "$IFACE"
	if [[ $ipv6 == 1 ]]; then
		run ip -n "$ns_a" -6 addr replace "$ADDR6_A/64" dev "$IFACE" nodad
		run ip -n "$ns_b" -6 addr replace "$ADDR6_B/64" dev "$IFACE" nodad
	fi
	run ip -n "$ns_a" link set "$IFACE" up
	run ip -n "$ns_b" link set "$IFACE" up

	say "the app in $ns_b: an echo server that logs who connected"
	start_server server 4
	if [[ $ipv6 == 1 ]]; then start_server server6 6; fi

	dns_up

	say "ztunnel, in the host netns; its listeners will live in the pods"
	start_daemon

	say "istio-cni: the in-pod rules ($variant variant), then the ZDS Add, for each pod"
	local dns_opt=''
	[[ $dns == true ]] || dns_opt=--dns-capture=false
	for ns in "$ns_a" "$ns_b"; do
		record enrolled "$ns"
		run "$CNI" add --redirect="$variant" ${dns_opt:+"$dns_opt"} "$sock" "$ns" ||
			die "cni-emulator add failed for $ns"
	done
	up_done=1
	say "lab up. Try:"
	say "  ip netns exec $ns_a socat - TCP:$ADDR_B:$port          (type, see it echoed)"
	if [[ $ipv6 == 1 ]]; then
		say "  ip netns exec $ns_a socat - TCP:[$ADDR6_B]:$port   (the same over IPv6, captured too)"
	fi
	say "  ip netns exec $ns_a dig pod-b.lab      (forwarded to the lab's resolver)"
	say "  ip netns exec $ns_a dig echo.default.svc.cluster.local   (the registry's answer)"
	say "  cat $STATE/peers.log      (the server's view of the source)"
	say "  grep access: $STATE/daemon.log"
	say "  $SCRIPTS/debug-dump.sh $ns_a [--trace]"
	say "  $PROG down"
}

up_done=0
on_up_exit() {
	local rc=$?
	trap - EXIT
	trap '' INT TERM PIPE # let the cleanup finish (writes to a closed pipe just fail)
	set +e
	if ((!up_done)); then
		warn "up did not finish: removing what it made"
		do_down || true
		rc=1
	fi
	exit "$rc"
}

case $cmd in
up) do_up ;;
down)
	if [[ -d $STATE ]]; then
		exec 9>>"$STATE/lock"
		flock -n 9 || die "another $PROG is working on $STATE; try again later"
	fi
	do_down
	;;
status) do_status ;;
esac
