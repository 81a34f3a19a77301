#!/usr/bin/env bash
# `make mutants`: build the patched kernel with one small deliberate
# breakage at a time (tests/mutants/*.patch, applied on top of the series in
# a worktree of build/linux, ccache reused) and boot the guests that should
# catch it. A mutant is killed when a test point of those guests fails. Ends
# with a table (mutant, killed or SURVIVED, the test points that killed it)
# and exits non-zero if any mutant survived or could not be built.
#
#   ci/mutants.sh [--only NAME[,NAME...]] [--list]
#
# Each mutant names what should kill it in its header:
#   Mutant-Configs: swiotlb[,direct,...]   DMA configurations to boot
#   Mutant-Suites:  mr[,kunit,...]         suites to run there
# The guests are held to the patched kernel's expectation files
# (tests/expect/patched-CONFIG), so a mutant that only changes which cases
# skip is killed too.
. "$(dirname "$0")/lib.sh"

only= list=0
while [ $# -gt 0 ]; do
	case "$1" in
	--only) only=,${2:?--only needs a list of mutant names},; shift 2 ;;
	--list) list=1; shift ;;
	-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done

MDIR=$TOP/tests/mutants
hdr() { sed -n "s/^$2:[[:space:]]*//p" "$1" | head -1; }
mutants=()
for f in "$MDIR"/*.patch; do
	[ -f "$f" ] || continue
	n=$(basename "$f" .patch)
	[ -z "$only" ] || [[ $only == *,$n,* ]] || continue
	[ -n "$(hdr "$f" Mutant-Configs)" ] && [ -n "$(hdr "$f" Mutant-Suites)" ] ||
		die "$f lacks a Mutant-Configs: or Mutant-Suites: line"
	mutants+=("$n")
done
[ ${#mutants[@]} -gt 0 ] || die "no mutant matches${only:+ $only} in $MDIR"
if [ $list -eq 1 ]; then
	for n in "${mutants[@]}"; do
		printf '%-28s %-16s %-14s %s\n' "$n" "$(hdr "$MDIR/$n.patch" Mutant-Configs)" \
			"$(hdr "$MDIR/$n.patch" Mutant-Suites)" "$(hdr "$MDIR/$n.patch" Subject | sed 's/^\[PATCH\] //')"
	done
	exit 0
fi

prepare_all
"$TOP/ci/series.sh" status kernel >/dev/null ||
	log "note: build/linux has commits not exported to kernel/; the mutants go on top of what is built"

# One worktree at the tree's HEAD, reset before every mutant: make then
# rebuilds only what the mutant and the previous one touched.
wt=$BUILD/linux-mutant
base=$(git -C "$KSRC" rev-parse HEAD)
if [ ! -e "$wt/.git" ]; then
	git -C "$KSRC" worktree prune
	git -C "$KSRC" worktree add -q --detach "$wt" "$base"
fi
reset_tree() {
	git -C "$wt" checkout -q -f --detach "$base" &&
		git -C "$wt" reset -q --hard "$base"
}
trap 'reset_tree' EXIT

results=$BUILD/mutants
mkdir -p "$results"
rows=()
survived=0
for n in "${mutants[@]}"; do
	f=$MDIR/$n.patch
	cfgs=$(hdr "$f" Mutant-Configs) suites=$(hdr "$f" Mutant-Suites)
	log "== mutant $n: $(hdr "$f" Subject | sed 's/^\[PATCH\] //')"
	reset_tree || die "cannot reset $wt"
	if ! git -C "$wt" apply "$f"; then
		rows+=("$n|NOT APPLIED|tests/mutants/$n.patch does not apply to the series")
		survived=$((survived + 1))
		continue
	fi
	if ! "$TOP/ci/kernel-build.sh" --src "$wt" >"$results/$n.build.log" 2>&1; then
		rows+=("$n|NOT BUILT|see $results/$n.build.log")
		survived=$((survived + 1))
		continue
	fi
	rc=0
	"$TOP/tests/vm/matrix.sh" --configs "$cfgs" --suites "$suites" --tag "mutant-$n" \
		--expect patched --kernel "$BUILD/kbuild-linux-mutant/arch/x86/boot/bzImage" \
		>"$results/$n.log" 2>&1 || rc=$?
	if [ $rc -eq 0 ]; then
		rows+=("$n|SURVIVED|$cfgs: $suites all passed")
		survived=$((survived + 1))
		log "   SURVIVED"
		continue
	fi
	# What killed it: the failed test points, sub-tests first.
	killers=$(for c in ${cfgs//,/ }; do
		awk -v c="$c" '/^    not ok [0-9]+ / {print c ":" $4} /^not ok [0-9]+ / {print c ":" $4}' \
			"$BUILD/vm/mutant-$n-$c/output.ktap" 2>/dev/null
	done | awk '!seen[$0]++' | head -4 | paste -sd' ')
	rows+=("$n|killed|${killers:-the guest did not finish (see $results/$n.log)}")
	log "   killed by ${killers:-a guest that did not finish}"
done

printf '\n%-30s %-12s %s\n' mutant result "killed by"
for r in "${rows[@]}"; do
	IFS='|' read -r n res why <<<"$r"
	printf '%-30s %-12s %s\n' "$n" "$res" "$why"
done
echo
echo "$((${#mutants[@]} - survived)) killed, $survived survived (logs: $results/)"
[ $survived -eq 0 ]
