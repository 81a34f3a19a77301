# shellcheck shell=bash
# Helpers for test cases. A case file (tests/cases/<suite>/NNN-name.sh) sets
# DESCRIPTION, defines requires() and test_case(), and is run by
# lib/run-case.sh in its own bash process with this file sourced.
#
# requires() calls the _have_* helpers below; the first one that fails
# records why and the case is skipped (kselftest exit 4) with that reason.
# test_case() returns 0 for pass and non-zero for fail; every failure says why
# on stdout. Output is never hidden.

TESTS_DIR=${TESTS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
KSFT_SKIP=4

# Per-case scratch directory on a local filesystem (never the 9p share),
# made by run.sh. Sub-test results of the case go to $CASE_TMP/subtests.
CASE_TMP=${CASE_TMP:-}
SKIP_REASON=

# Kernel messages that fail a case (run.sh) or the boot (env/004).
# Lockdep and kmemleak are matched by what they report, not by their
# names, which their ordinary boot lines carry too; dma-debug by its error
# format ("DMA-API: DRIVER DEVICE: ...") and by switching itself off. The
# test runner's own markers never count.
DMESG_BAD='WARNING:|BUG:|KASAN:|kmemleak: [0-9]+ new suspected|unreferenced object|possible circular locking|possible recursive locking|inconsistent lock state|INFO: possible|turning off the locking correctness validator|DMA-API: [^ ]+ [^ ]+: |DMA-API: .*disabled|cm_destroy_id_wait_timeout|general protection|Oops|Call Trace'
# dmesg_bad ARRAY [MAX]: the report lines of stdin (kernel messages),
# markers left out, into ARRAY; at most MAX of them if given. Builtins
# only: run.sh reads each case's messages this way.
dmesg_bad() {
	local -n _dmesg_bad_out=$1
	local max=${2:-0} line
	_dmesg_bad_out=()
	while IFS= read -r line; do
		[[ $line =~ $DMESG_BAD && $line != *'rdmadma-test: '* ]] || continue
		_dmesg_bad_out+=("$line")
		[ "$max" -eq 0 ] || [ ${#_dmesg_bad_out[@]} -lt "$max" ] || break
	done
}

skip_because() { SKIP_REASON=$*; return 1; }
fail() { echo "# FAIL: $*"; return 1; }
info() { echo "# $*"; }

# ---- prerequisites --------------------------------------------------------
_have_root() { [ "$(id -u)" -eq 0 ] || skip_because "needs root"; }

_have_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_because "'$c' not installed"|| return 1
	done
}

_have_rxe() {
	_have_cmd rdma || return 1
	# Built in, rdma_rxe has a /sys/module entry only when it has parameters.
	[ -d /sys/module/rdma_rxe ] || modprobe -q rdma_rxe 2>/dev/null ||
		grep -qsw rxe_net_add /proc/kallsyms ||
		skip_because "kernel has no rdma_rxe (CONFIG_RDMA_RXE)"
}

_have_uverbs() {
	[ -e /dev/infiniband/uverbs0 ] || ls /sys/class/infiniband_verbs/ 2>/dev/null | grep -q uverbs ||
		[ -d /sys/class/infiniband_verbs ] || skip_because "kernel has no user verbs (CONFIG_INFINIBAND_USER_ACCESS)"
}

# A netdev with a PCI parent, for test-mode rxe.
_have_testmode_netdev() {
	[ -n "$(testmode_netdev)" ] ||
		skip_because "no netdev with a PCI parent for test-mode rxe (set RXE_TESTMODE_NETDEV)"
}

# The rxe test mode of the patched kernel (rdma_rxe.dma_test_mode).
_have_testmode() {
	[ -e /sys/module/rdma_rxe/parameters/dma_test_mode ] ||
		skip_because "rdma_rxe has no dma_test_mode parameter (kernel without the rxe test-mode patch, or built without CONFIG_RDMA_RXE_DMA_TEST)" || return 1
	_have_testmode_netdev
}

# The gate of the patched kernel: a dma_coherence sysfs file on ib devices.
_have_gate() {
	[ -n "${RDMA_DMA_GATE_SYSFS:-}" ] && return 0
	grep -qsw 'dma_coherence_state' /proc/kallsyms ||
		skip_because "kernel without the coherent-DMA gate (no dma_coherence sysfs)"
}

_have_dma_config() {
	local want=$1
	[ "$(dma_config)" = "$want" ] || skip_because "needs the '$want' DMA configuration (running '$(dma_config)')"
}

# ---- environment ------------------------------------------------------------
# direct, swiotlb or iommu, from the kernel command line (RDMA_DMA_CONFIG wins).
# noncoherent (arm64: PCI devices without dma-coherent in the device tree)
# has no command-line mark; run-vm.sh sets RDMA_DMA_CONFIG.
dma_config() {
	if [ -n "${RDMA_DMA_CONFIG:-}" ]; then echo "$RDMA_DMA_CONFIG"; return; fi
	local cmd
	cmd=$(cat /proc/cmdline)
	case " $cmd " in
	*" swiotlb=force "*) echo swiotlb ;;
	*" intel_iommu=on "* | *" amd_iommu=on "*) echo iommu ;;
	*) echo direct ;;
	esac
}

