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

# inject LABEL DEV KIND FUNC ERRNO NTH SIZE: call NTH of FUNC fails with -ERRNO.
inject() {
	info "$2: call $6 of $4 fails with -$5, $7-byte region"
	RDMA_INJECT=$4:$5:$6 RDMA_INJECT_SIZE=$7 reg_mr "$1" "$2" "$3" -t injected_failure
}

# Each step on one device: the first pin, a later pin with the first chunk
# (512 pages on x86-64) already pinned, and the map after a full pin.
inject_all() {
	local dev=$1 kind=$2 bad=0
	inject "$kind-pin1-efault" "$dev" "$kind" ib_umem_pin_pages 14 1 65536 || bad=1
	inject "$kind-pin2-enomem" "$dev" "$kind" ib_umem_pin_pages 12 2 4194304 || bad=1
	inject "$kind-map-enomem" "$dev" "$kind" ib_umem_dma_map 12 1 4194304 || bad=1
	inject "$kind-map-eio" "$dev" "$kind" ib_umem_dma_map 5 1 65536 || bad=1
	return $bad
}

test_case() {
	# Test-mode rxe maps through the PCI function's DMA ops, but under
	# swiotlb it refuses before pinning: nothing there to fail.
	[ "$(mr_outcome testmode)" = refuse ] && NO_TESTMODE_REASON="test mode refuses before the pin step here"
	each_rxe inject_all
}
