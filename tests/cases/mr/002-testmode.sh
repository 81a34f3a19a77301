# shellcheck shell=bash
DESCRIPTION="test-mode rxe (real DMA device): registration refused with EOPNOTSUPP exactly when DMA would bounce"

requires() { _have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr && _have_testmode && _have_gate; }

test_case() {
	local dev expect=success
	[ "$(dma_config)" = swiotlb ] && expect=refuse
	rxe_add dev "$(testmode_netdev)" testmode || return 1
	info "$dev: dma_coherence=$(cat "/sys/class/infiniband/$dev/dma_coherence" 2>/dev/null), expecting $expect"
	RDMA_DEV=$dev RDMA_EXPECT=$expect "$(test_bin reg_mr)"
}
