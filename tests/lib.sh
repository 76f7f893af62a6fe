# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Variables here are for the test scripts that source this file.
# shellcheck disable=SC2034
# Helpers for the integration tests: TAP output, resources recorded for
# cleanup in the calling shell (never inside $(...), where the bookkeeping
# would be lost), bounded polling instead of bare sleeps.
set -euo pipefail

ZE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# ip, iptables, setcap, ss live in /usr/sbin and /sbin, which a plain user's
# PATH (Debian's login PATH) lacks: add them, whatever the PATH.
for _d in /sbin /usr/sbin; do
	case :$PATH: in *:"$_d":*) ;; *) PATH=$_d:$PATH ;; esac
done
unset _d
ZT=${ZE_TEST_ZT:-$ZE_ROOT/ztunnel-emulator/ztunnel-emulator}
ZT_WRAPPER=${ZT_WRAPPER:-}
CNI=$ZE_ROOT/cni-emulator/cni-emulator
TOOL=$ZE_ROOT/tests/helpers/zds-tool

_t_n=0
_t_failed=0
_pids=()
_netns=()
_mounts=()
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ze-test.XXXXXX")
# a daemon run as another user (tests/run.sh --setcap) makes its socket here
[[ -z ${ZE_TEST_SETCAP:-} ]] || chmod 1777 "$T_DIR"
# Unique per test file, short enough for readable `ip netns` output.
T_PREFIX="zet$$"

_cleanup() {
	local pid ns m
	for pid in "${_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${_pids[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for m in "${_mounts[@]}"; do
		umount -l "$m" 2>/dev/null || true
	done
	for ns in "${_netns[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$T_DIR"
}
trap _cleanup EXIT

# ---- TAP ------------------------------------------------------------------

ok() { _t_n=$((_t_n + 1)); echo "ok $_t_n - $*"; }
not_ok() {
	_t_n=$((_t_n + 1))
	_t_failed=$((_t_failed + 1))
	echo "not ok $_t_n - $*"
}
diag() { printf '%s\n' "$@" | sed 's/^/#   /'; }

# check DESC CMD...: ok when CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# is GOT WANT DESC
is() {
	if [[ $1 == "$2" ]]; then
		ok "$3"
	else
		not_ok "$3"
		diag "got:  '$1'" "want: '$2'"
	fi
}

# like TEXT PATTERN DESC: TEXT contains PATTERN (a fixed string).
like() {
	if [[ $1 == *"$2"* ]]; then
		ok "$3"
	else
		not_ok "$3"
		diag "text: '$1'" "does not contain: '$2'"
	fi
}

unlike() {
	if [[ $1 != *"$2"* ]]; then
		ok "$3"
	else
		not_ok "$3"
		diag "text: '$1'" "unexpectedly contains: '$2'"
	fi
}

done_testing() {
	echo "1..$_t_n"
	[[ $_t_failed == 0 ]]
}

# ---- polling --------------------------------------------------------------

# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds or time is up.
# SECONDS is a floor of WAIT_MIN (10 s): a loaded CI machine can stall a
# daemon for seconds, and a wait that succeeds costs nothing more for it.
WAIT_MIN=${WAIT_MIN:-10}
wait_for() {
	local t=$1
	((t >= WAIT_MIN)) || t=$WAIT_MIN
	local deadline=$((SECONDS + t))
	shift
	until "$@"; do
		((SECONDS <= deadline)) || return 1
		sleep 0.05
	done
}

# ---- resources ------------------------------------------------------------

# mk_netns NAME: creates $T_PREFIX-NAME with lo up; sets NS to its name.
mk_netns() {
	NS="$T_PREFIX-$1"
	ip netns add "$NS"
	_netns+=("$NS")
	ip -n "$NS" link set lo up
}

# ---- the two-pod data-path lab (10, 13, 15, 22) -----------------------------

