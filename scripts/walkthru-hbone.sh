# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# walkthru-hbone.sh - what the ambient chapter shows with --hbone (walkthru.sh
# --ambient --hbone): pod-a -> pod-b carried over HBONE, mutual TLS and an
# HTTP/2 CONNECT to pod-b's 15008, as between mesh pods. Sourced by
# walkthru.sh inside ambient_walkthru, whose locals (a, b, addr_a, addr_b,
# port, log, dpid, admin) and helpers (step, say, show, must, check, good,
# bad) it uses.
# shellcheck disable=SC2034,SC2154

# The proof, HBONE: two access lines (outbound in pod-a, inbound in pod-b),
# both naming pod-b's 15008 as the address and the app as the HBONE target,
# with both SPIFFE identities.
hbone_proof() {
	local dir line
	say "The daemon logged the connection twice, in ztunnel's access-log format. The"
	say "address it went to is pod-b's 15008 (dst.addr), the tunnel's target the app"
	say "(dst.hbone_addr), and each side names the other's SPIFFE identity:"
	# (the lab's daemon logs as the newest release: tab-separated, target "access")
	check grep -P '\taccess\t' "$log"
	for dir in outbound inbound; do
		line=$(grep -P "connection complete\tsrc.addr=$addr_a:[0-9]* .*dst.addr=$addr_b:15008 dst.hbone_addr=$addr_b:$port .*direction=\"$dir\"" "$log" | tail -n 1)
		if [[ $line == *'src.identity="spiffe://'* && $line == *'dst.identity="spiffe://'* ]]; then
			good "$dir: over HBONE to $addr_b:15008 for $addr_b:$port, with both identities"
		else
			bad "no complete $dir HBONE connection to $addr_b:15008 in the access log"
		fi
	done
}

# The tunnel itself: the connection to 15008 in ss, TLS 1.3 with the lab CA's
# certificate, and the metrics with mutual_tls.
hbone_tunnel_step() {
	local out metrics ca
	step "the tunnel on the wire"
	say "ztunnel in pod-a keeps its mTLS HTTP/2 connection to pod-b's 15008 for the next"
	say "connection (a pool): there it is, from pod-a's address, owned by the daemon:"
	must ip netns exec "$a" ss -tnp "dport = :15008"
	if [[ $(ip netns exec "$a" ss -Htnp "dport = :15008") == *ESTAB*"pid=$dpid,"* ]]; then
		good "pod-a: ztunnel's connection to $addr_b:15008 is established"
	else
		bad "pod-a: no established connection of ztunnel (PID $dpid) to :15008"
	fi
	say "What 15008 speaks: TLS 1.3, with a certificate from the lab's CA (openssl runs in"
	say "pod-b on loopback, which the rules leave alone; from pod-a they would send it to"
	say "ztunnel's 15001). Without a client certificate it gets no stream:"
	ca=$LAB_STATE/ca/root-cert.pem
	show "ip netns exec $b openssl s_client -connect 127.0.0.1:15008 -alpn h2 -CAfile $ca -brief </dev/null"
	out=$(ip netns exec "$b" timeout 10 openssl s_client -connect 127.0.0.1:15008 -alpn h2 -CAfile "$ca" \
		-brief </dev/null 2>&1 || true)
	printf '%s\n' "$out" | grep -E 'Protocol version|Ciphersuite|Verification|alert' || true
	if [[ $out == *"Protocol version: TLSv1.3"* && $out == *"Verification: OK"* ]]; then
		good "pod-b's 15008: TLS 1.3, its certificate chained to the lab CA"
	else
		bad "no verified TLS 1.3 handshake with pod-b's 15008"
	fi
	say "And the metrics ztunnel's dashboards read, with connection_security_policy:"
	metrics=$(curl -s "$(lab_get METRICS_URL)/metrics" || true)
	show "curl -s $(lab_get METRICS_URL)/metrics | grep istio_tcp_connections_opened_total"
	grep '^istio_tcp_connections_opened_total' <<<"$metrics" | cut -c 1-160 | sed 's/$/.../' || true
	if grep -q '^istio_tcp_connections_opened_total{reporter="source".*connection_security_policy="mutual_tls"} [1-9]' <<<"$metrics"; then
		good "istio_tcp_connections_opened_total counts it with connection_security_policy=\"mutual_tls\""
	else
		bad "no mutual_tls connection in istio_tcp_connections_opened_total"
	fi
}
