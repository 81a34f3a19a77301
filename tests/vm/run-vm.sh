#!/usr/bin/env bash
# Boot the test kernel in QEMU with a named DMA configuration and run one
# command inside (by default the test suites), collecting its KTAP output.
#
#   tests/vm/run-vm.sh [options] [-- COMMAND ARGS...]
#
#   --config NAME   direct | swiotlb | iommu              (default: direct)
#                   arm64 also: noncoherent
#   --arch A        x86_64 (default) or arm64 (see below)
#   --kernel PATH   bzImage        (default: build/kbuild/arch/x86/boot/bzImage)
#   --initrd PATH   initramfs for a modular kernel (ci/debian-kernel.sh makes one)
#   --out DIR       results directory      (default: build/vm/<config>)
#   --timeout SEC   wall-clock limit for boot + command   (default: 3600)
#   --mem SIZE      guest memory, 1G to 16G (default: 3G; make bench's scale
#                   curve registers 4 GiB and asks for more)
#   --accel A       tcg (default) or kvm; kvm only when asked, and it must work
#   --icount SHIFT  tcg only: count instructions, guest time advancing 2^SHIFT ns
#                   per instruction (0..10), on single-threaded TCG with
#                   sleep=off; guest clocks then measure executed work, not
#                   host time (make bench's counted figures). Default: off
#   --append STR    extra kernel command line
#   --suites LIST   comma-separated suites for tests/run.sh (default: all)
#   --expect FILE   expected outcomes for tests/run.sh -E (default: none)
#   --no-rdma-core  use the host's rdma-core binaries, not build/rdma-core
#   --device SPEC   one more QEMU -device (repeatable; make bench adds a spare
#                   PCI function for dma_map_benchmark)
#   --root DIR      root filesystem of the guest (default: the host's /);
#                   another root must hold /rdmadma-init (see below)
#
# The project is shared read-only with every guest (9p tag "project") and
# mounted at /run/project. With the host's root, init is tests/vm/guest-init.sh
# there; another root (a Debian of another release or architecture, made by
# a ci/ script) provides /rdmadma-init, which mounts the project share and
# hands over to the same guest-init.sh.
#
# --arch arm64: qemu-system-aarch64 -machine virt (TCG, cortex-a57), booted
# with a device tree dumped from the same machine (-machine virt,dumpdtb)
# and edited with fdtput: "noncoherent" deletes dma-coherent from the PCIe
# host bridge (pci-host-ecam-generic) and from the root node, so every PCI
# device is non-coherent for Linux; "direct" keeps it (the coherent
# control); "iommu" adds an SMMUv3 (virt,iommu=smmuv3). Defaults: kernel
# build/kbuild-arm64/arch/arm64/boot/Image, root build/arm64-root
# (ci/arm64-root.sh), rdma-core build/rdma-core/build-arm64, test programs
# build/tests-arm64 (TEST_BIN_DIR in the guest).
#
# COMMAND runs in the guest from the project directory. Output: DIR/output.ktap,
# DIR/console.log (serial), DIR/dmesg.txt, DIR/exit_code, and for the default
# command DIR/outcomes.txt (every outcome, in the format of tests/expect/).
# Exit status is the command's; 125 when the guest never finished (the serial
# log path is printed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

die() { echo "error: $*" >&2; exit 2; }
usage() { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit "${1:-2}"; }

config=direct kernel= out= tmo=3600 mem=3G accel=tcg arch=x86_64 no_rdma_core=0
append= suites= rdma_core= initrd= expect= root= icount=
qemu_dev=()
while [ $# -gt 0 ]; do
	case "$1" in
	--config) config=${2:?--config needs a name}; shift 2 ;;
	--kernel) kernel=${2:?--kernel needs a path}; shift 2 ;;
	--initrd) initrd=${2:?--initrd needs a path}; shift 2 ;;
	--out) out=${2:?--out needs a directory}; shift 2 ;;
	--timeout) tmo=${2:?--timeout needs seconds}; shift 2 ;;
	--mem) mem=${2:?--mem needs a size like 6G}; shift 2 ;;
	--accel) accel=${2:?--accel needs tcg or kvm}; shift 2 ;;
	--icount) icount=${2:?--icount needs a shift from 0 to 10}; shift 2 ;;
	--append) append=${2?--append needs a string}; shift 2 ;;
	--suites) suites=${2:?--suites needs a list}; shift 2 ;;
	--expect) expect=${2:?--expect needs a file}; shift 2 ;;
	--root) root=${2:?--root needs a directory}; shift 2 ;;
	--arch) arch=${2:?--arch needs x86_64 or arm64}; shift 2 ;;
	--no-rdma-core) no_rdma_core=1; shift ;;
	--device) qemu_dev+=(-device "${2:?--device needs a QEMU device spec}"); shift 2 ;;
	-h | --help) usage 0 ;;
	--) shift; break ;;
	*) echo "error: unknown option '$1'" >&2; usage ;;
	esac
