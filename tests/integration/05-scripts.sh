#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The lab scripts: the narrated walk-thru runs end to end and leaves nothing
# behind; netns-setup.sh is idempotent; verify.sh fails when it should.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

S=$ZE_ROOT/scripts
export ZE_LAB_STATE=$T_DIR/state
ns="$T_PREFIX-walk"
sock=$T_DIR/walk.sock

out=$("$S/walkthru.sh" --netns "$ns" --socket "$sock" </dev/null 2>&1) && rc=0 || rc=$?
is "$rc" 0 "walkthru.sh exits 0"
like "$out" "\$ ./cni-emulator/cni-emulator $sock /var/run/netns/$ns" "walkthru.sh echoes each command before running it"
like "$out" "listeners ready" "walkthru.sh shows 'listeners ready'"
like "$out" "127.0.0.1:15001      0.0.0.0:*    users:((\"ztunnel-emulato\"" "walkthru.sh shows the ss LISTEN lines"
like "$out" "port 15002 (tcp) failed: Connection refused" "walkthru.sh shows 15002 refused"
like "$out" "pod $ns deleted" "walkthru.sh deletes the pod"
like "$out" "pod delete request, draining proxy" "walkthru.sh shows the daemon draining the proxy"
# (grep reads all its input: grep -q would exit early and, under pipefail,
# fail the pipeline when ip is killed by SIGPIPE)
netns_listed() { [[ $(ip netns list) =~ (^|[[:space:]])$1($|[[:space:]]) ]]; }
check "walkthru.sh: the netns is gone" eval "! netns_listed '$ns'"
check "walkthru.sh: the socket is gone" test ! -e "$sock"
check "walkthru.sh: the state dir is gone" test ! -e "$ZE_LAB_STATE"
check "walkthru.sh: no daemon left on that socket" eval "! pgrep -f 'ztunnel-emulator $sock' >/dev/null"

# netns-setup.sh: twice is the same as once; cleanup.sh removes only its own.
mk_netns foreign
foreign=$NS
"$S/netns-setup.sh" -q "$T_PREFIX-setup" "$foreign" >/dev/null
_netns+=("$T_PREFIX-setup")
"$S/netns-setup.sh" -q "$T_PREFIX-setup" >/dev/null
is "$(ip netns list | grep -cw "$T_PREFIX-setup")" 1 "netns-setup.sh twice: one netns"
is "$(ip -n "$T_PREFIX-setup" -o link show lo | grep -c 'UP')" 1 "netns-setup.sh brings lo up"
"$S/cleanup.sh" -q >/dev/null
check "cleanup.sh removes the netns netns-setup.sh created" eval "! netns_listed '$T_PREFIX-setup'"
check "cleanup.sh leaves a netns it did not create" netns_listed "$foreign"

# verify.sh must fail on a pod without listeners, and on a missing netns.
rc=0
"$S/verify.sh" "$foreign" >/dev/null 2>&1 || rc=$?
is "$rc" 1 "verify.sh fails (1) on a netns without the listeners"
rc=0
"$S/verify.sh" "$T_PREFIX-nope" >/dev/null 2>&1 || rc=$?
is "$rc" 2 "verify.sh exits 2 on a netns that does not exist"

# --json and --absent
rc=0
json=$("$S/verify.sh" --json "$foreign" 2>/dev/null) || rc=$?
is "$rc" 1 "verify.sh --json keeps the exit status"
check "verify.sh --json: valid JSON reporting failures in present mode" \
	quiet jq -e '.mode == "present" and .failed > 0 and (.checks | length) == .passed + .failed' <<<"$json"
rc=0
json=$("$S/verify.sh" --absent --json "$foreign" 2>/dev/null) || rc=$?
is "$rc" 0 "verify.sh --absent passes on a netns without listeners"
check "verify.sh --absent --json: six passed checks" \
	quiet jq -e '.mode == "absent" and .passed == 6 and .failed == 0' <<<"$json"

# verify.sh --json escapes strings as common/json.c does (one escaper in the tree):
# quotes, control characters, DEL, and bytes that are not UTF-8 as \u00XX.
# shellcheck disable=SC1090
. <(sed -n '/^json_str() {/,/^}/p;/^json_utf8_len() {/,/^}/p' "$S/verify.sh")
for t in 'plain' 'a"b\c' $'l1\nl2\tx\r' $'\x01\x1f\x7f' $'caf\xc3\xa9 \xf0\x9f\x98\x80' \
	$'a\xffb\xc3(\xe2\x82c\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80'; do
	is "$(json_str "$t")" "$("$ZE_ROOT/tests/helpers/json-str" "$t")" \
		"verify.sh's json_str = json.c's for $(printf '%q' "$t")"
done

done_testing
