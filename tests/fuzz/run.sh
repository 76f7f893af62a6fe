#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Usage: tests/fuzz/run.sh [SECONDS]   (default 60)
#
# Builds the libFuzzer targets (make tests/fuzz/fuzz_zds tests/fuzz/fuzz_dispatch tests/fuzz/fuzz_dns
# tests/fuzz/fuzz_plugin tests/fuzz/fuzz_client)
# and runs each for SECONDS over a copy of its seed corpus (tests/fuzz/corpus/<target>/),
# so the seeds in git stay small. A crash, leak, timeout or invariant violation
# prints the report and the input, and copies the input into the target's corpus
# as a regression seed; the other targets still run; the exit status is then 1.
# Ends with one summary line per target.
set -euo pipefail

seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: $0 [SECONDS]  (a whole number of seconds per target)" >&2
	exit 2
fi

# Undefined behaviour is a finding like a crash: stop there and keep the input.
# (UBSAN_OPTIONS=halt_on_error=0 fuzzes on past a known one; it is still reported.)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
targets=(fuzz_zds fuzz_dispatch fuzz_dns fuzz_plugin fuzz_client)
clang_bin=${CLANG:-clang}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ze-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- a clang that can link -fsanitize=fuzzer -------------------------------

libfuzzer_works() {
	command -v "$clang_bin" >/dev/null 2>&1 || return 1
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$tmp/probe.c"
	"$clang_bin" -fsanitize=fuzzer,address,undefined -o "$tmp/probe" "$tmp/probe.c" >"$tmp/probe.log" 2>&1
}

clang_major() {
	"$clang_bin" --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\).*/\1/p' | head -n 1
}

install_hint() {
	local major
	major=$(clang_major || true)
	echo "libFuzzer is not usable with '$clang_bin'." >&2
	if [[ -s $tmp/probe.log ]]; then
		sed 's/^/  /' "$tmp/probe.log" | tail -n 5 >&2
	fi
	echo "Install clang and its runtime libraries, e.g. on Debian/Ubuntu:" >&2
	echo "  apt-get install clang libclang-rt-${major:-<major>}-dev   (<major> as 'clang --version' says)" >&2
}

if ! libfuzzer_works; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "fuzz: installing clang and libFuzzer with apt-get" >&2
		export DEBIAN_FRONTEND=noninteractive
		if ! command -v "$clang_bin" >/dev/null 2>&1; then
			apt-get update -q >&2
			apt-get install -y -q clang >&2
		fi
		major=$(clang_major || true)
		if [[ -n $major ]] && ! libfuzzer_works; then
			apt-get update -q >&2
			# older releases ship the runtimes in libclang-common-N-dev
			apt-get install -y -q "libclang-rt-$major-dev" >&2 ||
				apt-get install -y -q "libclang-common-$major-dev" >&2 || true
		fi
	fi
	if ! libfuzzer_works; then
		install_hint
		exit 1
	fi
fi

# ---- build -------------------------------------------------------------------

echo "fuzz: building with $("$clang_bin" --version | head -n 1)"
make -C "$root" --no-print-directory CLANG="$clang_bin" "${targets[@]/#/tests/fuzz/}"
# Run copies: a concurrent `make clean` (e.g. `make sanitize`) must not pull them away.
mkdir -p "$tmp/bin"
for t in "${targets[@]}"; do
	cp "$root/tests/fuzz/$t" "$tmp/bin/$t"
done

# ---- run ---------------------------------------------------------------------

summaries=()
status=0

# The last value libFuzzer printed for "key: N" on a status line.
last_field() {
	grep -E '^#[0-9]+' "$2" | grep -oE "$1: [0-9]+" | tail -n 1 | grep -oE '[0-9]+$' || true
}

for t in "${targets[@]}"; do
	seeds="$here/corpus/${t#fuzz_}"
	work="$tmp/$t"
	mkdir -p "$work/corpus" "$work/artifacts"
	if [[ -d $seeds ]]; then
		find "$seeds" -maxdepth 1 -type f -exec cp {} "$work/corpus/" \;
	fi
	nseeds=$(find "$work/corpus" -type f | wc -l)
	echo "fuzz: $t for ${seconds}s over $nseeds seed(s)"

	result=ok
	rc=0
	(cd "$work" && "$tmp/bin/$t" -max_total_time="$seconds" -max_len=2048 -timeout=25 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1) || rc=$?

	# runtime errors UBSan reported without stopping (halt_on_error=0)
	ub=$(grep -E 'runtime error:' "$work/log" | sort -u || true)
	if [[ -n $ub ]]; then
		result=FAILED
		status=1
		echo "fuzz: $t: undefined behaviour reported:" >&2
		printf '%s\n' "$ub" | sed 's/^/  | /' >&2
	fi

	artifacts=()
	while IFS= read -r -d '' f; do
		artifacts+=("$f")
	done < <(find "$work/artifacts" -type f -print0)
	if [[ $rc -ne 0 || ${#artifacts[@]} -gt 0 ]]; then
		result=FAILED
		status=1
		echo "fuzz: $t FAILED (exit status $rc); the end of its log:" >&2
		grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$work/log" | tail -n 60 | sed 's/^/  | /' >&2
		for f in "${artifacts[@]}"; do
			name=$(basename "$f")
			echo "fuzz: $t: crash input $f" >&2
			echo "fuzz: $t: input (hex): $(od -An -tx1 -v "$f" | tr -s ' \n' ' ' | cut -c1-600)" >&2
			mkdir -p "$seeds"
			for seed in "$seeds"/*; do
				if [[ -f $seed ]] && cmp -s "$f" "$seed"; then
					name=$(basename "$seed")
					break
				fi
			done
			if [[ -e $seeds/$name ]]; then
				echo "fuzz: $t: already a regression seed: tests/fuzz/corpus/${t#fuzz_}/$name" >&2
			else
				cp "$f" "$seeds/$name"
				echo "fuzz: $t: kept as regression seed tests/fuzz/corpus/${t#fuzz_}/$name" >&2
			fi
			echo "fuzz: $t: reproduce with: make tests/fuzz/$t && tests/fuzz/$t tests/fuzz/corpus/${t#fuzz_}/$name" >&2
		done
		if [[ ${#artifacts[@]} -eq 0 ]]; then
			echo "fuzz: $t: exited with status $rc but wrote no crash input" >&2
		fi
	fi

	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
	[[ -n $execs ]] || execs=$(grep -oE '^#[0-9]+' "$work/log" | tail -n 1 | tr -d '#' || true)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
	cov=$(last_field cov "$work/log")
	ft=$(last_field ft "$work/log")
	corp=$(grep -E '^#[0-9]+' "$work/log" | grep -oE 'corp: [0-9]+' | tail -n 1 | grep -oE '[0-9]+$' || true)
	summaries+=("$(printf '%-14s %s executions (budget %ss, %s/s), coverage %s edges, %s features, corpus %s, result: %s' \
		"$t" "${execs:-?}" "$seconds" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")")
done

echo "fuzz: summary"
printf '  %s\n' "${summaries[@]}"
exit "$status"
