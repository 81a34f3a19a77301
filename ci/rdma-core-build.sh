#!/usr/bin/env bash
# Build build/rdma-core (series applied) with cmake + ninja, pyverbs on, in
# place: binaries in build/rdma-core/build/bin run against the libraries and
# providers next to them (IN_PLACE), no install needed.
#
# Built as Release, the build type Debian (and RHEL, SUSE) ship: there
# libibverbs logs only when VERBS_LOG_LEVEL and VERBS_LOG_FILE are both
# set, while RelWithDebInfo and Debug (VERBS_DEBUG) fall back to stderr, so
# a test run on another build type would not see what users see.
# RDMA_CORE_BUILD_TYPE overrides it.
#
#   ci/rdma-core-build.sh [--arch arm64]
#
# --arch arm64: cross-compile the same tree for the arm64 guests into
# build/rdma-core/build-arm64 with Debian's gcc-aarch64-linux-gnu, against
# build/arm64-root (ci/arm64-root.sh) as the sysroot; no pyverbs and no man
# pages there (the arm64 guests do not run the pyverbs suite).
. "$(dirname "$0")/lib.sh"

arch=x86_64
case "${1:-}" in
'') ;;
--arch) arch=${2:?--arch needs a value} ;;
--arch=*) arch=${1#*=} ;;
*) die "unknown argument '$1' (try --arch arm64)" ;;
esac

need_cmd cmake ninja
[ -f "$RDMA_SRC/CMakeLists.txt" ] || die "no rdma-core source at $RDMA_SRC; run ci/rdma-core-source.sh first"
case $arch in
x86_64)
	/usr/bin/python3 -c 'import Cython' 2>/dev/null ||
		die "/usr/bin/python3 has no Cython; install cython3 (make deps)"
	out=$RDMA_SRC/build
	cmake_args=(-DPYTHON_EXECUTABLE=/usr/bin/python3 -DNO_PYVERBS=0)
	;;
arm64)
	need_cmd aarch64-linux-gnu-gcc
	sysroot=${ARM64_ROOT:-$BUILD/arm64-root}
	[ -f "$sysroot/.rdmadma-root" ] || die "no arm64 root filesystem at $sysroot; run ci/arm64-root.sh first"
	out=$RDMA_SRC/build-arm64
	mkdir -p "$out"
	# The libraries come from the arm64 root, found through its pkg-config
	# files; the build's own helper programs are the host's.
	cat >"$out/toolchain-arm64.cmake" <<-TC
		set(CMAKE_SYSTEM_NAME Linux)
		set(CMAKE_SYSTEM_PROCESSOR aarch64)
		set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
		set(CMAKE_SYSROOT $sysroot)
		set(CMAKE_FIND_ROOT_PATH $sysroot)
		set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
		set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
		set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
		set(ENV{PKG_CONFIG_LIBDIR} "$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig")
		set(ENV{PKG_CONFIG_SYSROOT_DIR} "$sysroot")
	TC
	cmake_args=(-DCMAKE_TOOLCHAIN_FILE="$out/toolchain-arm64.cmake" -DNO_PYVERBS=1 -DNO_MAN_PAGES=1)
	;;
*) die "unknown arch '$arch' (x86_64 or arm64)" ;;
esac
btype=${RDMA_CORE_BUILD_TYPE:-Release}
mkdir -p "$out"
if [ -f "$out/build.ninja" ] &&
	! grep -qx "CMAKE_BUILD_TYPE:STRING=$btype" "$out/CMakeCache.txt" 2>/dev/null; then
	log "rdma-core was configured as $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$out/CMakeCache.txt" 2>/dev/null); reconfiguring as $btype"
	rm -f "$out/build.ninja" "$out/CMakeCache.txt"
fi
if [ ! -f "$out/build.ninja" ]; then
	log "configuring rdma-core for $arch (cmake, $btype)"
	(cd "$out" && cmake -GNinja -DIN_PLACE=1 -DCMAKE_BUILD_TYPE="$btype" \
		-DCMAKE_C_COMPILER_LAUNCHER=ccache "${cmake_args[@]}" .. >cmake.log 2>&1) ||
		die "cmake failed; see $out/cmake.log"
fi
log "building rdma-core ($arch) in $out"
rc=0
ninja -C "$out" >"$out/ninja.log" 2>&1 || rc=$?
grep -E 'warning:|error:' "$out/ninja.log" >&2 || true
[ "$rc" -eq 0 ] || die "rdma-core build failed; see $out/ninja.log"
if [ "$arch" = x86_64 ]; then
	[ -f "$out/python/pyverbs/device.cpython-"*.so ] 2>/dev/null || ls "$out"/python/pyverbs/*.so >/dev/null 2>&1 ||
		die "rdma-core built without pyverbs; see $out/cmake.log"
else
	file -L "$out/lib/libibverbs.so" | grep -q 'ARM aarch64' ||
		die "$out/lib/libibverbs.so is not an arm64 library"
fi
# The guests see this tree read-only, so Python there cannot cache the
# bytecode of pyverbs' and the tests' modules and compiles them again on
# every run_tests.py (seconds each under TCG). Compile them here, once.
python3 -m compileall -q -j0 "$RDMA_SRC/tests" "$out/python" >"$out/compileall.log" 2>&1 ||
	die "python3 -m compileall failed; see $out/compileall.log"
log "rdma-core ready: $out/bin"
