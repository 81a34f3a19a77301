#!/usr/bin/env bash
# Run test cases and print KTAP.
#
#   tests/run.sh [-s SUITE]... [-t GLOB] [-T SECONDS] [-x FACTOR] [-E FILE] [-W FILE] [-l]
#
#   -s SUITE   run cases/SUITE/ (repeatable; default: every suite)
#   -t GLOB    only cases whose name matches GLOB (e.g. '*rping*')
#   -T SECONDS per-case timeout (default: timeout= in tests/settings); a
#              case that needs longer says so in a TIMEOUT= line
#   -x FACTOR  multiply every case's timeout by FACTOR (1..20), for slow
#              machines: the QEMU harness uses 4, TCG on a shared 2-core
#              host being many times slower than hardware
#   -E FILE    expected outcomes (tests/expect/*): every case and sub-test
#              must have exactly its expected result, skips with their
#              reason; anything else, missing or unlisted fails
#   -W FILE    write this run's outcomes to FILE, in the format of -E
#   -l         list the cases and exit
#
# Every case runs in its own process under a timeout. After each case the
# kernel messages it caused (read by sequence number from /dev/kmsg) are
# checked for WARNING, BUG, KASAN, kmemleak, lockdep and dma-debug reports;
# dma-debug's error count must not have grown and lockdep must still be on.
# Any of these fails the case, and so does a log that lost messages.
# Sub-tests (each kselftest_harness test a case runs, KUnit cases) are
# printed as nested KTAP before their case's result line.
# Exit status is 0 only if no case failed. Environment: RDMA_CORE_BUILD (an
# rdma-core build dir whose bin/ and lib/ are used instead of the system's),
# RXE_NETDEV, RXE_TESTMODE_NETDEV, RDMA_DMA_CONFIG (see README).
set -u
TESTS_DIR=$(cd "$(dirname "$0")" && pwd)
export TESTS_DIR

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "error: $*" >&2; exit 2; }

suites=() glob='*' list=0 expect= write= factor=1
timeout=$(sed -n 's/^timeout=//p' "$TESTS_DIR/settings" 2>/dev/null)
timeout=${timeout:-300}
while getopts "s:t:T:x:E:W:lh" o; do
	case $o in
	s) [ -d "$TESTS_DIR/cases/$OPTARG" ] || die "no suite '$OPTARG' (have: $(ls "$TESTS_DIR/cases" | tr '\n' ' '))"
	   suites+=("$OPTARG") ;;
	t) glob=$OPTARG ;;
	T) case $OPTARG in '' | *[!0-9]*) die "-T wants seconds, got '$OPTARG'" ;; esac
	   timeout=$OPTARG ;;
	x) [[ $OPTARG =~ ^([1-9]|1[0-9]|20)$ ]] || die "-x wants a factor from 1 to 20, got '$OPTARG'"
	   factor=$OPTARG ;;
	E) [ -r "$OPTARG" ] || die "-E $OPTARG: no such readable file"
	   expect=$(cd "$(dirname "$OPTARG")" && pwd)/$(basename "$OPTARG") ;;
	W) : >"$OPTARG" 2>/dev/null || die "-W $OPTARG: cannot write it"
	   write=$(cd "$(dirname "$OPTARG")" && pwd)/$(basename "$OPTARG") ;;
	l) list=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { echo "error: unexpected argument '$1'" >&2; usage; }
