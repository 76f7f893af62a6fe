#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# deps.sh - install the lab's build and run-time dependencies that are missing
# (Debian/Ubuntu, via apt-get). Silent and fast when everything is present: it
# runs before every `make demo` and `make check`.
set -euo pipefail

PROG=${0##*/}

PACKAGES=(
	gcc clang libc6-dev make pkg-config libcap-dev libmnl-dev libmicrohttpd-dev libjansson-dev
	iproute2 iptables netcat-openbsd libcap2-bin protobuf-compiler procps util-linux shellcheck jq curl
	socat conntrack libyaml-dev libldns-dev nftables dnsutils python3
	libssl-dev libnghttp2-dev python3-h2 openssl python3-prometheus-client
)
# Only to regenerate the man pages (make man) from docs/*.scd, and for man(1)
# to check how they render: the pages are committed, so building, testing and
# installing never need these.
DOC_PACKAGES=(scdoc man-db)

usage() {
	cat <<EOF
Usage: $PROG [--doc] [-h|--help]

Installs the packages the lab needs that are not installed yet:
$(printf '%s\n' "${PACKAGES[*]}" | fold -s -w 76 | sed 's/^/  /')
With --doc also what 'make man' needs: ${DOC_PACKAGES[*]}.

On Debian/Ubuntu each package is checked with dpkg-query. If all are installed
it prints nothing and exits 0. Otherwise, as root, it runs 'apt-get update' and
'apt-get install -y --no-install-recommends' for the missing ones (no prompts,
no stdin needed); as another user it lists them and exits 1 (run
'sudo make deps').

Without dpkg/apt-get it checks the commands and pkg-config modules instead
(cc, make, pkg-config, libcap, libmnl, ip, ss, nc), lists what is missing and
exits 1 if anything is: install those with your distribution's package manager.

Exit status: 0 when everything is (now) installed, 1 otherwise, 2 on a usage
error.
EOF
}

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}

case ${1-} in
-h | --help)
	usage
	exit 0
	;;
--doc) PACKAGES+=("${DOC_PACKAGES[@]}") ;;
'') ;;
*)
	printf '%s: unknown argument: %s (try --help)\n' "$PROG" "$1" >&2
	exit 2
	;;
esac

# Not Debian: check for the tools themselves.
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	missing=()
	cmds=(cc make pkg-config ip ss nc)
	[[ " ${PACKAGES[*]} " != *" scdoc "* ]] || cmds+=(scdoc)
	for cmd in "${cmds[@]}"; do
		command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
	done
	if command -v pkg-config >/dev/null 2>&1; then
		for mod in libcap libmnl jansson yaml-0.1 openssl libnghttp2; do
			pkg-config --exists "$mod" || missing+=("pkg-config module $mod")
		done
	fi
	if ((${#missing[@]} == 0)); then
		exit 0
	fi
	list=${missing[0]}
	for m in "${missing[@]:1}"; do list+=", $m"; done
	printf '%s: no dpkg/apt-get here; missing: %s\n' "$PROG" "$list" >&2
	printf '%s: install them with your package manager (headers for libcap, libmnl and jansson too)\n' "$PROG" >&2
	exit 1
fi

# Debian/Ubuntu: one dpkg-query for all packages. Unknown packages are simply
# absent from its output (it complains on stderr and exits 1; both ignored).
declare -A installed=()
while IFS=$'\t' read -r pkg status; do
	[[ $status == 'install ok installed' ]] && installed[$pkg]=1
done < <(dpkg-query -W -f='${Package}\t${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)

missing=()
for pkg in "${PACKAGES[@]}"; do
	[[ -n ${installed[$pkg]-} ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

if ((EUID != 0)); then
	printf '%s: missing packages: %s\n' "$PROG" "${missing[*]}" >&2
	printf "%s: run 'sudo make deps' to install them\n" "$PROG" >&2
	exit 1
fi

printf '%s: installing: %s\n' "$PROG" "${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -q update </dev/null || die "'apt-get update' failed"
apt-get -q install -y --no-install-recommends "${missing[@]}" </dev/null ||
	die "'apt-get install ${missing[*]}' failed"
printf '%s: installed: %s\n' "$PROG" "${missing[*]}"
