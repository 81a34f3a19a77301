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

# Under TCG every process costs a good part of a second, and several under
# load: the bookkeeping around each case (about 20 processes before, 20 to
# 30 s per case with four guests on 2 cores) is done with shell builtins.
# Per case only kmsg (mark, since), timeout, the case's bash and the sed
# that indents its output are started.

# norm VAR LINE: VAR = LINE with every run of blanks made one space, none
# at the ends. (No $(...): a command substitution forks.)
norm() { local -a w; read -ra w <<<"$2"; printf -v "$1" '%s' "${w[*]}"; }

# The expectation lines, loaded once: exp[CASE] holds the lines of CASE and
# its sub-tests ("CASE:SUB ..."), newline-separated, blanks normalised.
declare -A exp=()
if [ -n "$expect" ]; then
	while IFS= read -r line || [ -n "$line" ]; do
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		norm line "$line"
		n=${line%% *} n=${n%%:*}
		exp[$n]+=$line$'\n'
	done <"$expect"
fi

# check_expected NAME LINE...: the outcome lines of case NAME against its
# expectations, as multisets; print the differences, 1 if there are any.
check_expected() {
	local n=$1 l d=() w=() g=()
	shift
	declare -A want=() got=() told=()
	while IFS= read -r l; do
		[ -n "$l" ] && w+=("$l") && want[$l]=$((${want[$l]:-0} + 1))
	done <<<"${exp[$n]:-}"
	for l in "$@"; do norm l "$l"; g+=("$l"); got[$l]=$((${got[$l]:-0} + 1)); done
	# In the order of the file, then of the run; each difference once.
	for l in "${w[@]}"; do
		[ "${got[$l]:-0}" -ge "${want[$l]}" ] || [ -n "${told[e$l]:-}" ] ||
			{ d+=("expected: $l"); told[e$l]=1; }
	done
	for l in "${g[@]}"; do
		[ "${want[$l]:-0}" -ge "${got[$l]}" ] || [ -n "${told[g$l]:-}" ] ||
			{ d+=("got:      $l"); told[g$l]=1; }
	done
	[ ${#d[@]} -eq 0 ] && return 0
	ktap_print_msg "$n: outcome differs from ${expect##*/}:"
	printf '#   %s\n' "${d[@]}"
	return 1
}

# The rxe devices there before the first case (a case names every device it
# makes rxe*, see rxe_add).
declare -A rxe_before=()
for d in /sys/class/infiniband/rxe*; do [ -e "$d" ] && rxe_before[${d##*/}]=1; done

ktap_print_header
plan=${#cases[@]}
[ -z "$expect" ] || plan=$((plan + 1))
ktap_set_plan "$plan"
# One directory per case (CASE_TMP), all made with one mkdir.
work=$(mktemp -d /tmp/rdmadma-run.XXXXXX) || die "cannot make a directory in /tmp"
trap 'rm -rf "$work"' EXIT
dirs=()
for i in "${!cases[@]}"; do dirs+=("$work/$i"); done
mkdir -- "${dirs[@]}" || die "cannot make the case directories under $work"
dma_debug_errors e1
debug_locks l1
for i in "${!cases[@]}"; do
	f=${cases[$i]} name=${names[$i]} tmp=$work/$i
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
		if ! klog=$("$kmsg_bin" since "$seq0" 2>"$tmp/kmsg.err"); then
			read -r line <"$tmp/kmsg.err" || line="kmsg since $seq0 failed"
			why+=("$line")
		fi
		dmesg_bad bad 8 <<<"$klog"
		[ ${#bad[@]} -eq 0 ] || why+=("kernel log reports during the case:" "${bad[@]}")
	fi
	dma_debug_errors e1
	[ "$e1" -le "$e0" ] || why+=("dma-debug error_count grew from $e0 to $e1")
	debug_locks l1
	[ "$l0" != 1 ] || [ "$l1" = 1 ] || why+=("lockdep turned itself off during the case (debug_locks $l1)")
	# rxe devices the case made and did not remove (a case killed on its
	# timeout cannot): removed here, so that the next case finds its
	# netdevs free, and held against the case.
	left=()
	for d in /sys/class/infiniband/rxe*; do
		[ -e "$d" ] && [ -z "${rxe_before[${d##*/}]:-}" ] && left+=("${d##*/}")
	done
	if [ ${#left[@]} -gt 0 ]; then
		for d in "${left[@]}"; do rdma link delete "$d" 2>/dev/null; done
		why+=("the case left rxe devices behind: ${left[*]}")
	fi
	if [ ${#why[@]} -gt 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ]; then
		printf '# %s: %s\n' "$name" "${why[0]}"
		[ ${#why[@]} -eq 1 ] || printf '#   %s\n' "${why[@]:1}"
		rc=1
	fi

	# This case's outcomes, one line each: "NAME RESULT [REASON]"; its
	# sub-tests (CASE_TMP/subtests: "SUB RESULT [REASON]") as nested KTAP.
	out=()
	if [ -s "$tmp/subtests" ]; then
		mapfile -t subs <"$tmp/subtests"
		echo "    1..${#subs[@]}"
		for j in "${!subs[@]}"; do
			read -r s r reason <<<"${subs[$j]}"
			case $r in
			fail) echo "    not ok $((j + 1)) $s" ;;
			skip) echo "    ok $((j + 1)) $s # SKIP $reason" ;;
			*) echo "    ok $((j + 1)) $s" ;;
			esac
			out+=("$name:${subs[$j]}")
		done
	fi
	reason=
	[ "$rc" != "$KSFT_SKIP" ] || { read -r reason <"$tmp/skip_reason"; } 2>/dev/null
	reason=${reason:-no reason given}
	case $rc in
	0) out+=("$name ok") ;;
	"$KSFT_SKIP") out+=("$name skip $reason") ;;
	*) out+=("$name fail") ;;
	esac
	[ -z "$write" ] || printf '%s\n' "${out[@]}" >>"$write"
	if [ -n "$expect" ] && ! check_expected "$name" "${out[@]}" && [ "$rc" -ne 1 ]; then
		rc=1
	fi

	case $rc in
	0) ktap_test_pass "$name" ;;
	"$KSFT_SKIP")
		__ktap_test ok "$name" "SKIP $reason"
		KTAP_CNT_SKIP=$((KTAP_CNT_SKIP + 1)) ;;
	124 | 137) ktap_print_msg "$name: timed out after ${t}s"; ktap_test_fail "$name" ;;
	*) ktap_test_fail "$name" ;;
	esac
	ktap_print_msg "$name: ${ms} ms"
done

# Cases the expectations name within this selection that did not run.
if [ -n "$expect" ]; then
	declare -A ran=() chosen=()
	for n in "${names[@]}"; do ran[$n]=1; done
	for n in "${suites[@]}"; do chosen[$n]=1; done
	missing=()
	for n in "${!exp[@]}"; do
		[ -z "${ran[$n]:-}" ] && [ -n "${chosen[${n%%/*}]:-}" ] || continue
		# shellcheck disable=SC2053
		[[ ${n#*/} == $glob || $n == $glob ]] && missing+=("$n")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		ktap_test_pass "expectations"
	else
		ktap_print_msg "expectations: ${expect##*/} lists cases that did not run:"
		printf '#   %s\n' "${missing[@]}"
		ktap_test_fail "expectations"
	fi
fi
ktap_print_totals
[ "$KTAP_CNT_FAIL" -eq 0 ]
