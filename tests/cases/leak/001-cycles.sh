# shellcheck shell=bash
DESCRIPTION="10,000 refusals and 10,000 reg/dereg cycles: pins, SWIOTLB slots, dma-debug, kmemleak and rdma res back to baseline"
# Thousands of registrations; under KASAN and TCG several minutes.
TIMEOUT=900

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr || return 1
	[ -w "$KMEMLEAK" ] || skip_because "kernel without kmemleak (CONFIG_DEBUG_KMEMLEAK)"
}

cycles() { reg_mr "$2" "$1" "$2" -t refusal_leaks_nothing -t success_cycles_leak_nothing; }

test_case() {
	local bad=0
	kmemleak_clear || { fail "cannot clear kmemleak"; return 1; }
	each_rxe cycles || bad=1
	rxe_del_all
	kmemleak_check || bad=1
	return $bad
}
