#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HBONE to --registry workloads and under the relay caps (issue 15): pod-b is
# not enrolled but listed in the registry with protocol HBONE, and an
# independent HBONE server (tests/helpers/hbone-server.py: Python's ssl and
# h2, none of the daemon's code) plays its remote ztunnel on 198.18.0.2:15008
# with a certificate from the shared CA. pod-a's connections go through its
# 15001 as CONNECT streams (mutual TLS, pod-a's identity, :authority IP:PORT,
# forwarded/baggage/traceparent), pooled; a server presenting another identity
# than the registry's is refused and counted (IDENTITY_ERROR), a 503 too
# (CONNECT), and so is a 15008 where nothing listens, in
# istio_tcp_connections_failed_total read with prom-parse.py.
# Then HBONE streams count against --max-relays-per-pod: a third inbound
# CONNECT gets 503, a third outbound connection is reset.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PROBE=$ZE_ROOT/tests/helpers/tcp-probe
PEER_PY=$ZE_ROOT/tests/helpers/hbone-peer.py
SERVER_PY=$ZE_ROOT/tests/helpers/hbone-server.py
PROM_PY=$ZE_ROOT/tests/helpers/prom-parse.py
PORT=8080
CLOSED=8081 # the server answers 503 for it
A4=198.18.0.1 B4=198.18.0.2
CA=$T_DIR/ca
TD=cluster.local
REG=$T_DIR/registry.yaml
SRV_LOG=$T_DIR/server.log
ID_A="spiffe://$TD/ns/web/sa/front"
ID_API="spiffe://$TD/ns/remote/sa/api"

# registry SA: pod-b's address as the workload api-0 (namespace remote, service account SA), over HBONE
registry() {
	cat >"$REG" <<EOF
workloads:
- uid: remote//v1/Pod/remote/api-0
  name: api-0
  namespace: remote
  serviceAccount: $1
  workloadIps: ["$B4"]
  protocol: HBONE
  services: {}
EOF
}

# leaf NAME URI: a certificate for URI from the lab CA, made with openssl(1)
leaf() {
	printf 'subjectAltName=critical,URI:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$2" >"$T_DIR/$1.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_DIR/$1.key" \
		-subj "/O=test" -out "$T_DIR/$1.csr" 2>/dev/null
	openssl x509 -req -in "$T_DIR/$1.csr" -CA "$CA/root-cert.pem" -CAkey "$CA/root-key.pem" \
		-CAcreateserial -days 1 -extfile "$T_DIR/$1.ext" -out "$T_DIR/$1.pem" 2>/dev/null
}

probe() {
	P_RC=0
	P_OUT=$(ip netns exec "$A" "$PROBE" connect -t 10 "$@" 2>&1) || P_RC=$?
}
# failed FLAGS REPORTER DST-PRINCIPAL: istio_tcp_connections_failed_total of those labels, as
# prometheus_client parses /metrics (an exposition it refuses gives "parse error")
failed() {
	metrics | /usr/bin/python3 "$PROM_PY" | awk -v f="response_flags=\"$1\"" -v r="reporter=\"$2\"" \
		-v d="destination_principal=\"$3\"" '
		/^parse error/ { print; bad = 1; exit }
		$1 == "sample" && index($2, "istio_tcp_connections_failed_total{") == 1 &&
			index($2, f) && index($2, r) && index($2, d) { v += $3 }
		END { if (!bad) print v + 0 }'
}
# opened REPORTER DST-PRINCIPAL DST-WORKLOAD: istio_tcp_connections_opened_total of those labels
opened() {
	metrics | /usr/bin/python3 "$PROM_PY" | awk -v r="reporter=\"$1\"" -v d="destination_principal=\"$2\"" \
		-v w="destination_workload=\"$3\"" '
		$1 == "sample" && index($2, "istio_tcp_connections_opened_total{") == 1 &&
			index($2, r) && index($2, d) && index($2, w) && index($2, "connection_security_policy=\"mutual_tls\"") { v += $3 }
		END { print v + 0 }'
}

failed_is() { [[ $(failed "$1" "$2" "$3") == "$4" ]]; }
opened_at_least() { (($(opened "$1" "$2" "$3") >= $4)); }

if ! /usr/bin/python3 -c 'import h2, prometheus_client' 2>/dev/null; then
	not_ok "python3-h2 and python3-prometheus-client are installed (scripts/deps.sh)"
	done_testing
	exit 1
