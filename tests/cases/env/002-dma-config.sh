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
	direct:identity | swiotlb:other | iommu:other) subtest parent-mappings ok ;;
	*) subtest parent-mappings fail
	   fail "$pdev's streaming mappings are '$maps', which is not what '$cfg' gives" ;;
	esac || bad=1
	return $bad
}
