#!/usr/bin/env bash
# The full test run: install, fetch, build, then boot every DMA configuration
# and run every suite. Closing line: "N passed, N failed, N skipped".
#
#   ci/check.sh [--configs LIST] [--suites LIST]
. "$(dirname "$0")/lib.sh"
rm -f "$BUILD"/check-*.log

configs=${CONFIGS:-direct,swiotlb,iommu}
suites=${SUITES:-}
while [ $# -gt 0 ]; do
	case "$1" in
	--configs) configs=${2:?--configs needs a list}; shift 2 ;;
	--suites) suites=${2:?--suites needs a list}; shift 2 ;;
	-h | --help) sed -n '2,6p' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done

prepare_all
args=(--configs "$configs" --tag check)
[ -n "$suites" ] && args+=(--suites "$suites")
rc=0
step "tests on the patched kernel ($configs)" "$TOP/tests/vm/matrix.sh" "${args[@]}" |
	tee "$BUILD/check-patched.log" || rc=1

# The same test mode on a kernel without the gate must show the corruption.
if [ -z "$suites" ] || [[ ,$suites, == *,hazard,* ]]; then
	step "kernel build (nogate: rxe test mode without the gate)" "$TOP/ci/kernel-build.sh" --variant nogate
	step "tests on the nogate kernel (swiotlb)" "$TOP/tests/vm/matrix.sh" --configs swiotlb \
		--suites hazard,mr --tag nogate --kernel "$BUILD/kbuild-nogate/arch/x86/boot/bzImage" |
		tee "$BUILD/check-nogate.log" || rc=1
fi

# Debian's own userspace (no rdma-core-patches) on the patched kernel: it
# must keep working where DMA is coherent and simply see EOPNOTSUPP where
# registration is refused.
if [ -z "$suites" ]; then
	step "tests with Debian's userspace (swiotlb)" "$TOP/tests/vm/matrix.sh" --configs swiotlb \
		--suites smoke,mr --tag debian-userspace --no-rdma-core |
		tee "$BUILD/check-debian-userspace.log" || rc=1
fi

# One closing line over all runs.
cat "$BUILD"/check-*.log 2>/dev/null | awk '
	/^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$/ {p+=$1; f+=$3; s+=$5}
	END {printf "%d passed, %d failed, %d skipped\n", p, f, s}'
exit $rc
