#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The man pages and the bash completion (issue 17): every long option that
# a program's --help (and each subcommand's) lists is in its man page, the
# committed pages are what their scdoc sources give and render without
# warnings, and the completion offers subcommands, options, netns names and
# socket paths.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

DOCS=$ZE_ROOT/docs

# long_opts TEXT: the long options (--name, without =VALUE) TEXT mentions
long_opts() { grep -o -- '--[a-z][a-z0-9-]*[a-z0-9]' <<<"$1" | sort -u; }

# page_text PAGE: the committed troff page, as words (\- and \fB...\fR undone)
page_text() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$1"; }

# every long option of --help is in the page (one test per help text)
check_help_in_page() {
	local what=$1 help=$2 page=$3 text missing=() o
	text=$(page_text "$page")
	while IFS= read -r o; do
		[[ -n $o ]] || continue
		grep -qe "$o\\b" <<<"$text" || missing+=("$o")
	done < <(long_opts "$help")
	if ((${#missing[@]} == 0)); then
		ok "docs: every option of '$what --help' is in ${page##*/}"
	else
		not_ok "docs: every option of '$what --help' is in ${page##*/}"
		diag "missing from ${page##*/}: ${missing[*]}" \
			"add them to docs/${page##*/}.scd, then run: make man"
	fi
}

check_help_in_page ztunnel-emulator "$("$ZT" --help)" "$DOCS/ztunnel-emulator.8"
check_help_in_page cni-emulator "$("$CNI" --help)" "$DOCS/cni-emulator.1"
for verb in add del keep sync inspect agent enroll unenroll; do
	check_help_in_page "cni-emulator $verb" "$("$CNI" "$verb" --help)" "$DOCS/cni-emulator.1"
done

# the check itself catches a missing option (it cannot pass vacuously)
fake=$(printf '%s\n' "      --no-such-documented-option  nothing")
if grep -qe "--no-such-documented-option" <(page_text "$DOCS/cni-emulator.1") ||
	[[ -z $(long_opts "$fake") ]]; then
	not_ok "docs: the option check sees an undocumented option"
else
	ok "docs: the option check sees an undocumented option"
fi

for page in cni-emulator.1 ztunnel-emulator.8; do
	missing=()
	for sect in NAME SYNOPSIS DESCRIPTION OPTIONS ENVIRONMENT FILES 'EXIT STATUS' EXAMPLES; do
		grep -q "^\.SH $sect\$" "$DOCS/$page" || missing+=("$sect")
	done
	is "${missing[*]}" "" "docs: $page has NAME, SYNOPSIS, ..., ENVIRONMENT, FILES, EXIT STATUS, EXAMPLES"
	if command -v scdoc >/dev/null; then
		# the committed page is its source's output (but for the .TH line's
		# date and the comment naming scdoc's version)
		is "$(scdoc <"$DOCS/$page.scd" | grep -v '^\.TH\|^\.\\"')" \
			"$(grep -v '^\.TH\|^\.\\"' "$DOCS/$page")" \
			"docs: $page is up to date with $page.scd (make man)"
	else
		echo "# scdoc is not installed: $page's freshness left out (make deps DOC=1)"
	fi
	if command -v man >/dev/null; then
		warnings=$(MANWIDTH=80 man --warnings -l "$DOCS/$page" 2>&1 >/dev/null)
		is "$warnings" "" "docs: man --warnings -l $page renders without warnings"
	else
		echo "# man is not installed: rendering $page left out"
	fi
done

missing=()
# read once: grep -q in a pipe would stop sed early (SIGPIPE under pipefail)
commands=$(sed -n '/^\.SH COMMANDS/,/^\.SH OPTIONS/p' "$DOCS/cni-emulator.1")
for verb in add del keep sync inspect agent enroll unenroll; do
	# each subcommand has its own entry under COMMANDS
	grep -q "^\\\\fB$verb\\\\fR" <<<"$commands" || missing+=("$verb")
done
is "${missing[*]}" "" "docs: cni-emulator.1 has an entry for every subcommand under COMMANDS"

# ---- bash completion ------------------------------------------------------

mk_netns comp
comp_ns=$NS
mkfifo "$T_DIR/fifo"
touch "$T_DIR/plain" "$T_DIR/named.sock"
spawn socat -u UNIX-LISTEN:"$T_DIR/live2" /dev/null
wait_for 5 test -S "$T_DIR/live2" || true

# complete WORD...: what the completion offers for the last WORD
complete_words() {
	(cd "$T_DIR/empty" && bash -c '
		. "$0/completions/cni-emulator"; . "$0/completions/ztunnel-emulator"
		shift 0
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
		f=_${1//-/_}; "$f" 2>/dev/null
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' "$ZE_ROOT" "$@")
}
mkdir "$T_DIR/empty"

got=$(complete_words cni-emulator "")
is "$got" "add agent del enroll inspect keep sync unenroll " "completion: cni-emulator offers its subcommands"
got=$(complete_words cni-emulator "$T_DIR/")
like "$got" "$T_DIR/live2" "completion: a socket file is offered as SOCKET"
like "$got" "$T_DIR/named.sock" "completion: a *.sock path is offered as SOCKET"
unlike "$got" "$T_DIR/plain" "completion: a plain file is not offered as SOCKET"
got=$(complete_words cni-emulator "$T_DIR/live2" "$T_PREFIX")
like "$got" "$comp_ns" "completion: NETNS offers the names under /run/netns"
got=$(complete_words cni-emulator del --netns "$T_PREFIX")
like "$got" "$comp_ns" "completion: del --netns offers netns names"
got=$(complete_words cni-emulator inspect --j)
is "$got" "--json " "completion: inspect's options"
got=$(complete_words cni-emulator sync --a)
like "$got" "--all" "completion: sync --all"
got=$(complete_words cni-emulator --redirect=)
is "$got" "redirect tproxy " "completion: --redirect= offers the variants"
got=$(complete_words ztunnel-emulator --profile "")
is "$got" "ambient walkthru " "completion: ztunnel-emulator --profile offers the profiles"
got=$(complete_words ztunnel-emulator "$T_DIR/")
like "$got" "$T_DIR/named.sock" "completion: ztunnel-emulator SOCKET offers *.sock paths"
# every long option of the daemon's --help is offered
missing=()
offered=$(complete_words ztunnel-emulator --)
while IFS= read -r o; do
	[[ " $offered" == *" $o "* ]] || missing+=("$o")
done < <(long_opts "$("$ZT" --help)")
is "${missing[*]}" "" "completion: every option of ztunnel-emulator --help is offered"
missing=()
for verb in add del keep sync inspect; do
	offered=$(complete_words cni-emulator "$verb" --)
	while IFS= read -r o; do
		[[ " $offered" == *" $o "* || " $offered" == *" $o= "* ]] || missing+=("$verb $o")
	done < <(long_opts "$("$CNI" --help | awk -v v="$verb" '/^Options:/ { on = 1 } on && (index($0, v":") || index($0, v",") || /--(timeout|help|version) /)')")
done
is "${missing[*]}" "" "completion: each subcommand offers its options of cni-emulator --help"
# the node agent's verbs have their own --help
missing=()
for verb in agent enroll unenroll; do
	offered=$(complete_words cni-emulator "$verb" --)
	while IFS= read -r o; do
		[[ " $offered" == *" $o "* || " $offered" == *" $o= "* ]] || missing+=("$verb $o")
	done < <(long_opts "$("$CNI" "$verb" --help | sed -n '/^Options:/,$p')")
done
is "${missing[*]}" "" "completion: agent, enroll and unenroll offer every option of their --help"
got=$(complete_words cni-emulator enroll "$T_PREFIX")
like "$got" "$comp_ns" "completion: enroll's NETNS offers the names under /run/netns"

done_testing
