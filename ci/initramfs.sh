#!/usr/bin/env bash
# Make a packaged kernel bootable by tests/vm/run-vm.sh: unpack a
# linux-image .deb and give it a small initramfs (busybox and modules,
# nothing else) that loads what the guest needs before and after its root
# exists, mounts the 9p root and hands over to the init= of the command
# line. Nothing is installed on the host.
#
#   ci/initramfs.sh IMAGE.deb OUTDIR   -> OUTDIR/{vmlinuz,initrd.img,release}
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || die "usage: ci/initramfs.sh IMAGE.deb OUTDIR"
deb=$1 out=$2
[ -f "$deb" ] || die "$deb: no such package"
need_cmd dpkg-deb depmod modprobe cpio gzip xz busybox

rm -rf "$out" && mkdir -p "$out"
dpkg-deb -x "$deb" "$out/root" || die "cannot unpack $deb"
rel=$(ls "$out/root/lib/modules" 2>/dev/null | head -1)
[ -n "$rel" ] || die "$deb ships no /lib/modules/<release>"
cp "$out/root/boot/vmlinuz-$rel" "$out/vmlinuz" || die "no vmlinuz-$rel in $deb"
# Debian's image packages ship no modules.dep (their postinst runs depmod).
depmod -b "$out/root" "$rel" || die "depmod failed for $rel"

# The PCI and 9p transport, the NICs, soft-RoCE (and the crc32 its ICRC is
# computed with) with user verbs and the RDMA CM, veth, and the KUnit
# suite of the series where the kernel has it.
ird=$out/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,modules}
cp "$(command -v busybox)" "$ird/bin/busybox"
: >"$ird/modules.list"
for m in virtio_pci virtio_net 9pnet_virtio 9p crc32_generic rdma_rxe ib_uverbs rdma_ucm veth; do
	modprobe -d "$out/root" -S "$rel" --show-depends "$m" || die "module $m missing from $deb"
done | awk '$1 == "insmod" && !seen[$2]++ {print $2}' | while read -r ko; do
	# Uncompressed for busybox insmod, which may lack xz or zstd; the
	# signature is appended before compression, so it stays.
	b=${ko##*/}
	case $b in
	*.ko.xz) xz -dc "$ko" >"$ird/modules/${b%.xz}" ;;
	*.ko.zst) zstd -qdc "$ko" >"$ird/modules/${b%.zst}" ;;
	*.ko.gz) gzip -dc "$ko" >"$ird/modules/${b%.gz}" ;;
	*) cp "$ko" "$ird/modules/$b" ;;
	esac || die "cannot copy $ko into the initramfs"
	echo "/modules/${b%.ko*}.ko" >>"$ird/modules.list"
done
cat >"$ird/init" <<'INIT'
#!/bin/busybox sh
# Early userspace for a packaged kernel (written by ci/initramfs.sh).
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
echo "$rel" >"$out/release"
log "bootable: $out/vmlinuz, $out/initrd.img ($(wc -l <"$ird/modules.list") modules for $rel)"
