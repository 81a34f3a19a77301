#!/usr/bin/env bash
# Run one case file: source it, check requires(), run test_case(), clean up.
# Exit: 0 pass, 1 fail, 4 skip (reason in $CASE_TMP/skip_reason).
set -u
. "$(dirname "$0")/common.sh"
case_file=$1
# shellcheck disable=SC1090
. "$case_file"

cleanup() {
	cleanup_peers
	declare -F case_cleanup >/dev/null && case_cleanup
	rxe_del_all
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if declare -F requires >/dev/null && ! requires; then
	echo "${SKIP_REASON:-prerequisite missing}" >"$CASE_TMP/skip_reason"
	exit "$KSFT_SKIP"
fi
test_case
