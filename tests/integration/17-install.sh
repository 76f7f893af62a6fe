#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make install / make uninstall (issue 17): a staged install (DESTDIR) holds
# the programs, scripts, man pages and completion and uninstall leaves the
# stage empty; a real install into a prefix works from there: its scripts run
# the installed programs (the walk-thru end to end, with its HTTP endpoints
# moved by option) and the daemon's setcap hint names the installed path.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

# mk ARGS...: make in the source tree, quietly (its output only when it
# fails); sets MK_RC
mk() {
	MK_RC=0
	MK_OUT=$(make -s -C "$ZE_ROOT" --no-print-directory "$@" 2>&1) || MK_RC=$?
	((MK_RC == 0)) || diag "make $*:" "$MK_OUT"
}

stage=$T_DIR/stage
mkdir "$stage"
mk install DESTDIR="$stage" PREFIX=/usr
is "$MK_RC" 0 "install: make install DESTDIR=... PREFIX=/usr succeeds"
for f in usr/bin/ztunnel-emulator usr/bin/cni-emulator usr/share/man/man1/cni-emulator.1 \
	usr/share/man/man8/ztunnel-emulator.8 usr/share/bash-completion/completions/cni-emulator \
	usr/share/bash-completion/completions/ztunnel-emulator \
	usr/share/ztunnel-emulator/scripts/walkthru.sh usr/share/ztunnel-emulator/scripts/lib.sh; do
	[[ -e $stage/$f ]] || missing+=("$f")
done
is "${missing[*]-}" "" "install: binaries, scripts, man pages and completion are in place"
like "$(cat "$stage/usr/share/ztunnel-emulator/scripts/lib.sh")" "ZE_INSTALLED_BINDIR=/usr/bin" \
	"install: the scripts' lib.sh records BINDIR (without DESTDIR)"
mk uninstall DESTDIR="$stage" PREFIX=/usr
is "$MK_RC" 0 "uninstall: make uninstall DESTDIR=... succeeds"
is "$(find "$stage" -mindepth 1 | head -n 5)" "" "uninstall: the stage is left empty"
mk install DESTDIR="$stage" BINDIR=/opt/ze/sbin MANDIR=/opt/ze/man
check "install: BINDIR and MANDIR are honoured" \
	test -x "$stage/opt/ze/sbin/ztunnel-emulator" -a -f "$stage/opt/ze/man/man8/ztunnel-emulator.8"
mk uninstall DESTDIR="$stage" BINDIR=/opt/ze/sbin MANDIR=/opt/ze/man
is "$(find "$stage" -mindepth 1 | head -n 5)" "" "uninstall: with BINDIR and MANDIR too"

# A real install into a prefix of our own (no DESTDIR): the scripts there run.
prefix=$T_DIR/prefix
mk install PREFIX="$prefix"
is "$MK_RC" 0 "install: make install PREFIX=$prefix"
lib=$prefix/share/ztunnel-emulator/scripts/lib.sh
got=$(SCRIPTS=${lib%/*} ROOT=${lib%/scripts/*} bash -c '. "$SCRIPTS/lib.sh"; ze_bin ztunnel-emulator; ze_bin cni-emulator')
is "$got" "$prefix/bin/ztunnel-emulator"$'\n'"$prefix/bin/cni-emulator" \
	"install: the installed scripts find the installed programs"
# and, when the recorded BINDIR is gone, the bin/ next to their share/
sed -i 's|^ZE_INSTALLED_BINDIR=.*|ZE_INSTALLED_BINDIR=|' "$lib"
got=$(SCRIPTS=${lib%/*} ROOT=${lib%/scripts/*} bash -c '. "$SCRIPTS/lib.sh"; ze_bin cni-emulator')
is "$got" "$prefix/bin/cni-emulator" "install: without the recorded BINDIR, ../../../bin is used"

export ZE_LAB_STATE=$T_DIR/state
ns="$T_PREFIX-inst"
_netns+=("$ns")
out=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin "$prefix/share/ztunnel-emulator/scripts/walkthru.sh" \
	--netns "$ns" --socket "$T_DIR/inst.sock" --admin-addr 127.0.0.1:0 \
	--ready-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 </dev/null 2>&1) && rc=0 || rc=$?
is "$rc" 0 "install: the installed walkthru.sh runs end to end" || diag "$(tail -n 20 <<<"$out")"
like "$out" "\$ $prefix/bin/cni-emulator $T_DIR/inst.sock" "install: ... with the installed cni-emulator"
like "$out" "$prefix/bin/ztunnel-emulator --admin-addr 127.0.0.1:0 --ready-addr 127.0.0.1:0" \
	"install: ... and the installed daemon, on the HTTP ports asked for"
like "$out" "Installed programs: nothing to build." "install: the installed walk-thru does not run make"

if [[ -z ${ZE_TEST_IN_USERNS:-} ]]; then
	# the daemon's capability hint names the path it runs from
	chmod 755 "$T_DIR" "$prefix" "$prefix/bin"
	err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
		"$prefix/bin/ztunnel-emulator" --admin-addr none --ready-addr none --metrics-addr none \
		"$T_DIR/nobody.sock" 2>&1 </dev/null) && rc=0 || rc=$?
	like "$rc:$err" "1:" "install: the installed daemon run by nobody without capabilities exits 1"
	like "$err" "setcap cap_sys_admin+ep $prefix/bin/ztunnel-emulator'" \
		"install: its setcap hint names the installed path"
else
	echo "# in a user namespace nobody is not mapped: the setcap hint is checked as root"
fi

mk uninstall PREFIX="$prefix"
is "$(find "$prefix" -type f | head -n 5)" "" "uninstall: PREFIX=$prefix holds no file"

done_testing
