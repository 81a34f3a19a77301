#!/usr/bin/env bash
# The test run: install, fetch, build, then boot the guests and run the
# suites, each guest held to its expectation file (tests/expect/). Closing
# line: "N passed, N failed, N skipped"; the exit status is non-zero on any
# failure.
#
#   ci/check.sh [--full] [--configs LIST] [--suites LIST] [--jobs N]
#
# make check (CI, .ci/run): the patched kernel, built for x86 and (niced,
# beside the guests) cross-built for arm64 (ARM64=0 skips that); on both,
# the C files the series changes are compiled again with W=1, and a warning
# fails the run (kernel-build.sh --w1). Every suite
# but rdma-core's whole pyverbs suite on it in direct, swiotlb and iommu,
# compat under swiotlb only (hazard/ shows the corruption on the same
# kernel through its require_coherent test switch), Debian's own rdma-core
# on it under swiotlb, and the arm64 guest whose PCI devices are
# non-coherent (make check-arm64's noncoherent guest).
# --full (make check-full) adds, on kernels built in the background
# meanwhile: the stock kernel (every patched-kernel case skips; rdma-core's
# whole suite on it and on the patched kernel, compared), the nogate kernel
# (the corruption on real stock code paths), KASAN, Debian 12's own kernel;
# then both series checked as Debian quilt series, make check-compat, make
# deb and make mutants.
# --jobs N (JOBS): guests booted at once, 1..4 (default 2).
# A guest whose last run passed and whose inputs are byte-identical is not
# booted again (tests/vm/matrix.sh --reuse); FRESH=1 boots every guest.
. "$(dirname "$0")/lib.sh"
rm -f "$BUILD"/check-*.log

configs=${CONFIGS:-direct,swiotlb,iommu}
suites=${SUITES:-}
jobs=${JOBS:-2}
full=0
while [ $# -gt 0 ]; do
	case "$1" in
	--full) full=1; shift ;;
	--configs) configs=${2:?--configs needs a list}; shift 2 ;;
	--suites) suites=${2:?--suites needs a list}; shift 2 ;;
	--jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
	-h | --help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done

reuse=() && fresh_reuse
case $jobs in [1-4]) ;; *) die "--jobs (JOBS) wants 1 to 4, got '$jobs'" ;; esac
IFS=, read -ra _c <<<"$configs"
for c in "${_c[@]}"; do
	case $c in direct | swiotlb | iommu) ;; *) die "unknown DMA configuration '$c' (direct, swiotlb or iommu)" ;; esac
done

prepare_all --w1

# filter_suites LIST GREP-OPTIONS PATTERN: the suites of the comma-separated
# LIST that grep keeps, comma-separated again.
filter_suites() { tr , '\n' <<<"$1" | grep "$2" "$3" | paste -sd,; }

# Every suite; make check leaves rdma-core's whole suite (about 330 tests,
# a baseline comparison with the stock kernel) to make check-full.
all_suites=$(cd "$TOP/tests/cases" && ls -d -- */ | tr -d / | paste -sd,)
check_suites=$(filter_suites "$all_suites" -vx pyverbs-full)
guest_suites=${suites:-$([ $full -eq 1 ] && echo "$all_suites" || echo "$check_suites")}

# Other kernels some guests boot. They are built one after the other, at the
# lowest CPU priority, while the guests on the patched kernel already run: a
# TCG guest leaves much of the CPU idle (it waits on peers, timers, the 9p
# root), and a niced build fills that time without slowing the guests much.
# Built in the order their guests are long: stock's guest runs rdma-core's
# whole suite, nogate's takes a few minutes.
variants=()
if [ $full -eq 1 ]; then
	# The same config without the series: the baseline for rdma-core's
	# own suite, and a kernel on which every patched-kernel case skips.
	[[ ,$configs, == *,direct,* ]] && variants+=(stock)
	# The debug kernel with KASAN on top.
	variants+=(kasan)
	# The test mode without the gate, where the corruption must show.
	variants+=(nogate)
