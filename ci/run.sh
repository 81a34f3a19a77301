#!/usr/bin/env bash
# The main job: install what is missing, build, boot soft-RoCE in QEMU and
# show it working (smoke suite) in the direct configuration, then show what
# happens to user memory registration under swiotlb=force.
. "$(dirname "$0")/lib.sh"

step "dependencies" "$TOP/ci/deps.sh"
step "kernel source" "$TOP/ci/kernel-source.sh"
step "rdma-core source" "$TOP/ci/rdma-core-source.sh"
step "kernel build" "$TOP/ci/kernel-build.sh"
step "rdma-core build" "$TOP/ci/rdma-core-build.sh"
step "test programs" make -s -C "$TOP/tests" RDMA_CORE_BUILD="$RDMA_SRC/build"
step "soft-RoCE in QEMU (direct, swiotlb)" "$TOP/tests/vm/matrix.sh" \
	--configs direct,swiotlb --suites "${SUITES:-smoke,mr}" --tag run
