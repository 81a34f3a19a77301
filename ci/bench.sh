#!/usr/bin/env bash
# make bench: what the coherent-DMA gate costs where DMA is coherent, and what
# early refusal saves where it is not. Stock against patched, in one run, on
# this machine; results in build/bench/ (report.html to read; results.md,
# results.csv, latency-MODE.png, scale-MODE.png, raw.csv) and the Markdown
# tables on stdout.
#
#   ci/bench.sh [--reps N] [--rounds N] [--wall-rounds N] [--sizes LIST]
#               [--scale-sizes LIST] [--pages 4k|huge] [--modes LIST]
#               [--kernels KIND] [--benches LIST] [--no-build]
#
#   --reps N      repetitions per measurement and boot, 5..50 (default 5)
#   --rounds N    boots of each kernel for B1, B3 and B4 in counted mode,
#                 1..10 (default 6: with 3, B1 at 2 MiB and 1 GiB dereg
#                 stayed unresolved; the layouts differ from boot to boot)
#   --wall-rounds N
#                 the same in wall mode, 1..10 (default 1: wall figures are
#                 shown, not judged, and more boots do not make host time
#                 steadier)
#   --sizes LIST  registration sizes for B1/B2 (default 4K,64K,2M,64M,1G)
#   --scale-sizes LIST
#                 sizes of the scale curves (default 4K to 4G in powers of
#                 4; the guests get twice the largest in memory, at least 3G
#                 and at most 16G, so the largest size is at most 8G; the
#                 success curves stop at 1G, rxe's limit); none leaves them
#                 out
#   --pages P     4k (default): buffers backed by 4 KiB pages only, so that
#                 pinning costs the same per page whatever THP gives a boot;
#                 huge: transparent huge pages where the kernel gives them
#   --modes LIST  wall, counted or both (default wall,counted): how each
#                 guest is timed; with both, every guest boots twice
#   --kernels K   release (default) or debug: how the kernels are configured
#   --benches LIST
#                 which of B1,B2,B3,B4 to run (default all four); guests
#                 and kernels that none of them needs are left out (stock
#                 is built and booted for B3 only)
#   --no-build    use the kernels and rdma-core already built (no package,
#                 source or build step, and no build lock: counted guests
#                 can run while another kernel builds); stops if one is
#                 missing
#
# Kernels, all configured alike: patched (kernel/series), stock (no
# patches) and nogate (only the rxe test-mode patches: B1's baseline,
# because stock rxe has no test mode). release: as a distribution ships
# them, Debian's own cloud-amd64 configuration plus rxe, the series' test
# aids and dma_map_benchmark (kernel-build.sh --release; no lockdep,
# kmemleak, dma-debug, fault injection or KASAN), booted with no debug
# switches. debug: the kernels make check tests (kernel/configs/*.config),
# booted with dma_debug=off kmemleak=off lockdep.prove_locking=0, which
# switches the debug code off but leaves it compiled in. results.md names
# each kernel's configuration and the sha256 of its .config.
# Each round boots, under TCG:
#   nogate  direct   B1 baseline
#   patched direct   B1, B3, B4
#   stock   direct   B3 baseline
# in alternating order, and once at the end:
#   patched swiotlb  B2 (early, then late refusal)
# The first round's judged nogate and patched guests then profile one
# 64 MiB registration with function_graph: where the two kernels' time
# goes, callee by callee. Each of these guests boots once per mode:
#   wall     ordinary multi-threaded TCG; times are host time passing, and
#            one boot can be 2x faster than the next for the same kernel;
#            these guests run first, one at a time, alone on the host
#   counted  single-threaded TCG counting instructions (run-vm.sh --icount
#            0: -icount shift=0,sleep=off); times are guest virtual time,
#            1 ns per executed instruction, which host load does not move;
#            so these run two at a time (on a host with 2 CPUs or more)
# Every figure pools the samples of all rounds of its mode; the goals are
# judged on the counted figures (on wall only when counted is not run), and
# results.csv names the mode and accelerator of every row.
. "$(dirname "$0")/lib.sh"
# shellcheck source=../bench/lib.sh
. "$(dirname "$0")/../bench/lib.sh"

