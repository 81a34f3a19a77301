# shellcheck shell=bash
DESCRIPTION="10,000 refusals and 10,000 reg/dereg cycles: pins, SWIOTLB slots, dma-debug, kmemleak and rdma res back to baseline"
# Thousands of registrations; under KASAN and TCG several minutes.
TIMEOUT=900

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr || return 1
	[ -w "$KMEMLEAK" ] || skip_because "kernel without kmemleak (CONFIG_DEBUG_KMEMLEAK)"
}

# Where the test-mode device refuses because it would bounce, its test
# switch (CONFIG_INFINIBAND_UMEM_TEST) maps user memory as stock 6.12 does,
# through SWIOTLB: the reg/dereg cycles must then give back every slot they
# take, and a bounced MR must hold some (success_cycles_leak_nothing). On the
# nogate kernel the plain run already bounces.
cycles() {
	local bad=0
	reg_mr "$2" "$1" "$2" -t refusal_leaks_nothing -t success_cycles_leak_nothing || bad=1
	if [ "$2" = testmode ] && [ "$(mr_outcome testmode)" = refuse ] &&
		[ "$(dma_config)" = swiotlb ] && have_umem_switch require_coherent; then
		umem_switch require_coherent N || return 1
		info "ib_umem/require_coherent off: user MRs bounce, and must give their SWIOTLB slots back"
		reg_mr testmode-bounced "$1" testmode -t success_cycles_leak_nothing || bad=1
		umem_switch require_coherent Y || bad=1
	fi
	return $bad
}

test_case() {
	local bad=0
	kmemleak_clear || { fail "cannot clear kmemleak"; return 1; }
	each_rxe cycles || bad=1
	rxe_del_all
	kmemleak_check || bad=1
	return $bad
}
