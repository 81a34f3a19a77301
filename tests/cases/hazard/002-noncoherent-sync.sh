# shellcheck shell=bash
DESCRIPTION="non-coherent DMA (arm64): with the gate, user memory is refused and never cache-maintained; without it, mapped with CPU cache maintenance (arch_sync_dma_for_device from ib_umem)"

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
	echo 1 >$T/tracing_on 2>/dev/null
	echo >$T/set_ftrace_filter 2>/dev/null
	true
}

# umem_syncs LABEL DEV: register MRs on DEV (the reg_mr register_verbs test,
# told what to expect here) and count the CPU cache maintenance done for
# user memory meanwhile: arch_sync_dma_for_device calls whose stack holds
# ib_umem (the netdev's own traffic does some too, with other callers).
umem_syncs() {
	echo function >$T/current_tracer
	echo >$T/trace
	echo 1 >$T/tracing_on
	reg_mr "$1" "$2" testmode -t register_verbs >&2 || true
	# Read the trace before changing tracers: a change empties the buffer
	# (this count read 0 on every kernel until it was read first).
	echo 0 >$T/tracing_on
	grep -m1 -B12 -E '=> ib_umem_(get|dma_map)\b' $T/trace | sed 's/^/#   /' >&2
	grep -cE '=> ib_umem_(get|dma_map)\b' $T/trace
	echo nop >$T/current_tracer
}

# Under TCG the emulated CPU caches are always coherent with QEMU's device
# model, so leaving the maintenance out would corrupt nothing a test could
# see: what is shown is that the kernel does it where it maps (the path a
# real non-coherent machine depends on), and mr/004 that the data flows.
test_case() {
	local dev n bad=0
	rxe_add dev "$(testmode_netdev)" testmode || return 1
	echo arch_sync_dma_for_device >$T/set_ftrace_filter || { fail "cannot set the ftrace filter"; return 1; }
	echo 1 >$T/options/func_stack_trace

	if gate_on; then
		n=$(umem_syncs gated "$dev")
		info "gate on ($dev on $(testmode_parent), non-coherent): refused, cache maintenance for user memory: $n"
		[ "$n" -eq 0 ] && subtest gated-no-maintenance ok ||
			{ subtest gated-no-maintenance fail; fail "cache maintenance for user memory although it is refused"; bad=1; }
		if ! have_umem_switch require_coherent; then
			info "no ib_umem/require_coherent test switch (CONFIG_INFINIBAND_UMEM_TEST): the ungated part needs the nogate kernel"
			return $bad
		fi
		# as stock 6.12 maps user memory (taints the kernel)
		umem_switch require_coherent N || return 1
	fi
	n=$(umem_syncs ungated "$dev")
	info "no gate ($dev, non-coherent): registered, cache maintenance for user memory: $n"
	[ "$n" -gt 0 ] && subtest ungated-maintenance ok ||
		{ subtest ungated-maintenance fail; fail "user memory mapped for a non-coherent device without cache maintenance"; bad=1; }
	have_umem_switch require_coherent && { umem_switch require_coherent Y || bad=1; }
	return $bad
}
