#!/usr/bin/env bash
# Install what the build, the VM and the tests need. Idempotent: packages that
# are already installed are not touched, and apt is not contacted at all then.
. "$(dirname "$0")/lib.sh"

PKGS=(
	# kernel source and build
	linux-source-6.12 build-essential bc bison flex libelf-dev libssl-dev
	ccache cpio kmod git
	# rdma-core build (pyverbs needs cython3 for /usr/bin/python3)
	cmake ninja-build pkg-config libnl-3-dev libnl-route-3-dev libudev-dev
	libsystemd-dev python3-dev cython3 python3-docutils pandoc valgrind
	# guest and tests
	qemu-system-x86 busybox-static iproute2 perftest procps coreutils util-linux
	# Debian's own verbs userspace, for the unpatched-userspace run
	ibverbs-utils rdmacm-utils ibverbs-providers
	# make deb (bindeb-pkg: dpkg-buildpackage runs the dh_* tools of debhelper)
	# and the series' quilt check
	dpkg-dev debhelper rsync quilt
	# bench plots
	gnuplot-nox
	# rdma-core series as a Debian quilt series (ci/series.sh export-debian),
	# and the Debian sid root of the compatibility guests (ci/sid-root.sh)
	quilt mmdebstrap
	# arm64 guests (make check-arm64): cross compiler, QEMU, device-tree
	# tools, qemu-user (runs only the arm64 root's static ldconfig), and
	# file(1) to check what was cross-built
	gcc-aarch64-linux-gnu qemu-system-arm device-tree-compiler
	qemu-user-static file
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	log "all ${#PKGS[@]} packages already installed"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]}; re-run as root to install them"
log "installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || die "apt-get update failed"
for p in "${missing[@]}"; do
	apt-cache show "$p" >/dev/null 2>&1 ||
		die "package '$p' is not available from this machine's apt sources"
done
apt-get install -y -q --no-install-recommends "${missing[@]}" ||
	die "apt-get install failed for: ${missing[*]}"
