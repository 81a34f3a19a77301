# shellcheck shell=bash
DESCRIPTION="8 threads x 1,000 reg/dereg cycles, successes and refusals interleaved, no report from lockdep, kmemleak or dma-debug"
# Thousands of registrations; under KASAN and TCG several minutes.
TIMEOUT=900

requires() { _have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr; }

test_case() {
	local s t=
	rxe_add s "$(rxe_netdev)" || return 1
	if _have_testmode && _have_gate; then
		rxe_add t "$(testmode_netdev)" testmode || return 1
	else
		info "single device only: $SKIP_REASON"
	fi
	local exp2=success
	[ "$(dma_config)" = swiotlb ] && exp2=refuse
	RDMA_DEV=$s RDMA_EXPECT=success RDMA_DEV2=$t RDMA_EXPECT2=${t:+$exp2} \
		"$(test_bin reg_mr)" -t threads
}
