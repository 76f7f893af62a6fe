#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A newcomer's command line (issue 17): every --help (both programs, each
# cni-emulator subcommand, every script) exits 0 and fits 80 columns; --help
# to a full or a closed stdout exits non-zero with a message, as util-linux
# does; and the test runner finds ip, iptables, setcap in /usr/sbin and /sbin
# with a login user's PATH, which lacks them.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

helps=("$ZT" "$CNI")
for verb in add del keep sync inspect; do helps+=("$CNI $verb"); done
for s in "$ZE_ROOT"/scripts/*.sh "$ZE_ROOT/tests/run.sh"; do
	# not the sourced ones (lib.sh, walkthru-istio.sh): those are not executable
	[[ ! -x $s ]] || helps+=("$s")
done

for h in "${helps[@]}"; do
	read -ra cmd <<<"$h"
	name=${h#"$ZE_ROOT"/}
	name=${name//$ZE_ROOT\//}
	rc=0
	out=$("${cmd[@]}" --help 2>"$T_DIR/err") || rc=$?
	wide=$(awk 'length > 80 { printf "%d: %s\n", length, $0 }' <<<"$out")
	if [[ $rc == 0 && -n $out && ! -s $T_DIR/err && -z $wide ]]; then
		ok "help: $name --help exits 0, on stdout, within 80 columns"
	else
		not_ok "help: $name --help exits 0, on stdout, within 80 columns"
		diag "exit status $rc; stderr: $(cat "$T_DIR/err")" "lines over 80 columns:" "$wide"
	fi
	rc=0
	"${cmd[@]}" --help >/dev/full 2>"$T_DIR/err" || rc=$?
	if [[ $rc != 0 && $(cat "$T_DIR/err") == *"rror"* ]]; then
		ok "help: $name --help >/dev/full exits $rc with a write error"
	else
		not_ok "help: $name --help >/dev/full exits non-zero with a write error"
		diag "exit status $rc; stderr: $(cat "$T_DIR/err")"
	fi
	rc=0
	"${cmd[@]}" --help >&- 2>"$T_DIR/err" || rc=$?
	if [[ $rc != 0 && -s $T_DIR/err ]]; then
		ok "help: $name --help with stdout closed exits $rc with a message"
	else
		not_ok "help: $name --help with stdout closed exits non-zero with a message"
		diag "exit status $rc; stderr: $(cat "$T_DIR/err")"
	fi
done
rc=0
"$CNI" --version >/dev/full 2>/dev/null || rc=$?
is "$rc" 1 "help: cni-emulator --version >/dev/full exits 1"
rc=0
"$ZT" --version >/dev/full 2>/dev/null || rc=$?
is "$rc" 1 "help: ztunnel-emulator --version >/dev/full exits 1"

# The runner with a login user's PATH (Debian's ENV_PATH: no sbin): the
# tests still find ip and friends.
cat >"$T_DIR/path-test.sh" <<TAP
#!/usr/bin/env bash
. "$ZE_ROOT/tests/lib.sh"
for tool in ip iptables-save ss setcap; do
	check "\$tool found with a login user's PATH" quiet command -v "\$tool"
done
done_testing
TAP
chmod +x "$T_DIR/path-test.sh"
out=$(env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/games HOME="$T_DIR" ZE_TEST_IN_USERNS="${ZE_TEST_IN_USERNS:-}" \
	"$ZE_ROOT/tests/run.sh" "$T_DIR/path-test.sh" 2>&1) && rc=0 || rc=$?
is "$rc:$(tail -n 1 <<<"$out")" "0:4 passed, 0 failed" \
	"path: tests/run.sh finds the /usr/sbin and /sbin tools with a login user's PATH" || diag "$out"

# make check's end: a table, one line per file (file, passed, failed), then
# the summary as the very last line; the TAP documents above stay whole.
cat >"$T_DIR/half.sh" <<'TAP'
#!/usr/bin/env bash
echo "1..2"
echo "ok 1 - one"
echo "not ok 2 - two"
exit 1
TAP
chmod +x "$T_DIR/half.sh"
out=$(env -i PATH="$PATH" HOME="$T_DIR" ZE_TEST_IN_USERNS="${ZE_TEST_IN_USERNS:-}" \
	"$ZE_ROOT/tests/run.sh" "$T_DIR/path-test.sh" "$T_DIR/half.sh" 2>&1) || true
tail4=$(tail -n 4 <<<"$out" | tr -s ' ')
is "$tail4" "file passed failed
$T_DIR/path-test.sh 4 0
$T_DIR/half.sh 1 1
5 passed, 1 failed" "summary: a file, passed, failed table, then the summary line last"
like "$out" "1..2
ok 1 - one
not ok 2 - two" "summary: each TAP document is printed whole"

done_testing
