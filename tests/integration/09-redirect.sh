#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# istio-cni's in-pod redirection rules (shared/reference/inpod-rules.md), as
# cni-emulator installs and removes them in real network namespaces: the exact
# iptables lines of both variants, the ip rule and the table 100 route,
# idempotence, no rules left behind by a failed add, del --netns, and inspect.
# The expected lines are iptables-save's own spelling of the rules (1.8.x).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

# run CMD...: sets OUT (stdout), ERR (stderr) and RC.
run() {
	RC=0
	"$@" >"$T_DIR/out" 2>"$T_DIR/err" || RC=$?
	OUT=$(cat "$T_DIR/out")
	ERR=$(cat "$T_DIR/err")
}

# istio_lines NS: "table: line" for every ISTIO_* chain, rule in one, and jump
# to one, as iptables-save prints them; sorted by table and chain, each chain's
# rules in their order.
istio_sort() { LC_ALL=C sort -s -k1,1 -k2,2 -k3,3; }
istio_lines() {
	ip netns exec "$1" iptables-save |
		awk '/^\*/ { t = substr($0, 2) }
		     /^:ISTIO_/ || /^-A .*ISTIO_/ { sub(/ \[[0-9]+:[0-9]+\]$/, ""); print t ": " $0 }' |
		istio_sort
}
istio_count() { istio_lines "$1" | grep -c . || true; }
# the ip rule and the table 100 route, as ip(8) prints them (tabs and trailing blanks evened)
fw_rules() { ip -n "$1" rule | tr '\t' ' ' | grep -F 'fwmark 0x111/0xfff' || true; }
table100() { ip -n "$1" route show table 100 | sed 's/ *$//'; }

TPROXY_LINES=$(istio_sort <<'EOF'
mangle: :ISTIO_OUTPUT -
mangle: :ISTIO_PRERT -
mangle: -A PREROUTING -j ISTIO_PRERT
mangle: -A OUTPUT -j ISTIO_OUTPUT
mangle: -A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
mangle: -A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff
mangle: -A ISTIO_PRERT -s 169.254.7.127/32 -p tcp -m tcp -j ACCEPT
mangle: -A ISTIO_PRERT ! -d 127.0.0.1/32 -i lo -p tcp -j ACCEPT
mangle: -A ISTIO_PRERT -p tcp -m tcp --dport 15008 -m mark ! --mark 0x539/0xfff -j TPROXY --on-port 15008 --on-ip 0.0.0.0 --tproxy-mark 0x111/0xfff
mangle: -A ISTIO_PRERT -p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
mangle: -A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j TPROXY --on-port 15006 --on-ip 0.0.0.0 --tproxy-mark 0x111/0xfff
nat: :ISTIO_OUTPUT -
nat: -A OUTPUT -j ISTIO_OUTPUT
nat: -A ISTIO_OUTPUT -d 169.254.7.127/32 -p tcp -m tcp -j ACCEPT
nat: -A ISTIO_OUTPUT ! -o lo -p udp -m udp --dport 53 -j REDIRECT --to-ports 15053
nat: -A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT
nat: -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT
nat: -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001
EOF
)

REDIRECT_LINES=$(istio_sort <<'EOF'
mangle: :ISTIO_OUTPUT -
mangle: :ISTIO_PRERT -
mangle: -A PREROUTING -j ISTIO_PRERT
mangle: -A OUTPUT -j ISTIO_OUTPUT
mangle: -A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
mangle: -A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff
nat: :ISTIO_OUTPUT -
nat: :ISTIO_PRERT -
nat: -A PREROUTING -j ISTIO_PRERT
nat: -A OUTPUT -j ISTIO_OUTPUT
nat: -A ISTIO_OUTPUT -d 169.254.7.127/32 -p tcp -m tcp -j ACCEPT
nat: -A ISTIO_OUTPUT ! -o lo -p udp -m mark ! --mark 0x539/0xfff -m udp --dport 53 -j REDIRECT --to-ports 15053
nat: -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m tcp --dport 53 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15053
nat: -A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT
nat: -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT
nat: -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001
nat: -A ISTIO_PRERT -s 169.254.7.127/32 -p tcp -m tcp -j ACCEPT
nat: -A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m tcp ! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006
raw: :ISTIO_OUTPUT -
raw: :ISTIO_PRERT -
raw: -A PREROUTING -j ISTIO_PRERT
raw: -A OUTPUT -j ISTIO_OUTPUT
raw: -A ISTIO_OUTPUT -p udp -m mark --mark 0x539/0xfff -m udp --dport 53 -j CT --zone 1
raw: -A ISTIO_PRERT -p udp -m mark ! --mark 0x539/0xfff -m udp --sport 53 -j CT --zone 1
EOF
)

