# shellcheck shell=bash
DESCRIPTION="the guest is in the DMA configuration it claims: seen on the test-mode parent's own mappings"

requires() { _have_root && _have_testmode_netdev; }

# How the parent's live streaming mappings look in dma-debug's dump:
# "identity" (every DMA address equals the physical one), "other" (none
# does), "mixed", or "none" (no streaming mapping of that device).
parent_mappings() {
	awk -v d="$1" '$2 == d && $3 != "coherent" {
		p = ""; a = ""
		for (i = 4; i <= NF; i++) {
			if ($i ~ /^P=/) { p = substr($i, 3); sub(/^0x0*/, "", p) }
			if ($i ~ /^D=/) { a = substr($i, 3); sub(/^0*/, "", a) }
		}
		if (p == a) same++; else other++
	} END {
		if (!same && !other) print "none"
		else if (!other) print "identity"
		else if (!same) print "other"
		else print "mixed"
	}' /sys/kernel/debug/dma-api/dump
}

# The PCI host bridge node of the device tree (arm64 virt), if there is one.
dt_pci_host() {
	local c
	for c in /proc/device-tree/*/compatible; do
		[ -f "$c" ] && tr '\0' '\n' <"$c" | grep -qx pci-host-ecam-generic && { dirname "$c"; return; }
	done
}

# cache_syncs NETDEV: how often arch_sync_dma_for_device (the CPU cache
# maintenance of a streaming mapping for a non-coherent device) ran while
# NETDEV sent a few ARP requests; empty when ftrace cannot tell.
cache_syncs() {
	local t=/sys/kernel/debug/tracing n
	[ -w $t/set_ftrace_filter ] && grep -q '^arch_sync_dma_for_device\b' $t/available_filter_functions || return 0
	echo arch_sync_dma_for_device >$t/set_ftrace_filter || return 0
	echo function >$t/current_tracer && echo >$t/trace && echo 1 >$t/tracing_on
	busybox ping -c 2 -w 3 -I "$1" "$(netdev_ip "$1" | awk -F. '{print $1"."$2"."$3".254"}')" >/dev/null 2>&1
	n=$(grep -c ' arch_sync_dma_for_device' $t/trace)
	echo nop >$t/current_tracer
	echo >$t/set_ftrace_filter
	echo "$n"
}

# coherence_proof PDEV: on a device-tree machine, the PCI devices are
# coherent exactly where the configuration says, seen three ways: the
# device tree the kernel read (of_dma_is_coherent), the kernel's own word
# for a test-mode rxe device on PDEV's netdev, and CPU cache maintenance
# (none at all on a coherent machine).
coherence_proof() {
	local host want dt syncs word dev bad=0
	host=$(dt_pci_host)
	[ -n "$host" ] || return 0
	[ "$(dma_config)" = noncoherent ] && want=non-coherent || want=coherent
	if [ -e "$host/dma-coherent" ] || [ -e /proc/device-tree/dma-coherent ]; then dt=coherent; else dt=non-coherent; fi
	info "device tree: ${host#/proc/device-tree/} is $dt (dma-coherent $([ $dt = coherent ] && echo present || echo absent))"
	[ $dt = $want ] && subtest dt-coherence ok ||
		{ subtest dt-coherence fail; fail "the device tree says $dt, '$(dma_config)' wants $want"; bad=1; }

	syncs=$(cache_syncs "$(testmode_netdev)")
	info "arch_sync_dma_for_device calls while $(testmode_netdev) sent ARP requests: ${syncs:-(ftrace unavailable)}"
	if [ -z "$syncs" ]; then
		subtest cache-maintenance skip "no function tracer for arch_sync_dma_for_device"
	elif { [ $want = non-coherent ] && [ "$syncs" -gt 0 ]; } || { [ $want = coherent ] && [ "$syncs" -eq 0 ]; }; then
		subtest cache-maintenance ok
	else
		subtest cache-maintenance fail; fail "$syncs cache maintenance calls, but the devices should be $want"; bad=1
	fi

	# The kernel's own answer, where it has one (the gate's sysfs word).
	if ! _have_testmode || ! grep -qsw dma_coherence_state /proc/kallsyms; then
		subtest kernel-coherence skip "kernel without the rxe test mode or the dma_coherence sysfs file"
		return $bad
	fi
	rxe_add dev "$(testmode_netdev)" testmode || { subtest kernel-coherence fail; return 1; }
	word=$(cat "/sys/class/infiniband/$dev/dma_coherence")
	info "test-mode $dev on $PDEV_NAME: dma_coherence=$word"
	[ "$word" = "$(coherence_word testmode)" ] && subtest kernel-coherence ok ||
		{ subtest kernel-coherence fail; fail "dma_coherence is '$word', '$(dma_config)' wants $(coherence_word testmode)"; bad=1; }
	rxe_del_all
	return $bad
}

test_case() {
	local cfg pdev group type maps used bad=0
	cfg=$(dma_config)
	pdev=$(testmode_parent)
	[ -n "$pdev" ] || { fail "no PCI device above $(testmode_netdev)"; return 1; }
	info "configuration '$cfg'; test-mode parent $pdev ($(testmode_netdev))"

	# IOMMU: only the iommu configuration has one, in a DMA domain.
	group= type=
	if [ -e "/sys/bus/pci/devices/$pdev/iommu_group" ]; then
		group=$(readlink -f "/sys/bus/pci/devices/$pdev/iommu_group")
		type=$(cat "$group/type" 2>/dev/null)
	fi
	info "iommu group: ${group:-none} ${type:+(type $type)}"
	if [ "$cfg" = iommu ]; then
		case $type in
		DMA | DMA-FQ) subtest iommu-group ok ;;
		*) subtest iommu-group fail; fail "$pdev is in no IOMMU group of type DMA" ;;
		esac
	elif [ -z "$group" ]; then
		subtest iommu-group ok
	else
		subtest iommu-group fail; fail "$pdev is behind an IOMMU ($group, $type) in '$cfg'"
	fi || bad=1

	# SWIOTLB: slots are in use exactly where every mapping bounces.
	used=$(swiotlb_used)
	info "swiotlb io_tlb_used: $used"
	if [ ! -r /sys/kernel/debug/swiotlb/io_tlb_used ]; then
		subtest swiotlb-use fail; fail "no /sys/kernel/debug/swiotlb/io_tlb_used"
	elif [ "$cfg" = swiotlb ]; then
		[ "$used" -gt 0 ] && subtest swiotlb-use ok ||
			{ subtest swiotlb-use fail; fail "nothing bounces under swiotlb=force"; }
	else
		[ "$used" -eq 0 ] && subtest swiotlb-use ok ||
			{ subtest swiotlb-use fail; fail "$used SWIOTLB slots in use in '$cfg'"; }
	fi || bad=1

	# The parent's own rings and buffers, as dma-debug recorded them.
	if [ ! -r /sys/kernel/debug/dma-api/dump ]; then
		subtest parent-mappings skip "kernel without dma-debug (CONFIG_DMA_API_DEBUG)"
		return $bad
	fi
	maps=$(parent_mappings "$pdev")
	info "streaming mappings of $pdev: $maps"
	case $cfg:$maps in
	direct:identity | noncoherent:identity | swiotlb:other | iommu:other) subtest parent-mappings ok ;;
	*) subtest parent-mappings fail
	   fail "$pdev's streaming mappings are '$maps', which is not what '$cfg' gives" ;;
	esac || bad=1
	PDEV_NAME=$pdev coherence_proof || bad=1
	return $bad
}
