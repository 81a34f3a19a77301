#!/usr/bin/env bash
# Compare the pyverbs failures of two guests (tests/cases/pyverbs/002 writes
# pyverbs-failures.txt into each results directory) and print one KTAP line.
#
#   tests/vm/pyverbs-compare.sh BASELINE_DIR DIR
#
# A failure in DIR that BASELINE_DIR (the stock kernel) does not have fails;
# so does a missing list, which means the suite did not run. Exit 0 or 1.
set -u
[ $# -eq 2 ] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
base=$1/pyverbs-failures.txt ours=$2/pyverbs-failures.txt
name="pyverbs: no failure the stock kernel does not have"
for f in "$base" "$ours"; do
	[ -f "$f" ] || { echo "not ok 1 $name"; echo "# missing $f: the whole-suite case did not run there"; exit 1; }
done
echo "# stock:   $(tr '\n' ' ' <"$1/pyverbs-totals.txt" 2>/dev/null)"
echo "# patched: $(tr '\n' ' ' <"$2/pyverbs-totals.txt" 2>/dev/null)"
new=$(sort -u "$base" | comm -13 - <(sort -u "$ours"))
gone=$(sort -u "$ours" | comm -13 - <(sort -u "$base"))
[ -z "$gone" ] || { echo "# failing on stock only:"; sed 's/^/#   /' <<<"$gone"; }
if [ -n "$new" ]; then
	echo "not ok 1 $name"
	echo "# new failures:"; sed 's/^/#   /' <<<"$new"
	exit 1
fi
echo "ok 1 $name ($(wc -l <"$ours") failing on both)"