reps=${BENCH_REPS:-5} rounds=${BENCH_ROUNDS:-6} wall_rounds=${BENCH_WALL_ROUNDS:-1} sizes=${BENCH_SIZES:-4K,64K,2M,64M,1G}
modes=${BENCH_MODES:-wall,counted} kernels=${BENCH_KERNELS:-release} benches=${BENCH_BENCHES:-B1,B2,B3,B4} build=1
scale_sizes=${BENCH_SCALE_SIZES:-4K,16K,64K,256K,1M,4M,16M,64M,256M,1G,4G} pages=${BENCH_PAGES:-4k}
while [ $# -gt 0 ]; do
	case "$1" in
	--reps) reps=${2:-}; shift 2 || die "--reps needs a number" ;;
	--rounds) rounds=${2:-}; shift 2 || die "--rounds needs a number" ;;
	--wall-rounds) wall_rounds=${2:-}; shift 2 || die "--wall-rounds needs a number" ;;
	--sizes) sizes=${2:-}; shift 2 || die "--sizes needs a list" ;;
	--scale-sizes) scale_sizes=${2:-}; shift 2 || die "--scale-sizes needs a list or none" ;;
	--pages) pages=${2:-}; shift 2 || die "--pages needs 4k or huge" ;;
	--modes) modes=${2:-}; shift 2 || die "--modes needs a list" ;;
	--kernels) kernels=${2:-}; shift 2 || die "--kernels needs release or debug" ;;
	--benches) benches=${2:-}; shift 2 || die "--benches needs a list" ;;
	--no-build) build=0; shift ;;
	-h | --help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done
# want_int OPTION VALUE LOW HIGH: VALUE is a whole number in LOW..HIGH.
want_int() {
	case $2 in '' | *[!0-9]*) die "$1 wants a number from $3 to $4, got '$2'" ;; esac
	[ "$2" -ge "$3" ] && [ "$2" -le "$4" ] || die "$1 wants a number from $3 to $4, got '$2'"
}
want_int --reps "$reps" 5 50
want_int --rounds "$rounds" 1 10
want_int --wall-rounds "$wall_rounds" 1 10
[[ $sizes =~ ^[0-9]+[KMG]?(,[0-9]+[KMG]?)*$ ]] ||
	die "--sizes wants a comma-separated list like 4K,64K,2M, got '$sizes'"
[ "$scale_sizes" = none ] || [[ $scale_sizes =~ ^[0-9]+[KMG]?(,[0-9]+[KMG]?)*$ ]] ||
	die "--scale-sizes wants a comma-separated list like 4K,16K,64K, or none, got '$scale_sizes'"
case $pages in 4k | huge) ;; *) die "--pages wants 4k or huge, got '$pages'" ;; esac
# Guest memory for the scale guests: twice the largest size, 3G to 16G.
scale_mem=3
if [ "$scale_sizes" != none ]; then
	big=0
	for z in ${scale_sizes//,/ }; do [ "$(bytes "$z")" -le "$big" ] || big=$(bytes "$z"); done
	scale_mem=$(((2 * big + (1 << 30) - 1) >> 30))
	[ "$scale_mem" -ge 3 ] || scale_mem=3
	[ "$scale_mem" -le 16 ] || die "--scale-sizes: the largest size must be at most 8G (guests get twice it, at most 16G)"
fi
[[ $benches =~ ^B[1-4](,B[1-4])*$ ]] || die "--benches wants a comma-separated list of B1, B2, B3, B4, got '$benches'"
# has BENCH: whether this run includes it.
has() { [[ ,$benches, == *,$1,* ]]; }
# The kernels the chosen benchmarks boot.
kernel_list=(patched)
has B1 && kernel_list+=(nogate)
has B3 && kernel_list+=(stock)
# The scale curves need nogate too.
[ "$scale_sizes" = none ] || has B1 || kernel_list+=(nogate)
case $modes in
wall | counted | wall,counted | counted,wall) ;;
*) die "--modes wants wall, counted or wall,counted, got '$modes'" ;;
esac
IFS=, read -ra mode_list <<<"$modes"
judge=wall
[[ ,$modes, == *,counted,* ]] && judge=counted
case $kernels in
release)
	kbuild_opt=(--release) kdir=$BUILD/kbuild-release append=
	kdesc="release: Debian's cloud-amd64 configuration + kernel/configs/variants/release.config"
	;;
