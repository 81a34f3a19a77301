# shellcheck shell=bash
DESCRIPTION="rdma-core pyverbs test_dma_coherence on stock rxe and, where available, test-mode rxe"
# Python under TCG: minutes on a busy host.
TIMEOUT=600

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_gate || return 1
	[ -n "${RDMA_CORE_BUILD:-}" ] && [ -f "$RDMA_CORE_BUILD/../tests/run_tests.py" ] ||
		skip_because "needs an rdma-core build with pyverbs (RDMA_CORE_BUILD)" || return 1
	[ -f "$RDMA_CORE_BUILD/../tests/test_dma_coherence.py" ] ||
		skip_because "rdma-core without this project's test_dma_coherence.py"
}

# run_pyverbs DEV KIND: run the module against DEV, each test a sub-test
# KIND.NAME; fail on failures or errors. Which tests skip where is pinned
# down by the expectation files: a device that does not refuse skips the
# refusal tests, and that must be the reason given.
run_pyverbs() {
	local dev=$1 log=$CASE_TMP/pyverbs.$1
	# bin/run_tests.py is a wrapper with build-time paths; call the real one.
	PYTHONPATH=$RDMA_CORE_BUILD/python /usr/bin/python3 "$RDMA_CORE_BUILD/../tests/run_tests.py" \
		--dev "$dev" -v test_dma_coherence >"$log" 2>&1 </dev/null
	local rc=$?
	sed 's/^/#   /' "$log"
	unittest_subtests "$2" "$log" || return 1
	[ $rc -eq 0 ] || { fail "run_tests.py exited $rc on $dev"; return 1; }
}

test_case() { each_rxe run_pyverbs; }