# mk_pod_pair [--v4-only]: netns pod-a and pod-b (A, B) joined by a veth pair
# (eth0 in each) with $A4/$B4 (/24) and, unless --v4-only or the kernel has no
# IPv6, $A6/$B6 (/64, nodad); sets have_v6 to 1 or 0. The caller sets A4 B4
# (and A6 B6).
mk_pod_pair() {
	mk_netns pod-a
	A=$NS
	mk_netns pod-b
	B=$NS
	ip link add eth0 netns "$A" type veth peer name eth0 netns "$B"
	ip -n "$A" addr add "$A4/24" dev eth0
	ip -n "$B" addr add "$B4/24" dev eth0
	have_v6=0
	if [[ ${1:-} != --v4-only ]]; then
		if [[ -d /proc/sys/net/ipv6 ]] &&
			ip -n "$A" -6 addr add "$A6/64" dev eth0 nodad 2>/dev/null &&
			ip -n "$B" -6 addr add "$B6/64" dev eth0 nodad 2>/dev/null; then
			have_v6=1
		else
			echo "# this kernel has no IPv6 (no /proc/sys/net/ipv6, or ULA addresses refused): IPv6 checks left out"
		fi
	fi
	ip -n "$A" link set eth0 up
	ip -n "$B" link set eth0 up
}

# serve_echo PEERS-LOG: tcp-probe's echo server in pod-b on $PORT (both
# families when have_v6), appending who connected to PEERS-LOG; one TAP check
# that it listens. The caller sets PROBE and PORT.
serve_echo() {
	local listen=0.0.0.0

	: >"$1"
	if ((have_v6)); then listen=::; fi
	spawn ip netns exec "$B" "$PROBE" serve -l "$1" "$listen" "$PORT" >/dev/null
	check "the echo server listens in pod-b on port $PORT" \
		wait_for 5 eval "[[ \$(ip netns exec '$B' ss -Htln 'sport = :$PORT') == *LISTEN* ]]"
}

# ambient_caps_daemon: in the --setcap mode the ambient profile needs two
# capabilities more than the handoff (SO_MARK, IP_TRANSPARENT): ZT becomes a
# copy that has them. Elsewhere nothing changes.
ambient_caps_daemon() {
	[[ -n ${ZE_TEST_SETCAP:-} ]] || return 0
	echo "# --setcap: the ambient profile also needs cap_net_admin,cap_net_raw: the daemon is a copy with them"
	cp "$ZT" "$T_DIR/ztunnel-emulator"
	chmod 755 "$T_DIR/ztunnel-emulator"
	setcap cap_sys_admin,cap_net_admin,cap_net_raw+ep "$T_DIR/ztunnel-emulator"
	ZT=$T_DIR/ztunnel-emulator
}

# mk_netns_lo_down NAME: as mk_netns, lo left down.
mk_netns_lo_down() {
	NS="$T_PREFIX-$1"
	ip netns add "$NS"
	_netns+=("$NS")
}

del_netns() { ip netns del "$1"; }

# bind_mount SRC FILE: bind-mounts SRC on a new FILE; unmounted (lazily) at exit.
bind_mount() {
	touch "$2"
	mount --bind "$1" "$2"
	_mounts+=("$2")
}

# spawn CMD...: runs CMD in the background, records its PID in LAST_PID.
spawn() {
	"$@" &
	LAST_PID=$!
	_pids+=("$LAST_PID")
}

# hold_port NS PORT: a process in NS binds 127.0.0.1:PORT (no SO_REUSEPORT),
# so a pod start there fails; sets HOLDER to its PID.
hold_port() {
	spawn ip netns exec "$1" "$TOOL" hold-port 127.0.0.1 "$2" >/dev/null
	HOLDER=$LAST_PID
	wait_for 5 eval "[[ \$(ip netns exec '$1' ss -Htnl) == *'127.0.0.1:$2 '* ]]"
}

# start_daemon [OPTIONS]: ztunnel-emulator on $T_DIR/zt.sock with its HTTP
# endpoints on free ports; sets ZT_PID, SOCK, ZT_LOG.
start_daemon() {
	SOCK=${SOCK:-$T_DIR/zt.sock}
	ZT_LOG=${ZT_LOG:-$T_DIR/zt.log}
	touch "$ZT_LOG"
	# a stale socket may already exist: wait for this daemon's own line
	_started=$(grep -c " listening on " "$ZT_LOG" || true)
	# free ports for the HTTP endpoints: tests never collide with a real daemon
	# ZT_WRAPPER (e.g. valgrind, or setpriv for the setcap mode) runs the daemon
	# shellcheck disable=SC2086
	# the lab CA (ambient) in the test's own directory, never the system's
	# ZT_LOG_ARGS: the tests written against the walk-thru's Istio 1.21 lines
	# pin them (and every level); 28-releases sets it empty to see the defaults
	spawn $ZT_WRAPPER "$ZT" --admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
		--ca-dir "$T_DIR/ca" ${ZT_LOG_ARGS---log-format legacy --log-level debug} "$@" "$SOCK" >>"$ZT_LOG" 2>&1
	ZT_PID=$LAST_PID
	if ! wait_for 5 eval '[[ $(grep -c " listening on " "$ZT_LOG") -gt $_started ]]'; then
		echo "# daemon did not create $SOCK; its log:"
		sed 's/^/#   /' "$ZT_LOG"
		return 1
	fi
}

