# shellcheck shell=bash
DESCRIPTION="test-mode rxe: rping, ibv_rc_pingpong and ib_write_bw pass where DMA is coherent and exit non-zero where it is refused"
# Many registrations and several peers; under TCG on a busy host minutes.
TIMEOUT=600

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
	case $(mr_outcome testmode) in
	refuse) want=refused ;;
	success) ;;
	*) fail "no defined outcome for peers where user memory bounces"; return 1 ;;
	esac
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

	# With this project's rdma-core the refusal is explained, not just
	# reported: the examples print a hint and ibv_devinfo -v the state.
	[ "$want" = refused ] || return $bad
	if [ ! -f "${RDMA_CORE_BUILD:-/nonexistent}/../util/dma_coherence.c" ]; then
		info "rdma-core without rdma-core-patches/: the hints are not checked"
		return $bad
	fi
	local word
	word=$(coherence_word testmode)
	grep -q "hint: .*dma_coherence: $word" "$CASE_TMP/rping.client" ||
		{ fail "rping did not name the cause"; bad=1; }
	grep -q "hint: .*dma_coherence: $word" "$CASE_TMP/rc_pingpong.client" ||
		{ fail "ibv_rc_pingpong did not name the cause"; bad=1; }
	ibv_devinfo -v -d "$dev" | grep -E 'dma_coherence|CC_DMA_BOUNCE' | sed 's/^/#   /'
	ibv_devinfo -v -d "$dev" | grep -q "dma_coherence:.*$word.*will be refused" ||
		{ fail "ibv_devinfo -v does not show the refusal state"; bad=1; }
	return $bad
}
