# shellcheck shell=bash
DESCRIPTION="RC RDMA write then read between two QPs, data verified (stock rxe; test-mode rxe where DMA is coherent)"

requires() { _have_root && _have_rxe && _have_uverbs && _have_test_bin rc_data; }

test_case() {
	local dev bad=0
	rxe_add dev "$(rxe_netdev)" || return 1
	info "stock rxe $dev"
	RDMA_DEV=$dev RDMA_GID_INDEX=$(gid_index "$dev") "$(test_bin rc_data)" || bad=1
	if [ "$(dma_config)" = swiotlb ]; then
		info "test-mode rxe refuses registration under swiotlb; mr/002 covers it"
	elif _have_testmode; then
		rxe_add dev "$(testmode_netdev)" testmode || return 1
		info "test-mode rxe $dev"
		RDMA_DEV=$dev RDMA_GID_INDEX=$(gid_index "$dev") "$(test_bin rc_data)" || bad=1
	else
		info "test-mode part not run: $SKIP_REASON"
	fi
	return $bad
}
