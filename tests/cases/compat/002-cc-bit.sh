# shellcheck shell=bash
DESCRIPTION="ibv_devinfo -v lists CC_DMA_BOUNCE exactly when the kernel sets bit 41, which it does only for the cc-bounce verdict"

# Bit 41 of device_cap_flags_ex (IB_UVERBS_DEVICE_CC_DMA_BOUNCE) means a
# confidential computing guest that requires DMA bounce buffering. Under
# TCG there is none, so the kernel must leave it clear, also where it
# refuses user memory for other reasons (swiotlb=force). Works with any
# ibv_devinfo that knows the flag (rdma-core 64 or later, or this
# project's).

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_cmd ibv_devinfo || return 1
	grep -q CC_DMA_BOUNCE "$(command -v ibv_devinfo)" ||
		skip_because "ibv_devinfo does not know CC_DMA_BOUNCE (rdma-core older than 64)"
}

check_dev() {
	local dev=$1 kind=$2 out flags bit listed word want
	out=$(ibv_devinfo -v -d "$dev") || { fail "ibv_devinfo -v -d $dev exited $?"; return 1; }
	flags=$(sed -nE 's/^[[:space:]]*device_cap_flags_ex:[[:space:]]*(0x[0-9A-Fa-f]+).*/\1/p' <<<"$out")
	[ -n "$flags" ] || { subtest "$kind.cc-bit" fail; fail "no device_cap_flags_ex in ibv_devinfo -v"; return 1; }
	bit=$(((flags >> 41) & 1))
	listed=0
	grep -qE '^[[:space:]]+CC_DMA_BOUNCE$' <<<"$out" && listed=1
	word=$(cat "/sys/class/infiniband/$dev/dma_coherence" 2>/dev/null) || word=
	info "$kind: device_cap_flags_ex $flags (bit 41: $bit), CC_DMA_BOUNCE listed: $listed, dma_coherence '${word:-(no file)}'"
	want=0
	[ "$word" = cc-bounce ] && want=1
	if [ "$listed" != "$bit" ]; then
		subtest "$kind.cc-bit" fail
		fail "ibv_devinfo lists CC_DMA_BOUNCE $listed times but bit 41 is $bit"
	elif [ -n "$word" ] && [ "$bit" != "$want" ]; then
		subtest "$kind.cc-bit" fail
		fail "bit 41 is $bit but dma_coherence is '$word'"
	elif [ "$bit" != 0 ] && [ -z "$word" ]; then
		subtest "$kind.cc-bit" skip "bit 41 set by a kernel without dma_coherence: cannot tell it from a guest that is not confidential"
	else
		subtest "$kind.cc-bit" ok
	fi
}

test_case() { each_rxe check_dev; }
