#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HBONE inbound (issue 15): the lab CA in --ca-dir (made once, reused), one
# SPIFFE certificate per enrolled pod in config_dump, and pod-b's 15008
# spoken to by an independent peer (tests/helpers/hbone-peer.py: Python's ssl
# and h2, none of the daemon's code) from pod-a: mutual TLS 1.3 with ALPN h2
# only (no certificate, TLS 1.2, another CA, another trust domain: refused),
# ztunnel's status codes in ztunnel's order, 1 MiB byte-identical through a
# CONNECT stream with the client's address seen by the app, many streams on
# one connection and many connections, fds back to idle.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PROBE=$ZE_ROOT/tests/helpers/tcp-probe
PEER_PY=$ZE_ROOT/tests/helpers/hbone-peer.py
PORT=8080
CLOSED=8081 # nothing listens there
A4=198.18.0.1 B4=198.18.0.2
CA=$T_DIR/ca
TD=cluster.local

# peer [TLS OPTIONS] COMMAND ARGS...: the peer in pod-a against pod-b's 15008
peer() {
	local tls=() a
	while [[ ${1:-} == --* ]]; do
		a=$1
		shift
		if [[ $a == --tls12 ]]; then tls+=("$a"); else tls+=("$a" "$1") && shift; fi
	done
	ip netns exec "$A" /usr/bin/python3 "$PEER_PY" "${tls[@]}" "$B4" 15008 "$@" 2>&1 || true
}
good() { peer --ca "$CA/root-cert.pem" --cert "$T_DIR/peer.pem" --key "$T_DIR/peer.key" "$@"; }

# leaf NAME ROOT-CERT ROOT-KEY URI: a client certificate made with openssl(1)
leaf() {
	printf 'subjectAltName=critical,URI:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$4" >"$T_DIR/$1.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_DIR/$1.key" \
		-subj "/O=test" -out "$T_DIR/$1.csr" 2>/dev/null
	openssl x509 -req -in "$T_DIR/$1.csr" -CA "$2" -CAkey "$3" -CAcreateserial -days 1 \
		-extfile "$T_DIR/$1.ext" -out "$T_DIR/$1.pem" 2>/dev/null
}

# matches TEXT ERE NAME: one TAP line, TEXT matched against the ERE
matches() {
	if [[ $1 =~ $2 ]]; then ok "$3"; else
		not_ok "$3"
		diag "text: '$1'" "does not match: '$2'"
	fi
}


if ! /usr/bin/python3 -c 'import h2' 2>/dev/null; then
	not_ok "python3-h2 is installed (scripts/deps.sh)"
	done_testing
	exit 1
fi

# ---- the CA ----------------------------------------------------------------------

mk_pod_pair --v4-only
PEERS=$T_DIR/peers.log
have_v6=0
serve_echo "$PEERS"
ambient_caps_daemon
start_daemon --profile ambient
check "the daemon made the CA: $CA/root-cert.pem and root-key.pem" test -s "$CA/root-cert.pem" -a -s "$CA/root-key.pem"
is "$(stat -c %a "$CA/root-key.pem")" 600 "root-key.pem is mode 0600"
like "$(openssl x509 -in "$CA/root-cert.pem" -noout -text)" "ASN1 OID: prime256v1" "the root key is ECDSA P-256"
root_fp=$(openssl x509 -in "$CA/root-cert.pem" -noout -fingerprint -sha256)
stop_daemon
start_daemon --profile ambient
is "$(openssl x509 -in "$CA/root-cert.pem" -noout -fingerprint -sha256)" "$root_fp" "a second start uses the CA as it is"

# ---- one certificate per pod ----------------------------------------------------------