# Netdev for stock rxe: RXE_NETDEV, else the first up netdev with IPv4.
rxe_netdev() {
	if [ -n "${RXE_NETDEV:-}" ]; then echo "$RXE_NETDEV"; return; fi
	ip -o -4 addr show up scope global | awk '{print $2; exit}'
}

# Netdev for test-mode rxe: RXE_TESTMODE_NETDEV, else one with a PCI parent
# that is not the stock netdev.
testmode_netdev() {
	if [ -n "${RXE_TESTMODE_NETDEV:-}" ]; then echo "$RXE_TESTMODE_NETDEV"; return; fi
	local n stock
	stock=$(rxe_netdev)
	for n in $(ip -o -4 addr show up scope global | awk '{print $2}'); do
		[ "$n" = "$stock" ] && continue
		readlink -f "/sys/class/net/$n/device" 2>/dev/null | grep -q '/pci' && { echo "$n"; return; }
	done
}

netdev_ip() { ip -o -4 addr show dev "$1" | awk '{split($4,a,"/"); print a[1]; exit}'; }

# ---- what the kernel must do with user memory -----------------------------------
UMEM_DEBUGFS=/sys/kernel/debug/ib_umem

# The series' test switches (CONFIG_INFINIBAND_UMEM_TEST), each Y by default:
#   require_coherent=N  user memory mapped as stock 6.12 maps it, without
#                       DMA_ATTR_REQUIRE_COHERENT and with no refusal;
#   early_refusal=N     no refusal before pinning: refused at map time.
# Either off taints the kernel. run-case.sh turns both back on after every
# case, so a case that fails half-way leaves none off.

# have_umem_switch NAME: the kernel has the switch.
have_umem_switch() { [ -w "$UMEM_DEBUGFS/$1" ]; }

# umem_switch NAME Y|N: set it, or fail the case saying so.
umem_switch() {
	echo "$2" 2>/dev/null >"$UMEM_DEBUGFS/$1" || { fail "cannot set ib_umem/$1 to $2"; return 1; }
}

# umem_switches_on: every switch there is back to Y (its default).
umem_switches_on() {
	local s
	for s in require_coherent early_refusal; do
		have_umem_switch $s || continue
		echo Y 2>/dev/null >"$UMEM_DEBUGFS/$s" || echo "# cannot set ib_umem/$s back to Y" >&2
	done
	true
}

# gate_on: the coherent-DMA gate of the patched kernel is there and not
# switched off by its test aid (ib_umem/require_coherent).
gate_on() {
	local f=${CASE_TMP:+$CASE_TMP/.gate-symbol} v=
	# The symbol cannot come or go during a case: look it up once per case
	# (the grep reads all of kallsyms, seconds under TCG).
	[ -n "$f" ] && [ -s "$f" ] && read -r v <"$f"
	if [ -z "$v" ]; then
		if grep -qsw dma_coherence_state /proc/kallsyms; then v=1; else v=0; fi
		[ -z "$f" ] || echo "$v" >"$f"
	fi
	[ "$v" = 1 ] || return 1
	v=Y
	{ read -r v <"$UMEM_DEBUGFS/require_coherent"; } 2>/dev/null
	[ "$v" = Y ]
}

