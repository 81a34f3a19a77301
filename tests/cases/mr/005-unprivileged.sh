# shellcheck shell=bash
DESCRIPTION="an unprivileged user meets the gate exactly as root does, hits RLIMIT_MEMLOCK, and cannot flip the rxe test mode"

NOBODY=${NOBODY_UID:-65534}

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr && _have_cmd setpriv
}

as_nobody() { setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups "$@"; }

test_case() {
	local dev expect=success bad=0 p=/sys/module/rdma_rxe/parameters/dma_test_mode
	rxe_add dev "$(rxe_netdev)" || return 1
	info "stock rxe as uid $NOBODY, RLIMIT_MEMLOCK 64 KiB"
	(ulimit -l 64 && RDMA_DEV=$dev RDMA_EXPECT=success as_nobody "$(test_bin reg_mr)") || bad=1
	if _have_testmode && _have_gate; then
		[ "$(dma_config)" = swiotlb ] && expect=refuse
		rxe_add dev "$(testmode_netdev)" testmode || return 1
		info "test-mode rxe as uid $NOBODY, expecting $expect"
		(ulimit -l 64 && RDMA_DEV=$dev RDMA_EXPECT=$expect as_nobody "$(test_bin reg_mr)") || bad=1
		if as_nobody sh -c "echo 1 > $p" 2>/dev/null; then
			fail "uid $NOBODY could write $p"; bad=1
			echo 0 >"$p"
		fi
		[ "$(cat $p)" = N ] || { fail "$p is $(cat $p) after the unprivileged write"; bad=1; }
		# Root: invalid input is refused and changes nothing.
		if echo maybe >"$p" 2>/dev/null; then fail "$p accepted 'maybe'"; bad=1; fi
		[ "$(cat $p)" = N ] || { fail "$p changed after invalid input"; bad=1; }
	else
		info "test-mode part not run: $SKIP_REASON"
	fi
	return $bad
}
