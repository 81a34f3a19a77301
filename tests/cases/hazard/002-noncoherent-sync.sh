# shellcheck shell=bash
DESCRIPTION="non-coherent DMA (arm64): without the gate, user memory is mapped with CPU cache maintenance (arch_sync_dma_for_device from ib_umem); with it, never"

T=/sys/kernel/debug/tracing

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr && _have_testmode &&
		_have_dma_config noncoherent || return 1
	[ -w $T/set_ftrace_filter ] && [ -w $T/options/func_stack_trace ] ||
		skip_because "kernel without the function tracer (CONFIG_FUNCTION_TRACER)" || return 1
	grep -q '^arch_sync_dma_for_device\b' $T/available_filter_functions ||
		skip_because "arch_sync_dma_for_device is not traceable here"
}

case_cleanup() {
	echo 0 >$T/options/func_stack_trace 2>/dev/null
	echo nop >$T/current_tracer 2>/dev/null
	echo >$T/set_ftrace_filter 2>/dev/null
	true
}

# Under TCG the emulated CPU caches are always coherent with QEMU's device
# model, so skipping the maintenance would corrupt nothing that a test
# could see here: what is shown is that the kernel does it (the path a
# real non-coherent machine depends on), and mr/004 that data still flows.
test_case() {
	local dev outcome n bad=0
	outcome=$(mr_outcome testmode)
	rxe_add dev "$(testmode_netdev)" testmode || return 1
	info "$dev on $(testmode_parent) (non-coherent): registration must $([ "$outcome" = refuse ] && echo be refused || echo succeed)"

	echo arch_sync_dma_for_device >$T/set_ftrace_filter || { fail "cannot set the ftrace filter"; return 1; }
	echo 1 >$T/options/func_stack_trace
	echo function >$T/current_tracer
	echo >$T/trace
	reg_mr testmode "$dev" testmode -t register_verbs || bad=1
	echo nop >$T/current_tracer
	# Stack traces of the cache maintenance done for user memory (the
	# netdev's own traffic does some too, with other callers).
	n=$(grep -cE '=> ib_umem_(get|dma_map)\b' $T/trace)
	info "arch_sync_dma_for_device calls from ib_umem while registering: $n"
	grep -m1 -B12 -E '=> ib_umem_(get|dma_map)\b' $T/trace | sed 's/^/#   /'
	case $outcome:$n in
	refuse:0) subtest umem-cache-maintenance ok ;;
	success:0) subtest umem-cache-maintenance fail
		fail "the MRs were mapped without any cache maintenance on a non-coherent device" ;;
	success:*) subtest umem-cache-maintenance ok ;;
	*) subtest umem-cache-maintenance fail
		fail "cache maintenance for user memory although registration is refused" ;;
	esac || bad=1
	return $bad
}
