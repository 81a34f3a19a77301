# shellcheck shell=bash
DESCRIPTION="KUnit: DMA_ATTR_REQUIRE_COHERENT suite (ran at boot; results from debugfs)"

KUNIT_SUITE=dma-require-coherent

requires() {
	[ -d /sys/kernel/debug/kunit ] || skip_because "kernel without KUnit debugfs (CONFIG_KUNIT_DEBUGFS)" || return 1
	[ -r "/sys/kernel/debug/kunit/$KUNIT_SUITE/results" ] ||
		skip_because "kernel without the $KUNIT_SUITE KUnit suite"
}

test_case() {
	local res=/sys/kernel/debug/kunit/$KUNIT_SUITE/results
	sed 's/^/#   /' "$res"
	grep -qE '^[[:space:]]*not ok ' "$res" && fail "a KUnit case failed" && return 1
	grep -qE "^ok [0-9]+ $KUNIT_SUITE" "$res" || fail "suite result line missing"
}
