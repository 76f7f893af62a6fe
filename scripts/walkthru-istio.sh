# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Sourced by walkthru.sh, whose variables and helpers it uses and sets:
# shellcheck disable=SC2034,SC2154
#
# walkthru-istio.sh - the walk-thru's chapter with Istio's real roles
# (walkthru.sh --istio): cni-emulator agent is the node agent and serves ZDS,
# ztunnel-emulator --connect is ztunnel and connects to it. A pod appears and
# is enrolled, the agent restarts (the proxies keep serving, ztunnel
# reconnects and gets a snapshot), ztunnel is upgraded (two owners of every
# listener, the old one drains while a long transfer goes on), and the pod is
# deleted. Sourced by walkthru.sh, which provides step, run, must, check,
# good, bad, say, show and the option values; it leaves nothing behind.

ISTIO_STATE=$STATE/istio
IP_CLIENT=198.18.8.1
IP_WEB=198.18.8.2
APP_PORT=8080

# istio_pid NAME: the PID recorded for NAME (agent, zt1, zt2, server)
istio_pid() { head -n 1 "$ISTIO_STATE/$1.pid" 2>/dev/null || true; }

# istio_alive NAME: the recorded process runs (and is not a zombie)
istio_alive() {
	local p
	p=$(istio_pid "$1")
	[[ -n $p ]] && kill -0 "$p" 2>/dev/null &&
		[[ $(awk '/^State:/ { print $2 }' "/proc/$p/status" 2>/dev/null) != Z ]]
}

# istio_bg NAME LOG CMD...: echo CMD, run it in the background with its output
# appended to LOG, record its PID as NAME
istio_bg() {
	local name=$1 log=$2
	shift 2
	show "$(cmdline "$@") >>$(cmdline "$log") 2>&1 &"
	"$@" </dev/null >>"$log" 2>&1 &
	printf '%s\n' "$!" >"$ISTIO_STATE/$name.pid"
}

# istio_stop NAME: SIGTERM the recorded process, wait up to 30 s, then SIGKILL
istio_stop() {
	local p i
	p=$(istio_pid "$1")
	[[ -n $p ]] || return 0
	kill -TERM "$p" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do
		istio_alive "$1" || break
		sleep 0.1
	done
	istio_alive "$1" && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null || true
	rm -f -- "$ISTIO_STATE/$1.pid"
}

# poll TENTHS CMD...: CMD until it succeeds, at most TENTHS tenths of a second
poll() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# expect_line FILE TEXT WHAT: wait (20 s) for a log line holding TEXT
expect_line() {
	if poll 200 grep -qF -- "$2" "$1"; then
		good "$3"
	else
		bad "$3 (no '$2' in $1)"
	fi
}

# ready_url LOG: the /healthz/ready URL a daemon logged
# (ztunnel >= 1.22's layout: a tab before the message and after it)
ready_url() { sed -n 's|.*[[:space:]]serving /healthz/ready on \(http://[0-9.:]*/healthz/ready\)[[:space:]]*$|\1|p' "$1" | tail -n 1; }

