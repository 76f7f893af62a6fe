#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Static checks: every shell script is shellcheck-clean at warning level.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

cd "$ZE_ROOT" || exit 1
for f in scripts/*.sh tests/*.sh tests/integration/*.sh tests/fuzz/*.sh tests/bench/*.sh .ci/run; do
	[[ -e $f ]] || continue	# a glob with no match
	out=$(shellcheck -S warning -x "$f" 2>&1) && rc=0 || rc=$?
	if [[ $rc == 0 ]]; then ok "shellcheck $f"; else not_ok "shellcheck $f"; diag "$out"; fi
done

done_testing
