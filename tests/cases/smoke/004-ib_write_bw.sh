# shellcheck shell=bash
DESCRIPTION="perftest ib_write_bw completes over rxe"

requires() { _have_root && _have_rxe && _have_uverbs && _have_cmd ib_write_bw; }

test_case() {
	local dev gid ip
	rxe_add dev "$(rxe_netdev)" || return 1
	gid=$(gid_index "$dev")
	ip=$(netdev_ip "$(rxe_netdev)")
	run_pair ib_write_bw \
		ib_write_bw -d "$dev" -x "$gid" -F -n 200 -s 65536 -- \
		ib_write_bw -d "$dev" -x "$gid" -F -n 200 -s 65536 "$ip" || fail "the pair did not complete" || return 1
	grep -qE '^[[:space:]]*65536[[:space:]]+200' "$CASE_TMP/ib_write_bw.client" ||
		fail "no result line for 65536 bytes x 200"
}
