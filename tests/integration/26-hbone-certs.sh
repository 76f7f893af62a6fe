#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HBONE certificates by identity (issue 18): as ztunnel's secret manager keys
# its certificates on the SPIFFE identity, the pods of one identity present
# one certificate, issued for the first of them and freed with the last; a
# pod of another identity gets its own. What each pod's 15008 presents is
# read by openssl s_client (none of the daemon's code) in the pod's netns.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

CA=$T_DIR/ca
TD=cluster.local
ID_CART="spiffe://$TD/ns/shop/sa/cart"
ID_PAY="spiffe://$TD/ns/shop/sa/pay"

# enroll NAME SA: a new netns NAME (lo up) enrolled in namespace shop with service account SA
enroll() {
	local out
	mk_netns "$1"
	printf -v "$1" '%s' "$NS"
	out=$("$CNI" add --namespace shop --service-account "$2" "$SOCK" "$NS" 2>&1) ||
		{ diag "$out"; return 1; }
}

# presented NETNS: "IDENTITY SERIAL" of the certificate 15008 presents in NETNS (openssl)
presented() {
	local pem
	pem=$(ip netns exec "$1" openssl s_client -connect 127.0.0.1:15008 -tls1_3 -alpn h2 \
		-CAfile "$CA/root-cert.pem" -cert "$T_DIR/peer.pem" -key "$T_DIR/peer.key" \
		</dev/null 2>/dev/null | sed -n '/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p')
	[[ -n $pem ]] || return 0
	printf '%s %s\n' "$(openssl x509 -noout -ext subjectAltName <<<"$pem" | grep -o 'spiffe://[^, ]*')" \
		"$(openssl x509 -noout -serial <<<"$pem" | sed 's/^serial=//')"
}

# the emulator's per-pod view: "IDENTITY SERIAL" of the pod whose uid is NETNS ("" if none)
dumped() {
	config_dump | jq -r --arg n "$1" '.emulator.certificates[] | select(.uid | endswith($n)) | "\(.identity) \(.serial)"'
}
# matches TEXT ERE NAME; differ A B NAME: one TAP line each
matches() {
	if [[ $1 =~ $2 ]]; then ok "$3"; else
		not_ok "$3"
		diag "text: '$1'" "does not match: '$2'"
	fi
}
differ() {
	if [[ -n $1 && $1 != "$2" ]]; then ok "$3"; else
		not_ok "$3"
		diag "both: '$1'"
	fi
}
identities() { config_dump | jq -r '[.certificates[].identity] | join(" ")'; }

ambient_caps_daemon
start_daemon --profile ambient
# the peer's client certificate, from the lab CA (15008 requires one)
printf 'subjectAltName=critical,URI:spiffe://%s/ns/test/sa/peer\nextendedKeyUsage=clientAuth\n' "$TD" \
	>"$T_DIR/peer.ext"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_DIR/peer.key" \
	-subj "/O=test" -out "$T_DIR/peer.csr" 2>/dev/null
openssl x509 -req -in "$T_DIR/peer.csr" -CA "$CA/root-cert.pem" -CAkey "$CA/root-key.pem" \
	-CAcreateserial -days 1 -extfile "$T_DIR/peer.ext" -out "$T_DIR/peer.pem" 2>/dev/null
check "a client certificate from the lab CA (openssl)" test -s "$T_DIR/peer.pem"

check "pod c1 enrolled (shop/cart)" enroll c1 cart
check "pod c2 enrolled (shop/cart)" enroll c2 cart
check "pod p1 enrolled (shop/pay)" enroll p1 pay

# shellcheck disable=SC2154 # c1, c2, p1: set by enroll through printf -v
{
	s_c1=$(presented "$c1") s_c2=$(presented "$c2") s_p1=$(presented "$p1")
}
matches "$s_c1" "^$ID_CART [0-9A-F]+\$" "c1's 15008 presents shop/cart's certificate (openssl s_client)"
is "$s_c2" "$s_c1" "c2's 15008 presents the same certificate: one per identity, shared"
matches "$s_p1" "^$ID_PAY [0-9A-F]+\$" "p1's 15008 presents shop/pay's certificate"
differ "${s_p1#* }" "${s_c1#* }" "... another certificate (serial) than shop/cart's"
is "$(dumped "$c1")" "$s_c1" "config_dump emulator.certificates: c1, the identity and serial presented"
is "$(dumped "$c2")" "$s_c1" "... c2: the same"
is "$(identities)" "$ID_CART $ID_PAY" "config_dump certificates: one per identity"

"$CNI" del "$SOCK" "$c1" >/dev/null 2>&1 || true
is "$(presented "$c2")" "$s_c1" "after c1's Del, c2 still presents the identity's certificate"
is "$(identities)" "$ID_CART $ID_PAY" "... and config_dump still lists shop/cart"
"$CNI" del "$SOCK" "$c2" >/dev/null 2>&1 || true
is "$(identities)" "$ID_PAY" "after the identity's last pod's Del, its certificate is gone"

check "pod c3 enrolled (shop/cart) after that" enroll c3 cart
# shellcheck disable=SC2154
s_c3=$(presented "$c3")
matches "$s_c3" "^$ID_CART [0-9A-F]+\$" "c3's 15008 presents shop/cart's certificate"
differ "${s_c3#* }" "${s_c1#* }" "... a new one (the old one was freed with its last pod)"
is "$(presented "$p1")" "$s_p1" "p1 kept its certificate throughout"
is "$(grep -c "no HBONE certificate" "$ZT_LOG" || true)" 0 "no pod was left without a certificate"

"$CNI" del "$SOCK" "$c3" >/dev/null 2>&1 || true
"$CNI" del "$SOCK" "$p1" >/dev/null 2>&1 || true
is "$(config_dump | jq -c '.certificates, .emulator.certificates' | paste -sd ' ')" "[] []" \
	"after every Del, config_dump lists no certificate"
check "the daemon is alive" daemon_alive
stop_daemon
is "$ZT_STATUS" 0 "the daemon exits 0 on SIGTERM"

done_testing