FW_RULE="32764: from all fwmark 0x111/0xfff lookup 100"
ROUTE="local default dev lo scope host"
POLICY="ip rule fwmark 0x111/0xfff lookup 100 and route local default dev lo table 100"
POLICY6="ip -6 rule fwmark 0x111/0xfff lookup 100 and route local ::/0 dev lo table 100"
# v6_line VARIANT NS installed|"already present" added|"already present": the add's IPv6
# line (fault 6), or its skip line on a kernel without IPv6
v6_line() {
	if [[ -d /proc/sys/net/ipv6 ]]; then
		echo "rules: IPv6: $1 variant $3 in $2 ($POLICY6 $4)"
	else
		echo "rules: IPv6 not captured: lo has no IPv6 in this pod ($2: no ip6tables rules, ip -6 rule or route installed)"
	fi
}
# v6_removed NS: del's IPv6 line, or nothing on a kernel without IPv6
v6_removed() {
	[[ ! -d /proc/sys/net/ipv6 ]] ||
		echo "rules: IPv6: removed from $1: ip6tables ISTIO_* chains, ip -6 rule fwmark 0x111/0xfff lookup 100, route local ::/0 dev lo table 100"
}

if ! command -v iptables-restore >/dev/null || ! command -v iptables-save >/dev/null; then
	echo "# iptables-restore/iptables-save missing (scripts/deps.sh installs iptables)"
	exit 77
fi

start_daemon
ADMIN="http://127.0.0.1:$(http_port /config_dump)"

# ---- the command line -------------------------------------------------------------
run "$CNI" add --dns-capture=false "$SOCK" x
is "$RC:$ERR" "2:cni-emulator: --dns-capture needs --redirect
Try 'cni-emulator --help' for more information." "--dns-capture without --redirect: usage error"
run "$CNI" add --redirect=iptables "$SOCK" x
is "$RC" 2 "--redirect=iptables: usage error"
like "$ERR" "invalid --redirect 'iptables': expected tproxy or redirect" "--redirect: the error names the bad variant"
run "$CNI" add --redirect=tproxy --dns-capture=maybe "$SOCK" x
like "$RC:$ERR" "2:cni-emulator: invalid --dns-capture 'maybe': expected true or false" "--dns-capture=maybe: usage error"
run "$CNI" add --json "$SOCK" x
like "$RC:$ERR" "2:cni-emulator: --json is not valid with 'add' (it is for inspect)" "--json with add: usage error"
run "$CNI" keep --netns x "$SOCK" x
like "$RC:$ERR" "2:cni-emulator: --netns is not valid with 'keep' (it is for del)" "--netns with keep: usage error"
run "$CNI" inspect
like "$RC:$ERR" "2:cni-emulator: missing NETNS" "inspect without NETNS: usage error"
run "$CNI" inspect --admin ftp://x/ y
like "$RC:$ERR" "2:cni-emulator: invalid --admin 'ftp://x/'" "inspect --admin with another scheme: usage error"
run "$CNI" --help
like "$OUT" "--redirect[=VARIANT]" "--help lists --redirect"
like "$OUT" "inspect [--json] [--socket SOCKET] [--admin URL] NETNS" "--help lists inspect"

