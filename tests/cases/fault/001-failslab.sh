# shellcheck shell=bash
DESCRIPTION="reg_mr under failslab and fail_page_alloc (bounded, this task only): clean errnos, nothing pinned"

DBG=/sys/kernel/debug

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr || return 1
	[ -d $DBG/failslab ] || skip_because "kernel without CONFIG_FAILSLAB" || return 1
	[ -d $DBG/fail_page_alloc ] || skip_because "kernel without CONFIG_FAIL_PAGE_ALLOC"
}

# arm ATTR: fail 10% of this task's allocations, at most 200 times.
arm() {
	echo Y >"$DBG/$1/task-filter"
	echo 10 >"$DBG/$1/probability"
	echo 0 >"$DBG/$1/interval"
	echo 200 >"$DBG/$1/times"
	echo 0 >"$DBG/$1/space"
	echo 0 >"$DBG/$1/verbose"
	# By default only atomic allocations (and, for pages, order >= 1) are
	# failed; registration allocates with GFP_KERNEL, mostly order 0.
	echo N >"$DBG/$1/ignore-gfp-wait"
	[ -e "$DBG/$1/min-order" ] && echo 0 >"$DBG/$1/min-order"
	return 0
}
disarm() { echo 0 >"$DBG/$1/probability" 2>/dev/null; echo 1 >"$DBG/$1/times" 2>/dev/null; }
case_cleanup() { disarm failslab; disarm fail_page_alloc; }

test_case() {
	local dev t expect=success bad=0
	rxe_add dev "$(rxe_netdev)" || return 1
	for t in failslab fail_page_alloc; do
		arm $t
		info "$t armed on stock rxe $dev"
		RDMA_FAULT_ARMED=1 RDMA_DEV=$dev RDMA_EXPECT=success "$(test_bin reg_mr)" -t fault_cycles || bad=1
		disarm $t
	done
	# Test mode only where it refuses: where it maps, an injected failure in
	# dma-debug's own bookkeeping switches dma-debug off for the rest of
	# the boot (by design), which would blind every later case.
	if [ "$(dma_config)" = swiotlb ] && _have_testmode && _have_gate; then
		expect=refuse
		rxe_add dev "$(testmode_netdev)" testmode || return 1
		arm failslab
		info "failslab armed on test-mode rxe $dev (expecting $expect)"
		RDMA_FAULT_ARMED=1 RDMA_DEV=$dev RDMA_EXPECT=$expect "$(test_bin reg_mr)" -t fault_cycles || bad=1
		disarm failslab
	fi
	return $bad
}
