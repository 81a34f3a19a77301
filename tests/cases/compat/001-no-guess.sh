# shellcheck shell=bash
DESCRIPTION="this project's rdma-core names a cause only where the kernel reports one (ibv_devinfo -v, test_dma_coherence.py), on any kernel"

# The verdict is /sys/class/infiniband/<dev>/dma_coherence, which only
# kernels with the coherent-DMA series have. On other kernels (Debian 12's
# 6.1, a stock 6.12) ibv_devinfo must say "unknown" and libibverbs must
# blame nothing on DMA coherence; on the patched kernel it must show the
# word the kernel wrote.

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_cmd ibv_devinfo || return 1
	[ -n "${RDMA_CORE_BUILD:-}" ] && [ -f "$RDMA_CORE_BUILD/../util/dma_coherence.c" ] ||
		skip_because "needs this project's rdma-core build (RDMA_CORE_BUILD with rdma-core-patches/)"
}

# devinfo_verdict DEV KIND: ibv_devinfo -v's dma_coherence line must be what
# the kernel wrote, "unknown" where it wrote nothing.
devinfo_verdict() {
	local dev=$1 kind=$2 word line want
	word=$(cat "/sys/class/infiniband/$dev/dma_coherence" 2>/dev/null) || word=
	line=$(ibv_devinfo -v -d "$dev" | grep -E '^[[:space:]]*dma_coherence:') ||
		{ subtest "$kind.devinfo" fail; fail "ibv_devinfo -v has no dma_coherence line"; return 1; }
	line=$(sed -E 's/^[[:space:]]*dma_coherence:[[:space:]]*//' <<<"$line")
	info "$kind: sysfs dma_coherence '${word:-(no file)}', ibv_devinfo: '$line'"
	case $word in
	'') want='unknown (not reported by this kernel)' ;;
	coherent | virtual) want=$word ;;
	*) want="$word (user memory registration will be refused" ;;
	esac
	if [[ $line == "$want"* ]]; then
		subtest "$kind.devinfo" ok
	else
		subtest "$kind.devinfo" fail
		fail "ibv_devinfo -v says '$line', expected '$want...'"
	fi
}

check_dev() {
	local dev=$1 kind=$2 log=$CASE_TMP/pyverbs.$1 rc=0 bad=0
	devinfo_verdict "$dev" "$kind" || bad=1
	PYTHONPATH=$RDMA_CORE_BUILD/python /usr/bin/python3 "$RDMA_CORE_BUILD/../tests/run_tests.py" \
		--dev "$dev" -v test_dma_coherence >"$log" 2>&1 </dev/null || rc=$?
	sed 's/^/#   /' "$log"
	unittest_subtests "$kind" "$log" || bad=1
	[ $rc -eq 0 ] || { fail "run_tests.py exited $rc on $dev"; bad=1; }
	return $bad
}

test_case() { each_rxe check_dev; }
