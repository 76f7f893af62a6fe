#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# IPv6 in the pods (fault 6) and del that un-enrols (issue 12): with both
# variants, cni-emulator add --redirect installs the ip6tables twin, ip -6 rule
# and the local ::/0 route, so that pod-a's connection to pod-b's IPv6 address
# goes through the daemon's 15001 and 15006 (access lines, the server sees
# pod-a's own address); a pod whose lo has no IPv6 gets an explicit skip line
# from add and inspect; and add --redirect then del SOCKET UID leaves the
# pod's iptables-save, ip6tables-save, ip rule and ip -6 rule exactly as
# before, a foreign ISTIO_AUDIT chain included.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PROBE=$ZE_ROOT/tests/helpers/tcp-probe
PORT=8080
A4=198.18.0.1 B4=198.18.0.2
A6=fd00:198:18::1 B6=fd00:198:18::2
SKIP_LINE="IPv6 not captured: lo has no IPv6 in this pod"

if [[ ! -d /proc/sys/net/ipv6 ]]; then
	echo "# this kernel has no IPv6 (no /proc/sys/net/ipv6): only the skip line can be checked"
fi

# ---- helpers -------------------------------------------------------------------

re() { sed 's/[].[]/\\&/g' <<<"$1"; } # an address as an ERE
# packets of NS's ip6tables rules in TABLE CHAIN that contain PATTERN
counter6() {
	ip netns exec "$1" ip6tables-save -c -t "$2" | awk -v c="-A $3 " -v p="$4" '
		index($0, c) && index($0, p) { split(substr($1, 2), x, ":"); n += x[1] } END { print n + 0 }'
}
# dump NS: everything the rules could touch, as text to compare (no timestamps or counters)
dump() {
	{
		ip netns exec "$1" iptables-save
		ip netns exec "$1" ip6tables-save
		ip -n "$1" rule
		ip -n "$1" -6 rule
		ip -n "$1" route show table all
		ip -n "$1" -6 route show table all
	} 2>&1 | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' | awk '
		# a table with no rule and no chain of its own is left out: iptables-nft
		# creates a table on first use and (like istio-cni) never deletes it
		/^\*/ { blk = $0 "\n"; keep = 0; intable = 1; next }
		intable && /^COMMIT/ { if (keep) printf "%sCOMMIT\n", blk; intable = 0; next }
		intable { blk = blk $0 "\n"; if (/^-A / || /^:[^ ]+ - /) keep = 1; next }
		{ print }'
}

# ---- two pods with IPv4 and ULA addresses, an echo server in pod-b, the daemon ----

mk_pod_pair

PEERS=$T_DIR/peers.log
if ((have_v6)); then serve_echo "$PEERS"; fi

ambient_caps_daemon
start_daemon --profile ambient --no-hbone-outbound

# ---- fault 6: IPv6 from an enrolled pod goes through the proxy, both variants ----