debug)
	kbuild_opt=() kdir=$BUILD/kbuild append="dma_debug=off kmemleak=off lockdep.prove_locking=0"
	kdesc="debug: kernel/configs/*.config (the make check kernels), booted with $append"
	;;
*) die "--kernels wants release or debug, got '$kernels'" ;;
esac

OUT=$BUILD/bench
BIN=$OUT/bin
# What produced each mode's figures: run-vm.sh's options, and the words
# results.md and results.csv give them.
declare -A mode_opts=([wall]="--accel tcg" [counted]="--accel tcg --icount 0")
declare -A mode_accel=([wall]="QEMU TCG, thread=multi" [counted]="QEMU TCG, thread=single, -icount shift=0,sleep=off")

# kbuild KERNEL: the build directory of patched, stock or nogate.
kbuild() {
	if [ "$1" = patched ]; then echo "$kdir"; else echo "$kdir-$1"; fi
}

# build_programs: reg_bench against the same rdma-core build as the tests
# (build/rdma-core/build: its headers, and its libibverbs by rpath, which
# finds rxe's provider next to it), so that no libibverbs-dev is needed; and
# the kernel's dma_map_benchmark selftest. step runs this with set -e
# ignored (bash ignores it inside a || list), so every command checks its
# own status.
build_programs() {
	local inc=$OUT/include rc_build=$RDMA_SRC/build
	need_cmd gcc
	if [ ! -f "$rc_build/include/infiniband/verbs.h" ] || [ ! -e "$rc_build/lib/libibverbs.so" ]; then
		log "no rdma-core build at $rc_build (ci/rdma-core-build.sh)"
		return 1
	fi
	mkdir -p "$BIN" "$inc/linux" || return 1
	gcc -O2 -Wall -Wextra -I"$rc_build/include" -o "$BIN/reg_bench" "$TOP/bench/reg_bench.c" \
		-L"$rc_build/lib" -Wl,-rpath,"$rc_build/lib" -libverbs || return 1
	# The tool includes the kernel-internal <linux/map_benchmark.h>; give it
	# that header alone so that the rest comes from the system's uAPI.
	ln -sfn "$KSRC/include/linux/map_benchmark.h" "$inc/linux/map_benchmark.h" || return 1
	gcc -O2 -Wall -I"$inc" -o "$BIN/dma_map_benchmark" \
		"$KSRC/tools/testing/selftests/dma/dma_map_benchmark.c" || return 1
}

