# shellcheck shell=bash
DESCRIPTION="without the gate, a bounced user MR silently loses the data an RDMA WRITE delivered (the problem this project fixes)"

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin rc_data &&
		_have_testmode && _have_dma_config swiotlb || return 1
	# A kernel with the gate needs its test switch to map without it.
	grep -qsw dma_coherence_state /proc/kallsyms && ! have_umem_switch require_coherent &&
		skip_because "kernel has the coherent-DMA gate and not its require_coherent test switch (CONFIG_INFINIBAND_UMEM_TEST)"
	return 0
}

test_case() {
	local dev
	# On the patched kernel: map user memory as stock 6.12 does, without
	# DMA_ATTR_REQUIRE_COHERENT and without any refusal (taints the kernel).
	if have_umem_switch require_coherent; then
		umem_switch require_coherent N || return 1
		info "ib_umem/require_coherent off: user memory is mapped as without the gate"
	fi
	[ "$(mr_outcome testmode)" = bounce ] || { fail "test-mode MRs would not bounce here"; return 1; }
	rxe_add dev "$(testmode_netdev)" testmode || return 1
	info "$dev maps user memory through a real DMA device under swiotlb=force, with no gate"
	RDMA_DEV=$dev RDMA_GID_INDEX=$(gid_index "$dev") RDMA_EXPECT_DATA=lost harness testmode "$(test_bin rc_data)"
}