fi

# ---- a registry workload over HBONE -------------------------------------------------

mk_pod_pair --v4-only
ambient_caps_daemon
registry api
start_daemon --profile ambient --registry "$REG"
leaf api "$ID_API"
leaf other "spiffe://$TD/ns/remote/sa/intruder"
spawn ip netns exec "$B" /usr/bin/python3 "$SERVER_PY" --ca "$CA/root-cert.pem" --cert "$T_DIR/api.pem" \
	--key "$T_DIR/api.key" --log "$SRV_LOG" "$B4" 15008
SRV_PID=$LAST_PID
check "the independent HBONE server listens on $B4:15008 in pod-b (not enrolled)" \
	wait_for 10 grep -qs '^listening' "$SRV_LOG"
out=$("$CNI" add --redirect=tproxy --namespace web --service-account front "$SOCK" "$A" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "pod-a enrolled (namespace web, service account front) with the tproxy rules"
[[ $rc == 0 ]] || diag "$out"

head -c 1048576 /dev/urandom >"$T_DIR/big"
mark_logs
probe -i "$T_DIR/big" -o "$T_DIR/big.out" "$B4" "$PORT"
is "$P_RC:${P_OUT%% local=*}" "0:eof sent=1048576 recv=1048576" \
	"pod-a -> $B4:$PORT (a registry workload, protocol HBONE): 1 MiB out and echoed back by the remote server"
is "$(sha256sum <"$T_DIR/big.out" | cut -d' ' -f1)" "$(sha256sum <"$T_DIR/big" | cut -d' ' -f1)" \
	"... byte-identical (sha256sum)"
like "$(cat "$SRV_LOG")" "tls ok client=$ID_A" "the server verified pod-a's certificate: mutual TLS with pod-a's identity"
matches_connect="connect authority=$B4:$PORT status=200 forwarded=for=\"$A4:[0-9]+\" baggage=k8s.namespace.name=web,k8s.pod.name=[^ ]+ traceparent=00-[0-9a-f]{32}-[0-9a-f]{16}-00"
check "the CONNECT: :authority $B4:$PORT (never 15008), forwarded, baggage, traceparent" \
	grep -qE "$matches_connect" "$SRV_LOG"
check "the outbound access line: dst.addr :15008, dst.hbone_addr, the registry's workload and identity" wait_for 10 log_has \
	"INFO access: connection complete src\.addr=$A4:[0-9]+ .*src\.identity=\"$ID_A\" dst\.addr=$B4:15008 dst\.hbone_addr=$B4:$PORT dst\.workload=\"api-0\" dst\.namespace=\"remote\" dst\.identity=\"$ID_API\" direction=\"outbound\" bytes_sent=1048576 bytes_recv=1048576"
probe -m hello "$B4" "$PORT"
is "$P_RC:${P_OUT%% local=*}" "0:eof sent=5 recv=5" "a second connection to the same workload"
is "$(grep -c '^tls ok' "$SRV_LOG")" 1 "... went over the pooled connection: one TLS handshake for both"
check "/metrics: istio_tcp_connections_opened, reporter=source, destination api-0 with the registry's identity" \
	wait_for 10 opened_at_least source "$ID_API" api-0 2

probe -m x "$B4" "$CLOSED"
is "$P_RC:${P_OUT%% *}" "3:reset" "the remote server answers 503 for $B4:$CLOSED: pod-a's client is reset"
check "/metrics: istio_tcp_connections_failed_total{reporter=source, response_flags=CONNECT} counts it" \
	wait_for 10 failed_is CONNECT source "$ID_API" 1

# the registry now expects another service account: the same server is an impostor
registry other
mark_logs
kill -HUP "$ZT_PID"
check "SIGHUP: the registry is reloaded" wait_for 10 log_has "registry .* reloaded"
probe -m x "$B4" "$PORT"
is "$P_RC:${P_OUT%% *}" "3:reset" "a server presenting $ID_API where the registry says sa/other: pod-a's client is reset"
check "... the access log says why (identity verification)" wait_for 10 log_has \
	"ERROR access: connection complete .*dst\.identity=\"spiffe://$TD/ns/remote/sa/other\" .*error=\"identity verification error: the server presented $ID_API, expected spiffe://$TD/ns/remote/sa/other\""
check "... the pool is keyed on the destination identity: a new handshake was tried, and refused" \
	wait_for 10 grep -qs '^tls failed' "$SRV_LOG"
check "/metrics: istio_tcp_connections_failed_total{response_flags=IDENTITY_ERROR} counts it" \
	wait_for 10 failed_is IDENTITY_ERROR source "spiffe://$TD/ns/remote/sa/other" 1
is "$(grep -c "connect authority=" "$SRV_LOG")" 3 "no CONNECT reached the impostor (3 before it)"

# a registry workload with protocol TCP stays plain text: nothing of HBONE is tried
sed -i 's/protocol: HBONE/protocol: TCP/' "$REG"
mark_logs
kill -HUP "$ZT_PID"
check "SIGHUP: the registry is reloaded (protocol TCP)" wait_for 10 log_has "registry .* reloaded"
handshakes=$(grep -c '^tls' "$SRV_LOG")
probe -m x "$B4" "$PORT"
is "$P_RC:${P_OUT%% *}" "3:reset" "protocol TCP: relayed in plain text to $B4:$PORT, where nothing listens: reset"
is "$(grep -c '^tls' "$SRV_LOG")" "$handshakes" "... and the HBONE server saw nothing"

# HBONE again, the remote ztunnel gone: nothing listens on 15008
kill "$SRV_PID" 2>/dev/null || true
wait "$SRV_PID" 2>/dev/null || true
registry api
mark_logs
kill -HUP "$ZT_PID"
check "SIGHUP: the registry is reloaded (protocol HBONE)" wait_for 10 log_has "registry .* reloaded"
probe -m x "$B4" "$PORT"
is "$P_RC:${P_OUT%% *}" "3:reset" "no server on $B4:15008: pod-a's client is reset, never sent in plain text"
check "/metrics: ... counted in istio_tcp_connections_failed_total{response_flags=CONNECT}" \
	wait_for 10 failed_is CONNECT source "$ID_API" 2
check "... the access log says why (the pooled connection's end may win the race)" wait_for 10 log_has \
	"ERROR access: connection complete .*dst\.addr=$B4:15008 .*error=\"(cannot connect to $B4:15008: Connection refused|connection closed)\""
stop_daemon
is "$ZT_STATUS" 0 "the daemon exits 0 on SIGTERM"

# ---- HBONE streams under --max-relays-per-pod 2 ------------------------------------------

"$CNI" del "$SOCK" "$A" >/dev/null 2>&1 || true
PEERS=$T_DIR/peers.log
serve_echo "$PEERS"
ZT_LOG=$T_DIR/zt2.log
start_daemon --profile ambient --max-relays-per-pod 2
out=$("$CNI" add --redirect=tproxy --namespace shop --service-account cart "$SOCK" "$B" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "pod-b enrolled (namespace shop, service account cart)"
ID_B="spiffe://$TD/ns/shop/sa/cart"
leaf peer "spiffe://$TD/ns/test/sa/peer"
wait_for 10 fds_settled || true
idle=$(fd_count "$ZT_PID")
out=$(ip netns exec "$A" /usr/bin/python3 "$PEER_PY" --ca "$CA/root-cert.pem" --cert "$T_DIR/peer.pem" \
	--key "$T_DIR/peer.key" "$B4" 15008 hold 3 "$B4:$PORT" 2>&1) || true
is "$out" "statuses 200=2 503=1" "3 CONNECT streams held open to pod-b, 2 relays allowed: 200, 200, then 503"
check "/metrics: the 503 in istio_tcp_connections_failed_total{reporter=destination, response_flags=CONNECT}" \
	wait_for 10 failed_is CONNECT destination "$ID_B" 1
check "the streams' fds are given back" wait_for 10 fds_back_to "$idle"

out=$("$CNI" add --redirect=tproxy --namespace web --service-account front "$SOCK" "$A" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "pod-a enrolled"
out=$(ip netns exec "$A" "$PROBE" hold -n 3 -t 20 "$B4" "$PORT" </dev/null 2>&1) || true
like "$out" "open=2 reset=1 " "3 connections held from pod-a over HBONE, 2 relays allowed: the third is reset"
check "... and logged as refused over the cap" grep -qE "connection failed dst\.addr=$B4:$PORT direction=\"outbound\" error=\"2 relays for this pod \(see --max-relays-per-pod\)\"" "$ZT_LOG"
check "the daemon is alive" daemon_alive
stop_daemon
is "$ZT_STATUS" 0 "the daemon exits 0 on SIGTERM"

done_testing