done
case $tmo in '' | *[!0-9]*) die "--timeout wants seconds, got '$tmo'" ;; esac
[[ $mem =~ ^([1-9]|1[0-6])G$ ]] || die "--mem wants 1G to 16G, got '$mem'"

# Per architecture: QEMU, machine, console, and what the guest runs.
dt_edit= test_bin= nic1_bus=
case "$arch" in
x86_64)
	qemu_bin=qemu-system-x86_64 machine=q35 console=ttyS0 cpu=max
	kernel=${kernel:-$top/build/kbuild/arch/x86/boot/bzImage}
	rdma_core=${rdma_core:-$top/build/rdma-core/build} root=${root:-/}
	case "$config" in
	direct) ;;
	swiotlb) append="swiotlb=force $append" ;;
	iommu)
		append="intel_iommu=on iommu.strict=1 $append"
		qemu_dev+=(-device intel-iommu,intremap=on)
		;;
	*) die "unknown DMA configuration '$config' (direct, swiotlb or iommu)" ;;
	esac
	;;
arm64)
	# cortex-a57 (ARMv8.0): no pointer authentication, which TCG
	# emulates slowly.
	qemu_bin=qemu-system-aarch64 machine=virt console=ttyAMA0 cpu=cortex-a57
	kernel=${kernel:-$top/build/kbuild-arm64/arch/arm64/boot/Image}
	rdma_core=${rdma_core:-$top/build/rdma-core/build-arm64} root=${root:-$top/build/arm64-root}
	test_bin=$top/build/tests-arm64
	case "$config" in
	direct) ;;
	swiotlb) append="swiotlb=force $append" ;;
	noncoherent) dt_edit=noncoherent ;;
	iommu) machine=virt,iommu=smmuv3 append="iommu.strict=1 $append" ;;
	untrusted)
		# An experiment, not a test configuration: eth1 behind a PCIe
		# root port that the device tree marks external-facing. Linux
		# 6.12 only sets the port's external_facing from it (which
		# turns off ATS); it marks devices untrusted only on x86
		# (arch_pci_dev_is_removable()), so nothing here bounces.
		machine=virt,iommu=smmuv3 append="iommu.strict=1 $append" dt_edit=untrusted
		qemu_dev+=(-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,addr=0x10) nic1_bus=,bus=rp0
		;;
	*) die "unknown DMA configuration '$config' for arm64 (direct, swiotlb, noncoherent or iommu)" ;;
	esac
	command -v fdtput >/dev/null || die "fdtput not installed (package device-tree-compiler); run 'make deps'"
	[ -x "$test_bin/reg_mr" ] || die "no arm64 test programs in $test_bin; run ci/check-arm64.sh (or make check-arm64)"
	;;
*) die "unknown architecture '$arch' (x86_64 or arm64)" ;;
esac
[ $no_rdma_core -eq 0 ] || rdma_core=
[ "$arch" = x86_64 ] || [ "$accel" = tcg ] || die "--accel $accel: arm64 guests run under tcg only"

# QEMU counts instructions only on single-threaded TCG; shift=auto would
# follow the host's speed again, so only a fixed shift is accepted.
if [ -n "$icount" ]; then
	[[ $icount =~ ^([0-9]|10)$ ]] || die "--icount wants a shift from 0 to 10 (2^SHIFT ns per instruction), got '$icount'"
	[ "$accel" = tcg ] || die "--icount counts instructions under TCG only, not with --accel $accel"
fi
case "$accel" in
tcg)
	if [ -n "$icount" ]; then
		accel_opt=(-accel tcg,thread=single -icount "shift=$icount,sleep=off" -cpu "$cpu")
	else
		accel_opt=(-accel tcg,thread=multi -cpu "$cpu")
	fi
	;;
kvm)
	[ -w /dev/kvm ] || die "--accel kvm: /dev/kvm is missing or not writable; use tcg"
	accel_opt=(-accel kvm -cpu host)
	kvm_probe=1
	;;
*) die "unknown accelerator '$accel' (tcg or kvm)" ;;
esac