# ---- tproxy variant (Istio 1.21-1.23's) ----------------------------------------------
mk_netns tp
TP=$NS
is "$(istio_count "$TP")" 0 "a new netns has no ISTIO_* rules"
run "$CNI" add --redirect=tproxy "$SOCK" "$TP"
is "$RC" 0 "add --redirect: exit 0"
is "$OUT" "rules: tproxy variant installed in $TP ($POLICY added)
$(v6_line tproxy "$TP" installed added)
listeners ready" "add --redirect: says what it installed, then 'listeners ready'"
is "$(istio_lines "$TP")" "$TPROXY_LINES" "tproxy: iptables-save shows exactly the variant's chains and rules"
is "$(fw_rules "$TP")" "$FW_RULE" "tproxy: ip rule shows '$FW_RULE'"
is "$(table100 "$TP")" "$ROUTE" "tproxy: table 100 holds '$ROUTE'"
is "$(listener_count "$TP")" 3 "tproxy: the pod's listeners are up"

run "$CNI" add --redirect=tproxy "$SOCK" "$TP"
is "$RC:$OUT" "0:rules: tproxy variant already present in $TP ($POLICY already present)
$(v6_line tproxy "$TP" "already present" "already present")
listeners ready" "a second add --redirect: already present"
is "$(istio_lines "$TP")" "$TPROXY_LINES" "a second add leaves one copy of every rule"
is "$(istio_count "$TP")" 18 "a second add: still 18 lines (3 chains, 15 rules)"
is "$(fw_rules "$TP" | wc -l)" 1 "a second add: one ip rule"
is "$(table100 "$TP" | wc -l)" 1 "a second add: one table 100 route"

run "$CNI" add --redirect=redirect --uid "$TP" "$SOCK" "$TP"
like "$OUT" "rules: tproxy variant already present (redirect variant requested; left as is) in $TP" \
	"another variant requested over existing rules: left as is, and said"
is "$(istio_lines "$TP")" "$TPROXY_LINES" "the existing variant is untouched"

# a nack for a pod whose rules were already there: they stay
run "$CNI" add --redirect=tproxy --uid other-uid "$SOCK" "$TP"
is "$RC" 1 "add of an enrolled netns under another uid: nacked"
like "$ERR" "already enrolled as pod" "the nack is printed"
unlike "$ERR" "removed the redirection rules" "nothing this add did not install is removed"
is "$(istio_lines "$TP")" "$TPROXY_LINES" "nacked add: the rules that were already there stay"
is "$(fw_rules "$TP")" "$FW_RULE" "nacked add: the ip rule that was already there stays"

# ---- inspect --------------------------------------------------------------------------
ip netns exec "$TP" nc -z -w 2 127.0.0.2 80 2>/dev/null || true	# traffic for the counters
run "$CNI" inspect --admin "$ADMIN" --socket "$SOCK" "$TP"
is "$RC" 0 "inspect: exit 0"
like "$OUT" "netns: $TP (/run/netns/$TP, inode $(ns_inode "$TP"))" "inspect: names the netns and its inode"
for port in 15008 15006 15001; do
	line=$(grep -F "127.0.0.1:$port " <<<"$OUT" || true)
	like "$line" "tcp LISTEN 127.0.0.1:$port" "inspect: listener 127.0.0.1:$port"
	like "$line" "users:((\"ztunnel-emulato\",pid=$ZT_PID,fd=" "inspect: 127.0.0.1:$port is owned by ztunnel-emulato (pid $ZT_PID)"
done
like "$OUT" "iptables: tproxy variant, DNS capture on" "inspect: recognises the tproxy variant"
like "$OUT" "  mangle: chains ISTIO_OUTPUT ISTIO_PRERT" "inspect: the mangle chains"
like "$OUT" "  nat: chains ISTIO_OUTPUT" "inspect: the nat chain"
like "$OUT" "-A ISTIO_PRERT -p tcp -m tcp --dport 15008 -m mark ! --mark 0x539/0xfff -j TPROXY" "inspect: the rules, with counters"
like "$OUT" "ip rules (fwmark or table 100):
  $FW_RULE" "inspect: the ip rule"
