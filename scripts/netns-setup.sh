#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# netns-setup.sh - create the lab's "pod" network namespaces (idempotent) and
# record the ones it created, so that cleanup.sh removes exactly those.
set -euo pipefail

PROG=${0##*/}
# die, usage_error:
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/lib.sh"
STATE=${ZE_LAB_STATE:-/run/ztunnel-emulator-lab}
NETNS_DIR=/var/run/netns # where `ip netns` keeps its bind mounts

usage() {
	cat <<EOF
Usage: $PROG [-q|--quiet] NAME...

For each NAME: 'ip netns add NAME' unless that network namespace already
exists, then 'ip -n NAME link set lo up'. Safe to run again.

The names it creates are recorded in $STATE/netns
(state dir: \${ZE_LAB_STATE:-/run/ztunnel-emulator-lab}); scripts/cleanup.sh
deletes those and only those. A namespace that already existed is used as it
is and never recorded.

Options:
  -q, --quiet   do not echo the commands run
  -h, --help    show this help and exit

Must be run as root. Exit status: 0 on success, 1 on an error, 2 on a usage
error.
EOF
}

quiet=0
names=()
while (($#)); do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	-q | --quiet) quiet=1 ;;
	--)
		shift
		names+=("$@")
		break
		;;
	-*) usage_error "unknown option: $1" ;;
	*) names+=("$1") ;;
	esac
	shift
done

((${#names[@]})) || usage_error "no netns NAME given"
for name in "${names[@]}"; do
	# The same rules as iproute2: a plain file name under $NETNS_DIR.
	if [[ -z $name || $name == . || $name == .. || $name == */* || ${#name} -gt 255 ]]; then
		usage_error "invalid netns name: '$name'"
	fi
done

((EUID == 0)) || die "must be run as root (try: sudo $0 ${names[*]})"
command -v ip >/dev/null 2>&1 || die "'ip' not found (install iproute2; see scripts/deps.sh)"

# Echo a command as a workshop would type it, then run it.
run() {
	((quiet)) || printf '+ %s\n' "$*"
	"$@"
}

recorded() {
	[[ -f $STATE/netns ]] && grep -Fqx -- "$1" "$STATE/netns"
}

record() {
	mkdir -p -- "$STATE"
	recorded "$1" || printf '%s\n' "$1" >>"$STATE/netns"
}

for name in "${names[@]}"; do
	if [[ -e $NETNS_DIR/$name ]]; then
		if recorded "$name"; then
			((quiet)) || printf '# netns %s exists (created earlier by %s)\n' "$name" "$PROG"
		else
			((quiet)) || printf '# netns %s already exists; using it (not ours: cleanup.sh will leave it)\n' "$name"
		fi
	else
		run ip netns add "$name" || die "could not create netns '$name'"
		record "$name"
	fi
	run ip -n "$name" link set lo up || die "could not bring up lo in netns '$name'"
done
