# shellcheck shell=bash
DESCRIPTION="the kernel log since boot (KUnit included) has no warning, BUG, lockdep, kmemleak or dma-debug report"

requires() { _have_root && _have_test_bin kmsg; }

test_case() {
	local log bad
	log=$("$(test_bin kmsg)" since -1) || { fail "the kernel log since boot is incomplete"; return 1; }
	info "$(wc -l <<<"$log") kernel messages since boot"
	dmesg_bad bad 20 <<<"$log"
	[ ${#bad[@]} -eq 0 ] && return 0
	printf '#   %s\n' "${bad[@]}"
	fail "the kernel log since boot has reports"
}
