#!/usr/bin/env bash
# Run test cases and print KTAP.
#
#   tests/run.sh [-s SUITE]... [-t GLOB] [-T SECONDS] [-l]
#
#   -s SUITE   run cases/SUITE/ (repeatable; default: every suite)
#   -t GLOB    only cases whose name matches GLOB (e.g. '*rping*')
#   -T SECONDS per-case timeout (default: timeout= in tests/settings)
#   -l         list the cases and exit
#
# Every case runs in its own process under a timeout. After each case the
# kernel log since the case began is checked for WARNING, BUG, KASAN,
# kmemleak, lockdep and dma-debug reports, and dma-debug's error count must
# not have grown: any of these fails the case. Exit status is 0 only if no
# case failed. Environment: RDMA_CORE_BUILD (an rdma-core build dir whose
# bin/ and lib/ are used instead of the system's), RXE_NETDEV,
# RXE_TESTMODE_NETDEV, RDMA_DMA_CONFIG (see README).
set -u
TESTS_DIR=$(cd "$(dirname "$0")" && pwd)
export TESTS_DIR

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

suites=() glob='*' list=0
timeout=$(sed -n 's/^timeout=//p' "$TESTS_DIR/settings" 2>/dev/null)
timeout=${timeout:-300}
while getopts "s:t:T:lh" o; do
	case $o in
	s) [ -d "$TESTS_DIR/cases/$OPTARG" ] || { echo "error: no suite '$OPTARG' (have: $(ls "$TESTS_DIR/cases" | tr '\n' ' '))" >&2; exit 2; }
	   suites+=("$OPTARG") ;;
	t) glob=$OPTARG ;;
	T) case $OPTARG in '' | *[!0-9]*) echo "error: -T wants seconds, got '$OPTARG'" >&2; exit 2 ;; esac
	   timeout=$OPTARG ;;
	l) list=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { echo "error: unexpected argument '$1'" >&2; usage; }
if [ ${#suites[@]} -eq 0 ]; then
	for d in "$TESTS_DIR"/cases/*/; do suites+=("$(basename "$d")"); done
fi

cases=()
for s in "${suites[@]}"; do
	for f in "$TESTS_DIR/cases/$s"/[0-9]*.sh; do
		[ -f "$f" ] || continue
		n=$(basename "$f" .sh)
		# shellcheck disable=SC2053
		[[ $n == $glob || $s/$n == $glob ]] && cases+=("$f")
	done
done
if [ $list -eq 1 ]; then
	for f in "${cases[@]}"; do echo "$(basename "$(dirname "$f")")/$(basename "$f" .sh)"; done
	exit 0
fi

# The kernel's own KTAP helpers (tools/testing/selftests/kselftest/).
ktap=${KTAP_HELPERS:-}
for c in "$ktap" "$TESTS_DIR/../build/linux/tools/testing/selftests/kselftest/ktap_helpers.sh" \
	/usr/src/linux/tools/testing/selftests/kselftest/ktap_helpers.sh \
	/usr/lib/kselftests/kselftest/ktap_helpers.sh; do
	[ -n "$c" ] && [ -f "$c" ] && { ktap=$c; break; }
done
[ -f "$ktap" ] || { echo "error: ktap_helpers.sh not found; set KTAP_HELPERS to tools/testing/selftests/kselftest/ktap_helpers.sh of a kernel tree" >&2; exit 2; }
# shellcheck disable=SC1090
. "$ktap"

if [ -n "${RDMA_CORE_BUILD:-}" ]; then
	[ -d "$RDMA_CORE_BUILD/bin" ] || { echo "error: RDMA_CORE_BUILD=$RDMA_CORE_BUILD has no bin/" >&2; exit 2; }
	export PATH=$RDMA_CORE_BUILD/bin:$PATH
	export LD_LIBRARY_PATH=$RDMA_CORE_BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export PYTHONPATH=$RDMA_CORE_BUILD/python${PYTHONPATH:+:$PYTHONPATH}
fi

dmesg_bad='WARNING:|BUG:|KASAN|kmemleak:|unreferenced object|possible circular locking|possible recursive locking|lockdep|DMA-API:|cm_destroy_id_wait_timeout|general protection|Oops'
kmsg() { echo "$*" >/dev/kmsg 2>/dev/null || true; }

ktap_print_header
ktap_set_plan "${#cases[@]}"
for f in "${cases[@]}"; do
	name=$(basename "$(dirname "$f")")/$(basename "$f" .sh)
	tmp=$(mktemp -d /tmp/rdmadma-case.XXXXXX)
	marker="rdmadma-test: begin $name $$"
	kmsg "$marker"
	e0=$(cat /sys/kernel/debug/dma-api/error_count 2>/dev/null || echo 0)
	t0=$(date +%s%N)
	ktap_print_msg "$name: $(sed -n 's/^DESCRIPTION="\(.*\)"$/\1/p' "$f")"
	# A case that needs longer than the default says so: TIMEOUT=SECONDS.
	t=$(sed -n 's/^TIMEOUT=\([0-9][0-9]*\)$/\1/p' "$f")
	t=${t:-$timeout}
	CASE_TMP=$tmp timeout -k 10 "$t" bash "$TESTS_DIR/lib/run-case.sh" "$f" 2>&1 | sed 's/^\([^#]\)/# \1/'
	rc=${PIPESTATUS[0]}
	ms=$((($(date +%s%N) - t0) / 1000000))
	kmsg "rdmadma-test: end $name $$"
	bad=$(dmesg 2>/dev/null | awk -v m="$marker" 'seen; index($0, m) {seen = 1}' |
		grep -E "$dmesg_bad" | grep -v 'rdmadma-test' | head -5)
	e1=$(cat /sys/kernel/debug/dma-api/error_count 2>/dev/null || echo 0)
	if [ "$rc" -eq 0 ] && [ -n "$bad" ]; then
		ktap_print_msg "$name: kernel log reports during the case:"
		echo "$bad" | sed 's/^/#   /'
		rc=1
	fi
	if [ "$rc" -eq 0 ] && [ "$e1" -gt "$e0" ]; then
		ktap_print_msg "$name: dma-debug error_count grew from $e0 to $e1"
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
ktap_print_totals
[ "$KTAP_CNT_FAIL" -eq 0 ]
