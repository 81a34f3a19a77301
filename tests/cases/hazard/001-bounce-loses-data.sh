# shellcheck shell=bash
DESCRIPTION="without the gate, a bounced user MR silently loses the data an RDMA WRITE delivered (the problem this project fixes)"

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin rc_data &&
		_have_testmode && _have_dma_config swiotlb || return 1
	# With the gate on, registration is refused here: nothing to show.
	[ "$(mr_outcome testmode)" = bounce ] ||
		skip_because "kernel has the coherent-DMA gate; the hazard is shown on the nogate kernel (ci/kernel-build.sh --variant nogate)"
}

test_case() {
	local dev
	rxe_add dev "$(testmode_netdev)" testmode || return 1
	info "$dev maps user memory through a real DMA device under swiotlb=force, with no gate"
	RDMA_DEV=$dev RDMA_GID_INDEX=$(gid_index "$dev") RDMA_EXPECT_DATA=lost harness testmode "$(test_bin rc_data)"
}
