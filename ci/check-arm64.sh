#!/usr/bin/env bash
# The arm64 guests (make check-arm64): non-coherent DMA proven end to end on
# QEMU -machine virt under TCG, with the coherent control, an SMMUv3, and
# the nogate kernel. Closing line: "N passed, N failed, N skipped".
#
#   ci/check-arm64.sh [--guests LIST] [--suites LIST] [--prepare | --matrix-args]
#
# Builds (each step idempotent): the patched and nogate kernels for arm64
# (ci/kernel-build.sh --arch arm64; the patched one's changed C files again
# with W=1, a warning failing it), the Debian 12 arm64 root filesystem
# (ci/arm64-root.sh), rdma-core with rdma-core-patches/ and the test
# programs cross-compiled against it. Then boots, one at a time:
#
#   noncoherent   patched kernel, PCI devices without dma-coherent (the proof
#                 is env/002): every user-memory verb refused, KUnit
#                 rc_noncoherent, the hints
#   direct        patched kernel, the same machine with dma-coherent: the
#                 coherent control, registration and RC data work
#   iommu         patched kernel behind an SMMUv3: KUnit's IOMMU cases
#                 (rc_iommu_untrusted among them) and registration
#   nogate        the rxe test mode without the gate, non-coherent: the
#                 mapping goes through CPU cache maintenance, not refused
#
# --guests LIST picks some of them (default: all); --suites LIST replaces
# each guest's suites. A guest whose last run passed with byte-identical
# inputs is not booted again (FRESH=1 boots it). --prepare only builds what
# the chosen guests need and boots nothing (make check does that niced,
# beside its x86 guests, then boots the noncoherent guest itself);
# --matrix-args prints, one guest per line, the tests/vm/matrix.sh
# arguments that boot it, and does nothing else.
. "$(dirname "$0")/lib.sh"

guests=noncoherent,direct,iommu,nogate suites= prepare=0 print=0
while [ $# -gt 0 ]; do
	case "$1" in
	--guests) guests=${2:?--guests needs a list}; shift 2 ;;
	--suites) suites=${2:?--suites needs a list}; shift 2 ;;
	--prepare) prepare=1; shift ;;
	--matrix-args) print=1; shift ;;
	-h | --help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done
reuse=() && fresh_reuse

# NAME CONFIG KERNEL-VARIANT SUITES: the guests, in this order.
all=(
	"noncoherent noncoherent patched env,smoke,kunit,mr,hazard"
	"direct direct patched env,smoke,kunit,mr"
	"iommu iommu patched env,kunit,mr"
	"nogate noncoherent nogate env,hazard,mr"
)
runs=() want_nogate=0
IFS=, read -ra gs <<<"$guests"
for g in "${gs[@]}"; do
	found=
	for r in "${all[@]}"; do
		# shellcheck disable=SC2086
		set -- $r
		[ "$1" = "$g" ] || continue
		found=1
		runs+=("$r")
		[ "$3" = nogate ] && want_nogate=1
	done
	[ -n "$found" ] || die "unknown arm64 guest '$g' (noncoherent, direct, iommu or nogate)"
done

# matrix_args NAME CONFIG KERNEL-VARIANT SUITES: what tests/vm/matrix.sh
# boots that guest with (make check boots the noncoherent one the same way).
matrix_args() {
	local config=$2 variant=$3 ss=${suites:-$4} kernel kind
	case $variant in
	patched) kernel=$BUILD/kbuild-arm64/arch/arm64/boot/Image kind=arm64 ;;
	nogate) kernel=$BUILD/kbuild-nogate-arm64/arch/arm64/boot/Image kind=arm64-nogate ;;
	esac
	echo --arch arm64 --configs "$config" --tag "$kind" --expect "$kind" --suites "$ss" --kernel "$kernel"
}
if [ $print -eq 1 ]; then
	for r in "${runs[@]}"; do
		# shellcheck disable=SC2086
		matrix_args $r
	done
	exit 0
fi

step "dependencies" "$TOP/ci/deps.sh"
step "kernel source" "$TOP/ci/kernel-source.sh"
step "rdma-core source" "$TOP/ci/rdma-core-source.sh"
step "kernel build (arm64)" "$TOP/ci/kernel-build.sh" --arch arm64 --w1
[ $want_nogate -eq 0 ] || step "kernel build (nogate, arm64)" "$TOP/ci/kernel-build.sh" --variant nogate --arch arm64
step "arm64 root filesystem" "$TOP/ci/arm64-root.sh"
step "rdma-core build (arm64)" "$TOP/ci/rdma-core-build.sh" --arch arm64
step "test programs (arm64)" make -s -C "$TOP/tests" CC="aarch64-linux-gnu-gcc --sysroot=$BUILD/arm64-root" \
	OUTPUT="$BUILD/tests-arm64" RDMA_CORE_BUILD="$RDMA_SRC/build-arm64"
[ $prepare -eq 0 ] || exit 0
rm -f "$BUILD"/check-arm64-*.log

run_guest() {
	local name=$1 rc=0 args
	read -ra args < <(matrix_args "$@")
	"$TOP/tests/vm/matrix.sh" "${args[@]}" "${reuse[@]}" 2>&1 |
		tee "$BUILD/check-arm64-$name.log" | sed -u "s/^/[arm64-$name] /" || rc=$?
	return $rc
}

rc=0
for r in "${runs[@]}"; do
	# shellcheck disable=SC2086
	set -- $r
	step "arm64 guest $1 ($2, $3 kernel)" run_guest "$@" || rc=1
done

if [ $rc -ne 0 ]; then
	echo "== what failed (whole logs: $BUILD/check-arm64-NAME.log, serial logs under $BUILD/vm/)"
	grep -HE '^(# [a-z]+: not ok |# config [a-z]+: (runner exited|no test ran)|# configurations that did not finish)' \
		"$BUILD"/check-arm64-*.log 2>/dev/null | sed -E 's|^.*/check-arm64-([^:]*)\.log:|FAILED [arm64-\1] |'
fi
cat "$BUILD"/check-arm64-*.log 2>/dev/null | awk '
	/^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$/ {p+=$1; f+=$3; s+=$5}
	END {printf "%d passed, %d failed, %d skipped\n", p, f, s}'
exit $rc
