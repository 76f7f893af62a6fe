#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# istio-cni's native nftables backend (istio-cni >= 1.28, inpod-rules.md
# "Native nftables backend"), as cni-emulator --backend nftables installs,
# identifies and removes it in real network namespaces: the three inet
# istio-ambient tables, both variants, DNS capture off, exact removal (a
# foreign table survives, the ruleset reads the same before and after),
# the refusal to mix backends both ways, inspect with counters, and the data
# path through 15001/15006 between two pods, IPv4 and IPv6 (the inet tables
# carry both families; the ip -6 rule and local ::/0 route come from the same
# policy routing as with iptables, only where lo has IPv6), a pod whose lo has
# no IPv6, and del SOCKET UID finding the nft rules without --backend.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PROBE=$ZE_ROOT/tests/helpers/tcp-probe
PORT=8080
A4=198.18.0.1 B4=198.18.0.2
A6=fd00:198:18::1 B6=fd00:198:18::2

# run CMD...: sets OUT (stdout), ERR (stderr) and RC.
run() {
	RC=0
	"$@" >"$T_DIR/out" 2>"$T_DIR/err" || RC=$?
	OUT=$(cat "$T_DIR/out")
	ERR=$(cat "$T_DIR/err")
}

if ! command -v nft >/dev/null; then
	echo "# nft missing (scripts/deps.sh installs nftables)"
	exit 77
fi

