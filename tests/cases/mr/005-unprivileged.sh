# shellcheck shell=bash
DESCRIPTION="an unprivileged user meets the gate exactly as root does, hits RLIMIT_MEMLOCK, and cannot flip the rxe test mode"

NOBODY=${NOBODY_UID:-65534}
PARAM=/sys/module/rdma_rxe/parameters/dma_test_mode
# Many registrations and several peers; under TCG on a busy host minutes.
TIMEOUT=600

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr && _have_cmd setpriv
}

# as_nobody DEV KIND: the reg_mr tests as uid $NOBODY with RLIMIT_MEMLOCK 64 KiB.
as_nobody() {
	local REG_MR_AS=(setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups)
	(ulimit -l 64 && reg_mr "nobody-$2" "$1" "$2" "${REG_MR_OTHERS[@]}")
}

test_case() {
	local bad=0
	each_rxe as_nobody || bad=1
	_have_testmode || return $bad
	# The test-mode switch is root's, and takes only a boolean.
	if setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups sh -c "echo 1 > $PARAM" 2>/dev/null; then
		subtest param-unprivileged-write fail; fail "uid $NOBODY could write $PARAM"; bad=1
		echo 0 >"$PARAM"
	elif [ "$(cat $PARAM)" = N ]; then
		subtest param-unprivileged-write ok
	else
		subtest param-unprivileged-write fail; fail "$PARAM is $(cat $PARAM) after the write"; bad=1
	fi
	if echo maybe >"$PARAM" 2>/dev/null || [ "$(cat $PARAM)" != N ]; then
		subtest param-invalid-value fail; fail "$PARAM took 'maybe' ($(cat $PARAM))"; bad=1
	else
		subtest param-invalid-value ok
	fi
	return $bad
}