for V in tproxy redirect; do
	((have_v6)) || break
	echo "# ---- variant $V"
	for ns in "$A" "$B"; do
		out=$("$CNI" add --redirect="$V" "$SOCK" "$ns" 2>&1) && rc=0 || rc=$?
		is "$rc" 0 "$V: add --redirect=$V enrolls ${ns#"$T_PREFIX"-}"
		like "$out" "rules: IPv6: $V variant installed in $ns (ip -6 rule fwmark 0x111/0xfff lookup 100 and route local ::/0 dev lo table 100 added)" \
			"fault 6: $V: add installs the IPv6 twin in ${ns#"$T_PREFIX"-} and says so"
	done
	is "$(ip -n "$A" -6 rule | grep -c 'fwmark 0x111/0xfff lookup 100' || true):$(ip -n "$A" -6 route show table 100)" \
		"1:local default dev lo metric 1024 pref medium" "$V: pod-a has ip -6 rule 32764 and local ::/0 in table 100"
	like "$(ip netns exec "$A" ip6tables-save)" "! -d ::1/128" "$V: the ip6tables rules use ::1/128"
	like "$(ip netns exec "$A" ip6tables-save)" "fd16:9254:7127:1337:ffff:ffff:ffff:ffff/128" \
		"$V: ... and istio-cni's IPv6 SNAT source"
	out=$("$CNI" inspect "$A" 2>/dev/null) || true
	like "$out" "ip6tables: $V variant, DNS capture on" "$V: inspect shows the ip6tables set"
	like "$out" "ip -6 rules (fwmark or table 100):
  32764: from all fwmark 0x111/0xfff lookup 100" "$V: inspect shows the ip -6 rule"
	unlike "$out" "IPv6 not captured" "$V: inspect does not call IPv6 uncaptured"

	if [[ $V == tproxy ]]; then in_t=mangle in_p="--on-port 15006"; else in_t=nat in_p="--to-ports 15006"; fi
	o0=$(counter6 "$A" nat ISTIO_OUTPUT "--to-ports 15001") i0=$(counter6 "$B" "$in_t" ISTIO_PRERT "$in_p")
	mark_logs
	out=$(ip netns exec "$A" "$PROBE" connect -t 10 -m "hello v6" -o "$T_DIR/out6" "$B6" "$PORT" 2>&1) && rc=0 || rc=$?
	local_addr=$(sed -n 's/.* local=\([^ ]*\)$/\1/p' <<<"$out")
	is "$rc:${out%% local=*}:$(cat "$T_DIR/out6" 2>/dev/null)" "0:eof sent=8 recv=8:hello v6" \
		"fault 6: $V: pod-a -> [$B6]:$PORT completes, the echo intact"
	o1=$(counter6 "$A" nat ISTIO_OUTPUT "--to-ports 15001") i1=$(counter6 "$B" "$in_t" ISTIO_PRERT "$in_p")
	check "fault 6: $V: pod-a's ip6tables 15001 rule ($o0 -> $o1) and pod-b's 15006 rule ($i0 -> $i1) counted it" \
		test "$o1" -gt "$o0" -a "$i1" -gt "$i0"
	check "fault 6: $V: the daemon logged the outbound connection to [$B6]:$PORT (15001)" \
		wait_for 3 log_has "INFO access: connection complete src\.addr=$(re "$local_addr")( src\.[a-z]+=[^ ]+)* dst\.addr=$(re "[$B6]"):$PORT( dst\.[a-z]+=[^ ]+)* direction=\"outbound\""
	check "fault 6: $V: the daemon logged the inbound connection from [$A6] (15006)" \
		wait_for 3 log_has "INFO access: connection complete src\.addr=$(re "[$A6]"):[0-9]+( src\.[a-z]+=[^ ]+)* dst\.addr=$(re "[$B6]"):$PORT( dst\.[a-z]+=[^ ]+)* direction=\"inbound\""
	wait_for 3 eval '[[ -n $(peers_since) ]]' || true
	like "$(peers_since)" "peer=[$A6]:" "$V: pod-b's server saw pod-a's address [$A6] as the source"
	like "$(peers_since)" "local=[$B6]:$PORT " "$V: ... on the original destination [$B6]:$PORT"
	unlike "$(peers_since)" "peer=$local_addr " "$V: ... through the proxy, not pod-a's own socket ($local_addr)"

	# del SOCKET UID: the uid is the netns name, so its rules go first (issue 12)
	for ns in "$A" "$B"; do
		out=$("$CNI" del "$SOCK" "$ns" 2>&1) && rc=0 || rc=$?
		is "$rc:$(tail -n 1 <<<"$out")" "0:pod $ns deleted" "$V: del SOCKET ${ns#"$T_PREFIX"-} exits 0 and deletes the pod"
		like "$out" "rules: /run/netns/$ns holds Istio's redirection rules: removing them before the Del" \
			"$V: ... saying it takes the rules out first"
		like "$out" "rules: IPv6: removed from $ns: ip6tables ISTIO_* chains, ip -6 rule fwmark 0x111/0xfff lookup 100, route local ::/0 dev lo table 100" \
			"$V: ... the IPv6 set too"
		check "$V: no ISTIO_* in iptables-save or ip6tables-save of ${ns#"$T_PREFIX"-}, no fwmark rule in either family" \
			eval "[[ \$(ip netns exec '$ns' iptables-save; ip netns exec '$ns' ip6tables-save; ip -n '$ns' rule; ip -n '$ns' -6 rule) != *ISTIO_* && \$(ip -n '$ns' rule; ip -n '$ns' -6 rule) != *0x111* ]]"
	done
	out=$("$CNI" del "$SOCK" "$A" 2>&1) && rc=0 || rc=$?
	is "$rc:$out" "0:pod $A deleted (no such pod)" "$V: del again: nothing to remove, only the Del (as before)"
