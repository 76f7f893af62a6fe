#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The tree builds warning-free with clang too (the Makefile's -Werror
# warnings): every program, unit test and helper, built into a private copy
# so the tree under test keeps its gcc objects. Runs in every mode (a plain
# user can build into a temp dir).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

if ! command -v clang >/dev/null 2>&1; then
	not_ok "clang is installed (scripts/deps.sh installs it: make deps)"
	done_testing
	exit
fi
ok "clang is installed"

tree=$T_DIR/tree
mkdir -p "$tree"
# sources and the Makefile only: copied objects or programs would look up to date
(cd "$ZE_ROOT" && find . -path ./.git -prune -o -path ./tests/fuzz -prune -o \
	\( -name '*.[ch]' -o -name Makefile \) -print0 | tar --null -cf - -T -) |
	tar -xf - -C "$tree"
# a clean environment: an outer make (check, sanitize) exports its own flags
log=$T_DIR/clang.log
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CFLAGS -u LDFLAGS \
	make -C "$tree" -j2 --no-print-directory CC=clang all >"$log" 2>&1; then
	ok "make CC=clang all builds"
else
	not_ok "make CC=clang all builds"
	diag "$(grep -E 'error|warning' "$log" | head -20)"
fi
if grep -q 'warning:' "$log"; then
	not_ok "clang gives no warnings"
	diag "$(grep 'warning:' "$log" | head -20)"
else
	ok "clang gives no warnings"
fi
is "$("$tree/ztunnel-emulator/ztunnel-emulator" --version 2>&1 | head -1)" \
	"$("$ZT" --version 2>&1 | head -1)" "the clang-built daemon runs"

done_testing
