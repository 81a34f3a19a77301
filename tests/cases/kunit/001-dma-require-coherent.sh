# shellcheck shell=bash
DESCRIPTION="KUnit: DMA_ATTR_REQUIRE_COHERENT suite (ran at boot; every KUnit case is a sub-test)"

KUNIT_SUITE=dma-require-coherent

requires() {
	[ -d /sys/kernel/debug/kunit ] || skip_because "kernel without KUnit debugfs (CONFIG_KUNIT_DEBUGFS)" || return 1
	# Built as a module, the suite runs when it is loaded.
	[ -r "/sys/kernel/debug/kunit/$KUNIT_SUITE/results" ] || modprobe -q require_coherent_kunit
	[ -r "/sys/kernel/debug/kunit/$KUNIT_SUITE/results" ] ||
		skip_because "kernel without the $KUNIT_SUITE KUnit suite"
}

test_case() {
	local res=/sys/kernel/debug/kunit/$KUNIT_SUITE/results n=0 line name r reason bad=0
	sed 's/^/#   /' "$res"
	# The cases are the indented result lines; the suite's own is not.
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]+(not\ )?ok\ [0-9]+\ ([A-Za-z0-9_]+)(\ #\ SKIP\ (.*))?$ ]] || continue
		name=${BASH_REMATCH[2]} reason=${BASH_REMATCH[4]}
		r=ok
		[ -n "${BASH_REMATCH[1]}" ] && r=fail
		[ $r = ok ] && [ -n "$reason" ] && r=skip
		subtest "kunit.$name" $r ${reason:+"$reason"} || bad=1
		n=$((n + 1))
	done <"$res"
	[ $n -gt 0 ] || { fail "no KUnit case result in $res"; return 1; }
	grep -qE "^(not )?ok [0-9]+ $KUNIT_SUITE" "$res" || { fail "suite result line missing"; return 1; }
	return $bad
}
