#!/bin/bash
# PID 1 of the test guest (or started by /rdmadma-init of another root).
# The root filesystem is read-only over 9p: the host's /, or a Debian root
# a ci/ script built. The project comes from its own read-only share
# ("project"), and the writable "results" share holds job.sh (written by
# run-vm.sh) and receives the output. Ends with a forced power-off in every
# case.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8

say() { echo "guest-init: $*" >/dev/console; }
bye() { sync; /bin/busybox poweroff -f; sleep 5; echo o >/proc/sysrq-trigger; }

mountpoint -q /proc || mount -t proc proc /proc
mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
mount -t debugfs debugfs /sys/kernel/debug
mountpoint -q /run || mount -t tmpfs -o mode=0755 run /run
mkdir -p /run/results /run/project
p9=trans=virtio,version=9p2000.L,msize=262144
mountpoint -q /run/project || mount -t 9p -o "$p9,ro" project /run/project ||
	{ say "cannot mount the project share"; bye; }
mount -t 9p -o "$p9" results /run/results || { say "cannot mount the results share"; bye; }
[ -f /run/results/job.sh ] || { say "no job.sh in the results share"; bye; }
# shellcheck disable=SC1091
. /run/results/job.sh
for d in /tmp /var/tmp /var/log /root; do mount -t tmpfs -o mode=1777 tmp "$d"; done
# Builds record absolute paths (rdma-core's in-place provider directory, for
# one): put the project back at its host path when a tmpfs now hides it.
if [ ! -e "$PROJ_HOST/tests/vm/guest-init.sh" ]; then
	mkdir -p "$PROJ_HOST" && mount --bind /run/project "$PROJ_HOST" ||
		say "cannot re-bind the project at $PROJ_HOST; absolute build paths will not resolve"
fi
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs shm /dev/shm
# devtmpfs has no /dev/fd; bash process substitution and friends need it.
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr

# A modular test kernel: its modules are in the build (MODROOT), and the host
# root has no /lib/modules to put them in. A modprobe that looks there serves
# the kernel's own requests (crypto-crc32 for rxe's ICRC, say) and the
# tests; then the RDMA stack and the KUnit suite (which runs when loaded)
# are loaded, as a distribution's udev would.
if [ -n "${MODROOT:-}" ]; then
	mkdir -p /run/bin
	printf '#!/bin/sh\nexec /sbin/modprobe -d %q "$@"\n' "$MODROOT" >/run/bin/modprobe
	chmod +x /run/bin/modprobe
	echo /run/bin/modprobe >/proc/sys/kernel/modprobe
	export PATH=/run/bin:$PATH
	for m in ib_uverbs rdma_ucm rdma_rxe require_coherent_kunit; do
		# A kernel built without KUnit (make bench's release configs)
		# has no suite to load; the kunit test case says so if it runs.
		[ "$m" != require_coherent_kunit ] || modprobe -n -q "$m" 2>/dev/null || continue
		modprobe "$m" || say "modprobe $m (from $MODROOT) failed"
	done
fi

ip link set lo up
i=0
for n in /sys/class/net/eth*; do
	[ -e "$n" ] || continue
	n=${n##*/}
	ip addr add "10.0.$i.1/24" dev "$n" && ip link set "$n" up
	i=$((i + 1))
done
ulimit -l unlimited
hostname rdmadma-guest 2>/dev/null

export RDMA_DMA_CONFIG PROJ=/run/project
[ -n "${RDMA_CORE_BUILD:-}" ] && export RDMA_CORE_BUILD
# Test programs of another architecture (run-vm.sh --arch arm64).
[ -n "${TEST_BIN_DIR:-}" ] && export TEST_BIN_DIR
export RXE_NETDEV=eth0 RXE_TESTMODE_NETDEV=eth1 RDMA_TEST_ARTIFACTS=/run/results
say "config $RDMA_DMA_CONFIG; running: ${GUEST_CMD[*]}"
cd /run/project || bye
# The exit status of the command, and of tee: a tee that lost output must
# not turn into a pass, so it fails the run (125) instead.
"${GUEST_CMD[@]}" 2>&1 </dev/null | tee /tmp/output.ktap >/dev/console
st=("${PIPESTATUS[@]}")
rc=${st[0]}
[ "${st[1]}" -eq 0 ] || { say "tee exited ${st[1]}: the KTAP output is incomplete"; rc=125; }
cp /tmp/output.ktap /run/results/output.ktap || { say "cannot copy the KTAP output to the results share"; rc=125; }
dmesg >/run/results/dmesg.txt 2>/dev/null
echo "$rc" >/run/results/exit_code
say "done, exit $rc"
bye