done

# ---- fault 6: a pod whose lo has no IPv6 is told so ------------------------------

mk_netns nov6
NOV6=$NS
ip -n "$NOV6" link set lo up
if [[ -d /proc/sys/net/ipv6 ]]; then
	ip netns exec "$NOV6" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/lo/disable_ipv6'
fi
out=$("$CNI" add --redirect=redirect "$SOCK" "$NOV6" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "no IPv6 on lo: add --redirect still enrolls the pod (IPv4 captured)"
like "$out" "rules: redirect variant installed in $NOV6" "no IPv6 on lo: the IPv4 rules are installed"
like "$out" "rules: $SKIP_LINE ($NOV6: no ip6tables rules, ip -6 rule or route installed)" \
	"fault 6: add says explicitly that IPv6 is not captured when lo has no IPv6"
if [[ -d /proc/sys/net/ipv6 ]]; then
	is "$(ip netns exec "$NOV6" ip6tables-save | grep -c ISTIO_ || true):$(ip -n "$NOV6" -6 rule | grep -c 0x111 || true)" "0:0" \
		"no IPv6 on lo: no ip6tables chain, no ip -6 rule"
fi
out=$("$CNI" inspect "$NOV6" 2>/dev/null) || true
like "$out" "$SKIP_LINE" "fault 6: inspect says explicitly that IPv6 is not captured"
is "$("$CNI" inspect --json "$NOV6" 2>/dev/null | jq -r '[.ipv6.captured, .ipv6.note] | join(",")')" "false,$SKIP_LINE" \
	"fault 6: inspect --json: ipv6.captured false, with the note"
"$CNI" del "$SOCK" "$NOV6" >/dev/null 2>&1 || true

# ---- both families together: a late IPv6, and a rollback ---------------------------

if [[ -d /proc/sys/net/ipv6 ]]; then
	# IPv6 enabled on lo after the add: inspect says IPv6 bypasses; a second add completes the set
	mk_netns late
	LATE=$NS
	ip -n "$LATE" link set lo up
	ip netns exec "$LATE" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/lo/disable_ipv6'
	"$CNI" add --redirect=redirect "$SOCK" "$LATE" >/dev/null 2>&1
	ip netns exec "$LATE" sh -c 'echo 0 >/proc/sys/net/ipv6/conf/lo/disable_ipv6'
	out=$("$CNI" inspect "$LATE" 2>/dev/null) || true
	like "$out" "IPv6 not captured: lo has IPv6 but there are no ip6tables rules, so the pod's IPv6 traffic bypasses the proxy" \
		"fault 6: inspect of a pod with IPv4 rules only and IPv6 on lo: says IPv6 bypasses the proxy"
	out=$("$CNI" add --redirect=redirect "$SOCK" "$LATE" 2>&1) && rc=0 || rc=$?
	is "$rc" 0 "a second add once lo has IPv6: exit 0"
	like "$out" "rules: redirect variant already present in $LATE" "... the IPv4 set is left as it is"
	like "$out" "rules: IPv6: redirect variant installed in $LATE" "... and the IPv6 set is added"
	"$CNI" del "$SOCK" "$LATE" >/dev/null 2>&1 || true

	# a foreign ISTIO_* chain in ip6tables: nothing installed, the IPv4 set taken back too
	mk_netns rollback
	RB=$NS
	ip -n "$RB" link set lo up
	ip netns exec "$RB" ip6tables -t filter -N ISTIO_AUDIT
	out=$("$CNI" add --redirect=redirect "$SOCK" "$RB" 2>&1) && rc=0 || rc=$?
	is "$rc" 1 "ip6tables holds a foreign ISTIO_AUDIT chain: add --redirect fails"
	like "$out" "ip6tables: filter ISTIO_AUDIT is not one of istio-cni's chains" "... naming the IPv6 chain"
	is "$(ip netns exec "$RB" iptables-save | grep -c ISTIO_ || true):$(ip -n "$RB" rule | grep -c 0x111 || true):$(ip -n "$RB" -6 rule | grep -c 0x111 || true)" \
		"0:0:0" "... and the IPv4 set it had installed is rolled back with it (no chain, no ip rule in either family)"
fi

# ---- add --redirect then del SOCKET UID: the pod exactly as before ---------------
# "before" is the dump of a twin netns that got the same foreign objects and was
# never enrolled: the pod, after add and del, must not differ from it in a line.

# foreign NS: someone else's objects: a filter ISTIO_AUDIT chain with a jump into it in
# both families, and an ip rule of each family
foreign() {
	local t
	for t in iptables ip6tables; do
		[[ $t == iptables || -d /proc/sys/net/ipv6 ]] || continue
		ip netns exec "$1" "$t" -t filter -N ISTIO_AUDIT
		ip netns exec "$1" "$t" -t filter -A ISTIO_AUDIT -j RETURN
		ip netns exec "$1" "$t" -t filter -A OUTPUT -j ISTIO_AUDIT
	done
	ip -n "$1" rule add fwmark 0x7 pref 1000 lookup 200
	[[ ! -d /proc/sys/net/ipv6 ]] || ip -n "$1" -6 rule add fwmark 0x7 pref 1000 lookup 200
}

for V in tproxy redirect; do
	mk_netns same-$V
	SAME=$NS
	ip -n "$SAME" link set lo up
	before=$(dump "$SAME")
	out=$("$CNI" add --redirect="$V" "$SOCK" "$SAME" 2>&1) && rc=0 || rc=$?
	is "$rc" 0 "$V: add --redirect of a fresh pod: exit 0"
	[[ $rc == 0 ]] || diag "$out"
	check "$V: the add changed the pod" eval '[[ $(dump "$SAME") != "$before" ]]'
	# foreign objects come after the enrolment (add refuses to install next to a foreign
	# ISTIO_* chain); they are in the "before" picture too
	foreign "$SAME"
	mk_netns ctrl-$V
	ip -n "$NS" link set lo up
	foreign "$NS"
	before=$(dump "$NS")
	out=$("$CNI" del "$SOCK" "$SAME" 2>&1) && rc=0 || rc=$?
	is "$rc:$(tail -n 1 <<<"$out")" "0:pod $SAME deleted" "$V: del SOCKET UID exits 0"
	like "$out" "rules: removed from $SAME: ISTIO_* chains" "$V: ... and removes the rules first"
	after=$(dump "$SAME")
	if [[ $after == "$before" ]]; then
		ok "$V: add --redirect then del SOCKET UID: iptables-save, ip6tables-save, ip rule, ip -6 rule and the routes exactly as before (foreign objects included)"
	else
		not_ok "$V: add --redirect then del SOCKET UID: iptables-save, ip6tables-save, ip rule, ip -6 rule and the routes exactly as before (foreign objects included)"
		diag "$(diff <(echo "$before") <(echo "$after") || true)"
	fi
	like "$after" ":ISTIO_AUDIT - " "$V: ... the foreign ISTIO_AUDIT chain is still there"
done

check "the daemon is still alive" daemon_alive
done_testing