# boot MODE ROUND KERNEL CONFIG WORKLOAD...: one guest; its CSV lines,
# prefixed with "<boot>,MODE,KERNEL,CONFIG,", go to raw.part in its
# directory, which is listed in $OUT/boots (collect makes raw.csv). Fails
# when the guest does (a workload that reported FAILED, a boot that never
# finished) or left no results. Run by step: every command checks its own
# status. A counted guest runs on one host thread, so it gets longer.
# BOOT_MEM (default 3G) is the guest's memory.
boot_once() {
	local mode=$1 kernel=$3 config=$4 dir=$OUT/$1-$3-$4-r$2 rc=0 tmo=1800 opts
	shift 4
	local image probe=()
	image=$(kbuild "$kernel")/arch/x86/boot/bzImage
	[ "$mode" = counted ] && tmo=3600
	rm -rf "$dir"
	grep -qxF "$dir" "$OUT/boots" 2>/dev/null || echo "$dir" >>"$OUT/boots" || return 1
	read -ra opts <<<"${mode_opts[$mode]}"
	[ "$mode" != wall ] || probe+=("host_probe,$(host_probe)")
	tests/vm/run-vm.sh --config "$config" "${opts[@]}" --no-rdma-core --kernel "$image" \
		--out "$dir" --timeout "$tmo" --mem "${BOOT_MEM:-3G}" --append "$append" --device pci-testdev -- \
		env BENCH_BIN="$BIN" BENCH_REPS="$reps" BENCH_SIZES="$sizes" BENCH_PAGES="$pages" \
		BENCH_SCALE_SIZES="${scale_sizes/#none/}" bench/guest-bench.sh "$@" || rc=$?
	[ $rc -eq 0 ] || { log "the $kernel/$config guest ($mode) failed (exit $rc); its output: $dir/output.ktap, $dir/console.log"; return 1; }
	[ -s "$dir/bench.csv" ] || { log "no results from the $kernel/$config guest ($mode)"; return 1; }
	[ "$mode" != wall ] || probe+=("host_probe,$(host_probe)")
	{ cat "$dir/bench.csv" && { [ ${#probe[@]} -eq 0 ] || printf '%s\n' "${probe[@]}"; }; } |
		sed "s/^/${dir##*/},$mode,$kernel,$config,/" >"$dir/raw.part" || return 1
}

# boot MODE ROUND KERNEL CONFIG WORKLOAD...: boot_once, and once more if
# that guest's kernel crashed (an oops or a panic on its console). Under
# QEMU 7.2's TCG with instruction counting, the stock release kernel once
# took a double fault inside slub's cmpxchg16b fast path, with garbage in
# EFLAGS, 11 s into a perftest guest that had run cleanly in every other
# round, and a nogate wall guest (multi-threaded TCG) an int3 oops in
# sched_clock_cpu while the kernel patched its text at boot: the
# emulator, not a kernel under test. The crashed guest's
# directory is kept as DIR.crashed, the log names it and the report says
# so; a second crash fails the step, so a kernel that crashes every time
# is not hidden.
boot() {
	local dir=$OUT/$1-$3-$4-r$2 what
	boot_once "$@" && return 0
	grep -qE 'Oops:|Kernel panic' "$dir/console.log" 2>/dev/null || return 1
	what=$(grep -m1 -oE '(Oops|Kernel panic)[^[]*' "$dir/console.log")
	rm -rf "$dir.crashed"
	mv "$dir" "$dir.crashed" || return 1
	echo "$1/$3/$4 round $2: ${what% } (console: ${dir##*/}.crashed/console.log)" >>"$OUT/crashes"
	log "the $3/$4 guest ($1) crashed: ${what% }; kept in $dir.crashed; booting it once more"
	boot_once "$@"
}

# host_probe: milliseconds the host takes to hash 256 MiB, run before and
# after each wall guest. Wall figures are host time, so they move with
# the host's own speed; on shared cloud hosts that has been seen to vary
# twofold within a minute (1.6 to 3.2 s for the same hash, nothing else
# running). The report gives the spread of this run's probes beside the
# wall figures.
host_probe() {
	local t0
	t0=$(date +%s%N)
	head -c 256M /dev/zero | sha256sum >/dev/null
	echo $((($(date +%s%N) - t0) / 1000000))
}

# collect: raw.csv from the guests of this run, in the order they started
# (also on the way out after a failure, so that it keeps what was
# measured).
collect() {
	local d
	[ -f "$OUT/boots" ] || return 0
	while IFS= read -r d; do
		[ ! -f "$d/raw.part" ] || cat "$d/raw.part"
	done <"$OUT/boots" >"$OUT/raw.csv"
}

# A counted guest's times are instructions it executed, which another
# guest on the host's other thread does not change; so counted guests run
# two at a time (one per host CPU, at most two), and wall guests run alone
# before any of them. run_counted STEPNAME CMD... starts one as a step in
# the background once a slot is free; counted_wait waits for all. A failed
# guest (named by its step's log line) stops new ones from starting: the
# one still running finishes, and run_counted or counted_wait fails.
par=$(nproc)
[ "$par" -le 2 ] || par=2
pids=() counted_failed=0
reap_one() {
	local done_pid p keep=()
	wait -n -p done_pid "${pids[@]}" || counted_failed=1
	for p in "${pids[@]}"; do [ "$p" = "$done_pid" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}
run_counted() {
	while [ ${#pids[@]} -ge "$par" ]; do reap_one; done
	# After a failure, let the guest still running finish, then stop.
	[ "$counted_failed" -eq 0 ] || { counted_wait; return 1; }
	step "$@" &
	pids+=($!)
}
counted_wait() {
	while [ ${#pids[@]} -gt 0 ]; do reap_one; done
	[ "$counted_failed" -eq 0 ] || { log "a counted guest failed (its step is named above)"; return 1; }
}

cd "$TOP"
if [ "$build" = 1 ]; then
	step "dependencies" ci/deps.sh
	step "kernel source" ci/kernel-source.sh
	step "rdma-core source" ci/rdma-core-source.sh
	step "rdma-core build" ci/rdma-core-build.sh
	for k in "${kernel_list[@]}"; do
		step "kernel build ($k, $kernels)" ci/kernel-build.sh --variant "$k" "${kbuild_opt[@]}"
	done
else
	for k in "${kernel_list[@]}"; do
		[ -f "$(kbuild "$k")/arch/x86/boot/bzImage" ] ||
			die "--no-build: no $k kernel at $(kbuild "$k") (ci/kernel-build.sh --variant $k ${kbuild_opt[*]})"
	done
	log "--no-build: using the kernels in $(for k in "${kernel_list[@]}"; do printf '%s ' "$(kbuild "$k")"; done)"
fi
step "bench programs" build_programs
# The report judges the goals: check it on synthetic data with known
# answers (12 s) before an hour of guests depends on it.
rm -rf "$BUILD/bench-selftest"
step "report self-test" python3 bench/report-selftest.py "$BUILD/bench-selftest"
mkdir -p "$OUT"
rm -rf "$OUT"/{raw.csv,boots,crashes,results.md,results.csv} "$OUT"/latency* "$OUT"/scale-* "$OUT"/*-r[0-9s]*
trap collect EXIT
# Which configuration each kernel was built from, by the hash of its .config.
report_args=(--judge "$judge" --benches "$benches")
for k in "${kernel_list[@]}"; do
	cfg=$(kbuild "$k")/.config
	[ -f "$cfg" ] || die "no $cfg after the $k kernel build"
	report_args+=(--kernel "$k=$kdesc; .config sha256 $(sha256sum "$cfg" | cut -d' ' -f1)")
done
rounds_txt=
[[ ,$modes, != *,counted,* ]] || rounds_txt="counted rounds: $rounds"
[[ ,$modes, != *,wall,* ]] || rounds_txt="${rounds_txt:+$rounds_txt, }wall rounds: $wall_rounds"
log "bench: $benches on ${kernel_list[*]}, $kernels kernels, $rounds_txt, $reps repetitions, sizes $sizes, modes $modes (judged: $judge), guest append '$append'"
# The first failed step stops the run (set -e), named by step's log line;
# raw.csv keeps what was measured until then. Wall guests first, alone on
# the host; then the counted ones, two at a time.
# guest MODE STEPNAME BOOTARGS...: one guest as a step, run as its mode needs.
guest() {
	local m=$1
	shift
	if [ "$m" = counted ]; then run_counted "$@"; else step "$@"; fi
}
for m in wall counted; do
	[[ ,$modes, == *,$m,* ]] || continue
	n=$rounds
	[ "$m" = counted ] || n=$wall_rounds
	for r in $(seq "$n"); do
		# Alternate the order, so that neither kernel always boots first.
		order=(nogate patched stock)
		[ $((r % 2)) -eq 0 ] && order=(stock patched nogate)
		# The first round's judged guests end with a function_graph
		# profile of one 64 MiB registration, after everything timed.
		prof=()
		has B1 && [ "$r" = 1 ] && [ "$m" = "$judge" ] && prof=(profile)
		# The patched kernel's workloads for the chosen benchmarks.
		pw=() pb=()
		has B1 && pw+=(reg-ok) pb+=(B1)
		has B3 && pw+=(perftest) pb+=(B3)
		has B4 && pw+=(dmamap) pb+=(B4)
		for k in "${order[@]}"; do
			case $k in
			nogate) has B1 || continue
				guest "$m" "round $r/$n, B1 baseline: nogate kernel, direct, $m" boot "$m" "$r" nogate direct reg-ok "${prof[@]}" ;;
			patched) [ ${#pw[@]} -gt 0 ] || continue
				guest "$m" "round $r/$n, ${pb[*]}: patched kernel, direct, $m" boot "$m" "$r" patched direct "${pw[@]}" "${prof[@]}" ;;
			stock) has B3 || continue
				guest "$m" "round $r/$n, B3 baseline: stock kernel, direct, $m" boot "$m" "$r" stock direct perftest ;;
			esac
		done
	done
	! has B2 || guest "$m" "B2: patched kernel, swiotlb, $m" boot "$m" 1 patched swiotlb reg-early reg-late
	# The scale curves, once per kernel, in the judged mode only: sizes up
	# to gigabytes take minutes each under TCG.
	if [ "$scale_sizes" != none ] && [ "$m" = "$judge" ]; then
		export BOOT_MEM=${scale_mem}G
		guest "$m" "scale: nogate kernel, direct, $m ($BOOT_MEM)" boot "$m" s nogate direct scale-ok
		guest "$m" "scale: patched kernel, direct, $m ($BOOT_MEM)" boot "$m" s patched direct scale-ok
		guest "$m" "scale: patched kernel, swiotlb, $m ($BOOT_MEM)" boot "$m" s patched swiotlb scale-early scale-late
		unset BOOT_MEM
	fi
	[ "$m" != counted ] || step "counted guests" counted_wait
done
collect
for m in "${mode_list[@]}"; do report_args+=(--mode "$m=${mode_accel[$m]}"); done
if [ -s "$OUT/crashes" ]; then
	report_args+=(--note "Guests whose kernel crashed under QEMU and were booted once more (their samples are from the second boot): $(paste -sd ';' "$OUT/crashes" | sed 's/;/; /g').")
fi
step "report" python3 bench/report.py "$OUT/raw.csv" "$OUT" "${report_args[@]}"
for m in "${mode_list[@]}"; do
	step "plot ($m)" gnuplot -e "dat='$OUT/latency-$m.dat'; png='$OUT/latency-$m.png'; clock='$m: ${mode_accel[$m]}'" bench/latency.gp
	[ ! -f "$OUT/scale-$m.dat" ] ||
		step "scale plot ($m)" gnuplot -e "dat='$OUT/scale-$m.dat'; png='$OUT/scale-$m.png'; clock='$m: ${mode_accel[$m]}'" bench/scale.gp
done
# The page a person reads: results.md with the plots inside, and each
# kernel's .config beside it.
for k in "${kernel_list[@]}"; do cp "$(kbuild "$k")/.config" "$OUT/config-$k"; done
step "report page" pandoc --standalone --self-contained --resource-path="$OUT" \
	--css "$TOP/bench/report.css" --metadata title="make bench" \
	-o "$OUT/report.html" "$OUT/results.md"
log "bench results: $OUT/report.html (results.md, results.csv, latency-*.png, scale-*.png, config-*, raw.csv)"
