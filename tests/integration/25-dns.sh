#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The DNS proxy on 15053 (issue 14, faults.md 13): an enrolled pod's lookups
# are answered from the --registry (A with TTL 30 and aa, CNAME through a
# stripped search domain, empty NOERROR for AAAA of an IPv4 service) or
# forwarded - UDP and TCP, 127.0.0.1 and [::1] - to an upstream resolver in
# a netns of its own (tests/helpers/fake-dns.py, written from RFC 1035 alone),
# from the pod's own address. 200 queries in flight keep their ids; a silent
# upstream gives SERVFAIL; malformed and oversized queries are refused or
# dropped and counted; --dns-capture=false bypasses the proxy; SIGHUP reloads
# the registry and keeps it on a bad file; a drained pod gives back every fd.
# The fault 13 regression: with the default (tproxy) rules, whose UDP/53
# redirect catches the proxy's own query too, a lookup gets its answer.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

FAKE=$ZE_ROOT/tests/helpers/fake-dns.py
CLIENT=$ZE_ROOT/tests/helpers/dns-client.py
UP=198.18.53.1 UPLOG=$T_DIR/upstream.log
REG=$T_DIR/registry.yaml

# dq NS ARGS...: dig in NS (10 s, one try); sets DQ (its output)
dq() { DQ=$(ip netns exec "$1" dig +time=10 +tries=1 "${@:2}" 2>&1) || true; }
status_of() { sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$1"; }
answers_of() { awk '/^;; ANSWER SECTION:/ { a = 1; next } a && NF == 0 { a = 0 } a { print $4, $5 }' <<<"$1" | tr '\n' ' '; }
ttl_of() { awk '/^;; ANSWER SECTION:/ { getline; print $2; exit }' <<<"$1"; }
up_has() { grep -qE -- "$1" "$UPLOG"; }
log_has() { grep -qE -- "$1" "$ZT_LOG"; }
# link_up NS IF ADDR: a veth from NS (IF, ADDR/24) to the bridge in the upstream's netns
link_up() {
	ip link add "$2" netns "$1" type veth peer name "u$_links" netns "$U"
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$U" link set "u$_links" master br0 up
	ip -n "$1" link set "$2" up
	_links=$((_links + 1))
}
_links=0

registry() { # the two-pod lab's registry; $1 adds a service
	cat >"$REG" <<Y
workloads:
- uid: lab//v1/Pod/default/pod-b
  name: pod-b
  namespace: default
  workloadIps: ["198.18.0.2"]
  services:
    "default/echo.default.svc.cluster.local":
      80: 8080
services:
- name: echo
  namespace: default
  hostname: echo.default.svc.cluster.local
  vips: ["/10.96.0.20"]
  ports:
    80: 8080
${1:-}
Y
}

# ---- the upstream's netns, pod-a (redirect rules), pod-b (no DNS capture) ------

mk_netns up
U=$NS
ip -n "$U" link add br0 type bridge
ip -n "$U" addr add "$UP/24" dev br0
ip -n "$U" link set br0 up
mk_netns pod-a
A=$NS
mk_netns pod-b
B=$NS
link_up "$A" eth1 198.18.53.2
link_up "$B" eth1 198.18.53.3
spawn ip netns exec "$U" python3 "$FAKE" "$UPLOG" "$UP"
check "the fake upstream resolver listens on $UP:53" \
	wait_for 10 eval "[[ \$(ip netns exec '$U' ss -Hlun 'sport = :53') == *$UP* ]]"
registry

ambient_caps_daemon
start_daemon --profile ambient --registry "$REG" --dns-upstream "$UP" --dns-timeout 2
run_cni() {
	CNI_OUT=$("$CNI" "$@" 2>&1) && CNI_RC=0 || CNI_RC=$?
	[[ $CNI_RC == 0 ]] || diag "$CNI_OUT"
}
run_cni add --redirect=redirect "$SOCK" "$A"
is "$CNI_RC" 0 "pod-a enrolled with the redirect variant's rules (DNS capture on)"
run_cni add --redirect=redirect --dns-capture=false "$SOCK" "$B"
is "$CNI_RC" 0 "pod-b enrolled with --dns-capture=false"
check "starting local DNS server logged per pod" \
	wait_for 10 eval '[[ $(grep -c "INFO ztunnel::dns::server: starting local DNS server address=localhost:15053" "$ZT_LOG") == 2 ]]'
is "$(grep -c 'listener established.*:15053' "$ZT_LOG")" 0 \
	"... and no per-socket 'listener established' line for 15053 (dns.md: ztunnel prints none)"

# ---- UDP: forwarded, and answered from the registry ----------------------------

dq "$A" @"$UP" h7.example.org
is "$(status_of "$DQ") $(answers_of "$DQ")" "NOERROR A 192.0.2.7 " "UDP: a name the registry lacks is forwarded and answered"
check "the forwarded query reached the upstream from pod-a's own address" up_has '^udp [0-9]+ h7\.example\.org 1 198\.18\.53\.2$'
check "its log line says result=forwarded" log_has 'DEBUG dns: src.workload=".*pod-a" src.namespace="default" query=A domain="h7.example.org" result="forwarded"'

dq "$A" @127.0.0.1 -p 15053 echo
is "$(status_of "$DQ") $(answers_of "$DQ")" "NOERROR A 10.96.0.20 " "UDP 127.0.0.1:15053: echo answered from the registry"
is "$(ttl_of "$DQ")" 30 "the registry's answer has TTL 30"
like "$DQ" "flags: qr aa" "and the authoritative flag"
dq "$A" @"$UP" echo.default.svc.cluster.local
is "$(answers_of "$DQ")" "A 10.96.0.20 " "a captured lookup of the full name is answered by the proxy"
check "  and never reaches the upstream" eval '! up_has "echo\.default"'
check "its log line says result=success" log_has 'domain="echo.default.svc.cluster.local" result="success" endpoints=1'
dq "$A" @127.0.0.1 -p 15053 echo.default.svc.cluster.local.default.svc.cluster.local
is "$(answers_of "$DQ")" "CNAME echo.default.svc.cluster.local. A 10.96.0.20 " "a search domain stripped: CNAME, then the A record"
dq "$A" @127.0.0.1 -p 15053 echo AAAA
is "$(status_of "$DQ") $(answers_of "$DQ")" "NOERROR " "AAAA of an IPv4-only service: an empty NOERROR"

# ---- TCP -------------------------------------------------------------------------

dq "$A" +tcp @"$UP" h9.example.org
is "$(status_of "$DQ") $(answers_of "$DQ")" "NOERROR A 192.0.2.9 " "TCP: forwarded and answered"
check "the upstream got it over TCP from pod-a's address" up_has '^tcp [0-9]+ h9\.example\.org 1 198\.18\.53\.2$'
dq "$A" +tcp @127.0.0.1 -p 15053 echo
is "$(answers_of "$DQ")" "A 10.96.0.20 " "TCP 127.0.0.1:15053: answered from the registry"
out=$(ip netns exec "$A" python3 "$CLIENT" --tcp 127.0.0.1 15053 h11.t echo.default h12.t 2>&1) || true
is "$out" "h11.t rcode=0 id=ok answers=192.0.2.11
echo.default rcode=0 id=ok answers=10.96.0.20
h12.t rcode=0 id=ok answers=192.0.2.12" "TCP: three pipelined queries on one connection, each answered in turn"

# ---- many in flight: ids mapped back ----------------------------------------------

names=()
for i in $(seq 1 100); do names+=("slow-$i.h$((i % 254 + 1)).x" "h$((i % 254 + 1)).n$i.test"); done
out=$(ip netns exec "$A" python3 "$CLIENT" --timeout 20 "$UP" 53 "${names[@]}" 2>&1) || true
bad=$(awk '{ split($1, l, "."); n = l[1]; if (n ~ /^slow/) n = l[2]; sub(/^h/, "", n)
	if ($0 != $1 " rcode=0 id=ok answers=192.0.2." n) print }' <<<"$out" | head -3)
is "$(wc -l <<<"$out") ${bad:-none}" "200 none" "200 queries at once (100 held 0.3 s upstream; the cap is 256 per pod): each reply has its own id, question and address"
ids=$(awk '$3 ~ /^slow-/ { print $2 }' "$UPLOG" | sort -u | wc -l)
check "the upstream saw 100 distinct ids for the 100 held ones" test "$ids" -eq 100

# ---- IPv6 listener ---------------------------------------------------------------

if [[ $(ip netns exec "$A" cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null) == 0 ]]; then
	dq "$A" @::1 -p 15053 echo
	is "$(answers_of "$DQ")" "A 10.96.0.20 " "UDP [::1]:15053: answered from the registry"
	dq "$A" +tcp @::1 -p 15053 h21.v6
	is "$(answers_of "$DQ")" "A 192.0.2.21 " "TCP [::1]:15053: forwarded"
else
	echo "# pod-a's lo has no IPv6: the [::1] listener is not made, its checks left out"
fi

# ---- upstream silent, malformed, oversized --------------------------------------

dq "$A" @"$UP" drop-1.example.org
is "$(status_of "$DQ")" SERVFAIL "UDP: an upstream that never answers gives SERVFAIL (--dns-timeout 2), not silence"
check "logged as forwarding failed (timed out)" log_has 'domain="drop-1.example.org" result="forwarding failed \(timed out\)"'
dq "$A" +tcp @"$UP" drop-2.example.org
is "$(status_of "$DQ")" SERVFAIL "TCP: the same"

dropped() { metric ztunnel_emulator_dns_dropped_total; }
d0=$(dropped)
out=$(ip netns exec "$A" python3 "$CLIENT" --timeout 2 --raw deadbeef 127.0.0.1 15053 2>&1) || true
is "$out" "no reply" "4 bytes (less than a header): dropped"
out=$(ip netns exec "$A" python3 "$CLIENT" --raw 04d201000001000000000000037777 127.0.0.1 15053 2>&1) || true
is "$((0x${out:6:2} & 15)) ${out:0:4}" "1 04d2" "a header with a cut-off question: FORMERR with the query's id"
big=$(printf 04d201000001000000000000; head -c 5000 /dev/zero | od -An -v -tx1 | tr -d ' \n')
out=$(ip netns exec "$A" python3 "$CLIENT" --timeout 2 --raw "$big" 127.0.0.1 15053 2>&1) || true
is "$out" "no reply" "a 5,000-byte UDP query: dropped"
out=$(ip netns exec "$A" python3 "$CLIENT" --tcp --timeout 5 --raw "$big" 127.0.0.1 15053 2>&1) || true
is "$out" "no reply" "a 5,000-byte TCP query: the connection is closed"
check "the three dropped queries are counted" test "$(dropped)" -eq $((d0 + 3))
dq "$A" @127.0.0.1 -p 15053 echo
is "$(answers_of "$DQ")" "A 10.96.0.20 " "the proxy still answers after them"

# ---- --dns-capture=false: the pod's lookups bypass the proxy --------------------

n0=$(grep -c 'src.workload=".*pod-b"' "$ZT_LOG" || true)
dq "$B" @"$UP" h5.example.org
is "$(answers_of "$DQ")" "A 192.0.2.5 " "pod-b (no DNS capture) resolves through the upstream directly"
check "the upstream saw pod-b's own query" up_has '^udp [0-9]+ h5\.example\.org 1 198\.18\.53\.3$'
is "$(grep -c 'src.workload=".*pod-b"' "$ZT_LOG" || true)" "$n0" "and the proxy saw none of it"

# ---- metrics, config_dump --------------------------------------------------------

m=$(metrics)
like "$m" 'istio_dns_requests_total{request_query_type="a",request_protocol="udp"' "istio_dns_requests_total by type and protocol"
check "istio_dns_upstream_requests_total counts the forwarded UDP queries" \
	test "$(metric 'istio_dns_upstream_requests_total{request_query_type="a",request_protocol="udp",source_canonical_service="unknown",source_canonical_revision="unknown"}')" -ge 200
check "istio_dns_upstream_failures_total counts the timeouts" \
	test "$(metric 'istio_dns_upstream_failures_total{request_query_type="a",request_protocol="udp",source_canonical_service="unknown",source_canonical_revision="unknown"}')" -ge 1
like "$m" 'istio_dns_upstream_request_duration_seconds_bucket{request_query_type="a",request_protocol="tcp",le="5"}' "istio_dns_upstream_request_duration_seconds with ztunnel's buckets"
cd_json=$(config_dump)
is "$(jq -r '.emulator | [.dns.upstreams[0], .dns.timeout_seconds, .registry.services[0].hostname, .registry.services[0].vips[0]] | join(" ")' <<<"$cd_json")" \
	"198.18.53.1:53 2 echo.default.svc.cluster.local /10.96.0.20" "config_dump: the dns settings and the registry"

# ---- SIGHUP ----------------------------------------------------------------------

registry '- name: cart
  namespace: default
  hostname: cart.default.svc.cluster.local
  vips: ["/10.96.0.30"]
  ports:
    80: 8080'
kill -HUP "$ZT_PID"
check "SIGHUP: the registry is reloaded" wait_for 10 log_has "registry $REG reloaded"
dq "$A" @127.0.0.1 -p 15053 cart
is "$(answers_of "$DQ")" "A 10.96.0.30 " "the new service answers"
printf 'services:\n- name: x\n  colour: blue\n' >"$REG"
kill -HUP "$ZT_PID"
check "a bad file: an error naming the file and line, the old registry kept" \
	wait_for 10 log_has "ERROR .*cannot reload the registry $REG:3: .*keeping the previous registry"
dq "$A" @127.0.0.1 -p 15053 cart
is "$(answers_of "$DQ")" "A 10.96.0.30 " "the old registry still answers"
check "the daemon is still running" daemon_alive

# ---- a drained pod gives back every fd --------------------------------------------

mk_netns pod-d
D=$NS
link_up "$D" eth1 198.18.53.4
fds=$(fd_count "$ZT_PID")
run_cni add "$SOCK" "$D"
out=$(ip netns exec "$D" python3 "$CLIENT" 127.0.0.1 15053 h31.d slow-1.h32.d 2>&1) || true
like "$out" "slow-1.h32.d rcode=0 id=ok answers=192.0.2.32" "pod-d: forwarded over UDP"
out=$(ip netns exec "$D" python3 "$CLIENT" --tcp 127.0.0.1 15053 h33.d 2>&1) || true
like "$out" "h33.d rcode=0 id=ok answers=192.0.2.33" "pod-d: forwarded over TCP"
(ip netns exec "$D" python3 "$CLIENT" --timeout 3 127.0.0.1 15053 drop-3.d >/dev/null 2>&1 &)
sleep 0.5
run_cni del "$SOCK" "$D"
is "$CNI_RC" 0 "pod-d deleted with a query still in flight"
check "the daemon's fds are back where they were (listeners, upstream sockets, TCP clients)" wait_for 10 fds_back_to "$fds"

# ---- fault 13: DNS capture with the tproxy rules no longer black-holes lookups ----

mk_netns zt
H=$NS
mk_netns pod-c
C=$NS
link_up "$C" eth1 198.18.53.5
link_up "$H" eth1 198.18.53.6
SOCK=$T_DIR/zt2.sock ZT_LOG=$T_DIR/zt2.log ZT_WRAPPER="ip netns exec $H ${ZT_WRAPPER:-}" \
	start_daemon --profile ambient --dns-upstream "$UP" --dns-timeout 2
run_cni add --redirect=tproxy "$T_DIR/zt2.sock" "$C"
is "$CNI_RC" 0 "fault 13: pod-c enrolled with the default --redirect (tproxy, DNS capture on)"
ZT_LOG=$T_DIR/zt2.log
dq "$C" @"$UP" h41.example.org
is "$(status_of "$DQ") $(answers_of "$DQ")" "NOERROR A 192.0.2.41 " "fault 13: a UDP lookup from pod-c gets its answer"
check "fault 13: the loop through the tproxy UDP/53 redirect is seen and said" \
	log_has "WARN dns: pod .*pod-c: its rules send the proxy's own queries .* as Istio 1.21-1.23 did"
check "fault 13: the query left from the daemon's netns, as 1.21-1.23's ztunnel did" \
	up_has '^udp [0-9]+ h41\.example\.org 1 198\.18\.53\.6$'
dq "$C" @"$UP" h42.example.org
is "$(answers_of "$DQ")" "A 192.0.2.42 " "fault 13: and so does the next one"
ZT_LOG=$T_DIR/zt.log

done_testing
