#!/usr/bin/env bash
# Run the test suites in several DMA configurations, one guest boot each,
# and print one KTAP stream plus the closing line "N passed, N failed, N skipped".
#
#   tests/vm/matrix.sh [--configs direct,swiotlb,iommu] [--suites LIST]
#                      [--kernel PATH] [--tag NAME] [--expect KIND] [--reuse]
#                      [--arch arm64] [run-vm.sh options...]
#
# Results go to build/vm/<tag>-<config>/ (tag defaults to "check").
# --expect KIND: hold each guest to tests/expect/KIND-<config> (run.sh -E):
# a missing, unlisted or unexpectedly skipped test point fails it.
# --reuse: a configuration whose previous run passed, with byte-identical
# inputs (kernel image, tests and test programs, rdma-core build, Debian
# packages used in the guest, harness, options), is not booted again; its
# recorded result is reported and marked "reused".
# Exit status: 0 only when every configuration finished and no test failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

configs=direct,swiotlb,iommu tag=check pass_through=() reuse=0 initrd= kind=
kernel=$top/build/kbuild/arch/x86/boot/bzImage rdma_core=$top/build/rdma-core/build
arch=x86_64 tests_bin=$top/build/tests root_stamp= no_rdma_core=0
while [ $# -gt 0 ]; do
	case "$1" in
	--configs) configs=${2:?--configs needs a list}; shift 2 ;;
	--tag) tag=${2:?--tag needs a name}; shift 2 ;;
	--reuse) reuse=1; shift ;;
	--expect) kind=${2:?--expect needs a kind (tests/expect/KIND-CONFIG)}; shift 2 ;;
	--kernel) kernel=${2:?--kernel needs a path}; pass_through+=("$1" "$2"); shift 2 ;;
	--initrd) initrd=${2:?--initrd needs a path}; pass_through+=("$1" "$2"); shift 2 ;;
	--no-rdma-core) no_rdma_core=1; pass_through+=("$1"); shift ;;
	--arch) arch=${2:?--arch needs a value}; pass_through+=("$1" "$2"); shift 2
		if [ "$arch" = arm64 ]; then
			# what run-vm.sh --arch arm64 boots by default
			[[ " ${pass_through[*]} " == *" --kernel "* ]] ||
				kernel=$top/build/kbuild-arm64/arch/arm64/boot/Image
			rdma_core=$top/build/rdma-core/build-arm64 tests_bin=$top/build/tests-arm64
			root_stamp=$top/build/arm64-root/.rdmadma-root
		fi ;;
	-h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) pass_through+=("$1"); shift ;;
	esac
done

[ $no_rdma_core -eq 0 ] || rdma_core=

# inputs_key CONFIG: one hash over everything a guest's result depends on.
inputs_key() {
	{
		echo "config=$1 expect=$kind args=${pass_through[*]}"
		sha256sum "$kernel" ${initrd:+"$initrd"}
		(cd "$top" && find tests -type f ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum)
		find "$tests_bin" -maxdepth 1 -type f -print0 2>/dev/null | sort -z | xargs -0r sha256sum
		# the arm64 root filesystem: its package list and build script
		[ -z "$root_stamp" ] || cat "$root_stamp" 2>/dev/null
		# ninja rewrites only what changed: names, sizes and times identify a build.
		[ -n "$rdma_core" ] && find "$rdma_core/bin" "$rdma_core/lib" "$rdma_core/python" \
			-type f -printf '%p %s %T@\n' 2>/dev/null | sort
		dpkg-query -W rdma-core ibverbs-providers libibverbs1 librdmacm1t64 librdmacm1 \
			ibverbs-utils rdmacm-utils perftest iproute2 qemu-system-x86 busybox-static \
			${root_stamp:+qemu-system-arm device-tree-compiler} 2>/dev/null
	} | sha256sum | cut -d' ' -f1
}

IFS=, read -ra cfgs <<<"$configs"
for c in "${cfgs[@]}"; do
	case "$arch:$c" in *:direct | *:swiotlb | *:iommu | arm64:noncoherent) ;;
	*) echo "error: unknown DMA configuration '$c' (direct, swiotlb or iommu; arm64 also noncoherent)" >&2; exit 2 ;; esac
	if [ -n "$kind" ] && [ ! -f "$top/tests/expect/$kind-$c" ]; then
		echo "error: no expectation file tests/expect/$kind-$c" >&2
		exit 2
	fi
done

pass=0 fail=0 skip=0 broken=()
for c in "${cfgs[@]}"; do
	out=$top/build/vm/$tag-$c
	# The key of every clean pass is recorded; --reuse decides whether a
	# matching one is trusted instead of booting.
	key=
	[ -f "$kernel" ] && key=$(inputs_key "$c")
	if [ $reuse -eq 1 ] && [ -n "$key" ] && [ "$(cat "$out/inputs.passed" 2>/dev/null)" = "$key" ] &&
		[ "$(cat "$out/exit_code" 2>/dev/null)" = 0 ] && [ -f "$out/output.ktap" ]; then
		echo "# config $c: reused: nothing it depends on changed since it passed at" \
			"$(date -r "$out/inputs.passed" '+%F %T') (FRESH=1 boots it again)"
		rc=0
	else
		rm -f "$out/inputs.passed"
		"$here/run-vm.sh" --config "$c" --out "$out" ${kind:+--expect "$top/tests/expect/$kind-$c"} \
			"${pass_through[@]}"
		rc=$?
		# Only a clean pass is ever reused; a failure always runs again.
		[ -n "$key" ] && [ $rc -eq 0 ] && ! grep -qE '^not ok ' "$out/output.ktap" 2>/dev/null &&
			echo "$key" >"$out/inputs.passed"
	fi
	[ $rc -eq 2 ] && exit 2 # bad arguments: stop at once
	if [ $rc -eq 125 ] || [ ! -f "$out/output.ktap" ]; then
		broken+=("$c")
		fail=$((fail + 1))
		continue
	fi
	p=$(grep -cE '^ok [0-9]+ ' "$out/output.ktap" | tr -d '\n')
	s=$(grep -cE '^ok [0-9]+ .*# SKIP' "$out/output.ktap" | tr -d '\n')
	f=$(grep -cE '^not ok [0-9]+ ' "$out/output.ktap" | tr -d '\n')
	pass=$((pass + p - s)) skip=$((skip + s)) fail=$((fail + f))
	echo "# config $c: $((p - s)) passed, $f failed, $s skipped"
	if [ $((p + f)) -eq 0 ]; then
		echo "# config $c: no test ran (empty plan); that proves nothing and counts as a failure"
		broken+=("$c")
		fail=$((fail + 1))
		continue
	fi
	grep -E '^not ok [0-9]+ ' "$out/output.ktap" | sed "s/^/# $c: /"
	# The plan must match the test points: fewer means the run stopped early.
	plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$out/output.ktap" | head -1)
	if [ "${plan:-x}" != $((p + f)) ]; then
		echo "# config $c: plan 1..${plan:-?} but $((p + f)) test points"
		broken+=("$c")
		fail=$((fail + 1))
		continue
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "# config $c: runner exited $rc without a failed test point"
		broken+=("$c")
		fail=$((fail + 1))
	fi
done
[ ${#broken[@]} -eq 0 ] || echo "# configurations that did not finish cleanly: ${broken[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
