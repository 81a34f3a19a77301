# shellcheck shell=bash
DESCRIPTION="ibv_rc_pingpong exchanges and validates data over rxe"

requires() { _have_root && _have_rxe && _have_uverbs && _have_cmd ibv_rc_pingpong; }

test_case() {
	local dev gid ip
	rxe_add dev "$(rxe_netdev)" || return 1
	gid=$(gid_index "$dev")
	ip=$(netdev_ip "$(rxe_netdev)")
	[ -n "$gid" ] || fail "no RoCE v2 GID on $dev" || return 1
	run_pair rc_pingpong \
		ibv_rc_pingpong -d "$dev" -g "$gid" -n 100 -c -- \
		ibv_rc_pingpong -d "$dev" -g "$gid" -n 100 -c "$ip" || fail "the pair did not complete" || return 1
	grep -q 'iters in' "$CASE_TMP/rc_pingpong.client" || fail "no throughput line from client"
}
