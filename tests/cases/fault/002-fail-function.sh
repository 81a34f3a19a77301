# shellcheck shell=bash
DESCRIPTION="reg_mr with fail_function on the pin and map steps: the injected errno exactly, every page unpinned"

FEI=/sys/kernel/debug/fail_function

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr || return 1
	[ -d $FEI ] || skip_because "kernel without CONFIG_FAIL_FUNCTION (or debugfs not mounted)" || return 1
	grep -qw ib_umem_pin_pages $FEI/injectable && grep -qw ib_umem_dma_map $FEI/injectable ||
		skip_because "ib_umem_pin_pages/ib_umem_dma_map not error-injectable (kernel without this project's umem error-injection patch)"
}

# reg_mr arms and disarms fail_function around its one registration; this
# is only the safety net for a test that died in between.
case_cleanup() {
	echo 0 >$FEI/probability 2>/dev/null
	echo >$FEI/inject 2>/dev/null
	return 0
}

# inject DEV FUNC ERRNO NTH SIZE: call NTH of FUNC fails with -ERRNO.
inject() {
	info "$1: call $4 of $2 fails with -$3, $5-byte region"
	RDMA_DEV=$1 RDMA_EXPECT=success RDMA_INJECT=$2:$3:$4 RDMA_INJECT_SIZE=$5 \
		"$(test_bin reg_mr)" -t injected_failure
}

# Each step on one device: the first pin, a later pin with the first chunk
# (512 pages on x86-64) already pinned, and the map after a full pin.
inject_all() {
	local dev=$1 bad=0
	inject "$dev" ib_umem_pin_pages 14 1 65536 || bad=1		# EFAULT
	inject "$dev" ib_umem_pin_pages 12 2 4194304 || bad=1		# ENOMEM
	inject "$dev" ib_umem_dma_map 12 1 4194304 || bad=1		# ENOMEM
	inject "$dev" ib_umem_dma_map 5 1 65536 || bad=1		# EIO
	return $bad
}

test_case() {
	# Test-mode rxe maps through the PCI function's DMA ops, but under
	# swiotlb it refuses before pinning: nothing there to fail.
	[ "$(dma_config)" = swiotlb ] && NO_TESTMODE_REASON="swiotlb refuses before the pin step"
	each_rxe inject_all
}
