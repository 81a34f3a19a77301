#!/usr/bin/env bash
# Run the test suites in several DMA configurations, one guest boot each,
# and print one KTAP stream plus the closing line "N passed, N failed, N skipped".
#
#   tests/vm/matrix.sh [--configs direct,swiotlb,iommu] [--suites LIST]
#                      [--kernel PATH] [--tag NAME] [run-vm.sh options...]
#
# Results go to build/vm/<tag>-<config>/ (tag defaults to "check").
# Exit status: 0 only when every configuration finished and no test failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

configs=direct,swiotlb,iommu tag=check pass_through=()
while [ $# -gt 0 ]; do
	case "$1" in
	--configs) configs=${2:?--configs needs a list}; shift 2 ;;
	--tag) tag=${2:?--tag needs a name}; shift 2 ;;
	-h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) pass_through+=("$1"); shift ;;
	esac
done

IFS=, read -ra cfgs <<<"$configs"
for c in "${cfgs[@]}"; do
	case "$c" in direct | swiotlb | iommu) ;; *) echo "error: unknown DMA configuration '$c' (direct, swiotlb or iommu)" >&2; exit 2 ;; esac
done

pass=0 fail=0 skip=0 broken=()
for c in "${cfgs[@]}"; do
	out=$top/build/vm/$tag-$c
	"$here/run-vm.sh" --config "$c" --out "$out" "${pass_through[@]}"
	rc=$?
	[ $rc -eq 2 ] && exit 2 # bad arguments: stop at once
	if [ $rc -eq 125 ] || [ ! -f "$out/output.ktap" ]; then
		broken+=("$c")
		fail=$((fail + 1))
		continue
	fi
	p=$(grep -cE '^ok [0-9]+ ' "$out/output.ktap" | tr -d '\n')
	s=$(grep -cE '^ok [0-9]+ .*# SKIP' "$out/output.ktap" | tr -d '\n')
	f=$(grep -cE '^not ok [0-9]+ ' "$out/output.ktap" | tr -d '\n')
	pass=$((pass + p - s)) skip=$((skip + s)) fail=$((fail + f))
	echo "# config $c: $((p - s)) passed, $f failed, $s skipped"
	if [ $((p + f)) -eq 0 ]; then
		echo "# config $c: no test ran (empty plan); that proves nothing and counts as a failure"
		broken+=("$c")
		fail=$((fail + 1))
		continue
	fi
	grep -E '^not ok [0-9]+ ' "$out/output.ktap" | sed "s/^/# $c: /"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "# config $c: runner exited $rc without a failed test point"
		broken+=("$c")
		fail=$((fail + 1))
	fi
done
[ ${#broken[@]} -eq 0 ] || echo "# configurations that did not finish cleanly: ${broken[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
