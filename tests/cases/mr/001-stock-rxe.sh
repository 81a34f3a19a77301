# shellcheck shell=bash
DESCRIPTION="stock rxe (virtual DMA): registration verbs succeed in every DMA configuration"

requires() { _have_root && _have_rxe && _have_uverbs && _have_reg_mr_bin; }

test_case() {
	local dev
	dev=$(rxe_add "$(rxe_netdev)") || return 1
	RDMA_DEV=$dev RDMA_EXPECT=success "$REG_MR_BIN"
}