like "$OUT" "routes (table 100):
  $ROUTE" "inspect: the table 100 route"
like "$OUT" "daemon socket: $SOCK answers (ZDS v1 hello)" "inspect --socket: the daemon answers"
like "$OUT" "enrolled: yes, pod \"$TP\" (Up) at $ADMIN/config_dump" "inspect: enrolled, with the pod's uid and state"

run "$CNI" inspect --json --admin "$ADMIN" "$TP"
is "$RC" 0 "inspect --json: exit 0"
check "inspect --json: one valid JSON object" eval 'jq -e "type == \"object\"" <<<"$OUT" >/dev/null'
is "$(jq -r '[.enrolled, .pod.uid, .pod.state] | join(" ")' <<<"$OUT")" "true $TP Up" "inspect --json: enrolled as the pod, Up"
is "$(jq -r '.netns.inode' <<<"$OUT")" "$(ns_inode "$TP")" "inspect --json: the netns inode"
is "$(jq -r '[.iptables.variant, .iptables.dns_capture, (.iptables.chains | length), (.iptables.rules | length)] | join(" ")' <<<"$OUT")" \
	"tproxy true 3 15" "inspect --json: variant, DNS capture, 3 chains, 15 rules (3 of them jumps)"
is "$(jq -r --argjson pid "$ZT_PID" '[.listeners[] | select(.owners[].pid == $pid and .owners[].comm == "ztunnel-emulato") | .address] | sort | join(" ")' <<<"$OUT")" \
	"127.0.0.1:15001 127.0.0.1:15006 127.0.0.1:15008" "inspect --json: the three listeners, owned by the daemon"
is "$(jq -r '[.policy_routing.rules[].text, .policy_routing.routes[].text] | join(",")' <<<"$OUT")" \
	"$FW_RULE,$ROUTE" "inspect --json: the ip rule and the route"
pkts=$(jq -r '.iptables.rules[] | select(.table == "mangle" and .rule == "-A OUTPUT -j ISTIO_OUTPUT") | .packets' <<<"$OUT")
check "inspect --json: per-rule packet counters count traffic (mangle OUTPUT: ${pkts:-none})" test "${pkts:-0}" -gt 0
is "$(jq -r '[.daemon.reachable, .daemon.error] | tostring' <<<"$OUT")" '[true,null]' "inspect --json: the daemon was reachable"

run "$CNI" inspect --admin http://127.0.0.1:1 "$TP"
is "$RC" 1 "inspect with the daemon unreachable: exit 1 (enrolment unknown)"
like "$OUT" "enrolled: unknown: daemon not reachable at http://127.0.0.1:1/config_dump: Connection refused" \
	"inspect: says the daemon is not reachable"
run "$CNI" inspect --json --admin http://127.0.0.1:1 "$TP"
is "$(jq -r '[.enrolled, .daemon.reachable] | tostring' <<<"$OUT")" "[null,false]" "inspect --json, daemon unreachable: enrolled is null"
run "$CNI" inspect --admin "$ADMIN" "$T_PREFIX-missing"
is "$RC:$OUT" "1:" "inspect of a missing netns: exit 1, nothing on stdout"
like "$ERR" "cni-emulator: /run/netns/$T_PREFIX-missing: No such file or directory" "inspect of a missing netns: the error names it"

# ---- the redirect variant; DNS capture off ----------------------------------------
mk_netns rd
RD=$NS
run "$CNI" add --redirect=redirect "$SOCK" "$RD"
is "$RC:$OUT" "0:rules: redirect variant installed in $RD ($POLICY added)
$(v6_line redirect "$RD" installed added)
listeners ready" "add --redirect=redirect: installed"
is "$(istio_lines "$RD")" "$REDIRECT_LINES" "redirect: iptables-save shows exactly the variant's chains and rules"
is "$(fw_rules "$RD")" "$FW_RULE" "redirect: the ip rule"
is "$(table100 "$RD")" "$ROUTE" "redirect: the table 100 route"
run "$CNI" add --redirect=redirect "$SOCK" "$RD"
is "$(istio_lines "$RD")" "$REDIRECT_LINES" "redirect: a second add leaves one copy"
run "$CNI" inspect --json --admin "$ADMIN" "$RD"
is "$(jq -r '[.iptables.variant, .iptables.dns_capture, .enrolled] | join(" ")' <<<"$OUT")" "redirect true true" \
	"inspect --json: recognises the redirect variant"

