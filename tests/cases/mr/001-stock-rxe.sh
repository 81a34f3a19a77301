# shellcheck shell=bash
DESCRIPTION="stock rxe (virtual DMA): registration verbs succeed in every DMA configuration"
# Many registrations and several peers; under TCG on a busy host minutes.
TIMEOUT=600

requires() { _have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr; }

test_case() {
	local dev
	rxe_add dev "$(rxe_netdev)" || return 1
	reg_mr stock "$dev" stock "${REG_MR_OTHERS[@]}"
}
