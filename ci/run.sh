#!/usr/bin/env bash
# The main job: install what is missing, build, boot soft-RoCE in QEMU and
# show it working (smoke suite) in the direct configuration, then show what
# happens to user memory registration under swiotlb=force.
. "$(dirname "$0")/lib.sh"

prepare_all
step "soft-RoCE in QEMU (direct, swiotlb)" "$TOP/tests/vm/matrix.sh" \
	--configs direct,swiotlb --suites "${SUITES:-smoke,mr}" --tag run --expect patched
