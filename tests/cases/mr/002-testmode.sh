# shellcheck shell=bash
DESCRIPTION="test-mode rxe (real DMA device): registration refused with EOPNOTSUPP exactly when DMA would bounce"
# Many registrations and several peers; under TCG on a busy host minutes.
TIMEOUT=600

requires() { _have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr && _have_testmode; }

test_case() {
	local dev
	rxe_add dev "$(testmode_netdev)" testmode || return 1
	info "$dev on $(testmode_parent): dma_coherence=$(cat "/sys/class/infiniband/$dev/dma_coherence" 2>/dev/null || echo '(none)'), expecting $(mr_outcome testmode)"
	reg_mr testmode "$dev" testmode "${REG_MR_OTHERS[@]}"
}
