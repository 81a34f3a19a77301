#!/usr/bin/env bash
# The full test run: install, fetch, build, then boot every DMA configuration
# and run every suite. Closing line: "N passed, N failed, N skipped".
#
#   ci/check.sh [--configs LIST] [--suites LIST]
. "$(dirname "$0")/lib.sh"

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

step "dependencies" "$TOP/ci/deps.sh"
step "kernel source" "$TOP/ci/kernel-source.sh"
step "rdma-core source" "$TOP/ci/rdma-core-source.sh"
step "kernel build" "$TOP/ci/kernel-build.sh"
step "rdma-core build" "$TOP/ci/rdma-core-build.sh"
step "test programs" make -s -C "$TOP/tests" RDMA_CORE_BUILD="$RDMA_SRC/build"
args=(--configs "$configs" --tag check)
[ -n "$suites" ] && args+=(--suites "$suites")
step "tests ($configs)" "$TOP/tests/vm/matrix.sh" "${args[@]}"
