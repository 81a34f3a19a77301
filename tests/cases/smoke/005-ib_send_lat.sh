# shellcheck shell=bash
DESCRIPTION="perftest ib_send_lat completes over rxe"

requires() { _have_root && _have_rxe && _have_uverbs && _have_cmd ib_send_lat; }

test_case() {
	local dev gid ip
	rxe_add dev "$(rxe_netdev)" || return 1
	gid=$(gid_index "$dev")
	ip=$(netdev_ip "$(rxe_netdev)")
	run_pair ib_send_lat \
		ib_send_lat -d "$dev" -x "$gid" -F -n 200 -- \
		ib_send_lat -d "$dev" -x "$gid" -F -n 200 "$ip" || fail "the pair did not complete" || return 1
	grep -qE '^[[:space:]]*2[[:space:]]+200' "$CASE_TMP/ib_send_lat.client" ||
		fail "no result line for 2 bytes x 200"
}