NFT() { "$CNI" "$@" --backend nftables; }
# the ruleset of NS; counter values left out (the traffic for inspect moves the foreign one)
ruleset() { ip netns exec "$1" nft list ruleset | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'; }
# the tables of NS, one "family name" a line, sorted
tables() { ip netns exec "$1" nft list tables | sed 's/^table //' | LC_ALL=C sort; }
# the text nft lists for TABLE in NS, counter values left out
table_text() {
	ip netns exec "$1" nft list table inet "$2" | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
}
no_istio_chains() { [[ $(ip netns exec "$1" iptables-save) != *ISTIO_* ]]; }
fw_rules() { ip -n "$1" rule | tr '\t' ' ' | grep -F 'fwmark 0x111/0xfff' || true; }
FW_RULE="32764: from all fwmark 0x111/0xfff lookup 100"
POLICY="ip rule fwmark 0x111/0xfff lookup 100 and route local default dev lo table 100"

# foreign NS: a table of someone else's, with a base chain and a counted rule
foreign() {
	ip netns exec "$1" nft -f - <<'EOF'
add table inet audit
add chain inet audit out { type filter hook output priority 10 ; }
add rule inet audit out meta l4proto tcp counter
EOF
}

# pkts NS JSON-TABLE RULE-PREFIX: the packets of the first rule of inspect --json that starts with it
pkts() {
	"$CNI" inspect --json --backend nftables --admin "$ADMIN" "$1" 2>/dev/null |
		jq -r --arg t "$2" --arg p "$3" \
			'[.nftables.rules[] | select(.table == $t and (.rule | startswith($p))) | .packets][0] // 0'
}

# lo_v6 NS: does NS's lo have IPv6 (what add checks for the ip -6 rule and route)?
lo_v6() { [[ $(ip netns exec "$1" cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null) == 0 ]]; }
SKIP_LINE="IPv6 not captured: lo has no IPv6 in this pod"
POLICY6="ip -6 rule fwmark 0x111/0xfff lookup 100 and route local ::/0 dev lo table 100"
# v6_line NS added|"already present": the second line an add prints in NS
v6_line() {
	if lo_v6 "$1"; then
		echo "rules: IPv6: the same inet tables in $1 ($POLICY6 $2)"
	else
		echo "rules: $SKIP_LINE ($1: no ip -6 rule or route installed; the inet tables hold their IPv6 rules all the same)"
	fi
}
# policy NS: the ip rules and table-100 routes of both families, to compare
policy() {
	{
		ip -n "$1" rule
		ip -n "$1" -6 rule
		ip -n "$1" route show table all
		ip -n "$1" -6 route show table all
	} 2>&1
}

ambient_caps_daemon
start_daemon --profile ambient --no-hbone-outbound
ADMIN="http://127.0.0.1:$(http_port /config_dump)"

# ---- the command line -------------------------------------------------------------
run "$CNI" add --redirect=tproxy --backend pf "$SOCK" x
is "$RC:$ERR" "2:cni-emulator: invalid --backend 'pf': expected iptables or nftables
Try 'cni-emulator --help' for more information." "--backend pf: usage error"
run "$CNI" keep --backend nftables "$SOCK" x
like "$RC:$ERR" "2:cni-emulator: --backend is not valid with 'keep'" "--backend with keep: usage error"
run "$CNI" --help
like "$OUT" "--backend BACKEND" "--help lists --backend"

# ---- tproxy variant: add, idempotence, inspect, exact removal ---------------------------
mk_netns tp
TP=$NS
foreign "$TP"
before=$(ruleset "$TP")
policy_before=$(policy "$TP")
run NFT add --redirect=tproxy "$SOCK" "$TP"
is "$RC" 0 "nftables tproxy: add --redirect --backend nftables: exit 0"
is "$OUT" "rules: tproxy variant installed in $TP ($POLICY added)
$(v6_line "$TP" added)
listeners ready" "nftables tproxy: says what it installed (IPv6: policy routing only), then 'listeners ready'"
is "$(tables "$TP")" "inet audit
inet istio-ambient-mangle
inet istio-ambient-nat" "nftables tproxy: the mangle and nat tables (no raw), the foreign one kept"
like "$(table_text "$TP" istio-ambient-mangle)" "tproxy to :15008 meta mark set meta mark & 0xfffff111 | 0x00000111 accept" \
	"nftables tproxy: TPROXY to 15008 in mangle"
like "$(table_text "$TP" istio-ambient-mangle)" "type route hook output priority mangle; policy accept;" \
	"nftables tproxy: mangle output is a route chain"
like "$(table_text "$TP" istio-ambient-nat)" "meta l4proto tcp ip daddr != 127.0.0.1 meta mark & 0x00000fff != 0x00000539 counter redirect to :15001" \
	"nftables tproxy: nat output redirects to 15001"
check "nftables tproxy: no ISTIO_* iptables chain" no_istio_chains "$TP"
is "$(fw_rules "$TP")" "$FW_RULE" "nftables tproxy: the same ip rule as the iptables backend"
if lo_v6 "$TP"; then
	is "$(ip -n "$TP" -6 rule | tr '\t' ' ' | grep -F 'fwmark 0x111/0xfff' || true)" "$FW_RULE" \
		"nftables tproxy: the ip -6 rule from policy routing, as with iptables"
	like "$(ip -n "$TP" -6 route show table 100)" "local default dev lo" "nftables tproxy: ... and the local ::/0 route"
	is "$(ip netns exec "$TP" ip6tables-save | grep -c ISTIO_ || true)" 0 "nftables tproxy: no ip6tables chain (the inet tables carry IPv6)"
fi
like "$(listeners "$TP" | tr '\n' ' ')" "*:15001 *:15006 *:15008" "nftables tproxy: the pod's listeners are up"

run NFT add --redirect=tproxy "$SOCK" "$TP"
is "$RC:$OUT" "0:rules: tproxy variant already present in $TP ($POLICY already present)
$(v6_line "$TP" "already present")
listeners ready" "nftables: a second add is a no-op, and says so"
is "$(ip netns exec "$TP" nft list table inet istio-ambient-nat | grep -c counter)" 8 \
	"nftables: a second add leaves one copy of every nat rule"

ip netns exec "$TP" nc -z -w 2 127.0.0.2 80 2>/dev/null || true # traffic for the counters
run NFT inspect --admin "$ADMIN" "$TP"
is "$RC" 0 "nftables inspect: exit 0"
like "$OUT" "nftables: tproxy variant, DNS capture on" "nftables inspect: identifies the tproxy variant"
like "$OUT" "  istio-ambient-mangle: chains prerouting output istio-prerouting istio-output" "nftables inspect: the mangle chains"
like "$OUT" "prerouting: type filter hook prerouting priority -150; policy accept;" "nftables inspect: base chains with hook and priority"
run NFT inspect --json --admin "$ADMIN" "$TP"
is "$(jq -r '[.nftables.variant, .nftables.dns_capture] | join(" ")' <<<"$OUT")" "tproxy true" "nftables inspect --json: variant and DNS capture"
n=$(pkts "$TP" istio-ambient-nat 'istio-output: oifname "lo" ip daddr != 127.0.0.1 counter accept')
check "nftables inspect --json: rule counters count traffic (nat lo accept: $n packets)" test "$n" -gt 0
run "$CNI" inspect --admin "$ADMIN" "$TP"
like "$OUT" "iptables: no ISTIO_* chains" "inspect with the iptables backend: none of its chains"

run NFT del --netns "$TP" "$SOCK" "$TP"
is "$RC" 0 "nftables del --netns: exit 0"
like "$OUT" "rules: removed from $TP: nft tables inet istio-ambient-*, ip rule" "nftables del --netns: says what it removed"
is "$(ruleset "$TP")" "$before" "nftables del: nft list ruleset exactly as before add (foreign table included)"
is "$(fw_rules "$TP")" "" "nftables del: the ip rule is gone"
is "$(policy "$TP")" "$policy_before" "nftables del: ip rules and routes of both families exactly as before add"
run NFT del --netns "$TP" "$SOCK" "$TP"
like "$OUT" "rules: none in $TP" "nftables del again: nothing left to remove"

# ---- redirect variant, with and without DNS capture -------------------------------------
mk_netns rd
RD=$NS
foreign "$RD"
before=$(ruleset "$RD")
run NFT add --redirect=redirect "$SOCK" "$RD"
is "$RC:$OUT" "0:rules: redirect variant installed in $RD ($POLICY added)
$(v6_line "$RD" added)
listeners ready" "nftables redirect: installed"
is "$(tables "$RD" | tr '\n' ' ')" "inet audit inet istio-ambient-mangle inet istio-ambient-nat inet istio-ambient-raw " \
	"nftables redirect: nat, mangle and raw (DNS capture)"
like "$(table_text "$RD" istio-ambient-nat)" "type nat hook prerouting priority dstnat; policy accept;" \
	"nftables redirect: nat prerouting at dstnat (-100)"
like "$(table_text "$RD" istio-ambient-nat)" "ip6 daddr != ::1 tcp dport != 15008 meta mark & 0x00000fff != 0x00000539 counter redirect to :15006" \
	"nftables redirect: inet table with the v6 twin of the 15006 redirect"
like "$(table_text "$RD" istio-ambient-raw)" "udp sport 53 meta mark & 0x00000fff != 0x00000539 counter ct zone set 1" \
	"nftables redirect: the DNS conntrack zone in raw"
run NFT inspect --admin "$ADMIN" "$RD"
like "$OUT" "nftables: redirect variant, DNS capture on" "nftables inspect: identifies the redirect variant"
run NFT del --netns "$RD" "$SOCK" "$RD"
is "$RC:$(ruleset "$RD")" "0:$before" "nftables redirect del: ruleset exactly as before"

mk_netns nodns
ND=$NS
run NFT add --redirect=redirect --dns-capture=false "$SOCK" "$ND"
is "$RC" 0 "nftables redirect, DNS capture off: installed"
is "$(tables "$ND" | tr '\n' ' ')" "inet istio-ambient-mangle inet istio-ambient-nat " "nftables, DNS capture off: no raw table"
unlike "$(table_text "$ND" istio-ambient-nat)" ":15053" "nftables, DNS capture off: no 15053 rule"
run NFT inspect --admin "$ADMIN" "$ND"
like "$OUT" "nftables: redirect variant, DNS capture off" "nftables inspect: DNS capture off identified"

# a changed table: not a variant; add refuses, inspect says so
ip netns exec "$ND" nft flush chain inet istio-ambient-nat istio-output
run NFT inspect --admin "$ADMIN" "$ND"
like "$OUT" "nftables: istio-ambient tables matching no known variant" "nftables inspect: a flushed chain matches no variant"
run NFT add --redirect=redirect --dns-capture=false --uid nd2 "$SOCK" "$ND"
is "$RC" 1 "nftables add over a changed table: exit 1"
like "$ERR" "not a complete redirect variant without DNS capture (istio-ambient-nat chain istio-output differs); nothing installed" \
	"nftables add over a changed table: names what differs"
run NFT del --netns "$ND" "$SOCK" "$ND"
is "$RC:$(tables "$ND")" "0:" "nftables del of a changed set: the tables go all the same"

# ---- the backends do not mix ------------------------------------------------------------
mk_netns mix
MX=$NS
run "$CNI" add --redirect=redirect "$SOCK" "$MX"
is "$RC" 0 "mix: iptables rules installed first"
ipt_before=$(ip netns exec "$MX" iptables-save | grep -c ISTIO_)
run NFT add --redirect=redirect --uid mix2 "$SOCK" "$MX"
is "$RC" 1 "mix: add --backend nftables over iptables rules: exit 1"
like "$ERR" "the pod already has istio-cni's iptables rules (" "mix: the refusal names the iptables backend"
# (in iptables-save's table order, which differs between iptables-nft and -legacy)
named=$(sed -n 's/.*iptables rules (\([^)]*\)).*/\1/p' <<<"$ERR" | tr -d ',' | xargs -n2 | LC_ALL=C sort | tr '\n' ' ')
is "$named" "mangle ISTIO_OUTPUT mangle ISTIO_PRERT nat ISTIO_OUTPUT nat ISTIO_PRERT raw ISTIO_OUTPUT raw ISTIO_PRERT " \
	"mix: ... and each of its six chains"
like "$ERR" "istio-cni does not mix backends: nothing installed, remove them first (del --netns --backend iptables)" \
	"mix: the refusal says what to do"
is "$(tables "$MX" | grep -c istio-ambient || true)" 0 "mix: no nft table installed"
is "$(ip netns exec "$MX" iptables-save | grep -c ISTIO_)" "$ipt_before" "mix: the iptables rules untouched"
run "$CNI" del --netns "$MX" "$SOCK" "$MX"
is "$RC" 0 "mix: iptables rules removed"

run NFT add --redirect=tproxy "$SOCK" "$MX"
is "$RC" 0 "mix: nft rules installed"
run "$CNI" add --redirect=tproxy --uid mix3 "$SOCK" "$MX"
is "$RC" 1 "mix: add with iptables over nft tables: exit 1"
like "$ERR" "the pod already has istio-cni's nftables rules (table inet istio-ambient-mangle, table inet istio-ambient-nat); istio-cni does not mix backends" \
	"mix: the refusal names the nft tables"
check "mix: no ISTIO_* chain installed" no_istio_chains "$MX"
run NFT del --netns "$MX" "$SOCK" "$MX"
is "$RC:$(tables "$MX" | grep -c istio-ambient || true)" "0:0" "mix: nft rules removed"

# ---- an interrupted add takes back what it installed ------------------------------------
mk_netns sigint
SG=$NS
foreign "$SG"
before=$(ruleset "$SG")
kill -STOP "$ZT_PID"
spawn "$CNI" add --redirect=redirect --backend nftables -t 20 "$SOCK" "$SG" >"$T_DIR/cli.out" 2>&1
CLI=$LAST_PID
check "interrupted: the tables are in before the daemon answers" \
	wait_for 10 eval "[[ \$(tables '$SG') == *istio-ambient-nat* ]]"
kill -INT "$CLI"
rc=0
wait "$CLI" || rc=$?
kill -CONT "$ZT_PID"
is "$rc" 130 "interrupted: SIGINT while waiting for the stopped daemon: exit 130"
is "$(ruleset "$SG")" "$before" "interrupted: the nft tables are taken back, the foreign one stays"
is "$(fw_rules "$SG")" "" "interrupted: the ip rule is taken back"
check "interrupted: the daemon serves again after SIGCONT" quiet "$CNI" del "$SOCK" "$SG"

# ---- sync --backend nftables --------------------------------------------------------------
mk_netns sync
SY=$NS
run "$CNI" sync --redirect=redirect --backend nftables "$SOCK" "$SY"
is "$RC" 0 "sync --redirect --backend nftables: exit 0"
like "$OUT" "rules: redirect variant installed in $SY" "sync --backend nftables: the nft rules before the pod's add"
is "$(tables "$SY" | tr '\n' ' ')" "inet istio-ambient-mangle inet istio-ambient-nat inet istio-ambient-raw " \
	"sync --backend nftables: the three tables"
run NFT del --netns "$SY" "$SOCK" "$SY"
is "$RC:$(tables "$SY")" "0:" "sync --backend nftables: del takes them out"

# ---- a pod whose lo has no IPv6 ------------------------------------------------------
# the inet tables carry IPv6 all the same (as istio-cni's); the ip -6 rule and route follow
# lo, as with iptables, and add and inspect say that IPv6 is not captured
if [[ -d /proc/sys/net/ipv6 ]]; then
	mk_netns nov6
	N6=$NS
	ip netns exec "$N6" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/lo/disable_ipv6'
	before=$(ruleset "$N6")
	policy_before=$(policy "$N6")
	run NFT add --redirect=redirect "$SOCK" "$N6"
	is "$RC" 0 "nftables, no IPv6 on lo: add enrolls the pod"
	like "$OUT" "rules: $SKIP_LINE ($N6: no ip -6 rule or route installed; the inet tables hold their IPv6 rules all the same)" \
		"nftables, no IPv6 on lo: add says IPv6 is not captured"
	like "$(table_text "$N6" istio-ambient-nat)" "ip6 daddr != ::1" "nftables, no IPv6 on lo: the inet tables still hold the IPv6 rules"
	is "$(ip -n "$N6" -6 rule | grep -c 0x111 || true):$(ip -n "$N6" -6 route show table 100 | grep -c local || true)" "0:0" \
		"nftables, no IPv6 on lo: no ip -6 rule, no local ::/0 route"
	run NFT inspect "$N6"
	like "$OUT" "$SKIP_LINE" "nftables inspect, no IPv6 on lo: says IPv6 is not captured"
	run NFT inspect --json "$N6"
	is "$(jq -r '[.ipv6.captured, .ipv6.note, has("ip6tables")] | join(",")' <<<"$OUT")" "false,$SKIP_LINE,false" \
		"nftables inspect --json, no IPv6 on lo: captured false, the note, no ip6tables key"
	run NFT del --netns "$N6" "$SOCK" "$N6"
	is "$RC:$(ruleset "$N6")" "0:$before" "nftables, no IPv6 on lo: del restores the ruleset"
	is "$(policy "$N6")" "$policy_before" "nftables, no IPv6 on lo: ... and the policy routing"
else
	echo "# this kernel has no IPv6 (no /proc/sys/net/ipv6): the lo-without-IPv6 checks left out"
fi

# ---- del SOCKET UID finds the nft rules itself --------------------------------------------
# the uid is the netns name; the netns holds one backend's rules, so del needs no --backend
mk_netns uid
UN=$NS
foreign "$UN"
before=$(ruleset "$UN")
policy_before=$(policy "$UN")
run NFT add --redirect=redirect "$SOCK" "$UN"
is "$RC" 0 "del SOCKET UID: nft rules installed by add"
if lo_v6 "$UN"; then
	run "$CNI" inspect --json --backend nftables "$UN"
	is "$(jq -r '[.ipv6.captured, (.ipv6.note // "")] | join(",")' <<<"$OUT")" "true," \
		"nftables inspect --json: IPv6 captured (lo has IPv6, inet tables, ip -6 rule)"
fi
run "$CNI" del "$SOCK" "$UN"
is "$RC:$(tail -n 1 <<<"$OUT")" "0:pod $UN deleted" "del SOCKET UID (no --backend): exit 0, the pod deleted"
like "$OUT" "rules: /run/netns/$UN holds Istio's redirection rules: removing them before the Del, as istio-cni does (nftables backend;" \
	"del SOCKET UID: finds the nftables rules without --backend"
like "$OUT" "rules: removed from $UN: nft tables inet istio-ambient-*" "del SOCKET UID: ... and removes the inet tables"
is "$(ruleset "$UN")" "$before" "del SOCKET UID: nft ruleset exactly as before (foreign table kept)"
is "$(policy "$UN")" "$policy_before" "del SOCKET UID: ip rules and routes of both families exactly as before"
run "$CNI" del --backend iptables "$SOCK" "$UN"
is "$RC:$OUT" "0:pod $UN deleted (no such pod)" "del SOCKET UID again: nothing to remove, only the Del"

# ---- data path: pod-a -> pod-b through 15001 and 15006 with the nft rules ---------------
mk_pod_pair
PEERS=$T_DIR/peers.log
serve_echo "$PEERS"

for V in tproxy redirect; do
	for ns in "$A" "$B"; do
		run NFT add --redirect="$V" "$SOCK" "$ns"
		is "$RC" 0 "datapath $V: add --redirect=$V --backend nftables enrolls ${ns#"$T_PREFIX"-}"
	done
	out_rule='istio-output: meta l4proto tcp ip daddr != 127.0.0.1'
	if [[ $V == tproxy ]]; then
		in_table=istio-ambient-mangle in_rule='istio-prerouting: meta l4proto tcp ip daddr != 127.0.0.1'
	else
		in_table=istio-ambient-nat in_rule='istio-prerouting: ip daddr != 127.0.0.1 tcp dport != 15008'
	fi
	o0=$(pkts "$A" istio-ambient-nat "$out_rule") i0=$(pkts "$B" "$in_table" "$in_rule")
	a0=$(grep -c 'access: connection complete' "$ZT_LOG" || true)
	P_RC=0
	P_OUT=$(ip netns exec "$A" "$PROBE" connect -t 10 -m "hi $V" "$B4" "$PORT" 2>&1) || P_RC=$?
	is "$P_RC:${P_OUT%% local=*}" "0:eof sent=$((3 + ${#V})) recv=$((3 + ${#V}))" "datapath $V: pod-a -> pod-b:$PORT completes"
	o1=$(pkts "$A" istio-ambient-nat "$out_rule") i1=$(pkts "$B" "$in_table" "$in_rule")
	check "datapath $V: pod-a's nft redirect to :15001 counted it ($o0 -> $o1)" test "$o1" -gt "$o0"
	check "datapath $V: pod-b's nft $( [[ $V == tproxy ]] && echo tproxy || echo redirect) to :15006 counted it ($i0 -> $i1)" test "$i1" -gt "$i0"
	check "datapath $V: the daemon relayed it both ways (outbound and inbound access lines)" \
		wait_for 3 eval "[[ \$(grep -c 'access: connection complete' '$ZT_LOG') -ge $((a0 + 2)) ]]"
	like "$(tail -n 2 "$PEERS")" "peer=$A4:" "datapath $V: pod-b's server saw pod-a's address as the source"
	if ((have_v6)); then
		o0=$(pkts "$A" istio-ambient-nat "${out_rule/ip daddr != 127.0.0.1/ip6 daddr != ::1}")
		a0=$(grep -c 'access: connection complete' "$ZT_LOG" || true)
		P_RC=0
		P_OUT=$(ip netns exec "$A" "$PROBE" connect -t 10 -m "hi $V" "$B6" "$PORT" 2>&1) || P_RC=$?
		is "$P_RC:${P_OUT%% local=*}" "0:eof sent=$((3 + ${#V})) recv=$((3 + ${#V}))" "datapath $V: IPv6 pod-a -> [pod-b]:$PORT completes"
		[[ $P_RC == 0 ]] || diag "tcp-probe: $P_OUT" "$(grep -E 'access|WARN|ERROR' "$ZT_LOG" | tail -n 4)"
		o1=$(pkts "$A" istio-ambient-nat "${out_rule/ip daddr != 127.0.0.1/ip6 daddr != ::1}")
		check "datapath $V: the inet table's IPv6 redirect to :15001 counted it ($o0 -> $o1)" test "$o1" -gt "$o0"
		check "datapath $V: the daemon relayed the IPv6 connection both ways" \
			wait_for 3 eval "[[ \$(grep -c 'access: connection complete' '$ZT_LOG') -ge $((a0 + 2)) ]]"
	fi
	for ns in "$A" "$B"; do
		run NFT del --netns "$ns" "$SOCK" "$ns"
		is "$RC:$(tables "$ns")" "0:" "datapath $V: del removes the tables from ${ns#"$T_PREFIX"-}"
		is "$( (ip -n "$ns" rule; ip -n "$ns" -6 rule) | grep -c 0x111 || true)" 0 \
			"datapath $V: ... and the ip rule of both families"
	done
done

check "the daemon is still alive" daemon_alive
done_testing