fi
# The patched kernel cross-built for arm64, with the arm64 root filesystem,
# rdma-core and the test programs (ci/check-arm64.sh --prepare), for the
# guest that proves the non-coherent path (the other arm64 guests are make
# check-arm64's). Cold, the kernel took 1245 s niced beside make check's
# guests on a new 2-core machine (2026-12-02), and make check itself
# 1898 s, so it ends a few minutes after the x86 guests. ARM64=0 leaves
# it out.
[ "${ARM64:-1}" = 0 ] || variants+=(arm64)
has_variant() { [[ " ${variants[*]} " == *" $1 "* ]]; }

# Debian 12's own kernel and userspace: tests/ as distro CI runs it on a
# stock Debian 12 machine (every patched-kernel case must skip with its
# reason). Downloaded, not built: ready before the first guest.
debian12=0
if [ $full -eq 1 ] && [ -z "$suites" ] && [[ ,$configs, == *,direct,* ]]; then
	debian12=1
	step "Debian 12 kernel (linux-image-amd64, unpacked with an initramfs)" "$TOP/ci/debian-kernel.sh"
fi

rm -f "$BUILD"/.variant-{built,failed}-*
build_variants() {
	local v args what
	for v in "${variants[@]}"; do
		case $v in
		arm64) what="arm64 kernel, root filesystem, rdma-core and test programs"
			args=("$TOP/ci/check-arm64.sh" --guests noncoherent --prepare) ;;
		*) what="kernel build ($v)" args=("$TOP/ci/kernel-build.sh" --variant "$v") ;;
		esac
		if step "$what (niced, alongside the guests)" nice -n 19 "${args[@]}"; then
			touch "$BUILD/.variant-built-$v"
		else
			touch "$BUILD/.variant-failed-$v"
		fi
	done
}
builder=
# An interrupted or failed check must not leave a kernel build running.
kill_tree() {
	local c
	for c in $(pgrep -P "$1"); do kill_tree "$c"; done
	kill "$1" 2>/dev/null || true
}
stop_builder() { [ -z "$builder" ] || ! kill -0 "$builder" 2>/dev/null || kill_tree "$builder"; }
trap stop_builder EXIT
trap 'exit 130' INT TERM
if [ ${#variants[@]} -gt 0 ]; then
	build_variants > >(sed -u 's/^/[build] /') 2>&1 &
	builder=$!
	log "building ${variants[*]} in the background (log lines prefixed [build])"
fi

# variant_built V: kernel V is there to boot (- is the patched kernel).
variant_built() { [ "$1" = - ] || [ -e "$BUILD/.variant-built-$1" ]; }

# Every guest is one matrix.sh run: "NAME CONFIG KERNEL-VARIANT ARGS...",
# listed longest first. Up to $jobs boot at once; a free slot takes the first
# guest whose kernel is ready, so nothing sits waiting on a build.
runs=()
IFS=, read -ra cfgs <<<"$configs"
# Every suite in every configuration, but compat only under swiotlb: it
# checks userspace that is not this project's against the refusal, which
# only swiotlb shows on x86 (make check-compat runs it on other kernels).
# (Until the case bookkeeping used builtins, direct and iommu had to leave
# out some suites to fit the hour: a whole-suite guest took about an hour
# with three guests on 2 cores; with builtins the swiotlb guest with every
# suite took 22 min beside one other guest.)
for c in "${cfgs[@]}"; do
	s=$guest_suites
	[ -n "$suites" ] || [ "$c" = swiotlb ] || s=$(filter_suites "$s" -vx compat)
	# rdma-core's whole suite is a comparison with the stock kernel, which
	# runs it in direct only (it needs direct: it skips elsewhere).
	[ -n "$suites" ] || [ "$c" = direct ] || s=$(filter_suites "$s" -vx pyverbs-full)
	runs+=("check $c - --configs $c --tag check --expect patched --suites $s")
done
# The stock kernel: pyverbs' baseline, and every patched-kernel case skips.
has_variant stock &&
	runs+=("stock direct stock --configs direct --suites env,kunit,mr,fault,hazard,pyverbs,pyverbs-full --tag stock --expect stock --kernel $BUILD/kbuild-stock/arch/x86/boot/bzImage")
# Debian's own userspace (no rdma-core-patches) on the patched kernel: it
# must keep working where DMA is coherent and simply see EOPNOTSUPP where
# registration is refused.
[ -z "$suites" ] &&
	runs+=("debian-userspace swiotlb - --configs swiotlb --suites env,smoke,mr --tag debian-userspace --expect debian-userspace --no-rdma-core")
# Concurrency, leaks and fault injection once more under
# KASAN, with swiotlb so that refusal and success run side by side.
has_variant kasan &&
	runs+=("kasan swiotlb kasan --configs swiotlb --suites env,stress,leak,fault --tag kasan --expect patched --kernel $BUILD/kbuild-kasan/arch/x86/boot/bzImage")
# Debian 12's own kernel: every patched-kernel case skips with its reason.
[ $debian12 -eq 1 ] &&
	runs+=("debian12 direct - --configs direct --tag debian12 --expect debian12 --no-rdma-core --kernel $BUILD/debian-kernel/vmlinuz --initrd $BUILD/debian-kernel/initrd.img")
# The same test mode on a kernel without the gate must show the corruption
# (hazard), and its bounced MRs must take and give back SWIOTLB slots (mr,
# leak). Where MRs bounce, reg_mr gives a second simultaneous MR a page of
# its own: two bounced MRs over one page really overlap, and stock 6.12's
# dma-debug says so.
has_variant nogate &&
	runs+=("nogate swiotlb nogate --configs swiotlb --suites env,mr,leak,hazard --tag nogate --expect nogate --kernel $BUILD/kbuild-nogate/arch/x86/boot/bzImage")
# Non-coherent DMA, end to end: arm64 PCI devices without dma-coherent.
# Every user-memory verb is refused before pinning, hazard/002 shows what
# the refusal prevents; the same guest, tag and expectation file as make
# check-arm64's, so either run reuses the other's passed result.
has_variant arm64 &&
	runs+=("arm64 noncoherent arm64 $("$TOP/ci/check-arm64.sh" --guests noncoherent ${suites:+--suites "$suites"} --matrix-args)")

# run_one TAG CONFIG VARIANT ARGS...: one guest, output prefixed with its name.
run_one() {
	local name=$1-$2 rc=0
	# The scheduler starts a guest only once its build is over.
	if ! variant_built "$3"; then
		echo "0 passed, 1 failed, 0 skipped" >"$BUILD/check-$name.log"
		log "guest $name not booted: the $3 kernel (or what its guest needs) did not build (see the [build] lines)"
		return 1
	fi
	shift 3
	"$TOP/tests/vm/matrix.sh" "$@" "${reuse[@]}" 2>&1 | tee "$BUILD/check-$name.log" |
		sed -u "s/^/[$name] /" || rc=$?
	return $rc
}

running_guests() {
	local p n=0
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
	echo $n
}

# variant_settled V: V's build is over, or was never wanted (-).
variant_settled() {
	variant_built "$1" || [ -e "$BUILD/.variant-failed-$1" ] || ! kill -0 "$builder" 2>/dev/null
}

tests_all() {
	local pending=("${runs[@]}") pids=() names=() i pick rc=0 running
	while [ ${#pending[@]} -gt 0 ]; do
		# Count guests only: the background kernel build is a job too.
		while running=$(running_guests) && [ "$running" -ge "$jobs" ]; do wait -n || true; done
		pick=
		for i in "${!pending[@]}"; do
			# shellcheck disable=SC2086
			set -- ${pending[$i]}
			variant_settled "$3" && { pick=$i; break; }
		done
		if [ -z "$pick" ]; then
			sleep 5
			continue
		fi
		# shellcheck disable=SC2086
		set -- ${pending[$pick]}
		unset "pending[$pick]"
		pending=("${pending[@]}")
		log "guest $1-$2 starting ($running already running)"
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
if [ -n "$builder" ]; then wait "$builder" || true; fi

# rdma-core's whole suite ran on the stock and the patched kernel (direct):
# a failure only the patched kernel has is a regression.
pyverbs_compare() {
	local r=0
	"$TOP/tests/vm/pyverbs-compare.sh" "$BUILD/vm/stock-direct" "$BUILD/vm/check-direct" || r=1
	if [ $r -eq 0 ]; then echo "1 passed, 0 failed, 0 skipped"; else echo "0 passed, 1 failed, 0 skipped"; fi
	return $r
}
if has_variant stock; then
	pyverbs_compare | tee "$BUILD/check-pyverbs-compare.log" | sed -u 's/^/[pyverbs-compare] /' || rc=1
fi

# What failed, last, where a CI log cut to its tail still shows it: for each
# failed test point the case's header, its FAIL and error lines and its last
# lines; then one line per failure.
recap() {
	local f name
	for f in "$BUILD"/check-*.log; do
		[ -f "$f" ] || continue
		name=${f##*/check-} name=${name%.log}
		awk -v n="$name" '
			/^# [a-z0-9]+\/[0-9]+-[^ ]*: / && !/: [0-9]+ ms$/ {head = $0; nb = 0; nf = 0}
			{blk[nb++ % 6] = $0}
			/FAIL|[Ee]rror|BUG|WARNING|Oops|timed out|not listening|REJECTED/ && nf < 15 {why[nf++] = $0}
			/^not ok [0-9]+ / {
				print "== [" n "] " $0
				if (head != "") print "   " head
				for (i = 0; i < nf; i++) print "   " why[i]
				print "   ... its last lines:"
				for (i = (nb > 6 ? nb - 6 : 0); i < nb - 1; i++) print "   " blk[i % 6]
				nb = 0; nf = 0; head = ""
			}' "$f"
	done
	grep -HE '^(# [a-z]+: not ok |# config [a-z]+: (runner exited|no test ran)|# configurations that did not finish|0 passed, 1 failed, 0 skipped$)' \
		"$BUILD"/check-*.log 2>/dev/null | sed -E 's|^.*/check-([^:]*)\.log:|FAILED [\1] |'
}
if [ $rc -ne 0 ]; then
	echo "== what failed (whole logs: $BUILD/check-NAME.log, serial logs under $BUILD/vm/)"
	recap
fi

# make check-full also checks both series as Debian quilt series (every
# patch applies to pristine with quilt push --fuzz=0, and the result is the
# git am tree), runs the compatibility guests (make check-compat) and make
# deb, and ends with the mutants: one deliberate breakage of the series at a time, each
# of which the suites must catch.
if [ $full -eq 1 ] && [ -z "$suites" ]; then
	debian_series() {
		local r=0 s
		for s in kernel rdma-core; do
			"$TOP/ci/series.sh" export-debian "$s" "$BUILD/debian-patches/$s" || r=1
		done
		if [ $r -eq 0 ]; then echo "1 passed, 0 failed, 0 skipped"; else echo "0 passed, 1 failed, 0 skipped"; fi
		return $r
	}
	debian_series 2>&1 | tee "$BUILD/check-debian-series.log" | sed -u 's/^/[debian-series] /' || rc=1
	# tier NAME CMD...: a tier whose guests print their own closing lines;
	# only its total (the last one) counts here, and a run that ended
	# before printing any counts as one failure.
	tier() {
		local name=$1 r=0
		shift
		"$@" 2>&1 | tee "$BUILD/$name-all.log" | sed -u "s/^/[$name] /" || r=1
		grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$BUILD/$name-all.log" | tail -1 \
			>"$BUILD/check-$name.log"
		[ -s "$BUILD/check-$name.log" ] || echo "0 passed, 1 failed, 0 skipped" >"$BUILD/check-$name.log"
		return $r
	}
	tier compat "$TOP/ci/check-compat.sh" || rc=1
	# make deb: Debian's cloud-amd64 configuration built as packages and
	# booted.
	tier deb "$TOP/ci/deb.sh" || rc=1

	mutants() {
		local r=0
		"$TOP/ci/mutants.sh" || r=1
		if [ $r -eq 0 ]; then echo "1 passed, 0 failed, 0 skipped"; else echo "0 passed, 1 failed, 0 skipped"; fi
		return $r
	}
	mutants 2>&1 | tee "$BUILD/check-mutants.log" | sed -u 's/^/[mutants] /' || rc=1
fi

# One closing line over all runs.
cat "$BUILD"/check-*.log 2>/dev/null | awk '
	/^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$/ {p+=$1; f+=$3; s+=$5}
	END {printf "%d passed, %d failed, %d skipped\n", p, f, s}'
exit $rc
