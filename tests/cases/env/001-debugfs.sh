# shellcheck shell=bash
DESCRIPTION="debugfs is mounted: the leak, dma-debug, SWIOTLB, KUnit and fault checks read it"

test_case() {
	local fs
	fs=$(awk '$2 == "/sys/kernel/debug" {print $3}' /proc/mounts | tail -1)
	[ "$fs" = debugfs ] || fail "/sys/kernel/debug is not a debugfs mount (found '${fs:-nothing}')"
}
