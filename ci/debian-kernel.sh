#!/usr/bin/env bash
# Debian 12's own kernel (linux-image-amd64, as apt resolves it today), made
# bootable by tests/vm/run-vm.sh: the guest that runs tests/ the way distro
# CI would on a stock Debian 12 machine.
#
#   ci/debian-kernel.sh   -> build/debian-kernel/{vmlinuz,initrd.img,release}
#
# Debian builds virtio, 9p and RDMA as modules, so an initramfs (busybox and
# the modules, nothing else) loads them, mounts the host root over 9p and
# hands over to the init= of the command line (tests/vm/guest-init.sh).
# Nothing is installed: the package is downloaded and unpacked under build/.
. "$(dirname "$0")/lib.sh"
case ${1:-} in
'') ;;
-h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) die "unknown argument '$1' (try --help)" ;;
esac
need_cmd apt-cache apt-get dpkg-deb depmod modprobe cpio gzip busybox

out=$BUILD/debian-kernel
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
[ -n "$pkg" ] || die "apt knows no linux-image-amd64 (run apt-get update, or check the machine's apt sources)"
ver=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')
rel=${pkg#linux-image-}
if [ "$(cat "$out/release" 2>/dev/null)" = "$pkg $ver" ] && [ -f "$out/initrd.img" ]; then
	log "Debian kernel $pkg $ver already prepared in $out"
	exit 0
fi
rm -rf "$out" && mkdir -p "$out/dl"
log "downloading $pkg $ver (apt checks it against the signed index)"
(cd "$out/dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver") ||
	die "apt-get download $pkg=$ver failed"
dpkg-deb -x "$out"/dl/*.deb "$out/root" || die "cannot unpack $out/dl/*.deb"
cp "$out/root/boot/vmlinuz-$rel" "$out/vmlinuz" || die "no vmlinuz-$rel in $pkg"
# The package ships no modules.dep (its postinst runs depmod).
depmod -b "$out/root" "$rel" || die "depmod failed for $rel"

# What the guest needs before its root exists, and what the tests need
# without a modprobe (the host root has no /lib/modules/$rel): the PCI and
# 9p transport, the NICs, soft-RoCE (and the crc32 its ICRC is computed
# with) with user verbs and the RDMA CM, veth.
ird=$out/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,modules}
cp "$(command -v busybox)" "$ird/bin/busybox"
: >"$ird/modules.list"
for m in virtio_pci virtio_net 9pnet_virtio 9p crc32_generic rdma_rxe ib_uverbs rdma_ucm veth; do
	modprobe -d "$out/root" -S "$rel" --show-depends "$m" ||
		die "module $m missing from $pkg"
done | awk '$1 == "insmod" && !seen[$2]++ {print $2}' | while read -r ko; do
	cp "$ko" "$ird/modules/" && echo "/modules/${ko##*/}" >>"$ird/modules.list"
done
cat >"$ird/init" <<'INIT'
#!/bin/busybox sh
# Early userspace for Debian's kernel (written by ci/debian-kernel.sh).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "$m" || echo "initrd: insmod $m failed"; done </modules.list
init=/sbin/init flags=trans=virtio,version=9p2000.L
for a in $(cat /proc/cmdline); do
	case $a in init=*) init=${a#init=} ;; rootflags=*) flags=${a#rootflags=} ;; esac
done
mount -t 9p -o "$flags,ro" /dev/root /newroot ||
	{ echo "initrd: cannot mount the 9p root"; poweroff -f; }
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot "$init"
INIT
chmod +x "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.img" || die "cannot pack the initramfs"
echo "$pkg $ver" >"$out/release"
log "Debian kernel $rel ($ver): $out/vmlinuz, $out/initrd.img ($(wc -l <"$ird/modules.list") modules)"
