#!/usr/bin/env bash
# The full test run: install, fetch, build, then boot every DMA configuration
# and run every suite. Closing line: "N passed, N failed, N skipped".
#
#   ci/check.sh [--configs LIST] [--suites LIST] [--jobs N]
#
# --jobs N (JOBS): guests booted at once, 1..4 (default 2).
# A guest whose last run passed and whose inputs are byte-identical is not
# booted again (tests/vm/matrix.sh --reuse); FRESH=1 boots every guest.
. "$(dirname "$0")/lib.sh"
rm -f "$BUILD"/check-*.log

configs=${CONFIGS:-direct,swiotlb,iommu}
suites=${SUITES:-}
jobs=${JOBS:-2}
while [ $# -gt 0 ]; do
	case "$1" in
	--configs) configs=${2:?--configs needs a list}; shift 2 ;;
	--suites) suites=${2:?--suites needs a list}; shift 2 ;;
	--jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
	-h | --help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done

case ${FRESH:-0} in
0 | '') reuse=(--reuse) ;;
1) reuse=() ;;
*) die "FRESH wants 0 or 1, got '$FRESH'" ;;
esac
case $jobs in [1-4]) ;; *) die "--jobs (JOBS) wants 1 to 4, got '$jobs'" ;; esac
IFS=, read -ra _c <<<"$configs"
for c in "${_c[@]}"; do
	case $c in direct | swiotlb | iommu) ;; *) die "unknown DMA configuration '$c' (direct, swiotlb or iommu)" ;; esac
done

prepare_all
need_nogate=0
if [ -z "$suites" ] || [[ ,$suites, == *,hazard,* ]]; then
	need_nogate=1
	step "kernel build (nogate: rxe test mode without the gate)" "$TOP/ci/kernel-build.sh" --variant nogate
fi

# Every guest is one matrix.sh run; up to $jobs of them boot at once. A TCG
# guest spends much of a case waiting (peers, timers, the 9p root), so two
# guests on two cores finish well before two in a row.
runs=()
IFS=, read -ra cfgs <<<"$configs"
for c in "${cfgs[@]}"; do
	runs+=("check $c --configs $c --tag check${suites:+ --suites $suites}")
done
# The same test mode on a kernel without the gate must show the corruption.
[ $need_nogate -eq 1 ] &&
	runs+=("nogate swiotlb --configs swiotlb --suites hazard,mr --tag nogate --kernel $BUILD/kbuild-nogate/arch/x86/boot/bzImage")
# Debian's own userspace (no rdma-core-patches) on the patched kernel: it
# must keep working where DMA is coherent and simply see EOPNOTSUPP where
# registration is refused.
[ -z "$suites" ] &&
	runs+=("debian-userspace swiotlb --configs swiotlb --suites smoke,mr --tag debian-userspace --no-rdma-core")

# run_one TAG CONFIG ARGS...: one guest, output prefixed with its name.
run_one() {
	local name=$1-$2 rc=0
	shift 2
	"$TOP/tests/vm/matrix.sh" "$@" "${reuse[@]}" 2>&1 | tee "$BUILD/check-$name.log" |
		sed -u "s/^/[$name] /" || rc=$?
	return $rc
}

tests_all() {
	local r pids=() names=() i rc=0 running
	for r in "${runs[@]}"; do
		# shellcheck disable=SC2086
		set -- $r
		while running=$(jobs -rp | wc -l) && [ "$running" -ge "$jobs" ]; do wait -n || true; done
		log "guest $1-$2 starting ($(jobs -rp | wc -l) already running)"
		run_one "$@" &
		pids+=($!) names+=("$1-$2")
	done
	for i in "${!pids[@]}"; do
		if wait "${pids[$i]}"; then
			log "guest ${names[$i]} passed"
		else
			log "guest ${names[$i]} FAILED (log: $BUILD/check-${names[$i]}.log)"
			rc=1
		fi
	done
	return $rc
}
rc=0
step "tests: ${#runs[@]} guests, $jobs at a time" tests_all || rc=1

# One closing line over all runs.
cat "$BUILD"/check-*.log 2>/dev/null | awk '
	/^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$/ {p+=$1; f+=$3; s+=$5}
	END {printf "%d passed, %d failed, %d skipped\n", p, f, s}'
exit $rc
