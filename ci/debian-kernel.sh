#!/usr/bin/env bash
# Debian 12's own kernel (linux-image-amd64, as apt resolves it today), made
# bootable by tests/vm/run-vm.sh: the guest that runs tests/ the way distro
# CI would on a stock Debian 12 machine.
#
#   ci/debian-kernel.sh   -> build/debian-kernel/{vmlinuz,initrd.img,release}
#
# Debian builds virtio, 9p and RDMA as modules, so ci/initramfs.sh gives it
# an initramfs that loads them. Nothing is installed: the package is
# downloaded and unpacked under build/.
. "$(dirname "$0")/lib.sh"
case ${1:-} in
'') ;;
-h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) die "unknown argument '$1' (try --help)" ;;
esac
need_cmd apt-cache apt-get

out=$BUILD/debian-kernel
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
[ -n "$pkg" ] || die "apt knows no linux-image-amd64 (run apt-get update, or check the machine's apt sources)"
ver=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')
rel=${pkg#linux-image-}
if [ "$(cat "$out/release" 2>/dev/null)" = "$pkg $ver" ] && [ -f "$out/initrd.img" ]; then
	log "Debian kernel $pkg $ver already prepared in $out"
	exit 0
fi
rm -rf "$out" && mkdir -p "$out.dl"
log "downloading $pkg $ver (apt checks it against the signed index)"
(cd "$out.dl" && rm -f ./*.deb && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver") ||
	die "apt-get download $pkg=$ver failed"
"$TOP/ci/initramfs.sh" "$out.dl/${pkg}_"*.deb "$out" || die "cannot make $pkg bootable"
echo "$pkg $ver" >"$out/release"
log "Debian kernel $rel ($ver): $out/vmlinuz, $out/initrd.img"
