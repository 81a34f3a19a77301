# shellcheck shell=bash
DESCRIPTION="test-mode rxe: rping, ibv_rc_pingpong and ib_write_bw pass where DMA is coherent and exit non-zero where it is refused"

requires() { _have_root && _have_rxe && _have_uverbs && _have_testmode && _have_gate &&
	_have_cmd rping ibv_rc_pingpong ib_write_bw; }

# expect_outcome ok|refused NAME: check what run_pair returned.
expect_outcome() {
	local want=$1 name=$2 rc=$3
	if [ "$want" = ok ]; then
		[ "$rc" -eq 0 ] || fail "$name failed on a coherent configuration"
	else
		[ "$rc" -ne 0 ] || fail "$name succeeded although registration must be refused"
	fi
}

test_case() {
	local dev gid ip want=ok rc bad=0
	[ "$(dma_config)" = swiotlb ] && want=refused
	rxe_add dev "$(testmode_netdev)" testmode || return 1
	gid=$(gid_index "$dev")
	ip=$(netdev_ip "$(testmode_netdev)")
	info "$dev on $(testmode_netdev) ($ip), expecting the peers to be $want"

	rc=0; run_pair rping rping -s -a "$ip" -C 10 -v -V -- rping -c -a "$ip" -C 10 -v -V || rc=$?
	expect_outcome $want rping $rc || bad=1
	rc=0; run_pair rc_pingpong ibv_rc_pingpong -d "$dev" -g "$gid" -n 50 -c -- \
		ibv_rc_pingpong -d "$dev" -g "$gid" -n 50 -c "$ip" || rc=$?
	expect_outcome $want ibv_rc_pingpong $rc || bad=1
	rc=0; run_pair ib_write_bw ib_write_bw -d "$dev" -x "$gid" -F -n 100 -- \
		ib_write_bw -d "$dev" -x "$gid" -F -n 100 "$ip" || rc=$?
	expect_outcome $want ib_write_bw $rc || bad=1
	return $bad
}
