# shellcheck shell=bash
DESCRIPTION="rping: 10 verified iterations through the RDMA CM over rxe"

requires() { _have_root && _have_rxe && _have_uverbs && _have_cmd rping; }

test_case() {
	local dev ip
	rxe_add dev "$(rxe_netdev)" || return 1
	ip=$(netdev_ip "$(rxe_netdev)")
	run_pair rping \
		rping -s -a "$ip" -C 10 -v -V -- \
		rping -c -a "$ip" -C 10 -v -V || fail "the pair did not complete" || return 1
	[ "$(grep -c 'ping data' "$CASE_TMP/rping.client")" -eq 10 ] ||
		fail "client printed $(grep -c 'ping data' "$CASE_TMP/rping.client") of 10 pings"
}
