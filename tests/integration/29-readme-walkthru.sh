#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The walk-thru output quoted in README.md is what a real run prints (issue
# 16): scripts/readme-output.sh --check runs scripts/walkthru.sh and compares
# every <!-- walkthru:NAME --> block with it, timestamps and PIDs normalised,
# everything else (fd numbers, log fields, ss columns) as it came. Then, on
# a copy of the README: a stale block is caught with a diff, and the rewrite
# puts the run's output back.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

S=$ZE_ROOT/scripts
RUN=$T_DIR/walkthru.txt

out=$("$S/readme-output.sh" --check --save "$RUN" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "readme-output.sh --check: README.md's walk-thru blocks match a fresh run"
[[ $rc == 0 ]] || diag "$out"
like "$out" "all 10 walk-thru blocks match the run" "readme-output.sh --check: all 10 blocks compared"

readme=$ZE_ROOT/README.md
fds=$(grep -oE 'users:\(\("ztunnel-emulato",pid=[0-9]+,fd=[0-9]+\)\)' "$readme" | head -n 3 | sed 's/.*fd=//; s/))//' | tr '\n' ' ')
run_fds=$(grep -A4 '^\$ ip netns exec .* ss -ntlp' "$RUN" | grep -oE 'fd=[0-9]+' | head -n 3 | sed 's/fd=//' | sort -n | tr '\n' ' ')
is "$(tr ' ' '\n' <<<"$fds" | grep . | sort -n | tr '\n' ' ')" "$run_fds" \
	"the README's listener fds are the run's own numbers ($run_fds)"
unlike "$(cat "$readme")" "pid=PID" "the README shows real PIDs, not placeholders"

# ---- a stale block is caught, the rewrite fixes it -------------------------------
copy=$T_DIR/README.md
sed -E '0,/users:\(\("ztunnel-emulato",pid=[0-9]+,fd=[0-9]+/s//users:(("ztunnel-emulato",pid=1,fd=999/' \
	"$readme" >"$copy"
out=$("$S/readme-output.sh" --check --transcript "$RUN" --readme "$copy" 2>&1) && rc=0 || rc=$?
is "$rc" 1 "--check: a block with a wrong fd number differs (exit 1)"
like "$out" "fd=999" "--check: the diff shows the stale line"
like "$out" "1 of 10 walk-thru blocks differ from the run" "--check: says how many blocks differ"
out=$("$S/readme-output.sh" --transcript "$RUN" --readme "$copy" 2>&1) && rc=0 || rc=$?
is "$rc:$out" "0:$copy: 10 walk-thru blocks rewritten" "the rewrite puts the run's output in"
check "the rewritten copy matches the run" quiet "$S/readme-output.sh" --check --transcript "$RUN" --readme "$copy"
awk '/^<!-- \/walkthru -->$/ && ++n == 3 { next } 1' "$copy" >"$copy.broken"
mv "$copy.broken" "$copy"
out=$("$S/readme-output.sh" --check --transcript "$RUN" --readme "$copy" 2>&1) && rc=0 || rc=$?
is "$rc" 1 "--check: a README whose markers are broken is an error"

done_testing
