# shellcheck shell=bash
DESCRIPTION="rdma-core's whole pyverbs suite (tests/run_tests.py) on stock rxe in direct: totals, and no failure beyond the baseline"
# Some 330 tests; about 10 minutes under TCG, plus up to three retries per failure.
TIMEOUT=1500

# PYVERBS_BASELINE: a file of failing test ids from the same suite on the
# kernel under comparison (one "FAIL: id" or "ERROR: id" per line, as this
# case writes them). Without it every failure is listed and counted, and the
# comparison is left to the caller: make check runs this case on the stock
# kernel too and compares the two lists (tests/vm/pyverbs-compare.sh).

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_dma_config direct || return 1
	[ -n "${RDMA_CORE_BUILD:-}" ] && [ -f "$RDMA_CORE_BUILD/../tests/run_tests.py" ] ||
		skip_because "needs an rdma-core build with pyverbs (RDMA_CORE_BUILD)" || return 1
	[ -z "${PYVERBS_BASELINE:-}" ] || [ -r "$PYVERBS_BASELINE" ] ||
		skip_because "PYVERBS_BASELINE=$PYVERBS_BASELINE is not a readable file"
}

# run_pyverbs DEV LOG [TEST...]: run_tests.py against DEV, output to LOG.
# Its stdin is /dev/null: a test that reads stdin must not eat the list of
# failures the retry loop below is reading.
run_pyverbs() {
	local dev=$1 log=$2
	shift 2
	PYTHONPATH=$RDMA_CORE_BUILD/python /usr/bin/python3 "$RDMA_CORE_BUILD/../tests/run_tests.py" \
		--dev "$dev" -v "$@" >"$log" 2>&1 </dev/null
}

# retry_failures DEV IDS FLAKY: run each failed test on its own, up to three
# more times. One that passes once moves from IDS to FLAKY: under TCG a CQ
# poll can time out on a loaded host (test_cq's test_resize_cq does, on
# stock and patched kernels alike). FLAKY is compared with the stock
# kernel's like the failures: flaky on the patched kernel only fails.
retry_failures() {
	local dev=$1 ids=$2 flaky=$3 line name keep=$CASE_TMP/still-failing try passed
	: >"$keep"
	: >"$flaky"
	while IFS= read -r line; do
		name=${line##*(tests.}
		name=${name%)}
		passed=0
		for try in 1 2 3; do
			if run_pyverbs "$dev" "$CASE_TMP/retry.log" "$name"; then
				passed=$try
				break
			fi
		done
		if [ $passed -gt 0 ]; then
			info "flaky, passed when run again (try $passed): $line"
			echo "$line" >>"$flaky"
		else
			echo "$line" >>"$keep"
			info "failed 3 more times on its own: $line; the last run:"
			sed 's/^/#   retry: /' "$CASE_TMP/retry.log"
		fi
	done <"$ids"
	mv "$keep" "$ids"
}

test_case() {
	local dev log=$CASE_TMP/pyverbs.log ids=$CASE_TMP/failures flaky=$CASE_TMP/flaky
	local skipped=$CASE_TMP/skipped rc n_ok new
	rxe_add dev "$(rxe_netdev)" || return 1
	info "run_tests.py --dev $dev (every module; output below)"
	run_pyverbs "$dev" "$log"
	rc=$?
	sed 's/^/#   /' "$log"
	# unittest's closing summary names each failing test once.
	grep -E '^(FAIL|ERROR): ' "$log" | sed 's/ *$//' | sort -u >"$ids"
	n_ok=$(grep -cE ' \.\.\. ok$' "$log")
	info "pyverbs totals: $(grep -E '^Ran [0-9]+ tests' "$log"), ${n_ok} ok," \
		"$(grep -E '^(OK|FAILED)( |$)' "$log" | tail -1), exit $rc"
	grep -qE '^Ran [0-9]+ tests' "$log" || { fail "run_tests.py did not finish (exit $rc)"; return 1; }
	[ "$n_ok" -gt 0 ] || { fail "no test passed: the suite proved nothing"; return 1; }
	# What skipped, by test id: a skip the stock kernel does not have is a
	# refusal rdma-core turned into a skip (it skips on EOPNOTSUPP).
	unittest_results "$log" | awk -F'\t' '$3 == "skip" {print $1}' | sort -u >"$skipped"
	info "$(wc -l <"$skipped") tests skipped"
	retry_failures "$dev" "$ids" "$flaky"
	if [ -n "${RDMA_TEST_ARTIFACTS:-}" ] && [ -d "$RDMA_TEST_ARTIFACTS" ]; then
		cp "$ids" "$RDMA_TEST_ARTIFACTS/pyverbs-failures.txt"
		cp "$flaky" "$RDMA_TEST_ARTIFACTS/pyverbs-flaky.txt"
		cp "$skipped" "$RDMA_TEST_ARTIFACTS/pyverbs-skipped.txt"
		grep -E '^Ran [0-9]+ tests|^(OK|FAILED)' "$log" >"$RDMA_TEST_ARTIFACTS/pyverbs-totals.txt"
	fi
	[ -s "$ids" ] && info "failing here: $(wc -l <"$ids")" && sed 's/^/#     /' "$ids"
	[ -n "${PYVERBS_BASELINE:-}" ] || return 0
	new=$(sort -u "$PYVERBS_BASELINE" | comm -13 - "$ids")
	[ -z "$new" ] || { fail "failures the baseline does not have:"; sed 's/^/#     /' <<<"$new"; return 1; }
	info "no failure beyond the $(wc -l <"$PYVERBS_BASELINE") of $PYVERBS_BASELINE"
}
