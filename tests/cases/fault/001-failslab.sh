# shellcheck shell=bash
DESCRIPTION="reg_mr under failslab and fail_page_alloc (bounded, this task only): clean errnos, nothing pinned, faults really injected"

DBG=/sys/kernel/debug

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr || return 1
	[ -d $DBG/failslab ] || skip_because "kernel without CONFIG_FAILSLAB" || return 1
	[ -d $DBG/fail_page_alloc ] || skip_because "kernel without CONFIG_FAIL_PAGE_ALLOC"
}

TIMES=200

# arm ATTR: fail 10% of this task's allocations, at most $TIMES times.
arm() {
	echo Y >"$DBG/$1/task-filter"
	echo 10 >"$DBG/$1/probability"
	echo 0 >"$DBG/$1/interval"
	echo $TIMES >"$DBG/$1/times"
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

# armed ATTR DEV KIND: the fault cycles under ATTR. "times" counts down once
# per injected failure: it must have moved, or nothing was tested.
armed() {
	local t=$1 dev=$2 kind=$3 left rc=0
	arm "$t"
	info "$t armed on $kind rxe $dev (expecting $(mr_outcome "$kind"))"
	RDMA_FAULT_ARMED=1 reg_mr "$t-$kind" "$dev" "$kind" -t fault_cycles || rc=1
	left=$(cat "$DBG/$t/times")
	disarm "$t"
	info "$t injected $((TIMES - left)) failures"
	if [ "$left" -lt $TIMES ]; then
		subtest "$t-$kind.injected" ok
	else
		subtest "$t-$kind.injected" fail; fail "$t injected nothing"; rc=1
	fi
	return $rc
}

test_case() {
	local dev bad=0
	rxe_add dev "$(rxe_netdev)" || return 1
	armed failslab "$dev" stock || bad=1
	armed fail_page_alloc "$dev" stock || bad=1
	# Test mode only where it refuses: where it maps, an injected failure in
	# dma-debug's own bookkeeping switches dma-debug off for the rest of
	# the boot (by design), which would blind every later case.
	if [ "$(mr_outcome testmode)" = refuse ] && _have_testmode; then
		rxe_add dev "$(testmode_netdev)" testmode || return 1
		armed failslab "$dev" testmode || bad=1
	fi
	return $bad
}
