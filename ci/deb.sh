#!/usr/bin/env bash
# `make deb`: the patched kernel as a distribution would ship it. Debian's
# own configuration for the kernel confidential-computing guests run
# (config.amd64_none_cloud-amd64 from linux-config-6.12) plus RDMA_RXE=m,
# built as Debian packages (bindeb-pkg) with RDMA as modules; then a guest
# boots the packaged kernel (unpacked, with a small initramfs loading its
# modules) and runs env, smoke, mr and pyverbs in direct and swiotlb, held
# to tests/expect/deb-CONFIG.
#
#   ci/deb.sh [--test-aids] [--debug-info] [--no-boot]
#
# --test-aids   also enable the series' test aids (RDMA_RXE_DMA_TEST,
#               INFINIBAND_UMEM_TEST), which Debian's DEBUG_KERNEL=y allows;
#               without them the test-mode cases skip with their reason
# --debug-info  keep Debian's DEBUG_INFO=y and build the -dbg package too
#               (the compiled code is the same; the build takes far longer)
# --no-boot     build the packages only
#
# Besides RDMA_RXE (and the test aids), the build differs from Debian's in
# what a build outside Debian's infrastructure must change and the QEMU
# harness needs, nothing in the code paths under test: module signing
# with a throwaway key instead of Debian's, no trusted-keys file, the 9p
# filesystem as modules for the guest's root, and (unless --debug-info) no
# debug information, which changes no generated code but adds the -dbg
# package and most of the build time.
. "$(dirname "$0")/lib.sh"

aids=0 boot=1 dbg=0
while [ $# -gt 0 ]; do
	case "$1" in
	--test-aids) aids=1; shift ;;
	--no-boot) boot=0; shift ;;
	--debug-info) dbg=1; shift ;;
	-h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done

need_cmd dpkg-deb apt-get xz make gcc ccache
[ -d "$KSRC/.git" ] || die "no kernel tree; run 'make sources' first"
DEB=$BUILD/deb
cloud=$(debian_cloud_config)

# Objects inside the tree (kbuild then names sources relative to them, and
# ccache hits across trees), apart from every other variant's.
out=$KSRC/kbuild-deb
excl=$(git -C "$KSRC" rev-parse --git-common-dir)/info/exclude
grep -qx "/kbuild-deb/" "$excl" 2>/dev/null || echo "/kbuild-deb/" >>"$excl"
mkdir -p "$out"
frag=$DEB/deb.config
{
	echo "CONFIG_RDMA_RXE=m"
	echo "CONFIG_SYSTEM_TRUSTED_KEYS=\"\""
	echo "CONFIG_MODULE_SIG_KEY=\"certs/signing_key.pem\""
	echo "CONFIG_NET_9P=m"
	echo "CONFIG_NET_9P_VIRTIO=m"
	echo "CONFIG_9P_FS=m"
	[ $dbg -eq 1 ] || echo "CONFIG_DEBUG_INFO_NONE=y"
	if [ $aids -eq 1 ]; then
		echo "CONFIG_RDMA_RXE_DMA_TEST=y"
		echo "CONFIG_INFINIBAND_UMEM_TEST=y"
	fi
} >"$frag"
want=$( { xz -dc "$cloud"; cat "$frag"; } | sha256sum | cut -d' ' -f1)

kbuild_lock
export CCACHE_NOHASHDIR=1 KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026'
export KBUILD_BUILD_USER=rdma-dma KBUILD_BUILD_HOST=ci
MK=(make -s -C "$KSRC" O="$out" CC="ccache gcc" HOSTCC="ccache gcc" -j"$(nproc)")
if [ "$(cat "$out/.config-deb" 2>/dev/null)" != "$want" ]; then
	log "configuring from Debian's cloud-amd64 configuration plus $(wc -l <"$frag") lines ($frag)"
	xz -dc "$cloud" >"$out/.config"
	(cd "$out" && "$KSRC/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$frag" >"$out/merge_config.log") ||
		die "merge_config.sh failed; see $out/merge_config.log"
	"${MK[@]}" olddefconfig >/dev/null
	while IFS= read -r l; do
		grep -qxF "$l" "$out/.config" || die "$l did not survive olddefconfig (a dependency Debian's config lacks?)"
	done <"$frag"
	echo "$want" >"$out/.config-deb"
fi
log "building Debian packages (bindeb-pkg) in $out; a cold build of Debian's ~1100 modules takes long, see README"
t0=$(date +%s)
rm -f "$KSRC"/*.deb "$KSRC"/*.buildinfo "$KSRC"/*.changes
with_progress "bindeb-pkg" "$out" "$out/build.log" "${MK[@]}" bindeb-pkg || die "bindeb-pkg failed; log: $out/build.log"
rm -f "$DEB"/*.deb
mv "$KSRC"/*.deb "$DEB"/ 2>/dev/null || mv "$out"/../*.deb "$DEB"/ 2>/dev/null ||
	die "bindeb-pkg left no .deb where expected"
rm -f "$KSRC"/*.buildinfo "$KSRC"/*.changes
log "packages in $DEB after $(($(date +%s) - t0))s: $(cd "$DEB" && ls -- *.deb | tr '\n' ' ')"
[ $boot -eq 1 ] || exit 0

# Unpack the image package and give it an initramfs that loads what the
# guest needs (the same builder as Debian 12's own kernel).
img=$(ls "$DEB"/linux-image-*.deb | grep -v -- -dbg_ | head -1)
[ -n "$img" ] || die "no linux-image package in $DEB"
"$TOP/ci/initramfs.sh" "$img" "$DEB/boot" || die "cannot make a bootable kernel of $img"
rc=0
"$TOP/tests/vm/matrix.sh" --configs direct,swiotlb --suites env,smoke,mr,pyverbs --tag deb \
	--expect "deb$([ $aids -eq 1 ] && echo -aids)" --kernel "$DEB/boot/vmlinuz" \
	--initrd "$DEB/boot/initrd.img" || rc=$?
exit $rc