# stop_daemon: SIGTERM, waits; sets ZT_STATUS to its exit status.
stop_daemon() {
	kill -TERM "$ZT_PID"
	ZT_STATUS=0
	wait "$ZT_PID" || ZT_STATUS=$?
}

daemon_alive() { kill -0 "$ZT_PID" 2>/dev/null; }

fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# fds_back_to N: the daemon holds exactly N fds again (closes happen just after acks).
fds_back_to() { [[ $(fd_count "$ZT_PID") == "$1" ]]; }
# fds_settled: the daemon's fd count is the same twice, 0.3 s apart. Read an idle
# count after this (wait_for 10 fds_settled || true): straight after a
# cni-emulator request the daemon may not yet have seen its connection's EOF.
fds_settled() {
	local n
	n=$(fd_count "$ZT_PID")
	sleep 0.3
	[[ $(fd_count "$ZT_PID") == "$n" ]]
}

# ct_forget_resets NS: drops NS's conntrack entries that a reset left in
# CLOSE (ztunnel's RST to a redirected client). For their 10 s a new SYN of
# the same tuple does not reopen such an entry but follows its old REDIRECT:
# ztunnel's own marked connect that happens to get that source port lands on
# its 15001 (a relay to itself, seen as a 5th relay where 4 were held). Only
# between a test's steps: an entry of a live connection is never in CLOSE.
ct_forget_resets() { ip netns exec "$1" conntrack -D -p tcp --state CLOSE >/dev/null 2>&1 || true; }

# listeners NS: "addr:port" of every TCP listener in NS owned by the daemon.
listeners() {
	ip netns exec "$1" ss -Htnlp 2>/dev/null | awk -v pid="pid=$ZT_PID," \
		'index($0, pid) { print $4 }' | sort
}

listener_count() { listeners "$1" | wc -l; }

