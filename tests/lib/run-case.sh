#!/usr/bin/env bash
# Run one case file: source it, check requires(), run test_case(), clean up.
# Exit: 0 pass, 1 fail, 4 skip (reason in $CASE_TMP/skip_reason).
set -u
[ -n "${CASE_TMP:-}" ] && [ -d "$CASE_TMP" ] || { echo "run-case.sh: CASE_TMP must name a directory (run.sh makes one)" >&2; exit 2; }
. "$(dirname "$0")/common.sh"
case_file=$1
# shellcheck disable=SC1090
. "$case_file"

cleanup() {
	cleanup_peers
	declare -F case_cleanup >/dev/null && case_cleanup
	umem_switches_on
	rxe_del_all
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if declare -F requires >/dev/null && ! requires; then
	echo "${SKIP_REASON:-prerequisite missing}" >"$CASE_TMP/skip_reason"
	exit "$KSFT_SKIP"
fi
rc=0
test_case || rc=$?
# A failed sub-test fails its case, whatever test_case returned.
# (Builtins only: under TCG every process costs a good part of a second.)
failed=()
if [ $rc -eq 0 ] && [ -s "$CASE_TMP/subtests" ]; then
	while read -r sub result _; do
		[ "$result" != fail ] || failed+=("$sub")
	done <"$CASE_TMP/subtests"
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "# FAIL: sub-tests failed: ${failed[*]}"
	rc=1
fi
exit $rc
