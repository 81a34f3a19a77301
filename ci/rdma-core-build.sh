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
. "$(dirname "$0")/lib.sh"

need_cmd cmake ninja
[ -f "$RDMA_SRC/CMakeLists.txt" ] || die "no rdma-core source at $RDMA_SRC; run ci/rdma-core-source.sh first"
/usr/bin/python3 -c 'import Cython' 2>/dev/null ||
	die "/usr/bin/python3 has no Cython; install cython3 (make deps)"
out=$RDMA_SRC/build
btype=${RDMA_CORE_BUILD_TYPE:-Release}
mkdir -p "$out"
if [ -f "$out/build.ninja" ] &&
	! grep -qx "CMAKE_BUILD_TYPE:STRING=$btype" "$out/CMakeCache.txt" 2>/dev/null; then
	log "rdma-core was configured as $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$out/CMakeCache.txt" 2>/dev/null); reconfiguring as $btype"
	rm -f "$out/build.ninja" "$out/CMakeCache.txt"
fi
if [ ! -f "$out/build.ninja" ]; then
	log "configuring rdma-core (cmake, $btype, pyverbs on)"
	(cd "$out" && cmake -GNinja -DIN_PLACE=1 -DCMAKE_BUILD_TYPE="$btype" \
		-DCMAKE_C_COMPILER_LAUNCHER=ccache \
		-DPYTHON_EXECUTABLE=/usr/bin/python3 -DNO_PYVERBS=0 .. >cmake.log 2>&1) ||
		die "cmake failed; see $out/cmake.log"
fi
log "building rdma-core in $out"
rc=0
ninja -C "$out" >"$out/ninja.log" 2>&1 || rc=$?
grep -E 'warning:|error:' "$out/ninja.log" >&2 || true
[ "$rc" -eq 0 ] || die "rdma-core build failed; see $out/ninja.log"
[ -f "$out/python/pyverbs/device.cpython-"*.so ] 2>/dev/null || ls "$out"/python/pyverbs/*.so >/dev/null 2>&1 ||
	die "rdma-core built without pyverbs; see $out/cmake.log"
log "rdma-core ready: $out/bin"