# mr_outcome stock|testmode: what a plain user MR must do on such an rxe
# device here: success (mapped in place, or virtual DMA), refuse
# (EOPNOTSUPP), or bounce (mapped through SWIOTLB: the unsafe path of a
# kernel without the gate).
mr_outcome() {
	[ "$1" = stock ] && { echo success; return; }
	case $(dma_config) in
	swiotlb) if gate_on; then echo refuse; else echo bounce; fi ;;
	# without the gate, mapped in place with CPU cache maintenance
	noncoherent) if gate_on; then echo refuse; else echo success; fi ;;
	*) echo success ;;
	esac
}

# coherence_word stock|testmode: the dma_coherence word such a device must show.
coherence_word() {
	[ "$1" = stock ] && { echo virtual; return; }
	case $(dma_config) in
	swiotlb) echo swiotlb-forced ;;
	noncoherent) echo non-coherent ;;
	*) echo coherent ;;
	esac
}

# The PCI function test-mode rxe maps user memory with: the first PCI
# device above the netdev (its parent is the virtio device on top of it).
testmode_parent() {
	local d
	d=$(readlink -f "/sys/class/net/$(testmode_netdev)/device")
	while [ -n "$d" ] && [ "$d" != / ]; do
		[[ ${d##*/} =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]] && { echo "${d##*/}"; return; }
		d=${d%/*}
	done
}

# The reg_mr tests other cases run on purpose (leak/, stress/, fault/,
# mr/007), left out where a case runs "all the others".
REG_MR_OTHERS=(-T refusal_leaks_nothing -T success_cycles_leak_nothing -T threads
	-T fault_cycles -T injected_failure -T late_refusal)

# reg_mr LABEL DEV stock|testmode [ARGS...]: the reg_mr tests on DEV as
# sub-tests LABEL.*, told what this configuration must give. REG_MR_AS
# (an array) prefixes the command, e.g. to run it as another user.
reg_mr() {
	local label=$1 dev=$2 kind=$3 dmadev=none map=
	shift 3
	if [ "$kind" = testmode ]; then
		dmadev=$(testmode_parent)
		case $(dma_config) in
		direct | noncoherent) map=identity ;;
		iommu) map=translated ;;
		*) map=bounced ;;
		esac
	fi
	RDMA_DEV=$dev RDMA_EXPECT=$(mr_outcome "$kind") RDMA_EXPECT_COHERENCE=$(coherence_word "$kind") \
		RDMA_EXPECT_CC_BOUNCE=0 RDMA_DMA_DEVICE=$dmadev RDMA_DMA_MAP=$map \
		harness "$label" ${REG_MR_AS[@]+"${REG_MR_AS[@]}"} "$(test_bin reg_mr)" "$@"
}

# ---- rxe devices ----------------------------------------------------------------
RXE_CREATED=()

# rxe_add VAR NETDEV [stock|testmode]: create an rxe device with a unique
# name and store the name in VAR. Not for $(...): the device must be
# recorded in this shell so that the case's cleanup removes it.
rxe_add() {
	local var=$1 ndev=$2 mode=${3:-stock} name rc=0 i
	[ -n "$ndev" ] || { echo "# rxe_add: no netdev given" >&2; return 1; }
	name=rxe_${mode:0:1}$$_${#RXE_CREATED[@]}
	if [ "$mode" = testmode ]; then
		echo 1 >/sys/module/rdma_rxe/parameters/dma_test_mode || return 1
		rdma link add "$name" type rxe netdev "$ndev" || rc=$?
		echo 0 >/sys/module/rdma_rxe/parameters/dma_test_mode
	else
		rdma link add "$name" type rxe netdev "$ndev" || rc=$?
	fi
	[ $rc -eq 0 ] || { echo "# rdma link add $name ($mode) on $ndev failed: $rc" >&2; return $rc; }
	RXE_CREATED+=("$name")
	# The GID table fills in asynchronously after the link comes up.
	for ((i = 0; i < 50; i++)); do
		[ -n "$(gid_index "$name")" ] && break
		sleep 0.1
	done
	printf -v "$var" '%s' "$name"
}

# each_rxe FUNC: FUNC DEV KIND on a stock rxe device (KIND stock), then on
# a test-mode one (KIND testmode) when the kernel has the test mode; 1 if
# either failed. A case with no test-mode part in some configuration sets
# NO_TESTMODE_REASON first.
each_rxe() {
	local fn=$1 dev bad=0
	rxe_add dev "$(rxe_netdev)" || return 1
	"$fn" "$dev" stock || bad=1
	if [ -n "${NO_TESTMODE_REASON:-}" ]; then
		info "test-mode part not run: $NO_TESTMODE_REASON"
	elif _have_testmode; then
		rxe_add dev "$(testmode_netdev)" testmode || return 1
		"$fn" "$dev" testmode || bad=1
	else
		info "test-mode part not run: $SKIP_REASON"
	fi
	return $bad
}

rxe_del_all() {
	local n
	for n in "${RXE_CREATED[@]}"; do
		rdma link delete "$n" 2>/dev/null || echo "# warning: rdma link delete $n failed"
	done
	RXE_CREATED=()
}

# The GID index of the RoCE v2 IPv4-mapped GID of DEV port 1.
gid_index() {
	local dev=$1 f i g t
	for f in /sys/class/infiniband/"$dev"/ports/1/gids/*; do
		i=${f##*/}
		g= t=
		{ read -r g <"$f"; } 2>/dev/null
		case $g in
		0000:0000:0000:0000:0000:ffff:*)
			{ IFS= read -r t <"/sys/class/infiniband/$dev/ports/1/gid_attrs/types/$i"; } 2>/dev/null
			[ "$t" = "RoCE v2" ] && { echo "$i"; return; } ;;
		esac
	done
}

# ---- peers ----------------------------------------------------------------------
PEER_PIDS=()

# start_server LOG CMD...: run a server in the background, log to LOG.
start_server() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	PEER_PIDS+=($!)
}

# wait_listening PID SECONDS: until server PID listens for its client, on a
# TCP port (the verbs examples, perftest) or an RDMA CM ID (rping). A fixed
# head start loses that race on a loaded TCG host: the client's connect is
# rejected (rping: RDMA_CM_EVENT_REJECTED, error 8) and a good kernel fails.
# Returns early when the server exits: a refusal can end it first.
wait_listening() {
	local pid=$1 t=$2 i
	for i in $(seq $((t * 10))); do
		kill -0 "$pid" 2>/dev/null || return 0
		ss -Hltnp 2>/dev/null | grep -q "pid=$pid," && return 0
		rdma resource show cm_id 2>/dev/null | grep -qE "state LISTEN .*pid $pid( |$)" && return 0
		sleep 0.1
	done
	info "server (pid $pid) not listening after ${t}s; starting its client anyway"
}

# wait_peer PID SECONDS: wait for a background server, killing it on timeout.
wait_peer() {
	local pid=$1 t=$2 i
	for i in $(seq $((t * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
}

cleanup_peers() {
	local p
	for p in "${PEER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	PEER_PIDS=()
}

# run_pair NAME SERVER_CMD -- CLIENT_CMD: server first, client after a head
# start; both must exit 0. Output of both is shown.
run_pair() {
	local name=$1 scmd=() ccmd=() rc=0 src=0 spid
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do scmd+=("$1"); shift; done
	shift
	ccmd=("$@")
	start_server "$CASE_TMP/$name.server" "${scmd[@]}"
	spid=${PEER_PIDS[-1]}
	wait_listening "$spid" 20
	"${ccmd[@]}" >"$CASE_TMP/$name.client" 2>&1 || rc=$?
	# A server whose client failed usually waits for it forever: give it
	# a moment to notice, not the full 20 s.
	wait_peer "$spid" $([ $rc -eq 0 ] && echo 20 || echo 3) || src=$?
	sed 's/^/#   server: /' "$CASE_TMP/$name.server"
	sed 's/^/#   client: /' "$CASE_TMP/$name.client"
	# Not a failure by itself: some callers expect the pair to fail.
	[ $rc -eq 0 ] || { info "$name client exited $rc"; return 1; }
	[ $src -eq 0 ] || { info "$name server exited $src"; return 1; }
}

# ---- sub-tests --------------------------------------------------------------------
# subtest NAME ok|fail|skip [REASON]: record one sub-test of this case; run.sh
# prints it as nested KTAP and holds it against the expectations (-E).
# Returns 1 for fail, so that a case can write 'subtest x fail || bad=1'.
subtest() {
	local name=$1 res=$2
	shift 2
	case $res in
	ok | fail) ;;
	skip) [ $# -gt 0 ] || set -- "no reason given" ;;
	*) echo "# FAIL: subtest $name: bad result '$res'"; res=fail ;;
	esac
	# Builtins only: a case records hundreds of sub-tests, and under TCG
	# every process costs a good part of a second.
	local line n _
	if [ -f "$CASE_TMP/subtests" ]; then
		while read -r n _; do
			[ "$n" != "$name" ] && continue
			echo "# FAIL: sub-test $name recorded twice in one case"
			name=$name.again res=fail
			break
		done <"$CASE_TMP/subtests"
	fi
	# The names of the devices a case made change from run to run.
	line="$name $res${*:+ $*}"
	while [[ $line =~ (^|[^A-Za-z0-9_])(rxe_[a-z][0-9]+_[0-9]+)([^A-Za-z0-9_]|$) ]]; do
		line=${line/"${BASH_REMATCH[2]}"/RXEDEV}
	done
	printf '%s\n' "$line" >>"$CASE_TMP/subtests"
	[ "$res" != fail ]
}

# harness LABEL CMD...: run a kselftest_harness program (output shown) and
# record each of its tests as sub-test LABEL.FIXTURE.TEST. A program that
# runs no test, or fewer than it planned, fails sub-test LABEL.plan; one that
# exits non-zero without a failed test fails LABEL.exit.
harness() {
	local label=$1 out rc=0 bad=0 n res reason
	shift
	# A name unique to this process and call, without a mktemp process.
	HARNESS_CALLS=$((${HARNESS_CALLS:-0} + 1))
	out=$CASE_TMP/harness.$BASHPID.$HARNESS_CALLS
	"$@" >"$out" 2>&1 || rc=$?
	cat "$out"
	awk -v L="$label" -v rc=$rc '
		/^1\.\.[0-9]+/ && !have { plan = substr($1, 4) + 0; have = 1 }
		/^(not )?ok [0-9]+ / {
			n++
			name = ($1 == "not") ? $4 : $3
			res = ($1 == "not") ? "fail" : "ok"
			if (res == "ok" && (i = index($0, " # SKIP ")))
				res = "skip " substr($0, i + 8)
			print L "." name " " res
			if ($1 == "not") failed = 1
		}
		END {
			if (!have || n != plan || n == 0) print L ".plan fail"
			else if (rc != 0 && !failed) print L ".exit fail"
		}' "$out" >"$out.res"
	while read -r n res reason; do
		subtest "$n" "$res" ${reason:+"$reason"} || bad=$((bad + 1))
	done <"$out.res"
	[ "$bad" -eq 0 ] || { info "$label: $bad failed (program exit $rc)"; return 1; }
	return 0
}

# unittest_results LOG: one line per test of a verbose unittest run
# (rdma-core's run_tests.py -v): ID<tab>NAME<tab>RESULT<tab>REASON, with
# RESULT ok, fail or skip. A test with a docstring prints "NAME (ID)" on a
# line of its own and its result after the docstring on the next.
unittest_results() {
	awk '
		/^test[A-Za-z0-9_]* \(.*\)$/ { pname = $1; pid = $2; next }
		/ \.\.\. (ok|FAIL|ERROR|skipped .*)$/ {
			if ($1 ~ /^test[A-Za-z0-9_]*$/ && $2 ~ /^\(/) { name = $1; id = $2 }
			else { name = pname; id = pid }
			pname = ""; pid = ""
			if (name == "") next
			gsub(/[()]/, "", id)
			r = $0; sub(/.* \.\.\. /, "", r)
			if (r == "ok") print id "\t" name "\tok\t"
			else if (r == "FAIL" || r == "ERROR") print id "\t" name "\tfail\t"
			else { sub(/^skipped ./, "", r); sub(/.$/, "", r); print id "\t" name "\tskip\t" r }
		}' "$1"
}

# unittest_subtests LABEL LOG: record each test of LOG as sub-test
# LABEL.NAME, skips with their reason. 1 if any failed or errored, or if
# LOG has no result at all.
unittest_subtests() {
	local label=$1 log=$2 n=0 bad=0 id name res reason
	while IFS=$'\t' read -r id name res reason; do
		subtest "$label.$name" "$res" ${reason:+"$reason"} || bad=1
		n=$((n + 1))
	done < <(unittest_results "$log")
	[ $n -gt 0 ] || { fail "no unittest result in $log"; return 1; }
	return $bad
}

# ---- counters -------------------------------------------------------------------
vmstat_get() { awk -v k="$1" '$1==k {print $2}' /proc/vmstat; }
swiotlb_used() { cat /sys/kernel/debug/swiotlb/io_tlb_used 2>/dev/null || echo 0; }
# dma_debug_errors VAR: dma-debug's error count into VAR, 0 without
# dma-debug. debug_locks VAR: 1 or 0 where the kernel has lockdep, - where
# it has none. Builtins only: run.sh reads both around every case.
dma_debug_errors() {
	local v=0
	{ read -r v </sys/kernel/debug/dma-api/error_count; } 2>/dev/null || v=0
	printf -v "$1" '%s' "${v:-0}"
}
debug_locks() {
	local k x v=-
	while read -r k x; do
		[ "$k" = debug_locks: ] && { v=$x; break; }
	done 2>/dev/null </proc/lockdep_stats
	printf -v "$1" '%s' "$v"
}

# ---- kmemleak -----------------------------------------------------------------------
KMEMLEAK=/sys/kernel/debug/kmemleak

# kmemleak_clear: forget what is already reported, so that a later
# kmemleak_check sees only what was leaked since. 1 if kmemleak is missing.
kmemleak_clear() { [ -w "$KMEMLEAK" ] && echo clear >"$KMEMLEAK"; }

# kmemleak_check: report unreferenced objects leaked since kmemleak_clear.
# An object is reported only once it is older than kmemleak's minimum age
# (5 s) and was found unreferenced by a scan; scan after that age, twice.
# Writing "scan" fails (EPERM) when kmemleak turned itself off, so a
# successful scan also proves it still works.
kmemleak_check() {
	local leaks
	[ -w "$KMEMLEAK" ] || { fail "kmemleak is not available ($KMEMLEAK)"; return 1; }
	sleep 6
	echo scan >"$KMEMLEAK" || { fail "kmemleak scan refused: kmemleak is off"; return 1; }
	echo scan >"$KMEMLEAK" || { fail "kmemleak scan refused: kmemleak is off"; return 1; }
	leaks=$(cat "$KMEMLEAK") || { fail "cannot read $KMEMLEAK"; return 1; }
	[ -z "$leaks" ] && return 0
	echo "$leaks" | head -40 | sed 's/^/#   /'
	fail "kmemleak reports unreferenced objects"
}

# The C test programs (tests/Makefile builds them into build/tests, or
# TEST_BIN_DIR for a stand-alone build).
TEST_BIN_DIR=${TEST_BIN_DIR:-$TESTS_DIR/../build/tests}
test_bin() { echo "$TEST_BIN_DIR/$1"; }
_have_test_bin() {
	[ -x "$(test_bin "$1")" ] || skip_because "$(test_bin "$1") not built (make -C tests)"
}
