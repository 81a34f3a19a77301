# shellcheck shell=bash
DESCRIPTION="10,000 refusals and 10,000 reg/dereg cycles: pins, SWIOTLB slots, dma-debug, kmemleak and rdma res mr back to baseline"
# Thousands of registrations; under KASAN and TCG several minutes.
TIMEOUT=900

KMEMLEAK=/sys/kernel/debug/kmemleak

requires() { _have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr; }

mr_count() { rdma res show mr dev "$1" 2>/dev/null | grep -c 'mrn'; }

# cycles DEV EXPECT: the leak tests of reg_mr for one device; the C side
# asserts pins and SWIOTLB slots, this side the MR resource count.
cycles() {
	local dev=$1 expect=$2 before after
	before=$(mr_count "$dev")
	RDMA_DEV=$dev RDMA_EXPECT=$expect "$(test_bin reg_mr)" \
		-t refusal_leaks_nothing -t success_cycles_leak_nothing || return 1
	after=$(mr_count "$dev")
	[ "$before" -eq "$after" ] || fail "$dev: rdma res shows $after MRs, $before before"
}

test_case() {
	local dev bad=0 expect=success leaks
	[ -w "$KMEMLEAK" ] && echo clear >"$KMEMLEAK"
	rxe_add dev "$(rxe_netdev)" || return 1
	cycles "$dev" success || bad=1
	if _have_testmode && _have_gate; then
		[ "$(dma_config)" = swiotlb ] && expect=refuse
		rxe_add dev "$(testmode_netdev)" testmode || return 1
		cycles "$dev" "$expect" || bad=1
	else
		info "test-mode part not run: $SKIP_REASON"
	fi
	if [ -w "$KMEMLEAK" ]; then
		# Two scans: an object is reported only once it has been seen
		# unreferenced by consecutive scans.
		echo scan >"$KMEMLEAK"; sleep 1; echo scan >"$KMEMLEAK"
		leaks=$(cat "$KMEMLEAK")
		if [ -n "$leaks" ]; then
			echo "$leaks" | head -40 | sed 's/^/#   /'
			fail "kmemleak reports unreferenced objects"
			bad=1
		fi
	else
		info "kmemleak not available (CONFIG_DEBUG_KMEMLEAK); that check not run"
	fi
	return $bad
}