mk_netns nodns
ND=$NS
run "$CNI" add --redirect=redirect --dns-capture=false "$SOCK" "$ND"
is "$RC" 0 "redirect, --dns-capture=false: exit 0"
like "$OUT" "rules: redirect variant without DNS capture installed in $ND" "--dns-capture=false: said so"
is "$(istio_lines "$ND")" "$(grep -v -e 15053 -e '^raw:' <<<"$REDIRECT_LINES")" \
	"redirect, no DNS capture: the variant's lines without 15053 and without the raw table"
is "$(ip netns exec "$ND" iptables-save | grep -c 15053 || true)" 0 "redirect, no DNS capture: no 15053 rule"
mk_netns tpnodns
run "$CNI" add --redirect=tproxy --dns-capture=false "$SOCK" "$NS"
is "$(istio_lines "$NS")" "$(grep -v 15053 <<<"$TPROXY_LINES")" "tproxy, no DNS capture: the variant's lines without 15053"
run "$CNI" inspect --admin "$ADMIN" "$NS"
like "$OUT" "iptables: tproxy variant, DNS capture off" "inspect: DNS capture off"

# ---- a failed add leaves no rules behind ------------------------------------------------
mk_netns held
HELD=$NS
hold_port "$HELD" 15006
run "$CNI" add --redirect=tproxy "$SOCK" "$HELD"
is "$RC" 1 "a port held in the pod: the add is nacked"
like "$OUT" "rules: tproxy variant installed in $HELD" "the rules were installed before the add"
like "$ERR" "failed to bind to address 127.0.0.1:15006: Address already in use" "the nack says why"
like "$ERR" "cni-emulator: $HELD: removed the redirection rules this add installed (the pod was not added)" \
	"the nacked add says it removed its rules"
is "$(istio_count "$HELD")" 0 "nacked add: no ISTIO_* chain or rule left"
is "$(fw_rules "$HELD")" "" "nacked add: no ip rule left"
is "$(table100 "$HELD")" "" "nacked add: no table 100 route left"
"$CNI" del "$SOCK" "$HELD" >/dev/null	# the daemon keeps it pending otherwise

mk_netns nodaemon
run "$CNI" add --redirect=redirect "$T_DIR/no-daemon.sock" "$NS"
is "$RC" 1 "no daemon: exit 1"
like "$ERR" "(is ztunnel-emulator running?)" "no daemon: said so"
unlike "$OUT" "rules:" "no daemon: nothing installed (connected before the rules)"
is "$(istio_count "$NS")" 0 "no daemon: no rules left"
is "$(fw_rules "$NS")$(table100 "$NS")" "" "no daemon: no ip rule, no route left"

# only what this add installed is taken back: an ip rule that was there stays
# (a nacked add: without a daemon nothing is installed at all)
mk_netns partial
ip -n "$NS" rule add fwmark 0x111/0xfff pref 32764 lookup 100
hold_port "$NS" 15006
run "$CNI" add --redirect=tproxy "$SOCK" "$NS"
"$CNI" del "$SOCK" "$NS" >/dev/null
like "$OUT" "(ip rule fwmark 0x111/0xfff lookup 100 already present, route local default dev lo table 100 added)" \
	"a pre-existing ip rule is reported as already present"
is "$(istio_count "$NS")" 0 "failed add: its chains are removed"
is "$(table100 "$NS")" "" "failed add: its route is removed"
is "$(fw_rules "$NS")" "$FW_RULE" "failed add: the ip rule that was already there stays"