command -v "$qemu_bin" >/dev/null || die "$qemu_bin not installed; run 'make deps'"
[ -x "${root%/}/bin/busybox" ] || die "${root%/}/bin/busybox missing (package busybox-static); run 'make deps'"
[ -f "$kernel" ] || die "no kernel at $kernel; run 'make kernel'"
[ -z "$initrd" ] || [ -f "$initrd" ] || die "no initramfs at $initrd"
if [ "$root" != / ]; then
	[ -d "$root" ] || die "--root $root: no such directory"
	root=$(cd "$root" && pwd)
	[ -x "$root/rdmadma-init" ] || die "--root $root has no executable /rdmadma-init (made by the ci/ script that builds it)"
	# guest-init.sh binds the project back at its host path, where builds
	# recorded absolute paths; the root is read-only in the guest.
	mkdir -p "$root$top" || die "cannot make the mount point $root$top"
fi
if [ -n "$expect" ]; then
	[ -f "$expect" ] || die "--expect $expect: no such file"
	expect=$(cd "$(dirname "$expect")" && pwd)/$(basename "$expect")
	case $expect in "$top"/*) ;; *) die "--expect $expect: must lie inside $top (the guest sees only the project)" ;; esac
fi
if [ -n "$rdma_core" ] && [ ! -x "$rdma_core/bin/ibv_devinfo" ]; then
	die "no rdma-core build at $rdma_core; run 'make rdma-core' or pass --no-rdma-core"
fi
case "$top" in /proc/* | /sys/* | /dev/*) die "project directory $top cannot be shared with the guest" ;; esac

out=${out:-$top/build/vm/$config}
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/{output.ktap,outcomes.txt,console.log,dmesg.txt,exit_code,job.sh,virt.dtb} "$out"/pyverbs-*.txt

if [ $# -eq 0 ]; then
	# TCG on a shared host: every case gets four times its timeout.
	set -- tests/run.sh -x 4 -W /run/results/outcomes.txt ${expect:+-E "${expect#"$top"/}"}
	if [ -n "$suites" ]; then
		IFS=, read -ra ss <<<"$suites"
		for s in "${ss[@]}"; do set -- "$@" -s "$s"; done
	fi
fi
{
	printf 'PROJ_HOST=%q\n' "$top"
	printf 'RDMA_DMA_CONFIG=%q\n' "$config"
	# A kernel built by ci/kernel-build.sh has its modules installed next
	# to it (modroot); guest-init loads the RDMA ones from there. Named by
	# its physical path: build/kbuild* are absolute links, which resolve in
	# the guest only where the project is bound back at its host path.
	modroot=$(cd "$(dirname "$kernel")/../../.." 2>/dev/null && pwd -P)/modroot
	ptop=$(cd "$top" && pwd -P)
	case $modroot in
	"$ptop"/*) [ -d "$modroot/lib/modules" ] && printf 'MODROOT=%q\n' "/run/project/${modroot#"$ptop"/}" ;;
	esac
	[ -n "$rdma_core" ] && printf 'RDMA_CORE_BUILD=%q\n' "/run/project/${rdma_core#"$top"/}"
	[ -n "$test_bin" ] && printf 'TEST_BIN_DIR=%q\n' "/run/project/${test_bin#"$top"/}"
	printf 'GUEST_CMD=('; printf '%q ' "$@"; printf ')\n'
} >"$out/job.sh"

cmdline="console=$console root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,cache=loose,msize=262144 ro"
# A log buffer that holds a whole run, and userspace markers never rate-limited:
# run.sh reads each case's messages by sequence number and fails on a gap.
if [ "$root" = / ]; then init=$here/guest-init.sh; else init=/rdmadma-init; fi
cmdline+=" init=$init panic=-1 log_buf_len=16M printk.devkmsg=on $append"

nic=virtio-net-pci,disable-legacy=on,iommu_platform=on
# arm64: the machine's own device tree, dumped with the same options and
# edited for the configuration; the guest proves the edit (env/002).
dtb=()
if [ "$arch" = arm64 ]; then
	rm -f "$out/virt.dtb"
	"$qemu_bin" "${accel_opt[@]}" -smp 2 -m "$mem" -machine "$machine,dumpdtb=$out/virt.dtb" -nographic \
		-monitor none </dev/null >"$out/dumpdtb.log" 2>&1 || true
	[ -s "$out/virt.dtb" ] || die "$qemu_bin did not dump the device tree (see $out/dumpdtb.log)"
	# QEMU dumps its whole 1 MiB buffer. Booted as it is, the coherent
	# guest printed nothing in 5 minutes; fdtput's edits pack the blob,
	# and packed, it boots. Pack it for every configuration.
	dtc -q -I dtb -O dtb -o "$out/virt.dtb" "$out/virt.dtb" ||
		die "dtc cannot repack $out/virt.dtb"
	host=
	for n in $(fdtget -l "$out/virt.dtb" /); do
		fdtget "$out/virt.dtb" "/$n" compatible 2>/dev/null | grep -qw pci-host-ecam-generic && host=/$n
	done
	[ -n "$host" ] || die "no pci-host-ecam-generic node in the dumped device tree"
	if [ "$dt_edit" = untrusted ]; then
		# the root port at 00:10.0 (reg: bus << 16 | devfn << 8)
		fdtput -c "$out/virt.dtb" "$host/pci@10,0" &&
			fdtput -t x "$out/virt.dtb" "$host/pci@10,0" reg 8000 0 0 0 0 &&
			fdtput "$out/virt.dtb" "$host/pci@10,0" external-facing ||
			die "cannot add the external-facing root port node under $host"
		echo "[vm] device tree: root port $host/pci@10,0 marked external-facing" >&2
	fi
	if [ "$dt_edit" = noncoherent ]; then
		fdtput -d "$out/virt.dtb" "$host" dma-coherent ||
			die "cannot delete dma-coherent from $host (QEMU no longer sets it there?)"
		# QEMU 9.1 and later also mark the root node
		! fdtget -p "$out/virt.dtb" / | grep -qx dma-coherent || fdtput -d "$out/virt.dtb" / dma-coherent
		echo "[vm] device tree: dma-coherent removed from $host" >&2
	fi
	dtb=(-dtb "$out/virt.dtb")
fi

qemu=("$qemu_bin" "${accel_opt[@]}" -smp 2 -m "$mem" -machine "$machine" -nographic -no-reboot
	-monitor none -serial "file:$out/console.log" "${qemu_dev[@]}"
	-kernel "$kernel" ${initrd:+-initrd "$initrd"} "${dtb[@]}" -append "$cmdline"
	-fsdev "local,id=r,path=$root,security_model=none,readonly=on,multidevs=remap"
	-device virtio-9p-pci,fsdev=r,mount_tag=/dev/root
	-fsdev "local,id=proj,path=$top,security_model=none,readonly=on,multidevs=remap"
	-device virtio-9p-pci,fsdev=proj,mount_tag=project
	-fsdev "local,id=res,path=$out,security_model=none"
	-device virtio-9p-pci,fsdev=res,mount_tag=results
	-netdev user,id=n0,restrict=on,ipv6=off -device "$nic,netdev=n0"
	-netdev user,id=n1,restrict=on,ipv6=off -device "$nic,netdev=n1$nic1_bus")

# KVM guests have been seen to abort on MSR setup on these hosts: before
# trusting KVM, boot the kernel once with no root and expect it to get as far
# as looking for one.
if [ "${kvm_probe:-0}" = 1 ]; then
	echo "[vm] probing KVM with a short boot" >&2
	timeout -k 5 90 qemu-system-x86_64 "${accel_opt[@]}" -smp 2 -m 1G -machine q35 -nographic \
		-no-reboot -monitor none -serial "file:$out/kvm-probe.log" -kernel "$kernel" \
		-append "console=ttyS0 panic=-1 root=/dev/nonexistent" </dev/null >/dev/null 2>&1 || true
	grep -qE 'VFS: Unable to mount root|Kernel panic' "$out/kvm-probe.log" 2>/dev/null ||
		die "--accel kvm: a probe boot did not reach the root mount (log: $out/kvm-probe.log); use tcg"
fi

t0=$(date +%s)
echo "[vm] booting '$config' ($arch, $accel${icount:+, icount shift=$icount}, $(basename "$kernel")), limit ${tmo}s; serial log: $out/console.log" >&2
: >"$out/console.log"
timeout -k 10 "$tmo" "${qemu[@]}" </dev/null >"$out/qemu.log" 2>&1 &
qpid=$!
# Show the guest's KTAP lines as they arrive (kernel messages stay in the log).
tail -n +1 --pid=$qpid -f "$out/console.log" 2>/dev/null |
	grep --line-buffered -E '^( {4})?(ok |not ok |1\.\.)|^(# |TAP |KTAP |guest-init:)' || true
qrc=0
wait $qpid || qrc=$?
el=$(($(date +%s) - t0))
if [ ! -f "$out/exit_code" ]; then
	if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
		echo "[vm] '$config' did not finish within ${tmo}s (hung test or boot); serial log: $out/console.log" >&2
	else
		echo "[vm] '$config' guest stopped before finishing (qemu exit $qrc; boot failure?); serial log: $out/console.log" >&2
		tail -n 5 "$out/qemu.log" >&2 || true
	fi
	tail -n 25 "$out/console.log" | sed 's/^/[vm]   | /' >&2
	exit 125
fi
rc=$(cat "$out/exit_code")
echo "[vm] '$config' finished in ${el}s, exit $rc" >&2
exit "$rc"