if [ ${#suites[@]} -eq 0 ]; then
	for d in "$TESTS_DIR"/cases/*/; do d=${d%/}; suites+=("${d##*/}"); done
fi

cases=() names=()
for s in "${suites[@]}"; do
	for f in "$TESTS_DIR/cases/$s"/[0-9]*.sh; do
		[ -f "$f" ] || continue
		n=${f##*/} n=${n%.sh}
		# shellcheck disable=SC2053
		[[ $n == $glob || $s/$n == $glob ]] && { cases+=("$f"); names+=("$s/$n"); }
	done
done
if [ $list -eq 1 ]; then
	printf '%s\n' "${names[@]}"
	exit 0
fi
[ ${#cases[@]} -gt 0 ] || die "no case matches (suites: ${suites[*]}, -t '$glob')"

# The kernel's own KTAP helpers (tools/testing/selftests/kselftest/).
ktap=${KTAP_HELPERS:-}
for c in "$ktap" "$TESTS_DIR/../build/linux/tools/testing/selftests/kselftest/ktap_helpers.sh" \
	/usr/src/linux/tools/testing/selftests/kselftest/ktap_helpers.sh \
	/usr/lib/kselftests/kselftest/ktap_helpers.sh; do
	[ -n "$c" ] && [ -f "$c" ] && { ktap=$c; break; }
done
[ -f "$ktap" ] || die "ktap_helpers.sh not found; set KTAP_HELPERS to tools/testing/selftests/kselftest/ktap_helpers.sh of a kernel tree"
# shellcheck disable=SC1090
. "$ktap"
# shellcheck disable=SC1091
. "$TESTS_DIR/lib/common.sh"
kmsg_bin=$(test_bin kmsg)
[ -x "$kmsg_bin" ] || die "$kmsg_bin not built (make -C tests)"

if [ -n "${RDMA_CORE_BUILD:-}" ]; then
	[ -d "$RDMA_CORE_BUILD/bin" ] || die "RDMA_CORE_BUILD=$RDMA_CORE_BUILD has no bin/"
	export PATH=$RDMA_CORE_BUILD/bin:$PATH
	export LD_LIBRARY_PATH=$RDMA_CORE_BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export PYTHONPATH=$RDMA_CORE_BUILD/python${PYTHONPATH:+:$PYTHONPATH}
fi

# expected NAME: the expectation lines of case NAME and its sub-tests.
expected() {
	awk -v n="$1" '!/^[[:space:]]*(#|$)/ && ($1 == n || index($1, n ":") == 1)' "$expect" |
		sed 's/[[:space:]]\{1,\}/ /g; s/ $//' | sort
}

# check_expected NAME ACTUAL_FILE: compare; print the differences, 1 if any.
check_expected() {
	local diffs
	diffs=$(diff <(expected "$1") <(sort "$2") | sed -n 's/^< /expected: /p; s/^> /got:      /p')
	[ -z "$diffs" ] && return 0
	ktap_print_msg "$1: outcome differs from $(basename "$expect"):"
	echo "$diffs" | sed 's/^/#   /'
	return 1
}

ktap_print_header
plan=${#cases[@]}
[ -z "$expect" ] || plan=$((plan + 1))
ktap_set_plan "$plan"
# Under TCG every process a check starts costs a good part of a second, so
# the checks around each case use shell builtins where they can, and carry
# the state read after one case over as the next case's starting point:
# nothing but run.sh runs between two cases.
dma_err=/sys/kernel/debug/dma-api/error_count
rxe0=$(rxe_devices)
e1=$(dma_debug_errors)
l1=$(debug_locks)
for i in "${!cases[@]}"; do
	f=${cases[$i]} name=${names[$i]}
	tmp=$(mktemp -d /tmp/rdmadma-case.XXXXXX)
	seq0=$("$kmsg_bin" mark "rdmadma-test: begin $name $$") || seq0=
	e0=$e1 l0=$l1
	t0=${EPOCHREALTIME/[.,]/}
	# DESCRIPTION="..." says what the case proves; a case that needs
	# longer than the default says so: TIMEOUT=SECONDS.
	desc= t=
	while IFS= read -r line; do
		[[ $line =~ ^DESCRIPTION=\"(.*)\"$ ]] && desc=${BASH_REMATCH[1]}
		[[ $line =~ ^TIMEOUT=([0-9]+)$ ]] && t=${BASH_REMATCH[1]}
		[[ $line == test_case\(\)* ]] && break
	done <"$f"
	ktap_print_msg "$name: $desc"
	t=$((${t:-$timeout} * factor))
	CASE_TMP=$tmp timeout -k 10 "$t" bash "$TESTS_DIR/lib/run-case.sh" "$f" 2>&1 | sed 's/^\([^#]\)/# \1/'
	rc=${PIPESTATUS[0]}
	ms=$(((${EPOCHREALTIME/[.,]/} - t0) / 1000))
	why=()
	if [ -z "$seq0" ]; then
		why+=("cannot mark the kernel log (/dev/kmsg); its check did not run")
	else
		klog=$("$kmsg_bin" since "$seq0" 2>"$tmp/kmsg.err")
		[ $? -eq 0 ] || why+=("$(cat "$tmp/kmsg.err")")
		bad=$(dmesg_bad <<<"$klog" | head -8)
		[ -z "$bad" ] || why+=("kernel log reports during the case:" "$bad")
	fi
	e1=
	[ ! -r "$dma_err" ] || read -r e1 <"$dma_err"
	e1=${e1:-0}
	[ "$e1" -le "$e0" ] || why+=("dma-debug error_count grew from $e0 to $e1")
	l1=$(debug_locks)
	[ "$l0" != 1 ] || [ "$l1" = 1 ] || why+=("lockdep turned itself off during the case (debug_locks $l1)")
	# rxe devices the case made and did not remove (a case killed on its
	# timeout cannot): removed here, so that the next case finds its
	# netdevs free, and held against the case.
	left=$(comm -13 <(echo "$rxe0") <(rxe_devices))
	if [ -n "$left" ]; then
		for d in $left; do rdma link delete "$d" 2>/dev/null; done
		why+=("the case left rxe devices behind: $(echo $left)")
	fi
	if [ ${#why[@]} -gt 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ]; then
		printf '%s\n' "${why[@]}" | sed "1s|^|# $name: |; 2,\$s|^|#   |"
		rc=1
	fi

	# This case's outcomes, one line each: "NAME RESULT [REASON]".
	out=$tmp/outcomes
	if [ -s "$tmp/subtests" ]; then
		echo "    1..$(wc -l <"$tmp/subtests")"
		awk '{ r = ($2 == "fail") ? "not ok" : "ok"; d = ""
		       if ($2 == "skip") { d = $0; sub(/^[^ ]+ skip ?/, "", d); d = " # SKIP " d }
		       printf "    %s %d %s%s\n", r, NR, $1, d }' "$tmp/subtests"
		sed "s|^|$name:|" "$tmp/subtests" >"$out"
	fi
	case $rc in
	0) echo "$name ok" ;;
	"$KSFT_SKIP") echo "$name skip $(cat "$tmp/skip_reason" 2>/dev/null || echo 'no reason given')" ;;
	*) echo "$name fail" ;;
	esac >>"$out"
	[ -z "$write" ] || cat "$out" >>"$write"
	if [ -n "$expect" ] && ! check_expected "$name" "$out" && [ "$rc" -ne 1 ]; then
		rc=1
	fi

	case $rc in
	0) ktap_test_pass "$name" ;;
	"$KSFT_SKIP")
		__ktap_test ok "$name" "SKIP $(cat "$tmp/skip_reason" 2>/dev/null || echo 'no reason given')"
		KTAP_CNT_SKIP=$((KTAP_CNT_SKIP + 1)) ;;
	124 | 137) ktap_print_msg "$name: timed out after ${t}s"; ktap_test_fail "$name" ;;
	*) ktap_test_fail "$name" ;;
	esac
	ktap_print_msg "$name: ${ms} ms"
	rm -rf "$tmp"
done

# Cases the expectations name within this selection that did not run.
if [ -n "$expect" ]; then
	missing=$(awk '!/^[[:space:]]*(#|$)/ { sub(/:.*/, "", $1); print $1 }' "$expect" | sort -u |
		while read -r n; do
			printf '%s\n' "${names[@]}" | grep -qxF "$n" && continue
			s=${n%%/*}
			printf '%s\n' "${suites[@]}" | grep -qxF "$s" || continue
			# shellcheck disable=SC2053
			[[ ${n#*/} == $glob || $n == $glob ]] && echo "$n"
		done)
	if [ -z "$missing" ]; then
		ktap_test_pass "expectations"
	else
		ktap_print_msg "expectations: $(basename "$expect") lists cases that do not exist:"
		echo "$missing" | sed 's/^/#   /'
		ktap_test_fail "expectations"
	fi
fi
ktap_print_totals
[ "$KTAP_CNT_FAIL" -eq 0 ]