# in_own_netns PID: every thread of PID is in this shell's netns.
in_own_netns() {
	local mine t
	mine=$(readlink /proc/self/ns/net)
	for t in /proc/"$1"/task/*; do
		[[ $(readlink "$t/ns/net") == "$mine" ]] || return 1
	done
}

stream_count() { grep -c 'handling new stream' "$ZT_LOG" || true; }

# ---- the daemon's log (and a peer's, $PEERS when set) since a mark
mark_logs() {
	LOG_MARK=$(wc -l <"$ZT_LOG")
	if [[ -n ${PEERS:-} ]]; then PEERS_MARK=$(wc -l <"$PEERS"); fi
}
log_since() { tail -n +$((LOG_MARK + 1)) "$ZT_LOG"; }
peers_since() { tail -n +$((PEERS_MARK + 1)) "$PEERS"; }
# (grep reads a captured string: with pipefail, grep -q ending a pipe early
# would fail the pipe through the writer's SIGPIPE)
log_has() { grep -qE -- "$1" <<<"$(log_since)"; }
count_since() { log_since | grep -cE -- "$1" || true; }

# quiet CMD...: CMD with its output dropped (for check, whose own output must stay).
quiet() { "$@" >/dev/null 2>&1; }

# ---- a node agent written from the reference (tests/helpers/zds-agent-peer.py)

# agent_peer_start: the peer serves ZDS on $AGENT and takes commands (pc) on
# $CTL; sets PEER_PID. The ztunnel side of Istio's roles connects to it.
AGENT=$T_DIR/agent.sock
CTL=$T_DIR/agent.ctl
agent_peer_start() {
	spawn python3 "$ZE_ROOT/tests/helpers/zds-agent-peer.py" serve "$AGENT" "$CTL"
	PEER_PID=$LAST_PID
	wait_for 10 test -S "$CTL"
}
pc() { python3 "$ZE_ROOT/tests/helpers/zds-agent-peer.py" ctl "$CTL" "$@"; }
agent_peer_stop() {
	pc quit >/dev/null
	wait "$PEER_PID" 2>/dev/null || true
}

# ---- cni-emulator agent, started by a test

# agent_start ZDS [OPTION...]: the agent on ZDS, $CTL and $STATE (and the
# options), appending to $AG_LOG; sets AG_PID once it logs that it listens
# (returns 1, with its log, if it does not)
agent_starts() { cat "$AG_LOG" 2>/dev/null | grep -c "node agent listening" || true; }	# 0 before the log exists
agent_start() {
	local before zds=$1
	shift
	before=$(agent_starts)
	spawn "$CNI" agent --zds-socket "$zds" --control-socket "$CTL" --state-file "$STATE" "$@" >>"$AG_LOG" 2>&1
	AG_PID=$LAST_PID
	wait_for 10 eval '[[ $(agent_starts) -gt '"$before"' ]]' || {
		diag "the agent did not start; its log:" "$(tail -n 20 "$AG_LOG")"
		return 1
	}
}

# ---- ZDS bytes, hex (strings shorter than 128 bytes) ----------------------

_hexstr() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
_hexlen() { printf '%02x' "${#1}"; }
# _field NUM HEXPAYLOAD: a length-delimited field (payload < 128 bytes)
_field() { printf '%02x%02x%s' $(($1 << 3 | 2)) $((${#2} / 2)) "$2"; }
_sfield() { [[ -z $2 ]] || _field "$1" "$(_hexstr "$2")"; }

# zds_add_hex UID NAME NAMESPACE SA: WorkloadRequest.add as hex
zds_add_hex() {
	local info
	info=$(_sfield 1 "$2")$(_sfield 2 "$3")$(_sfield 3 "$4")
	_field 1 "$(_sfield 1 "$1")$(_field 2 "$info")"
}
zds_del_hex() { _field 2 "$(_sfield 2 "$1")"; }	# DelWorkload's uid is field 2
zds_keep_hex() { _field 5 "$(_sfield 1 "$1")"; }
ZDS_SNAPSHOT_HEX=1a00

# ---- the daemon's HTTP endpoints (started on free ports) ------------------

# http_port WHAT: the port the daemon logged for /config_dump, /healthz/ready or /metrics
http_port() {
	# (ztunnel >= 1.22's layout ends a line without fields in a tab)
	sed -n "s|.*serving $1 on http://127.0.0.1:\([0-9]*\)$1[[:space:]]*\$|\1|p" "$ZT_LOG" | tail -n 1
}
config_dump() { curl -sf "http://127.0.0.1:$(http_port /config_dump)/config_dump"; }
metrics() { curl -sf "http://127.0.0.1:$(http_port /metrics)/metrics"; }
# metric 'NAME{labels}': its value (0 when absent)
# (label values may hold spaces: match the whole key, take the last field)
metric() { metrics | awk -v k="$1 " 'index($0, k) == 1 { v = $NF } END { print v + 0 }'; }
# ready: sets READY_CODE, READY_BODY and READY_WHY (the emulator's reason, a header)
ready() {
	READY_BODY=$(curl -s -D "$T_DIR/.ready-headers" -w '\n%{http_code}' \
		"http://127.0.0.1:$(http_port /healthz/ready)/healthz/ready")
	READY_CODE=${READY_BODY##*$'\n'}
	READY_BODY=${READY_BODY%$'\n'*}
	READY_WHY=$(tr -d '\r' <"$T_DIR/.ready-headers" | sed -n 's/^X-Emulator-Not-Ready: //Ip')
}
# pod_field UID JQ: a field of one pod in config_dump (the emulator's own view of it)
pod_field() { config_dump | jq -r --arg u "$1" ".emulator.pods[] | select(.uid == \$u) | $2"; }
pod_uids() { config_dump | jq -r '.emulator.pods[].uid' | tr '\n' ' '; }

# holds_inode PID INODE: one of PID's fds is the file with that inode (e.g. a netns)
holds_inode() {
	local f
	for f in /proc/"$1"/fd/*; do
		[[ $(stat -L -c %i "$f" 2>/dev/null) == "$2" ]] && return 0
	done
	return 1
}
ns_inode() { stat -L -c %i "/run/netns/$1"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
