#!/bin/bash
# Runs inside the bench guest (tests/vm/run-vm.sh ... -- bench/guest-bench.sh).
# Each argument names a workload; results are CSV lines collected in
# /tmp/bench.csv and copied to the results share (bench.csv) at the end, so
# that 9p traffic never overlaps a measurement:
#
#   reg-ok       ibv_reg_mr + ibv_dereg_mr on test-mode rxe          (B1)
#   reg-early    refused ibv_reg_mr on test-mode rxe                 (B2)
#   reg-late     the same with ib_umem/early_refusal switched off     (B2)
#   scale-ok, scale-early, scale-late
#                the same three over BENCH_SCALE_SIZES (the scale curves)
#   perftest     ib_send_bw and ibv_rc_pingpong, both waiting for completion
#                events (-e), on stock rxe                            (B3)
#   dmamap       dma_map_benchmark, attributes 0 and REQUIRE_COHERENT (B4)
#   profile      one BENCH_PROFILE_SIZE registration under function_graph:
#                time per callee of ib_umem_get and ib_umem_release, three
#                levels deep (where two kernels' registrations differ)
#
# Environment: BENCH_REPS (default 5), BENCH_SIZES (default
# 4K,64K,2M,64M,1G), BENCH_SCALE_SIZES (default 4K to 1G in powers of 4),
# BENCH_PAGES (4k or huge: reg_bench -p, default 4k), BENCH_BIN (directory
# with reg_bench and dma_map_benchmark), BENCH_DMAMAP_SECONDS (default 3),
# BENCH_PROFILE_SIZE (default 64M).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TESTS_DIR=$here/../tests
# shellcheck source=../tests/lib/common.sh
. "$TESTS_DIR/lib/common.sh"
# shellcheck source=lib.sh
. "$here/lib.sh"

reps=${BENCH_REPS:-5}
sizes=${BENCH_SIZES:-4K,64K,2M,64M,1G}
scale_sizes=${BENCH_SCALE_SIZES:-4K,16K,64K,256K,1M,4M,16M,64M,256M,1G}
pages=${BENCH_PAGES:-4k}
bin=${BENCH_BIN:?BENCH_BIN is not set}
dmamap_s=${BENCH_DMAMAP_SECONDS:-3}
profile_size=${BENCH_PROFILE_SIZE:-64M}
csv=/tmp/bench.csv
: >"$csv"
rc=0
# Scratch space for the perftest pairs' logs (common.sh's helpers write
# under CASE_TMP, which run.sh makes for test cases but nothing made here).
CASE_TMP=$(mktemp -d /tmp/guest-bench.XXXXXX) || { echo "# bench: FAILED: mktemp"; exit 1; }

say() { echo "# bench: $*"; }
bad() { echo "# bench: FAILED: $*"; rc=1; }

cleanup() {
	cleanup_peers
	rxe_del_all
	[ -w /sys/kernel/debug/ib_umem/early_refusal ] && echo Y >/sys/kernel/debug/ib_umem/early_refusal
	rm -rf "$CASE_TMP"
}
trap cleanup EXIT

testmode_dev() {
	[ -e /sys/module/rdma_rxe/parameters/dma_test_mode ] ||
		{ bad "this kernel has no rxe test mode"; return 1; }
	[ -n "${TM_DEV:-}" ] && return 0
	rxe_add TM_DEV "$(testmode_netdev)" testmode
}

# reg LABEL ok|refused [SIZES]
reg() {
	local label=$1 expect=$2 sz=${3:-$sizes}
	testmode_dev || return 1
	say "$label: reg_bench on $TM_DEV, sizes $sz, $reps repetitions, $pages pages"
	taskset -c 1 "$bin/reg_bench" -d "$TM_DEV" -s "$sz" -r "$reps" -x "$expect" -p "$pages" -l "$label" >>"$csv" ||
		bad "reg_bench ($label) exited non-zero"
}

