#!/usr/bin/env bash
# Prepare build/linux: a git tree of the pristine linux-source-6.12 tarball
# (tagged 'pristine') with kernel/series applied on top by git am.
#
# The tree is where patches are edited; 'ci/series.sh export kernel' turns its commits
# back into kernel/*.patch. Re-running this script after kernel/ changed
# re-applies the series, but refuses to throw away commits or edits in the
# tree that were never exported.
. "$(dirname "$0")/lib.sh"

TARBALL=/usr/src/linux-source-$KVER_WANT.tar.xz

[ -r "$TARBALL" ] || die "$TARBALL missing: install linux-source-$KVER_WANT (make deps)"
need_cmd git tar xz

if [ ! -d "$KSRC/.git" ]; then
	log "unpacking $TARBALL into $KSRC"
	rm -rf "$KSRC.tmp"
	mkdir -p "$KSRC.tmp"
	tar -C "$KSRC.tmp" --strip-components=1 -xf "$TARBALL"
	v=$(make -s -C "$KSRC.tmp" kernelversion)
	case "$v" in
	"$KVER_WANT".*) log "kernel version $v" ;;
	*) die "$TARBALL holds kernel $v, expected $KVER_WANT.x" ;;
	esac
	git -C "$KSRC.tmp" init -q
	git -C "$KSRC.tmp" config core.autocrlf false
	git -C "$KSRC.tmp" add -A -f .
	git -C "$KSRC.tmp" -c user.name=rdma-dma-ci -c user.email=ci@localhost \
		commit -q -m "linux-source-$v (Debian linux-source-$KVER_WANT, pristine)"
	git -C "$KSRC.tmp" tag pristine
	mv "$KSRC.tmp" "$KSRC"
fi

exec "$TOP/ci/series.sh" apply kernel
