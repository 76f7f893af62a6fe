#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's "Use it in your CI" recipe (issue 17), run from the README's
# own text: the `run:` steps of its YAML block, each as GitHub Actions runs
# them (bash --noprofile --norc -eo pipefail, RUNNER_TEMP set), with the
# checkout at ztunnel-emulator/. It must pass, leave nothing behind, and
# fail (still cleaning up) when the pod is not enrolled.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

# the fenced yaml block of the section
yaml=$(awk '/^## Use it in your CI/ { sec = 1; next } sec && /^## / { exit }
	sec && /^```yaml/ { on = 1; next } on && /^```/ { exit } on' "$ZE_ROOT/README.md")
# step N's `run: |` body, dedented
run_step() {
	awk -v want="$1" '
		/^ *run: \|$/ { n++; ind = index($0, "run:") + 1; on = (n == want); next }
		on && (match($0, /^ */) && RLENGTH < ind && $0 != "") { on = 0 }
		on { print substr($0, ind + 1) }' <<<"$yaml"
}
build=$(run_step 1) smoke=$(run_step 2)
check "ci recipe: README holds the yaml job with a build and a smoke step" \
	test -n "$build" -a -n "$smoke"

work=$T_DIR/work
mkdir -p "$work" "$T_DIR/runner" "$T_DIR/bin"
ln -s "$ZE_ROOT" "$work/ztunnel-emulator"
# root already: where sudo cannot run (a user namespace), a pass-through
if ! sudo -n true 2>/dev/null; then
	printf '#!/bin/sh\nexec "$@"\n' >"$T_DIR/bin/sudo"
	chmod +x "$T_DIR/bin/sudo"
fi

# gh_step BODY: runs BODY as a GitHub Actions `run:` step; sets RC, OUT, STEP_PID
gh_step() {
	printf '%s\n' "$1" >"$T_DIR/step.sh"
	(cd "$work" && exec env RUNNER_TEMP="$T_DIR/runner" PATH="$T_DIR/bin:$PATH" \
		bash --noprofile --norc -eo pipefail "$T_DIR/step.sh") >"$T_DIR/step.out" 2>&1 &
	STEP_PID=$!
	_netns+=("ci-pod-$STEP_PID") # the recipe's pod, should it outlive a failure
	RC=0
	wait "$STEP_PID" || RC=$?
	OUT=$(cat "$T_DIR/step.out")
}

# leftovers: the recipe's netns or daemon still there
leftovers() {
	{ ip netns list | grep -o "^ci-pod-$STEP_PID\\b" || true; } | tr '\n' ' '
	pgrep -f "$T_DIR/runner/zt.sock" | tr '\n' ' ' || true
}

gh_step "$build"
is "$RC" 0 "ci recipe: the build step succeeds" || diag "$(tail -n 20 <<<"$OUT")"
gh_step "$smoke"
is "$RC" 0 "ci recipe: the smoke step succeeds" || diag "$(tail -n 30 <<<"$OUT")"
like "$OUT" "listeners ready" "ci recipe: the pod was enrolled (listeners ready)"
like "$OUT" "deleted" "ci recipe: and deleted"
is "$(leftovers)" "" "ci recipe: nothing left (netns, daemon)"
check "ci recipe: the socket is gone" test ! -e "$T_DIR/runner/zt.sock"

# The recipe's assertions bite: a cni-emulator that enrols nothing fails it,
# and the teardown still runs.
cp "$T_DIR/runner/ze/bin/cni-emulator" "$T_DIR/cni.real"
printf '#!/bin/sh\nexit 0\n' >"$T_DIR/runner/ze/bin/cni-emulator"
gh_step "$smoke"
isnt_zero=$((RC != 0))
is "$isnt_zero" 1 "ci recipe: the smoke step fails when the pod is not enrolled"
is "$(leftovers)" "" "ci recipe: after a failure too, nothing is left"

done_testing