# late LABEL [SIZES]: refusals with the early check switched off.
late() {
	local sw=/sys/kernel/debug/ib_umem/early_refusal
	[ -w "$sw" ] || { bad "no $sw (kernel without early refusal)"; return 1; }
	echo N >"$sw"
	reg "$1" refused "${2:-}"
	echo Y >"$sw"
}

# rxe keeps a registration's page list in one kmalloc'd array of 16 bytes
# a page (6.12.118, and mainline since it replaced the xarray). Above
# 1 GiB of 4 KiB pages that is more than the page allocator's largest
# block: ibv_reg_mr fails with ENOMEM, after a page allocator WARN. The
# success curve stops at 1 GiB and says so with a skip line for each size
# left out; refusals never build the list, and their curves go on.
RXE_MAX_REG=$((1 << 30))
w_scale_ok() {
	local sz ok=() b
	for sz in ${scale_sizes//,/ }; do
		b=$(bytes "$sz")
		if [ "$b" -gt $RXE_MAX_REG ]; then
			say "scale-ok: $sz left out: rxe cannot register more than 1 GiB (its page list is one kmalloc)"
			echo "skip,scale-ok,$b,rxe registers at most 1 GiB: its page list is one kmalloc" >>"$csv"
		else
			ok+=("$sz")
		fi
	done
	[ ${#ok[@]} -gt 0 ] || return 0
	reg scale-ok ok "$(IFS=,; echo "${ok[*]}")"
}

w_reg_ok() { reg reg-ok ok; }
w_reg_early() { reg refuse-early refused; }
w_reg_late() { late refuse-late; }

# perftest pair, server on CPU ${BENCH_PERFTEST_CPUS%,*} and client on
# CPU ${BENCH_PERFTEST_CPUS#*,} (default 0,1); prints the client log.
pair() {
	local name=$1
	shift
	local cpus=${BENCH_PERFTEST_CPUS:-0,1} rc=0
	# Line-buffered, so that a pair killed on timeout still leaves its log.
	start_server "$CASE_TMP/$name.server" taskset -c "${cpus%,*}" stdbuf -oL "$@"
	wait_listening "${PEER_PIDS[-1]}" 10
	timeout 120 taskset -c "${cpus#*,}" stdbuf -oL "$@" "$(netdev_ip "$(rxe_netdev)")" >"$CASE_TMP/$name.client" 2>&1 ||
		rc=$?
	if [ $rc -ne 0 ]; then
		say "$1 client exited $rc$([ $rc -eq 124 ] && echo ' (killed after 120 s)')"
		cleanup_peers
		return 1
	fi
	wait_peer "${PEER_PIDS[-1]}" 30 || rc=$?
	PEER_PIDS=()
	[ $rc -eq 0 ] || say "$1 server exited $rc$([ $rc -eq 124 ] && echo ' (killed after 30 s)')"
	return $rc
}

# Both tools wait for completion events (-e) rather than poll: under
# instruction counting a poller holds its vCPU until the next tick or the
# next round-robin turn of single-threaded TCG, so a polling pair measures
# QEMU's scheduling (6,000-8,000 us per 2-byte send) instead of rxe.
# perftest has no event mode for RDMA WRITE, hence ib_send_bw.  Latency
# comes from ibv_rc_pingpong, because ib_send_lat -e (perftest 4.5) takes
# one completion per event from a channel its send and receive CQs share:
# completions pile up until rxe reports "cq ... queue full" and the pair
# hangs.
w_perftest() {
	local dev gid r line bw_n=${BENCH_BW_ITERS:-1000} lat_n=${BENCH_LAT_ITERS:-2000}
	local perf_opts=${BENCH_PERFTEST_OPTS:-}
	rxe_add dev "$(rxe_netdev)" || { bad "cannot add stock rxe"; return 1; }
	gid=$(gid_index "$dev")
	say "perftest on stock $dev: ib_send_bw -e 64 KiB x $bw_n, ibv_rc_pingpong -e 2 B x $lat_n, $reps repetitions, CPUs ${BENCH_PERFTEST_CPUS:-0,1}${perf_opts:+, ib_send_bw options $perf_opts}"
	for r in $(seq 0 $((reps - 1))); do
		if pair bw ib_send_bw -e -d "$dev" -x "$gid" -F -n "$bw_n" -s 65536 $perf_opts; then
			# #bytes #iterations BW-peak BW-average MsgRate
			line=$(awk -v n="$bw_n" '$1 == 65536 && $2 == n {print $4; exit}' "$CASE_TMP/bw.client")
			[ -n "$line" ] && echo "send_bw,$r,$line" >>"$csv" || bad "no ib_send_bw result line"
		else
			bad "ib_send_bw pair failed"; sed 's/^/#   /' "$CASE_TMP"/bw.*
		fi
		if pair lat ibv_rc_pingpong -e -d "$dev" -g "$gid" -s 2 -n "$lat_n"; then
			# "2000 iters in 0.16 seconds = 80.12 usec/iter": one round trip
			line=$(awk -v n="$lat_n" '$1 == n && $2 == "iters" && $8 == "usec/iter" {print $7; exit}' "$CASE_TMP/lat.client")
			[ -n "$line" ] && echo "pingpong,$r,$line" >>"$csv" || bad "no ibv_rc_pingpong result line"
		else
			bad "ibv_rc_pingpong pair failed"; sed 's/^/#   /' "$CASE_TMP"/lat.*
		fi
	done
}

# Bind the spare PCI function (QEMU pci-testdev, 1b36:0005) to the
# benchmark driver.
dmamap_bind() {
	local d
	[ -e /sys/kernel/debug/dma_map_benchmark ] && return 0
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1b36 ] && [ "$(cat "$d/device")" = 0x0005 ] || continue
		echo dma_map_benchmark >"$d/driver_override"
		echo "${d##*/}" >/sys/bus/pci/drivers_probe
		break
	done
	[ -e /sys/kernel/debug/dma_map_benchmark ] ||
		{ bad "no dma_map_benchmark device (CONFIG_DMA_MAP_BENCHMARK, pci-testdev)"; return 1; }
}

w_dmamap() {
	local r a out map unmap
	dmamap_bind || return 1
	say "dma_map_benchmark: 1 thread, 64-bit mask, 1 page, ${dmamap_s}s per run, attrs 0 and 0x1000 alternating"
	for r in $(seq 0 $((reps - 1))); do
		for a in 0 0x1000; do
			out=$(taskset -c 1 "$bin/dma_map_benchmark" -t 1 -s "$dmamap_s" -b 64 -g 1 -a "$a" 2>&1) ||
				{ bad "dma_map_benchmark -a $a: $out"; return 1; }
			read -r map unmap < <(sed -n 's/^average map latency(ns):\([0-9]*\) unmap latency(ns):\([0-9]*\)$/\1 \2/p' <<<"$out")
			[ -n "${map:-}" ] || { bad "no nanosecond averages from dma_map_benchmark: $out"; return 1; }
			echo "dma_map,$a,$r,$map,$unmap" >>"$csv"
		done
	done
}

# graph_sum SIZE: function_graph output (funcgraph-tail on) on stdin; one line
#   prof,<SIZE>,<root>,<depth>,<function>,<calls>,<total_ns>
# per function and depth under each root (ib_umem_get, ib_umem_release),
# depth 0 being the root itself. Durations print as microseconds, with
# fewer decimals as they grow; a call without a duration (cut off by the
# end of the trace) is not counted.
graph_sum() {
	awk -v size="$1" '
	{
		i = index($0, "|")
		if (!i) next
		pre = substr($0, 1, i - 1)
		body = substr($0, i + 1)
		match(body, /^ */)
		depth = RLENGTH / 2 - 1
		body = substr(body, RLENGTH + 1)
		name = ""
		if (body ~ /^} \/\* /) {
			name = body; sub(/^} \/\* /, "", name); sub(/ \*\/.*$/, "", name)
		} else if (body ~ /\(\);$/) {
			name = body; sub(/\(\);$/, "", name)
		} else if (body ~ /\) \{$/ && depth == 0) {
			root = body; sub(/\(.*$/, "", root); sub(/ \[.*$/, "", root)
			next
		}
		if (name == "" || root == "" || !match(pre, /[0-9]+(\.[0-9]+)? us/)) next
		sub(/ \[.*$/, "", name)
		k = root "," depth "," name
		n[k]++
		t[k] += substr(pre, RSTART, RLENGTH - 3) * 1000
	}
	END { for (k in n) printf "prof,%s,%s,%d,%.0f\n", size, k, n[k], t[k] }'
}

# Two registrations and deregistrations of BENCH_PROFILE_SIZE (reg_bench's
# untimed calibration and one timed) with function_graph on, three levels below
# ib_umem_get and ib_umem_release, interrupts left out. Tracing slows every
# traced call alike on every kernel; compare kernels, not absolute values.
w_profile() {
	local t=/sys/kernel/tracing f
	testmode_dev || return 1
	[ -e $t/current_tracer ] || mount -t tracefs nodev $t 2>/dev/null
	grep -qw function_graph $t/available_tracers 2>/dev/null ||
		{ bad "no function_graph tracer (CONFIG_FUNCTION_GRAPH_TRACER)"; return 1; }
	say "profile: function_graph under ib_umem_get and ib_umem_release, 3 levels, one $profile_size registration on $TM_DEV"
	echo 0 >$t/tracing_on
	echo nop >$t/current_tracer
	for f in ib_umem_get ib_umem_release; do
		echo "$f" >>$t/set_graph_function || { bad "cannot trace $f"; return 1; }
	done
	echo 3 >$t/max_graph_depth
	echo 1 >$t/options/funcgraph-tail
	echo 0 >$t/options/funcgraph-irqs
	echo 8192 >$t/buffer_size_kb
	echo >$t/trace
	echo function_graph >$t/current_tracer
	echo 1 >$t/tracing_on
	# Its CSV line (label profile) says how the traced buffer was laid out.
	# No 4 KiB warm-up (-w 0): it would fill the trace, and reg-ok, which
	# runs first, has left the device's first MR indices behind.
	taskset -c 1 "$bin/reg_bench" -d "$TM_DEV" -s "$profile_size" -r 1 -w 0 -x ok -p "$pages" -l profile >>"$csv" ||
		bad "reg_bench (profile) exited non-zero"
	echo 0 >$t/tracing_on
	cp $t/trace /tmp/profile.trace
	graph_sum "$profile_size" </tmp/profile.trace >>"$csv"
	grep -q "^prof,$profile_size,ib_umem_get,0,ib_umem_get," "$csv" || bad "no ib_umem_get in the function_graph trace"
	echo nop >$t/current_tracer
	echo >$t/set_graph_function
	echo 0 >$t/max_graph_depth
}

for w in "$@"; do
	t0=$(date +%s)
	case "$w" in
	reg-ok) w_reg_ok ;;
	reg-early) w_reg_early ;;
	reg-late) w_reg_late ;;
	scale-ok) w_scale_ok ;;
	scale-early) reg scale-early refused "$scale_sizes" ;;
	scale-late) late scale-late "$scale_sizes" ;;
	perftest) w_perftest ;;
	dmamap) w_dmamap ;;
	profile) w_profile ;;
	*) bad "unknown workload '$w'" ;;
	esac
	say "$w done in $(($(date +%s) - t0))s"
done
cat "$csv"
cp "$csv" /run/results/bench.csv || bad "cannot write /run/results/bench.csv"
# The profiled trace itself, to read the call tree the sums come from.
[ ! -f /tmp/profile.trace ] || cp /tmp/profile.trace /run/results/ || bad "cannot write /run/results/profile.trace"
exit $rc
