#!/usr/bin/env bash
# Compare rdma-core's whole suite on two kernels (tests/cases/pyverbs/002
# writes pyverbs-{failures,flaky,skipped}.txt into each results directory)
# and print one KTAP line.
#
#   tests/vm/pyverbs-compare.sh BASELINE_DIR DIR
#
# DIR (the patched kernel) fails where it has, and BASELINE_DIR (the stock
# kernel) has not:
#   - a failure (a test that failed four times running);
#   - a flaky test (failed, then passed when run again), unless it failed or
#     was flaky on the baseline too;
#   - a skip: rdma-core turns EOPNOTSUPP into a skip, so a registration the
#     patched kernel wrongly refuses shows up as a new skip.
# A missing list means the suite did not run there, and fails too.
# Tests in RACES below are listed, not judged: they race in rxe itself under
# TCG, so that how busy the host is decides them on either kernel.
set -u
# test_resize_cq posts six UD sends, then shrinks the CQ to 1 and expects
# EINVAL. rxe checks the shrink against the completions already queued;
# when the host is slow, fewer than two have arrived, the shrink succeeds,
# and the later completions are dropped ("rxe_cq_post: queue full" in
# dmesg), so the poll times out. Seen on the stock kernel (passed on its
# second try) and the patched one (failed four times, the host busier;
# 17 "queue full" lines against 6), 2026-12-02.
RACES='tests.test_cq.CQTest.test_resize_cq'

[ $# -eq 2 ] || { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
name="pyverbs: no failure, flake or skip the stock kernel does not have"
for d in "$1" "$2"; do
	for k in failures flaky skipped; do
		[ -f "$d/pyverbs-$k.txt" ] ||
			{ echo "not ok 1 $name"; echo "# missing $d/pyverbs-$k.txt: the whole-suite case did not run there"; exit 1; }
	done
done
echo "# stock:   $(tr '\n' ' ' 2>/dev/null <"$1/pyverbs-totals.txt")"
echo "# patched: $(tr '\n' ' ' 2>/dev/null <"$2/pyverbs-totals.txt")"

# only_in LIST... -- OURS: lines of OURS in none of the LISTs, RACES left out.
only_in() {
	local lists=()
	while [ "$1" != -- ]; do lists+=("$1"); shift; done
	sort -u "$2" | comm -13 <(cat "${lists[@]}" | sort -u) - | grep -vF "${RACES// /$'\n'}" || true
}
for r in $RACES; do
	for d in "$1" "$2"; do
		grep -hF "($r)" "$d"/pyverbs-{failures,flaky}.txt | sed "s|^|# racy in rxe, not judged ($(basename "$d")): |"
	done
done
bad=0
report() {
	[ -z "$2" ] && return 0
	echo "# $1:"; sed 's/^/#   /' <<<"$2"
	bad=1
}
report "failing on the patched kernel only" \
	"$(only_in "$1/pyverbs-failures.txt" -- "$2/pyverbs-failures.txt")"
report "flaky on the patched kernel only" \
	"$(only_in "$1/pyverbs-failures.txt" "$1/pyverbs-flaky.txt" -- "$2/pyverbs-flaky.txt")"
report "skipped on the patched kernel only" \
	"$(only_in "$1/pyverbs-skipped.txt" -- "$2/pyverbs-skipped.txt")"
gone=$(only_in "$2/pyverbs-failures.txt" -- "$1/pyverbs-failures.txt")
[ -z "$gone" ] || { echo "# failing on stock only:"; sed 's/^/#   /' <<<"$gone"; }
if [ $bad -ne 0 ]; then
	echo "not ok 1 $name"
	exit 1
fi
echo "ok 1 $name ($(wc -l <"$2/pyverbs-failures.txt") failing and $(wc -l <"$2/pyverbs-flaky.txt") flaky on both, $(wc -l <"$2/pyverbs-skipped.txt") skipped on both)"