out=$("$CNI" add --redirect=tproxy --namespace shop --service-account cart "$SOCK" "$B" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "pod-b enrolled (namespace shop, service account cart) with the tproxy rules"
[[ $rc == 0 ]] || diag "$out"
ID_B="spiffe://$TD/ns/shop/sa/cart"
certs=$(config_dump | jq -c '.certificates')
is "$(jq -r '.[0].identity' <<<"$certs")" "$ID_B" "config_dump's certificates: pod-b's SPIFFE identity"
matches "$(jq -r '.[0] | [.state, .certChain[0].serialNumber, .certChain[0].validFrom, .certChain[0].expirationTime] | join(":")' <<<"$certs")" \
	'^Available:[0-9]+:20[0-9-]+T[0-9:]+Z:20[0-9-]+T[0-9:]+Z$' "... in ztunnel's shape: state, decimal serial, validity"
like "$(jq -r '.[0].certChain[0].pem' <<<"$certs" | base64 -d | openssl x509 -noout -ext subjectAltName 2>&1)" "URI:$ID_B" \
	"... its pem (base64 of the PEM text, as ztunnel's) is pod-b's certificate"
is "$(jq -r '.[0].rootCerts[0].pem' <<<"$certs" | base64 -d | openssl x509 -noout -fingerprint 2>&1)" \
	"$(openssl x509 -noout -fingerprint -in "$CA/root-cert.pem")" "... and rootCerts holds the lab CA's root"
wl=$(config_dump | jq -r --arg u "$B" '.workloads[] | select(.uid == $u) | [.protocol, (.workloadIps | type)] | join(" ")')
is "$wl" "HBONE array" "config_dump's workloads: pod-b over HBONE"
certs=$(config_dump | jq -c '.emulator.certificates')
matches "$(jq -r '.[0].serial' <<<"$certs"):$(jq -r '.[0].expiry' <<<"$certs")" '^[0-9A-F]+:20[0-9-]+T[0-9:]+Z$' \
	"the emulator's view (per pod): its serial and expiry"
url="http://127.0.0.1:$(http_port /config_dump)"
out=$("$CNI" inspect --admin "$url" "$B" 2>&1) || true
like "$out" "identity: $ID_B (HBONE certificate, expires $(jq -r '.[0].expiry' <<<"$certs"))" \
	"cni-emulator inspect shows pod-b's identity and its certificate's expiry"
is "$("$CNI" inspect --json --admin "$url" "$B" 2>/dev/null | jq -r '.pod | [.identity, (.certExpiry | type)] | join(" ")')" \
	"$ID_B string" "cni-emulator inspect --json: .pod.identity and .pod.certExpiry"

# the peer's certificates: the lab CA's (as another ztunnel's would be), another CA's, another trust domain's
leaf peer "$CA/root-cert.pem" "$CA/root-key.pem" "spiffe://$TD/ns/test/sa/peer"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_DIR/other-ca.key" \
	-subj "/O=other" -days 1 -out "$T_DIR/other-ca.pem" 2>/dev/null
leaf foreign "$T_DIR/other-ca.pem" "$T_DIR/other-ca.key" "spiffe://$TD/ns/test/sa/peer"
leaf othertd "$CA/root-cert.pem" "$CA/root-key.pem" "spiffe://other.domain/ns/test/sa/peer"

# ---- TLS ------------------------------------------------------------------------------

matches "$(good --expect-identity "$ID_B" handshake)" "^tls ok identity=$ID_B\$" \
	"mutual TLS 1.3 with ALPN h2: the server presents pod-b's own identity, chained to the CA"
like "$(peer --ca "$CA/root-cert.pem" handshake)" "tls refused" "a client without a certificate is refused"
like "$(good --tls12 handshake)" "tls refused" "a client offering only TLS 1.2 is refused"
like "$(peer --ca "$CA/root-cert.pem" --cert "$T_DIR/foreign.pem" --key "$T_DIR/foreign.key" handshake)" \
	"tls refused" "a client certificate from another CA is refused"
like "$(peer --ca "$CA/root-cert.pem" --cert "$T_DIR/othertd.pem" --key "$T_DIR/othertd.key" handshake)" \
	"tls refused" "a client certificate of another trust domain is refused"
check "the refusals are logged as failed inbound connections" \
	wait_for 10 eval "grep -q 'WARN access: connection failed src.addr=$A4:[0-9]* dst.addr=$B4:15008 direction=\"inbound\" error=\"TLS handshake failed' \"\$ZT_LOG\""

# ---- status codes, in ztunnel's order ----------------------------------------------------

is "$(good request GET "$B4:$PORT")" "status=400" "a method other than CONNECT: 400"
is "$(good request CONNECT "not-an-address")" "status=400" "an authority that is not IP:port: 400"
is "$(good request CONNECT "$A4:$PORT")" "status=400" "an authority IP that is not the pod's: 400"
is "$(good request CONNECT "$B4:15006")" "status=503" "target port 15006 (a recursive call): 503"
is "$(good request CONNECT "$B4:15001")" "status=503" "target port 15001: 503"
is "$(good request CONNECT "$B4:15008")" "status=503" "target port 15008: 503"
is "$(good request CONNECT "$B4:$CLOSED")" "status=503" "nothing listening on the target: 503"

# ---- the tunnel ---------------------------------------------------------------------------

head -c 1048576 /dev/urandom >"$T_DIR/big"
: >"$PEERS"
mark_logs
is "$(good request CONNECT "$B4:$PORT" "$T_DIR/big" "$T_DIR/big.out")" "status=200 sent=1048576 recv=1048576" \
	"CONNECT $B4:$PORT: 200, 1 MiB out, END_STREAM, 1 MiB back"
is "$(sha256sum <"$T_DIR/big.out" | cut -d' ' -f1)" "$(sha256sum <"$T_DIR/big" | cut -d' ' -f1)" \
	"1 MiB arrives byte-identical (sha256sum)"
wait_for 10 eval '[[ -s $PEERS ]]' || true
matches "$(cat "$PEERS")" "peer=$A4:[0-9]+ local=$B4:$PORT bytes=1048576" \
	"the app in pod-b sees pod-a's address ($A4) as the source (IP_TRANSPARENT), not ztunnel's"
check "the access log: identities, dst.hbone_addr, direction, bytes" wait_for 10 log_has \
	"INFO access: connection complete src\.addr=$A4:[0-9]+ src\.identity=\"spiffe://$TD/ns/test/sa/peer\" dst\.addr=$B4:15008 dst\.hbone_addr=$B4:$PORT .*dst\.identity=\"$ID_B\" direction=\"inbound\" bytes_sent=1048576 bytes_recv=1048576 duration=\"[0-9]+ms\""

out=$(good idle 12)
matches "$out" "^pings=[1-9]" "an idle connection gets the server's keepalive PING within 12 s ($out)"

# ---- many streams, many connections, fds back to idle --------------------------------------

wait_for 10 fds_settled || true
idle=$(fd_count "$ZT_PID")
is "$(good streams 100 "$B4:$PORT")" "streams ok=100 bad=0" "100 concurrent CONNECT streams on one connection, each echo intact"
pids=()
for i in $(seq 10); do
	good streams 20 "$B4:$PORT" >"$T_DIR/many.$i" &
	pids+=($!)
done
wait "${pids[@]}"
is "$(cat "$T_DIR"/many.* | sort | uniq -c | sed 's/^ *//')" "10 streams ok=20 bad=0" \
	"10 concurrent connections of 20 streams each all complete"
check "the daemon's fd count returns to its idle value ($idle)" wait_for 10 fds_back_to "$idle"

# ---- hostile peers ------------------------------------------------------------------------

is "$(good hostile "$B4:$PORT")" "hostile done=14" \
	"a hostile peer: garbage, bad frames and HPACK, a flow-control overrun, 300 streams, huge headers, cut streams"
check "the daemon survives them" daemon_alive
is "$(good request CONNECT "$B4:$PORT" "$T_DIR/big" "$T_DIR/big.out3")" "status=200 sent=1048576 recv=1048576" \
	"a good peer is served after them"
check "the daemon's fd count returns to its idle value ($idle) after the hostile peer" wait_for 10 fds_back_to "$idle"

# ---- outbound: pod-a -> pod-b over HBONE ----------------------------------------------------

# counter NS TABLE CHAIN PATTERN: packets of CHAIN's rules that contain PATTERN (iptables-save -c)
counter() {
	ip netns exec "$1" iptables-save -c -t "$2" 2>/dev/null | awk -v c="-A $3 " -v p="$4" '
		index($0, c) && index($0, p) { split(substr($1, 2), x, ":"); n += x[1] } END { print n + 0 }'
}
probe() {
	P_RC=0
	P_OUT=$(ip netns exec "$A" "$PROBE" connect -t 10 "$@" 2>&1) || P_RC=$?
}
out=$("$CNI" add --redirect=tproxy --namespace web --service-account front "$SOCK" "$A" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "pod-a enrolled (namespace web, service account front) with the tproxy rules"
ID_A="spiffe://$TD/ns/web/sa/front"
h0=$(counter "$B" mangle ISTIO_PRERT "--on-port 15008") p0=$(counter "$B" mangle ISTIO_PRERT "--on-port 15006")
: >"$PEERS"
mark_logs
probe -i "$T_DIR/big" -o "$T_DIR/big.out2" "$B4" "$PORT"
is "$P_RC:${P_OUT%% local=*}" "0:eof sent=1048576 recv=1048576" "pod-a -> $B4:$PORT: 1 MiB out and back through pod-a's 15001"
is "$(sha256sum <"$T_DIR/big.out2" | cut -d' ' -f1)" "$(sha256sum <"$T_DIR/big" | cut -d' ' -f1)" \
	"... byte-identical (sha256sum)"
h1=$(counter "$B" mangle ISTIO_PRERT "--on-port 15008") p1=$(counter "$B" mangle ISTIO_PRERT "--on-port 15006")
check "pod-b's TPROXY to 15008 counted the tunnel ($h0 -> $h1 packets)" test "$h1" -gt "$h0"
is "$p1" "$p0" "pod-b's TPROXY to 15006 (plain text) saw nothing: the app port was not reached directly"
wait_for 10 eval '[[ -s $PEERS ]]' || true
matches "$(cat "$PEERS")" "peer=$A4:[0-9]+ local=$B4:$PORT bytes=1048576" "the app in pod-b sees pod-a's address ($A4)"
check "the outbound access line: identities, dst.addr :15008, dst.hbone_addr" wait_for 10 log_has \
	"INFO access: connection complete src\.addr=$A4:[0-9]+ src\.workload=\"[^\"]*\" src\.namespace=\"web\" src\.identity=\"$ID_A\" dst\.addr=$B4:15008 dst\.hbone_addr=$B4:$PORT .*dst\.identity=\"$ID_B\" direction=\"outbound\" bytes_sent=1048576 bytes_recv=1048576"
check "the inbound access line names pod-a's identity" wait_for 10 log_has \
	"INFO access: connection complete src\.addr=$A4:[0-9]+ src\.identity=\"$ID_A\" dst\.addr=$B4:15008 dst\.hbone_addr=$B4:$PORT"
# the pooled tunnel, both ends: TCP_NODELAY on each, ztunnel's keepalive on the one it opened
opts=$("$ZE_ROOT/tests/helpers/tcp-opts.py" "$ZT_PID" 2>&1) || true
matches "$(grep " $B4:15008 nodelay" <<<"$opts" || true)" \
	"$A4:[0-9]+ $B4:15008 nodelay=1 keepalive=1 idle=180 intvl=180 cnt=9" \
	"the tunnel pod-a opened to $B4:15008: TCP_NODELAY and ztunnel's keepalive (180 s, every 180 s, 9 probes)"
matches "$(grep "^$B4:15008 " <<<"$opts" || true)" "$B4:15008 $A4:[0-9]+ nodelay=1 keepalive=0 " \
	"... and its end accepted on pod-b's 15008: TCP_NODELAY only, as ztunnel's inbound"
# series NAME REPORTER SRC DST: the value of the istio_tcp NAME series with those labels
series() {
	metrics | awk -v n="istio_$1_total{reporter=\"$2\"," -v s="source_principal=\"$3\"" \
		-v d="destination_principal=\"$4\"" -v m='connection_security_policy="mutual_tls"' \
		'index($0, n) == 1 && index($0, s) && index($0, d) && index($0, m) { v += $NF } END { print v + 0 }'
}
check "/metrics: istio_tcp_connections_opened and _closed, reporter=source, the two principals, mutual_tls" \
	wait_for 10 eval '(($(series tcp_connections_opened source "$ID_A" "$ID_B") >= 1 && $(series tcp_connections_closed source "$ID_A" "$ID_B") >= 1))'
check "/metrics: ... and reporter=destination" \
	wait_for 10 eval '(($(series tcp_connections_closed destination "$ID_A" "$ID_B") >= 1))'
check "/metrics: istio_tcp_received_bytes and _sent_bytes count the 1 MiB each way, both reporters" \
	eval '(($(series tcp_received_bytes source "$ID_A" "$ID_B") >= 1048576 && $(series tcp_sent_bytes source "$ID_A" "$ID_B") >= 1048576 && $(series tcp_received_bytes destination "$ID_A" "$ID_B") >= 1048576 && $(series tcp_sent_bytes destination "$ID_A" "$ID_B") >= 1048576))'
probe -m x "$B4" "$CLOSED"
is "$P_RC:${P_OUT%% *}" "3:reset" "nothing on $B4:$CLOSED: the 503 resets pod-a's client"
out=$(ip netns exec "$A" "$PROBE" many -n 50 -t 30 "$B4" "$PORT" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:50/50 complete" "50 concurrent pod-a -> pod-b connections over HBONE all complete"
"$CNI" del "$SOCK" "$A" >/dev/null 2>&1 || true
check "the daemon's fd count returns to its idle value ($idle) after pod-a's Del" wait_for 10 fds_back_to "$idle"

# ---- Del: the certificate goes ------------------------------------------------------------

"$CNI" del "$SOCK" "$B" >/dev/null 2>&1 || true
is "$(config_dump | jq -c '.certificates')" "[]" "after the Del, config_dump lists no certificate"
check "the daemon is alive" daemon_alive
stop_daemon
is "$ZT_STATUS" 0 "the daemon exits 0 on SIGTERM"

done_testing
