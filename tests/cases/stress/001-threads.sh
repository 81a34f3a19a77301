# shellcheck shell=bash
DESCRIPTION="8 threads x 1,000 reg/dereg cycles, successes and refusals interleaved, no report from lockdep, kmemleak or dma-debug"
# Thousands of registrations; under KASAN and TCG several minutes.
TIMEOUT=900

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr || return 1
	[ -w "$KMEMLEAK" ] || skip_because "kernel without kmemleak (CONFIG_DEBUG_KMEMLEAK)"
}

test_case() {
	local s t= bad=0
	kmemleak_clear || { fail "cannot clear kmemleak"; return 1; }
	rxe_add s "$(rxe_netdev)" || return 1
	if _have_testmode; then
		rxe_add t "$(testmode_netdev)" testmode || return 1
	else
		info "single device only: $SKIP_REASON"
	fi
	RDMA_DEV2=$t RDMA_EXPECT2=${t:+$(mr_outcome testmode)} reg_mr stock "$s" stock -t threads || bad=1
	rxe_del_all
	kmemleak_check || bad=1
	return $bad
}
