# shellcheck shell=bash
DESCRIPTION="RC RDMA write then read between two QPs, data verified (stock rxe; test-mode rxe where DMA is coherent)"
# Many registrations and several peers; under TCG on a busy host minutes.
TIMEOUT=600

requires() { _have_root && _have_rxe && _have_uverbs && _have_test_bin rc_data; }

# rc DEV KIND: the data check on DEV, as sub-tests KIND.*
rc() { RDMA_DEV=$1 RDMA_GID_INDEX=$(gid_index "$1") harness "$2" "$(test_bin rc_data)"; }

test_case() {
	[ "$(mr_outcome testmode)" = success ] ||
		NO_TESTMODE_REASON="test-mode rxe $(mr_outcome testmode)s user memory here; mr/002 and hazard/001 cover it"
	each_rxe rc
}