# ---- del --netns ---------------------------------------------------------------------------
run "$CNI" del --netns "$TP" "$SOCK" "$TP"
v6rm=$(v6_removed "$TP") && v6rm=${v6rm:+$v6rm$'\n'}
is "$RC:$OUT" "0:rules: removed from $TP: ISTIO_* chains, ip rule fwmark 0x111/0xfff lookup 100, route local default dev lo table 100
${v6rm}pod $TP deleted" "del --netns: removes the rules, then deletes the pod"
is "$(istio_count "$TP")" 0 "del --netns: no ISTIO_* chain or rule left"
is "$(fw_rules "$TP")" "" "del --netns: the ip rule is gone"
is "$(table100 "$TP")" "" "del --netns: the table 100 route is gone"
is "$(listener_count "$TP")" 0 "del --netns: the pod's listeners are closed"
run "$CNI" inspect --admin "$ADMIN" "$TP"
like "$OUT" "iptables: no ISTIO_* chains" "inspect after del: no chains"
like "$OUT" "enrolled: no: none of the " "inspect after del: not enrolled"
like "$OUT" "listeners:
  (none)" "inspect after del: no listeners"
run "$CNI" del --netns "$TP" "$SOCK" "$TP"
is "$RC:$OUT" "0:rules: none in $TP
pod $TP deleted (no such pod)" "del --netns again: nothing to remove"
run "$CNI" del --netns "$RD" "$SOCK" "$RD"
is "$(istio_count "$RD"):$(fw_rules "$RD")$(table100 "$RD")" "0:" \
	"del --netns: the redirect variant is removed too (nat, mangle, raw), with rule and route"
del_netns "$ND"
run "$CNI" del --netns "$ND" "$SOCK" "$ND"
is "$RC:$OUT" "0:rules: $ND is gone; nothing to remove
pod $ND deleted" "del --netns of a deleted netns: only the Del"
run "$CNI" del --netns /proc/self/ns/uts "$SOCK" x
is "$RC" 1 "del --netns with a non-netns: exit 1"
like "$ERR" "is a uts namespace, not a network namespace" "del --netns with a non-netns: the error names it"

# ---- --istio-version: the variant of a bare --redirect (release.h) --------------------
mk_netns v23
run "$CNI" --istio-version 1.23 add --redirect "$SOCK" "$NS"
like "$RC:$OUT" "0:rules: tproxy variant installed in $NS" "--istio-version 1.23: a bare --redirect installs tproxy"
mk_netns v24
run "$CNI" add --istio-version 1.24.2 --redirect "$SOCK" "$NS"
like "$RC:$OUT" "0:rules: redirect variant installed in $NS" "--istio-version 1.24.2: redirect"
mk_netns vdef
run "$CNI" add --redirect "$SOCK" "$NS"
like "$RC:$OUT" "0:rules: redirect variant installed in $NS" "no --istio-version (the newest, 1.30): redirect"
mk_netns vexp
run "$CNI" add --redirect=tproxy --istio-version 1.30 "$SOCK" "$NS"
like "$RC:$OUT" "0:rules: tproxy variant installed in $NS" "an explicit --redirect=VARIANT overrides the release"
run "$CNI" --istio-version 1.19 add --redirect "$SOCK" "$NS"
like "$RC:$ERR" "2:cni-emulator: unknown Istio version '1.19': expected one of 1.21" "an unknown release: usage error"

# ---- sync --redirect (last: the snapshot drains every pod not listed) ---------------------
mk_netns s1
S1=$NS
mk_netns s2
S2=$NS
run "$CNI" sync --redirect=redirect "$SOCK" "$S1" "$S2"
is "$RC" 0 "sync --redirect: exit 0"
like "$OUT" "$S1: rules: redirect variant installed in $S1 ($POLICY added)
$S1: $(v6_line redirect "$S1" installed added)
$S1: listeners ready
$S2: rules: redirect variant installed in $S2" "sync --redirect: rules before each pod's add"
is "$(istio_lines "$S2")" "$REDIRECT_LINES" "sync --redirect: the rules are in place"

check "the daemon is still alive" daemon_alive
done_testing