# readiness NAME LOG WANT: readiness of a ztunnel is WANT (200 or 500), within 20 s
readiness() {
	local url='' code want=$3 i
	for ((i = 0; i < 200 && ${#url} == 0; i++)); do
		url=$(ready_url "$2")
		[[ -n $url ]] || sleep 0.1
	done
	show "curl -s -w '%{http_code}\\n' $url"
	# shellcheck disable=SC2016 # expanded by eval, in poll
	if poll 200 eval '[[ $(curl -s -o /dev/null -w "%{http_code}" "$url") == "$want" ]]'; then
		curl -s -w '%{http_code}\n' "$url" || true
		good "$1 answers $want on /healthz/ready"
	else
		code=$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)
		bad "$1 answers ${code:-nothing} on /healthz/ready, not $want"
	fi
}

# echo_through LINES: the client pod sends LINES lines to the app (one every
# 0.2 s) and checks they all come back; the output is kept in ECHOED
echo_through() {
	local n=$1
	show "for i in \$(seq $n); do echo line \$i; sleep 0.2; done | ip netns exec $NS_CLIENT socat -t 5 - TCP:$IP_WEB:$APP_PORT"
	ECHOED=$(for i in $(seq "$n"); do echo "line $i"; sleep 0.2; done |
		ip netns exec "$NS_CLIENT" socat -t 5 - "TCP:$IP_WEB:$APP_PORT" 2>&1 | tail -n 1) || true
	printf '%s\n' "$ECHOED"
	[[ $ECHOED == "line $n" ]]
}

# owners PORT: the PIDs owning LISTEN sockets on PORT in the web pod
owners() {
	ip netns exec "$NS_WEB" ss -Htlnp "sport = :$1" 2>/dev/null |
		grep -o 'pid=[0-9]*' | sort -u | tr '\n' ' '
}

istio_cleanup() {
	local n kept
	for n in zt2 zt1 agent server; do istio_stop "$n"; done
	for n in "$NS_WEB" "$NS_CLIENT"; do
		if [[ -f $ISTIO_STATE/netns.$n ]]; then
			[[ ! -e $NETNS_DIR/$n ]] || ip netns del "$n" 2>/dev/null || true
		fi
	done
	if ((failures)) && compgen -G "$ISTIO_STATE/*.log" >/dev/null; then
		kept=$(mktemp -d "${TMPDIR:-/tmp}/walkthru-istio.XXXXXX")
		cp -- "$ISTIO_STATE"/*.log "$kept/" && printf '%s# the logs are kept in %s%s\n' "$D" "$kept" "$N"
	fi
	rm -rf -- "$ISTIO_STATE"
	rmdir -- "$STATE" 2>/dev/null || true
}

istio_exit() {
	local rc=$?
	trap - EXIT
	set +e
	trap '' INT TERM HUP PIPE
	if ((istio_made)); then
		printf '\n%s# cleaning up: the daemons by their recorded PIDs, the pods, %s%s\n' \
			"$B" "$ISTIO_STATE" "$N" 2>/dev/null
		istio_cleanup
	fi
	exit "$rc"
}

istio_made=0
NS_WEB=${ZE_LAB_PREFIX:-}istio-web
NS_CLIENT=${ZE_LAB_PREFIX:-}istio-client

# istio_pods: the client and the web pod, joined by a veth pair, an echo
# server in web; only web matches the agent's --watch-match
istio_pods() {
	must ip netns add "$NS_CLIENT"
	: >"$ISTIO_STATE/netns.$NS_CLIENT"
	say "Now the pod. The agent's inotify watch sees it the moment 'ip netns add' makes it:"
	must ip netns add "$NS_WEB"
	: >"$ISTIO_STATE/netns.$NS_WEB"
	must ip -n "$NS_CLIENT" link add eth0 type veth peer name eth0 netns "$NS_WEB"
	must ip -n "$NS_CLIENT" addr add "$IP_CLIENT/24" dev eth0
	must ip -n "$NS_WEB" addr add "$IP_WEB/24" dev eth0
	local n
	for n in "$NS_CLIENT" "$NS_WEB"; do
		must ip -n "$n" link set lo up
		must ip -n "$n" link set eth0 up
	done
	say "The app in web: an echo server on port $APP_PORT."
	istio_bg server "$ISTIO_STATE/server.log" ip netns exec "$NS_WEB" socat \
		"TCP4-LISTEN:$APP_PORT,fork,reuseaddr" SYSTEM:cat
	poll 100 eval "[[ -n \$(ip netns exec '$NS_WEB' ss -Htln 'sport = :$APP_PORT') ]]" ||
		{ bad "the echo server does not listen on $APP_PORT"; abort; }
}

istio_walkthru() {
	local d agent_log zt1_log zt2_log p1 p2 long_pid
	STEPS=8
	abort() {
		printf '%s%s: step %d failed; stopping here%s\n' "$R" "$PROG" "$step_no" "$N" >&2
		exit 1
	}
	[[ ! -e $ISTIO_STATE ]] || die "$ISTIO_STATE exists: another --istio run, or one that was killed (remove it and the ${NS_WEB}/${NS_CLIENT} netns yourself)"
	for n in "$NS_WEB" "$NS_CLIENT"; do
		[[ ! -e $NETNS_DIR/$n ]] || die "netns '$n' already exists; refusing to touch it (set ZE_LAB_PREFIX to pick other names)"
	done
	for cmd in socat curl; do
		command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found (run scripts/deps.sh)"
	done
	cd -- "$ROOT" || exit 1
	unset MAKELEVEL MAKEFLAGS MFLAGS
	mkdir -p -- "$ISTIO_STATE"
	istio_made=1
	trap istio_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	d=$ISTIO_STATE agent_log=$ISTIO_STATE/agent.log zt1_log=$ISTIO_STATE/ztunnel-1.log
	zt2_log=$ISTIO_STATE/ztunnel-2.log

	printf '%sIstio ambient with its real roles, emulated%s\n' "$B" "$N"
	say "In a cluster the istio-cni node agent serves ZDS on /var/run/ztunnel/ztunnel.sock"
	say "and ztunnel connects to it: the walk-thru's roles, the other way round. Here"
	say "cni-emulator agent plays the node agent and ztunnel-emulator --connect plays ztunnel."
	say "state and logs in $ISTIO_STATE"

	build_step

	step "the node agent"
	say "The agent listens for ztunnels (ZDS) and for the CNI plugin's events, and watches"
	say "/run/netns for pods (the lab's stand-in for the Kubernetes informer):"
	istio_bg agent "$agent_log" "$CNI" agent --zds-socket "$d/ztunnel.sock" \
		--control-socket "$d/pluginevent.sock" --state-file "$d/agent.state" \
		--watch --watch-match "$NS_WEB" --redirect=redirect
	poll 100 test -S "$d/ztunnel.sock" || { bad "the agent did not create $d/ztunnel.sock"; abort; }
	good "the agent serves ZDS on $d/ztunnel.sock"

	step "ztunnel connects"
	say "ztunnel connects (backing off while the socket is missing), says Hello, and the agent"
	say "sends its snapshot - empty so far - then SnapshotSent. Only then is ztunnel ready:"
	istio_bg zt1 "$zt1_log" "$ZT" --connect "$d/ztunnel.sock" --profile ambient --ca-dir "$d/ca" \
		--drain-deadline 20 --admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0
	expect_line "$agent_log" "new ztunnel connected" "the agent: new ztunnel connected"
	expect_line "$zt1_log" "handling new stream" "ztunnel: handling new stream"
	readiness "ztunnel" "$zt1_log" 200

	step "a pod appears"
	istio_pods
	expect_line "$agent_log" "sending pod add to ztunnel" "the agent: sending pod add to ztunnel"
	p1=$(istio_pid zt1)
	poll 200 eval "[[ \$(owners 15006) == *pid=$p1* ]]" || true
	must ip netns exec "$NS_WEB" ss -ntlp
	if [[ $(owners 15006) == *"pid=$p1"* ]]; then
		good "ztunnel (PID $p1) owns web's 15006"
	else
		bad "no 15006 listener of ztunnel (PID $p1) in $NS_WEB"
	fi
	say "The agent's own view of its pods (GET /pods on its control socket):"
	check curl -s --unix-socket "$d/pluginevent.sock" http://agent/pods
	echo
	say "The client pod talks to the app; web's in-pod rules send it through ztunnel's 15006:"
	if echo_through 3; then good "the echo came back"; else bad "no echo from $IP_WEB:$APP_PORT"; fi
	expect_line "$zt1_log" "direction=\"inbound\"" "ztunnel logged the inbound connection"

	step "the agent restarts"
	say "The agent goes away (an upgrade of istio-cni, a crash). ztunnel keeps its proxies"
	say "serving, is not ready, and reconnects with backoff:"
	istio_stop agent
	expect_line "$zt1_log" "process stream ended with eof" "ztunnel: process stream ended with eof"
	readiness "ztunnel" "$zt1_log" 500
	if echo_through 2; then good "the pod is still served without the agent"; else bad "the pod lost its proxy"; fi
	say "The agent comes back, rebuilds its pod list from its state file and sends the snapshot:"
	istio_bg agent "$agent_log" "$CNI" agent --zds-socket "$d/ztunnel.sock" \
		--control-socket "$d/pluginevent.sock" --state-file "$d/agent.state" \
		--watch --watch-match "$NS_WEB" --redirect=redirect
	expect_line "$agent_log" "sending pod to ztunnel as part of snapshot" \
		"the agent: sending pod to ztunnel as part of snapshot"
	readiness "ztunnel" "$zt1_log" 200

	step "ztunnel is upgraded"
	say "A second ztunnel connects. The agent sends it the full snapshot and it binds every"
	say "listener beside the old one's (SO_REUSEPORT): two owners. A long transfer starts first:"
	echo_through 40 >"$d/long.out" 2>&1 &
	long_pid=$!
	istio_bg zt2 "$zt2_log" "$ZT" --connect "$d/ztunnel.sock" --profile ambient --ca-dir "$d/ca" \
		--admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0
	p2=$(istio_pid zt2)
	readiness "the new ztunnel" "$zt2_log" 200
	poll 200 eval "[[ \$(owners 15006) == *pid=$p2* ]]" || true
	must ip netns exec "$NS_WEB" ss -ntlp "sport = :15006"
	if [[ $(owners 15006) == *"pid=$p1"*"pid=$p2"* || $(owners 15006) == *"pid=$p2"*"pid=$p1"* ]]; then
		good "15006 has two owners: the old ztunnel ($p1) and the new one ($p2)"
	else
		bad "15006 is not owned by both ztunnels: $(owners 15006)"
	fi
	say "SIGTERM to the old one: it closes its listeners at once and drains (--drain-deadline"
	say "20) while the transfer goes on; new connections reach the new one:"
	show "kill -TERM $p1"
	kill -TERM "$p1"
	if echo_through 2; then good "a new connection is served (by the new ztunnel)"; else bad "a new connection failed during the upgrade"; fi
	wait "$long_pid" || true
	if [[ $(tail -n 1 "$d/long.out") == "line 40" ]]; then
		good "the long transfer through the old ztunnel completed while it drained"
	else
		bad "the long transfer broke off: $(tail -n 1 "$d/long.out")"
	fi
	poll 300 eval '! istio_alive zt1' || true
	if istio_alive zt1; then bad "the old ztunnel is still running"; else good "the old ztunnel has exited"; fi
	check grep -F 'shutdown complete' "$zt1_log"

	step "the pod is deleted"
	say "Deleting the netns is the pod's deletion: the agent sends Del to every ztunnel, and"
	say "the new one drains the pod's proxy at once:"
	must ip netns del "$NS_WEB"
	rm -f -- "$ISTIO_STATE/netns.$NS_WEB"
	expect_line "$agent_log" "removing pod from mesh" "the agent: removing pod from mesh"
	expect_line "$zt2_log" $'shutdown complete\tcomponent="inbound"' "the new ztunnel drained the pod"

	step "cleanup"
	say "Stop the agent and ztunnel by their PIDs; remove the client pod and the state:"
	istio_cleanup
	istio_made=0
	if [[ -e $NETNS_DIR/$NS_CLIENT || -e $ISTIO_STATE ]]; then
		bad "something is left: $NETNS_DIR/$NS_CLIENT or $ISTIO_STATE"
	else
		good "nothing left behind"
	fi

	echo
	if ((failures)); then
		printf '%s%s: %d check(s) FAILED:%s\n' "$R" "$PROG" "$failures" "$N"
		printf '  %s\n' "${failed_steps[@]}"
		exit 1
	fi
	printf '%sIstio roles chapter complete: every step succeeded, nothing left behind.%s\n' "$B" "$N"
	exit 0
}
