#!/usr/bin/env bash
# Compatibility guests (make check-compat): userspace and kernel from
# different sides of the project, each held to its own expectation file.
#
#   ci/check-compat.sh [--only sid|debian12|stock]
#
#   compat-sid-direct, compat-sid-swiotlb
#       Debian sid's own, unpatched rdma-core 65 (root filesystem from
#       ci/sid-root.sh) on the patched kernel: smoke passes, refusals come
#       with EOPNOTSUPP, CC_DMA_BOUNCE is listed exactly when bit 41 is set
#       (never under TCG), upstream's test_buf.py and test_mr.py pass or
#       skip for stated reasons. Expectations: tests/expect/compat-sid-*.
#   compat-debian12-direct
#       this project's rdma-core on Debian 12's own 6.1 kernel
#       (ci/debian-kernel.sh): no hint or log line claims a cause the
#       kernel did not report. tests/expect/compat-debian12-direct.
#   compat-stock-direct
#       the same on the project's stock 6.12 (ci/kernel-build.sh --variant
#       stock, built here if make check has not built it).
#       tests/expect/compat-stock-direct.
#
# First the rdma-core series is exported as a debian/patches quilt series
# and checked with quilt push -a --fuzz=0. One guest at a time. A guest whose last run passed with identical inputs
# is reused (FRESH=1 boots it again). Closing line: N passed, N failed, N skipped.
. "$(dirname "$0")/lib.sh"
rm -f "$BUILD"/compat-*.log

only=
while [ $# -gt 0 ]; do
	case "$1" in
	--only) only=${2:?--only needs sid, debian12 or stock}; shift 2 ;;
	-h | --help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done
reuse=() && fresh_reuse
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }
# smoke and compat: what these guests are for. The mr suite (the C test
# programs, which resolve the guest's libibverbs) is left to make check's
# guests; COMPAT_SUITES adds it here too (then its expectation lines must
# be added to tests/expect/compat-*).
suites=${COMPAT_SUITES:-smoke,compat}

prepare_all
# The rdma-core series as Debian ships patches: quilt must apply it with no
# fuzz to pristine 56.1, to the same tree git am makes.
step "rdma-core series as debian/patches (quilt push -a --fuzz=0)" \
	"$TOP/ci/series.sh" export-debian rdma-core "$BUILD/debian-patches/rdma-core"
want sid && step "Debian sid root filesystem" "$TOP/ci/sid-root.sh" root
want debian12 && step "Debian 12 kernel" "$TOP/ci/debian-kernel.sh"
want stock && step "stock kernel (no series)" nice -n 10 "$TOP/ci/kernel-build.sh" --variant stock

# guest NAME MATRIX-ARGS...: one matrix.sh run, timed, output prefixed.
rc=0
guest() {
	local name=$1 t0 r=0
	shift
	t0=$(date +%s)
	"$TOP/tests/vm/matrix.sh" "$@" "${reuse[@]}" 2>&1 | tee "$BUILD/compat-$name.log" |
		sed -u "s/^/[compat-$name] /" || r=$?
	log "guest compat-$name: $([ $r -eq 0 ] && echo passed || echo FAILED) in $(($(date +%s) - t0))s"
	[ $r -eq 0 ] || rc=1
}

if want sid; then
	# The root's key goes on the kernel command line (passed on to init,
	# unused), so that a rebuilt root is never mistaken for the old one.
	key=$(cat "$BUILD/sid-root.key")
	for c in direct swiotlb; do
		guest "sid-$c" --configs "$c" --suites "$suites" --tag compat-sid --expect compat-sid \
			--no-rdma-core --root "$BUILD/sid-root" --append "rdmadma_root=${key:0:16}"
	done
fi
want debian12 &&
	guest debian12-direct --configs direct --suites "$suites" --tag compat-debian12 --expect compat-debian12 \
		--kernel "$BUILD/debian-kernel/vmlinuz" --initrd "$BUILD/debian-kernel/initrd.img"
want stock &&
	guest stock-direct --configs direct --suites "$suites" --tag compat-stock --expect compat-stock \
		--kernel "$BUILD/kbuild-stock/arch/x86/boot/bzImage"

cat "$BUILD"/compat-*.log 2>/dev/null | awk '
	/^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$/ {p+=$1; f+=$3; s+=$5}
	END {printf "%d passed, %d failed, %d skipped\n", p, f, s}'
exit $rc
