# shellcheck shell=bash
DESCRIPTION="lockdep is on (run.sh also checks after every case that it stayed on)"

requires() {
	[ -r /proc/lockdep_stats ] || skip_because "kernel without lockdep (CONFIG_PROVE_LOCKING)"
}

test_case() {
	local on
	debug_locks on
	[ "$on" = 1 ] || fail "debug_locks is $on: lockdep switched itself off (an earlier report?)"
}
